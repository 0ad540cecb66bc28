"""``riskprompt web``, ``tokens``, ``ack`` and ``review``: the web app and its actions by hand."""

from __future__ import annotations

import logging
import os
import signal
import socket
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import Engine

from riskprompt.cli import params
from riskprompt.cli.common import app_context, reports_errors, table
from riskprompt.cli.dispatch import _configure_logging, _on_stop_signals
from riskprompt.cli.listing import Column, FormatOption, Listing, WideOption, show
from riskprompt.config.i18n import (
    N_,
    _,
    current_locale,
    format_deadline,
    format_number,
    format_when,
    ngettext,
)
from riskprompt.config.settings import Settings
from riskprompt.context import AppContext
from riskprompt.models.acknowledging import Target, acknowledge
from riskprompt.models.clock import Clock
from riskprompt.models.codes import CodeKind, correction_code, parse_code, warning_code
from riskprompt.models.conversations import create_api_token, revoke_api_token
from riskprompt.models.errors import InvalidInput
from riskprompt.models.evidence import copy_out, human_size
from riskprompt.models.listings import (
    HistoryEntry,
    correction_detail,
    get_rectification,
    list_tokens,
    page_corrections,
)
from riskprompt.models.queries import get_person
from riskprompt.models.refs import correction_status_label
from riskprompt.models.warnings import (
    STATUS_LABELS,
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
        str, params.argument(read=params.person, help=_("Staff ID of the officer."))
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
        str | None, params.argument(read=params.person, help=_("Only this officer's tokens."))
    ] = None,
    wide: WideOption = False,
    output: FormatOption = None,
) -> None:
    """List API tokens (never the tokens themselves), newest first."""
    context = app_context(ctx)
    with context.session() as session:
        rows = list_tokens(session, staff_id=staff_id)
    listing = Listing(
        _("API tokens"),
        [
            Column("id", _("ID")),
            Column("officer", _("Officer")),
            Column("label", _("Label"), keep=1, wraps=True),
            Column("revoked", _("Revoked"), keep=2),
            Column("last_used", _("Last used"), keep=3),
            Column("created", _("Created"), keep=4),
        ],
        context.settings.zone,
    )
    for token, person in rows:
        listing.add(
            token.id,
            f"{person.name} ({person.staff_id})",
            token.label,
            token.revoked_at,
            token.last_used_at,
            token.created_at,
        )
    note = _("%(n)s tokens") % {"n": format_number(len(rows))}
    show(listing, context.console, wide=wide, form=output, err=context.err, notes=[note])


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
    code: Annotated[
        str | None,
        params.argument(
            read=params.acknowledgeable,
            metavar="P12|W7",
            help=_("The prompt to acknowledge (12 or P12), or a warning (W7)."),
        ),
    ] = None,
    actor: Annotated[
        str,
        params.option("--as", read=params.person, help=_("Staff ID of the person acknowledging.")),
    ] = "",
    warning_id: Annotated[
        int | None,
        params.option(
            "--warning", read=params.warning_id, help=_("Acknowledge this warning instead.")
        ),
    ] = None,
) -> None:
    """Acknowledge a prompt (已阅) or, with --warning, a warning, as its addressee."""
    context = app_context(ctx)
    if not actor:
        raise InvalidInput(N_("say who acknowledges with --as STAFF_ID"))
    if (code is None) == (warning_id is None):
        raise InvalidInput(N_("give either a prompt id or --warning ID"))
    named = parse_code(code) if code is not None else None  # P12 or W7: read by the option
    if warning_id is not None or named is None:
        target: Target = ("warning", warning_id or 0)
    else:
        target = ("warning" if named.kind is CodeKind.WARNING else "prompt", named.id)
    with context.session() as session:
        person = get_person(session, staff_id=actor)
        done = acknowledge(session, actor=person, target=target, via="cli", clock=context.clock)
        if done.prompt is not None:
            title = done.title_in(current_locale())
            what = _("Prompt %(id)s (%(title)s)") % {"id": done.code.id, "title": title}
        else:
            what = _("Warning %(id)s") % {"id": done.code.id}
    message = (
        _("%(what)s acknowledged.")
        if done.newly
        else _("%(what)s was already acknowledged on %(when)s.")
    )
    when = _when(context, done.at)
    context.console.print(message % {"what": what, "when": when}, highlight=False)


