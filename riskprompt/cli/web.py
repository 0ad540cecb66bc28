"""``riskprompt web``, ``tokens``, ``ack`` and ``review``: the web app and its actions by hand."""

from __future__ import annotations

import logging
import os
import signal
import socket
from datetime import date, datetime, time
from typing import Annotated, Any

import typer
from sqlalchemy import Engine

from riskprompt.cli.common import app_context, reports_errors, table
from riskprompt.cli.dispatch import _configure_logging, _on_stop_signals
from riskprompt.config.i18n import N_, _, format_number, format_when
from riskprompt.config.settings import Settings
from riskprompt.context import AppContext
from riskprompt.models.acknowledging import Target, acknowledge
from riskprompt.models.clock import Clock
from riskprompt.models.conversations import create_api_token, revoke_api_token
from riskprompt.models.errors import InvalidInput, NotFound
from riskprompt.models.listings import list_tokens, page_corrections
from riskprompt.models.queries import get_person
from riskprompt.models.warnings import (
    Rectification,
    RectificationStatus,
    review_rectification,
)
from riskprompt.web import create_app
from riskprompt.web.context import TelegramHandler
from riskprompt.web.server import make_server, run_event_loop

log = logging.getLogger("riskprompt.web")

tokens_app = typer.Typer(
    help=_("Officers' bearer tokens for the REST API (stored hashed)."), no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add the web, tokens, ack and review commands to ``app``."""
    app.command(
        "web",
        help=_("Serve the web app alone: webhooks, acknowledgement links and the officer API."),
    )(web)
    app.command(
        "ack",
        help=_("Acknowledge a prompt (已阅) or, with --warning, a warning, as its addressee."),
    )(ack)
    app.command(
        "review",
        help=_(
            "Accept or reject a correction report (整改反馈); `review list` shows those waiting."
        ),
    )(review)
    app.add_typer(tokens_app, name="tokens")


# -- serving -------------------------------------------------------------------------------


def listen(
    host: str, port: int, *, reuse_port: bool = False, listening: bool = True
) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free one), bound before anything starts.

    ``reuse_port`` binds with ``SO_REUSEPORT``, so that each web worker listens on
    a socket of its own on the same port and the kernel shares the connections
    out; ``listening=False`` only binds (the parent of the workers holds the port
    that way, see :func:`_serve_forked`).

    Raises:
        InvalidInput: the address cannot be listened on (in use, not ours...).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Made with IPPROTO_TCP (``socket.create_server`` leaves the protocol 0): asyncio
    # sets TCP_NODELAY only on connections whose protocol says TCP.  Without it, Nagle's
    # algorithm holds a response's body until the client acknowledges its headers,
    # which a client delays by 40 ms: every keep-alive request would take 40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listening:
            sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise InvalidInput(
            N_("cannot listen on %(host)s:%(port)s: %(error)s"),
            host=host,
            port=port,
            error=exc.strerror or str(exc),
        ) from None
    return sock


def bound_url(sock: socket.socket) -> str:
    """``http://host:port`` of a listening socket."""
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


async def start_telegram(
    settings: Settings, engine: Engine, clock: Clock, *, polling: bool, webhook: bool
) -> tuple[Any, TelegramHandler | None]:
    """Start the Telegram bot as the settings say (see :func:`riskprompt.bot.app.start_bot`).

    With ``PUBLIC_URL`` the bot takes its updates from the webhook, so it runs in
    the process that serves the web app; without it, it polls, which one process
    of the deployment does (``run``).  A bot that cannot start (Telegram out of
    reach) is logged and left out: prompts still go out on the other channels.

    Args:
        settings: the settings (no ``TELEGRAM_TOKEN``: no bot).
        engine: the database.
        clock: the clock.
        polling: whether this process polls when there is no ``PUBLIC_URL``.
        webhook: whether this process serves the webhook when there is one.

    Returns:
        The started application (or None) and the webhook handler for the web
        app (None when polling or no bot).
    """
    if not settings.telegram_enabled:
        return None, None
    if (settings.PUBLIC_URL and not webhook) or (not settings.PUBLIC_URL and not polling):
        return None, None
    from riskprompt.bot.app import process_update_json, start_bot

    try:
        application = await start_bot(settings=settings, engine=engine, clock=clock)
    except Exception:
        log.exception("the Telegram bot could not start; carrying on without it")
        return None, None
    if application is None or not settings.PUBLIC_URL:
        return application, None

    async def handle(data: dict[str, Any]) -> None:
        await process_update_json(application, data)

    return application, handle


async def stop_telegram(application: Any) -> None:
    """Stop a bot started by :func:`start_telegram` (None: nothing to do)."""
    if application is None:
        return
    from riskprompt.bot.app import stop_bot

    await stop_bot(application)


async def _serve(
    context: AppContext, engine: Engine, sock: socket.socket, access_log: bool
) -> None:
    settings = context.settings
    bot, handler = await start_telegram(
        settings, engine, context.clock, polling=False, webhook=True
    )
    try:
        app = create_app(
            settings=settings, engine=engine, clock=context.clock, telegram_handler=handler
        )
        server = make_server(
            app,
            host=settings.WEB_HOST,
            port=settings.WEB_PORT,
            embedded=True,
            access_log=access_log,
        )
        # SIGINT/SIGTERM: finish the requests under way, then exit with 0 (uvicorn's own
        # handlers would re-raise the signal after shutting down).
        _on_stop_signals(lambda: setattr(server, "should_exit", True))
        log.info("riskprompt web app at %s (API documentation at /docs)", bound_url(sock))
        await server.serve(sockets=[sock])
    finally:
        await stop_telegram(bot)


@reports_errors
def web(
    ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help=_("Address to listen on (default: RISKPROMPT_WEB_HOST)."),
            show_default=False,
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=0,
            max=65535,
            help=_("Port to listen on (default: RISKPROMPT_WEB_PORT)."),
            show_default=False,
        ),
    ] = None,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help=_("Log every request."))
    ] = True,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help=_(
                "Processes serving the port, e.g. one per core (on SQLite their "
                "writes take turns on the file's lock)."
            ),
        ),
    ] = 1,
) -> None:
    """Serve the web app alone: webhooks, acknowledgement links and the officer API."""
    context = app_context(ctx)
    _configure_logging(logging.INFO, context.settings)
    updates = {k: v for k, v in (("WEB_HOST", host), ("WEB_PORT", port)) if v is not None}
    context.settings = context.settings.model_copy(update=updates)
    engine = context.ready_engine()
    sock = listen(
        context.settings.WEB_HOST,
        context.settings.WEB_PORT,
        reuse_port=workers > 1,
        listening=workers == 1,
    )
    try:
        if workers == 1:
            run_event_loop(_serve(context, engine, sock, access_log))
        else:
            _serve_forked(context, engine, sock, access_log, workers)
    finally:
        sock.close()
        context.close()


