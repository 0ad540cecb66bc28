"""``riskprompt people password STAFF_ID``: an officer's console password (and TOTP)."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from riskprompt.cli.common import app_context, reports_errors
from riskprompt.config.i18n import N_, _
from riskprompt.models.accounts import AccountPolicy, enrol_totp, set_password
from riskprompt.models.errors import InvalidInput
from riskprompt.models.queries import get_person


def register(app: typer.Typer) -> None:
    """Add ``password`` to the ``people`` commands."""
    from riskprompt.cli.catalogue import people_app

    people_app.command(
        "password",
        help=_(
            "Set an officer's password for the web console (asked twice at a terminal, "
            "else one line read from standard input)."
        ),
    )(people_password)


def read_password() -> str:
    """The new password: typed twice, hidden, at a terminal; else one line of stdin.

    Raises:
        InvalidInput: the two typed passwords differ, or standard input is empty.
    """
    if sys.stdin.isatty():
        first = getpass.getpass(_("New password: "))
        second = getpass.getpass(_("Repeat the new password: "))
        if first != second:
            raise InvalidInput(N_("password: the two passwords differ; nothing was changed"))
        return first
    line = sys.stdin.readline()
    if not line:
        raise InvalidInput(N_("password: standard input is empty; nothing was changed"))
    return line.rstrip("\r\n")


@reports_errors
def people_password(
    ctx: typer.Context,
    staff_id: Annotated[str, typer.Argument(help=_("Staff ID (工号)."), show_default=False)],
    totp: Annotated[
        bool,
        typer.Option(
            "--totp",
            help=_(
                "Also enrol an authenticator app (TOTP): prints the otpauth:// URI to scan; "
                "sign-in then asks for its code."
            ),
        ),
    ] = False,
) -> None:
    """Set the password (the person's console sessions end); with --totp, enrol TOTP too."""
    context = app_context(ctx)
    with context.session() as session:
        # Refuse an unknown person before asking for a password.
        person = get_person(session, staff_id=staff_id)
    password = read_password()
    policy = AccountPolicy.from_settings(context.settings)
    with context.session() as session:
        person = get_person(session, staff_id=staff_id)
        account = set_password(
            session, person=person, password=password, clock=context.clock, policy=policy
        )
        enrolment = enrol_totp(session, person=person, clock=context.clock) if totp else None
    out = context.console
    out.print(
        _("Console password set for %(name)s (%(staff_id)s).")
        % {"name": person.name, "staff_id": person.staff_id},
        highlight=False,
        markup=False,
    )
    if enrolment is not None:
        out.print(
            _("Scan this URI with the authenticator app (it holds the secret: keep it private):"),
            highlight=False,
            markup=False,
        )
        out.print(enrolment.uri, highlight=False, markup=False, soft_wrap=True)
        out.print(
            _("Or type the key: %(secret)s") % {"secret": enrolment.secret},
            highlight=False,
            markup=False,
        )
    elif account.totp_enabled:
        out.print(_("Sign-in still asks for the code of the authenticator app enrolled earlier."))
    if context.settings.PUBLIC_URL:
        out.print(
            _("Sign in at %(url)s") % {"url": f"{context.settings.PUBLIC_URL}/login"},
            highlight=False,
            markup=False,
        )
