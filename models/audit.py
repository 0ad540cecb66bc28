"""The append-only, hash-chained audit record, its verification and its export.

Each record carries the hash of the one before (``prev_hash``) and its own
(``hash``: SHA-256 over ``prev_hash`` and the record's content, see
:func:`event_hash`).  A one-row table, the chain head, names the last record and
its hash: appending updates it first, which makes concurrent appends take turns
(its row stays locked until commit) and gives each append the hash to chain to
in the same statement; verification compares it with the last record, so that a
removed tail shows as well as an altered, removed or reordered record inside.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache, partial
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Column,
    Integer,
    String,
    bindparam,
    func,
    insert,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert, UpdateBase
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import CTE, Select
from sqlmodel import Field, Session, SQLModel

from riskprompt.models.types import UTCDateTime, dump

GENESIS_HASH = "0" * 64
#: The primary key of the chain head's one row.
HEAD_ID = 1


class AuditEvent(SQLModel, table=True):
    """Who did what to which record, when; each record carries the previous one's hash."""

    __tablename__: ClassVar[str] = "audit_event"  # type: ignore[misc]

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor_id: int | None = Field(default=None, index=True)
    action: str = Field(max_length=64, index=True)
    subject_type: str = Field(max_length=32)
    subject_id: int | None = Field(default=None)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditChainHead(SQLModel, table=True):
    """The end of the audit chain (one row): the last record's id, previous hash and hash."""

    __tablename__: ClassVar[str] = "audit_chain_head"  # type: ignore[misc]

    id: int = Field(
        default=HEAD_ID, sa_column=Column(Integer, primary_key=True, autoincrement=False)
    )
    last_id: int | None = Field(default=None)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


# -- hashing -----------------------------------------------------------------------------------

