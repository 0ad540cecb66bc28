"""Reading the audit log: who may, the records that match a filter, and their export.

**Who reads it: administrators only.**  The audit log is the office's one record of
who did what: sign-ins and failed sign-ins, imports, API tokens, the monthly cycle,
every officer's warnings and reviews, every delivery.  Many records belong to no unit
(a cycle run, an import, a special prompt to several units), and checking the chain is
a property of the whole log (its count, the id of a broken record), so it cannot be
cut to an officer's supervision scope without either leaking other units' records or
hiding breaks.  The CLI (``riskprompt audit verify``/``export``) is the operator's and
reads the whole log; in the console the same is an administrator's (the office's
auditor: officers are among those the log watches).  Officers read a warning's own
history where they handle it (:func:`~riskprompt.models.listings.warning_history`).

The records are filtered by person (who did it, or whom it concerns: the person, their
prompts, warnings and deliveries), by action and by a span of days, newest first.  The
export writes the records that match in id order with their hashes, in the very format
of ``riskprompt audit export`` (:func:`export_csv_lines`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, or_
from sqlmodel import Session, col, select

from riskprompt.config.i18n import N_, format_number, translator
from riskprompt.config.settings import Settings
from riskprompt.models.audit import (
    EXPORT_FIELDS,
    AuditEvent,
    ChainProblem,
    ChainReport,
    verify_chain,
)
from riskprompt.models.codes import prompt_code, warning_code
from riskprompt.models.errors import InvalidInput, PermissionDenied
from riskprompt.models.listings import HISTORY_LABELS, Page
from riskprompt.models.people import Person, Role
from riskprompt.models.prompts import Delivery, Prompt
from riskprompt.models.types import dump
from riskprompt.models.warnings import Warning

#: Records per page of the console's audit log.
PER_PAGE = 50
#: Records read per query by the export and the verification.
BATCH_SIZE = 5000
#: About how many records the verification checks a second (README: ~32,000/s).
VERIFY_RATE = 30_000

#: What each action is called (the rest are shown by their code).
ACTION_LABELS: dict[str, str] = {
    **HISTORY_LABELS,
    "warning.reminder_skipped": N_("reminder skipped"),
    "prompt.acknowledged": N_("prompt acknowledged"),
    "prompt.reminded": N_("prompt reminder sent"),
    "prompt.unacknowledged_reported": N_("unacknowledged prompt reported"),
    "prompts.cancelled": N_("prompts cancelled"),
    "special.issued": N_("special prompt issued"),
    "special.expanded": N_("special prompt sent to its recipients"),
    "delivery.sent": N_("delivery sent"),
    "delivery.retry": N_("delivery to be retried"),
    "delivery.failed": N_("delivery failed"),
    "delivery.fallback": N_("fell back to the next channel"),
    "delivery.cancelled": N_("delivery cancelled"),
    "delivery.receipt": N_("delivery receipt"),
    "delivery.recovered": N_("delivery recovered"),
    "cycle.run": N_("monthly cycle run"),
    "focus.set": N_("key work set"),
    "catalog.imported": N_("catalogue imported"),
    "people.imported": N_("people imported"),
    "person.language": N_("language changed"),
    "person.sms_opt_out": N_("SMS turned off"),
    "person.sms_opt_in": N_("SMS turned on again"),
    "person.chat_paused": N_("chat paused"),
    "person.chat_resumed": N_("chat resumed"),
    "binding.invited": N_("chat binding invited"),
    "binding.bound": N_("chat account bound"),
    "binding.unbound": N_("chat account unbound"),
    "token.created": N_("API token created"),
    "token.revoked": N_("API token revoked"),
    "console.signed_in": N_("signed in to the console"),
    "console.signed_out": N_("signed out of the console"),
    "console.session_ended": N_("console session ended"),
    "console.sign_in_failed": N_("console sign-in failed"),
    "console.locked": N_("console sign-in locked"),
    "console.password_set": N_("console password set"),
    "console.totp_enrolled": N_("two-step verification set up"),
}

#: What each kind of subject is called.
SUBJECT_LABELS: dict[str, str] = {
    "person": N_("person"),
    "prompt": N_("prompt"),
    "warning": N_("warning"),
    "delivery": N_("delivery"),
    "broadcast": N_("special prompt"),
    "period": N_("period"),
    "cycle_run": N_("monthly cycle"),
    "focus_work": N_("key work"),
    "import": N_("import"),
}


def may_read_audit(person: Person) -> bool:
    """Whether ``person`` may read, verify and export the audit log (see the module)."""
    return person.active and person.role is Role.ADMIN


def require_audit_reader(person: Person) -> None:
    """Refuse anyone but an administrator.

    Raises:
        PermissionDenied: ``person`` is not an active administrator.
    """
    if not may_read_audit(person):
        raise PermissionDenied(
            N_(
                "The audit log is read by administrators: it records the whole office, "
                "beyond any officer's supervision scope."
            )
        )


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which records to show: by person, action and span (``[start, end)``); None: any."""

    person_id: int | None = None
    action: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def day_span(
    first: date | None, last: date | None, settings: Settings
) -> tuple[datetime | None, datetime | None]:
    """From the start of day ``first`` to the end of day ``last`` in the configured zone.

    Either may be None (no bound), as ``riskprompt audit export --from/--to`` reads them.

    Raises:
        InvalidInput: ``last`` is before ``first``.
    """
    if first is not None and last is not None and last < first:
        raise InvalidInput(
            N_("the last day %(end)s is before the first day %(start)s"), start=first, end=last
        )
    zone = settings.zone
    start = datetime.combine(first, time(), tzinfo=zone) if first is not None else None
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=zone) if last else None
    return start, end


