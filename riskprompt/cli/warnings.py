"""``riskprompt warn``, ``warnings list`` and ``withdraw``: warnings (预警) from the CLI."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer

from riskprompt.cli import params
from riskprompt.cli.common import app_context, reports_errors
from riskprompt.cli.listing import Column, FormatOption, Listing, WideOption, show
from riskprompt.config.i18n import (
    N_,
    _,
    format_deadline,
    format_list,
    format_number,
    format_when,
    ngettext,
)
from riskprompt.context import AppContext
from riskprompt.models.errors import InvalidInput, NotFound
from riskprompt.models.listings import page_warnings
from riskprompt.models.people import Channel
from riskprompt.models.queries import get_person
from riskprompt.models.warnings import (
    STATUS_LABELS,
    Warning,
    WarningColour,
    WarningForm,
    WarningStatus,
    issue_warning,
    warning_subject,
    withdraw_warning,
)
from riskprompt.notifications.notices import expand_notices
from riskprompt.notifications.warnings import warning_deliveries

warnings_app = typer.Typer(help=_("Warnings (预警) and where they stand."), no_args_is_help=True)


def _when(context: AppContext, moment: datetime | None) -> str:
    return format_when(moment, context.settings.zone) if moment is not None else ""


@reports_errors
def warn(
    ctx: typer.Context,
    actor: Annotated[
        str, params.option("--as", read=params.person, help=_("Staff ID of the issuing officer."))
    ],
    colour: Annotated[
        WarningColour,
        params.option("--colour", read=params.colour, help=_("yellow, orange or red.")),
    ],
    form: Annotated[
        WarningForm,
        params.option(
            "--form",
            read=params.form,
            help=_(
                "prompt (warning prompt), admonish (admonishment) or correct (ordered correction)."
            ),
        ),
    ],
    reason: Annotated[
        str, typer.Option("--reason", help=_("Why the warning is issued."), show_default=False)
    ],
    person: Annotated[
        str | None,
        params.option("--person", read=params.person, help=_("Staff ID of the person warned.")),
    ] = None,
    unit: Annotated[
        str | None,
        params.option("--unit", read=params.unit, help=_("Unit id or name: its head is warned.")),
    ] = None,
    risk_point: Annotated[
        int | None,
        typer.Option("--risk-point", help=_("The risk point concerned (id)."), show_default=False),
    ] = None,
    deadline: Annotated[
        date | None,
        params.option(
            "--deadline",
            read=params.day,
            help=_(
                "YYYY-MM-DD, the end of that day in the configured time zone "
                "(default: by colour, see WARNING_DEADLINE_DAYS_*)."
            ),
        ),
    ] = None,
) -> None:
    """Issue a warning (预警) to a person, or to a unit's head, and queue its messages."""
    context = app_context(ctx)
    if (person is None) == (unit is None):
        raise InvalidInput(N_("name the person warned with --person or --unit (one of them)"))
    chosen_colour, chosen_form = colour, form  # read by their options
    with context.session() as session:
        officer = get_person(session, staff_id=actor)
        subject = warning_subject(session, staff_id=person, unit_ref=unit)
        warning = issue_warning(
            session,
            actor=officer,
            person=subject,
            colour=chosen_colour,
            form=chosen_form,
            reason=reason,
            deadline=deadline,
            risk_point_id=risk_point,
            clock=context.clock,
            settings=context.settings,
        )
        # The notices go out now, so the reply can say on which channels.
        expand_notices(session, now=context.clock.now(), settings=context.settings)
        deliveries = warning_deliveries(session, warning_id=warning.id or 0)
        channels = format_list(
            _(Channel(d.channel).label)
            if d.person_id == subject.id
            else _("%(channel)s (supervisor)") % {"channel": _(Channel(d.channel).label)}
            for d in deliveries
        )
        lines = [
            _("Warning W%(id)s issued to %(name)s (%(staff_id)s): %(colour)s, %(form)s.")
            % {
                "id": warning.id,
                "name": subject.name,
                "staff_id": subject.staff_id,
                "colour": _(chosen_colour.label),
                "form": _(chosen_form.label),
            },
            _("Deadline: %(when)s")
            % {"when": format_deadline(warning.deadline, context.settings.zone)},
            ngettext(
                "%(n)s delivery queued: %(channels)s",
                "%(n)s deliveries queued: %(channels)s",
                len(deliveries),
            )
            % {"n": format_number(len(deliveries)), "channels": channels or "-"},
        ]
    for line in lines:
        context.console.print(line, highlight=False)
    if not deliveries:
        context.err.print(
            _("Nobody can be reached: the person has no reachable channel."), highlight=False
        )