def _list_pending(
    context: AppContext, limit: int, viewer: str, *, wide: bool, output: str | None
) -> None:
    with context.session() as session:
        looking = get_person(session, staff_id=viewer) if viewer else None
        page = page_corrections(
            session, viewer=looking, status=RectificationStatus.SUBMITTED, limit=limit
        )
    listing = Listing(
        _("Corrections waiting for review"),
        [
            Column("id", _("ID")),
            Column("warning", _("Warning")),
            Column("person", _("Person")),
            Column("submitted", _("Submitted"), keep=1),
            Column("files", _("Files"), keep=2, numeric=True),
            Column("description", _("Description"), keep=3, wraps=True),
        ],
        context.settings.zone,
    )
    for row in page.rows:
        listing.add(
            correction_code(row.correction.id),
            warning_code(row.warning.id),
            f"{row.person.name} ({row.person.staff_id})",
            row.correction.submitted_at,
            len(row.correction.evidence),
            row.correction.description,
        )
    note = _("%(n)s waiting; showing %(shown)s") % {
        "n": format_number(page.total),
        "shown": format_number(len(page.rows)),
    }
    show(listing, context.console, wide=wide, form=output, err=context.err, notes=[note])


def _review_subject(ctx: typer.Context, param: typer.CallbackParam, value: str) -> str:
    """``list``, ``show``, or a correction read as its id (``R3``, ``C3``, ``3`` → ``3``)."""
    word = value.strip().lower()
    if word in ("list", "show"):
        return word
    return str(params.correction_id(ctx, param, value))


@reports_errors
def review(
    ctx: typer.Context,
    correction: Annotated[
        str,
        typer.Argument(
            metavar="R3|list|show",
            help=_(
                "Correction to review (3, R3 or C3); `list` for those waiting; "
                "`show R3` to look at one first."
            ),
            callback=_review_subject,
            show_default=False,
        ),
    ],
    shown: Annotated[
        int | None,
        params.argument(
            read=params.correction_id,
            metavar="R3",
            help=_("With show: the correction to look at."),
        ),
    ] = None,
    actor: Annotated[
        str,
        params.option("--as", read=params.person, help=_("Staff ID of the reviewing officer.")),
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
        date | None,
        params.option(
            "--deadline", read=params.day, help=_("New deadline when rejecting, YYYY-MM-DD.")
        ),
    ] = None,
    folder: Annotated[
        Path | None,
        typer.Option(
            "--open",
            metavar=_("FOLDER"),
            help=_(
                "With show: copy the evidence files into this folder under their own names "
                "(a name already there gets a number)."
            ),
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help=_("With list: show at most this many."))
    ] = 50,
    wide: WideOption = False,
    output: FormatOption = None,
) -> None:
    """Accept or reject a correction report (整改反馈); `review list` shows those waiting."""
    context = app_context(ctx)
    if correction == "list":
        _list_pending(context, limit, actor, wide=wide, output=output)
        return
    if correction == "show":
        if shown is None:
            raise InvalidInput(N_("say which correction to show: review show R3"))
        show_correction(context, shown, viewer=actor, folder=folder)
        return
    if shown is not None:
        raise InvalidInput(N_("review one correction at a time"))
    if not actor:
        raise InvalidInput(N_("say who reviews with --as STAFF_ID"))
    if accept == reject:
        raise InvalidInput(N_("choose one: --accept or --reject --reason TEXT"))
    correction_id = int(correction)
    with context.session() as session:
        officer = get_person(session, staff_id=actor)
        report = get_rectification(session, rectification_id=correction_id)
        warning = review_rectification(
            session,
            rectification=report,
            actor=officer,
            accept=accept,
            clock=context.clock,
            note=reason,
            new_deadline=deadline,
            settings=context.settings,
        )
        values = {
            "id": correction_code(correction_id),
            "warning": warning_code(warning.id),
            "when": format_deadline(warning.deadline, context.settings.zone),
        }
    message = (
        _("Correction %(id)s accepted: warning %(warning)s is closed.")
        if accept
        else _(
            "Correction %(id)s rejected: warning %(warning)s is returned for a new correction, "
            "due %(when)s."
        )
    )
    context.console.print(message % values, highlight=False)


