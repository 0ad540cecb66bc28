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


# -- the short form (SMS) and the form key --------------------------------------------------


def test_short_token_round_trips_and_is_short() -> None:
    from riskprompt.notifications.links import make_short_token, read_short_token

    token = make_short_token("k", TARGET, now=NOW)
    assert len(token) <= 25
    assert read_short_token("k", token, now=NOW + timedelta(days=29)) == TARGET
    big = AckTarget("warning", 2**63 - 1, 2**63 - 1)
    assert read_short_token("k", make_short_token("k", big, now=NOW), now=NOW) == big


def test_short_token_refuses_tampering_and_age() -> None:
    from riskprompt.notifications.links import (
        make_short_token,
        read_any_token,
        read_short_token,
    )

    token = make_short_token("k", TARGET, now=NOW)
    other = make_short_token("k", AckTarget("prompt", 8, 9), now=NOW)
    spliced = other[:-11] + token[-11:]  # another payload under this tag
    for bad in (
        spliced,
        token[:-1],
        token + "x",
        "w" + token[1:],
        "garbage",
        make_short_token("other-key", TARGET, now=NOW),
    ):
        with pytest.raises(LinkInvalid):
            read_short_token("k", bad, now=NOW)
    with pytest.raises(LinkExpired):
        read_short_token("k", token, now=NOW + timedelta(days=31))
    with pytest.raises(LinkInvalid):  # stamped days ahead of the clock
        read_short_token("k", token, now=NOW - timedelta(days=2))
    assert read_any_token("k", token, now=NOW) == TARGET
    assert read_any_token("k", make_ack_token("k", TARGET, now=NOW), now=NOW) == TARGET


def test_fill_for_puts_each_readers_own_links_in_place() -> None:
    from riskprompt.notifications.links import (
        ACK_URL_PLACEHOLDER,
        SMS_LINK_BUDGET,
        SMS_LINK_PLACEHOLDER,
        AckLinks,
        read_short_token,
    )

    links = AckLinks(secret_key="k", base="https://rp.gov.cn/", now=NOW)
    text = f"see {SMS_LINK_PLACEHOLDER}\nor {ACK_URL_PLACEHOLDER}"
    filled = links.fill_for(text, TARGET)
    assert filled is not None and "invalid" not in filled
    short = filled.split()[1]
    assert short.startswith("https://rp.gov.cn/a/") and len(short) <= SMS_LINK_BUDGET
    assert read_short_token("k", short.rsplit("/", 1)[1], now=NOW) == TARGET
    assert "https://rp.gov.cn/ack/" in filled
    assert links.fill_for("no link here", TARGET) == "no link here"
    assert len(SMS_LINK_PLACEHOLDER) == SMS_LINK_BUDGET and SMS_LINK_PLACEHOLDER.isascii()


def test_form_key_is_bound_to_the_token_and_the_secret() -> None:
    from riskprompt.notifications.links import check_form_key, form_key

    key = form_key("k", "token-a")
    assert check_form_key("k", "token-a", key)
    assert not check_form_key("k", "token-b", key)
    assert not check_form_key("other", "token-a", key)
    assert not check_form_key("k", "token-a", None) and not check_form_key("k", "token-a", "")
