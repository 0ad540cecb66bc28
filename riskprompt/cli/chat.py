"""``riskprompt chat --as STAFF_ID`` and ``riskprompt people invite STAFF_ID``."""

from __future__ import annotations

import asyncio
import codecs
import functools
import os
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from riskprompt.bot.binding import bot_username, invite
from riskprompt.bot.console import ConsoleBot, ConsoleChat, ConsoleError
from riskprompt.cli import params
from riskprompt.cli.common import INTERRUPTED, app_context, reports_errors
from riskprompt.config.i18n import N_, _, format_when
from riskprompt.context import AppContext
from riskprompt.models.queries import get_person


def register(app: typer.Typer) -> None:
    """Add ``chat`` to ``app`` and ``invite`` to the ``people`` commands."""
    from riskprompt.cli.catalogue import people_app

    app.command(
        "chat", help=_("Chat with the bot in this terminal as a person (no Telegram needed).")
    )(chat)
    people_app.command(
        "invite", help=_("Make a single-use link that binds a person's Telegram chat.")
    )(people_invite)


@reports_errors
def people_invite(
    ctx: typer.Context,
    staff_id: Annotated[str, params.argument(read=params.person, help=_("Staff ID (工号)."))],
    days: Annotated[
        int, typer.Option("--days", min=1, max=90, help=_("Days the link stays valid."))
    ] = 7,
) -> None:
    """Make a binding code and its link; queue it by SMS or email when the person has one."""
    context = app_context(ctx)
    name = (
        asyncio.run(bot_username(context.settings)) if context.settings.telegram_enabled else None
    )
    with context.session() as session:
        person = get_person(session, staff_id=staff_id)
        invitation = invite(
            session, person=person, clock=context.clock, bot_name=name, ttl=timedelta(days=days)
        )
    out = context.console
    out.print(
        _("Invitation for %(name)s (%(staff_id)s), valid once until %(until)s:")
        % {
            "name": person.name,
            "staff_id": person.staff_id,
            "until": format_when(invitation.expires_at, context.settings.zone),
        },
        highlight=False,
    )
    if invitation.link:
        out.print(invitation.link, markup=False, highlight=False)
    else:
        reason = (
            _("Telegram did not tell the bot's name")
            if context.settings.telegram_enabled
            else _("No Telegram bot is configured")
        )
        out.print(
            reason + ": " + _("send /start %(code)s to the bot.") % {"code": invitation.code},
            markup=False,
            highlight=False,
        )
    if invitation.queued_on is not None:
        out.print(
            _("The link is queued by %(channel)s; the dispatcher sends it.")
            % {"channel": _(invitation.queued_on.label)},
            highlight=False,
        )
    elif invitation.link:
        out.print(_("No SMS or email reaches this person: hand them the link."))


def typed_lines() -> asyncio.Queue[str | None]:
    """The lines typed on stdin, then None at its end, read by a daemon thread.

    Not ``asyncio.to_thread(sys.stdin.readline)``: ``asyncio.run`` waits for its
    executor's threads, so after Ctrl-C the chat would hang until Enter is pressed.
    A daemon thread reading the descriptor (no buffered object's lock held) is left
    behind when the process ends.  A stdin without a descriptor (a test runner's) is
    read line by line.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def put(item: str | None) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: the chat has ended
            pass

    def read_descriptor(fd: int) -> None:
        encoding = getattr(sys.stdin, "encoding", None) or "utf-8"
        decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        pending = ""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            pending += decoder.decode(chunk, final=not chunk)
            *complete, pending = pending.split("\n")
            for line in complete:
                put(line + "\n")
            if not chunk:
                if pending:
                    put(pending)
                put(None)
                return

    def read_stream() -> None:
        for line in iter(sys.stdin.readline, ""):
            put(line)
        put(None)

    try:
        fd: int | None = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    target = read_stream if fd is None else functools.partial(read_descriptor, fd)
    threading.Thread(target=target, name="console-stdin", daemon=True).start()
    return queue


CONSOLE_HELP = N_(
    "Type a message or a /command and press Enter.  /tap N taps the Nth button of the "
    "last message (/tap DATA taps a button by its data), /upload PATH sends a file, "
    "/photo PATH sends a photo, /quit leaves."
)


@reports_errors
def chat(
    ctx: typer.Context,
    staff_id: Annotated[
        str, params.option("--as", read=params.person, help=_("Staff ID (工号) to chat as."))
    ],
) -> None:
    """Chat with the bot in the terminal, through an in-process Bot API emulator.

    Ctrl-C ends the chat at once (the console still unbinds what it bound): one line
    on stderr, exit code 130.
    """
    context = app_context(ctx)
    try:
        asyncio.run(_converse(context, staff_id))
    except KeyboardInterrupt:
        context.err.print(_("Chat ended."), highlight=False, markup=False)
        raise typer.Exit(INTERRUPTED) from None


async def _converse(context: AppContext, staff_id: str) -> None:
    out = context.console
    async with ConsoleBot(
        settings=context.settings, engine=context.ready_engine(), clock=context.clock
    ) as console:
        person_chat = await console.chat_as(staff_id)
        out.print(
            _("Console chat as %(name)s. What you do here is recorded in the database.")
            % {"name": person_chat.name},
            highlight=False,
        )
        out.print(_(CONSOLE_HELP), markup=False, highlight=False)
        out.print(person_chat.greeting, markup=False, highlight=False)
        lines = typed_lines()
        while True:
            line = await lines.get()
            if line is None:
                break
            text = line.strip()
            if text in ("/quit", "/exit"):
                break
            if not text:
                continue
            try:
                reply = await _act(person_chat, text)
            except ConsoleError as exc:
                reply = f"! {exc.translated(_)}"
            if reply:
                out.print(reply, markup=False, highlight=False)


async def _act(person_chat: ConsoleChat, text: str) -> str:
    """Carry out one console line: a console command, or a message to the bot."""
    command, _sep, rest = text.partition(" ")
    rest = rest.strip()
    if command == "/tap":
        return await person_chat.tap(int(rest) if rest.isdigit() else rest or 1)
    if command in ("/upload", "/photo"):
        if not rest:
            raise ConsoleError(N_("give a file: /upload PATH"))
        return await person_chat.upload(Path(rest), as_photo=command == "/photo")
    return await person_chat.send(text)
