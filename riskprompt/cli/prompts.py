"""``riskprompt focus``, ``cycle run``, ``remind``, ``prompts list`` and ``prompts cancel``."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated

import typer

from riskprompt.cli import params
from riskprompt.cli.common import app_context, reports_errors, table
from riskprompt.cli.listing import Column, FormatOption, Listing, WideOption, show
from riskprompt.config.i18n import N_, _, format_number, format_when, ngettext
from riskprompt.context import AppContext
from riskprompt.models.cancel import Cancellation, cancel_prompts
from riskprompt.models.errors import InvalidInput
from riskprompt.models.listings import count_prompts, list_focus, page_prompts
from riskprompt.models.monthly import set_focus
from riskprompt.models.people import CHANNEL_LABELS
from riskprompt.models.periods import current_period
from riskprompt.models.prompts import BroadcastStatus, PromptKind, PromptStatus
from riskprompt.models.queries import get_person, resolve_unit
from riskprompt.models.targets import describe_target
from riskprompt.notifications.planning import (
    Reach,
    issue_and_expand,
    plan_monthly_cycle,
    preview_monthly_cycle,
    preview_special_prompt,
)

focus_app = typer.Typer(help=_("The month's key work (重点工作)."), no_args_is_help=True)
cycle_app = typer.Typer(help=_("The monthly risk prompt cycle."), no_args_is_help=True)
prompts_app = typer.Typer(
    help=_("Risk prompts (风险提示) and where they stand."), no_args_is_help=True
)


def _when(context: AppContext, moment: datetime | None) -> str:
    if moment is None:
        return ""
    return format_when(moment, context.settings.zone)


@focus_app.command(
    "set", help=_("Set the month's key work, for every unit or for one unit and its sub-units.")
)
@reports_errors
def focus_set(
    ctx: typer.Context,
    period: Annotated[str, params.argument(read=params.period, help=_("Period, YYYY-MM."))],
    text: Annotated[str, typer.Argument(help=_("The key work."), show_default=False)],
    actor: Annotated[
        str,
        params.option("--as", read=params.person, help=_("Staff ID of the officer setting it.")),
    ],
    unit: Annotated[
        str | None,
        params.option("--unit", read=params.unit, help=_("Unit id or name (default: every unit).")),
    ] = None,
) -> None:
    """Set the month's key work, for every unit or for one unit and its sub-units."""
    context = app_context(ctx)
    with context.session() as session:
        officer = get_person(session, staff_id=actor)
        target = resolve_unit(session, ref=unit) if unit else None
        focus = set_focus(
            session,
            actor=officer,
            period=period,
            text=text,
            unit_id=target.id if target else None,
            clock=context.clock,
        )
        where = target.name if target else _("every unit")
        context.console.print(
            _("Key work for %(period)s (%(unit)s) set: %(text)s")
            % {"period": focus.period, "unit": where, "text": focus.text},
            highlight=False,
        )


@focus_app.command("list", help=_("List the key work set, newest period first."))
@reports_errors
def focus_list(
    ctx: typer.Context,
    period: Annotated[
        str | None, params.option("--period", read=params.period, help=_("Period, YYYY-MM."))
    ] = None,
    wide: WideOption = False,
    output: FormatOption = None,
) -> None:
    """List the key work set, newest period first."""
    context = app_context(ctx)
    with context.session() as session:
        rows = list_focus(session, period=period)
    listing = Listing(
        _("Key work"),
        [
            Column("period", _("Period")),
            Column("unit", _("Unit")),
            Column("text", _("Key work"), wraps=True),
            Column("set_by", _("Set by"), keep=1),
            Column("updated", _("Updated"), keep=2),
        ],
        context.settings.zone,
    )
    for row in rows:
        listing.add(
            row.focus.period,
            row.unit or _("every unit"),
            row.focus.text,
            row.set_by,
            row.focus.updated_at,
        )
    show(listing, context.console, wide=wide, form=output, err=context.err)


#: A dry run lists the people reached when there are at most this many (or with --wide).
LIST_LIMIT = 20

DryRunOption = Annotated[
    bool,
    typer.Option("--dry-run", help=_("Show whom it would reach, on which channel; write nothing.")),
]
ReachWideOption = Annotated[
    bool, typer.Option("--wide", help=_("With --dry-run: list every person, however many."))
]


