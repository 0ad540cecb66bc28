"""Cancelling prompts (撤回提示): what an officer sent by mistake, taken back.

:func:`cancel_prompts` cancels every prompt not yet acknowledged of a period's
monthly cycle (for one person, a unit with its subtree, or everyone) or of one
special prompt, within the officer's supervision scope: the prompts become
``cancelled`` (no more reminders), their pending deliveries are cancelled, one
audit record lists the prompts, and each person who had already been sent one is
told (a ``PROMPT_CANCELLED`` notice, with the reason).  A special prompt still
waiting for its time is stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from riskprompt.config.i18n import N_
from riskprompt.models.audit import record
from riskprompt.models.clock import Clock
from riskprompt.models.errors import InvalidInput, NotFound, PermissionDenied
from riskprompt.models.notices import NoticeEvent, NoticeRole, Reader, tell
from riskprompt.models.people import Person, require_officer
from riskprompt.models.periods import parse_period
from riskprompt.models.prompts import (
    Broadcast,
    BroadcastStatus,
    Delivery,
    DeliveryStatus,
    Prompt,
    PromptKind,
    PromptStatus,
)
from riskprompt.models.queries import get_person, is_row_id, resolve_unit
from riskprompt.models.scope import require_in_scope, scope_unit_ids, sub_units
from riskprompt.models.text import check_storable

#: Prompts per statement (well under SQLite's parameter limit).
_CHUNK = 500
#: Deliveries that reached (or are reaching) the person: they are told of the cancellation.
_DELIVERED = (DeliveryStatus.SENT, DeliveryStatus.SENDING)


@dataclass(frozen=True, slots=True)
class Cancellation:
    """What :func:`cancel_prompts` cancelled (or, in a dry run, would cancel).

    Attributes:
        prompt_ids: the prompts cancelled, ascending.
        people: how many people those prompts were for.
        deliveries: pending deliveries cancelled (not sent).
        told: people told (they had already been sent one of the prompts).
        broadcast_id: the special prompt named, if one was.
        broadcast_stopped: that special prompt was still waiting and will not be sent.
        dry_run: nothing was changed.
    """

    prompt_ids: list[int] = field(default_factory=list)
    people: int = 0
    deliveries: int = 0
    told: int = 0
    broadcast_id: int | None = None
    broadcast_stopped: bool = False
    dry_run: bool = False

    @property
    def prompts(self) -> int:
        """How many prompts."""
        return len(self.prompt_ids)


def parse_special_ref(text: str) -> int:
    """The broadcast id in ``B12``, ``b 12`` or ``12``.

    Raises:
        InvalidInput: anything else.
    """
    compact = text.strip().replace(" ", "").upper().removeprefix("B")
    if not is_row_id(compact):
        raise InvalidInput(
            N_("not a special prompt %(value)r: give its number, e.g. B12"), value=text
        )
    return int(compact)


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    return [list(ids[start : start + _CHUNK]) for start in range(0, len(ids), _CHUNK)]


def cancel_prompts(
    session: Session,
    *,
    actor: Person,
    reason: str,
    clock: Clock,
    period: str | None = None,
    special: str | int | None = None,
    person: str | None = None,
    unit: str | None = None,
    dry_run: bool = False,
) -> Cancellation:
    """Cancel the prompts not yet acknowledged of a period or of a special prompt.

    Give either ``period`` (its monthly prompts) or ``special`` (the prompts of
    that special prompt), and at most one of ``person`` and ``unit`` to narrow
    it; without them, everyone in the officer's scope.  Acknowledged prompts are
    left as they are; prompts of people outside the officer's scope are never
    touched.  The caller commits.

    Args:
        session: the open session.
        actor: the officer cancelling.
        reason: why (told to those who had received the prompt; required).
        clock: the clock.
        period: a period ``YYYY-MM``: its monthly prompts.
        special: a special prompt, ``B12`` or its broadcast id.
        person: narrow to one person (staff id).
        unit: narrow to a unit (id or name) and its sub-units.
        dry_run: count only; change nothing.

    Returns:
        What was (or would be) cancelled.

    Raises:
        PermissionDenied: the actor is not an officer; the person or unit is
            outside their scope; a scheduled special prompt of another officer
            that reaches beyond their scope.
        InvalidInput: neither or both of period and special, both person and
            unit, a malformed period or reference, an empty reason.
        NotFound: no such special prompt, person or unit.
    """
    require_officer(actor)
    if (period is None) == (special is None):
        raise InvalidInput(N_("give either a period or a special prompt to cancel"))
    if person is not None and unit is not None:
        raise InvalidInput(N_("give either a person or a unit, not both"))
    text = check_storable(reason.strip(), N_("the reason"))
    if not text:
        raise InvalidInput(N_("a reason is required"))
    scope = scope_unit_ids(session, officer=actor)
    conditions: list[Any] = [col(Prompt.status) == PromptStatus.OPEN]
    selection: dict[str, Any] = {}
    broadcast: Broadcast | None = None
    if special is not None:
        broadcast_id = special if isinstance(special, int) else parse_special_ref(special)
        broadcast = session.get(Broadcast, broadcast_id)
        if broadcast is None:
            raise NotFound(N_("no special prompt B%(id)s"), id=broadcast_id)
        conditions.append(col(Prompt.broadcast_id) == broadcast.id)
        selection["special"] = broadcast.id
    else:
        chosen = parse_period(period or "")
        conditions += [col(Prompt.period) == chosen, col(Prompt.kind) == PromptKind.MONTHLY]
        selection["period"] = chosen
    if person is not None:
        reader = get_person(session, staff_id=person)
        require_in_scope(session, officer=actor, person=reader)
        conditions.append(col(Prompt.person_id) == reader.id)
        selection["person"] = reader.staff_id
    elif unit is not None:
        found = resolve_unit(session, ref=unit)
        units = sub_units(session, [found.id or 0])
        if scope is not None and not units <= scope:
            raise PermissionDenied(
                N_("%(target)s is outside your supervision scope"),
                target=found.name,
            )
        conditions.append(col(Person.unit_id).in_(units))
        selection["unit"] = found.id
    if scope is not None and person is None:
        conditions.append(col(Person.unit_id).in_(scope))
    stop = broadcast is not None and broadcast.status == BroadcastStatus.SCHEDULED.value
    if stop and broadcast is not None and scope is not None and broadcast.issued_by_id != actor.id:
        # its readers are decided when it falls due, by its issuer's scope
        raise PermissionDenied(
            N_(
                "special prompt B%(id)s was issued by another officer and may reach beyond your "
                "supervision scope"
            ),
            id=broadcast.id,
        )
    rows = session.exec(
        select(Prompt.id, Prompt.person_id)
        .join(Person, col(Person.id) == Prompt.person_id)
        .where(*conditions)
        .order_by(col(Prompt.id))
    ).all()
    ids = [prompt_id for prompt_id, _person_id in rows if prompt_id is not None]
    if dry_run:
        return _count(session, rows, broadcast, stop)
    if not ids and not stop:
        return Cancellation(broadcast_id=broadcast.id if broadcast else None)
    now = clock.now()
    if stop and broadcast is not None:
        broadcast.status = BroadcastStatus.CANCELLED.value
        session.add(broadcast)
    cancelled: list[int] = []
    deliveries = 0
    for chunk in _chunks(ids):
        # Guarded: a prompt acknowledged since it was read stays acknowledged.
        cancelled += (
            session.exec(
                update(Prompt)
                .where(col(Prompt.id).in_(chunk), col(Prompt.status) == PromptStatus.OPEN)
                .values(status=PromptStatus.CANCELLED, remind_at=None)
                .returning(col(Prompt.id))
                .execution_options(synchronize_session=False)
            )
            .scalars()
            .all()
        )
    cancelled.sort()
    done = set(cancelled)
    for chunk in _chunks(cancelled):
        deliveries += session.exec(
            update(Delivery)
            .where(
                col(Delivery.prompt_id).in_(chunk), col(Delivery.status) == DeliveryStatus.PENDING
            )
            .values(status=DeliveryStatus.CANCELLED)
            .execution_options(synchronize_session=False)
        ).rowcount
    # The updates went around the session: what it holds of those rows is stale.
    session.flush()
    session.expire_all()
    reached = _delivered(session, cancelled)
    people = {person_id for prompt_id, person_id in rows if prompt_id in done}
    readers = {
        p.id: p
        for chunk in _chunks(sorted({person_id for _prompt, person_id in reached}))
        for p in session.exec(select(Person).where(col(Person.id).in_(chunk))).all()
    }
    told: set[int] = set()
    for prompt_id, person_id in reached:
        reader = readers.get(person_id)
        if reader is None:
            continue
        if tell(
            session,
            event=NoticeEvent.PROMPT_CANCELLED,
            readers=[Reader(reader, NoticeRole.ADDRESSEE)],
            at=now,
            actor=actor,
            prompt_id=prompt_id,
            data={"reason": text},
        ):
            told.add(person_id)
    outcome = Cancellation(
        prompt_ids=cancelled,
        people=len(people),
        deliveries=deliveries,
        told=len(told),
        broadcast_id=broadcast.id if broadcast else None,
        broadcast_stopped=stop,
    )
    record(
        session,
        at=now,
        actor_id=actor.id,
        action="prompts.cancelled",
        subject_type="broadcast" if broadcast is not None else "period",
        subject_id=broadcast.id if broadcast is not None else None,
        data={
            **selection,
            "reason": text,
            "prompt_ids": cancelled,
            "deliveries_cancelled": deliveries,
            "told": len(told),
            "broadcast_stopped": stop,
        },
    )
    return outcome


def _delivered(session: Session, prompt_ids: Sequence[int]) -> list[tuple[int, int]]:
    """(prompt, person) pairs of these prompts with a delivery sent (or being sent)."""
    pairs: set[tuple[int, int]] = set()
    for chunk in _chunks(prompt_ids):
        pairs.update(
            (prompt_id, person_id)
            for prompt_id, person_id in session.exec(
                select(Delivery.prompt_id, Delivery.person_id).where(
                    col(Delivery.prompt_id).in_(chunk), col(Delivery.status).in_(_DELIVERED)
                )
            ).all()
            if prompt_id is not None
        )
    return sorted(pairs)


def _count(
    session: Session,
    rows: Sequence[tuple[int | None, int]],
    broadcast: Broadcast | None,
    stop: bool,
) -> Cancellation:
    """What cancelling ``rows`` would do."""
    ids = [prompt_id for prompt_id, _person in rows if prompt_id is not None]
    pending = 0
    for chunk in _chunks(ids):
        pending += len(
            session.exec(
                select(Delivery.id).where(
                    col(Delivery.prompt_id).in_(chunk),
                    col(Delivery.status) == DeliveryStatus.PENDING,
                )
            ).all()
        )
    return Cancellation(
        prompt_ids=ids,
        people=len({person_id for _prompt, person_id in rows}),
        deliveries=pending,
        told=len({person_id for _prompt, person_id in _delivered(session, ids)}),
        broadcast_id=broadcast.id if broadcast else None,
        broadcast_stopped=stop,
        dry_run=True,
    )


__all__ = ["Cancellation", "cancel_prompts", "parse_special_ref"]
