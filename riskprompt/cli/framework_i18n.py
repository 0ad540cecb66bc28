"""typer's and click's own words (usage lines, panel titles, errors) in the reader's language.

Since 0.24 typer carries its own copy of click (``typer._click``), and that copy
writes its words as plain English f-strings; typer itself (``typer.core``,
``typer.rich_utils``) calls ``gettext`` from the standard library, and keeps the
panel titles and labels of its rich help as module constants computed at import.
:func:`install` puts all of them through our catalogue:

* the module-level ``_``/``gettext``/``ngettext`` of typer's modules become ours;
* the rich constants (``OPTIONS_PANEL_TITLE``, ``DEFAULT_STRING``...) are set
  afresh from the catalogue each time a help or an error is drawn, so a locale
  set later (the root callback reads it from the settings) still applies;
* the few methods of typer's click that hold English words (the usage prefix,
  ``[OPTIONS]``, the help option, the error messages) are wrapped or replaced,
  and the messages pydantic gives for a bad value (typer coerces with pydantic)
  are written from the error's type, not from its English text.

Every message is looked up when it is shown, through the current locale of
:mod:`riskprompt.config.i18n`.  The msgids are written here, marked with ``N_``
(or ``pgettext``), so that ``make i18n`` keeps them in the catalogues.  Anything
not matched (a typer upgrade that changes a message) is shown as typer wrote it;
``tests/riskprompt/test_cli_help.py`` walks every help screen to catch that.
"""

from __future__ import annotations

import functools
import gettext as stdlib_gettext
import importlib
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from riskprompt.config.i18n import N_
from riskprompt.config.i18n import _ as default_translate
from riskprompt.config.i18n import ngettext as default_ngettext
from riskprompt.config.i18n import pgettext as default_pgettext

Translate = Callable[[str], str]
Plural = Callable[[str, str, int], str]
InContext = Callable[[str, str], str]

# Messages typer looks up with gettext under these very msgids (typer.core, typer.rich_utils).
TYPER_MESSAGES = (
    N_("Aborted!"),
    N_("(dynamic)"),
    N_("default: {default}"),
    N_("env var: {var}"),
    N_("required"),
    N_("Arguments"),
    N_("Options"),
    N_("Commands"),
    N_("Missing command."),
    N_("No such command {name!r}."),
)

# typer.rich_utils constants, as typer spells them, and the msgid each is translated from.
RICH_CONSTANTS: dict[str, str] = {
    "DEPRECATED_STRING": N_("(deprecated) "),
    "DEFAULT_STRING": N_("[default: {}]"),
    "ENVVAR_STRING": N_("[env var: {}]"),
    "REQUIRED_LONG_STRING": N_("[required]"),
    "ARGUMENTS_PANEL_TITLE": N_("Arguments"),
    "OPTIONS_PANEL_TITLE": N_("Options"),
    "COMMANDS_PANEL_TITLE": N_("Commands"),
    "ERRORS_PANEL_TITLE": N_("Error"),
    "ABORTED_TEXT": N_("Aborted."),
    "RICH_HELP": N_("Try [blue]'{command_path} {help_option}'[/] for help."),
}

USAGE_PREFIX = N_("Usage: ")
HELP_OPTION_HELP = N_("Show this message and exit.")
# Pieces of the usage line that typer's click writes in English.
USAGE_PIECES: dict[str, str] = {
    "[OPTIONS]": N_("[OPTIONS]"),
    "COMMAND [ARGS]...": N_("COMMAND [ARGS]..."),
}
CHOOSE_FROM = "Choose from:"
CHOOSE_FROM_MSGID = N_("Choose from:")

MISSING = {
    "option": N_("Missing option %(name)s."),
    "argument": N_("Missing argument %(name)s."),
    "parameter": N_("Missing parameter %(name)s."),
}
MISSING_NAMELESS = N_("Missing parameter.")
WITH_DETAIL = N_("%(message)s %(detail)s")