def _serve_forked(
    context: AppContext, engine: Engine, sock: socket.socket, access_log: bool, workers: int
) -> None:
    """Serve from ``workers`` forked processes on the port of ``sock``; wait for them all.

    ``sock`` is bound with ``SO_REUSEPORT`` and not listening; each process
    listens on a socket of its own on that port, and the kernel shares the
    connections out among them.  (On one shared listening socket, the first
    process to wake accepts every connection waiting: a client that opens its
    keep-alive connections at once ends up on one process.)  Each process has its
    own event loop and its own database connections (the pool is emptied before
    the fork: no connection is shared).  SIGINT/SIGTERM are passed on to the
    workers, which finish the requests under way and exit.

    Raises:
        typer.Exit: a worker exited with an error (the code of the first one).
    """
    engine.dispose()
    children: list[int] = []
    for _index in range(workers):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 0
            try:
                engine.dispose(close=False)
                host, port = sock.getsockname()[:2]
                own = listen(host, port, reuse_port=True)
                sock.close()
                run_event_loop(_serve(context, engine, own, access_log))
            except BaseException:
                log.exception("a web worker stopped with an error")
                code = 1
            finally:
                logging.shutdown()
                os._exit(code)
        children.append(pid)

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            try:
                os.kill(child, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    log.info("riskprompt web: %s worker processes", workers)
    failed = 0
    for child in children:
        _pid, status = os.waitpid(child, 0)
        code = os.waitstatus_to_exitcode(status)
        if code and not failed:
            failed = code if code > 0 else 1
    if failed:
        raise typer.Exit(failed)


# -- tokens --------------------------------------------------------------------------------


def _when(context: AppContext, moment: datetime | None) -> str:
    return format_when(moment, context.settings.zone) if moment is not None else ""


@tokens_app.command(
    "create",
    help=_("Create an API token for an officer and print it once (only its hash is kept)."),
)
@reports_errors
def tokens_create(
    ctx: typer.Context,
    staff_id: Annotated[
        str, typer.Argument(help=_("Staff ID of the officer."), show_default=False)
    ],
    label: Annotated[
        str, typer.Option("--label", help=_("What the token is for (shown in the list)."))
    ] = "",
) -> None:
    """Create an API token for an officer and print it once (only its hash is kept)."""
    context = app_context(ctx)
    with context.session() as session:
        officer = get_person(session, staff_id=staff_id)
        token = create_api_token(session, person=officer, clock=context.clock, label=label)
        name = f"{officer.name} ({officer.staff_id})"
    context.err.print(
        _("API token for %(name)s. It is shown only this once: keep it safe.") % {"name": name},
        highlight=False,
    )
    typer.echo(token)


@tokens_app.command("list", help=_("List API tokens (never the tokens themselves), newest first."))
@reports_errors
def tokens_list(
    ctx: typer.Context,
    staff_id: Annotated[
        str | None, typer.Argument(help=_("Only this officer's tokens."), show_default=False)
    ] = None,
) -> None:
    """List API tokens (never the tokens themselves), newest first."""
    context = app_context(ctx)
    with context.session() as session:
        rows = list_tokens(session, staff_id=staff_id)
    out = table(
        _("API tokens"),
        _("ID"),
        _("Officer"),
        _("Label"),
        _("Created"),
        _("Last used"),
        _("Revoked"),
    )
    for token, person in rows:
        out.add_row(
            str(token.id),
            f"{person.name} ({person.staff_id})",
            token.label,
            _when(context, token.created_at),
            _when(context, token.last_used_at),
            _when(context, token.revoked_at),
        )
    context.console.print(out)
    context.console.print(_("%(n)s tokens") % {"n": format_number(len(rows))})


@tokens_app.command("revoke", help=_("Revoke an API token: it stops working at once."))
@reports_errors
def tokens_revoke(
    ctx: typer.Context,
    token_id: Annotated[int, typer.Argument(help=_("Token ID (see tokens list)."), min=1)],
) -> None:
    """Revoke an API token: it stops working at once."""
    context = app_context(ctx)
    with context.session() as session:
        token = revoke_api_token(session, token_id=token_id, clock=context.clock)
        when = _when(context, token.revoked_at)
    context.console.print(
        _("Token %(id)s revoked (%(when)s).") % {"id": token_id, "when": when}, highlight=False
    )


# -- acknowledge and review ----------------------------------------------------------------


@reports_errors
def ack(
    ctx: typer.Context,
    prompt_id: Annotated[
        int | None,
        typer.Argument(help=_("The prompt to acknowledge."), min=1, show_default=False),
    ] = None,
    actor: Annotated[
        str,
        typer.Option("--as", help=_("Staff ID of the person acknowledging."), show_default=False),
    ] = "",
    warning_id: Annotated[
        int | None,
        typer.Option(
            "--warning", min=1, help=_("Acknowledge this warning instead."), show_default=False
        ),
    ] = None,
) -> None:
    """Acknowledge a prompt (已阅) or, with --warning, a warning, as its addressee."""
    context = app_context(ctx)
    if not actor:
        raise InvalidInput(N_("say who acknowledges with --as STAFF_ID"))
    if (prompt_id is None) == (warning_id is None):
        raise InvalidInput(N_("give either a prompt id or --warning ID"))
    target: Target = (
        ("warning", warning_id) if warning_id is not None else ("prompt", prompt_id or 0)
    )
    with context.session() as session:
        person = get_person(session, staff_id=actor)
        done = acknowledge(session, actor=person, target=target, via="cli", clock=context.clock)
        if done.prompt is not None:
            what = _("Prompt %(id)s (%(title)s)") % {"id": done.code.id, "title": done.prompt.title}
        else:
            what = _("Warning %(id)s") % {"id": done.code.id}
    message = (
        _("%(what)s acknowledged.")
        if done.newly
        else _("%(what)s was already acknowledged on %(when)s.")
    )
    when = _when(context, done.at)
    context.console.print(message % {"what": what, "when": when}, highlight=False)


def _deadline(value: str, context: AppContext) -> datetime:
    """The end of day ``YYYY-MM-DD`` in the configured time zone."""
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            N_("not a date %(value)r: write it as YYYY-MM-DD"), value=value
        ) from None
    return datetime.combine(day, time(23, 59), tzinfo=context.settings.zone)


