"""The root command and the catalogue and people listings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from riskprompt.cli.common import app_context, reports_errors, table
from riskprompt.config.i18n import _, format_number, set_locale
from riskprompt.config.settings import SettingsError, load_settings
from riskprompt.context import AppContext
from riskprompt.models.catalog import RiskLevel, join_measures
from riskprompt.models.db import current_revision, head_revision, upgrade
from riskprompt.models.errors import InvalidInput
from riskprompt.models.people import Role
from riskprompt.models.queries import (
    get_person,
    list_people,
    list_posts,
    list_units,
    posts_held,
    resolve_unit,
    risk_points_of,
)
from riskprompt.models.scope import supervised_units

app = typer.Typer(
    name="riskprompt",
    help=_("Post power risk prevention: risk prompts, warnings and corrections."),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help=_("Create or migrate the database schema."), no_args_is_help=True)
units_app = typer.Typer(help=_("Units (单位)."), no_args_is_help=True)
posts_app = typer.Typer(help=_("Posts (岗位) and their risk points."), no_args_is_help=True)
people_app = typer.Typer(help=_("People and the posts they hold."), no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(units_app, name="units")
app.add_typer(posts_app, name="posts")
app.add_typer(people_app, name="people")


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help=_("TOML settings file (or RISKPROMPT_CONFIG)."), show_default=False
        ),
    ] = None,
    locale: Annotated[
        str | None,
        typer.Option(
            "--locale", help=_("Language of the output: zh_CN or en."), show_default=False
        ),
    ] = None,
) -> None:
    """Load the settings once for every command."""
    overrides = {"LOCALE": locale} if locale else {}
    try:
        settings = load_settings(config, **overrides)
    except SettingsError as exc:
        set_locale(locale)
        typer.echo(_("Invalid setting") + f" {exc.message(_)}", err=True)
        raise typer.Exit(2) from None
    set_locale(settings.LOCALE)
    context = AppContext(settings=settings)
    ctx.obj = context
    ctx.call_on_close(context.close)


@db_app.command("upgrade", help=_("Create the schema, or migrate it to this version."))
@reports_errors
def db_upgrade(ctx: typer.Context) -> None:
    """Create the schema, or migrate it to this version."""
    context = app_context(ctx)
    before = current_revision(context.engine)
    upgrade(context.settings.DATABASE_URL)
    after = head_revision()
    if before == after:
        context.console.print(_("The database is up to date (revision %(rev)s).") % {"rev": after})
    else:
        context.console.print(
            _("Migrated the database from %(before)s to %(after)s.")
            % {"before": before or _("empty"), "after": after}
        )


@db_app.command("current", help=_("Show the schema revision of the database and of this version."))
@reports_errors
def db_current(ctx: typer.Context) -> None:
    """Show the schema revision of the database and of this version."""
    context = app_context(ctx)
    context.console.print(
        _("Database: %(current)s; this version: %(head)s")
        % {"current": current_revision(context.engine) or _("empty"), "head": head_revision()}
    )


@units_app.command("list", help=_("List the units with their posts and people."))
@reports_errors
def units_list(ctx: typer.Context) -> None:
    """List the units with their posts and people."""
    context = app_context(ctx)
    with context.session() as session:
        rows = list_units(session)
    out = table(_("Units"), _("ID"), _("Unit"), _("Parent unit"), _("Posts"), _("People"))
    for row in rows:
        out.add_row(
            str(row.unit.id),
            row.unit.name,
            row.parent or "",
            format_number(row.posts),
            format_number(row.people),
        )
    context.console.print(out)
    context.console.print(_("%(n)s units") % {"n": format_number(len(rows))})


def _parse_level(value: str | None) -> RiskLevel | None:
    return RiskLevel.parse(value) if value else None


def _parse_role(value: str | None) -> Role | None:
    return Role.parse(value) if value else None


@posts_app.command("list", help=_("List posts with their risk points per level (高/中/低)."))
@reports_errors
def posts_list(
    ctx: typer.Context,
    unit: Annotated[
        str | None, typer.Option("--unit", help=_("Unit id or name."), show_default=False)
    ] = None,
    level: Annotated[
        str | None,
        typer.Option(
            "--level", help=_("Only posts with a risk point of this level."), show_default=False
        ),
    ] = None,
) -> None:
    """List posts with their risk points per level (高/中/低)."""
    context = app_context(ctx)
    risk_level = _parse_level(level)
    with context.session() as session:
        unit_id = resolve_unit(session, ref=unit).id if unit else None
        rows = list_posts(session, unit_id=unit_id, level=risk_level)
    out = table(_("Posts"), _("ID"), _("Unit"), _("Post"), _("High"), _("Medium"), _("Low"))
    for row in rows:
        out.add_row(
            str(row.post.id),
            row.unit,
            row.post.name,
            format_number(row.high),
            format_number(row.medium),
            format_number(row.low),
        )
    context.console.print(out)
    context.console.print(_("%(n)s posts") % {"n": format_number(len(rows))})


@people_app.command("list", help=_("List people with their unit, role and channels."))
@reports_errors
def people_list(
    ctx: typer.Context,
    unit: Annotated[
        str | None, typer.Option("--unit", help=_("Unit id or name."), show_default=False)
    ] = None,
    role: Annotated[
        str | None,
        typer.Option("--role", help=_("staff, officer or admin."), show_default=False),
    ] = None,
    viewer: Annotated[
        str | None,
        typer.Option(
            "--as",
            help=_("Staff ID of who looks: an officer sees their supervision scope only."),
            show_default=False,
        ),
    ] = None,
) -> None:
    """List people with their unit, role and channels."""
    context = app_context(ctx)
    person_role = _parse_role(role)
    with context.session() as session:
        unit_id = resolve_unit(session, ref=unit).id if unit else None
        looking = get_person(session, staff_id=viewer) if viewer else None
        rows = list_people(session, unit_id=unit_id, role=person_role, viewer=looking)
    out = table(
        _("People"), _("Staff ID"), _("Name"), _("Unit"), _("Role"), _("Channels"), _("Language")
    )
    for person, unit_name in rows:
        out.add_row(
            person.staff_id,
            person.name,
            unit_name,
            _(person.role.label),
            person.channels,
            person.locale,
        )
    context.console.print(out)
    context.console.print(_("%(n)s people") % {"n": format_number(len(rows))})


@people_app.command(
    "show", help=_("Show one person, the posts they hold and those posts' risk points.")
)
@reports_errors
def people_show(
    ctx: typer.Context,
    staff_id: Annotated[str, typer.Argument(help=_("Staff ID (工号)."), show_default=False)],
) -> None:
    """Show one person, the posts they hold and those posts' risk points."""
    context = app_context(ctx)
    today = context.clock.now().astimezone(context.settings.zone).date()
    with context.session() as session:
        person = get_person(session, staff_id=staff_id)
        unit = resolve_unit(session, ref=str(person.unit_id))
        supervisor = (
            session.get(type(person), person.supervisor_id) if person.supervisor_id else None
        )
        posts = posts_held(session, person_id=person.id or 0, on=today)
        points = {post.id: risk_points_of(session, post_id=post.id or 0) for post in posts}
        scope = supervised_units(session, officer=person) if person.is_officer else []
    console = context.console
    details = table(f"{person.name} ({person.staff_id})", _("Field"), _("Value"), show_header=False)
    details.add_row(_("Unit"), unit.name)
    details.add_row(_("Role"), _(person.role.label))
    details.add_row(
        _("Supervisor"), f"{supervisor.name} ({supervisor.staff_id})" if supervisor else ""
    )
    details.add_row(_("Mobile"), person.mobile or "")
    details.add_row(_("Email"), person.email or "")
    details.add_row(_("Telegram"), _("bound") if person.telegram_chat_id else _("not bound"))
    details.add_row(_("Channels"), person.channels)
    details.add_row(_("SMS opt-out"), _("yes") if person.sms_opt_out else _("no"))
    details.add_row(_("Language"), person.locale)
    details.add_row(_("Time zone"), person.timezone)
    if person.is_officer:
        names = "；".join(u.name for u in scope or [])
        within = _("%(units)s (with their sub-units)") % {"units": names}
        details.add_row(_("Supervision scope"), _("every unit") if scope is None else within)
    console.print(details)
    for post in posts:
        out = table(
            _("Post: %(post)s") % {"post": post.name}, _("Level"), _("Risk point"), _("Measures")
        )
        for point in points[post.id]:
            out.add_row(_(point.level.label), point.description, join_measures(point.measures))
        console.print(out)
    if not posts:
        console.print(_("Holds no post today."))


def _register() -> None:
    # Imported here so that each command module stays small and owns its commands.
    from riskprompt.cli import audit, chat, dispatch, prompts, transfer, web
    from riskprompt.cli import demo as demo_command
    from riskprompt.cli import doctor as doctor_command
    from riskprompt.cli import report as report_command
    from riskprompt.cli import run as run_command
    from riskprompt.cli import tick as tick_command
    from riskprompt.cli import warnings as warnings_command

    transfer.register(app)
    audit.register(app)
    prompts.register(app)
    dispatch.register(app)
    web.register(app)
    chat.register(app, people_app)
    demo_command.register(app)
    report_command.register(app)
    tick_command.register(app)
    run_command.register(app)
    doctor_command.register(app)
    warnings_command.register(app)


_register()

__all__ = ["AppContext", "InvalidInput", "app"]
