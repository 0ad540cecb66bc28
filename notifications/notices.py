"""Notices → messages: expand what a decision must tell into deliveries, and render them.

A rule function in ``models/`` writes one :class:`~riskprompt.models.notices.Notice`
per reader (:func:`riskprompt.models.notices.tell`).  :func:`expand_notices`, run
by the dispatcher at the start of every pass, claims the pending ones that are due
and turns each into rendered deliveries on the reader's channels (reach FIRST: the
first reachable one, falling back to the next on failure; EVERY: all of them), in
the reader's locale, then marks it expanded, in one transaction.  Two expanders at
once never expand a notice twice: PostgreSQL claims with ``FOR UPDATE SKIP
LOCKED``, SQLite with one guarded ``UPDATE ... RETURNING``.

What a warning's addressee sees of an issued or escalated warning is the warning
message itself (:func:`riskprompt.notifications.rendering.render_warning`, with its
buttons and signed link), and a supervisor or officer gets its notice form; the
other events have their own short message (``notice_*`` templates).

Keys: a warning's own messages keep ``w<id>-<channel>[-esc<n>|-flag][-sup|-off]``;
every other notice is ``n<id>-<channel>``; a fallback adds ``-r<failed id>``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from riskprompt.config.i18n import N_, format_deadline, translator
from riskprompt.config.settings import Settings
from riskprompt.models import codes
from riskprompt.models.notices import Notice, NoticeEvent, NoticeReach, NoticeRole
from riskprompt.models.people import Channel, Person
from riskprompt.models.prompts import Delivery, DeliveryStatus, Prompt
from riskprompt.models.warnings import (
    OPEN_STATES,
    Rectification,
    Warning,
    WarningColour,
    WarningForm,
    WarningStatus,
)
from riskprompt.notifications.channels.base import Button
from riskprompt.notifications.outbox import DeliveryKey, ack_links, enqueue
from riskprompt.notifications.quiet import reader_zone
from riskprompt.notifications.rendering import (
    WARNING_COLOURS,
    NoticeView,
    Rendered,
    reader_locale,
    render_notice_view,
    shorten,
)
from riskprompt.notifications.warnings import ROLE_KEYS, render_warning_for

log = logging.getLogger(__name__)

#: Notices expanded per transaction.
BATCH_SIZE = 200
#: Events whose message asks the reader to act on a warning still open: expanded
#: (and sent) only while it is; the other events are news of an outcome and always go.
STATE_BOUND = frozenset(
    {NoticeEvent.WARNING_ISSUED, NoticeEvent.WARNING_ESCALATED, NoticeEvent.WARNING_FLAGGED}
)
#: How each role reads a warning's notice form (render_warning's ``notice_role``).
_NOTICE_ROLES = {
    NoticeRole.SUPERVISOR: "supervisor",
    NoticeRole.OFFICER: "officer",
    NoticeRole.REVIEWER: "officer",
}


def _claim(session: Session, *, now: datetime, limit: int) -> list[int]:
    """Mark up to ``limit`` due, pending notices expanded; their ids (oldest first)."""
    due = (
        select(Notice.id)
        .where(col(Notice.expanded_at).is_(None), col(Notice.due_at) <= now)
        .order_by(col(Notice.due_at), col(Notice.id))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        ids = [i for i in session.exec(due.with_for_update(skip_locked=True)).all() if i]
        if ids:
            session.exec(
                update(Notice).where(col(Notice.id).in_(ids)).values(expanded_at=now)  # type: ignore[call-overload]
            )
        return ids
    claimed = session.exec(
        update(Notice)  # type: ignore[call-overload]
        .where(col(Notice.id).in_(due), col(Notice.expanded_at).is_(None))
        .values(expanded_at=now)
        .returning(col(Notice.id))
    )
    return sorted(i for i in claimed.scalars().all() if i)


def expand_notices(
    session: Session, *, now: datetime, settings: Settings, limit: int = BATCH_SIZE
) -> int:
    """Turn up to ``limit`` due notices into rendered deliveries, in the caller's transaction.

    Each claimed notice is marked expanded in the same transaction as its
    deliveries, so a notice is expanded once even with several dispatchers; a
    notice whose reader has no reachable channel, or that asks to act on a warning
    no longer open, is marked expanded with no delivery.

    Args:
        session: an open session in a transaction the caller commits.
        now: the moment (deliveries are due at once; links are stamped with it).
        settings: the settings (default locale, time zone, links).
        limit: the most notices to expand in this call.

    Returns:
        How many notices were claimed (``limit``: there may be more).
    """
    ids = _claim(session, now=now, limit=limit)
    if not ids:
        return 0
    notices = session.exec(select(Notice).where(col(Notice.id).in_(ids))).all()
    wanted = {n.reader_id for n in notices} | {n.actor_id for n in notices if n.actor_id}
    people = {p.id: p for p in session.exec(select(Person).where(col(Person.id).in_(wanted))).all()}
    for notice in sorted(notices, key=lambda n: n.id or 0):
        reader = people.get(notice.reader_id)
        if reader is None:  # pragma: no cover - people are deactivated, not deleted
            continue
        context = _Context.load(session, notice)
        if context is None:
            log.info("notice %s: nothing left to tell (%s)", notice.id, notice.event.value)
            continue
        channels = reader.reachable_channels()
        if notice.reach is NoticeReach.FIRST:
            channels = channels[:1]
        if not channels:
            log.warning("notice %s: %s has no reachable channel", notice.id, reader.staff_id)
        for channel in channels:
            _queue(session, notice, context, reader, channel, now=now, settings=settings)
    session.flush()
    return len(ids)


def expand_all(session_factory: Callable[[], Session], *, now: datetime, settings: Settings) -> int:
    """Expand every due notice, one transaction per batch; how many were expanded."""
    total = 0
    while True:
        with session_factory() as session, session.begin():
            taken = expand_notices(session, now=now, settings=settings)
        total += taken
        if taken < BATCH_SIZE:
            return total


def notice_fallback(
    session: Session, *, failed: Delivery, person: Person, now: datetime, settings: Settings
) -> Delivery | None:
    """Queue a failed notice delivery on the reader's next channel not used yet, if any.

    Like a prompt's: the next reachable channel after the failed one.  A notice
    that went to every channel has none left; one that asks to act on a warning
    moves on only while the warning waits for it.
    """
    notice = session.get(Notice, failed.notice_id) if failed.notice_id else None
    if notice is None:
        return None
    context = _Context.load(session, notice)
    if context is None:
        return None
    warning = context.warning
    if (
        notice.event is NoticeEvent.WARNING_ISSUED
        and notice.role is NoticeRole.ADDRESSEE
        and warning is not None
        and warning.status is not WarningStatus.ISSUED
    ):
        return None  # acknowledged meanwhile: the reminder follow-up takes over
    used = set(
        session.exec(
            select(Delivery.channel).where(
                col(Delivery.notice_id) == notice.id,
                col(Delivery.status) != DeliveryStatus.FAILED,
            )
        ).all()
    )
    preference = person.reachable_channels()
    after = Channel(failed.channel)
    later = preference[preference.index(after) + 1 :] if after in preference else preference
    channel = next((c for c in later if c.value not in used and c is not after), None)
    if channel is None:
        return None
    return _queue(
        session, notice, context, person, channel, now=now, settings=settings, replaces=failed
    )


# -- what a notice names --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
    """The rows a notice's message names."""

    warning: Warning | None
    addressee: Person | None
    actor: Person | None
    rectification: Rectification | None
    prompt: Prompt | None

    @classmethod
    def load(cls, session: Session, notice: Notice) -> _Context | None:
        """The rows, or None when the notice has nothing left to say (see STATE_BOUND)."""
        warning = session.get(Warning, notice.warning_id) if notice.warning_id else None
        if notice.event in STATE_BOUND and (warning is None or warning.status not in OPEN_STATES):
            return None
        prompt = session.get(Prompt, notice.prompt_id) if notice.prompt_id else None
        if notice.event is NoticeEvent.PROMPT_CANCELLED and prompt is None:
            return None
        if notice.event not in (NoticeEvent.PROMPT_CANCELLED,) and warning is None:
            return None
        addressee_id = warning.person_id if warning is not None else (prompt and prompt.person_id)
        return cls(
            warning=warning,
            addressee=session.get(Person, addressee_id) if addressee_id else None,
            actor=session.get(Person, notice.actor_id) if notice.actor_id else None,
            rectification=(
                session.get(Rectification, notice.rectification_id)
                if notice.rectification_id
                else None
            ),
            prompt=prompt,
        )


