"""A warning's dry run: who would get which message on which channel, nothing written.

:func:`preview_warning` issues the warning with the one rule every surface uses
(:func:`riskprompt.models.warnings.issue_warning`: the officer, the scope, the
reason, the deadline, who must be told), expands its notices into messages with
the dispatcher's own step (:func:`riskprompt.notifications.notices.expand_notices`)
and reads them back (:func:`riskprompt.notifications.warnings.warning_deliveries`),
all inside a savepoint that is then rolled back.  So the preview is exactly what
issuing would queue, and it writes nothing: no warning, no audit record, no message.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from riskprompt.config.i18n import N_
from riskprompt.config.settings import Settings
from riskprompt.models.catalog import RiskPoint
from riskprompt.models.clock import Clock
from riskprompt.models.notices import Notice, NoticeRole
from riskprompt.models.people import Channel, Person
from riskprompt.models.warnings import WarningColour, WarningForm, issue_warning
from riskprompt.notifications.notices import expand_notices
from riskprompt.notifications.warnings import warning_deliveries

#: How each reader of a warning's notices is named in the preview.
ROLE_LABELS: dict[NoticeRole, str] = {
    NoticeRole.ADDRESSEE: N_("the person warned"),
    NoticeRole.SUPERVISOR: N_("their supervisor"),
    NoticeRole.OFFICER: N_("the issuing officer"),
    NoticeRole.REVIEWER: N_("a reviewing officer"),
}
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True, slots=True)
class PlannedMessage:
    """One message issuing would queue; ``channel`` None: the reader cannot be reached.

    ``text`` is the message as the reader would read it (a chat message's markup
    taken out), but for its links: signed for the reader, they are cut short.
    """

    name: str
    staff_id: str
    role: NoticeRole
    channel: Channel | None
    address: str | None
    subject: str
    text: str

    @property
    def role_label(self) -> str:
        """The msgid naming the reader's part."""
        return ROLE_LABELS[self.role]


@dataclass(frozen=True)
class WarningPreview:
    """What issuing the warning would do: the warning as checked (``risk_point``: the
    description of the risk point it concerns), and its messages."""

    person: Person
    colour: WarningColour
    form: WarningForm
    reason: str
    deadline: datetime
    risk_point: str | None
    messages: list[PlannedMessage]

    @property
    def unreachable(self) -> list[PlannedMessage]:
        """The readers no channel reaches."""
        return [m for m in self.messages if m.channel is None]


def _readable(channel: Channel, body: str, public_url: str | None) -> str:
    """A message body as its reader sees it (a Telegram message is HTML), its signed
    links cut short: they would let whoever reads the preview act as the reader."""
    text = body if channel is not Channel.TELEGRAM else html.unescape(_TAG.sub("", body))
    if public_url:
        base = public_url.rstrip("/")
        text = re.sub(re.escape(base) + r"/\S+", lambda _link: base + "/…", text)
    return text


def preview_warning(
    session: Session,
    *,
    actor: Person,
    person: Person,
    colour: WarningColour | str,
    form: WarningForm | str,
    reason: str,
    clock: Clock,
    settings: Settings,
    deadline: date | datetime | None = None,
    risk_point_id: int | None = None,
) -> WarningPreview:
    """What :func:`~riskprompt.models.warnings.issue_warning` with these arguments would
    queue, each message rendered; nothing is written (see the module's docstring).

    Raises:
        The rule's errors (PermissionDenied, InvalidInput, NotFound): see there.
    """
    savepoint = session.begin_nested()
    try:
        warning = issue_warning(
            session,
            actor=actor,
            person=person,
            colour=colour,
            form=form,
            reason=reason,
            clock=clock,
            deadline=deadline,
            settings=settings,
            risk_point_id=risk_point_id,
        )
        now = clock.now()
        pending = (
            select(Notice.id)
            .where(col(Notice.warning_id) == warning.id, col(Notice.expanded_at).is_(None))
            .limit(1)
        )
        # The expander takes the oldest notices first: go on until this warning's are done.
        while session.exec(pending).first() is not None:
            if not expand_notices(session, now=now, settings=settings):
                break
        notices = session.exec(
            select(Notice).where(col(Notice.warning_id) == warning.id).order_by(col(Notice.id))
        ).all()
        deliveries = warning_deliveries(session, warning_id=warning.id or 0)
        readers = {
            p.id: p
            for p in session.exec(
                select(Person).where(col(Person.id).in_({n.reader_id for n in notices}))
            ).all()
        }
        messages: list[PlannedMessage] = []
        for notice in notices:
            reader = readers[notice.reader_id]
            queued = [d for d in deliveries if d.notice_id == notice.id]
            for delivery in queued:
                channel = Channel(delivery.channel)
                messages.append(
                    PlannedMessage(
                        name=reader.name,
                        staff_id=reader.staff_id,
                        role=notice.role,
                        channel=channel,
                        address=delivery.address or reader.address_for(channel),
                        subject=delivery.subject,
                        text=_readable(channel, delivery.body, settings.PUBLIC_URL),
                    )
                )
            if not queued:
                messages.append(
                    PlannedMessage(reader.name, reader.staff_id, notice.role, None, None, "", "")
                )
        point = session.get(RiskPoint, warning.risk_point_id) if warning.risk_point_id else None
        preview = WarningPreview(
            person=person,
            colour=WarningColour(warning.colour),
            form=WarningForm(warning.form),
            reason=warning.reason,
            deadline=warning.deadline,
            risk_point=point.description if point is not None else None,
            messages=messages,
        )
    finally:
        savepoint.rollback()
    return preview
