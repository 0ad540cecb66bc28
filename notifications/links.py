"""Signed, expiring acknowledgement links (``GET /ack/<token>``) for emails.

The token names what is acknowledged and by whom; it is signed with
``RISKPROMPT_SECRET_KEY`` (itsdangerous), so a tampered token is refused, and it
expires, so an old email cannot act for ever.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

ACK_LINK_TTL = timedelta(days=30)
_SALT = "riskprompt.ack"


class LinkExpired(Exception):
    """The link was genuine but is too old (answered with 410)."""


class LinkInvalid(Exception):
    """The link was tampered with or is not ours (answered with 400)."""


@dataclass(frozen=True, slots=True)
class AckTarget:
    """What an acknowledgement link acknowledges: a prompt or a warning, for one person."""

    kind: Literal["prompt", "warning"]
    id: int
    person_id: int


class _ClockSigner(TimestampSigner):
    """Stamps and checks age with the injected clock instead of ``time.time()``."""

    def __init__(self, *args: Any, now: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._now = now

    def get_timestamp(self) -> int:
        return int(self._now.timestamp())


def _serializer(secret_key: str, now: datetime) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        secret_key, salt=_SALT, signer=_ClockSigner, signer_kwargs={"now": now}
    )


def make_ack_token(secret_key: str, target: AckTarget, *, now: datetime) -> str:
    """A signed token for ``target``, stamped with ``now`` (the injected clock)."""
    payload = {"k": target.kind[0], "i": target.id, "u": target.person_id}
    return str(_serializer(secret_key, now).dumps(payload))


def read_ack_token(
    secret_key: str, token: str, *, now: datetime, max_age: timedelta = ACK_LINK_TTL
) -> AckTarget:
    """The target of a token made by :func:`make_ack_token`.

    Raises:
        LinkInvalid: tampered, truncated or signed with another key.
        LinkExpired: genuine but older than ``max_age``.
    """
    try:
        payload = _serializer(secret_key, now).loads(token, max_age=int(max_age.total_seconds()))
    except SignatureExpired as exc:
        raise LinkExpired(str(exc)) from None
    except BadSignature as exc:
        raise LinkInvalid(str(exc)) from None
    try:
        kind = {"p": "prompt", "w": "warning"}[payload["k"]]
        return AckTarget(kind=kind, id=int(payload["i"]), person_id=int(payload["u"]))  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError) as exc:
        raise LinkInvalid("malformed payload") from exc


def ack_url(public_url: str, token: str) -> str:
    """The full link placed in an email."""
    return f"{public_url.rstrip('/')}/ack/{token}"


#: Stands for the per-prompt link in a message rendered once for many readers; each
#: delivery gets its own signed link in its place (see :class:`AckLinks`).
ACK_URL_PLACEHOLDER = "https://riskprompt.invalid/ack/RP-ACK-LINK"


def public_base(public_url: str | None, web_host: str, web_port: int) -> str:
    """Where readers reach the web app: the public URL, else the local web app."""
    return public_url.rstrip("/") if public_url else f"http://{web_host}:{web_port}"


@dataclass(frozen=True, slots=True)
class AckLinks:
    """Signs acknowledgement links for the messages of one planning run."""

    secret_key: str
    base: str
    now: datetime

    def for_prompt(self, prompt_id: int, person_id: int) -> str:
        """The link that acknowledges prompt ``prompt_id`` as ``person_id``."""
        target = AckTarget(kind="prompt", id=prompt_id, person_id=person_id)
        return ack_url(self.base, make_ack_token(self.secret_key, target, now=self.now))

    def for_warning(self, warning_id: int, person_id: int) -> str:
        """The link that acknowledges warning ``warning_id`` as ``person_id``."""
        target = AckTarget(kind="warning", id=warning_id, person_id=person_id)
        return ack_url(self.base, make_ack_token(self.secret_key, target, now=self.now))

    @staticmethod
    def fill(text: str | None, url: str) -> str | None:
        """``text`` with the placeholder replaced by ``url``."""
        return text.replace(ACK_URL_PLACEHOLDER, url) if text else text
