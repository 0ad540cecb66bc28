"""The composition root: CLI, web app, ``run`` and ``demo``."""

__version__ = "0.1.0"
