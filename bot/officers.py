"""What officers (纪检监察) do in chat: special prompts, reviews of corrections, status.

The role is checked on every step (:func:`riskprompt.models.people.require_officer`), not only
when a flow starts: a role taken away mid-flow stops it at the next message.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from riskprompt.bot import state as flows
from riskprompt.bot.people import (
    CANCEL,
    COLOUR_MARKS,
    drop_flow,
    refuse_stale,
    warning_code,
)
from riskprompt.bot.turn import Reader, Turn, clip, step, with_line_html
from riskprompt.config.i18n import N_, format_day, format_list, format_ratio, translator
from riskprompt.models import codes
from riskprompt.models.catalog import RiskLevel
from riskprompt.models.errors import InvalidInput
from riskprompt.models.evidence import human_size
from riskprompt.models.listings import (
    correction_for_review,
    get_person_by_id,
    get_rectification,
    get_warning,
    next_correction,
    scope_status,
    unacknowledged_people,
)
from riskprompt.models.people import Person, require_officer
from riskprompt.models.refs import correction_number
from riskprompt.models.targets import Target, TargetKind, parse_target, reach_of
from riskprompt.models.targets import describe_target as target_in_words
from riskprompt.models.warnings import Rectification, RectificationStatus, review_rectification
from riskprompt.notifications.planning import issue_and_expand

#: Longest text of a special prompt typed in chat.
MAX_SPECIAL_TEXT = 2000


def acting_officer(turn: Turn) -> Person:
    """The person acting, checked to be an officer."""
    officer = turn.actor
    require_officer(officer)
    return officer


def _today(turn: Turn) -> date:
    return turn.now.astimezone(turn.deps.settings.zone).date()


# -- /remind: a special prompt (特别提示) ---------------------------------------------------


def describe_target(reader: Reader, session: Session, text: str) -> str:
    """A target in words: "everyone", "unit 财政局 and its sub-units", "张三 (CW001)"..."""
    return target_in_words(session, text, translator(reader.locale).gettext)


@step
async def begin_remind(turn: Turn) -> None:
    """Start a special prompt: ask whom it is for."""
    officer = acting_officer(turn)
    turn.require_private()
    drop_flow(turn)
    flows.begin(
        turn.session,
        turn.state,
        flow=flows.REMIND,
        step=flows.TARGET,
        person_id=officer.id,
        now=turn.now,
    )
    turn.say(
        turn._(
            "Whom is the special prompt for? Tap a choice, or type a target: "
            "person:STAFF_ID, post:ID, unit:ID (unit:ID+ with its sub-units), "
            "level:high|medium|low or all. Send /cancel to stop."
        ),
        [
            [(turn._("My unit and its sub-units"), f"{codes.REMIND_TARGET}unit")],
            [(turn._("Holders of high-risk posts"), f"{codes.REMIND_TARGET}high")],
            [(turn._("Everyone"), f"{codes.REMIND_TARGET}all")],
        ],
    )


def _set_target(turn: Turn, officer: Person, text: str) -> None:
    target = parse_target(text)
    # checked as the rule will check it: a target outside the officer's scope is refused
    reach = len(reach_of(turn.session, officer=officer, target=target, on=_today(turn)))
    if not reach:
        raise InvalidInput(N_("This target reaches nobody today; choose another one."))
    flows.advance(turn.session, turn.state, step=flows.TEXT, now=turn.now, target=str(target))
    turn.say(
        turn.reader.ngettext(
            "The special prompt goes to %(target)s: %(n)s person. Now send its text.",
            "The special prompt goes to %(target)s: %(n)s people. Now send its text.",
            reach,
            target=describe_target(turn.reader, turn.session, str(target)),
        )
    )


@step
async def choose_target_button(turn: Turn) -> None:
    """Take the target from a button: the officer's units, high-risk posts or everyone."""
    if not flows.at(turn.state, flows.REMIND, flows.TARGET):
        refuse_stale(turn)
        return
    turn.answer()
    officer = acting_officer(turn)
    choice = turn.data.removeprefix(codes.REMIND_TARGET)
    targets = {
        "unit": Target(TargetKind.UNIT, str(officer.unit_id), sub_units=True),
        "high": Target(TargetKind.LEVEL, RiskLevel.HIGH.value),
        "all": Target(TargetKind.ALL),
    }
    if choice not in targets:
        refuse_stale(turn)
        return
    _set_target(turn, officer, str(targets[choice]))