def _key(notice: Notice, channel: Channel, replaces: int | None) -> DeliveryKey:
    """``w<id>-…`` for a warning's own messages (the keys they always had), else ``n<id>-…``."""
    if notice.event in STATE_BOUND and notice.warning_id is not None:
        tag = {
            NoticeEvent.WARNING_ISSUED: "",
            NoticeEvent.WARNING_ESCALATED: f"esc{notice.data.get('escalations', '')}",
            NoticeEvent.WARNING_FLAGGED: "flag",
        }[notice.event]
        role = ROLE_KEYS.get(_NOTICE_ROLES.get(notice.role, ""), "")
        return DeliveryKey.warning(
            notice.warning_id, channel, tag=tag, role=role, replaces=replaces
        )
    return DeliveryKey.notice(notice.id, channel, replaces)


def _queue(
    session: Session,
    notice: Notice,
    context: _Context,
    reader: Person,
    channel: Channel,
    *,
    now: datetime,
    settings: Settings,
    replaces: Delivery | None = None,
) -> Delivery:
    rendered = render_notice(
        session, notice, context, reader=reader, channel=channel, now=now, settings=settings
    )
    return enqueue(
        session,
        person=reader,
        channel=channel,
        rendered=rendered,
        key=_key(notice, channel, replaces.id if replaces is not None else None),
        due_at=now,
        warning_id=notice.warning_id,
        notice_id=notice.id,
        replaces=replaces,
        extra={"notice": notice.event.value},
    )


