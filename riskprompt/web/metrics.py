"""``GET /metrics``: Prometheus metrics, read from the database at scrape time.

Several processes share the work (web apps, workers, schedulers on several
machines), so a counter kept in one process would tell only its own part.  The
database is the source of truth: each scrape asks it, in a handful of aggregate
queries, and every instance's ``/metrics`` says the same.

- ``riskprompt_deliveries{channel,status}``: deliveries per channel and status
  (``sent``, ``failed``, ``cancelled`` are outcomes; ``pending``, ``sending`` are
  the queue).
- ``riskprompt_outbox_due{channel}``: pending deliveries due now (queue depth).
- ``riskprompt_outbox_oldest_due_age_seconds``: how long the oldest due
  delivery has waited (0 when none): the alert for a stuck or short-handed outbox.
- ``riskprompt_outbox_in_flight``: deliveries claimed and not yet recorded.
- ``riskprompt_acknowledgement_latency_seconds``: a histogram of the time from
  a prompt's creation to its acknowledgement, over every acknowledged prompt.
- ``riskprompt_prompts_open``: prompts waiting for acknowledgement.
- ``riskprompt_warnings{colour,status}``: warnings per colour and status.
- ``riskprompt_warning_escalations_total``: escalation steps taken (yellow →
  orange → red), the sum of the warnings' escalation counts.
- ``riskprompt_metrics_scrape_error``: 1 when the database did not answer (the
  other metrics are then left out), else 0.

The endpoint carries no personal data; put it behind the reverse proxy's
allow-list all the same (docs/deploy.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import Engine, case, extract, func
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from riskprompt.models.clock import Clock
from riskprompt.models.prompts import Delivery, DeliveryStatus, Prompt, PromptStatus
from riskprompt.models.warnings import Warning
from riskprompt.web.context import web_context

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])

#: Upper bounds of the acknowledgement latency buckets, in seconds: 1 min to 7 days.
ACK_BUCKETS: tuple[float, ...] = (
    60,
    300,
    900,
    1800,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    2 * 86400,
    3 * 86400,
    7 * 86400,
)


@dataclass
class Snapshot:
    """What one scrape read from the database."""

    deliveries: dict[tuple[str, str], int] = field(default_factory=dict)
    due: dict[str, int] = field(default_factory=dict)
    oldest_due_age: float = 0.0
    in_flight: int = 0
    ack_buckets: list[int] = field(default_factory=list)  # cumulative, one per ACK_BUCKETS
    ack_count: int = 0
    ack_sum: float = 0.0
    open_prompts: int = 0
    warnings: dict[tuple[str, str], int] = field(default_factory=dict)
    escalations: int = 0


def _seconds_between(engine: Engine, start: object, end: object) -> ColumnElement[float]:
    """``end - start`` in seconds, in the dialect's own date arithmetic."""
    if engine.dialect.name == "postgresql":
        return extract("epoch", end - start)  # type: ignore[operator]
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def read_snapshot(engine: Engine, clock: Clock) -> Snapshot:
    """Read every metric from the database, in one read-only transaction.

    Args:
        engine: the database.
        clock: "now", for what is due and how old it is.

    Returns:
        The snapshot.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database did not answer.
    """
    now = clock.now()
    snap = Snapshot()
    with Session(engine) as session:
        for channel, status, n in session.exec(
            select(Delivery.channel, Delivery.status, func.count()).group_by(
                col(Delivery.channel), col(Delivery.status)
            )
        ).all():
            snap.deliveries[(channel, DeliveryStatus(status).value)] = int(n)
        snap.in_flight = sum(
            n for (_, status), n in snap.deliveries.items() if status == DeliveryStatus.SENDING
        )
        due = (
            col(Delivery.status) == DeliveryStatus.PENDING,
            col(Delivery.due_at) <= now,
        )
        for channel, n in session.exec(
            select(Delivery.channel, func.count()).where(*due).group_by(col(Delivery.channel))
        ).all():
            snap.due[channel] = int(n)
        oldest = session.exec(select(func.min(Delivery.due_at)).where(*due)).one()
        if oldest is not None:
            snap.oldest_due_age = max(0.0, (now - _aware(oldest)).total_seconds())

        latency = _seconds_between(engine, col(Prompt.created_at), col(Prompt.acknowledged_at))
        acknowledged = col(Prompt.acknowledged_at).is_not(None)
        # One pass over the acknowledged prompts: count, sum and each bucket's count.
        within = [func.coalesce(func.sum(case((latency <= b, 1), else_=0)), 0) for b in ACK_BUCKETS]
        row = session.exec(
            select(func.count(), func.coalesce(func.sum(latency), 0.0), *within).where(acknowledged)
        ).one()
        snap.ack_count, snap.ack_sum = int(row[0]), float(row[1])
        snap.ack_buckets = [int(n) for n in row[2:]]
        snap.open_prompts = int(
            session.exec(
                select(func.count()).where(
                    col(Prompt.status) == PromptStatus.OPEN, col(Prompt.requires_ack)
                )
            ).one()
        )
        for colour, status, n, steps in session.exec(
            select(
                Warning.colour,
                Warning.status,
                func.count(),
                func.coalesce(func.sum(Warning.escalations), 0),
            ).group_by(col(Warning.colour), col(Warning.status))
        ).all():
            snap.warnings[(str(colour), str(status))] = int(n)
            snap.escalations += int(steps)
    return snap


