"""The fallback of a failed delivery: the same message on the reader's next channel.

One entry point for the dispatcher and the delivery receipts, whatever the row
carries: a notice (:func:`riskprompt.notifications.notices.notice_fallback`), a
prompt (:func:`riskprompt.notifications.outbox.prompt_fallback`) or a warning
reminder (:func:`riskprompt.notifications.warnings.warning_fallback`).  Rows with
none of them (an officer's list, an invitation) have no fallback.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from riskprompt.config.settings import Settings
from riskprompt.models.people import Person
from riskprompt.models.prompts import Delivery
from riskprompt.notifications.notices import notice_fallback
from riskprompt.notifications.outbox import prompt_fallback
from riskprompt.notifications.warnings import warning_fallback


def fallback_delivery(
    session: Session, *, failed: Delivery, person: Person, now: datetime, settings: Settings
) -> Delivery | None:
    """Queue what ``failed`` carried on the person's next channel; None when none is left."""
    if failed.notice_id is not None:
        return notice_fallback(session, failed=failed, person=person, now=now, settings=settings)
    if failed.prompt_id is not None:
        return prompt_fallback(session, failed=failed, person=person, now=now, settings=settings)
    if failed.warning_id is not None:
        return warning_fallback(session, failed=failed, person=person, now=now, settings=settings)
    return None
