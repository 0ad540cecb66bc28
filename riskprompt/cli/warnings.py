"""``riskprompt warn``, ``warnings list`` and ``withdraw``: warnings (预警) from the CLI."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated

import typer

from riskprompt.cli.common import app_context, reports_errors, table
from riskprompt.config.i18n import N_, _, format_number, format_when, ngettext
from riskprompt.context import AppContext
from riskprompt.models.errors import InvalidInput, NotFound
from riskprompt.models.listings import page_warnings
from riskprompt.models.queries import get_person, is_row_id
from riskprompt.models.warnings import (
    STATUS_LABELS,
    Warning,
    WarningStatus,
    issue_warning,
    parse_colour,
    parse_form,
    warning_subject,
    withdraw_warning,
)
from riskprompt.notifications.notices import expand_notices
from riskprompt.notifications.warnings import warning_deliveries

warnings_app = typer.Typer(help=_("Warnings (预警) and where they stand."), no_args_is_help=True)


def parse_deadline(value: str, context: AppContext) -> datetime:
    """``YYYY-MM-DD``: the end of that day in the configured time zone.

    Raises:
        InvalidInput: another format.
    """
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            N_("not a date %(value)r: write it as YYYY-MM-DD, e.g. 2026-12-24"), value=value
        ) from None
    return datetime.combine(day, time(23, 59, 59), tzinfo=context.settings.zone)


def _parse_status(value: str | None) -> WarningStatus | None:
    if value is None:
        return None
    try:
        return WarningStatus(value.strip().lower())
    except ValueError:
        raise InvalidInput(
            N_(
                "unknown status %(value)r: use issued, acknowledged, submitted, closed or withdrawn"
            ),
            value=value,
        ) from None


def _warning_id(value: str) -> int:
    text = value.strip()
    number = text[1:] if text[:1] in ("W", "w") else text
    if not is_row_id(number):
        raise InvalidInput(N_("not a warning number %(value)r: write 7 or W7"), value=value)
    return int(number)


def _when(context: AppContext, moment: datetime | None) -> str:
    return format_when(moment, context.settings.zone) if moment is not None else ""


@reports_errors
def warn(
    ctx: typer.Context,
    actor: Annotated[
        str,
        typer.Option("--as", help=_("Staff ID of the issuing officer."), show_default=False),
    ],
    colour: Annotated[
        str, typer.Option("--colour", help=_("yellow, orange or red."), show_default=False)
    ],
    form: Annotated[
        str,
        typer.Option(
            "--form",
            help=_(
                "prompt (warning prompt), admonish (admonishment) or correct (ordered correction)."
            ),
            show_default=False,
        ),
    ],
    reason: Annotated[
        str, typer.Option("--reason", help=_("Why the warning is issued."), show_default=False)
    ],
    person: Annotated[
        str | None,
        typer.Option("--person", help=_("Staff ID of the person warned."), show_default=False),
    ] = None,
    unit: Annotated[
        str | None,
        typer.Option("--unit", help=_("Unit id or name: its head is warned."), show_default=False),
    ] = None,
    risk_point: Annotated[
        int | None,
        typer.Option("--risk-point", help=_("The risk point concerned (id)."), show_default=False),
    ] = None,
    deadline: Annotated[
        str | None,
        typer.Option(
            "--deadline",
            help=_(
                "YYYY-MM-DD, the end of that day in the configured time zone "
                "(default: by colour, see WARNING_DEADLINE_DAYS_*)."
            ),
            show_default=False,
        ),
    ] = None,
) -> None:
    """Issue a warning (预警) to a person, or to a unit's head, and queue its messages."""
    context = app_context(ctx)
    if (person is None) == (unit is None):
        raise InvalidInput(N_("name the person warned with --person or --unit (one of them)"))
    chosen_colour = parse_colour(colour)
    chosen_form = parse_form(form)
    until = parse_deadline(deadline, context) if deadline else None
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
            deadline=until,
            risk_point_id=risk_point,
            clock=context.clock,
            settings=context.settings,
        )
        # The notices go out now, so the reply can say on which channels.
        expand_notices(session, now=context.clock.now(), settings=context.settings)
        deliveries = warning_deliveries(session, warning_id=warning.id or 0)
        channels = ", ".join(
            d.channel + (" " + _("(supervisor)") if d.person_id != subject.id else "")
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
            _("Deadline: %(when)s") % {"when": _when(context, warning.deadline)},
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
        str | None,
        typer.Option(
            "--status",
            help=_("issued, acknowledged, submitted, closed or withdrawn."),
            show_default=False,
        ),
    ] = None,
    colour: Annotated[
        str | None,
        typer.Option("--colour", help=_("yellow, orange or red."), show_default=False),
    ] = None,
    person: Annotated[
        str | None,
        typer.Option("--person", help=_("Staff ID of the person warned."), show_default=False),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help=_("Show at most this many warnings."))
    ] = 50,
    viewer: Annotated[
        str | None,
        typer.Option(
            "--as",
            help=_("Staff ID of who looks: an officer sees their supervision scope only."),
            show_default=False,
        ),
    ] = None,
) -> None:
    """List warnings, newest first."""
    context = app_context(ctx)
    wanted_status = _parse_status(status)
    wanted_colour = parse_colour(colour) if colour else None
    with context.session() as session:
        person_id = get_person(session, staff_id=person).id if person else None
        looking = get_person(session, staff_id=viewer) if viewer else None
        page = page_warnings(
            session,
            viewer=looking,
            status=wanted_status,
            colour=wanted_colour,
            person_id=person_id,
            limit=limit,
        )
    out = table(
        _("Warnings"),
        _("ID"),
        _("Person"),
        _("Colour"),
        _("Form"),
        _("Status"),
        _("Deadline"),
        _("Issued by"),
        _("Created"),
    )
    for row in page.rows:
        warning = row.warning
        out.add_row(
            f"W{warning.id}",
            f"{row.person.name} ({row.person.staff_id})",
            _(warning.colour.label),
            _(warning.form.label),
            _(STATUS_LABELS[warning.status]),
            _when(context, warning.deadline),
            row.issuer.name,
            _when(context, warning.created_at),
        )
    context.console.print(out)
    context.console.print(
        ngettext("%(n)s warning", "%(n)s warnings", page.total) % {"n": format_number(page.total)},
        highlight=False,
    )


@reports_errors
def withdraw(
    ctx: typer.Context,
    warning_ref: Annotated[
        str, typer.Argument(metavar="WARNING_ID", help=_("Warning number (7 or W7)."))
    ],
    actor: Annotated[
        str,
        typer.Option("--as", help=_("Staff ID of the officer withdrawing it."), show_default=False),
    ],
    reason: Annotated[
        str, typer.Option("--reason", help=_("Why it is withdrawn."), show_default=False)
    ],
) -> None:
    """Withdraw an open warning; its messages not sent yet are cancelled."""
    context = app_context(ctx)
    warning_id = _warning_id(warning_ref)
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
