"""What WeCom's and DingTalk's server APIs share: an access token and errcode answers.

Both answer HTTP 200 with a JSON ``errcode`` (0: done) and take an access token
(from ``gettoken``, valid about two hours) in the query string; a refused token
(its codes differ) is replaced once and the call made again.  The token is kept
in this process while fresh, otherwise read from (or fetched into) the database
by :func:`~riskprompt.models.tokens.provider_token`, one fetch at a time across
workers.  Each platform's client subclasses :class:`TokenApiClient` with its
``gettoken`` and its calls; the channel modules turn answers into outcomes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import Any, ClassVar, Self

import httpx
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from riskprompt.models.clock import Clock, SystemClock
from riskprompt.models.tokens import CachedToken, provider_token

log = logging.getLogger(__name__)


class ApiUnavailable(Exception):
    """The platform could not be asked (no answer, not JSON, or no token): try later.

    Attributes:
        retry_after: seconds the platform asked to wait, when it said.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Answer:
    """The JSON answer to one call, with its ``errcode`` and ``errmsg``."""

    data: dict[str, Any]

    @property
    def errcode(self) -> int:
        """0 when the call succeeded."""
        try:
            return int(self.data.get("errcode", 0))
        except (TypeError, ValueError):
            return -1

    @property
    def errmsg(self) -> str:
        """The platform's words, for logs and the delivery's error."""
        return str(self.data.get("errmsg", ""))[:300]

    @property
    def ok(self) -> bool:
        """Whether ``errcode`` is 0."""
        return self.errcode == 0


class TokenApiClient:
    """One self-built app's server API with its shared access token.

    Use as an async context manager (or :meth:`open`/:meth:`close`).  Subclasses
    set the class attributes and implement :meth:`_fetch_token` (usually through
    :meth:`_gettoken`).

    Args:
        api_url: the platform's base URL (or a private deployment's).
        secret: the app's secret (scrubbed from every error text).
        token_key: the key of the shared token (one per app).
        engine: the database holding the shared token (None: this process's own,
            for ``riskprompt doctor``).
        clock: measures the token's expiry.
        timeout: seconds for one call.
        max_connections: the HTTP connection pool's size.
    """

    #: the platform's name in logs and errors
    platform: ClassVar[str]
    #: raised when the platform cannot be asked
    unavailable: ClassVar[type[ApiUnavailable]] = ApiUnavailable
    #: how an answer is read
    answer: ClassVar[type[Answer]] = Answer
    #: the errcodes of a refused (invalid or expired) token
    token_codes: ClassVar[frozenset[int]]

    def __init__(
        self,
        *,
        api_url: str,
        secret: str,
        token_key: str,
        engine: Engine | None,
        clock: Clock | None = None,
        timeout: float = 10.0,
        max_connections: int = 8,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._secret = secret
        self.token_key = token_key
        self.engine = engine
        self.clock = clock or SystemClock()
        self.timeout = timeout
        self.max_connections = max_connections
        self._http: httpx.AsyncClient | None = None
        self._token: CachedToken | None = None
        self._token_lock = asyncio.Lock()

    async def open(self) -> None:
        """Make the HTTP connection pool."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.api_url,
                timeout=self.timeout,
                limits=httpx.Limits(max_connections=self.max_connections),
                follow_redirects=False,
            )

    async def close(self) -> None:
        """Close the HTTP connections."""
        if self._http is not None:
            await self._http.aclose()
        self._http = None

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _scrub(self, text: str) -> str:
        """``text`` without the secret or a token."""
        for secret in (self._secret, self._token.token if self._token else ""):
            if secret:
                text = text.replace(secret, "***")
        return text

    # -- the token --------------------------------------------------------------------------

    def _fetch_token(self) -> tuple[str, float]:  # pragma: no cover - each platform's own
        """A new token and its lifetime in seconds (blocking: runs in a worker thread)."""
        raise NotImplementedError

    def _gettoken(
        self, path: str, params: Mapping[str, str], rate_codes: Mapping[int, float | None]
    ) -> tuple[str, float]:
        """``GET path?params``: the token and its lifetime, as both platforms answer it.

        Raises:
            ApiUnavailable: no answer, or the platform refused (wrong secret, IP).
        """
        name = self.platform
        try:
            response = httpx.get(
                f"{self.api_url}{path}",
                params=dict(params),
                timeout=self.timeout,
                follow_redirects=False,
            )
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise self.unavailable(f"{name} unreachable (gettoken): {type(exc).__name__}") from None
        answer = self.answer(data if isinstance(data, dict) else {"errcode": -1})
        if not answer.ok or not answer.data.get("access_token"):
            raise self.unavailable(
                f"{name} gettoken errcode {answer.errcode}: {self._scrub(answer.errmsg)}",
                retry_after=rate_codes.get(answer.errcode),
            )
        return str(answer.data["access_token"]), float(answer.data.get("expires_in") or 7200)

    async def token(self, *, stale: str | None = None) -> str:
        """A fresh access token: this process's, else the shared one, else a new one.

        Args:
            stale: a token the platform just refused: replace it.

        Raises:
            ApiUnavailable: it cannot be fetched, or the database failed.
        """
        async with self._token_lock:
            now = self.clock.now()
            held = self._token
            if held is not None and held.fresh(now) and held.token != stale:
                return held.token
            if self.engine is None:
                token, lifetime = await asyncio.to_thread(self._fetch_token)
                self._token = CachedToken(token, now + timedelta(seconds=lifetime))
                return token
            try:
                cached = await asyncio.to_thread(
                    provider_token,
                    self.engine,
                    key=self.token_key,
                    clock=self.clock,
                    fetch=self._fetch_token,
                    stale=stale,
                )
            except SQLAlchemyError as exc:
                raise self.unavailable(f"the token cache failed: {type(exc).__name__}") from None
            self._token = cached
            return cached.token

    # -- calls ------------------------------------------------------------------------------

    async def request(
        self, path: str, *, body: dict[str, Any] | None = None, params: dict[str, Any] | None = None
    ) -> Answer:
        """Call ``path`` with the token (GET, or POST ``body`` as JSON); a refused token
        is replaced once.

        Returns:
            The platform's answer, whatever its errcode.

        Raises:
            ApiUnavailable: no answer, not JSON, or no token.
        """
        name = self.platform
        if self._http is None:
            raise RuntimeError(f"{type(self).__name__}.open() was not called")
        token = await self.token()
        for attempt in (1, 2):
            query = {"access_token": token, **(params or {})}
            try:
                if body is None:
                    response = await self._http.get(path, params=query)
                else:
                    response = await self._http.post(path, params=query, json=body)
            except httpx.HTTPError as exc:
                raise self.unavailable(f"{name} unreachable: {type(exc).__name__}") from None
            if response.status_code != 200:
                raise self.unavailable(f"{name} answered HTTP {response.status_code}")
            try:
                data = response.json()
            except ValueError:
                raise self.unavailable(f"{name} answered something that is not JSON") from None
            answer = self.answer(data if isinstance(data, dict) else {"errcode": -1})
            if answer.errcode in self.token_codes and attempt == 1:
                log.info(
                    "%s refused the access token (%s); fetching a new one", name, answer.errcode
                )
                token = await self.token(stale=token)
                continue
            return answer
        raise AssertionError("unreachable")  # pragma: no cover