def _list_pending(context: AppContext, limit: int, viewer: str) -> None:
    with context.session() as session:
        looking = get_person(session, staff_id=viewer) if viewer else None
        page = page_corrections(
            session, viewer=looking, status=RectificationStatus.SUBMITTED, limit=limit
        )
    out = table(
        _("Corrections waiting for review"),
        _("ID"),
        _("Warning"),
        _("Person"),
        _("Submitted"),
        _("Files"),
        _("Description"),
    )
    out.columns[-1].overflow = "fold"
    for row in page.rows:
        out.add_row(
            str(row.correction.id),
            str(row.warning.id),
            f"{row.person.name} ({row.person.staff_id})",
            _when(context, row.correction.submitted_at),
            format_number(len(row.correction.evidence)),
            row.correction.description,
        )
    context.console.print(out)
    context.console.print(
        _("%(n)s waiting; showing %(shown)s")
        % {"n": format_number(page.total), "shown": format_number(len(page.rows))},
        highlight=False,
    )


@reports_errors
def review(
    ctx: typer.Context,
    correction: Annotated[
        str,
        typer.Argument(
            help=_("Correction ID to review, or `list` for those waiting."), show_default=False
        ),
    ],
    actor: Annotated[
        str,
        typer.Option("--as", help=_("Staff ID of the reviewing officer."), show_default=False),
    ] = "",
    accept: Annotated[
        bool, typer.Option("--accept", help=_("Accept: the warning closes."))
    ] = False,
    reject: Annotated[
        bool, typer.Option("--reject", help=_("Reject: the warning goes back, with --reason."))
    ] = False,
    reason: Annotated[
        str, typer.Option("--reason", help=_("Why (required to reject)."), show_default=False)
    ] = "",
    deadline: Annotated[
        str | None,
        typer.Option(
            "--deadline", help=_("New deadline when rejecting, YYYY-MM-DD."), show_default=False
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help=_("With list: show at most this many."))
    ] = 50,
) -> None:
    """Accept or reject a correction report (整改反馈); `review list` shows those waiting."""
    context = app_context(ctx)
    if correction.strip().lower() == "list":
        _list_pending(context, limit, actor)
        return
    if not correction.strip().isascii() or not correction.strip().isdigit():
        raise InvalidInput(N_("not a correction id: %(value)r"), value=correction)
    if not actor:
        raise InvalidInput(N_("say who reviews with --as STAFF_ID"))
    if accept == reject:
        raise InvalidInput(N_("choose one: --accept or --reject --reason TEXT"))
    new_deadline = _deadline(deadline, context) if deadline else None
    correction_id = int(correction)
    with context.session() as session:
        officer = get_person(session, staff_id=actor)
        report = session.get(Rectification, correction_id)
        if report is None:
            raise NotFound(N_("no correction report %(id)s"), id=correction_id)
        warning = review_rectification(
            session,
            rectification=report,
            actor=officer,
            accept=accept,
            clock=context.clock,
            note=reason,
            new_deadline=new_deadline,
        )
        values = {
            "id": correction_id,
            "warning": warning.id,
            "when": _when(context, warning.deadline),
        }
    message = (
        _("Correction %(id)s accepted: warning %(warning)s is closed.")
        if accept
        else _("Correction %(id)s rejected: warning %(warning)s is open again, due %(when)s.")
    )
    context.console.print(message % values, highlight=False)