# -- rendering ------------------------------------------------------------------------------


#: The first lines of an escalated and of a flagged warning's message.
ESCALATED_HEADLINE = N_(
    "Escalated from %(from)s to %(to)s: the deadline passed without a correction."
)
FLAGGED_HEADLINE = N_("Overdue red warning: flagged for disciplinary follow-up.")


def _headline(notice: Notice) -> Callable[[str], str] | None:
    """The first line of an escalated or flagged warning's message, per locale."""
    if notice.event is NoticeEvent.WARNING_ESCALATED:
        values = {
            "from": WarningColour(str(notice.data.get("from", "yellow"))),
            "to": WarningColour(str(notice.data.get("to", "orange"))),
        }

        def escalated(locale: str) -> str:
            gettext = translator(locale).gettext
            shown = {key: gettext(colour.label) for key, colour in values.items()}
            return gettext(ESCALATED_HEADLINE) % shown

        return escalated
    if notice.event is NoticeEvent.WARNING_FLAGGED:
        return lambda locale: translator(locale).gettext(FLAGGED_HEADLINE)
    return None


def render_notice(
    session: Session,
    notice: Notice,
    context: _Context | None = None,
    *,
    reader: Person,
    channel: Channel,
    now: datetime,
    settings: Settings,
) -> Rendered:
    """Render ``notice`` for ``reader`` on ``channel``, in the reader's locale and time zone.

    Args:
        session: an open session (the rows the notice names are read).
        notice: the notice.
        context: its rows, when already loaded.
        reader: who reads it.
        channel: a channel that reaches them.
        now: when its links are stamped.
        settings: the settings.

    Raises:
        ValueError: the notice names nothing left to render (a warning gone).
    """
    context = context or _Context.load(session, notice)
    if context is None:
        raise ValueError(f"notice {notice.id} has nothing left to say")
    warning = context.warning
    if notice.event in STATE_BOUND and warning is not None:
        notice_role = _NOTICE_ROLES.get(notice.role, "supervisor")
        return render_warning_for(
            session,
            warning=warning,
            reader=reader,
            channel=channel,
            now=now,
            settings=settings,
            subject=None if notice.role is NoticeRole.ADDRESSEE else context.addressee,
            notice_role=notice_role,
            headline=_headline(notice),
        )
    locale = reader_locale(reader.locale, settings)
    view, buttons = _outcome_view(notice, context, reader=reader, locale=locale, settings=settings)
    link = None
    if (
        channel is Channel.EMAIL
        and notice.event is NoticeEvent.CORRECTION_REJECTED
        and warning is not None
    ):
        link = ack_links(settings, now).for_warning(warning.id or 0, reader.id or 0)
    return render_notice_view(
        view,
        locale=locale,
        channel=channel,
        link=link,
        buttons=buttons if channel.is_chat else (),
    )