# Messages typer's click and typer raise as English text: the pattern they match
# (the whole message) and the msgid they are written with.  Named groups fill the
# placeholders; ``kind`` is a type label and ``message`` a message, both translated.
MESSAGES: tuple[tuple[str, str], ...] = (
    (r"No such option: (?P<name>.+)", N_("No such option: %(name)s")),
    (r"Option (?P<name>'.*') requires an argument\.", N_("Option %(name)s requires an argument.")),
    (
        r"Option (?P<name>'.*') requires (?P<n>\d+) arguments\.",
        N_("Option %(name)s requires %(n)s arguments."),
    ),
    (
        r"Option (?P<name>'.*') does not take a value\.",
        N_("Option %(name)s does not take a value."),
    ),
    (
        r"Argument (?P<name>'.*') takes (?P<n>\d+) values\.",
        N_("Argument %(name)s takes %(n)s values."),
    ),
    (
        r"Got unexpected extra argument\(s\) \((?P<args>.*)\)",
        N_("Unexpected extra arguments: %(args)s"),
    ),
    (
        r"(?P<message>.+?)\. Did you mean (?P<suggestions>.+)\?",
        N_("%(message)s. Did you mean %(suggestions)s?"),
    ),
    (r"(?P<kind>\w+) (?P<name>'.*') does not exist\.", N_("%(kind)s %(name)s does not exist.")),
    (r"(?P<kind>\w+) (?P<name>'.*') is a file\.", N_("%(kind)s %(name)s is a file.")),
    (r"(?P<kind>\w+) (?P<name>'.*') is a directory\.", N_("%(kind)s %(name)s is a directory.")),
    (r"(?P<kind>\w+) (?P<name>'.*') is not readable\.", N_("%(kind)s %(name)s is not readable.")),
    (r"(?P<kind>\w+) (?P<name>'.*') is not writable\.", N_("%(kind)s %(name)s is not writable.")),
    (r"Value must be an iterable\.", N_("Value must be an iterable.")),
    (r"(?P<value>.+) is not one of (?P<choices>.+)\.", N_("%(value)s is not one of %(choices)s.")),
    (r"invalid input", N_("Please answer y (yes) or n (no).")),
    (r"The value you entered was invalid\.", N_("The value you entered was invalid.")),
    (r"The two entered values do not match\.", N_("The two entered values do not match.")),
)

# A bad value, by the type of pydantic's error (typer coerces the command line with pydantic).
VALUE_ERRORS: dict[str, str] = {
    "int_parsing": N_("%(value)s is not a valid integer."),
    "int_parsing_size": N_("%(value)s is not a valid integer."),
    "int_type": N_("%(value)s is not a valid integer."),
    "int_from_float": N_("%(value)s is not a valid integer."),
    "float_parsing": N_("%(value)s is not a valid number."),
    "float_type": N_("%(value)s is not a valid number."),
    "decimal_parsing": N_("%(value)s is not a valid number."),
    "bool_parsing": N_("%(value)s is not a valid yes/no value."),
    "bool_type": N_("%(value)s is not a valid yes/no value."),
    "date_parsing": N_("%(value)s is not a valid date."),
    "date_from_datetime_parsing": N_("%(value)s is not a valid date."),
    "date_type": N_("%(value)s is not a valid date."),
    "datetime_parsing": N_("%(value)s is not a valid date and time."),
    "datetime_from_date_parsing": N_("%(value)s is not a valid date and time."),
    "datetime_type": N_("%(value)s is not a valid date and time."),
    "uuid_parsing": N_("%(value)s is not a valid UUID."),
    "uuid_type": N_("%(value)s is not a valid UUID."),
}
# pydantic's bound errors: the ``ctx`` key with the limit, and the msgid.
BOUND_ERRORS: dict[str, tuple[str, str]] = {
    "greater_than_equal": ("ge", N_("%(value)s must be at least %(limit)s.")),
    "greater_than": ("gt", N_("%(value)s must be greater than %(limit)s.")),
    "less_than_equal": ("le", N_("%(value)s must be at most %(limit)s.")),
    "less_than": ("lt", N_("%(value)s must be less than %(limit)s.")),
}
CHOICE_ERRORS = ("enum", "literal_error")
ANY_VALUE_ERROR = N_("%(value)s is not a valid value.")


def _type_labels(pgettext: InContext) -> dict[str, str]:
    """typer's type names (``<int>``, ``<path>``) as the reader calls them."""
    return {
        "str": pgettext("metavar", "text"),
        "int": pgettext("metavar", "integer"),
        "int range": pgettext("metavar", "integer"),
        "float": pgettext("metavar", "number"),
        "float range": pgettext("metavar", "number"),
        "Decimal": pgettext("metavar", "number"),
        "bool": pgettext("metavar", "yes/no"),
        "datetime": pgettext("metavar", "date and time"),
        "date": pgettext("metavar", "date"),
        "path": pgettext("metavar", "path"),
        "Path": pgettext("metavar", "path"),
        "file": pgettext("metavar", "file"),
        "dir": pgettext("metavar", "directory"),
        "directory": pgettext("metavar", "directory"),
        "UUID": pgettext("metavar", "UUID"),
        "list": pgettext("metavar", "list"),
    }


