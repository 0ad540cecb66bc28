"""Signed, expiring acknowledgement links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from riskprompt.notifications.links import (
    AckTarget,
    LinkExpired,
    LinkInvalid,
    make_ack_token,
    read_ack_token,
)

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
TARGET = AckTarget(kind="prompt", id=7, person_id=3)


def test_round_trip() -> None:
    token = make_ack_token("k", TARGET, now=NOW)
    assert read_ack_token("k", token, now=NOW + timedelta(days=1)) == TARGET


def test_tampered_or_foreign_tokens_are_invalid() -> None:
    token = make_ack_token("k", TARGET, now=NOW)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (forged, token + "x", "garbage", make_ack_token("other-key", TARGET, now=NOW)):
        with pytest.raises(LinkInvalid):
            read_ack_token("k", bad, now=NOW)


def test_old_tokens_expire() -> None:
    token = make_ack_token("k", TARGET, now=NOW)
    with pytest.raises(LinkExpired):
        read_ack_token("k", token, now=NOW + timedelta(days=31))
