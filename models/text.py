"""Free text as every database stores it faithfully.

PostgreSQL refuses NUL characters (in text and in JSON), neither database driver
encodes a lone surrogate (what a command-line argument with invalid UTF-8 bytes
becomes), and terminal control characters have no place in a reason or a prompt.
Every front end's free text reaches a rule of the domain, which checks it here,
so that such input is refused in words instead of failing in the database.
"""

from __future__ import annotations

from riskprompt.config.i18n import N_
from riskprompt.models.errors import InvalidInput

#: Control characters refused in free text (newlines and tabs are text).
CONTROL_CHARACTERS = frozenset(chr(c) for c in (*range(32), 127)) - {"\n", "\r", "\t"}


def check_storable(text: str, what: str) -> str:
    """Return ``text`` when both databases can store it as it is.

    Args:
        text: the free text.
        what: a msgid naming the field in messages (``N_("the reason")``).

    Raises:
        InvalidInput: ``text`` holds a control character or a lone surrogate.
    """
    if any(ch in CONTROL_CHARACTERS for ch in text):
        raise InvalidInput(N_("%(what)s may not contain control characters"), what=what)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(N_("%(what)s is not valid Unicode text"), what=what) from None
    return text
