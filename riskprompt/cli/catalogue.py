"""``db``, ``units``, ``posts`` and ``people``: the schema, the catalogue and the people."""

from __future__ import annotations

from typing import Annotated

import typer

from riskprompt.cli import params
from riskprompt.cli.common import app_context, reports_errors, table
from riskprompt.cli.listing import Column, FormatOption, Listing, WideOption, show
from riskprompt.config.i18n import LANGUAGE_NAMES, _, format_number
from riskprompt.models.catalog import RiskLevel, join_measures
from riskprompt.models.db import current_revision, head_revision, upgrade
from riskprompt.models.people import Person, Role
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

db_app = typer.Typer(help=_("Create or migrate the database schema."), no_args_is_help=True)
units_app = typer.Typer(help=_("Units (单位)."), no_args_is_help=True)
posts_app = typer.Typer(help=_("Posts (岗位) and their risk points."), no_args_is_help=True)
people_app = typer.Typer(help=_("People and the posts they hold."), no_args_is_help=True)


def channel_names(person: Person) -> str:
    """The person's channels in order of preference, in the reader's words."""
    return _(", ").join(_(channel.label) for channel in person.channel_preference)


def register(app: typer.Typer) -> None:
    """Add the db, units, posts and people groups to ``app``."""
    app.add_typer(db_app, name="db")
    app.add_typer(units_app, name="units")
    app.add_typer(posts_app, name="posts")
    app.add_typer(people_app, name="people")


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
def units_list(
    ctx: typer.Context,
    wide: WideOption = False,
    output: FormatOption = None,
) -> None:
    """List the units with their posts and people."""
    context = app_context(ctx)
    with context.session() as session:
        rows = list_units(session)
    listing = Listing(
        _("Units"),
        [
            Column("id", _("ID")),
            Column("unit", _("Unit")),
            Column("parent", _("Parent unit"), keep=1),
            Column("posts", _("Posts"), keep=2, numeric=True),
            Column("people", _("People"), keep=2, numeric=True),
        ],
        context.settings.zone,
    )
    for row in rows:
        listing.add(row.unit.id, row.unit.name, row.parent or "", row.posts, row.people)
    note = _("%(n)s units") % {"n": format_number(len(rows))}
    show(listing, context.console, wide=wide, form=output, err=context.err, notes=[note])


@posts_app.command("list", help=_("List posts with their risk points per level (高/中/低)."))
@reports_errors
def posts_list(
    ctx: typer.Context,
    unit: Annotated[
        str | None, params.option("--unit", read=params.unit, help=_("Unit id or name."))
    ] = None,
    level: Annotated[
        RiskLevel | None,
        params.option(
            "--level", read=params.level, help=_("Only posts with a risk point of this level.")
        ),
    ] = None,
    wide: WideOption = False,
    output: FormatOption = None,
) -> None:
    """List posts with their risk points per level (高/中/低)."""
    context = app_context(ctx)
    risk_level = level
    with context.session() as session:
        unit_id = resolve_unit(session, ref=unit).id if unit else None
        rows = list_posts(session, unit_id=unit_id, level=risk_level)
    listing = Listing(
        _("Posts"),
        [
            Column("id", _("ID")),
            Column("unit", _("Unit"), keep=1),
            Column("post", _("Post")),
            Column("high", _("High"), numeric=True),
            Column("medium", _("Medium"), numeric=True),
            Column("low", _("Low"), numeric=True),
        ],
        context.settings.zone,
    )
    for row in rows:
        listing.add(row.post.id, row.unit, row.post.name, row.high, row.medium, row.low)
    note = _("%(n)s posts") % {"n": format_number(len(rows))}
    show(listing, context.console, wide=wide, form=output, err=context.err, notes=[note])


@people_app.command("list", help=_("List people with their unit, role and channels."))
@reports_errors
def people_list(
    ctx: typer.Context,
    unit: Annotated[
        str | None, params.option("--unit", read=params.unit, help=_("Unit id or name."))
    ] = None,
    role: Annotated[
        Role | None,
        params.option("--role", read=params.role, help=_("staff, officer or admin.")),
    ] = None,
    viewer: params.ViewerOption = None,
    wide: WideOption = False,
    output: FormatOption = None,
) -> None:
    """List people with their unit, role and channels."""
    context = app_context(ctx)
    person_role = role
    with context.session() as session:
        unit_id = resolve_unit(session, ref=unit).id if unit else None
        looking = get_person(session, staff_id=viewer) if viewer else None
        rows = list_people(session, unit_id=unit_id, role=person_role, viewer=looking)
    listing = Listing(
        _("People"),
        [
            Column("staff_id", _("Staff ID")),
            Column("name", _("Name")),
            Column("unit", _("Unit"), keep=1),
            Column("role", _("Role"), keep=2),
            Column("channels", _("Channels"), keep=3),
            Column("locale", _("Language"), keep=4),
        ],
        context.settings.zone,
    )
    for person, unit_name in rows:
        listing.add(
            person.staff_id,
            person.name,
            unit_name,
            _(person.role.label),
            channel_names(person),
            LANGUAGE_NAMES.get(person.locale, person.locale),
        )
    note = _("%(n)s people") % {"n": format_number(len(rows))}
    show(listing, context.console, wide=wide, form=output, err=context.err, notes=[note])


@people_app.command(
    "show", help=_("Show one person, the posts they hold and those posts' risk points.")
)
@reports_errors
def people_show(
    ctx: typer.Context,
    staff_id: Annotated[str, params.argument(read=params.person, help=_("Staff ID (工号)."))],
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
    details.add_row(_("Channels"), channel_names(person))
    details.add_row(_("SMS opt-out"), _("yes") if person.sms_opt_out else _("no"))
    details.add_row(_("Language"), LANGUAGE_NAMES.get(person.locale, person.locale))
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
