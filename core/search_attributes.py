"""How a search attribute is registered. The keys themselves live in each business's contract
(`workflows/<business>/contract.py: SEARCH_ATTRIBUTES`); the worker's table of businesses lists them all.

Never personal data in a search attribute: they bypass the payload codec.
"""

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.common import SearchAttributeKey


def indexed_value_type(key: SearchAttributeKey) -> IndexedValueType.ValueType:
    """The server-side type to register the key with (operator service)."""
    return IndexedValueType.ValueType(int(key.indexed_value_type))


def cli_type(key: SearchAttributeKey) -> str:
    """The type name `temporal server start-dev --search-attribute KEY=TYPE` expects (Keyword, Datetime, ...)."""
    name = IndexedValueType.Name(indexed_value_type(key)).removeprefix("INDEXED_VALUE_TYPE_")
    return {"KEYWORD_LIST": "KeywordList"}.get(name, name.capitalize())