def print_reach(context: AppContext, reach: Reach, *, wide: bool) -> None:
    """Recipients × channels of a dry run: the counts, and the people when few (or ``wide``)."""
    console = context.console
    console.print(_("Dry run: nothing was written."), highlight=False)
    console.print(
        "  "
        + ngettext(
            "%(n)s person would get %(prompts)s prompt(s)",
            "%(n)s people would get %(prompts)s prompt(s)",
            reach.people,
        )
        % {"n": format_number(reach.people), "prompts": format_number(reach.prompts)},
        highlight=False,
    )
    counts = ", ".join(
        f"{_(CHANNEL_LABELS[channel])} {format_number(n)}"
        for channel, n in reach.by_channel.items()
    )
    console.print("  " + _("messages by channel: %(counts)s") % {"counts": counts}, highlight=False)
    console.print(
        "  "
        + _("people with no reachable channel: %(n)s") % {"n": format_number(reach.unreachable)},
        highlight=False,
    )
    if reach.present:
        console.print(
            "  " + _("already there: %(n)s") % {"n": format_number(reach.present)},
            highlight=False,
        )
    if not reach.rows:
        return
    shown = reach.rows if wide or reach.people <= LIST_LIMIT else reach.rows[:LIST_LIMIT]
    out = table(_("Recipients"), _("Staff ID"), _("Name"), _("Channel"), _("Messages"))
    for row in shown:
        out.add_row(
            row.staff_id,
            row.name,
            _(CHANNEL_LABELS[row.channel]) if row.channel is not None else _("none"),
            format_number(row.messages),
        )
    console.print(out)
    if len(shown) < reach.people:
        console.print(
            _("%(n)s more not listed: add --wide to list everyone.")
            % {"n": format_number(reach.people - len(shown))},
            highlight=False,
        )


@cycle_app.command(
    "run", help=_("Plan the month's risk prompts and queue their deliveries (safe to run again).")
)
@reports_errors
def cycle_run(
    ctx: typer.Context,
    period: Annotated[
        str | None,
        params.option(
            "--period", read=params.period, help=_("Period, YYYY-MM (default: this month).")
        ),
    ] = None,
    dry_run: DryRunOption = False,
    wide: ReachWideOption = False,
    force: Annotated[
        bool,
        typer.Option("--force", help=_("Plan a period more than one month ahead all the same.")),
    ] = False,
) -> None:
    """Plan the month's risk prompts and queue their deliveries (safe to run again)."""
    context = app_context(ctx)
    chosen = period or current_period(clock=context.clock, settings=context.settings)
    console = context.console
    if dry_run:
        with context.session() as session:
            reach = preview_monthly_cycle(
                session, period=chosen, clock=context.clock, settings=context.settings, force=force
            )
        console.print(_("Monthly cycle %(period)s:") % {"period": chosen}, highlight=False)
        print_reach(context, reach, wide=wide)
        return
    result = plan_monthly_cycle(
        context.ready_engine(),
        period=chosen,
        clock=context.clock,
        settings=context.settings,
        force=force,
    )
    console.print(_("Monthly cycle %(period)s:") % {"period": result.period}, highlight=False)
    for line, count in (
        (_("prompts created: %(n)s"), result.prompts_created),
        (_("already there: %(n)s"), result.prompts_present),
        (_("deliveries queued: %(n)s"), result.deliveries_created),
        (_("people with no reachable channel: %(n)s"), result.unreachable),
    ):
        console.print("  " + line % {"n": format_number(count)}, highlight=False)


