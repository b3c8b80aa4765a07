"""Log lines never carry a full phone or identity number, and inside an activity they name the workflow."""

import dataclasses
import json

import structlog
from hypothesis import given
from hypothesis import strategies as st
from temporalio.testing import ActivityEnvironment

from core import logs


def test_phone_and_identity_numbers_are_masked():
    line = logs.redact("customer 13800138123 id 11010119900307123X called 13912345678")
    assert line == "customer 138****8123 id 110101********123X called 139****5678"


@given(st.from_regex(r"1[3-9]\d{9}", fullmatch=True))
def test_no_mainland_mobile_number_survives(msisdn):
    assert msisdn not in logs.redact(f"to={msisdn};")


def _last_json_line(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def test_lines_written_inside_an_activity_carry_workflow_and_run_ids(capsys):
    logs.configure(json=True)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id="order-O1", workflow_run_id="run-1")

    def record() -> None:
        structlog.get_logger().info("order progress", order_id="O1", msisdn="13800138123")

    env.run(record)
    line = _last_json_line(capsys.readouterr().out)
    assert line["workflow_id"] == "order-O1" and line["run_id"] == "run-1"
    assert line["order_id"] == "O1" and line["msisdn"] == "138****8123"

    structlog.get_logger().info("outside any activity")
    assert "workflow_id" not in _last_json_line(capsys.readouterr().out)


FREE_TEXT = "张伟 ID 11010119900307123X asks to be called on 13900001111"


def test_free_text_nested_in_a_line_is_redacted_and_so_are_exceptions(capsys):
    logs.configure(json=True)
    log = structlog.get_logger()
    log.info("findings typed", body={"findings": FREE_TEXT, "replies": [FREE_TEXT]}, note=ValueError(FREE_TEXT))
    line = capsys.readouterr().out
    assert "13900001111" not in line and "11010119900307123X" not in line and "139****1111" in line
    try:
        raise RuntimeError(f"refused for {FREE_TEXT}")
    except RuntimeError:
        log.exception("request failed")
    line = capsys.readouterr().out
    assert "request failed" in line and "13900001111" not in line and "11010119900307123X" not in line


def test_the_standard_library_loggers_are_redacted_too(capsys):
    import logging

    logs.configure(json=True)
    handler = logging.getLogger().handlers[0]
    record = logging.LogRecord("temporalio.workflow", logging.INFO, __file__, 1, "reply from %s: %s", ("li", FREE_TEXT), None)
    assert handler.filter(record) and "13900001111" not in record.getMessage() and "139****1111" in record.getMessage()
