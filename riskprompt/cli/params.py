"""The command line's options and arguments that name a thing, read the way people write it.

Each factory here builds a typer option or argument whose callback reads the text
with :mod:`riskprompt.models.refs` (the one place that knows how names are
written) and hands the command what it works with:

- ``P3``/``W2``/``R1``/``C1`` or a bare number: the id (an ``int``);
- a person by staff ID or unique name: their staff ID;
- a unit by id, full name or unique short form (``住建局``): its id, as text;
- a state or a level in either language (``待阅``, ``pending``, ``高``): the enum member;
- a period (``2026年12月``): ``YYYY-MM``; a day (``2026年12月24日``): a ``date``;
  a moment (``2026-12-24 09:00``): an aware ``datetime`` in the office's zone.

A value that cannot be read, or that names nobody (or several), stops the command
before it starts with one line naming the option, and exit code 2 (a usage error).
A database out of reach is said as every command says it (exit code 1).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from sqlmodel import Session

from riskprompt.cli.common import app_context, reports_errors
from riskprompt.config.i18n import _
from riskprompt.models import refs
from riskprompt.models.errors import DomainError, InvalidInput, NotFound

T = TypeVar("T")
Callback = Callable[[typer.Context, typer.CallbackParam, Any], Any]

#: What each kind of value looks like in the help (the metavar).
PERSON = _("STAFF_ID|NAME")
UNIT = _("UNIT")
STATUS = _("STATUS")
LEVEL = _("LEVEL")
COLOUR = _("COLOUR")
FORM = _("FORM")
ROLE = _("ROLE")
CHANNEL = _("CHANNEL")
PERIOD = "YYYY-MM"
DAY = "YYYY-MM-DD"
MOMENT = "'YYYY-MM-DD HH:MM'"
PROMPT_CODE = "P12"
WARNING_CODE = "W7"
CORRECTION_CODE = "R3"


def option_name(param: typer.CallbackParam) -> str:
    """How the person wrote the parameter: its longest flag, or an argument's name."""
    flags = [opt for opt in param.opts if opt.startswith("-")]
    if flags:
        return max(flags, key=len)
    return (param.metavar or param.name or "").upper()


def refuse(ctx: typer.Context, param: typer.CallbackParam, error: DomainError) -> NoReturn:
    """Say in one line which option's value is wrong and why; exit code 2."""
    message = f"{_('Error')}: {option_name(param)}: {error.translate(_)}"
    obj = ctx.find_root().obj
    err = getattr(obj, "err", None)
    if err is not None:
        err.print(message, style="red", highlight=False, markup=False, soft_wrap=True)
    else:  # pragma: no cover - the root callback always sets the context
        typer.echo(message, err=True)
    raise typer.Exit(2)


def reader(parse: Callable[[str], T]) -> Callback:
    """A callback reading the option's text with ``parse`` (no value: None)."""

    def callback(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> T | None:
        if value is None or value == "":
            return None
        try:
            return parse(str(value))
        except InvalidInput as exc:
            refuse(ctx, param, exc)

    return callback


def lookup(find: Callable[[Session, str], T]) -> Callback:
    """A callback finding what the option's text names in the database with ``find``."""

    def callback(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> T | str | None:
        if value is None or value == "":
            return value

        @reports_errors
        def look(ctx: typer.Context) -> T:
            try:
                with app_context(ctx).session() as session:
                    return find(session, str(value))
            except (NotFound, InvalidInput) as exc:
                refuse(ctx, param, exc)

        return look(ctx=ctx)

    return callback


def _moment(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> datetime | None:
    settings = app_context(ctx).settings
    return reader(lambda text: refs.parse_moment(text, settings))(ctx, param, value)


def _unit_id(session: Session, ref: str) -> str:
    return str(refs.unit_id_of(session, ref))


#: The callbacks, by what they read.
prompt_id = reader(refs.prompt_number)
acknowledgeable = reader(refs.acknowledgeable)
special_id = reader(refs.special_number)
warning_id = reader(refs.warning_number)
correction_id = reader(refs.correction_number)
person = lookup(refs.staff_id_of)
unit = lookup(_unit_id)
target = lookup(refs.target_of)  # a special prompt's, its person and unit read as above
warning_status = reader(refs.warning_status)
prompt_status = reader(refs.prompt_status)
correction_status = reader(refs.correction_status)
level = reader(refs.risk_level)
colour = reader(refs.colour)
form = reader(refs.form)
role = reader(refs.role)
channel = reader(refs.channel)
period = reader(refs.parse_period)
day = reader(refs.parse_day)
moment = _moment

_METAVARS: dict[Callback, str] = {
    prompt_id: PROMPT_CODE,
    warning_id: WARNING_CODE,
    correction_id: CORRECTION_CODE,
    special_id: "B12",
    person: PERSON,
    unit: UNIT,
    warning_status: STATUS,
    prompt_status: STATUS,
    correction_status: STATUS,
    level: LEVEL,
    colour: COLOUR,
    form: FORM,
    role: ROLE,
    channel: CHANNEL,
    period: PERIOD,
    day: DAY,
    moment: MOMENT,
}


def option(*decls: str, read: Callback, help: str, **kwargs: Any) -> Any:
    """A typer option whose text ``read`` turns into the value (see the module doc).

    The parameter's annotation is the type ``read`` returns (``int | None``,
    ``WarningStatus | None``...): typer hands the callback the text as written.
    """
    kwargs.setdefault("show_default", False)
    kwargs.setdefault("metavar", _METAVARS.get(read))
    return typer.Option(*decls, help=help, callback=read, parser=str, **kwargs)


def argument(*, read: Callback, help: str, **kwargs: Any) -> Any:
    """A typer argument read like :func:`option`."""
    kwargs.setdefault("show_default", False)
    return typer.Argument(help=help, callback=read, parser=str, **kwargs)


#: ``--as`` on a list command: who looks (an officer sees their supervision scope only).
ViewerOption = Annotated[
    str | None,
    option(
        "--as",
        read=person,
        help=_("Staff ID of who looks: an officer sees their supervision scope only."),
    ),
]
