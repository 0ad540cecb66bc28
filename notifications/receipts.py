"""Delivery receipts from Twilio's status callbacks, recorded on the delivery.

Twilio reports a message's progress (``queued``, ``sent``, ``delivered``) and its
fate (``undelivered``, ``failed`` with a carrier ``ErrorCode``) after the API
call that the dispatcher recorded as sent.  A permanent carrier failure turns the
delivery into a failed one and queues what it carried (a prompt still open, a
notice) on the person's next channel, as the dispatcher does for a failure it sees
itself.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Session, col, select

from riskprompt.config.settings import Settings
from riskprompt.models.audit import record
from riskprompt.models.clock import Clock
from riskprompt.models.people import Person
from riskprompt.models.prompts import Delivery, DeliveryStatus, Prompt, PromptStatus
from riskprompt.notifications.fallback import fallback_delivery

log = logging.getLogger(__name__)

#: The receipts kept on a delivery (``extra["receipts"]``): the latest few are enough.
MAX_RECEIPTS = 8
#: Final statuses that mean the message did not reach the handset.
FAILED_STATUSES = frozenset({"undelivered", "failed"})
#: Carrier and API errors that will not go away by trying again: blocked, unknown or
#: landline destination, filtered as spam, invalid number, not a mobile, replied STOP.
PERMANENT_ERRORS = frozenset({"30004", "30005", "30006", "30007", "21211", "21610", "21614"})


def record_receipt(
    session: Session,
    *,
    message_sid: str,
    status: str,
    error_code: str | None,
    clock: Clock,
    settings: Settings,
) -> Delivery | None:
    """Record a status callback on the delivery Twilio knows as ``message_sid``.

    The receipt is appended to ``delivery.extra["receipts"]`` (the latest
    :data:`MAX_RECEIPTS`) with an audit record ``delivery.receipt``; a repeated
    callback with the same status and error changes nothing.  When the message
    was undelivered or failed with a permanent error, a sent delivery is marked
    failed and what it carried (a prompt still open, a notice) is queued on the
    person's next channel.
    The caller commits.

    Args:
        session: the open session.
        message_sid: Twilio's ``MessageSid`` (our ``provider_message_id``).
        status: ``MessageStatus`` (``delivered``, ``undelivered``...).
        error_code: ``ErrorCode``, or None.
        clock: the clock.
        settings: the settings (rendering the fallback).

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
    permanent = status in FAILED_STATUSES and error_code in PERMANENT_ERRORS
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