@reports_errors
def remind(
    ctx: typer.Context,
    actor: Annotated[
        str, params.option("--as", read=params.person, help=_("Staff ID of the issuing officer."))
    ],
    to: Annotated[
        str,
        params.option(
            "--to",
            read=params.target,
            help=_(
                "Target: person:STAFF_ID, post:ID, unit:ID (unit:ID+ with sub-units), "
                "level:high|medium|low or all."
            ),
        ),
    ],
    text: Annotated[str, typer.Option("--text", help=_("What to say."), show_default=False)],
    at: Annotated[
        datetime | None,
        params.option(
            "--at",
            read=params.moment,
            help=_("When to send it, YYYY-MM-DD HH:MM in the configured time zone (default: now)."),
        ),
    ] = None,
    no_ack: Annotated[
        bool, typer.Option("--no-ack", help=_("Ask for no acknowledgement."))
    ] = False,
    dry_run: DryRunOption = False,
    wide: ReachWideOption = False,
    force: Annotated[
        bool, typer.Option("--force", help=_("A time in the past: send it now all the same."))
    ] = False,
) -> None:
    """Issue a special prompt (特别提示), now or at a given time."""
    context = app_context(ctx)
    when = at
    with context.session() as session:
        officer = get_person(session, staff_id=actor)
        if dry_run:
            reach = preview_special_prompt(
                session,
                actor=officer,
                target=to,
                text=text,
                at=when,
                requires_ack=not no_ack,
                force=force,
                clock=context.clock,
                settings=context.settings,
            )
            session.rollback()
            context.console.print(
                _("Special prompt to %(target)s, at %(when)s:")
                % {
                    "target": describe_target(session, to, _),
                    "when": _when(context, reach.due_at),
                },
                highlight=False,
            )
            print_reach(context, reach, wide=wide)
            return
        broadcast = issue_and_expand(
            session,
            actor=officer,
            target=to,
            text=text,
            at=when,
            requires_ack=not no_ack,
            force=force,
            clock=context.clock,
            settings=context.settings,
        )
        if broadcast.status == BroadcastStatus.EXPANDED:
            message = ngettext(
                "Special prompt %(id)s sent to %(target)s: %(n)s prompt.",
                "Special prompt %(id)s sent to %(target)s: %(n)s prompts.",
                broadcast.prompt_count,
            ) % {
                "id": broadcast.id,
                "target": describe_target(session, broadcast.target, _),
                "n": format_number(broadcast.prompt_count),
            }
        else:
            message = _("Special prompt %(id)s to %(target)s scheduled for %(when)s.") % {
                "id": broadcast.id,
                "target": describe_target(session, broadcast.target, _),
                "when": _when(context, broadcast.due_at),
            }
    context.console.print(message, highlight=False)


@prompts_app.command("list", help=_("List risk prompts, newest first, with counts by status."))
@reports_errors
def prompts_list(
    ctx: typer.Context,
    period: Annotated[
        str | None, params.option("--period", read=params.period, help=_("Period, YYYY-MM."))
    ] = None,
    status: Annotated[
        PromptStatus | None,
        params.option(
            "--status", read=params.prompt_status, help=_("open, acknowledged or cancelled.")
        ),
    ] = None,
    unit: Annotated[
        str | None,
        params.option("--unit", read=params.unit, help=_("Unit id or name of the readers.")),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help=_("Show at most this many prompts."))
    ] = 50,
    viewer: params.ViewerOption = None,
    wide: WideOption = False,
    output: FormatOption = None,
) -> None:
    """List risk prompts, newest first, with counts by status."""
    context = app_context(ctx)
    wanted = status
    with context.session() as session:
        unit_id = resolve_unit(session, ref=unit).id if unit else None
        looking = get_person(session, staff_id=viewer) if viewer else None
        page = page_prompts(
            session, viewer=looking, period=period, status=wanted, unit_id=unit_id, limit=limit
        )
        counted = count_prompts(
            session, viewer=looking, period=period, status=wanted, unit_id=unit_id
        )
    listing = Listing(
        _("Prompts"),
        [
            Column("id", _("ID")),
            Column("person", _("Person")),
            Column("status", _("Status")),
            Column("period", _("Period / kind"), keep=1),
            Column("post", _("Post"), keep=2, wraps=True),
            Column("acknowledged", _("Acknowledged"), keep=3),
            Column("created", _("Created"), keep=4),
        ],
        context.settings.zone,
    )
    kinds = {kind: _(kind.label) for kind in PromptKind}
    statuses = {status: _(status.label) for status in PromptStatus}
    for row in page.rows:
        prompt = row.prompt
        listing.add(
            f"P{prompt.id}",
            f"{row.person.name} ({row.person.staff_id})",
            statuses[prompt.status],
            f"{prompt.period or ''} {kinds[prompt.kind]}".strip(),
            row.post_name or "",
            prompt.acknowledged_at,
            prompt.created_at,
        )
    counts = _(", ").join(f"{statuses[s]} {format_number(n)}" for s, n in counted.items())
    total = ngettext(
        "%(total)s prompt (%(counts)s); showing %(shown)s",
        "%(total)s prompts (%(counts)s); showing %(shown)s",
        page.total,
    ) % {
        "total": format_number(page.total),
        "counts": counts,
        "shown": format_number(len(page.rows)),
    }
    show(listing, context.console, wide=wide, form=output, err=context.err, notes=[total])