def _conditions(filters: AuditFilter) -> list[Any]:
    conditions: list[Any] = []
    if filters.action is not None:
        conditions.append(col(AuditEvent.action) == filters.action)
    if filters.start is not None:
        conditions.append(col(AuditEvent.at) >= filters.start)
    if filters.end is not None:
        conditions.append(col(AuditEvent.at) < filters.end)
    if filters.person_id is not None:
        pid = filters.person_id
        about = [
            and_(col(AuditEvent.subject_type) == "person", col(AuditEvent.subject_id) == pid),
            and_(
                col(AuditEvent.subject_type) == "prompt",
                col(AuditEvent.subject_id).in_(select(Prompt.id).where(Prompt.person_id == pid)),
            ),
            and_(
                col(AuditEvent.subject_type) == "warning",
                col(AuditEvent.subject_id).in_(select(Warning.id).where(Warning.person_id == pid)),
            ),
            and_(
                col(AuditEvent.subject_type) == "delivery",
                col(AuditEvent.subject_id).in_(
                    select(Delivery.id).where(Delivery.person_id == pid)
                ),
            ),
        ]
        conditions.append(or_(col(AuditEvent.actor_id) == pid, *about))
    return conditions


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One record as the log shows it.

    Attributes:
        event: the record.
        actor: who did it; None: the service (a reminder, a delivery, the cycle).
        subject_code: how its subject is printed (``W7``, ``P12``, ``#3``).
        concerns: the person the subject is about (the person, or the holder of the
            prompt, warning or delivery), when there is one.
    """

    event: AuditEvent
    actor: Person | None
    subject_code: str
    concerns: Person | None

    @property
    def label(self) -> str | None:
        """What the action is called (a msgid), or None: show its code."""
        return ACTION_LABELS.get(self.event.action)

    @property
    def subject_label(self) -> str | None:
        """What the kind of subject is called (a msgid), or None: show its code."""
        return SUBJECT_LABELS.get(self.event.subject_type)


def _subject_code(event: AuditEvent) -> str:
    if event.subject_id is None:
        return ""
    if event.subject_type == "prompt":
        return prompt_code(event.subject_id)
    if event.subject_type == "warning":
        return warning_code(event.subject_id)
    return f"#{event.subject_id}"


def _holders(session: Session, events: Iterable[AuditEvent]) -> dict[tuple[str, int], int]:
    """(subject type, id) → the id of the person it is about, for one page's records."""
    wanted: dict[str, set[int]] = {"prompt": set(), "warning": set(), "delivery": set()}
    found: dict[tuple[str, int], int] = {}
    for event in events:
        if event.subject_id is None:
            continue
        if event.subject_type == "person":
            found[("person", event.subject_id)] = event.subject_id
        elif event.subject_type in wanted:
            wanted[event.subject_type].add(event.subject_id)
    for kind, model in (("prompt", Prompt), ("warning", Warning), ("delivery", Delivery)):
        ids = sorted(wanted[kind])
        if not ids:
            continue
        pairs = session.exec(
            select(model.id, model.person_id).where(col(model.id).in_(ids))  # type: ignore[attr-defined]
        ).all()
        found.update(((kind, item_id), person_id) for item_id, person_id in pairs)
    return found


def page_audit(
    session: Session, *, filters: AuditFilter, page: int = 1, per_page: int = PER_PAGE
) -> Page[AuditRow]:
    """One page of the records that match ``filters``, newest first."""
    conditions = _conditions(filters)
    total = int(session.exec(select(func.count()).select_from(AuditEvent).where(*conditions)).one())
    offset = (max(page, 1) - 1) * per_page
    events = list(
        session.exec(
            select(AuditEvent)
            .where(*conditions)
            .order_by(col(AuditEvent.id).desc())
            .limit(per_page)
            .offset(offset)
        ).all()
    )
    holders = _holders(session, events)
    people_ids = {e.actor_id for e in events if e.actor_id is not None} | set(holders.values())
    people = {
        p.id: p
        for p in session.exec(select(Person).where(col(Person.id).in_(sorted(people_ids)))).all()
    }
    rows = []
    for event in events:
        holder = (
            holders.get((event.subject_type, event.subject_id))
            if event.subject_id is not None
            else None
        )
        rows.append(
            AuditRow(
                event=event,
                actor=people.get(event.actor_id) if event.actor_id is not None else None,
                subject_code=_subject_code(event),
                concerns=people.get(holder) if holder is not None else None,
            )
        )
    return Page(rows, total, per_page, offset)


def audit_actions(session: Session) -> list[str]:
    """The actions the log holds, in order (for the filter's choices)."""
    return sorted(session.exec(select(AuditEvent.action).distinct()).all())


def count_records(session: Session) -> int:
    """How many records the whole log holds."""
    return int(session.exec(select(func.count()).select_from(AuditEvent)).one())


def verify_log(engine: Engine, *, batch_size: int = BATCH_SIZE) -> ChainReport:
    """Check the whole chain (``riskprompt audit verify``) in a session of its own.

    It reads only, in batches, outside any request's transaction: a long chain does
    not hold up the writers.
    """
    with Session(engine) as session:
        return verify_chain(session, batch_size=batch_size)


def describe(report: ChainReport, locale: str) -> str:
    """The outcome of the check in the reader's language (the words of ``audit verify``)."""
    t = translator(locale)
    values = {
        "id": report.record_id,
        "other": report.other_id,
        "n": format_number(report.checked, locale),
    }
    if report.problem is None:
        return t.ngettext(
            "Audit log intact: %(n)s record checked.",
            "Audit log intact: %(n)s records checked.",
            report.checked,
        ) % {"n": values["n"]}
    if report.problem is ChainProblem.ALTERED:
        message = t.gettext(
            "Audit record #%(id)s was altered: its content does not match its hash."
        )
    elif report.problem is ChainProblem.REORDERED:
        message = t.gettext(
            "Audit record #%(id)s is out of order: it follows record #%(other)s, not the one "
            "before it."
        )
    elif report.problem is ChainProblem.REMOVED and report.other_id is None:
        message = t.gettext("An audit record was removed before #%(id)s, the first one left.")
    elif report.problem is ChainProblem.REMOVED:
        message = t.gettext("An audit record was removed between #%(other)s and #%(id)s.")
    elif report.other_id is None:
        message = t.gettext("Every audit record up to #%(id)s was removed.")
    else:
        message = t.gettext(
            "The audit records after #%(other)s were removed; the log went up to #%(id)s."
        )
    return (
        message % values
        + " "
        + t.ngettext(
            "%(n)s record before it is intact.",
            "%(n)s records before it are intact.",
            report.checked,
        )
        % {"n": values["n"]}
    )


def export_batch(
    session: Session, *, filters: AuditFilter, after: int = 0, batch_size: int = BATCH_SIZE
) -> list[dict[str, Any]]:
    """The next records that match ``filters`` after id ``after``, in id order, as exported.

    Each is a dict of :data:`~riskprompt.models.audit.EXPORT_FIELDS`, as
    :func:`~riskprompt.models.audit.iter_events` gives them: ``at`` in ISO 8601 (UTC),
    ``data`` a dict, with ``prev_hash`` and ``hash``.
    """
    events = session.exec(
        select(AuditEvent)
        .where(col(AuditEvent.id) > after, *_conditions(filters))
        .order_by(col(AuditEvent.id))
        .limit(batch_size)
    ).all()
    return [
        {name: dump(event.at) if name == "at" else getattr(event, name) for name in EXPORT_FIELDS}
        for event in events
    ]


def export_csv_lines(records: Iterable[dict[str, Any]], *, header: bool = True) -> Iterator[str]:
    """The records as CSV text, a line at a time, as ``riskprompt audit export FILE.csv``.

    The header row first (when ``header``), then a row per record with ``data`` as
    compact JSON (sorted keys, UTF-8 as is); lines end in CRLF.  The file itself
    starts with a BOM (the caller writes it), so that a spreadsheet reads the Chinese.
    """
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS)
    if header:
        writer.writeheader()
        yield _take(buffer)
    for record in records:
        writer.writerow(
            {
                **record,
                "data": json.dumps(
                    record["data"], ensure_ascii=False, sort_keys=True, separators=(",", ":")
                ),
            }
        )
        yield _take(buffer)


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


__all__ = [
    "ACTION_LABELS",
    "PER_PAGE",
    "SUBJECT_LABELS",
    "AuditFilter",
    "AuditRow",
    "audit_actions",
    "count_records",
    "day_span",
    "describe",
    "export_batch",
    "export_csv_lines",
    "may_read_audit",
    "page_audit",
    "require_audit_reader",
    "verify_log",
]