_encode = partial(json.dumps, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def hash_parts(
    *,
    at: datetime,
    actor_id: int | None,
    action: str,
    subject_type: str,
    subject_id: int | None,
    data: Any,
) -> tuple[str, str]:
    """The hashed text of a record, as the part before the previous hash and the part after.

    The text is the record's canonical JSON (sorted keys, no spaces, UTF-8)
    with the previous hash under ``"prev"``; splitting it around that hash lets
    the database chain a record to a head it has only just locked.
    """
    before = (
        f'{{"action":{_encode(action)},"actor":{_encode(actor_id)},"at":{_encode(dump(at))},'
        f'"data":{_encode(dump(data))},"prev":"'
    )
    after = f'","subject":{_encode([subject_type, subject_id])}}}'
    return before, after


def chain_hash(prev_hash: str, before: str, after: str) -> str:
    """The SHA-256 (hex) of ``before + prev_hash + after`` (see :func:`hash_parts`)."""
    return hashlib.sha256(f"{before}{prev_hash}{after}".encode()).hexdigest()


def event_hash(prev_hash: str, event: AuditEvent) -> str:
    """The SHA-256 over the previous hash and this record's content."""
    before, after = hash_parts(
        at=event.at,
        actor_id=event.actor_id,
        action=event.action,
        subject_type=event.subject_type,
        subject_id=event.subject_id,
        data=event.data,
    )
    return chain_hash(prev_hash, before, after)


class sha256_hex(FunctionElement[str]):
    """SQL: the hex SHA-256 of a text's UTF-8 bytes (SQLite: registered by models.db)."""

    type = String()
    name = "sha256_hex"
    inherit_cache = True


@compiles(sha256_hex, "postgresql")
def _sha256_hex_postgresql(element: sha256_hex, compiler: SQLCompiler, **kw: Any) -> str:
    return f"encode(sha256(convert_to({compiler.process(element.clauses, **kw)}, 'UTF8')), 'hex')"


@compiles(sha256_hex)
def _sha256_hex_default(element: sha256_hex, compiler: SQLCompiler, **kw: Any) -> str:
    return f"sha256_hex({compiler.process(element.clauses, **kw)})"


def sqlite_sha256_hex(text: str | None) -> str | None:
    """``sha256_hex`` for SQLite connections (see :func:`riskprompt.models.db.make_engine`)."""
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


# -- appending ---------------------------------------------------------------------------------


def record(
    session: Session,
    *,
    at: datetime,
    actor_id: int | None,
    action: str,
    subject_type: str,
    subject_id: int | None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an audit record in the caller's transaction and return it.

    The caller's pending changes are flushed first.  The record is chained in
    the database: the chain head's row is updated to the new record's hash
    (computed there from the head's hash and this record's text), which locks
    it until the caller commits, so that two transactions cannot chain to the
    same record.  On PostgreSQL that and the insert are one statement; on
    SQLite, where one writer holds the database anyway, two.  The record is not
    added to the session.

    PostgreSQL keeps every version of the head's row that a transaction writes
    until it commits, so appends slow down in a transaction that makes tens of
    thousands of them (30,000 in one: 1.1 ms each on average, against 0.46 ms for
    2,000): append per batch of work, as the dispatcher and the cycle do.
    """
    session.flush()
    connection = session.connection()
    content = dump(data or {})
    before, after = hash_parts(
        at=at,
        actor_id=actor_id,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        data=content,
    )
    values = {
        "at": at,
        "actor_id": actor_id,
        "action": action,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "data": content,
        "before": before,
        "after": after,
    }
    postgresql = connection.dialect.name == "postgresql"
    row = None
    for _attempt in (1, 2):
        if postgresql:
            row = connection.execute(_APPEND_POSTGRESQL, values).first()
        else:
            head = connection.execute(_ADVANCE_HEAD_SQLITE, values).first()
            if head is not None:
                connection.execute(
                    _INSERT_SQLITE,
                    {
                        **{name: values[name] for name in _COLUMNS},
                        "id": head.last_id,
                        "prev_hash": head.prev_hash,
                        "hash": head.hash,
                    },
                )
                row = head
        if row is not None:
            break
        # No head row: a new database, or its tables were emptied.  Start it from the
        # last record; a concurrent start waits on the key and then does nothing.
        _create_head(connection)
    assert row is not None, "the audit chain head could not be created"
    return AuditEvent(
        id=row[0],
        at=at,
        actor_id=actor_id,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        data=content,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def record_guarded(
    session: Session,
    change: UpdateBase,
    params: dict[str, Any],
    *,
    at: datetime,
    actor_id: int | None,
    action: str,
    subject_type: str,
    subject_id: int | None,
    data: dict[str, Any] | None = None,
) -> AuditEvent | None:
    """Run a guarded change and, only when it changed something, append its audit record.

    ``change`` is an ``UPDATE``/``INSERT``/``DELETE ... RETURNING`` whose
    ``WHERE`` is the rule's guard (``status = 'open'``): of two callers at once
    only one finds its row, and only that one is audited.  On PostgreSQL the
    change and the append are one statement, so the chain head is locked for the
    shortest time (from that statement to the caller's commit); on SQLite they
    are the change, then :func:`record`.

    Args:
        session: the open session; the caller commits.
        change: the statement (built once: it is the cache key of the combined one).
        params: its parameters (names other than ``at``, ``actor_id``, ``action``,
            ``subject_type``, ``subject_id``, ``data``, ``before`` and ``after``).
        at, actor_id, action, subject_type, subject_id, data: the record, as for
            :func:`record`.

    Returns:
        The record appended, or None when the change matched no row (nothing written).
    """
    session.flush()
    connection = session.connection()
    event = {
        "at": at,
        "actor_id": actor_id,
        "action": action,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "data": data,
    }
    if connection.dialect.name != "postgresql":
        if connection.execute(change, params).first() is None:
            return None
        return record(session, **event)
    content = dump(data or {})
    before, after = hash_parts(**{**event, "data": content})
    values = {**params, **event, "data": content, "before": before, "after": after}
    row = connection.execute(_guarded_append(change), values).first()
    if row is None:
        return None
    if row.id is None:
        # Changed, but there is no chain head to append to (its table was emptied):
        # record() starts one, in this same transaction.
        return record(session, **event)
    return AuditEvent(
        id=row.id, **{**event, "data": content}, prev_hash=row.prev_hash, hash=row.hash
    )


@cache
def _guarded_append(change: UpdateBase) -> Select[Any]:
    """``WITH change, head (if change), append SELECT`` (see :func:`record_guarded`)."""
    changed = change.cte("changed")
    head = (
        update(_HEAD)
        .where(_HEAD.c.id == HEAD_ID, select(literal(1)).select_from(changed).exists())
        .values(**_HEAD_VALUES_POSTGRESQL)
        .returning(_HEAD.c.last_id, _HEAD.c.prev_hash, _HEAD.c.hash)
        .cte("head")
    )
    appended = _append_from(head).cte("appended")
    return (
        select(appended.c.id, appended.c.prev_hash, appended.c.hash)
        .select_from(changed)
        .outerjoin(appended, literal(True))
        .limit(1)
    )


def _create_head(connection: Connection) -> None:
    last = connection.execute(_LAST_EVENT).first()
    row = {
        "id": HEAD_ID,
        "last_id": last.id if last else None,
        "prev_hash": last.prev_hash if last else GENESIS_HASH,
        "hash": last.hash if last else GENESIS_HASH,
    }
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        connection.execute(pg_insert(_HEAD).values(row).on_conflict_do_nothing())
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        connection.execute(sqlite_insert(_HEAD).values(row).on_conflict_do_nothing())


_TABLE = AuditEvent.__table__  # type: ignore[attr-defined]
_HEAD = AuditChainHead.__table__  # type: ignore[attr-defined]
_COLUMNS = ("at", "actor_id", "action", "subject_type", "subject_id", "data")
_TYPES = {"at": UTCDateTime(), "data": JSON(), "action": String(), "subject_type": String()}


def _bind(name: str) -> Any:
    return bindparam(name, type_=_TYPES.get(name, Integer()))


def _new_head_hash() -> Any:
    return sha256_hex(
        bindparam("before", type_=String()) + _HEAD.c.hash + bindparam("after", type_=String())
    )


def _append_from(head: CTE) -> Insert:
    """``INSERT`` the record chained by ``head`` (a CTE of the head's new values)."""
    return (
        insert(_TABLE)
        .from_select(
            ["id", *_COLUMNS, "prev_hash", "hash"],
            select(
                head.c.last_id,
                *(_bind(name) for name in _COLUMNS),
                head.c.prev_hash,
                head.c.hash,
            ),
        )
        .returning(_TABLE.c.id, _TABLE.c.prev_hash, _TABLE.c.hash)
    )


#: The head's new values: the next id, the old hash as the previous one, the new hash.
_HEAD_VALUES_POSTGRESQL = {
    # The sequence of audit_event.id (a SERIAL since 0001), resolved once per plan.
    "last_id": literal_column("nextval('audit_event_id_seq'::regclass)", Integer()),
    "prev_hash": _HEAD.c.hash,
    "hash": _new_head_hash(),
}
# Built once: constructing a statement costs more than running a cached one.
_APPEND_POSTGRESQL = _append_from(
    update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID)
    .values(**_HEAD_VALUES_POSTGRESQL)
    .returning(_HEAD.c.last_id, _HEAD.c.prev_hash, _HEAD.c.hash)
    .cte("head")
)
_ADVANCE_HEAD_SQLITE = (
    update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID)
    .values(
        last_id=select(func.coalesce(func.max(_TABLE.c.id), 0) + 1).scalar_subquery(),
        prev_hash=_HEAD.c.hash,
        hash=_new_head_hash(),
    )
    .returning(_HEAD.c.last_id, _HEAD.c.prev_hash, _HEAD.c.hash)
)
_INSERT_SQLITE = insert(_TABLE)
_LAST_EVENT = (
    select(_TABLE.c.id, _TABLE.c.prev_hash, _TABLE.c.hash).order_by(_TABLE.c.id.desc()).limit(1)
)


# -- verifying ---------------------------------------------------------------------------------


class ChainProblem(enum.StrEnum):
    """What verification found wrong first."""

    #: A record's content, hash or previous hash was changed after it was written.
    ALTERED = "altered"
    #: A record is missing inside the chain: the next one follows a hash found nowhere.
    REMOVED = "removed"
    #: A record follows another than the one before it (records swapped or moved).
    REORDERED = "reordered"
    #: The last records are missing: the chain head names a later record.
    TAIL_REMOVED = "tail_removed"


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of :func:`verify_chain`.

    Attributes:
        checked: the records found intact before the first problem (all of them when OK).
        problem: what is wrong, or None when the chain is intact.
        record_id: the first record that is wrong (for ``TAIL_REMOVED``: the last
            record the chain head names, which is gone).
        other_id: for ``REMOVED`` and ``TAIL_REMOVED``, the last intact record
            before the gap (None: the gap is at the start); for ``REORDERED``,
            the record that ``record_id`` follows.
    """

    checked: int
    problem: ChainProblem | None = None
    record_id: int | None = None
    other_id: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the chain is intact."""
        return self.problem is None


def verify_chain(
    session: Session,
    *,
    batch_size: int = 5000,
    progress: Callable[[int, int], None] | None = None,
) -> ChainReport:
    """Walk the audit chain in id order and report the first record that is wrong.

    Each record must carry the hash of the one before it (the first: the genesis
    hash) and its own hash must match its content; the last one must be the one
    the chain head names.  Records are read in batches of ``batch_size`` by id,
    so memory stays flat on a table of any size; records appended while it runs
    are checked too.

    Args:
        session: a session (nothing is written).
        batch_size: records read per query.
        progress: called with (records checked, records in the table when it started)
            after each batch.

    Returns:
        The report: intact with the count, or the first problem and where.
    """
    connection = session.connection()
    head = connection.execute(select(_HEAD).where(_HEAD.c.id == HEAD_ID)).first()
    total = connection.execute(select(func.count()).select_from(_TABLE)).scalar_one()
    expected_prev = GENESIS_HASH
    previous_id: int | None = None
    checked = 0
    while True:
        rows = connection.execute(
            _NEXT_BATCH, {"after": previous_id or 0, "batch_size": batch_size}
        ).all()
        for row in rows:
            before, after = hash_parts(
                at=row.at,
                actor_id=row.actor_id,
                action=row.action,
                subject_type=row.subject_type,
                subject_id=row.subject_id,
                data=row.data,
            )
            if row.prev_hash != expected_prev:
                if chain_hash(expected_prev, before, after) == row.hash:
                    # It follows the record before; only its stored previous hash changed.
                    return ChainReport(checked, ChainProblem.ALTERED, row.id)
                return _misplaced(connection, row.id, row.prev_hash, previous_id, checked)
            if chain_hash(row.prev_hash, before, after) != row.hash:
                return ChainReport(checked, ChainProblem.ALTERED, row.id)
            if head is not None and row.id == head.last_id and row.hash != head.hash:
                # Rewritten with a hash to match, but the head kept the original one.
                return ChainReport(checked, ChainProblem.ALTERED, row.id)
            expected_prev = row.hash
            previous_id = row.id
            checked += 1
        if progress is not None:
            progress(checked, max(total, checked))
        if len(rows) < batch_size:
            break
    if head is not None and head.last_id is not None and (previous_id or 0) < head.last_id:
        return ChainReport(checked, ChainProblem.TAIL_REMOVED, head.last_id, previous_id)
    return ChainReport(checked)


def _misplaced(
    connection: Connection, record_id: int, prev_hash: str, previous_id: int | None, checked: int
) -> ChainReport:
    """The report for a record that does not follow the one before it."""
    # Only on a broken chain, so a scan of the hashes (not indexed) is affordable.
    follows = connection.execute(
        select(_TABLE.c.id).where(_TABLE.c.hash == prev_hash).limit(1)
    ).scalar()
    if follows is None:
        return ChainReport(checked, ChainProblem.REMOVED, record_id, previous_id)
    return ChainReport(checked, ChainProblem.REORDERED, record_id, follows)


_NEXT_BATCH = (
    select(_TABLE)
    .where(_TABLE.c.id > bindparam("after", type_=Integer()))
    .order_by(_TABLE.c.id)
    .limit(bindparam("batch_size", type_=Integer()))
)


# -- exporting ---------------------------------------------------------------------------------

#: The fields of an exported record, in order (the CSV header).
EXPORT_FIELDS = (
    "id",
    "at",
    "actor_id",
    "action",
    "subject_type",
    "subject_id",
    "data",
    "prev_hash",
    "hash",
)


def count_events(session: Session, *, start: datetime, end: datetime) -> int:
    """How many audit records fall in ``[start, end)``."""
    query = select(func.count()).select_from(_TABLE).where(*_between(start, end))
    return int(session.connection().execute(query).scalar_one())


def iter_events(
    session: Session, *, start: datetime, end: datetime, batch_size: int = 5000
) -> Iterator[dict[str, Any]]:
    """The audit records in ``[start, end)`` in id order, as plain dicts, read in batches.

    ``at`` is in ISO 8601 (UTC) and ``data`` a dict, as they were hashed: with
    the ``prev_hash`` and ``hash`` of each, an export can be checked on its own.
    """
    connection = session.connection()
    after = 0
    while True:
        rows = connection.execute(
            select(_TABLE)
            .where(_TABLE.c.id > after, *_between(start, end))
            .order_by(_TABLE.c.id)
            .limit(batch_size)
        ).all()
        for row in rows:
            yield {
                "id": row.id,
                "at": dump(row.at),
                "actor_id": row.actor_id,
                "action": row.action,
                "subject_type": row.subject_type,
                "subject_id": row.subject_id,
                "data": row.data,
                "prev_hash": row.prev_hash,
                "hash": row.hash,
            }
        if len(rows) < batch_size:
            return
        after = rows[-1].id


def _between(start: datetime, end: datetime) -> tuple[Any, Any]:
    return (_TABLE.c.at >= start, _TABLE.c.at < end)
