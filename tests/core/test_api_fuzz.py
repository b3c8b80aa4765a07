"""Schemathesis over the API's own /openapi.json, in process, signed in as an admin: no input the schema lets
through (positive cases) nor one it forbids (negative cases) may get a 5xx, and every answer must match the
document (status, content type, body). Bounded so `make test` stays short: a fixed seed, a few examples per
operation and mode, a time budget for the whole walk. SQLite only: the point is the API's input handling, the
backends are covered by the rest of the suite.
"""

from __future__ import annotations

import os
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

from tests.fixtures_db import bearer

EXAMPLES = int(os.environ.get("SIMBO_FUZZ_EXAMPLES", "4"))
BUDGET_S = float(os.environ.get("SIMBO_FUZZ_BUDGET_S", "120"))
CHECKS = [checks.not_a_server_error, checks.response_schema_conformance, checks.content_type_conformance, checks.status_code_conformance]


@pytest.fixture(scope="session", params=["sqlite"])
def db_engine(request, tmp_path_factory):
    """SQLite only for this module (overrides the two-backend fixture of tests/fixtures_db.py)."""
    from core.db import make_engine
    from tests.fixtures_db import migrate

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'simbo.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def _operations(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_every_operation_answers_bad_and_good_input_without_a_server_error(api_app):
    headers = bearer("admin")
    operations = _operations(api_app)
    assert len(operations) > 50, "the walk must see the whole API"
    failures: list[str] = []
    cases = 0
    deadline = time.monotonic() + BUDGET_S
    walked = 0
    for operation in operations:
        if time.monotonic() > deadline:
            break
        walked += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @seed(20261202)
            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case) -> None:
                nonlocal cases
                cases += 1
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                call()
            except Unsatisfiable:
                pass  # nothing in the operation can be made invalid (no parameters, or a body of free text)
            except (Exception, BaseExceptionGroup) as err:  # noqa: BLE001  (every finding listed, not the first only)
                text = str(err).strip().splitlines()
                failures.append(f"{operation.label} [{mode.value}]: " + " | ".join(text[:12])[:1500])
    print(f"fuzz: {walked}/{len(operations)} operations, {cases} cases, {len(failures)} failing")
    assert walked == len(operations), f"time budget spent after {walked} of {len(operations)} operations"
    assert not failures, "\n\n".join(failures)