_TYPE_WORD = re.compile(r"\b(?:int|float) range\b|\b[A-Za-z]\w*\b")


class _Words:
    """The translation functions in use: our catalogue's, in its current locale, by default."""

    def __init__(self) -> None:
        self.translate: Translate = default_translate
        self.ngettext: Plural = default_ngettext
        self.pgettext: InContext = default_pgettext


_words = _Words()


def _t(msgid: str) -> str:
    return _words.translate(msgid)


def _gettext(message: str) -> str:
    """Stands for ``gettext.gettext`` in typer's modules."""
    return _words.translate(message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    """Stands for ``gettext.ngettext`` in typer's modules."""
    return _words.ngettext(singular, plural, n)


_PATTERNS = tuple((re.compile(pattern, re.DOTALL), msgid) for pattern, msgid in MESSAGES)


def translate_message(message: str) -> str:
    """A message typer or its click wrote in English, in the reader's language.

    Messages it does not know (ours, already translated) are returned as they are.
    """
    for pattern, msgid in _PATTERNS:
        match = pattern.fullmatch(message)
        if match is None:
            continue
        values = match.groupdict()
        if "kind" in values:
            values["kind"] = type_label(values["kind"])
        if "message" in values:
            values["message"] = translate_message(values["message"]).rstrip(".。")
        return _t(msgid) % values
    return message


def type_label(name: str) -> str:
    """A type name of typer's (``int``, ``path``, ``int range``) for the reader."""
    return _type_labels(_words.pgettext).get(name, name)


def _shown(value: object) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def value_error_message(error: Mapping[str, Any]) -> str:
    """One of pydantic's errors (from ``ValidationError.errors()``) for the reader."""
    kind = str(error.get("type", ""))
    context = error.get("ctx") or {}
    value = _shown(error.get("input"))
    if kind in VALUE_ERRORS:
        return _t(VALUE_ERRORS[kind]) % {"value": value}
    if kind in BOUND_ERRORS:  # a number out of range: shown as the number it is
        key, msgid = BOUND_ERRORS[kind]
        return _t(msgid) % {"value": error.get("input"), "limit": context.get(key, "")}
    if kind in CHOICE_ERRORS:
        choices = str(context.get("expected", "")).replace(" or ", ", ")
        return _t(N_("%(value)s is not one of %(choices)s.")) % {"value": value, "choices": choices}
    if kind in ("value_error", "assertion_error") and "error" in context:
        return translate_message(str(context["error"]))
    return _t(ANY_VALUE_ERROR) % {"value": value}


def get_error_msg(exc: Any) -> str:
    """Stands for ``typer._display.get_error_msg``: a pydantic ValidationError's first error."""
    from typer._click.utils import _escape_control_characters

    errors = exc.errors() if hasattr(exc, "errors") else []
    if errors:
        return _escape_control_characters(value_error_message(errors[0]))
    return _escape_control_characters(translate_message(str(exc)))


def _join_param_hints(param_hint: Sequence[str] | str | None) -> str | None:
    if param_hint is not None and not isinstance(param_hint, str):
        return " / ".join(repr(x) for x in param_hint)
    return param_hint


def _param_hint(exc: Any) -> str | None:
    if exc.param_hint is not None:
        return _join_param_hints(exc.param_hint)
    if exc.param is not None:
        return _join_param_hints(exc.param.get_error_hint())
    return None


# -- the replacements for typer's click -------------------------------------------------


def _exception_format_message(self: Any) -> str:
    if type(self).__name__ == "NoArgsIsHelpError":  # its message is the help page
        return str(self.message)
    return translate_message(str(self.message))


def _bad_parameter_format_message(self: Any) -> str:
    message = translate_message(str(self.message))
    hint = _param_hint(self)
    if hint is None:
        return _t(N_("Invalid value: %(message)s")) % {"message": message}
    return _t(N_("Invalid value for %(name)s: %(message)s")) % {"name": hint, "message": message}


def _missing_parameter_format_message(self: Any) -> str:
    hint = _param_hint(self)
    kind = self.param_type
    if kind is None and self.param is not None:
        kind = self.param.param_type_name
    if hint:
        head = _t(MISSING.get(kind or "", MISSING["parameter"])) % {"name": hint}
    else:
        head = _t(MISSING_NAMELESS)
    details = [translate_message(self.message)] if self.message else []
    if self.param is not None and hasattr(self.param, "get_missing_message"):
        extra = self.param.get_missing_message(ctx=self.ctx)
        if extra:
            details.append(extra)
    for detail in details:
        head = _t(WITH_DETAIL) % {"message": head, "detail": detail}
    return head


def _missing_parameter_str(self: Any) -> str:
    if not self.message:
        name = self.param.name if self.param else None
        return _t(N_("Missing parameter: %(name)s")) % {"name": name}
    return translate_message(str(self.message))


def _no_such_option_format_message(self: Any) -> str:
    message = translate_message(str(self.message))
    if not self.possibilities:
        return message
    return _t(N_("%(message)s (Possible options: %(options)s)")) % {
        "message": message,
        "options": ", ".join(sorted(self.possibilities)),
    }


def _file_error_format_message(self: Any) -> str:
    message = _t(N_("unknown error")) if self.message == "unknown error" else self.message
    return _t(N_("Could not open file %(name)s: %(message)s")) % {
        "name": repr(self.ui_filename),
        "message": message,
    }


def _error_line(message: str) -> str:
    return _t(N_("Error: %(message)s")) % {"message": message}


def _click_exception_show(self: Any, file: Any = None) -> None:
    from typer._click._compat import get_text_stderr
    from typer._click.utils import echo

    echo(_error_line(self.format_message()), file=file or get_text_stderr(), color=self.show_color)


def _usage_error_show(self: Any, file: Any = None) -> None:
    from typer._click._compat import get_text_stderr
    from typer._click.utils import echo

    file = file or get_text_stderr()
    color = None
    hint = ""
    if self.ctx is not None and self.ctx.command.get_help_option(self.ctx) is not None:
        hint = _t(N_("Try '%(command)s %(option)s' for help.")) % {
            "command": self.ctx.command_path,
            "option": self.ctx.help_option_names[0],
        }
        hint += "\n"
    if self.ctx is not None:
        color = self.ctx.color
        echo(f"{self.ctx.get_usage()}\n{hint}", file=file, color=color)
    echo(_error_line(self.format_message()), file=file, color=color)


def _termui_echo(original: Callable[..., Any]) -> Callable[..., Any]:
    """typer's click ``echo`` for its prompts, writing its "Error: ..." lines for the reader."""

    @functools.wraps(original)
    def echo(message: Any = None, *args: Any, **kwargs: Any) -> Any:
        if isinstance(message, str) and message.startswith("Error: "):
            message = _error_line(translate_message(message.removeprefix("Error: ")))
        return original(message, *args, **kwargs)

    return echo


def _usage_prefix(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def write_usage(self: Any, prog: str, args: str = "", prefix: str | None = None) -> None:
        original(self, prog, args, _t(USAGE_PREFIX) if prefix is None else prefix)

    return write_usage


def _usage_pieces(original: Callable[..., list[str]]) -> Callable[..., list[str]]:
    @functools.wraps(original)
    def collect_usage_pieces(self: Any, ctx: Any) -> list[str]:
        pieces = original(self, ctx)
        return [_t(USAGE_PIECES[p]) if p in USAGE_PIECES else p for p in pieces]

    return collect_usage_pieces


def _help_option(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def get_help_option(self: Any, ctx: Any) -> Any:
        option = original(self, ctx)
        if option is not None:
            option.help = _t(HELP_OPTION_HELP)
        return option

    return get_help_option


def _missing_message(original: Callable[..., str | None]) -> Callable[..., str | None]:
    @functools.wraps(original)
    def get_missing_message(self: Any, ctx: Any) -> str | None:
        message = original(self, ctx)
        if message and message.startswith(CHOOSE_FROM):
            message = _t(CHOOSE_FROM_MSGID) + message.removeprefix(CHOOSE_FROM)
        return message

    return get_missing_message


def _display_type(original: Callable[..., str]) -> Callable[..., str]:
    @functools.wraps(original)
    def display_type(self: Any, ctx: Any) -> str:
        shown = original(self, ctx)
        descriptor = getattr(self, "type_descriptor", None)
        if getattr(descriptor, "is_choice", False) and getattr(self, "show_choices", True):
            return shown  # the choices are ours
        labels = _type_labels(_words.pgettext)
        return _TYPE_WORD.sub(lambda m: labels.get(m.group(0), m.group(0)), shown)

    return display_type


def _flag_type(original: Callable[..., str | None]) -> Callable[..., str | None]:
    @functools.wraps(original)
    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False) and not getattr(self, "count", False):
            return None if self.metavar is None else self.metavar  # a flag takes no value
        return original(self, ctx)

    return display_type_rich


def apply_rich_constants() -> None:
    """Set typer's rich labels and panel titles from the catalogue, in the current locale."""
    rich_utils = sys.modules.get("typer.rich_utils")
    if rich_utils is None:
        return
    for name, msgid in RICH_CONSTANTS.items():
        if hasattr(rich_utils, name):
            setattr(rich_utils, name, _t(msgid))


def _refreshing(original: Callable[..., Any]) -> Callable[..., Any]:
    """A rich_utils function that first sets the labels for the current locale."""

    @functools.wraps(original)
    def draw(*args: Any, **kwargs: Any) -> Any:
        apply_rich_constants()
        return original(*args, **kwargs)

    return draw


def _folding(make: Callable[..., Any]) -> Callable[..., Any]:
    """Help texts that fold a long run of Chinese (no spaces to wrap at), never cut it."""

    @functools.wraps(make)
    def folding(*args: Any, **kwargs: Any) -> Any:
        text = make(*args, **kwargs)
        if hasattr(text, "overflow"):  # a rich Text (Markdown wraps by itself)
            text.overflow = "fold"
        return text

    return folding


def _wrap(owner: Any, name: str, wrapper: Callable[[Any], Any]) -> None:
    """Replace ``owner.name`` by ``wrapper(owner.name)`` when typer still has it."""
    original = getattr(owner, name, None)
    if original is not None:
        setattr(owner, name, wrapper(original))


def _replace(owner: type, name: str, replacement: Callable[..., Any]) -> None:
    """Replace the method ``owner.name`` (its own or inherited) when typer still has it."""
    if hasattr(owner, name):
        setattr(owner, name, replacement)


_TYPER_MODULES = (
    "typer.core",
    "typer.rich_utils",
    "typer._coercion",
    "typer._param_types",
    "typer._click.core",
    "typer._click.exceptions",
    "typer._click.formatting",
    "typer._click.parser",
    "typer._click.termui",
)

_installed = False


def install(
    translate: Translate | None = None,
    ngettext: Plural | None = None,
    pgettext: InContext | None = None,
) -> None:
    """Put typer's and its click's words through ``translate`` (our catalogue by default).

    Safe to call again: the methods are patched once; the functions given last are used.
    """
    global _installed
    _words.translate = translate or _words.translate
    _words.ngettext = ngettext or _words.ngettext
    _words.pgettext = pgettext or _words.pgettext
    if not _installed:
        _patch()
        _installed = True
    apply_rich_constants()


def _patch() -> None:
    modules = {name: importlib.import_module(name) for name in _TYPER_MODULES}
    for module in modules.values():
        for name in ("_", "gettext"):
            if getattr(module, name, None) is stdlib_gettext.gettext:
                setattr(module, name, _gettext)
        if getattr(module, "ngettext", None) is stdlib_gettext.ngettext:
            module.ngettext = _ngettext
        if hasattr(module, "get_error_msg"):
            module.get_error_msg = get_error_msg

    rich_utils = modules["typer.rich_utils"]
    for name in ("rich_format_help", "rich_format_error", "rich_abort_error"):
        _wrap(rich_utils, name, _refreshing)
    _wrap(rich_utils, "_make_rich_text", _folding)

    core = modules["typer.core"]
    click_core = modules["typer._click.core"]
    exceptions = modules["typer._click.exceptions"]
    _wrap(modules["typer._click.formatting"].HelpFormatter, "write_usage", _usage_prefix)
    _wrap(click_core.Command, "collect_usage_pieces", _usage_pieces)
    _wrap(core.TyperGroup, "collect_usage_pieces", _usage_pieces)
    _wrap(click_core.Command, "get_help_option", _help_option)
    _wrap(core._TyperParameter, "get_missing_message", _missing_message)
    _wrap(core._TyperParameter, "display_type", _display_type)
    _wrap(core.TyperOption, "display_type_rich", _flag_type)
    _wrap(modules["typer._click.termui"], "echo", _termui_echo)

    _replace(exceptions.ClickException, "format_message", _exception_format_message)
    _replace(exceptions.ClickException, "show", _click_exception_show)
    _replace(exceptions.UsageError, "show", _usage_error_show)
    _replace(exceptions.BadParameter, "format_message", _bad_parameter_format_message)
    _replace(exceptions.MissingParameter, "format_message", _missing_parameter_format_message)
    _replace(exceptions.MissingParameter, "__str__", _missing_parameter_str)
    _replace(exceptions.NoSuchOption, "format_message", _no_such_option_format_message)
    _replace(exceptions.FileError, "format_message", _file_error_format_message)


__all__ = [
    "RICH_CONSTANTS",
    "TYPER_MESSAGES",
    "apply_rich_constants",
    "get_error_msg",
    "install",
    "translate_message",
    "type_label",
    "value_error_message",
]