async def choose_target(turn: Turn) -> None:
    """Take the target typed by the officer."""
    _set_target(turn, acting_officer(turn), turn.text)


async def write_text(turn: Turn) -> None:
    """Take the text of the special prompt and show the preview."""
    officer = acting_officer(turn)
    body = turn.text.strip()
    if len(body) > MAX_SPECIAL_TEXT:
        raise InvalidInput(N_("The text is longer than %(max)s characters."), max=MAX_SPECIAL_TEXT)
    target = str(turn.state.data["target"])
    reach = len(reach_of(turn.session, officer=officer, target=target, on=_today(turn)))
    flows.advance(turn.session, turn.state, step=flows.PREVIEW, now=turn.now, text=body)
    turn.say(
        _remind_preview(turn, target, body, reach) + "\n\n" + turn._("Send it?"),
        [[(turn._("Send"), codes.REMIND_SEND)], [(turn._("Cancel"), CANCEL)]],
    )


def _remind_preview(turn: Turn, target: str, text: str, reach: int) -> str:
    return turn._(
        "Special prompt to %(target)s (%(n)s):\n\n%(text)s",
        target=describe_target(turn.reader, turn.session, target),
        n=turn.reader.ngettext("%(n)s person", "%(n)s people", reach),
        text=text,
    )


@step
async def send_remind(turn: Turn) -> None:
    """Issue the special prompt previewed; the outbox delivers it."""
    if not flows.at(turn.state, flows.REMIND, flows.PREVIEW):
        refuse_stale(turn)
        return
    officer = acting_officer(turn)
    broadcast = issue_and_expand(
        turn.session,
        actor=officer,
        target=str(turn.state.data["target"]),
        text=str(turn.state.data["text"]),
        clock=turn.deps.clock,
        settings=turn.deps.settings,
    )
    flows.clear(turn.state, now=turn.now)
    line = turn.reader.ngettext(
        "✓ Sent to %(n)s person at %(when)s.",
        "✓ Sent to %(n)s people at %(when)s.",
        broadcast.prompt_count,
        when=turn.when(turn.now),
    )
    preview = _remind_preview(turn, broadcast.target, broadcast.text, broadcast.prompt_count)
    turn.edit(f"{preview}\n\n{line}")
    turn.answer(turn._("Sent."))


# -- /review: corrections one by one -------------------------------------------------------


def review_text(
    turn: Turn, rectification: Rectification, waiting: int
) -> tuple[str, list[list[tuple[str, str]]]]:
    """A correction as the officer reviews it, with Accept / Reject / Next."""
    warning = get_warning(turn.session, warning_id=rectification.warning_id)
    person = get_person_by_id(turn.session, person_id=rectification.person_id)
    lines = [
        turn._(
            "Correction R%(id)s on %(code)s (%(mark)s %(colour)s warning · %(form)s); "
            "%(waiting)s waiting for review",
            id=rectification.id,
            code=warning_code(warning),
            mark=COLOUR_MARKS[warning.colour],
            colour=turn._(warning.colour.label),
            form=turn._(warning.form.label),
            waiting=waiting,
        ),
        turn._(
            "From %(name)s (%(staff_id)s), submitted at %(when)s",
            name=person.name,
            staff_id=person.staff_id,
            when=turn.when(rectification.submitted_at),
        ),
        turn._("Warning: %(reason)s", reason=clip(warning.reason, 600)),
        turn._("Deadline: %(when)s", when=turn.deadline(warning.deadline)),
        "",
        turn._("What was done:"),
        clip(rectification.description, 2000),
        "",
        turn.reader.ngettext(
            "Evidence: %(n)s file", "Evidence: %(n)s files", len(rectification.evidence)
        ),
    ]
    lines.extend(
        f"• {item.get('name')} ({human_size(int(item.get('size', 0)))})"
        for item in rectification.evidence
    )
    buttons = [
        [(turn._("Accept"), f"{codes.REVIEW_ACCEPT}{rectification.id}")],
        [(turn._("Reject with a reason"), f"{codes.REVIEW_REJECT}{rectification.id}")],
        [(turn._("Next"), f"{codes.REVIEW_NEXT}{rectification.id}")],
    ]
    return "\n".join(lines), buttons


