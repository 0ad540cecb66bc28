"""What everyone can do in chat: help, prompts, warnings, acknowledge, language, stop/resume."""

from __future__ import annotations

from riskprompt.bot import state as flows
from riskprompt.bot.commands import Intent, handle_reply, parse_reply
from riskprompt.bot.turn import Buttons, Reader, Turn, buttons_without, clip, step, with_line_html
from riskprompt.config.i18n import LANGUAGE_NAMES, N_, SUPPORTED_LOCALES
from riskprompt.models import codes
from riskprompt.models.acknowledging import acknowledge as acknowledge_target
from riskprompt.models.codes import ACK_PROMPT, LANGUAGE, PAGE, warning_actions
from riskprompt.models.codes import ACK_WARNING as ACK_WARNING  # re-exported for the flows
from riskprompt.models.codes import CANCEL as CANCEL
from riskprompt.models.codes import REPORT_CORRECTION as REPORT_CORRECTION
from riskprompt.models.evidence import discard
from riskprompt.models.listings import Page, PromptRow, open_prompts, open_warnings
from riskprompt.models.people import set_chat_paused, set_language
from riskprompt.models.warnings import (
    STATUS_LABELS,
    Warning,
    WarningColour,
)

VIA = "telegram"
PROMPTS_PER_PAGE = 5
#: Open warnings listed by /warnings (the nearest deadlines).
WARNINGS_SHOWN = 8

COLOUR_MARKS = {WarningColour.YELLOW: "🟡", WarningColour.ORANGE: "🟠", WarningColour.RED: "🔴"}

HELP_STAFF = N_(
    "What I can do:\n"
    "/prompts – your risk prompts waiting for an acknowledgement\n"
    "/warnings – your open warnings; report a correction from there\n"
    "/language – 中文 or English\n"
    "/stop – no more prompts in this chat (they come by SMS or email instead)\n"
    "/resume – prompts in this chat again\n"
    "/cancel – stop what you are doing\n"
    "/unbind – unlink this chat from you\n"
    "Tap “Acknowledge” under a prompt or a warning once you have read it."
)
HELP_OFFICER = N_(
    "For officers:\n"
    "/remind – issue a special prompt\n"
    "/warn – issue a yellow, orange or red warning\n"
    "/withdraw W7 reason – withdraw a warning\n"
    "/review – review the corrections reported\n"
    "/status – acknowledgements and overdue warnings in your units"
)
NOT_BOUND = N_(
    "Hello! This chat is not linked to anyone yet. Open the invitation link you "
    "received, or send /start followed by your invitation code."
)


def warning_code(warning: Warning) -> str:
    """How a warning is named in chat (``W7``; see :mod:`riskprompt.models.codes`)."""
    return codes.warning_code(warning.id)


def warning_text(reader: Reader, warning: Warning, *, now_overdue: bool) -> str:
    """A warning as the chat shows it: number, colour, form, reason, deadline, status."""
    lines = [
        reader._(
            "%(mark)s %(code)s · %(colour)s warning · %(form)s",
            mark=COLOUR_MARKS[warning.colour],
            code=warning_code(warning),
            colour=reader._(warning.colour.label),
            form=reader._(warning.form.label),
        ),
        reader._("Reason: %(reason)s", reason=clip(warning.reason, 300)),
        reader._("Deadline: %(when)s", when=reader.deadline(warning.deadline))
        + (" " + reader._("(overdue)") if now_overdue else ""),
        reader._("Status: %(status)s", status=reader._(STATUS_LABELS[warning.status])),
    ]
    return "\n".join(lines)


def warning_buttons(reader: Reader, warning: Warning) -> Buttons:
    """A button for each thing the warning allows now (see ``codes.warning_actions``)."""
    code = warning_code(warning)
    return [
        [
            (
                reader._(codes.ACTION_BUTTON_LABELS[action], code=code),
                codes.action_data(action, warning.id or 0),
            )
        ]
        for action in warning_actions(warning)
    ]


@step
async def show_help(turn: Turn) -> None:
    """Say what the bot can do (officers get their commands too)."""
    if turn.person is None:
        turn.say(turn._(NOT_BOUND))
        return
    text = turn._(HELP_STAFF)
    if turn.person.is_officer:
        text += "\n\n" + turn._(HELP_OFFICER)
    turn.say(text)


def _prompts_page(turn: Turn, page: Page[PromptRow]) -> tuple[str, Buttons]:
    if not page.total:
        return turn._("You have no prompt waiting for an acknowledgement."), []
    lines = [
        turn._(
            "Prompts waiting for your acknowledgement: %(total)s (page %(page)s of %(pages)s)",
            total=page.total,
            page=page.number,
            pages=page.pages,
        )
    ]
    buttons: Buttons = []
    for row in page.rows:
        prompt = row.prompt
        code = codes.prompt_code(prompt.id)
        title = prompt.title_in(turn.reader.locale)
        lines.append(f"\n{code} · {title} · {turn.when(prompt.created_at)}")
        if prompt.body.strip():
            lines.append(clip(prompt.body.strip(), 300))
        buttons.append([(turn._("Acknowledge %(code)s", code=code), f"{ACK_PROMPT}{prompt.id}")])
    pager: list[tuple[str, str]] = []
    if page.number > 1:
        pager.append(("◀ " + turn._("Newer"), f"{PAGE}{page.number - 1}"))
    if page.number < page.pages:
        pager.append((turn._("Older") + " ▶", f"{PAGE}{page.number + 1}"))
    buttons.append(pager)
    return "\n".join(lines), buttons


@step
async def list_prompts(turn: Turn) -> None:
    """List the person's open prompts, newest first, a page at a time."""
    page = open_prompts(turn.session, person=turn.actor, page=1, per_page=PROMPTS_PER_PAGE)
    turn.say(*_prompts_page(turn, page))


