"""The agents business's pure rules: categories, the appeal clock, attachments, recovery windows."""

from datetime import UTC, datetime, timedelta

import pytest

from domain.agents.account import SuspensionCategory as C
from domain.agents.account import SuspensionRefused, ViolationKind, appeal_clock, check_suspension
from domain.agents.attachments import AttachmentRefused, check_attachment, display_name, sniff
from domain.agents.suspension_case import RECOVERY_STEPS, RiskTrigger, open_case, window_for
from domain.orders.order import StatusCause, SuspensionMode

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_suspension_details_fit_the_category():
    check_suspension(C.VIOLATION, ViolationKind.FAKE_PROMOTION, None, NOW)
    check_suspension(C.MAINTENANCE, None, NOW + timedelta(hours=1), NOW)
    check_suspension(C.ARREARS, None, None, NOW)
    for args in [(C.VIOLATION, None, None), (C.OTHER, ViolationKind.FAKE_ORDERS, None),
                 (C.ARREARS, None, NOW + timedelta(hours=1)), (C.MAINTENANCE, None, NOW)]:
        with pytest.raises(SuspensionRefused):
            check_suspension(*args, NOW)


def test_appeal_clock_reminds_before_the_due_time_never_before_filing():
    c = appeal_clock(NOW, timedelta(hours=48), timedelta(hours=24))
    assert (c.remind_at, c.due_at) == (NOW + timedelta(hours=24), NOW + timedelta(hours=48))
    short = appeal_clock(NOW, timedelta(hours=4), timedelta(hours=24))
    assert short.remind_at == NOW and short.due_at == NOW + timedelta(hours=4)


def test_attachment_types_by_their_first_bytes():
    assert sniff(b"%PDF-1.4") == "application/pdf" and sniff(b"\x89PNG\r\n\x1a\n") == "image/png"
    assert sniff(b"\xff\xd8\xff\xe0") == "image/jpeg" and sniff(b"GIF89a") is None
    assert check_attachment(b"\xff\xd8\xff\xe0", "image/jpeg; charset=x", 10, 100) == "image/jpeg"
    assert check_attachment(b"\xff\xd8\xff\xe0", "application/octet-stream", 10, 100) == "image/jpeg"
    assert check_attachment(b"\xff\xd8\xff\xe0", None, 100, 100) == "image/jpeg"  # exactly the limit
    for head, declared, size, kind in [(b"<svg", "image/png", 10, "attachment_type"),
                                       (b"%PDF-", "image/png", 10, "attachment_type_mismatch"),
                                       (b"%PDF-", None, 101, "attachment_too_large"), (b"", None, 0, "attachment_empty")]:
        with pytest.raises(AttachmentRefused) as err:
            check_attachment(head, declared, size, 100)
        assert err.value.kind == kind


@pytest.mark.parametrize(("raw", "shown"), [("../../etc/passwd", "passwd"), ("C:\\Users\\a\\proof.pdf", "proof.pdf"),
                                            ("..", "attachment"), ("", "attachment"), ("照片 1.png", "照片 1.png"),
                                            ("a;rm -rf.png", "a_rm -rf.png")])
def test_display_names_carry_no_path(raw, shown):
    assert display_name(raw) == shown


def test_recovery_windows_and_steps():
    assert window_for(SuspensionMode.ONE_WAY) == window_for(SuspensionMode.TWO_WAY) == timedelta(hours=24)
    assert window_for(SuspensionMode.CARRIER) == window_for(None) == timedelta(hours=24)
    assert window_for(SuspensionMode.RISK_CONTROL) == timedelta(hours=48)
    assert "second real-name check" in RECOVERY_STEPS[3]
    case = open_case("O1-1", "O1", 1, "A1", "china_mobile", "138****0000", SuspensionMode.RISK_CONTROL,
                     StatusCause.IDENTITY, NOW)
    assert case.trigger == RiskTrigger.IDENTITY and case.window_ends_at == NOW + timedelta(hours=48)
    plain = open_case("O1-2", "O1", 2, "A1", "china_mobile", "138****0000", SuspensionMode.ONE_WAY,
                      StatusCause.IDENTITY, NOW)
    assert plain.trigger is None  # only risk-control holds have a trigger
    assert plain.restored_in_window is None
    plain.restored_at = NOW + timedelta(hours=24)
    assert plain.restored_in_window is True
