"""``GET /metrics``: read from the database at scrape time, so every instance tells the same."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine
from sqlmodel import Session

from riskprompt.config.settings import load_settings
from riskprompt.models import DeliveryStatus, PromptStatus, Role
from riskprompt.models.clock import FixedClock
from riskprompt.models.people import Channel
from riskprompt.web import create_app
from riskprompt.web.metrics import ACK_BUCKETS, read_snapshot
from tests.builders import make_person, make_prompt_with_delivery, make_unit, make_warning


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_come_from_the_database(client, session: Session, clock: FixedClock):
    now = clock.now()
    unit = make_unit(session)
    officer = make_person(session, unit=unit, role=Role.OFFICER)
    person = make_person(session, unit=unit, channels="telegram,sms,email")
    person.telegram_chat_id = 4242
    cases = [
        ("telegram", DeliveryStatus.PENDING, now - timedelta(minutes=10), None),
        ("telegram", DeliveryStatus.PENDING, now - timedelta(minutes=2), None),
        ("email", DeliveryStatus.PENDING, now + timedelta(hours=1), None),  # not due yet
        ("sms", DeliveryStatus.SENT, now - timedelta(days=3), 30),
        ("email", DeliveryStatus.FAILED, now - timedelta(days=3), 2 * 3600),
        ("telegram", DeliveryStatus.SENDING, now - timedelta(days=3), 2 * 86400),
    ]
    for channel, status, at, ack_after in cases:
        prompt, delivery = make_prompt_with_delivery(
            session, person=person, at=at, channel=Channel(channel)
        )
        delivery.status = status
        if ack_after is not None:
            prompt.status = PromptStatus.ACKNOWLEDGED
            prompt.acknowledged_at = at + timedelta(seconds=ack_after)
    escalated = make_warning(session, person=person, officer=officer, at=now)
    escalated.escalations = 2
    make_warning(session, person=person, officer=officer, at=now)
    session.commit()

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    got = samples(response.text)

    def value(name: str, **labels: str) -> float:
        return got[(name, tuple(sorted(labels.items())))]

    assert value("riskprompt_metrics_scrape_error") == 0
    assert value("riskprompt_deliveries", channel="telegram", status="pending") == 2
    assert value("riskprompt_deliveries", channel="email", status="pending") == 1
    assert value("riskprompt_deliveries", channel="sms", status="sent") == 1
    assert value("riskprompt_deliveries", channel="email", status="failed") == 1
    assert value("riskprompt_outbox_due", channel="telegram") == 2
    assert ("riskprompt_outbox_due", (("channel", "email"),)) not in got
    assert value("riskprompt_outbox_oldest_due_age_seconds") == 600
    assert value("riskprompt_outbox_in_flight") == 1
    assert value("riskprompt_prompts_open") == 3

    latency = "riskprompt_acknowledgement_latency_seconds"
    assert value(f"{latency}_count") == 3
    assert abs(value(f"{latency}_sum") - (30 + 2 * 3600 + 2 * 86400)) < 0.01
    expected = {60: 1, 3600: 1, 3 * 3600: 2, 86400: 2, 2 * 86400: 3, 7 * 86400: 3}
    for bound, n in expected.items():
        assert value(f"{latency}_bucket", le=f"{float(bound)}") == n, bound
    assert value(f"{latency}_bucket", le="+Inf") == 3
    assert len(ACK_BUCKETS) + 1 == sum(1 for key in got if key[0] == f"{latency}_bucket")

    assert value("riskprompt_warnings", colour="yellow", status="issued") == 2
    assert value("riskprompt_warning_escalations_total") == 2


def test_every_instance_reads_the_same(database, engine, session, clock, tmp_path):
    """Two apps (two processes' worth) on one database say the same; no process keeps a count."""
    unit = make_unit(session)
    person = make_person(session, unit=unit, channels="email")
    make_prompt_with_delivery(session, person=person, at=clock.now() - timedelta(seconds=5))
    session.commit()
    other_engine = create_engine(database) if database.startswith("postgresql") else engine
    try:
        first = read_snapshot(engine, clock)
        second = read_snapshot(other_engine, clock)
    finally:
        if other_engine is not engine:
            other_engine.dispose()
    assert first == second
    assert first.due == {"email": 1} and first.oldest_due_age == 5


def test_a_database_that_does_not_answer_is_one_gauge(clock, tmp_path):
    from fastapi.testclient import TestClient

    dead = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    app = create_app(
        settings=load_settings(OUTBOX_DIR=tmp_path / "outbox"), engine=dead, clock=clock
    )
    with TestClient(app) as client:
        response = client.get("/metrics")
    dead.dispose()
    assert response.status_code == 200
    got = samples(response.text)
    assert got == {("riskprompt_metrics_scrape_error", ()): 1.0}