def _show_next(turn: Turn, officer: Person, after_id: int = 0) -> None:
    rectification, waiting = next_correction(turn.session, officer=officer, after_id=after_id)
    if rectification is None:
        turn.say(turn._("No correction is waiting for your review."))
        return
    turn.say(*review_text(turn, rectification, waiting))


@step
async def begin_review(turn: Turn) -> None:
    """Show the correction named (``/review R3``), or the first waiting for review."""
    officer = acting_officer(turn)
    if not turn.args:
        _show_next(turn, officer)
        return
    rectification = correction_for_review(
        turn.session, officer=officer, correction_id=correction_number(" ".join(turn.args))
    )
    if rectification.status is not RectificationStatus.SUBMITTED:
        turn.say(turn._("R%(id)s has already been reviewed.", id=rectification.id))
        return
    _, waiting = next_correction(turn.session, officer=officer)
    turn.say(*review_text(turn, rectification, waiting))


@step
async def show_correction(turn: Turn) -> None:
    """Show the correction named by the button of a notice."""
    turn.answer()
    officer = acting_officer(turn)
    rectification = correction_for_review(
        turn.session, officer=officer, correction_id=int(turn.data.removeprefix(codes.REVIEW_ONE))
    )
    if rectification.status is not RectificationStatus.SUBMITTED:
        turn.say(turn._("R%(id)s has already been reviewed.", id=rectification.id))
        _show_next(turn, officer)
        return
    _, waiting = next_correction(turn.session, officer=officer)
    turn.say(*review_text(turn, rectification, waiting))


@step
async def skip_correction(turn: Turn) -> None:
    """Leave this correction for later and show the next one."""
    turn.answer()
    _show_next(turn, acting_officer(turn), after_id=int(turn.data.removeprefix(codes.REVIEW_NEXT)))


@step
async def accept_correction(turn: Turn) -> None:
    """Accept the correction: the warning closes; the domain tells the person."""
    officer = acting_officer(turn)
    rectification = get_rectification(
        turn.session, rectification_id=int(turn.data.removeprefix(codes.REVIEW_ACCEPT))
    )
    review_rectification(
        turn.session,
        rectification=rectification,
        actor=officer,
        accept=True,
        clock=turn.deps.clock,
        settings=turn.deps.settings,
    )
    if flows.at(turn.state, flows.REVIEW) and turn.state.data.get("rectification_id") == (
        rectification.id
    ):
        flows.clear(turn.state, now=turn.now)  # no longer waiting for a rejection reason
    message = turn.query.message if turn.query else None
    line = turn._("✓ Accepted by %(name)s at %(when)s", name=officer.name, when=turn.when(turn.now))
    turn.edit(with_line_html(message, line), [], as_html=True)
    turn.answer(turn._("Accepted."))
    _show_next(turn, officer, after_id=rectification.id or 0)


@step
async def ask_reason(turn: Turn) -> None:
    """Ask why the correction is rejected."""
    turn.answer()
    officer = acting_officer(turn)
    rectification = correction_for_review(
        turn.session,
        officer=officer,
        correction_id=int(turn.data.removeprefix(codes.REVIEW_REJECT)),
    )
    if rectification.status is not RectificationStatus.SUBMITTED:
        turn.say(turn._("R%(id)s has already been reviewed.", id=rectification.id))
        return
    turn.require_private()
    drop_flow(turn)
    flows.begin(
        turn.session,
        turn.state,
        flow=flows.REVIEW,
        step=flows.REASON,
        person_id=officer.id,
        now=turn.now,
        rectification_id=rectification.id,
    )
    turn.say(
        turn._(
            "Why is R%(id)s rejected? Send the reason: %(name)s will read it. "
            "Send /cancel to stop.",
            id=rectification.id,
            name=get_person_by_id(turn.session, person_id=rectification.person_id).name,
        )
    )


