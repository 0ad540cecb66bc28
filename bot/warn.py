"""``/warn``: an officer issues a warning (预警) in chat, guided step by step.

subject (a staff ID, or ``unit:ID`` for the unit's head) → colour → form →
reason → preview → issued.  The role is checked on every step; the rule, the scope
and who is told are :func:`riskprompt.models.warnings.issue_warning`'s, as from the
CLI and the API.
"""

from __future__ import annotations

from riskprompt.bot import state as flows
from riskprompt.bot.officers import acting_officer
from riskprompt.bot.people import CANCEL, COLOUR_MARKS, drop_flow, refuse_stale
from riskprompt.bot.turn import Turn, step
from riskprompt.config.i18n import N_
from riskprompt.models import codes
from riskprompt.models.errors import InvalidInput
from riskprompt.models.listings import get_warning
from riskprompt.models.people import Person
from riskprompt.models.scope import require_in_scope
from riskprompt.models.text import check_storable
from riskprompt.models.warnings import (
    MAX_TEXT,
    WarningColour,
    WarningForm,
    default_deadline,
    issue_warning,
    warning_subject,
    withdraw_warning,
)


def _subject(turn: Turn, text: str) -> Person:
    """The person a typed subject names: a staff ID, or ``unit:ID`` for its head."""
    ref = text.strip()
    if ref.lower().startswith("unit:"):
        return warning_subject(turn.session, unit_ref=ref[5:].strip())
    return warning_subject(turn.session, staff_id=ref)


@step
async def begin_warn(turn: Turn) -> None:
    """Start a warning: ask whom it is for."""
    acting_officer(turn)
    turn.require_private()
    drop_flow(turn)
    flows.begin(
        turn.session,
        turn.state,
        flow=flows.WARN,
        step=flows.SUBJECT,
        person_id=turn.actor.id,
        now=turn.now,
    )
    turn.say(
        turn._(
            "Whom is the warning for? Send a staff ID, or unit:ID for the head of a unit. "
            "Send /cancel to stop."
        )
    )


async def choose_subject(turn: Turn) -> None:
    """Take the person warned and ask for the colour."""
    officer = acting_officer(turn)
    person = _subject(turn, turn.text)
    if person.id == officer.id:
        raise InvalidInput(N_("Officers do not warn themselves; choose someone else."))
    require_in_scope(turn.session, officer=officer, person=person)  # refused before the colour
    flows.advance(turn.session, turn.state, step=flows.COLOUR, now=turn.now, person=person.id)
    turn.say(
        turn._(
            "Warning to %(name)s (%(staff_id)s). Which colour?",
            name=person.name,
            staff_id=person.staff_id,
        ),
        [
            [(f"{COLOUR_MARKS[c]} {turn._(c.label)}", f"{codes.WARN_COLOUR}{c.value}")]
            for c in WarningColour
        ],
    )


@step
async def choose_colour(turn: Turn) -> None:
    """Take the colour from its button and ask for the form."""
    if not flows.at(turn.state, flows.WARN, flows.COLOUR):
        refuse_stale(turn)
        return
    acting_officer(turn)
    try:
        colour = WarningColour(turn.data.removeprefix(codes.WARN_COLOUR))
    except ValueError:
        refuse_stale(turn)
        return
    turn.answer()
    flows.advance(turn.session, turn.state, step=flows.FORM, now=turn.now, colour=colour.value)
    turn.say(
        turn._("Which form?"),
        [[(turn._(f.label), f"{codes.WARN_FORM}{f.value}")] for f in WarningForm],
    )


@step
async def choose_form(turn: Turn) -> None:
    """Take the form from its button and ask for the reason."""
    if not flows.at(turn.state, flows.WARN, flows.FORM):
        refuse_stale(turn)
        return
    acting_officer(turn)
    try:
        form = WarningForm(turn.data.removeprefix(codes.WARN_FORM))
    except ValueError:
        refuse_stale(turn)
        return
    turn.answer()
    flows.advance(turn.session, turn.state, step=flows.REASON, now=turn.now, form=form.value)
    turn.say(turn._("Send the reason of the warning."))


def _preview(turn: Turn) -> str:
    data = turn.state.data
    person = turn.session.get(Person, int(data["person"]))
    colour = WarningColour(str(data["colour"]))
    deadline = default_deadline(colour, now=turn.now, settings=turn.deps.settings)
    return turn._(
        "%(mark)s %(colour)s warning (%(form)s) to %(name)s (%(staff_id)s)\n"
        "Reason: %(reason)s\nDeadline: %(deadline)s",
        mark=COLOUR_MARKS[colour],
        colour=turn._(colour.label),
        form=turn._(WarningForm(str(data["form"])).label),
        name=person.name if person else "?",
        staff_id=person.staff_id if person else "?",
        reason=str(data["reason"]),
        deadline=turn.deadline(deadline),
    )


async def write_reason(turn: Turn) -> None:
    """Take the reason and show the preview."""
    acting_officer(turn)
    reason = turn.text.strip()
    if not reason:
        raise InvalidInput(N_("the reason may not be empty"))
    if len(reason) > MAX_TEXT:
        raise InvalidInput(N_("The text is longer than %(max)s characters."), max=MAX_TEXT)
    check_storable(reason, N_("the reason"))
    flows.advance(turn.session, turn.state, step=flows.PREVIEW, now=turn.now, reason=reason)
    turn.say(
        _preview(turn) + "\n\n" + turn._("Issue it?"),
        [[(turn._("Issue"), codes.WARN_SEND)], [(turn._("Cancel"), CANCEL)]],
    )


@step
async def send_warn(turn: Turn) -> None:
    """Issue the warning previewed; the outbox delivers it."""
    if not flows.at(turn.state, flows.WARN, flows.PREVIEW):
        refuse_stale(turn)
        return
    officer = acting_officer(turn)
    data = turn.state.data
    person = turn.session.get(Person, int(data["person"]))
    if person is None:  # pragma: no cover - people are deactivated, not deleted
        refuse_stale(turn)
        return
    preview = _preview(turn)
    warning = issue_warning(
        turn.session,
        actor=officer,
        person=person,
        colour=str(data["colour"]),
        form=str(data["form"]),
        reason=str(data["reason"]),
        clock=turn.deps.clock,
        settings=turn.deps.settings,
    )
    flows.clear(turn.state, now=turn.now)
    turn.edit(preview + "\n\n" + turn._("✓ Issued as W%(id)s.", id=warning.id))
    turn.answer(turn._("Issued."))


#: How /withdraw is used, said when it is used otherwise.
WITHDRAW_USAGE = N_(
    "Send /withdraw, the warning's code and the reason, e.g. /withdraw W7 sent in error."
)


@step
async def withdraw(turn: Turn) -> None:
    """Withdraw a warning: ``/withdraw W7 the reason``; the person is told why."""
    officer = acting_officer(turn)
    args = turn.args
    code = codes.parse_code(args[0], kinds=frozenset({codes.CodeKind.WARNING})) if args else None
    if code is None or len(args) < 2:
        raise InvalidInput(WITHDRAW_USAGE)
    warning = get_warning(turn.session, warning_id=code.id)
    withdraw_warning(
        turn.session,
        warning=warning,
        actor=officer,
        clock=turn.deps.clock,
        reason=" ".join(args[1:]),
    )
    turn.say(turn._("↩ %(code)s withdrawn; the person is told why.", code=str(code)))
