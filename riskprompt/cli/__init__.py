"""The ``riskprompt`` command line (typer).

Importing the package puts typer's and click's own words (``Usage:``, the panel
titles, the error messages) through our catalogue, in whatever locale is current
when they are shown: see :mod:`riskprompt.cli.framework_i18n`.
"""

from __future__ import annotations

import os
import sys

from riskprompt.cli.framework_i18n import install as install_framework_words
from riskprompt.config.i18n import set_locale

install_framework_words()


def _locale_from_argv(argv: list[str]) -> str | None:
    """The ``--locale`` given on the command line, read before typer builds the help."""
    for index, arg in enumerate(argv):
        if arg == "--locale" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--locale="):
            return arg.split("=", 1)[1]
    return None


def main() -> None:
    """Entry point of the ``riskprompt`` console script."""
    # Help texts are translated when the commands are defined, so the reader's
    # locale must be known before the command modules are imported.
    set_locale(_locale_from_argv(sys.argv[1:]) or os.environ.get("RISKPROMPT_LOCALE"))
    from riskprompt.cli.app import app

    app()