async def reject_with_reason(turn: Turn) -> None:
    """Reject the correction with the reason typed: the warning reopens; the domain tells."""
    officer = acting_officer(turn)
    rectification = get_rectification(
        turn.session, rectification_id=int(turn.state.data["rectification_id"])
    )
    reason = turn.text.strip()
    warning = review_rectification(
        turn.session,
        rectification=rectification,
        actor=officer,
        accept=False,
        note=reason,
        clock=turn.deps.clock,
        settings=turn.deps.settings,
    )
    flows.clear(turn.state, now=turn.now)
    person = get_person_by_id(turn.session, person_id=rectification.person_id)
    turn.say(
        turn._(
            "✗ R%(id)s rejected: %(code)s is returned for a new correction by %(when)s; "
            "%(name)s is told.",
            id=rectification.id,
            code=warning_code(warning),
            when=turn.deadline(warning.deadline),
            name=person.name,
        )
    )
    _show_next(turn, officer, after_id=rectification.id or 0)


# -- /status -----------------------------------------------------------------------------


@step
async def show_status(turn: Turn) -> None:
    """Acknowledgements (in people) and overdue warnings in the officer's supervision scope."""
    officer = acting_officer(turn)
    status = scope_status(turn.session, officer=officer, now=turn.now, zone=turn.deps.settings.zone)
    reader = turn.reader
    if status.units is None:
        scope = turn._(
            "Supervision scope: every unit, %(people)s people", people=reader.number(status.people)
        )
    else:
        scope = turn._(
            "Supervision scope: %(units)s (with their sub-units), %(people)s people",
            units="、".join(status.units),
            people=reader.number(status.people),
        )
    turn.say(
        "\n".join(
            [
                scope,
                turn._(
                    "People prompted since %(since)s: %(prompted)s, acknowledged %(ack)s "
                    "(%(rate)s), waiting %(waiting)s",
                    since=format_day(status.since.date(), reader.locale),
                    prompted=reader.number(status.prompted),
                    ack=reader.number(status.acknowledged),
                    rate=format_ratio(status.rate, reader.locale),
                    waiting=reader.number(status.waiting),
                ),
                turn._(
                    "Open warnings: %(open)s, overdue: %(overdue)s",
                    open=reader.number(status.open_warnings),
                    overdue=reader.number(status.overdue_warnings),
                ),
                turn._(
                    "Corrections waiting for review: %(n)s",
                    n=reader.number(status.corrections_waiting),
                ),
                *unacknowledged_lines(turn, officer),
            ]
        )
    )


#: People /status names, the longest waiting first (the rest are counted).
UNACKNOWLEDGED_SHOWN = 20


def unacknowledged_lines(turn: Turn, officer: Person) -> list[str]:
    """The people of the officer's scope who have not acknowledged this month's prompts:
    each once, with their unit, posts, the reminders sent and the last channel."""
    page = unacknowledged_people(
        turn.session,
        officer=officer,
        now=turn.now,
        zone=turn.deps.settings.zone,
        limit=UNACKNOWLEDGED_SHOWN,
    )
    if not page.total:
        return []
    reader = turn.reader
    lines = ["", turn._("Not acknowledged yet:")]
    for row in page.rows:
        reminders = reader.ngettext("%(n)s reminder sent", "%(n)s reminders sent", row.reminders)
        last = (
            turn._("last sent by %(channel)s", channel=row.last_channel.label)
            if row.last_channel is not None
            else turn._("not sent yet")
        )
        lines.append(
            turn._(
                "• %(name)s (%(staff_id)s), %(unit)s, %(posts)s: %(reminders)s, %(last)s",
                name=row.person.name,
                staff_id=row.person.staff_id,
                unit=row.unit,
                posts=format_list(row.posts, reader.locale) or turn._("special prompt"),
                reminders=reminders,
                last=last,
            )
        )
    if page.total > len(page.rows):
        lines.append(
            reader.ngettext("...and %(n)s more", "...and %(n)s more", page.total - len(page.rows))
        )
    return lines