def _cancellation_lines(outcome: Cancellation) -> list[str]:
    lines = [
        ngettext(
            "%(n)s prompt not yet acknowledged, of %(people)s person",
            "%(n)s prompts not yet acknowledged, of %(people)s people",
            outcome.prompts,
        )
        % {"n": format_number(outcome.prompts), "people": format_number(outcome.people)},
        _("pending deliveries: %(n)s") % {"n": format_number(outcome.deliveries)},
        _("people already sent it, to be told: %(n)s") % {"n": format_number(outcome.told)},
    ]
    if outcome.broadcast_stopped:
        lines.append(
            _("special prompt B%(id)s was waiting for its time: it will not be sent")
            % {"id": outcome.broadcast_id}
        )
    return lines


@prompts_app.command(
    "cancel",
    help=_(
        "Cancel the prompts not yet acknowledged of a period (for a person, a unit or everyone) "
        "or of a special prompt, with their pending deliveries; those already sent it are told."
    ),
)
@reports_errors
def prompts_cancel(
    ctx: typer.Context,
    actor: Annotated[
        str,
        params.option("--as", read=params.person, help=_("Staff ID of the officer cancelling.")),
    ],
    reason: Annotated[
        str,
        typer.Option(
            "--reason", help=_("Why (told to those already sent it)."), show_default=False
        ),
    ],
    period: Annotated[
        str | None,
        params.option(
            "--period",
            read=params.period,
            help=_("The monthly prompts of this period, YYYY-MM."),
        ),
    ] = None,
    special: Annotated[
        int | None,
        params.option(
            "--special",
            read=params.special_id,
            help=_("The prompts of this special prompt (B12 or 12)."),
        ),
    ] = None,
    person: Annotated[
        str | None,
        params.option("--person", read=params.person, help=_("Only this person (staff ID).")),
    ] = None,
    unit: Annotated[
        str | None,
        params.option(
            "--unit", read=params.unit, help=_("Only this unit (id or name) and its sub-units.")
        ),
    ] = None,
    yes: Annotated[
        bool,
        typer.Option("--yes", help=_("Do not ask for confirmation (required off a terminal).")),
    ] = False,
) -> None:
    """Cancel prompts not yet acknowledged, with their pending deliveries."""
    context = app_context(ctx)
    console = context.console
    selection = {"period": period, "special": special, "person": person, "unit": unit}
    with context.session() as session:
        officer = get_person(session, staff_id=actor)
        preview = cancel_prompts(
            session, actor=officer, reason=reason, clock=context.clock, dry_run=True, **selection
        )
    if not preview.prompts and not preview.broadcast_stopped:
        console.print(_("Nothing to cancel: no prompt is waiting."), highlight=False)
        return
    if not yes:
        console.print(_("To cancel:"), highlight=False)
        for line in _cancellation_lines(preview):
            console.print("  " + line, highlight=False)
        if not sys.stdin.isatty():
            raise InvalidInput(N_("not at a terminal: add --yes to cancel"))
        if not typer.confirm(_("Cancel them?"), default=False):
            console.print(_("Nothing was cancelled."), highlight=False)
            raise typer.Exit(1)
    with context.session() as session:
        officer = get_person(session, staff_id=actor)
        outcome = cancel_prompts(
            session, actor=officer, reason=reason, clock=context.clock, **selection
        )
    console.print(_("Cancelled:"), highlight=False)
    for line in _cancellation_lines(outcome):
        console.print("  " + line, highlight=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(focus_app, name="focus")
    app.add_typer(cycle_app, name="cycle")
    app.add_typer(prompts_app, name="prompts")
    app.command("remind", help=_("Issue a special prompt (特别提示), now or at a given time."))(
        remind
    )