def _history_detail(entry: HistoryEntry) -> str:
    """What a step of a warning's history adds: the report, the files, colours, reason."""
    code = [correction_code(entry.correction_id)] if entry.correction_id is not None else []
    return _("; ").join([*code, *entry.notes(current_locale())])


def show_correction(
    context: AppContext, correction_id: int, *, viewer: str, folder: Path | None
) -> None:
    """Print a correction report, its warning, the warning's history and the evidence files;
    with ``folder``, copy the files there."""
    with context.session() as session:
        looking = get_person(session, staff_id=viewer) if viewer else None
        detail = correction_detail(
            session,
            correction_id=correction_id,
            data_dir=context.settings.DATA_DIR,
            viewer=looking,
        )
    row = detail.row
    correction, warning, person = row.correction, row.warning, row.person
    console = context.console
    review_state = _(correction_status_label(correction.status))
    if row.reviewer is not None and correction.reviewed_at is not None:
        review_state = _("%(state)s by %(name)s (%(staff_id)s) on %(when)s") % {
            "state": review_state,
            "name": row.reviewer.name,
            "staff_id": row.reviewer.staff_id,
            "when": _when(context, correction.reviewed_at),
        }
    about = table(
        _("Correction %(id)s on warning %(warning)s")
        % {"id": correction_code(correction.id), "warning": warning_code(warning.id)},
        _("Field"),
        _("Value"),
        show_header=False,
    )
    about.columns[-1].overflow = "fold"
    about.add_row(_("Person"), f"{person.name} ({person.staff_id})")
    about.add_row(_("Submitted"), _when(context, correction.submitted_at))
    about.add_row(_("Review"), review_state)
    if correction.review_note:
        about.add_row(_("Reason"), correction.review_note)
    about.add_row(_("What was done"), correction.description)
    console.print(about)

    issued = table(
        _("Warning %(warning)s") % {"warning": warning_code(warning.id)},
        _("Field"),
        _("Value"),
        show_header=False,
    )
    issued.columns[-1].overflow = "fold"
    issued.add_row(_("Colour"), _(warning.colour.label))
    issued.add_row(_("Form"), _(warning.form.label))
    issued.add_row(_("Status"), _(STATUS_LABELS[warning.status]))
    issued.add_row(_("Reason"), warning.reason)
    issued.add_row(
        _("Issued by"),
        f"{detail.issuer.name} ({detail.issuer.staff_id}), {_when(context, warning.created_at)}",
    )
    issued.add_row(_("Deadline"), format_deadline(warning.deadline, context.settings.zone))
    console.print(issued)

    history = table(_("History"), _("When"), _("Step"), _("By"), _("Details"))
    history.columns[-1].overflow = "fold"
    for entry in detail.history:
        history.add_row(
            _when(context, entry.at),
            _(entry.label),
            entry.actor.name if entry.actor is not None else _("the service"),
            _history_detail(entry),
        )
    console.print(history)

    if detail.evidence:
        files = table(_("Evidence"), _("File"), _("Type"), _("Size"))
        files.columns[0].overflow = "fold"
        for file in detail.evidence:
            name = file.name if file.present else _("%(name)s (missing)") % {"name": file.name}
            files.add_row(name, file.kind, human_size(file.size))
        console.print(files)
    else:
        console.print(_("No evidence files."), highlight=False)
    if folder is None:
        return
    try:
        copied = copy_out(detail.evidence, folder)
    except OSError as exc:
        raise InvalidInput(
            N_("cannot write %(file)s: %(error)s"),
            file=str(folder),
            error=exc.strerror or str(exc),
        ) from None
    done = [target for _file, target in copied if target is not None]
    console.print(
        ngettext(
            "Copied %(n)s file to %(folder)s:",
            "Copied %(n)s files to %(folder)s:",
            len(done),
        )
        % {"n": format_number(len(done)), "folder": str(folder)},
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    for file, target in copied:
        if target is None:
            context.err.print(
                "  " + _("%(name)s is missing from the evidence folder") % {"name": file.name},
                highlight=False,
                markup=False,
            )
        else:
            console.print(f"  {target}", highlight=False, markup=False, soft_wrap=True)