@step
async def turn_page(turn: Turn) -> None:
    """Show another page of the open prompts in the same message."""
    number = int(turn.data.removeprefix(PAGE))
    page = open_prompts(turn.session, person=turn.actor, page=number, per_page=PROMPTS_PER_PAGE)
    turn.edit(*_prompts_page(turn, page))


@step
async def list_warnings(turn: Turn) -> None:
    """List the person's open warnings in one message, with a button for each next step."""
    page = open_warnings(turn.session, person=turn.actor, limit=WARNINGS_SHOWN)
    if not page.total:
        turn.say(turn._("You have no open warning."))
        return
    blocks = [
        turn.reader.ngettext(
            "You have %(n)s open warning.", "You have %(n)s open warnings.", page.total
        )
    ]
    buttons: Buttons = []
    for warning in (row.warning for row in page.rows):
        overdue = warning.deadline < turn.now
        blocks.append(warning_text(turn.reader, warning, now_overdue=overdue))
        buttons.extend(warning_buttons(turn.reader, warning))
    # One message: Telegram paces a bot at about one message a second per chat.
    turn.say("\n\n".join(blocks), buttons)


@step
async def acknowledge(turn: Turn) -> None:
    """Acknowledge (已阅) the prompt or warning whose button was pressed."""
    target = codes.parse_ack_data(turn.data)
    if target is None:
        refuse_stale(turn)
        return
    person = turn.actor
    done = acknowledge_target(
        turn.session, actor=person, target=target, via=VIA, clock=turn.deps.clock
    )
    if not done.newly:
        turn.answer(turn._("Already acknowledged."))
        return
    line = turn._(
        "✓ %(code)s acknowledged by %(name)s at %(when)s",
        code=str(done.code),
        name=person.name,
        when=turn.when(done.at or turn.now),
    )
    message = turn.query.message if turn.query else None
    turn.edit(with_line_html(message, line), buttons_without(message, turn.data), as_html=True)
    turn.answer(turn._("Acknowledged. Thank you."))


@step
async def choose_language(turn: Turn) -> None:
    """Set the language (/language en, or a button); without one, offer the choice."""
    person = turn.actor
    wanted = turn.data.removeprefix(LANGUAGE) if turn.query else " ".join(turn.args)
    if not wanted:
        turn.say(
            turn._("Which language?"),
            [[(LANGUAGE_NAMES[code], f"{LANGUAGE}{code}") for code in SUPPORTED_LOCALES]],
        )
        return
    locale = set_language(
        turn.session, person=person, locale=wanted, clock=turn.deps.clock, via=VIA
    )
    turn.reader = Reader.of(person)
    text = turn._(
        "From now on I write in %(language)s.", language=LANGUAGE_NAMES.get(locale, locale)
    )
    if turn.query:
        turn.edit(text)
        turn.answer()
    else:
        turn.say(text)


@step
async def stop_chat(turn: Turn) -> None:
    """Stop delivering prompts in this chat (/stop): the next channel takes over."""
    changed = set_chat_paused(
        turn.session, person=turn.actor, paused=True, clock=turn.deps.clock, via=VIA
    )
    if changed:
        turn.say(
            turn._(
                "Prompts will no longer come to this chat but by SMS or email. "
                "Send /resume to get them here again."
            )
        )
    else:
        turn.say(
            turn._("Chat delivery is already stopped. Send /resume to get prompts here again.")
        )


@step
async def resume_chat(turn: Turn) -> None:
    """Deliver prompts in this chat again (/resume)."""
    changed = set_chat_paused(
        turn.session, person=turn.actor, paused=False, clock=turn.deps.clock, via=VIA
    )
    if changed:
        turn.say(turn._("Prompts come to this chat again."))
    else:
        turn.say(turn._("Prompts already come to this chat."))


def drop_flow(turn: Turn) -> None:
    """End the chat's flow; files uploaded for a report never submitted are removed."""
    collected = flows.clear(turn.state, now=turn.now)
    files = list(collected.get("evidence") or [])
    if files:
        data_dir = turn.deps.data_dir
        turn.after_commit(lambda: discard(data_dir, files))


@step
async def cancel(turn: Turn) -> None:
    """Stop whatever the chat was doing (/cancel, or a Cancel button)."""
    if turn.state.flow is None:
        if turn.query:
            refuse_stale(turn)
        else:
            turn.say(turn._("There is nothing to cancel."))
        return
    drop_flow(turn)
    if turn.query:
        turn.answer()
        turn.edit(turn._("Cancelled."))
    else:
        turn.say(turn._("Cancelled."))


async def short_reply(turn: Turn) -> None:
    """A message outside any flow: 1/已阅/P12 acknowledge (as by SMS); anything else gets help."""
    person = turn.person
    if person is None:
        turn.say(turn._(NOT_BOUND))
        return
    if parse_reply(turn.text).intent in (Intent.ACK_LATEST, Intent.ACK_CODE):
        turn.say(
            handle_reply(
                turn.session, person=person, text=turn.text, clock=turn.deps.clock, via=VIA
            )
        )
        return
    turn.say(turn._("Send /help to see what I can do."))


@step
async def unknown_command(turn: Turn) -> None:
    """A command the bot does not know."""
    turn.say(turn._("I do not know that command. Send /help to see what I can do."))


def refuse_stale(turn: Turn) -> None:
    """Answer a button from an older message whose step is over."""
    turn.answer(turn._("This button is no longer valid."), alert=True)


@step
async def stale_button(turn: Turn) -> None:
    """A button the bot does not know (any more)."""
    refuse_stale(turn)
