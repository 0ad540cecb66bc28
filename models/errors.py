"""Domain errors, named after what went wrong.

The message is a gettext msgid (marked with ``N_``) plus parameters, translated
at the edge (CLI, chat, API) into the reader's language.  A parameter marked with
``N_`` too (a state, an action, a field: ``STATUS_LABELS[...]``) is a label and is
translated with the message; any other parameter (a name, a number, what the person
wrote) is shown as it is.
"""

from __future__ import annotations

from collections.abc import Callable

from riskprompt.config.i18n import translate_params


class DomainError(Exception):
    """A rule of the domain refused an action; nothing was changed."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.msgid = message
        self.params = params

    def translate(self, gettext: Callable[[str], str]) -> str:
        """The message in the reader's language, its labels too."""
        text = gettext(self.msgid)
        return text % translate_params(self.params, gettext) if self.params else text


class PermissionDenied(DomainError):
    """The actor may not do this (wrong role, or someone else's prompt)."""


class NotFound(DomainError):
    """The thing acted on does not exist."""


class InvalidInput(DomainError):
    """A value is malformed (bad phone number, unknown level...)."""


class IllegalTransition(DomainError):
    """The action is not allowed in the current state."""
