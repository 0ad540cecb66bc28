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
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from riskprompt.models.clock import Clock
from riskprompt.models.listings import ACK_BUCKETS, metrics_snapshot
from riskprompt.models.listings import MetricsSnapshot as Snapshot
from riskprompt.web.context import web_context

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


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
    with Session(engine) as session:
        return metrics_snapshot(session, now=clock.now())


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
