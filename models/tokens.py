"""Providers' access tokens (WeCom, DingTalk), cached in the database for every worker.

WeCom's ``gettoken`` and DingTalk's ``gettoken`` hand out a token that lives about
two hours, and both count the fetches: every worker on every machine fetching its
own would be refused (WeCom 45009) and would invalidate each other's tokens.  So
the token is a row, keyed by the app (``wecom:<corpid>:<agentid>``): a worker reads
it, and only when it is missing, about to expire (:data:`REFRESH_BEFORE`) or
refused by the provider does one worker fetch a new one, holding the row's lock
while it does (PostgreSQL ``SELECT ... FOR UPDATE``; on SQLite the write lock the
transaction takes), so the others wait and then read the new token instead of
fetching their own.

The fetch itself is the caller's: a function returning the token and its lifetime
in seconds, run inside the lock (the adapter's HTTP call).  The expiry is measured
with the injected clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from sqlalchemy import Engine
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, Session, SQLModel, col, select

from riskprompt.models.clock import Clock
from riskprompt.models.types import UTCDateTime

#: A token is fetched anew this long before the provider would let it expire.
REFRESH_BEFORE = timedelta(minutes=5)
#: The lifetime assumed when the provider names none (WeCom and DingTalk: 7,200 s).
DEFAULT_LIFETIME_SECONDS = 7200.0

#: Fetches a new token: returns (token, lifetime in seconds); raises when it cannot.
TokenFetch = Callable[[], tuple[str, float]]


class ProviderToken(SQLModel, table=True):
    """The current access token of one provider app, shared by every worker."""

    __tablename__: ClassVar[str] = "provider_token"  # type: ignore[misc]

    key: str = Field(primary_key=True, max_length=128)
    token: str = Field(default="", max_length=1024)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    fetched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    fetches: int = Field(default=0)


@dataclass(frozen=True, slots=True)
class CachedToken:
    """A token and when the provider lets it expire."""

    token: str
    expires_at: datetime

    def fresh(self, now: datetime, margin: timedelta = REFRESH_BEFORE) -> bool:
        """Whether the token may still be used at ``now`` (not within ``margin`` of expiry)."""
        return bool(self.token) and now < self.expires_at - margin


def _usable(row: ProviderToken | None, now: datetime, stale: str | None) -> CachedToken | None:
    if row is None or (stale is not None and row.token == stale):
        return None
    cached = CachedToken(row.token, row.expires_at)
    return cached if cached.fresh(now) else None


def provider_token(
    engine: Engine,
    *,
    key: str,
    clock: Clock,
    fetch: TokenFetch,
    stale: str | None = None,
) -> CachedToken:
    """The token of ``key``: the stored one while it is fresh, else one fetched now.

    Blocking (a database transaction, and ``fetch`` inside it): call it from a
    worker thread in async code.

    Args:
        engine: the database every worker shares.
        key: the app the token belongs to (``wecom:<corpid>:<agentid>``).
        clock: measures the expiry.
        fetch: gets a new token from the provider, returning (token, lifetime in
            seconds); it runs while this worker holds the row, so only one
            worker fetches at a time.
        stale: a token the provider has just refused (WeCom 40014/42001): fetch
            a new one unless another worker already has.

    Returns:
        A fresh token.

    Raises:
        Whatever ``fetch`` raises (the stored token is left as it was), and
        sqlalchemy.exc.SQLAlchemyError when the database fails.
    """
    with Session(engine) as session:
        found = _usable(session.get(ProviderToken, key), clock.now(), stale)
    if found is not None:
        return found
    with Session(engine, expire_on_commit=False) as session, session.begin():
        # Insert the row when missing (a no-op otherwise): a write, so that on SQLite
        # the transaction holds the write lock from here; then lock the row itself
        # (PostgreSQL; SQLite renders no FOR UPDATE and needs none).
        dialect = engine.dialect.name
        make_insert = pg_insert if dialect == "postgresql" else sqlite_insert
        session.exec(
            make_insert(ProviderToken)
            .values(key=key, token="", expires_at=clock.now(), fetches=0)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        row = session.exec(
            select(ProviderToken).where(col(ProviderToken.key) == key).with_for_update()
        ).one()
        now = clock.now()
        # Another worker may have fetched while this one waited for the lock.
        found = _usable(row, now, stale)
        if found is not None:
            return found
        token, lifetime = fetch()
        row.token = token
        row.expires_at = now + timedelta(seconds=lifetime or DEFAULT_LIFETIME_SECONDS)
        row.fetched_at = now
        row.fetches += 1
        session.add(row)
        return CachedToken(row.token, row.expires_at)


__all__ = [
    "REFRESH_BEFORE",
    "CachedToken",
    "ProviderToken",
    "TokenFetch",
    "provider_token",
]
