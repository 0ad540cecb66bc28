"""Signed, expiring links to the page of a prompt or warning: ``/ack/<token>``, ``/a/<token>``.

The token names what the page shows and for whom; it is signed with
``RISKPROMPT_SECRET_KEY``, so a tampered token is refused, and it expires, so an
old message cannot act for ever.  Emails carry the long form (itsdangerous,
``/ack/<token>``); an SMS, where every character counts, the short form
(``/a/<token>``, about 25 characters: the ids and the hour in base 36 and a
64-bit HMAC-SHA256 tag).  Both are stateless: nothing is stored per link.  The
page itself (``riskprompt.web.ack``) never acts on GET.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from collections.abc import Callable
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


# -- the short form (SMS) --------------------------------------------------------------------

_SHORT_SALT = b"riskprompt.ack.short"
#: Bytes of the HMAC-SHA256 tag kept (64 bits: forging one is 2**63 tries on the web app).
_SHORT_TAG_BYTES = 8
_SHORT_TAG_CHARS = 11  # base64url of 8 bytes, unpadded
_SHORT_KINDS = {"p": "prompt", "w": "warning"}
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_SHORT_FORM = re.compile(
    r"(?P<kind>[pw])(?P<id>[0-9a-z]{1,13})\.(?P<person>[0-9a-z]{1,13})\.(?P<hour>[0-9a-z]{1,8})"
    rf"(?P<tag>[A-Za-z0-9_-]{{{_SHORT_TAG_CHARS}}})"
)
#: Longest short token read (the ids of a 64-bit table, the hour and the tag).
MAX_SHORT_TOKEN_LENGTH = 60


def _base36(number: int) -> str:
    if number < 0:
        raise ValueError("negative")
    digits = ""
    while True:
        number, rest = divmod(number, 36)
        digits = _BASE36[rest] + digits
        if not number:
            return digits


@functools.cache
def _short_key(secret_key: str) -> bytes:
    """The key of the short tokens, derived from the secret key once per process."""
    return hmac.new(secret_key.encode("utf-8"), _SHORT_SALT, hashlib.sha256).digest()


def _short_tag(secret_key: str, payload: str) -> str:
    key = _short_key(secret_key)
    tag = hmac.digest(key, payload.encode("ascii"), "sha256")[:_SHORT_TAG_BYTES]
    return base64.urlsafe_b64encode(tag).rstrip(b"=").decode("ascii")


def make_short_token(secret_key: str, target: AckTarget, *, now: datetime) -> str:
    """A short signed token for ``target`` (an SMS link), stamped with the hour of ``now``."""
    payload = (
        f"{target.kind[0]}{_base36(target.id)}.{_base36(target.person_id)}"
        f".{_base36(int(now.timestamp()) // 3600)}"
    )
    return payload + _short_tag(secret_key, payload)


def read_short_token(
    secret_key: str, token: str, *, now: datetime, max_age: timedelta = ACK_LINK_TTL
) -> AckTarget:
    """The target of a token made by :func:`make_short_token`.

    The age counts from the start of the hour it was made in, so a link lapses at
    most an hour before ``max_age``.

    Raises:
        LinkInvalid: tampered, truncated, signed with another key or stamped ahead.
        LinkExpired: genuine but older than ``max_age``.
    """
    found = _SHORT_FORM.fullmatch(token) if len(token) <= MAX_SHORT_TOKEN_LENGTH else None
    if found is None:
        raise LinkInvalid("not a short token")
    payload = token[:-_SHORT_TAG_CHARS]
    if not hmac.compare_digest(found["tag"], _short_tag(secret_key, payload)):
        raise LinkInvalid("bad signature")
    issued = int(found["hour"], 36) * 3600
    age = now.timestamp() - issued
    if age < -3600:
        raise LinkInvalid("stamped in the future")
    if age > max_age.total_seconds():
        raise LinkExpired(f"the link is older than {max_age}")
    return AckTarget(
        kind=_SHORT_KINDS[found["kind"]],  # type: ignore[arg-type]
        id=int(found["id"], 36),
        person_id=int(found["person"], 36),
    )


def short_url(public_url: str, token: str) -> str:
    """The link placed in an SMS: ``<public url>/a/<short token>``."""
    return f"{public_url.rstrip('/')}/a/{token}"


def read_any_token(secret_key: str, token: str, *, now: datetime) -> AckTarget:
    """The target of a long (email) or short (SMS) token.

    Raises:
        LinkInvalid: neither form, tampered or not ours.
        LinkExpired: genuine but too old.
    """
    if _SHORT_FORM.fullmatch(token):
        return read_short_token(secret_key, token, now=now)
    return read_ack_token(secret_key, token, now=now)


def form_key(secret_key: str, token: str) -> str:
    """The hidden field of the page's forms: an HMAC of the link's token.

    A cross-site form cannot post blindly: it must know the token (the
    capability) and the secret-derived key it is checked against.
    """
    key = hmac.new(secret_key.encode("utf-8"), b"riskprompt.ack.form", hashlib.sha256).digest()
    return hmac.new(key, token.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def check_form_key(secret_key: str, token: str, value: str | None) -> bool:
    """Whether ``value`` is the form key of ``token`` (compared in constant time)."""
    return bool(value) and hmac.compare_digest(
        str(value).encode("utf-8"), form_key(secret_key, token).encode("utf-8")
    )


#: Stands for the per-prompt link in a message rendered once for many readers; each
#: delivery gets its own signed link in its place (see :class:`AckLinks`).
ACK_URL_PLACEHOLDER = "https://riskprompt.invalid/ack/RP-ACK-LINK"
#: What an SMS link may take of the SMS budget; the SMS placeholder is this long, so
#: the renderer fits the text around a link of that length: room for a public URL of about
#: 25 characters and ids up to a million (`riskprompt doctor` warns of a longer one).
SMS_LINK_BUDGET = 52
#: Stands for the short link in an SMS rendered once for many readers (``SMS_LINK_BUDGET`` long).
SMS_LINK_PLACEHOLDER = "https://riskprompt.invalid/a/RP-SMS-LINK".ljust(SMS_LINK_BUDGET, "x")


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

    def short(self, target: AckTarget) -> str:
        """The short link (SMS) to the page of ``target``."""
        return short_url(self.base, make_short_token(self.secret_key, target, now=self.now))

    @staticmethod
    def fill(text: str | None, url: str) -> str | None:
        """``text`` with the email placeholder replaced by ``url``."""
        return text.replace(ACK_URL_PLACEHOLDER, url) if text else text

    def fill_for(self, text: str | None, target: AckTarget) -> str | None:
        """``text`` with each placeholder (email, SMS) replaced by ``target``'s own link.

        One call for every channel: a delivery's body (and HTML) goes through it
        whatever its channel; a text without placeholder comes back unchanged.
        """
        return self.filler(target)(text)

    def filler(self, target: AckTarget) -> Callable[[str | None], str | None]:
        """:meth:`fill_for` of ``target`` for several texts (body, HTML, parts): each
        link is signed once, when a text first needs it."""
        links: dict[str, str] = {}

        def fill(text: str | None) -> str | None:
            if not text:
                return text
            if ACK_URL_PLACEHOLDER in text:
                if "long" not in links:
                    token = make_ack_token(self.secret_key, target, now=self.now)
                    links["long"] = ack_url(self.base, token)
                text = text.replace(ACK_URL_PLACEHOLDER, links["long"])
            if SMS_LINK_PLACEHOLDER in text:
                if "short" not in links:
                    links["short"] = self.short(target)
                text = text.replace(SMS_LINK_PLACEHOLDER, links["short"])
            return text

        return fill
