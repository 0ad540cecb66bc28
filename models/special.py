"""Special prompts (特别提示): the rule that issues one.

An officer's text to a target (:mod:`riskprompt.models.targets`), now or at a
given time.  :func:`issue_special_prompt` checks the officer, the text, the
target and the officer's supervision scope, and writes the :class:`Broadcast`
with its audit record; ``notifications/planning.py`` expands it into one prompt
per person when it falls due, narrowed to the issuer's scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from riskprompt.config.i18n import N_
from riskprompt.models.audit import record
from riskprompt.models.clock import Clock
from riskprompt.models.errors import InvalidInput
from riskprompt.models.people import Person, require_officer
from riskprompt.models.prompts import Broadcast, BroadcastStatus
from riskprompt.models.targets import Target, check_target, parse_target
from riskprompt.models.text import check_storable

#: A time this little in the past still means "now": times are typed to the minute.
PAST_GRACE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class SpecialPromptPlan:
    """A special prompt checked and ready to issue (what a dry run shows).

    Attributes:
        target: the target, in canonical form (a unit by its id).
        text: the text, stripped.
        due_at: when it is sent (now, or the time asked for).
        requires_ack: whether the readers must acknowledge.
        forced: a time in the past was given and forced to mean now.
    """

    target: Target
    text: str
    due_at: datetime
    requires_ack: bool
    forced: bool = False


def plan_special_prompt(
    session: Session,
    *,
    actor: Person,
    target: str | Target,
    text: str,
    at: datetime | None = None,
    requires_ack: bool = True,
    clock: Clock,
    force: bool = False,
) -> SpecialPromptPlan:
    """Check a special prompt without writing anything (see :func:`issue_special_prompt`).

    Raises:
        PermissionDenied: the actor is not an officer, or the target is outside
            their supervision scope.
        InvalidInput: a malformed target, an empty text, a naive ``at``, an ``at``
            in the past without ``force``, a person who left.
        NotFound: the target's person, post or unit does not exist.
    """
    require_officer(actor)
    parsed = check_target(
        session, parse_target(target) if isinstance(target, str) else target, officer=actor
    )
    body = check_storable(text.strip(), N_("the text of the special prompt"))
    if not body:
        raise InvalidInput(N_("the text of the special prompt is empty"))
    if at is not None and at.tzinfo is None:
        raise InvalidInput(N_("the sending time needs a time zone"))
    now = clock.now()
    past = at is not None and at < now - PAST_GRACE
    if at is not None and past and not force:
        raise InvalidInput(
            N_(
                "the sending time %(when)s is in the past: give a time to come, "
                "or force it (--force) to send now"
            ),
            when=at.isoformat(sep=" ", timespec="minutes"),
        )
    due = at if at is not None and at > now else now
    return SpecialPromptPlan(parsed, body, due, requires_ack, forced=past)


def issue_special_prompt(
    session: Session,
    *,
    actor: Person,
    target: str | Target,
    text: str,
    at: datetime | None = None,
    requires_ack: bool = True,
    clock: Clock,
    force: bool = False,
) -> Broadcast:
    """Issue a special prompt (特别提示) to a target, now or at ``at``.

    An officer whose supervision scope is limited reaches only people in it:
    ``all`` and ``level:`` are narrowed to the scope when the prompt is expanded,
    and a ``person:``, ``post:`` or ``unit:`` outside it is refused, naming it.
    The broadcast is written ``scheduled`` with its ``due_at`` (now when ``at`` is
    None) and a ``special.issued`` audit record; it becomes prompts when
    ``notifications/planning.py`` expands it (at once, for one due now, through
    :func:`riskprompt.notifications.planning.issue_and_expand`).  The caller commits.

    Args:
        session: the open session.
        actor: the issuing officer.
        target: ``person:STAFF_ID``, ``post:ID``, ``unit:ID``, ``unit:ID+``,
            ``level:high|medium|low`` or ``all``.
        text: what the officer says.
        at: when to send it (aware); None: now.
        requires_ack: whether the readers must acknowledge (已阅).
        clock: the clock.
        force: a time in the past means now instead of being refused.

    Returns:
        The broadcast (flushed, status ``scheduled``).

    Raises:
        PermissionDenied: the actor is not an officer, or the target is outside
            their supervision scope.
        InvalidInput: a malformed target, an empty text, a naive ``at``, an ``at``
            in the past without ``force``, a person who left.
        NotFound: the target's person, post or unit does not exist.
    """
    plan = plan_special_prompt(
        session,
        actor=actor,
        target=target,
        text=text,
        at=at,
        requires_ack=requires_ack,
        clock=clock,
        force=force,
    )
    now = clock.now()
    broadcast = Broadcast(
        issued_by_id=actor.id or 0,
        target=str(plan.target),
        text=plan.text,
        requires_ack=plan.requires_ack,
        status=BroadcastStatus.SCHEDULED.value,
        due_at=plan.due_at,
        created_at=now,
    )
    session.add(broadcast)
    session.flush()
    data: dict[str, object] = {
        "target": broadcast.target,
        "due_at": plan.due_at,
        "requires_ack": plan.requires_ack,
        "text": plan.text,
    }
    if plan.forced:
        data["forced_from"] = at
    record(
        session,
        at=now,
        actor_id=actor.id,
        action="special.issued",
        subject_type="broadcast",
        subject_id=broadcast.id,
        data=data,
    )
    return broadcast


__all__ = ["PAST_GRACE", "SpecialPromptPlan", "issue_special_prompt", "plan_special_prompt"]
