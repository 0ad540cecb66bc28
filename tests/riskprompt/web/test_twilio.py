"""``/twilio/sms`` and ``/twilio/status``: signed requests act, anything else changes nothing."""

from __future__ import annotations

import itertools
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from riskprompt.config.i18n import translator
from riskprompt.config.settings import Settings
from riskprompt.models.clock import FixedClock
from riskprompt.models.db import make_engine
from riskprompt.models.people import Channel, Person
from riskprompt.models.prompts import Delivery, DeliveryStatus, Prompt, PromptStatus
from riskprompt.web import create_app
from riskprompt.web.twilio import UNKNOWN_NUMBER
from tests.builders import make_person, make_prompt_with_delivery, make_unit
from tests.riskprompt.web.conftest import PUBLIC_URL, TWILIO_TOKEN, audit_count

MOBILE = "+8613800138000"


def sign(path: str, form: dict[str, str], token: str = TWILIO_TOKEN) -> str:
    return RequestValidator(token).compute_signature(PUBLIC_URL + path, form)


def post_form(client: TestClient, path: str, form: dict[str, str], signature: str | None):
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return client.post(path, content=urlencode(form), headers=headers)


_SIDS = itertools.count(1)


def sms(body: str, sender: str = MOBILE) -> dict[str, str]:
    """A form Twilio posts for an inbound SMS; each message has its own id."""
    return {
        "MessageSid": f"SM{next(_SIDS):032d}",
        "AccountSid": "AC" + "0" * 32,
        "From": sender,
        "To": "+15005550006",
        "Body": body,
        "NumMedia": "0",
    }


@pytest.fixture
def reader(session: Session, clock: FixedClock) -> tuple[Person, Prompt, Prompt]:
    """A person with two open prompts (the newer one is the latest)."""
    unit = make_unit(session)
    person = make_person(session, unit=unit, mobile=MOBILE, locale="en", channels="sms,email")
    older, _ = make_prompt_with_delivery(
        session, person=person, at=clock.now() - timedelta(hours=1), title="Older"
    )
    latest, _ = make_prompt_with_delivery(session, person=person, at=clock.now(), title="Latest")
    session.commit()
    return person, older, latest


def statuses(engine: Engine) -> list[PromptStatus]:
    with Session(engine) as s:
        return list(s.exec(select(Prompt.status).order_by(Prompt.id)).all())


def test_signed_reply_acknowledges_the_latest_prompt(client, engine, reader):
    form = sms("1")
    response = post_form(client, "/twilio/sms", form, sign("/twilio/sms", form))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    latest = reader[2].id
    assert f"<Message>Acknowledged: P{latest} Special risk prompt. Thank you.</Message>" in (
        response.text
    )
    assert statuses(engine) == [PromptStatus.OPEN, PromptStatus.ACKNOWLEDGED]
    with Session(engine) as s:
        latest = s.get(Prompt, reader[2].id)
        assert latest.acknowledged_via == "sms"
    assert audit_count(engine, "prompt.acknowledged") == 1


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize("word", ["Y", "OK", "收到", "已阅"])
def test_every_ack_word_acknowledges(client, engine, reader, word):
    form = sms(word)
    response = post_form(client, "/twilio/sms", form, sign("/twilio/sms", form))
    assert response.status_code == 200
    assert statuses(engine) == [PromptStatus.OPEN, PromptStatus.ACKNOWLEDGED]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_code_acknowledges_that_prompt(client, engine, reader):
    form = sms(f"P{reader[1].id}")
    response = post_form(client, "/twilio/sms", form, sign("/twilio/sms", form))
    assert f"Acknowledged: P{reader[1].id} Special risk prompt" in response.text
    assert statuses(engine) == [PromptStatus.ACKNOWLEDGED, PromptStatus.OPEN]


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "bm90IGEgc2lnbmF0dXJl",
        "wrong-token",  # signed with another account's token
        "other-url",  # signed for another URL (the proxied one)
        "other-form",  # signed over a different body
    ],
)
def test_unsigned_or_wrongly_signed_is_refused_and_changes_nothing(
    client, engine, reader, signature
):
    form = sms("1")
    if signature == "wrong-token":
        signature = sign("/twilio/sms", form, token="another-token")
    elif signature == "other-url":
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(
            "http://testserver/twilio/sms", form
        )
    elif signature == "other-form":
        signature = sign("/twilio/sms", sms("2"))
    before = audit_count(engine)

    response = post_form(client, "/twilio/sms", form, signature)

    assert response.status_code == 403
    assert statuses(engine) == [PromptStatus.OPEN, PromptStatus.OPEN]
    assert audit_count(engine) == before


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_unknown_number_gets_a_short_help_and_nothing_changes(client, engine, reader, web_settings):
    form = sms("1", sender="+8613900139000")
    before = audit_count(engine)
    response = post_form(client, "/twilio/sms", form, sign("/twilio/sms", form))
    assert response.status_code == 200
    expected = translator(web_settings.LOCALE).gettext(UNKNOWN_NUMBER)
    assert f"<Message>{expected}</Message>" in response.text
    assert statuses(engine) == [PromptStatus.OPEN, PromptStatus.OPEN]
    assert audit_count(engine) == before


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_anything_else_gets_help(client, engine, reader):
    form = sms("what is this?")
    response = post_form(client, "/twilio/sms", form, sign("/twilio/sms", form))
    assert "Reply 1 to acknowledge" in response.text
    assert statuses(engine) == [PromptStatus.OPEN, PromptStatus.OPEN]


