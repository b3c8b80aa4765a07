"""The custom search attributes fit what SQL visibility (and the dev server) can index per namespace."""

from collections import Counter

from temporalio.api.enums.v1 import IndexedValueType

from core import search_attributes as sa
from worker import SEARCH_ATTRIBUTES
from workflows.complaints import contract as complaints
from workflows.orders import contract as orders

# Temporal's SQL visibility: custom attributes per namespace and type
LIMITS = {"KEYWORD": 10, "KEYWORD_LIST": 3, "DATETIME": 3, "INT": 3, "DOUBLE": 3, "BOOL": 3, "TEXT": 3}


def test_every_type_stays_within_the_namespace_limit():
    per_type = Counter(IndexedValueType.Name(sa.indexed_value_type(k)).removeprefix("INDEXED_VALUE_TYPE_")
                       for k in SEARCH_ATTRIBUTES)
    assert all(n <= LIMITS[t] for t, n in per_type.items()), per_type


def test_names_are_unique_and_typed_for_the_cli():
    assert len({k.name for k in SEARCH_ATTRIBUTES}) == len(SEARCH_ATTRIBUTES)
    assert sa.cli_type(complaints.DEPARTMENT) == "KeywordList" and sa.cli_type(complaints.DUE_AT) == "Datetime"
    assert sa.cli_type(orders.ORDER_STATUS) == "Keyword"
