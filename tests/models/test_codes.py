"""Codes (``P12``, ``W7``, ``R3``), callback data and what a warning allows: one module."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from riskprompt.bot.app import add_handlers  # noqa: F401 - the patterns compile on import
from riskprompt.models import codes
from riskprompt.models.codes import Code, CodeKind, WarningAction, parse_code
from riskprompt.models.errors import InvalidInput
from riskprompt.models.warnings import Warning, WarningColour, WarningForm, WarningStatus

P, W, R = CodeKind.PROMPT, CodeKind.WARNING, CodeKind.CORRECTION


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P12", Code(P, 12)),
        ("p12", Code(P, 12)),
        (" p 12 ", Code(P, 12)),
        ("Ｐ１２", Code(P, 12)),  # full-width, from a Chinese keyboard
        ("W7", Code(W, 7)),
        ("ｗ７", Code(W, 7)),
        ("R3", Code(R, 3)),
        ("c3", Code(R, 3)),  # the older spelling of a correction's code
        ("P0012", Code(P, 12)),
        (f"P{2**63 - 1}", Code(P, 2**63 - 1)),
        ("PLEASE", None),
        ("P", None),
        ("12", None),
        ("X12", None),
        ("P12a", None),
        ("", None),
        ("P" + "1" * 100, None),  # longer than any code: not one
    ],
)
def test_parse_code(text: str, expected: Code | None) -> None:
    assert parse_code(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "P99999999999999999999",  # more than any id
        f"P{2**63}",
        "P0",
        "P𐩀",  # a Kharoshthi digit: isdigit() but not a number int() reads
        "P١٢",  # Arabic-Indic digits
        "W۷",  # Extended Arabic-Indic
        "P१२",  # Devanagari
    ],
)
def test_impossible_numbers_are_refused_cleanly(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_code(text)
    assert "%(code)s" in refused.value.msgid


def test_kinds_narrow_what_is_a_code() -> None:
    assert parse_code("W7", kinds=frozenset({P})) is None
    assert codes.parse_prompt_code("P5") == 5 and codes.parse_prompt_code("W5") is None
    assert str(Code(W, 7)) == "W7" == codes.warning_code(7)
    assert codes.prompt_code(12) == "P12" and codes.correction_code(3) == "R3"


def test_callback_data_round_trips_within_64_bytes() -> None:
    assert codes.ack_data(P, 12) == "ack:p:12"
    assert codes.parse_ack_data(codes.ack_data(W, 2**63 - 1)) == Code(W, 2**63 - 1)
    assert len(codes.ack_data(W, 2**63 - 1).encode()) <= codes.MAX_CALLBACK_BYTES
    for bad in ("ack:p:", "ack:p:x", "ack:x:1", "ack:p:0", "ack:p:" + "9" * 30, "ack:p:١"):
        assert codes.parse_ack_data(bad) is None
    with pytest.raises(ValueError):
        codes.callback(codes.REMIND_TARGET, "x" * 70)
    assert codes.id_after(codes.REVIEW_ACCEPT, "rv:a:42") == 42
    with pytest.raises(InvalidInput):
        codes.id_after(codes.REVIEW_ACCEPT, "rv:a:")


def test_patterns_match_what_the_builders_make() -> None:
    import re

    assert re.match(codes.pattern(codes.ACK_PROMPT), codes.ack_data(P, 12))
    assert not re.match(codes.pattern(codes.ACK_PROMPT), "ack:p:12x")
    assert re.match(codes.pattern(codes.CANCEL, ""), "x")
    assert not re.match(codes.pattern(codes.CANCEL, ""), "xx")


def _warning(status: WarningStatus, acknowledged: bool = False) -> Warning:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    return Warning(
        id=7,
        person_id=1,
        issued_by_id=2,
        colour=WarningColour.YELLOW,
        form=WarningForm.CORRECT,
        reason="r",
        status=status,
        deadline=now + timedelta(days=7),
        created_at=now,
        acknowledged_at=now if acknowledged else None,
    )


@pytest.mark.parametrize(
    ("status", "acknowledged", "actions"),
    [
        (
            WarningStatus.ISSUED,
            False,
            [WarningAction.ACKNOWLEDGE, WarningAction.REPORT_CORRECTION],
        ),
        (WarningStatus.ACKNOWLEDGED, True, [WarningAction.REPORT_CORRECTION]),
        (WarningStatus.SUBMITTED, True, []),
        (WarningStatus.CLOSED, True, []),
        (WarningStatus.WITHDRAWN, False, []),
    ],
)
def test_what_a_warning_allows_in_each_state(status, acknowledged, actions) -> None:
    warning = _warning(status, acknowledged)
    assert codes.warning_actions(warning) == actions
    data = [codes.action_data(a, 7) for a in actions]
    assert all(len(d.encode()) <= codes.MAX_CALLBACK_BYTES for d in data)