def test_stop_stops_sms_and_start_resumes(client, engine, reader):
    person = reader[0]
    stop = sms("STOP")
    response = post_form(client, "/twilio/sms", stop, sign("/twilio/sms", stop))
    assert response.status_code == 200
    assert "<Message>" not in response.text  # Twilio confirms STOP itself
    with Session(engine) as s:
        stopped = s.get(Person, person.id)
        assert stopped.sms_opt_out
        assert stopped.reachable_channels() == [Channel.EMAIL]  # falls back to email
    assert audit_count(engine, "person.sms_opt_out") == 1

    start = sms("START")
    response = post_form(client, "/twilio/sms", start, sign("/twilio/sms", start))
    assert "SMS are on again" in response.text
    with Session(engine) as s:
        assert not s.get(Person, person.id).sms_opt_out


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_chinese_unsubscribe_stops_and_is_answered(client, engine, reader):
    form = sms("退订")
    response = post_form(client, "/twilio/sms", form, sign("/twilio/sms", form))
    assert "You will get no more SMS" in response.text
    with Session(engine) as s:
        assert s.get(Person, reader[0].id).sms_opt_out


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("overrides", "status"),
    [({"TWILIO_AUTH_TOKEN": None}, 404), ({"PUBLIC_URL": None}, 503)],
)
def test_unconfigured_twilio_accepts_nothing(
    web_settings: Settings, engine, clock, reader, overrides, status
):
    settings = web_settings.model_copy(update=overrides)
    with TestClient(create_app(settings=settings, engine=engine, clock=clock)) as client:
        form = sms("1")
        response = post_form(client, "/twilio/sms", form, sign("/twilio/sms", form))
    assert response.status_code == status
    assert statuses(engine) == [PromptStatus.OPEN, PromptStatus.OPEN]


# -- status callbacks ----------------------------------------------------------------------


def _sent(session: Session, person: Person, at, sid: str) -> Delivery:
    _, delivery = make_prompt_with_delivery(session, person=person, at=at, channel=Channel.SMS)
    delivery.status = DeliveryStatus.SENT
    delivery.provider_message_id = sid
    delivery.sent_at = at
    session.add(delivery)
    session.commit()
    return delivery


def status_form(sid: str, status: str, error: str | None = None) -> dict[str, str]:
    form = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status}
    if error:
        form["ErrorCode"] = error
    return form


