"""What a console route raises to answer with something other than its page."""

from __future__ import annotations

from riskprompt.config.i18n import N_

#: The heading of an error page, by HTTP status.
ERROR_HEADINGS: dict[int, str] = {
    400: N_("This request cannot be handled"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    405: N_("This request cannot be handled"),
    409: N_("Not possible now"),
    413: N_("Too large"),
    422: N_("Please check what you entered"),
    429: N_("Too many attempts"),
    500: N_("Something went wrong"),
}


class PageError(Exception):
    """Answer with an error page in the layout.

    Args:
        status: the HTTP status.
        message: a msgid (``N_``), translated for the reader with ``params``.
        heading: a msgid for the heading (default: by status, :data:`ERROR_HEADINGS`).
    """

    def __init__(
        self, status: int, message: str = "", *, heading: str | None = None, **params: object
    ) -> None:
        super().__init__(message % params if params else message)
        self.status = status
        self.message = message
        self.heading = heading
        self.params = params


class SignInRequired(Exception):
    """Nobody is signed in (or the session ended): the browser goes to ``/login``."""
