"""``riskprompt doctor [--send-test STAFF_ID]``: is this installation ready to run?"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from riskprompt.cli.common import app_context, reports_errors, table
from riskprompt.config.i18n import _
from riskprompt.doctor import (
    STATUS_LABELS,
    Check,
    Status,
    run_checks,
    send_test_messages,
    summary,
)
from riskprompt.models.queries import get_person

STATUS_STYLES = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "bold red"}


def register(app: typer.Typer) -> None:
    """Add the doctor command to ``app``."""
    app.command(
        "doctor",
        help=_(
            "Check the settings and the database and reach every configured channel; "
            "exit 1 when something fails."
        ),
    )(doctor)


@reports_errors
def doctor(
    ctx: typer.Context,
    send_test: Annotated[
        str | None,
        typer.Option(
            "--send-test",
            metavar="STAFF_ID",
            help=_("Also send a test message to this person on each of their channels."),
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check the settings, the database and the channels; exit 1 when something fails."""
    context = app_context(ctx)
    settings = context.settings
    checks: list[Check] = run_checks(settings, context.engine)
    schema_ready = not any(c.failed for c in checks if c.key in ("database", "schema"))
    if send_test is not None:
        if schema_ready:
            with context.session() as session:
                person = get_person(session, staff_id=send_test)
            checks.extend(asyncio.run(send_test_messages(settings, person)))
        else:
            checks.append(
                Check(
                    _("Test message to %(staff_id)s") % {"staff_id": send_test},
                    Status.FAIL,
                    _("not sent: the database is not ready"),
                )
            )
    out = table(_("riskprompt doctor"), _("Check"), _("Result"), _("Details"))
    out.columns[-1].overflow = "fold"  # the reason is what the operator acts on
    for check in checks:
        out.add_row(
            check.name,
            f"[{STATUS_STYLES[check.status]}]{_(STATUS_LABELS[check.status])}[/]",
            check.reason.replace("[", r"\["),
        )
    console = context.console
    console.print(out)
    console.print(summary(checks))
    if any(c.failed for c in checks):
        raise typer.Exit(1)
