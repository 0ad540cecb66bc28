"""Special prompts to a list of people at once (the console's composer).

``riskprompt remind --to`` takes one target; the console's composer also takes
several people at once (``person:CW001,person:CW002``, as the not-acknowledged
page hands them over).  Each target is one special prompt, issued through the
same rule and expansion as the CLI's (:func:`~riskprompt.notifications.planning.issue_and_expand`),
and the dry run is the CLI's (:func:`~riskprompt.notifications.planning.preview_special_prompt`)
for each: nothing is checked or written twice, and the audit records and messages
are those of as many ``riskprompt remind`` runs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from riskprompt.config.i18n import N_
from riskprompt.config.settings import Settings
from riskprompt.models.clock import Clock
from riskprompt.models.errors import InvalidInput
from riskprompt.models.people import Person
from riskprompt.models.prompts import Broadcast
from riskprompt.models.targets import Target, TargetKind, parse_target
from riskprompt.notifications.planning import (
    Reach,
    ReachRow,
    issue_and_expand,
    preview_special_prompt,
)

#: The most people one composed special prompt names one by one.
MAX_TARGETS = 500
_SEPARATORS = re.compile(r"[,，;；、\s]+")


def read_targets(text: str) -> list[Target]:
    """The targets of ``text``: one target of any kind, or several people.

    ``person:CW001,person:CW002`` (also separated by ，；、 or spaces) names several
    people, each once; a post, a unit, a risk level or everyone is given alone.

    Raises:
        InvalidInput: no target, a malformed one, several that are not all people,
            or more than :data:`MAX_TARGETS`.
    """
    parts = [part for part in _SEPARATORS.split(text.strip()) if part]
    if not parts:
        raise InvalidInput(N_("give a target: a person, a post, a unit, a risk level or everyone"))
    targets: list[Target] = []
    for part in parts:
        target = parse_target(part)
        if target not in targets:
            targets.append(target)
    if len(targets) > 1 and any(t.kind is not TargetKind.PERSON for t in targets):
        raise InvalidInput(
            N_(
                "several targets must all be people (person:STAFF_ID); give a post, a unit, "
                "a risk level or everyone alone"
            )
        )
    if len(targets) > MAX_TARGETS:
        raise InvalidInput(
            N_("at most %(max)s people can be named at once: %(n)s were given"),
            max=MAX_TARGETS,
            n=len(targets),
        )
    return targets


def preview_special_prompts(
    session: Session,
    *,
    actor: Person,
    targets: Sequence[str | Target],
    text: str,
    at: datetime | None = None,
    requires_ack: bool = True,
    clock: Clock,
    settings: Settings,
) -> Reach:
    """Whom the special prompts to ``targets`` would reach, on which channel; writes nothing.

    Each target is checked and previewed as ``riskprompt remind --dry-run`` does
    (:func:`~riskprompt.notifications.planning.preview_special_prompt`); the rows
    are those of every target, by staff ID.

    Raises:
        The rule's errors for the first target refused (PermissionDenied,
        InvalidInput, NotFound): see :func:`riskprompt.models.special.plan_special_prompt`.
    """
    rows: list[ReachRow] = []
    due: datetime | None = None
    for target in targets:
        reach = preview_special_prompt(
            session,
            actor=actor,
            target=target,
            text=text,
            at=at,
            requires_ack=requires_ack,
            clock=clock,
            settings=settings,
        )
        rows.extend(reach.rows)
        due = reach.due_at
    return Reach(rows=sorted(rows, key=lambda row: row.staff_id), due_at=due)


def issue_special_prompts(
    session: Session,
    *,
    actor: Person,
    targets: Sequence[str | Target],
    text: str,
    at: datetime | None = None,
    requires_ack: bool = True,
    clock: Clock,
    settings: Settings,
) -> list[Broadcast]:
    """Issue one special prompt per target, as ``riskprompt remind`` does for each.

    All or nothing: a target refused raises, and the caller's transaction, rolled
    back, keeps none of them.  The caller commits.

    Raises:
        The rule's errors (PermissionDenied, InvalidInput, NotFound).
    """
    return [
        issue_and_expand(
            session,
            actor=actor,
            target=target,
            text=text,
            at=at,
            requires_ack=requires_ack,
            clock=clock,
            settings=settings,
        )
        for target in targets
    ]


__all__ = ["MAX_TARGETS", "issue_special_prompts", "preview_special_prompts", "read_targets"]
