"""The one acknowledgement (已阅) entry point for prompts and warnings, from every surface.

A Telegram button, an SMS or chat reply (``1``, ``P12``, ``W7``), the page behind
a link and the CLI all call :func:`acknowledge`: it finds the prompt or warning,
checks that it is the actor's (someone else's answers exactly as a missing one,
so that a code does not tell whether it exists), calls the rule
(:func:`~riskprompt.models.prompts.acknowledge_prompt` or
:func:`~riskprompt.models.warnings.acknowledge_warning`) and returns what the
surfaces print.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlmodel import Session, col, select

from riskprompt.config.i18n import N_
from riskprompt.models.catalog import RiskPoint, Unit
from riskprompt.models.clock import Clock
from riskprompt.models.codes import Code, CodeKind
from riskprompt.models.errors import NotFound
from riskprompt.models.people import Person
from riskprompt.models.prompts import Prompt, acknowledge_prompt
from riskprompt.models.warnings import Rectification, Warning, acknowledge_warning

#: What may be acknowledged: a parsed code, or ``("prompt" | "warning", id)``.
Target = Code | tuple[Literal["prompt", "warning"], int]

_KINDS = {"prompt": CodeKind.PROMPT, "warning": CodeKind.WARNING}


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """What an acknowledgement did, for the surface to say.

    Attributes:
        code: the thing acknowledged (``P12`` or ``W7``).
        newly: True when this call recorded it, False when it was acknowledged before.
        at: when it was acknowledged (now, or the earlier time).
        prompt: the prompt, when a prompt was acknowledged.
        warning: the warning, when a warning was acknowledged.
    """

    code: Code
    newly: bool
    at: datetime | None
    prompt: Prompt | None = None
    warning: Warning | None = None

    def title_in(self, locale: str) -> str:
        """The prompt's title in ``locale``; a warning's code (surfaces name warnings in
        their own words)."""
        return self.prompt.title_in(locale) if self.prompt is not None else str(self.code)


def _code_of(target: Target) -> Code:
    if isinstance(target, Code):
        return target
    kind, id = target
    return Code(_KINDS[kind], int(id))


def not_found(code: Code) -> NotFound:
    """The refusal for a code that names nothing of the actor's (missing or someone else's)."""
    if code.kind is CodeKind.WARNING:
        return NotFound(N_("No warning of yours has the number W%(id)s."), id=code.id)
    if code.kind is CodeKind.PROMPT:
        return NotFound(N_("No prompt of yours has the number P%(id)s."), id=code.id)
    return NotFound(N_("There is nothing to acknowledge with the code %(code)s."), code=str(code))


def acknowledge(
    session: Session, *, actor: Person, target: Target, via: str, clock: Clock
) -> Acknowledged:
    """``actor`` acknowledges the prompt or warning ``target`` names (已阅).

    Idempotent: a second acknowledgement changes nothing and says when the first was.

    Args:
        session: the open session; the caller commits.
        actor: who acknowledges (only the addressee may).
        target: a :class:`~riskprompt.models.codes.Code` (``P12``, ``W7``) or
            ``("prompt" | "warning", id)``.
        via: the surface (``telegram``, ``sms``, ``email``, ``web``, ``cli``, ``api``).
        clock: the clock.

    Returns:
        What was acknowledged, whether by this call, and when.

    Raises:
        NotFound: nothing of the actor's has that code (missing, or someone else's).
        IllegalTransition: the prompt was cancelled or the warning withdrawn.
    """
    code = _code_of(target)
    if code.kind is CodeKind.PROMPT:
        prompt = session.get(Prompt, code.id)
        if prompt is None or prompt.person_id != actor.id:
            raise not_found(code)
        newly = acknowledge_prompt(session, prompt=prompt, actor=actor, clock=clock, via=via)
        return Acknowledged(code, newly, prompt.acknowledged_at, prompt=prompt)
    if code.kind is CodeKind.WARNING:
        warning = session.get(Warning, code.id)
        if warning is None or warning.person_id != actor.id:
            raise not_found(code)
        newly = acknowledge_warning(session, warning=warning, actor=actor, clock=clock, via=via)
        return Acknowledged(code, newly, warning.acknowledged_at, warning=warning)
    raise not_found(code)


@dataclass(frozen=True, slots=True)
class Linked:
    """What the page behind a link shows: the addressee and the prompt or warning, in full.

    Attributes:
        person: the addressee the link was made for.
        prompt: the prompt, for a prompt's link.
        warning: the warning, for a warning's link.
        issuer: the officer who issued the warning.
        issuer_unit: the issuer's unit.
        risk_point: the risk point the warning is about, if any.
        rectification: the latest correction reported on the warning, if any.
    """

    person: Person
    prompt: Prompt | None = None
    warning: Warning | None = None
    issuer: Person | None = None
    issuer_unit: Unit | None = None
    risk_point: RiskPoint | None = None
    rectification: Rectification | None = None


def load_linked(session: Session, *, target: Target, person_id: int) -> Linked:
    """The prompt or warning a link names, for the person it was made for.

    Raises:
        NotFound: the person, or the prompt or warning, is gone, or it is someone else's.
    """
    code = _code_of(target)
    person = session.get(Person, person_id)
    if person is None:
        raise not_found(code)
    if code.kind is CodeKind.PROMPT:
        prompt = session.get(Prompt, code.id)
        if prompt is None or prompt.person_id != person.id:
            raise not_found(code)
        return Linked(person=person, prompt=prompt)
    warning = session.get(Warning, code.id) if code.kind is CodeKind.WARNING else None
    if warning is None or warning.person_id != person.id:
        raise not_found(code)
    issuer = session.get(Person, warning.issued_by_id)
    unit = session.get(Unit, issuer.unit_id) if issuer is not None and issuer.unit_id else None
    point = session.get(RiskPoint, warning.risk_point_id) if warning.risk_point_id else None
    latest = session.exec(
        select(Rectification)
        .where(col(Rectification.warning_id) == warning.id)
        .order_by(col(Rectification.submitted_at).desc(), col(Rectification.id).desc())
        .limit(1)
    ).first()
    return Linked(
        person=person,
        warning=warning,
        issuer=issuer,
        issuer_unit=unit,
        risk_point=point,
        rectification=latest,
    )


__all__ = ["Acknowledged", "Linked", "Target", "acknowledge", "load_linked", "not_found"]