def test_status_callbacks_are_recorded_on_the_delivery(client, engine, session, clock):
    person = make_person(session, unit=make_unit(session), mobile=MOBILE, channels="sms,email")
    delivery = _sent(session, person, clock.now(), "SM" + "a" * 32)
    for status in ("sent", "delivered", "delivered"):  # Twilio may repeat itself
        form = status_form(delivery.provider_message_id, status)
        response = post_form(client, "/twilio/status", form, sign("/twilio/status", form))
        assert response.status_code == 204

    with Session(engine) as s:
        row = s.get(Delivery, delivery.id)
        assert [r["status"] for r in row.extra["receipts"]] == ["sent", "delivered"]
        assert row.extra["parts"]  # the rest of extra is kept
        assert row.status is DeliveryStatus.SENT
    assert audit_count(engine, "delivery.receipt") == 2


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_permanent_carrier_failure_falls_back_to_the_next_channel(client, engine, session, clock):
    person = make_person(session, unit=make_unit(session), mobile=MOBILE, channels="sms,email")
    delivery = _sent(session, person, clock.now(), "SM" + "b" * 32)
    form = status_form(delivery.provider_message_id, "undelivered", "30005")
    response = post_form(client, "/twilio/status", form, sign("/twilio/status", form))
    assert response.status_code == 204

    with Session(engine) as s:
        failed = s.get(Delivery, delivery.id)
        assert failed.status is DeliveryStatus.FAILED
        assert "30005" in failed.last_error
        fallback = s.exec(select(Delivery).where(Delivery.replaces_id == delivery.id)).one()
        assert fallback.channel == "email" and fallback.status is DeliveryStatus.PENDING
    assert audit_count(engine, "delivery.fallback") == 1


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_transient_failure_is_only_recorded(client, engine, session, clock):
    person = make_person(session, unit=make_unit(session), mobile=MOBILE, channels="sms,email")
    delivery = _sent(session, person, clock.now(), "SM" + "c" * 32)
    form = status_form(delivery.provider_message_id, "undelivered", "30003")
    post_form(client, "/twilio/status", form, sign("/twilio/status", form))
    with Session(engine) as s:
        assert s.get(Delivery, delivery.id).status is DeliveryStatus.SENT
        assert s.exec(select(Delivery).where(Delivery.replaces_id == delivery.id)).first() is None


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_status_callbacks_need_a_signature_and_unknown_ids_change_nothing(
    client, engine, session, clock
):
    person = make_person(session, unit=make_unit(session), mobile=MOBILE)
    delivery = _sent(session, person, clock.now(), "SM" + "d" * 32)
    form = status_form(delivery.provider_message_id, "delivered")
    assert post_form(client, "/twilio/status", form, "forged").status_code == 403
    unknown = status_form("SM" + "e" * 32, "delivered")
    response = post_form(client, "/twilio/status", unknown, sign("/twilio/status", unknown))
    assert response.status_code == 204
    with Session(engine) as s:
        assert "receipts" not in s.get(Delivery, delivery.id).extra
    assert audit_count(engine, "delivery.receipt") == 0


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_a_lost_database_connection_is_replaced_and_the_reply_carried_out(client, engine, reader):
    first = sms(f"P{reader[1].id}")
    assert post_form(client, "/twilio/sms", first, sign("/twilio/sms", first)).status_code == 200
    # The pooled connection dies under the app, as in a database restart.
    admin = make_engine(engine.url.render_as_string(hide_password=False))
    with admin.begin() as connection:
        killed = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar()
    admin.dispose()
    assert killed >= 1

    form = sms("1")
    response = post_form(client, "/twilio/sms", form, sign("/twilio/sms", form))

    assert response.status_code == 200
    assert f"<Message>Acknowledged: P{reader[2].id} Special risk prompt. Thank you." in (
        response.text
    )
    assert statuses(engine) == [PromptStatus.ACKNOWLEDGED, PromptStatus.ACKNOWLEDGED]
    assert audit_count(engine, "prompt.acknowledged") == 2
