"""The web app: webhooks, acknowledgement links, the officer API (FastAPI)."""

from riskprompt.web.app import create_app
from riskprompt.web.telegram import webhook_secret

__all__ = ["create_app", "webhook_secret"]