@warnings_app.command("list", help=_("List warnings, newest first."))
@reports_errors
def warnings_list(
    ctx: typer.Context,
    status: Annotated[
        WarningStatus | None,
        params.option(
            "--status",
            read=params.warning_status,
            help=_("issued, acknowledged, returned, submitted, closed or withdrawn."),
        ),
    ] = None,
    colour: Annotated[
        WarningColour | None,
        params.option("--colour", read=params.colour, help=_("yellow, orange or red.")),
    ] = None,
    person: Annotated[
        str | None,
        params.option("--person", read=params.person, help=_("Staff ID of the person warned.")),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help=_("Show at most this many warnings."))
    ] = 50,
    viewer: params.ViewerOption = None,
    wide: WideOption = False,
    output: FormatOption = None,
) -> None:
    """List warnings, newest first."""
    context = app_context(ctx)
    with context.session() as session:
        person_id = get_person(session, staff_id=person).id if person else None
        looking = get_person(session, staff_id=viewer) if viewer else None
        page = page_warnings(
            session,
            viewer=looking,
            status=status,
            colour=colour,
            person_id=person_id,
            limit=limit,
        )
    listing = Listing(
        _("Warnings"),
        [
            Column("id", _("ID")),
            Column("person", _("Person")),
            Column("colour", _("Colour")),
            Column("status", _("Status")),
            Column("deadline", _("Deadline"), keep=1, day=True),
            Column("issued_by", _("Issued by"), keep=2),
            Column("form", _("Form"), keep=3),
            Column("created", _("Created"), keep=4),
        ],
        context.settings.zone,
    )
    for row in page.rows:
        warning = row.warning
        listing.add(
            f"W{warning.id}",
            f"{row.person.name} ({row.person.staff_id})",
            _(warning.colour.label),
            _(STATUS_LABELS[warning.status]),
            warning.deadline,
            row.issuer.name,
            _(warning.form.label),
            warning.created_at,
        )
    show(
        listing,
        context.console,
        wide=wide,
        form=output,
        err=context.err,
        notes=[
            ngettext("%(n)s warning", "%(n)s warnings", page.total)
            % {"n": format_number(page.total)}
        ],
    )


@reports_errors
def withdraw(
    ctx: typer.Context,
    warning_id: Annotated[
        int,
        params.argument(
            read=params.warning_id, metavar="WARNING_ID", help=_("Warning number (7 or W7).")
        ),
    ],
    actor: Annotated[
        str,
        params.option(
            "--as", read=params.person, help=_("Staff ID of the officer withdrawing it.")
        ),
    ],
    reason: Annotated[
        str, typer.Option("--reason", help=_("Why it is withdrawn."), show_default=False)
    ],
) -> None:
    """Withdraw an open warning; its messages not sent yet are cancelled."""
    context = app_context(ctx)
    with context.session() as session:
        officer = get_person(session, staff_id=actor)
        warning = session.get(Warning, warning_id)
        if warning is None:
            raise NotFound(N_("no warning %(id)s"), id=warning_id)
        cancelled = withdraw_warning(
            session, warning=warning, actor=officer, clock=context.clock, reason=reason
        )
    context.console.print(
        ngettext(
            "Warning W%(id)s withdrawn; %(n)s message not sent yet was cancelled.",
            "Warning W%(id)s withdrawn; %(n)s messages not sent yet were cancelled.",
            cancelled,
        )
        % {"id": warning_id, "n": format_number(cancelled)},
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("warn", help=_("Issue a warning (预警) to a person, or to a unit's head."))(warn)
    app.add_typer(warnings_app, name="warnings")
    app.command("withdraw", help=_("Withdraw an open warning."))(withdraw)
