"""What ops read of a ticket in the Temporal Web UI: state, level and why, due time in Shanghai time,
department, the next clock event; the static summary; masked numbers only."""

from datetime import UTC, datetime

from tests.complaints.world import MSISDN, new_case
from workflows.complaints.complaint import _details, _timer_summary
from workflows.complaints.contract import complaint_summary


def test_a_tickets_details_say_level_due_department_and_what_comes_next():
    case = new_case(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))  # 09:00 in Shanghai
    text = _details(case)
    lines = text.splitlines()
    assert lines[0].startswith("**") and "OVERDUE" not in lines[0]
    assert any(line.startswith(f"level {case.level.value} (") for line in lines)
    assert any(line.startswith("due ") and " Shanghai (" in line for line in lines)
    assert any(line.startswith(f"with {case.handling_department.value}") for line in lines)
    assert any(line.startswith("next: ") and line.endswith(" Shanghai") for line in lines)
    assert _timer_summary(case).startswith("until ") and " Shanghai: " in _timer_summary(case)
    summary = complaint_summary(case)
    assert case.facts.complaint_id in summary and case.facts.msisdn_masked in summary
    assert MSISDN not in text + summary + _timer_summary(case)