def _aware(moment: datetime | str) -> datetime:
    """A moment from an aggregate (SQLite gives it back as text or naive) as aware UTC."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class DatabaseCollector(Collector):
    """A Prometheus collector whose every collect reads the database (see the module doc).

    Args:
        engine: the database.
        clock: the clock.
    """

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def collect(self) -> Iterable[Metric]:
        """The metrics, read now; only the error gauge when the database does not answer."""
        error = GaugeMetricFamily(
            "riskprompt_metrics_scrape_error", "1 when the database did not answer the scrape."
        )
        try:
            snap = read_snapshot(self.engine, self.clock)
        except SQLAlchemyError as exc:
            log.warning("metrics: the database does not answer: %s", exc.__class__.__name__)
            error.add_metric([], 1)
            yield error
            return
        error.add_metric([], 0)
        yield error
        yield from _families(snap)


def _families(snap: Snapshot) -> Iterator[Metric]:
    deliveries = GaugeMetricFamily(
        "riskprompt_deliveries",
        "Deliveries per channel and status (sent, failed, cancelled, pending, sending).",
        labels=["channel", "status"],
    )
    for (channel, status), n in sorted(snap.deliveries.items()):
        deliveries.add_metric([channel, status], n)
    yield deliveries

    due = GaugeMetricFamily(
        "riskprompt_outbox_due", "Pending deliveries due now (queue depth).", labels=["channel"]
    )
    for channel, n in sorted(snap.due.items()):
        due.add_metric([channel], n)
    yield due
    yield GaugeMetricFamily(
        "riskprompt_outbox_oldest_due_age_seconds",
        "Seconds the oldest due delivery has waited (0 when none is due).",
        value=snap.oldest_due_age,
    )
    yield GaugeMetricFamily(
        "riskprompt_outbox_in_flight",
        "Deliveries claimed by a worker and not yet recorded.",
        value=snap.in_flight,
    )

    buckets = [
        (_le(bound), float(n)) for bound, n in zip(ACK_BUCKETS, snap.ack_buckets, strict=True)
    ]
    buckets.append(("+Inf", float(snap.ack_count)))
    yield HistogramMetricFamily(
        "riskprompt_acknowledgement_latency_seconds",
        "Time from a prompt's creation to its acknowledgement.",
        buckets=buckets,
        sum_value=snap.ack_sum,
    )
    yield GaugeMetricFamily(
        "riskprompt_prompts_open",
        "Prompts waiting for acknowledgement.",
        value=snap.open_prompts,
    )

    warnings = GaugeMetricFamily(
        "riskprompt_warnings", "Warnings per colour and status.", labels=["colour", "status"]
    )
    for (colour, status), n in sorted(snap.warnings.items()):
        warnings.add_metric([colour, status], n)
    yield warnings
    yield CounterMetricFamily(
        "riskprompt_warning_escalations",
        "Escalation steps taken on overdue warnings (yellow to orange to red).",
        value=snap.escalations,
    )


def _le(bound: float) -> str:
    return f"{bound:.1f}"


def make_registry(engine: Engine, clock: Clock) -> CollectorRegistry:
    """A registry of its own (not the process-wide default) with the database collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(engine, clock))
    return registry


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """The metrics in Prometheus' text format, read from the database now."""
    context = web_context(request)
    registry: CollectorRegistry = request.app.state.metrics
    body = await context.run_blocking(lambda: generate_latest(registry))
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)


__all__ = ["ACK_BUCKETS", "DatabaseCollector", "Snapshot", "make_registry", "read_snapshot"]