def _deadline(moment: Any, reader: Person, settings: Settings, locale: str, width: str) -> str:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if not isinstance(moment, datetime):
        return ""
    zone = reader_zone(reader.timezone, settings.zone)
    return format_deadline(moment, zone, locale, width)


def _outcome_view(
    notice: Notice, context: _Context, *, reader: Person, locale: str, settings: Settings
) -> tuple[NoticeView, tuple[Button, ...]]:
    """The text of a withdrawal, a correction's report or review, a cancelled prompt."""
    i18n = translator(locale)
    gettext = i18n.gettext
    warning, actor, person = context.warning, context.actor, context.addressee
    actor_name = actor.name if actor is not None else ""
    reason = " ".join(str(notice.data.get("reason") or "").split())
    colour_hex = "#1f2937"
    code = ""
    if warning is not None:
        code = codes.warning_code(warning.id)
        colour_hex = WARNING_COLOURS[WarningColour(warning.colour)]
    buttons: tuple[Button, ...] = ()
    event = notice.event

    def sms(title: str, line: Callable[[str], str]) -> Callable[[int | None], str]:
        def text(width: int | None) -> str:
            return f"[{title}] " + line(reason if width is None else shorten(reason, width))

        return text

    if event is NoticeEvent.WARNING_WITHDRAWN and warning is not None:
        title = gettext(N_("Warning %(code)s withdrawn")) % {"code": code}
        said = gettext(N_("Warning %(code)s (%(colour)s, %(form)s) was withdrawn by %(name)s.")) % {
            "code": code,
            "colour": gettext(WarningColour(warning.colour).label),
            "form": gettext(WarningForm(warning.form).label),
            "name": actor_name,
        }
        closing = gettext(N_("Nothing more is asked of you on this warning."))

        def withdrawn(text: str) -> str:
            return f"{said} " + gettext("Reason: %(reason)s") % {"reason": text}

        view = NoticeView(
            title=title,
            paragraphs=(said, gettext("Reason: %(reason)s") % {"reason": reason}),
            sms=sms(title, withdrawn),
            closing=closing,
            mark="↩️",
            colour_hex=colour_hex,
        )
    elif event is NoticeEvent.CORRECTION_SUBMITTED and context.rectification is not None:
        report = context.rectification
        author = person or actor
        files = int(notice.data.get("files", len(report.evidence)))
        title = gettext(N_("Correction reported on %(code)s by %(name)s")) % {
            "code": code,
            "name": author.name if author else "",
        }
        description = " ".join(report.description.split())
        head = gettext(
            "%(name)s (%(staff_id)s) reported a correction on %(code)s "
            "with %(files)s file(s):\n%(description)s"
        )
        values = {
            "name": author.name if author else "",
            "staff_id": author.staff_id if author else "",
            "code": code,
            "files": files,
        }
        how = gettext(
            N_("Review it in chat (/review) or with: riskprompt review %(id)s --as STAFF_ID")
        ) % {"id": report.id}

        def submitted(width: int | None) -> str:
            text = description if width is None else shorten(description, width)
            return f"[{title}] " + (head % {**values, "description": text}).replace("\n", " ")

        view = NoticeView(
            title=title,
            paragraphs=(head % {**values, "description": shorten(description, 1000)},),
            sms=submitted,
            closing=how,
            mark="📝",
            colour_hex=colour_hex,
        )
        buttons = (Button(gettext("Review it"), codes.callback(codes.REVIEW_ONE, report.id or 0)),)
    elif event is NoticeEvent.CORRECTION_ACCEPTED:
        title = gettext(N_("Correction on %(code)s accepted")) % {"code": code}
        if notice.role is NoticeRole.ADDRESSEE:
            said = gettext(
                "Your correction on %(code)s was accepted by %(name)s. The warning is closed."
            ) % {"code": code, "name": actor_name}
        else:
            said = gettext(
                N_(
                    "The correction of %(person)s on %(code)s was accepted by %(name)s. "
                    "The warning is closed."
                )
            ) % {
                "person": f"{person.name} ({person.staff_id})" if person else "",
                "code": code,
                "name": actor_name,
            }
        view = NoticeView(
            title=title,
            paragraphs=(said,),
            sms=lambda _width: f"[{title}] {said}",
            mark="✅",
            colour_hex=colour_hex,
        )
    elif event is NoticeEvent.CORRECTION_REJECTED:
        title = gettext(N_("Correction on %(code)s rejected")) % {"code": code}
        deadline = _deadline(notice.data.get("deadline"), reader, settings, locale, "medium")
        short = _deadline(notice.data.get("deadline"), reader, settings, locale, "short")
        template = gettext(
            "Your correction on %(code)s was rejected by %(name)s: %(reason)s\n"
            "Please correct it and report again by %(deadline)s."
        )
        values = {"code": code, "name": actor_name}
        # The SMS says it in one short sentence (no title): the reason is what must fit.
        sms_template = gettext(
            N_(
                "%(code)s: correction rejected by %(name)s: %(reason)s. "
                "Report again by %(deadline)s."
            )
        )

        def rejected(width: int | None) -> str:
            text = reason if width is None else shorten(reason, width)
            # the sentence ends after the reason: its own full stop would be doubled
            text = text.rstrip("。．.！!；;")
            return sms_template % {**values, "reason": text, "deadline": short}

        view = NoticeView(
            title=title,
            paragraphs=tuple(
                (template % {**values, "reason": reason, "deadline": deadline}).split("\n")
            ),
            sms=rejected,
            link_label=gettext(N_("Open the warning to report the correction again")),
            mark="❌",
            colour_hex=colour_hex,
        )
        if warning is not None:
            buttons = (
                Button(
                    gettext("Report a correction on %(code)s") % {"code": code},
                    codes.callback(codes.REPORT_CORRECTION, warning.id or 0),
                ),
            )
    elif event is NoticeEvent.PROMPT_CANCELLED and context.prompt is not None:
        prompt = context.prompt
        prompt_code = codes.prompt_code(prompt.id)
        title = gettext(N_("Risk prompt %(code)s withdrawn")) % {"code": prompt_code}
        template = gettext(N_("Risk prompt %(code)s (%(title)s) is withdrawn: %(reason)s"))
        closing = gettext(N_("Nothing more is asked of you on this prompt."))
        name = " ".join(prompt.title_in(locale).split())

        def cancelled(width: int | None) -> str:
            shown = reason if width is None else shorten(reason, width)
            short_title = name if width is None else shorten(name, max(8, width))
            return f"[{title}] " + template % {
                "code": prompt_code,
                "title": short_title,
                "reason": shown,
            }

        view = NoticeView(
            title=title,
            paragraphs=(template % {"code": prompt_code, "title": name, "reason": reason},),
            sms=cancelled,
            closing=closing,
            mark="↩️",
        )
        return view, ()
    else:  # pragma: no cover - every event is handled above
        raise ValueError(f"notice {notice.id}: cannot render {event.value} for its rows")
    return view, buttons


__all__ = [
    "BATCH_SIZE",
    "STATE_BOUND",
    "expand_all",
    "expand_notices",
    "notice_fallback",
    "render_notice",
]
