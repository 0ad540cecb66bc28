"""Delivery receipts of SMS, recorded on the delivery: pushed by Twilio, polled from Alibaba Cloud.

A provider reports a message's progress (``queued``, ``sent``, ``delivered``) and
its fate (``undelivered``, ``failed`` with a carrier code) after the API call that
the dispatcher recorded as sent.  Twilio posts them (``riskprompt.web.twilio``);
Alibaba Cloud is asked (``QuerySendDetails``) by :func:`poll_sms_receipts`, a few
times in the days after sending (:data:`POLL_AFTER`), so that no inbound route is
needed.  Either way :func:`record_receipt` writes it: a permanent carrier failure
turns the delivery into a failed one and queues what it carried (a prompt still
open, a notice) on the person's next channel, as the dispatcher does for a
failure it sees itself.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Session, col, select

from riskprompt.config.settings import Settings
from riskprompt.models.audit import record
from riskprompt.models.clock import Clock
from riskprompt.models.db import session_scope
from riskprompt.models.people import Person
from riskprompt.models.prompts import Delivery, DeliveryStatus, Prompt, PromptStatus
from riskprompt.notifications.channels.sms import (
    Receipt,
    SmsError,
    SmsProvider,
    SmsThrottled,
    SmsUnavailable,
    provider_from_settings,
)
from riskprompt.notifications.channels.sms_twilio import receipt_is_permanent
from riskprompt.notifications.fallback import fallback_delivery

log = logging.getLogger(__name__)

#: The receipts kept on a delivery (``extra["receipts"]``): the latest few are enough.
MAX_RECEIPTS = 8
#: Statuses after which no other receipt comes.
FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "read"})  # read: DingTalk
#: When a polled provider is asked about a message: the n-th query is due this long
#: after sending; after the last one the message is left as it stands.
POLL_AFTER = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=12),
    timedelta(hours=36),
)


def record_receipt(
    session: Session,
    *,
    message_sid: str,
    status: str,
    error_code: str | None,
    clock: Clock,
    settings: Settings,
    permanent: bool | None = None,
) -> Delivery | None:
    """Record a delivery receipt on the delivery the provider knows as ``message_sid``.

    The receipt is appended to ``delivery.extra["receipts"]`` (the latest
    :data:`MAX_RECEIPTS`) with an audit record ``delivery.receipt``; a repeated
    callback with the same status and error changes nothing.  When the message
    was undelivered or failed with a permanent error, a sent delivery is marked
    failed and what it carried (a prompt still open, a notice) is queued on the
    person's next channel.
    The caller commits.

    Args:
        session: the open session.
        message_sid: the provider's id (Twilio's ``MessageSid``, Alibaba Cloud's
            ``BizId``: our ``provider_message_id``).
        status: ``delivered``, ``undelivered``... (Twilio's ``MessageStatus``).
        error_code: the carrier's or provider's code, or None.
        clock: the clock.
        settings: the settings (rendering the fallback).
        permanent: whether the failure is for good (None: Twilio's codes decide).

    Returns:
        The delivery, or None when no delivery has that message id.
    """
    delivery = session.exec(
        select(Delivery).where(col(Delivery.provider_message_id) == message_sid).limit(1)
    ).first()
    if delivery is None:
        return None
    now = clock.now()
    receipts = list(delivery.extra.get("receipts") or [])
    entry: dict[str, str] = {"status": status, "at": now.isoformat()}
    if error_code:
        entry["error"] = error_code
    last = receipts[-1] if receipts else None
    if last is not None and last.get("status") == status and last.get("error") == error_code:
        return delivery
    delivery.extra = {**delivery.extra, "receipts": [*receipts, entry][-MAX_RECEIPTS:]}
    flag_modified(delivery, "extra")
    session.add(delivery)
    record(
        session,
        at=now,
        actor_id=None,
        action="delivery.receipt",
        subject_type="delivery",
        subject_id=delivery.id,
        data={"status": status, "error": error_code, "provider_id": message_sid},
    )
    if permanent is None:
        permanent = receipt_is_permanent(status, error_code)
    if permanent and delivery.status is DeliveryStatus.SENT:
        _fail_and_fall_back(session, delivery, status, error_code or "", now, settings)
    return delivery


def _fail_and_fall_back(
    session: Session,
    delivery: Delivery,
    status: str,
    error_code: str,
    now: datetime,
    settings: Settings,
) -> None:
    error = f"carrier: {status} ({error_code})"
    delivery.status = DeliveryStatus.FAILED
    delivery.last_error = error
    session.add(delivery)
    record(
        session,
        at=now,
        actor_id=None,
        action="delivery.failed",
        subject_type="delivery",
        subject_id=delivery.id,
        data={"channel": delivery.channel, "attempts": delivery.attempts, "error": error},
    )
    prompt = session.get(Prompt, delivery.prompt_id) if delivery.prompt_id else None
    person = session.get(Person, delivery.person_id)
    if person is None or (prompt is not None and prompt.status is not PromptStatus.OPEN):
        return  # a prompt read or withdrawn meanwhile: nothing more to send
    fallback = fallback_delivery(
        session,
        failed=delivery,
        person=person,
        now=now,
        settings=settings,
    )
    if fallback is None:
        log.warning("delivery %s failed at the carrier and no channel is left", delivery.id)
        return
    session.flush()
    record(
        session,
        at=now,
        actor_id=None,
        action="delivery.fallback",
        subject_type="delivery",
        subject_id=fallback.id,
        data={"replaces": delivery.id, "channel": fallback.channel, "from": delivery.channel},
    )


# -- polling (providers that are asked rather than post) ------------------------------------


@dataclass(frozen=True, slots=True)
class ReceiptQuery:
    """A sent SMS whose receipt is due to be asked for (plain values: it crosses threads)."""

    delivery_id: int
    address: str
    provider_id: str
    sent_at: datetime


def sms_receipts_polled(settings: Settings) -> bool:
    """Whether the configured SMS provider is asked for receipts (Alibaba Cloud)."""
    return settings.sms_enabled and provider_from_settings(settings).polls_receipts


def due_receipt_queries(
    session: Session, *, now: datetime, limit: int, channel: str = "sms"
) -> list[ReceiptQuery]:
    """Sent messages of ``channel`` (SMS; DingTalk's ``getsendresult``) without a final
    receipt whose next query (:data:`POLL_AFTER`) is due, oldest first.

    Only messages sent within the last :data:`POLL_AFTER` step (and a day) are read.
    """
    rows = session.exec(
        select(Delivery)
        .where(
            col(Delivery.channel) == channel,
            col(Delivery.status) == DeliveryStatus.SENT,
            col(Delivery.provider_message_id).is_not(None),
            col(Delivery.sent_at) >= now - POLL_AFTER[-1] - timedelta(days=1),
        )
        .order_by(col(Delivery.sent_at))
    ).all()
    due = []
    for delivery in rows:
        asked = int(delivery.extra.get("receipt_queries") or 0)
        receipts = delivery.extra.get("receipts") or []
        if receipts and receipts[-1].get("status") in FINAL_STATUSES:
            continue
        if asked >= len(POLL_AFTER) or delivery.sent_at is None or not delivery.address:
            continue
        if now < delivery.sent_at + POLL_AFTER[asked]:
            continue
        due.append(
            ReceiptQuery(
                delivery_id=delivery.id or 0,
                address=delivery.address,
                provider_id=delivery.provider_message_id or "",
                sent_at=delivery.sent_at,
            )
        )
        if len(due) >= limit:
            break
    return due


def record_polled_receipt(
    session: Session,
    *,
    query: ReceiptQuery,
    receipt: Receipt | None,
    clock: Clock,
    settings: Settings,
) -> bool:
    """Count the query on its delivery and record what it found; True when a receipt was new.

    The caller commits.
    """
    delivery = session.get(Delivery, query.delivery_id)
    if delivery is None:
        return False
    asked = int(delivery.extra.get("receipt_queries") or 0) + 1
    delivery.extra = {**delivery.extra, "receipt_queries": asked}
    flag_modified(delivery, "extra")
    session.add(delivery)
    if receipt is None or not receipt.final:
        return False  # nothing reported yet: ask again at the next step
    before = len(delivery.extra.get("receipts") or [])
    record_receipt(
        session,
        message_sid=query.provider_id,
        status=receipt.status,
        error_code=receipt.error_code,
        clock=clock,
        settings=settings,
        permanent=receipt.permanent,
    )
    return len(delivery.extra.get("receipts") or []) > before


async def poll_sms_receipts(
    engine: Engine,
    *,
    provider: SmsProvider,
    clock: Clock,
    settings: Settings,
    limit: int = 200,
) -> int:
    """Ask ``provider`` about the sent SMS whose query is due and record what it says.

    A query the provider cannot answer now (throttled, unreachable) ends the pass:
    the rest wait for the next one.  Any other refusal counts as a query made.

    Args:
        engine: the database.
        provider: an opened provider that :attr:`~SmsProvider.polls_receipts`.
        clock: the clock (what is due; the receipts' time).
        settings: the settings (rendering a fallback).
        limit: the most queries in one pass.

    Returns:
        How many new receipts were recorded.
    """

    def due() -> list[ReceiptQuery]:
        with session_scope(engine) as session:
            return due_receipt_queries(session, now=clock.now(), limit=limit)

    def store(query: ReceiptQuery, receipt: Receipt | None) -> bool:
        with session_scope(engine) as session:
            return record_polled_receipt(
                session, query=query, receipt=receipt, clock=clock, settings=settings
            )

    recorded = 0
    for query in await asyncio.to_thread(due):
        try:
            receipt = await provider.receipt(
                to=query.address, provider_id=query.provider_id, sent_at=query.sent_at
            )
        except (SmsThrottled, SmsUnavailable) as exc:
            log.info("receipts: %s; the rest wait for the next pass", exc)
            break
        except SmsError as exc:
            log.warning("receipt of delivery %s: %s", query.delivery_id, exc)
            receipt = None
        recorded += await asyncio.to_thread(store, query, receipt)
    if recorded:
        log.info("%d SMS receipts recorded", recorded)
    return recorded
