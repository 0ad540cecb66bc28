"""Planning: which risk prompts (风险提示) are due, written with their deliveries.

This module decides *when*; the rules are in ``models/``.  Two planners share one
bulk writer:

* the monthly cycle (:func:`plan_monthly_cycle`): one prompt per (person, post)
  held during a period, listing the post's risk points high first with their
  control measures and the month's key work (重点工作,
  :func:`riskprompt.models.monthly.set_focus`);
* special prompts (特别提示, issued by
  :func:`riskprompt.models.special.issue_special_prompt`): an officer's text to a
  target, expanded into one prompt per person of the issuer's scope when due
  (:func:`expand_due_broadcasts`; at once for one due now, :func:`issue_and_expand`).

Dry runs (:func:`preview_monthly_cycle`, :func:`preview_special_prompt`) say whom
a run would reach on which channel, and write nothing.

Both are idempotent and safe to run on two processes at once: prompts are inserted
with ``INSERT ... ON CONFLICT DO NOTHING ... RETURNING`` on their unique constraint
(``uq_prompt_once``, ``uq_prompt_broadcast_person``) and deliveries are created, in
the same transaction, only for the rows this run actually inserted.

The bulk writer renders once per content, locale and channel (the text never
depends on the person), serialises each snapshot once, and hands rows of
database-ready values to the driver in chunks (statements compiled once by
SQLAlchemy for the dialect); :func:`riskprompt.notifications.outbox.create_delivery` stays
the one-at-a-time path (fallbacks) and produces the same rows.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, func, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from riskprompt.config.settings import Settings
from riskprompt.models.audit import record
from riskprompt.models.catalog import Post, RiskLevel, RiskPoint, Unit
from riskprompt.models.clock import Clock
from riskprompt.models.errors import DomainError, InvalidInput
from riskprompt.models.monthly import check_cycle_period
from riskprompt.models.people import Assignment, Channel, Person
from riskprompt.models.periods import (
    current_period,
    local_day,
    parse_period,
    period_bounds,
    period_of,
    shift_period,
)
from riskprompt.models.prompts import (
    Broadcast,
    BroadcastStatus,
    CycleRun,
    Delivery,
    DeliveryStatus,
    FocusWork,
    Prompt,
    PromptKind,
    PromptStatus,
)
from riskprompt.models.scope import scope_unit_ids
from riskprompt.models.special import issue_special_prompt, plan_special_prompt
from riskprompt.models.targets import Target, parse_target, resolve_target
from riskprompt.notifications.escalation import first_reminder_at
from riskprompt.notifications.links import ACK_URL_PLACEHOLDER, AckLinks, AckTarget
from riskprompt.notifications.outbox import DeliveryKey, ack_links, first_channel
from riskprompt.notifications.rendering import (
    View,
    ack_buttons,
    build_view,
    reader_locale,
    render_view,
)

log = logging.getLogger(__name__)

#: Rows per transaction of the monthly cycle (prompts and their deliveries).
CHUNK_SIZE = 5000
#: How far back :func:`missed_periods` looks.
CATCH_UP_PERIODS = 12

# -- the bulk writer ----------------------------------------------------------------------


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(slots=True)
class _Snapshot:
    """Content shared by many prompts (one post in one period, or one broadcast)."""

    key: Hashable
    kind: PromptKind
    content: dict[str, Any]
    requires_ack: bool
    json: str = ""

    def __post_init__(self) -> None:
        self.json = _dumps(self.content)


@dataclass(frozen=True, slots=True)
class _Recipient:
    """What the writer needs of a person: where and in which language to reach them."""

    person_id: int
    locale: str
    channel: Channel | None


@dataclass(frozen=True, slots=True)
class _Variant:
    """A snapshot rendered for one locale and channel (everything but the buttons)."""

    subject: str
    body: str
    html: str | None
    parts_json: str


@dataclass(slots=True)
class _Written:
    """What one write did."""

    created: int = 0
    present: int = 0
    deliveries: int = 0
    unreachable: set[int] = field(default_factory=set)


@lru_cache(maxsize=1024)
def _reach(
    channels: str,
    telegram: bool,
    sms: bool,
    email: bool,
    wecom: bool = False,
    dingtalk: bool = False,
) -> Channel | None:
    """The first reachable channel for a reachability signature (few distinct ones)."""
    probe = Person(
        staff_id="-",
        name="-",
        unit_id=0,
        channels=channels,
        telegram_chat_id=1 if telegram else None,
        mobile="+" if sms else None,
        email="@" if email else None,
        wecom_userid="w" if wecom else None,
        dingtalk_userid="d" if dingtalk else None,
    )
    try:
        return first_channel(probe)
    except InvalidInput:
        log.warning("unreadable channel preference %r: treated as unreachable", channels)
        return None


def _recipient(
    settings: Settings,
    person_id: int,
    locale: str | None,
    channels: str,
    telegram_chat_id: int | None,
    mobile: str | None,
    email: str | None,
    sms_opt_out: bool,
    wecom_userid: str | None = None,
    dingtalk_userid: str | None = None,
) -> _Recipient:
    channel = _reach(
        channels or "",
        telegram_chat_id is not None,
        bool(mobile) and not sms_opt_out,
        bool(email),
        bool(wecom_userid),
        bool(dingtalk_userid),
    )
    return _Recipient(person_id, reader_locale(locale, settings), channel)


_RECIPIENT_COLUMNS = (
    Person.id,
    Person.locale,
    Person.channels,
    Person.telegram_chat_id,
    Person.mobile,
    Person.email,
    Person.sms_opt_out,
    Person.wecom_userid,
    Person.dingtalk_userid,
)

# The columns a new prompt and a new delivery set, in the order rows are built;
# the others (acknowledgement, claims, outcomes, fallbacks) start NULL.
_PROMPT_COLUMNS = (
    "kind",
    "person_id",
    "post_id",
    "period",
    "issued_by_id",
    "broadcast_id",
    "title",
    "body",
    "content",
    "requires_ack",
    "status",
    "created_at",
    "remind_at",
    "reminders",
)
_DELIVERY_COLUMNS = (
    "prompt_id",
    "person_id",
    "channel",
    "subject",
    "body",
    "html",
    "extra",
    "status",
    "attempts",
    "due_at",
    "idempotency_key",
    "created_at",
)
# Rows per multi-row INSERT ... RETURNING (SQLite takes at most 32,766 parameters).
_ROWS_PER_STATEMENT = 1000
_NAMED_PARAMETER = re.compile(r"%\((\w+)\)s")


class _DriverInsert:
    """An INSERT that SQLAlchemy compiles once for the dialect and the driver runs.

    Rows are tuples in ``columns`` order with values already in the database's form
    (:meth:`convert`; JSON as serialised text).  Per-row type processing is what
    makes ORM and Core bulk inserts several times slower than the driver on wide
    rows; here a shared snapshot is serialised once and the per-run constants
    (the moment, the status) are converted once.

    With ``returning`` the statement is repeated as one multi-row ``VALUES`` per
    batch (like SQLAlchemy's own "insertmanyvalues"), so that ``ON CONFLICT DO
    NOTHING ... RETURNING`` says which rows were inserted; without it the rows go
    to the driver's ``executemany``.
    """

    def __init__(
        self,
        connection: Connection,
        statement: Any,
        columns: Sequence[str],
        *,
        returning: bool,
    ) -> None:
        self.connection = connection
        self.table = statement.table
        self.returning = returning
        compiled = statement.compile(dialect=connection.dialect, column_keys=list(columns))
        sql = str(compiled)
        if compiled.positional:
            names = list(compiled.positiontup or ())
        else:  # pyformat (psycopg): make it positional so rows stay tuples
            names = _NAMED_PARAMETER.findall(sql)
            sql = _NAMED_PARAMETER.sub("%s", sql)
        if names != list(columns):  # pragma: no cover - the compilers keep the column order
            raise RuntimeError(f"unexpected parameter order {names}")
        start = sql.index(" VALUES (") + len(" VALUES ")
        end = _closing_parenthesis(sql, start)
        self.head, self.group, self.tail = sql[:start], sql[start : end + 1], sql[end + 1 :]
        self._sql: dict[int, str] = {}

    def convert(self, column: str, value: Any) -> Any:
        """``value`` as the database driver takes it for ``column``."""
        processor = self.table.c[column].type._cached_bind_processor(self.connection.dialect)
        return processor(value) if processor is not None else value

    def _statement(self, rows: int) -> str:
        sql = self._sql.get(rows)
        if sql is None:
            sql = self.head + ", ".join([self.group] * rows) + self.tail
            self._sql[rows] = sql
        return sql

    def execute(self, rows: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Insert ``rows``; with ``returning``, the returned rows of those inserted."""
        if not self.returning:
            self.connection.exec_driver_sql(self._statement(1), list(rows))
            return []
        if self.connection.dialect.name == "postgresql":
            return self._executemany_returning(rows)
        returned: list[Any] = []
        for start in range(0, len(rows), _ROWS_PER_STATEMENT):
            batch = rows[start : start + _ROWS_PER_STATEMENT]
            flat = tuple(value for row in batch for value in row)
            returned.extend(self.connection.exec_driver_sql(self._statement(len(batch)), flat))
        return returned

    def _executemany_returning(self, rows: Sequence[tuple[Any, ...]]) -> list[Any]:
        """psycopg: one ``executemany(returning=True)`` in pipeline mode.

        A multi-row ``VALUES`` of thousands of parameters is slow there (psycopg
        parses a statement that long in Python every time); the short statement is
        parsed once and the rows are pipelined.  The cursor is the connection's own,
        inside the caller's transaction.
        """
        cursor = self.connection.connection.cursor()
        returned: list[Any] = []
        try:
            cursor.executemany(self._statement(1), list(rows), returning=True)  # type: ignore[call-arg]
            while True:
                returned.extend(cursor.fetchall())
                if not cursor.nextset():
                    break
        finally:
            cursor.close()
        return returned


def _closing_parenthesis(sql: str, opening: int) -> int:
    """The index of the parenthesis closing the one at ``opening``."""
    depth = 0
    for index in range(opening, len(sql)):
        if sql[index] == "(":
            depth += 1
        elif sql[index] == ")":
            depth -= 1
            if depth == 0:
                return index
    raise RuntimeError("unbalanced parentheses in a compiled INSERT")  # pragma: no cover


class _OutboxWriter:
    """Inserts prompts (once) and their first deliveries in the caller's transaction."""

    def __init__(
        self,
        connection: Connection,
        *,
        now: datetime,
        links: AckLinks,
        remind_at: datetime | None = None,
    ) -> None:
        self.connection = connection
        self.links = links
        self.variants: dict[tuple[Hashable, str, Channel], _Variant] = {}
        self.views: dict[tuple[Hashable, str], View] = {}
        prompt = Prompt.__table__  # type: ignore[attr-defined]
        postgres = connection.dialect.name == "postgresql"
        insert = postgresql.insert if postgres else sqlite.insert
        statements = {}
        for constraint, columns in (
            ("uq_prompt_once", ["person_id", "post_id", "period", "kind"]),
            ("uq_prompt_broadcast_person", ["broadcast_id", "person_id"]),
        ):
            statement = insert(prompt)
            statement = (
                statement.on_conflict_do_nothing(constraint=constraint)
                if postgres
                else statement.on_conflict_do_nothing(index_elements=columns)
            )
            statements[constraint] = _DriverInsert(
                connection,
                statement.returning(prompt.c.id, prompt.c.person_id, prompt.c.post_id),
                _PROMPT_COLUMNS,
                returning=True,
            )
        self._monthly = statements["uq_prompt_once"]
        self._special = statements["uq_prompt_broadcast_person"]
        self._delivery = _DriverInsert(
            connection,
            insert(Delivery.__table__).inline(),  # type: ignore[attr-defined]
            _DELIVERY_COLUMNS,
            returning=False,
        )
        # The same for every row of a run: converted for the database once.
        self._now = self._monthly.convert("created_at", now)
        # the first follow-up of a prompt asking for an acknowledgement
        self._remind_at = self._monthly.convert("remind_at", remind_at)
        self._open = self._monthly.convert("status", PromptStatus.OPEN.value)
        self._pending = self._delivery.convert("status", DeliveryStatus.PENDING.value)

    def forget(self, keep: Iterable[Hashable] = ()) -> None:
        """Drop cached renderings except those of the snapshots in ``keep``."""
        kept = set(keep)
        self.variants = {k: v for k, v in self.variants.items() if k[0] in kept}
        self.views = {k: v for k, v in self.views.items() if k[0] in kept}

    def _view(self, snapshot: _Snapshot, locale: str) -> View:
        key = (snapshot.key, locale)
        view = self.views.get(key)
        if view is None:
            view = self.views[key] = build_view(
                kind=snapshot.kind, content=snapshot.content, locale=locale
            )
        return view

    def _variant(self, snapshot: _Snapshot, locale: str, channel: Channel) -> _Variant:
        key = (snapshot.key, locale, channel)
        variant = self.variants.get(key)
        if variant is None:
            rendered = render_view(
                self._view(snapshot, locale),
                requires_ack=snapshot.requires_ack,
                locale=locale,
                channel=channel,
                # rendered once for many readers: each delivery signs its own link
                ack_url=ACK_URL_PLACEHOLDER if channel is Channel.EMAIL else None,
            )
            variant = self.variants[key] = _Variant(
                subject=rendered.subject,
                body=rendered.text,
                html=rendered.html,
                parts_json=_dumps(list(rendered.parts)),
            )
        return variant

    def write(
        self,
        items: Sequence[tuple[_Recipient, _Snapshot]],
        *,
        period: str | None,
        post_ids: Sequence[int | None] | None = None,
        broadcast: Broadcast | None = None,
    ) -> _Written:
        """Insert one prompt per item unless it exists, and a delivery per new prompt.

        Args:
            items: the recipients with the snapshot each one reads.
            period: the prompts' period.
            post_ids: monthly prompts: the post of each item.
            broadcast: special prompts: the broadcast they come from.

        Returns:
            The counts of what was written.
        """
        written = _Written()
        if not items:
            return written
        issuer = broadcast.issued_by_id if broadcast is not None else None
        broadcast_id = broadcast.id if broadcast is not None else None
        rows = [
            (
                snapshot.kind.value,
                recipient.person_id,
                post_ids[index] if post_ids is not None else None,
                period,
                issuer,
                broadcast_id,
                self._view(snapshot, recipient.locale).title,
                snapshot.content.get("text", "") if broadcast is not None else "",
                snapshot.json,
                snapshot.requires_ack,
                self._open,
                self._now,
                self._remind_at if snapshot.requires_ack else None,
                0,
            )
            for index, (recipient, snapshot) in enumerate(items)
        ]
        statement = self._special if broadcast is not None else self._monthly
        inserted = statement.execute(rows)
        written.created = len(inserted)
        written.present = len(items) - len(inserted)
        if not inserted:
            return written
        wanted = {
            (recipient.person_id, post_ids[index] if post_ids is not None else None): index
            for index, (recipient, _snapshot) in enumerate(items)
        }
        deliveries = []
        for prompt_id, person_id, post_id in inserted:
            recipient, snapshot = items[wanted[(person_id, post_id)]]
            channel = recipient.channel
            if channel is None:
                written.unreachable.add(person_id)
                continue
            deliveries.append(self._delivery_row(prompt_id, recipient, snapshot, channel))
        if deliveries:
            self._delivery.execute(deliveries)
        written.deliveries = len(deliveries)
        return written

    def _delivery_row(
        self, prompt_id: int, recipient: _Recipient, snapshot: _Snapshot, channel: Channel
    ) -> tuple[Any, ...]:
        """The same row as :func:`riskprompt.notifications.outbox.create_delivery` writes."""
        variant = self._variant(snapshot, recipient.locale, channel)
        buttons = (
            ack_buttons(
                prompt_id=prompt_id, locale=recipient.locale, requires_ack=snapshot.requires_ack
            )
            if channel.is_chat
            else ()
        )
        # create_delivery's {"parts": [...], "buttons": [[label, data]]}, the parts
        # serialised once per variant
        buttons_json = _dumps([[b.label, b.data] for b in buttons])
        extra = f'{{"parts":{variant.parts_json},"buttons":{buttons_json}}}'
        body, html = variant.body, variant.html
        if (channel is Channel.EMAIL and snapshot.requires_ack) or channel is Channel.SMS:
            # each reader's own signed link in place of the placeholder (email, SMS)
            target = AckTarget(kind="prompt", id=prompt_id, person_id=recipient.person_id)
            fill = self.links.filler(target)
            body, html = fill(body) or "", fill(html)
        return (
            prompt_id,
            recipient.person_id,
            channel.value,
            variant.subject,
            body,
            html,
            extra,
            self._pending,
            0,
            self._now,
            str(DeliveryKey.prompt(prompt_id, channel)),
            self._now,
        )


# -- the monthly cycle ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CycleResult:
    """What one run of a period's monthly cycle did.

    Attributes:
        period: the period planned (``YYYY-MM``).
        prompts_created: prompts this run inserted.
        prompts_present: prompts that were already there (an earlier or concurrent run).
        unreachable: people who got a new prompt but have no reachable channel
            (no address on any preferred channel, or opted out): no delivery.
        deliveries_created: deliveries queued in the outbox.
        seconds: how long the run took.
    """

    period: str
    prompts_created: int
    prompts_present: int
    unreachable: int
    deliveries_created: int
    seconds: float


def _unit_parents(session: Session) -> dict[int, int | None]:
    return {uid: parent for uid, parent in session.exec(select(Unit.id, Unit.parent_id)).all()}  # type: ignore[misc]


def _focus_resolver(session: Session, period: str) -> Callable[[int], str | None]:
    """A function unit id → the key work that applies: the nearest unit's, else the global one."""
    texts: dict[int | None, str] = {
        unit_id: text
        for unit_id, text in session.exec(
            select(FocusWork.unit_id, FocusWork.text).where(FocusWork.period == period)
        ).all()
    }
    parents = _unit_parents(session) if any(k is not None for k in texts) else {}
    memo: dict[int, str | None] = {}

    def focus_for(unit_id: int) -> str | None:
        if unit_id not in memo:
            seen: set[int] = set()
            current: int | None = unit_id
            found = None
            while current is not None and current not in seen:
                if current in texts:
                    found = texts[current]
                    break
                seen.add(current)
                current = parents.get(current)
            memo[unit_id] = found if found is not None else texts.get(None)
        return memo[unit_id]

    return focus_for


def _post_snapshots(
    connection: Connection,
    post_ids: Iterable[int],
    *,
    period: str,
    focus_for: Callable[[int], str | None],
) -> dict[int, _Snapshot]:
    """The content snapshot of each post: its unit, the key work and its risk points.

    The posts of one chunk are consecutive ids (the cycle goes post by post), so
    they are read by id range rather than a long ``IN`` list; posts in the range
    that nobody holds are skipped.
    """
    wanted = set(post_ids)
    if not wanted:
        return {}
    low, high = min(wanted), max(wanted)
    posts = connection.execute(
        select(Post.id, Post.name, Post.unit_id, Unit.name)
        .join(Unit, col(Unit.id) == Post.unit_id)
        .where(col(Post.id).between(low, high))
    ).all()
    points: dict[int, list[tuple[int, int, dict[str, Any]]]] = {pid: [] for pid in wanted}
    for point_id, post_id, level, description, measures in connection.execute(
        select(
            RiskPoint.id,
            RiskPoint.post_id,
            RiskPoint.level,
            RiskPoint.description,
            RiskPoint.measures,
        ).where(col(RiskPoint.post_id).between(low, high))
    ).all():
        if post_id not in wanted:
            continue
        risk_level = RiskLevel(level)
        points[post_id].append(
            (
                risk_level.rank,
                point_id,
                {
                    "id": point_id,
                    "level": risk_level.value,
                    "description": description,
                    "measures": list(measures or ()),
                },
            )
        )
    snapshots = {}
    for post_id, post_name, unit_id, unit_name in posts:
        if post_id not in wanted:
            continue
        content = {
            "period": period,
            "post_id": post_id,
            "post": post_name,
            "unit_id": unit_id,
            "unit": unit_name,
            "focus": focus_for(unit_id),
            "risk_points": [item for _rank, _id, item in sorted(points[post_id], key=_by_rank)],
        }
        snapshots[post_id] = _Snapshot(
            key=("post", post_id), kind=PromptKind.MONTHLY, content=content, requires_ack=True
        )
    return snapshots


def _by_rank(point: tuple[int, int, dict[str, Any]]) -> tuple[int, int]:
    return point[0], point[1]


def _candidates(period: str, *extra: Any) -> Any:
    """Active people and the posts they hold at any time in ``period``, post by post.

    The columns are the post, the person and their other :data:`_RECIPIENT_COLUMNS`, then
    ``extra``.
    """
    first, last = period_bounds(period)
    return (
        select(Assignment.post_id, Assignment.person_id, *_RECIPIENT_COLUMNS[1:], *extra)
        .join(Person, col(Person.id) == Assignment.person_id)
        .where(
            col(Person.active).is_(True),
            col(Assignment.start_on) <= last,
            or_(col(Assignment.end_on).is_(None), col(Assignment.end_on) > first),
        )
        .distinct()
        # The same order on every process: concurrent runs wait on each other's rows
        # in the same sequence, so they never deadlock.
        .order_by(col(Assignment.post_id), col(Assignment.person_id))
    )


def _start_cycle_run(engine: Engine, *, period: str, now: datetime) -> None:
    table = CycleRun.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    with engine.begin() as connection:
        connection.execute(
            insert(table)
            .values(period=period, started_at=now, prompts_created=0)
            .on_conflict_do_nothing(index_elements=["period"])
        )


def plan_monthly_cycle(
    engine: Engine,
    *,
    period: str,
    clock: Clock,
    settings: Settings,
    chunk_size: int = CHUNK_SIZE,
    force: bool = False,
) -> CycleResult:
    """Plan a period's monthly risk prompts and queue their deliveries.

    One prompt per (person, post) held at any time during the period by an active
    person, with its delivery on the person's first reachable channel; a person
    with no reachable channel still gets the prompt (officers see it) but no
    delivery.  Work is committed in chunks of ``chunk_size`` prompts, each with its
    deliveries; running it again, or on two processes at once, creates nothing
    twice, and a run interrupted half-way is completed by the next one.  The
    period's :class:`~models.prompts.CycleRun` records when it finished (the
    scheduler catches up on periods without one) and one ``cycle.run`` audit
    record gives the counts.

    Args:
        engine: the database (the cycle opens its own connections and commits).
        period: the period, ``YYYY-MM``.
        clock: the clock (the prompts' creation and the deliveries' due time).
        settings: the settings (default locale, time zone).
        chunk_size: prompts per transaction.
        force: plan a period more than a month ahead all the same
            (:func:`riskprompt.models.monthly.check_cycle_period`).

    Returns:
        The counts of what this run did.

    Raises:
        InvalidInput: the period is malformed, or too far ahead without ``force``.
    """
    period = check_cycle_period(period, clock=clock, settings=settings, force=force)
    started = time.perf_counter()
    now = clock.now()
    _start_cycle_run(engine, period=period, now=now)
    with Session(engine) as session:
        focus_for = _focus_resolver(session, period)
    totals = _Written()
    snapshots: dict[int, _Snapshot] = {}
    with engine.connect() as reader, engine.connect() as writer_connection:
        writer = _OutboxWriter(
            writer_connection,
            now=now,
            links=ack_links(settings, now),
            remind_at=first_reminder_at(now, settings),
        )
        result = reader.execution_options(yield_per=chunk_size).execute(_candidates(period))
        for rows in result.partitions():
            needed = {row[0] for row in rows if row[0] not in snapshots}
            with writer_connection.begin():
                snapshots.update(
                    _post_snapshots(writer_connection, needed, period=period, focus_for=focus_for)
                )
                items = []
                post_ids = []
                for post_id, person_id, *recipient in rows:
                    items.append((_recipient(settings, person_id, *recipient), snapshots[post_id]))
                    post_ids.append(post_id)
                written = writer.write(items, period=period, post_ids=post_ids)
            totals.created += written.created
            totals.present += written.present
            totals.deliveries += written.deliveries
            totals.unreachable |= written.unreachable
            # Rows come post by post: only the last post may continue in the next chunk.
            last = rows[-1][0]
            snapshots = {last: snapshots[last]} if last in snapshots else {}
            writer.forget(keep=[("post", last)])
    seconds = time.perf_counter() - started
    outcome = CycleResult(
        period=period,
        prompts_created=totals.created,
        prompts_present=totals.present,
        unreachable=len(totals.unreachable),
        deliveries_created=totals.deliveries,
        seconds=seconds,
    )
    _finish_cycle_run(engine, outcome=outcome, now=clock.now())
    log.info(
        "monthly cycle %s: %d prompts created, %d already there, %d deliveries, "
        "%d people unreachable, %.1f s",
        period,
        outcome.prompts_created,
        outcome.prompts_present,
        outcome.deliveries_created,
        outcome.unreachable,
        seconds,
    )
    return outcome


def _finish_cycle_run(engine: Engine, *, outcome: CycleResult, now: datetime) -> None:
    """Mark the period done and write the audit record, in one transaction.

    The update comes first: it takes the cycle run's row lock (or SQLite's write
    lock), so two concurrent runs append their audit records one after the other.
    """
    with Session(engine) as session:
        session.exec(
            update(CycleRun)
            .where(col(CycleRun.period) == outcome.period)
            .values(
                finished_at=now, prompts_created=CycleRun.prompts_created + outcome.prompts_created
            )
        )
        run_id = session.exec(select(CycleRun.id).where(CycleRun.period == outcome.period)).one()
        record(
            session,
            at=now,
            actor_id=None,
            action="cycle.run",
            subject_type="cycle_run",
            subject_id=run_id,
            data={
                "period": outcome.period,
                "prompts_created": outcome.prompts_created,
                "prompts_present": outcome.prompts_present,
                "deliveries_created": outcome.deliveries_created,
                "unreachable": outcome.unreachable,
            },
        )
        session.commit()


def missed_periods(
    session: Session, *, clock: Clock, settings: Settings, since: str | None = None
) -> list[str]:
    """Periods before the current one whose monthly cycle never finished, oldest first.

    The search starts at ``since`` or, without it, at the period of the earliest
    assignment, and goes back at most :data:`CATCH_UP_PERIODS` months.

    Args:
        session: an open session.
        clock: the clock (the current period).
        settings: the settings (time zone).
        since: the first period to consider (``YYYY-MM``).

    Returns:
        The periods to run, e.g. ``["2026-10", "2026-11"]``; empty when nothing is
        held or everything ran.

    Raises:
        InvalidInput: ``since`` is malformed.
    """
    current = current_period(clock=clock, settings=settings)
    if since is not None:
        start = parse_period(since)
    else:
        first_day = session.exec(select(func.min(Assignment.start_on))).one()
        if first_day is None:
            return []
        start = period_of(first_day, settings)
    start = max(start, shift_period(current, -CATCH_UP_PERIODS))
    periods = []
    period = start
    while period < current:
        periods.append(period)
        period = shift_period(period, 1)
    if not periods:
        return []
    done = set(
        session.exec(
            select(CycleRun.period).where(
                col(CycleRun.period).in_(periods), col(CycleRun.finished_at).is_not(None)
            )
        ).all()
    )
    return [p for p in periods if p not in done]


# -- dry runs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReachRow:
    """One person a run would reach: on which channel, with how many messages."""

    person_id: int
    staff_id: str
    name: str
    channel: Channel | None  # None: no reachable channel (the prompt, but no message)
    messages: int


@dataclass(frozen=True, slots=True)
class Reach:
    """Recipients × channels of a run that was not made (a dry run).

    Attributes:
        rows: the people reached, by staff id.
        present: prompts already there, that the run would not make again.
        due_at: when the messages would go (a special prompt's time).
    """

    rows: list[ReachRow]
    present: int = 0
    due_at: datetime | None = None

    @property
    def people(self) -> int:
        """How many people the run would give a prompt."""
        return len(self.rows)

    @property
    def prompts(self) -> int:
        """How many prompts the run would write."""
        return sum(row.messages for row in self.rows)

    @property
    def unreachable(self) -> int:
        """People with a prompt but no reachable channel."""
        return sum(1 for row in self.rows if row.channel is None)

    @property
    def by_channel(self) -> dict[Channel, int]:
        """Messages per channel (every channel, zero included)."""
        counts = dict.fromkeys(Channel, 0)
        for row in self.rows:
            if row.channel is not None:
                counts[row.channel] += row.messages
        return counts


def _reach_row(
    person_id: int,
    staff_id: str,
    name: str,
    channels: str,
    telegram_chat_id: int | None,
    mobile: str | None,
    email: str | None,
    sms_opt_out: bool,
    wecom_userid: str | None,
    dingtalk_userid: str | None,
    messages: int,
) -> ReachRow:
    channel = _reach(
        channels or "",
        telegram_chat_id is not None,
        bool(mobile) and not sms_opt_out,
        bool(email),
        bool(wecom_userid),
        bool(dingtalk_userid),
    )
    return ReachRow(person_id, staff_id, name, channel, messages)


def preview_monthly_cycle(
    session: Session, *, period: str, clock: Clock, settings: Settings, force: bool = False
) -> Reach:
    """Whom :func:`plan_monthly_cycle` would reach for ``period``, on which channel; writes nothing.

    Counts the prompts the run would create (one per person and post held, less
    those already there) and the first delivery of each on the person's first
    reachable channel.

    Raises:
        InvalidInput: the period is malformed, or too far ahead without ``force``.
    """
    period = check_cycle_period(period, clock=clock, settings=settings, force=force)
    present = set(
        session.exec(
            select(Prompt.person_id, Prompt.post_id).where(
                Prompt.period == period, Prompt.kind == PromptKind.MONTHLY
            )
        ).all()
    )
    counts: dict[int, list[Any]] = {}
    skipped = 0
    for row in session.exec(_candidates(period, Person.staff_id, Person.name)).all():
        post_id, person_id, _locale, *reach, staff_id, name = row
        if (person_id, post_id) in present:
            skipped += 1
            continue
        entry = counts.get(person_id)
        if entry is None:
            counts[person_id] = [staff_id, name, *reach, 1]  # reach: channels .. dingtalk
        else:
            entry[-1] += 1
    rows = [_reach_row(person_id, *entry) for person_id, entry in counts.items()]
    return Reach(rows=sorted(rows, key=lambda row: row.staff_id), present=skipped)


def preview_special_prompt(
    session: Session,
    *,
    actor: Person,
    target: str | Target,
    text: str,
    at: datetime | None = None,
    requires_ack: bool = True,
    force: bool = False,
    clock: Clock,
    settings: Settings,
) -> Reach:
    """Whom :func:`issue_and_expand` would reach (as of its sending day), on which channel.

    Makes every check the rule makes (officer, text, target, scope, time) and
    writes nothing.

    Raises:
        The rule's errors: see :func:`riskprompt.models.special.plan_special_prompt`.
    """
    plan = plan_special_prompt(
        session,
        actor=actor,
        target=target,
        text=text,
        at=at,
        requires_ack=requires_ack,
        clock=clock,
        force=force,
    )
    person_ids = resolve_target(
        session,
        plan.target,
        local_day(plan.due_at, settings),
        within=scope_unit_ids(session, officer=actor),
    )
    rows: list[ReachRow] = []
    for start in range(0, len(person_ids), CHUNK_SIZE):
        chunk = person_ids[start : start + CHUNK_SIZE]
        rows.extend(
            _reach_row(person_id, staff_id, name, *reach, messages=1)
            for person_id, staff_id, name, *reach in session.exec(
                select(
                    Person.id,
                    Person.staff_id,
                    Person.name,
                    *_RECIPIENT_COLUMNS[2:],  # channels .. dingtalk
                ).where(col(Person.id).in_(chunk))
            ).all()
        )
    return Reach(rows=sorted(rows, key=lambda row: row.staff_id), due_at=plan.due_at)


# -- special prompts -----------------------------------------------------------------------


def issue_and_expand(
    session: Session,
    *,
    actor: Person,
    target: str | Target,
    text: str,
    at: datetime | None = None,
    requires_ack: bool = True,
    force: bool = False,
    clock: Clock,
    settings: Settings,
) -> Broadcast:
    """Issue a special prompt (the rule: :func:`riskprompt.models.special.issue_special_prompt`)
    and, when it is due now, expand it at once into prompts and deliveries.

    One scheduled for later waits for :func:`expand_due_broadcasts`.  The caller commits.

    Returns:
        The broadcast: ``expanded`` with its ``prompt_count`` when sent now, else
        ``scheduled``.

    Raises:
        The rule's errors (PermissionDenied, InvalidInput, NotFound); see there.
    """
    broadcast = issue_special_prompt(
        session,
        actor=actor,
        target=target,
        text=text,
        at=at,
        requires_ack=requires_ack,
        clock=clock,
        force=force,
    )
    now = clock.now()
    if broadcast.due_at <= now:
        # the same object, reloaded by the claim: its status and prompt count are current
        _claim_and_expand(session, broadcast_id=broadcast.id or 0, now=now, settings=settings)
    return broadcast


def expand_due_broadcasts(session: Session, *, clock: Clock, settings: Settings) -> int:
    """Turn every special prompt that is due into one prompt per person targeted.

    Each broadcast is claimed with a conditional update (``scheduled`` →
    ``expanded``) before its prompts are written, so two processes never expand the
    same one; the unique (broadcast, person) constraint backs that up.  The caller
    commits.

    Args:
        session: the open session.
        clock: the clock (what is due).
        settings: the settings.

    Returns:
        How many broadcasts this call expanded (each one's ``prompt_count`` says
        how many prompts it made).
    """
    now = clock.now()
    due = session.exec(
        select(Broadcast.id)
        .where(Broadcast.status == BroadcastStatus.SCHEDULED.value, col(Broadcast.due_at) <= now)
        .order_by(col(Broadcast.due_at), col(Broadcast.id))
    ).all()
    expanded = 0
    for broadcast_id in due:
        if _claim_and_expand(session, broadcast_id=broadcast_id or 0, now=now, settings=settings):
            expanded += 1
    return expanded


def _claim_and_expand(
    session: Session, *, broadcast_id: int, now: datetime, settings: Settings
) -> bool:
    """Claim one scheduled broadcast and write its prompts; False when another got it."""
    claimed = session.exec(
        update(Broadcast)
        .where(
            col(Broadcast.id) == broadcast_id,
            col(Broadcast.status) == BroadcastStatus.SCHEDULED.value,
        )
        .values(status=BroadcastStatus.EXPANDED.value, expanded_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        return False
    broadcast = session.get(Broadcast, broadcast_id, populate_existing=True)
    if broadcast is None:  # pragma: no cover - claimed just now, in this transaction
        return False
    issuer = session.get(Person, broadcast.issued_by_id)
    issuer_unit = session.get(Unit, issuer.unit_id) if issuer is not None else None
    try:
        person_ids = resolve_target(
            session,
            parse_target(broadcast.target),
            local_day(now, settings),
            # the issuer reaches only the people they supervise, as on the day issued
            within=scope_unit_ids(session, officer=issuer) if issuer is not None else None,
        )
    except DomainError as exc:
        # The person or unit went away after issuance: nobody to tell, and retrying
        # on every tick would not bring them back.
        log.warning("special prompt %d: target %s: %s", broadcast_id, broadcast.target, exc)
        person_ids = []
    snapshot = _Snapshot(
        key=("broadcast", broadcast_id),
        kind=PromptKind.SPECIAL,
        content={
            "text": broadcast.text,
            "issuer": issuer.name if issuer is not None else "",
            "issuer_staff_id": issuer.staff_id if issuer is not None else "",
            "issuer_unit": issuer_unit.name if issuer_unit is not None else "",
            "issued_on": local_day(broadcast.created_at, settings).isoformat(),
            "target": broadcast.target,
        },
        requires_ack=broadcast.requires_ack,
    )
    writer = _OutboxWriter(
        session.connection(),
        now=now,
        links=ack_links(settings, now),
        remind_at=first_reminder_at(now, settings),
    )
    period = period_of(now, settings)
    created = 0
    for start in range(0, len(person_ids), CHUNK_SIZE):
        chunk = person_ids[start : start + CHUNK_SIZE]
        people = session.exec(select(*_RECIPIENT_COLUMNS).where(col(Person.id).in_(chunk))).all()
        items = [(_recipient(settings, *row), snapshot) for row in people]
        created += writer.write(items, period=period, broadcast=broadcast).created
    broadcast.prompt_count = created
    session.add(broadcast)
    record(
        session,
        at=now,
        actor_id=None,
        action="special.expanded",
        subject_type="broadcast",
        subject_id=broadcast_id,
        data={"prompts": created, "target": broadcast.target},
    )
    log.info("special prompt %d (%s): %d prompts", broadcast_id, broadcast.target, created)
    return True


__all__ = [
    "CycleResult",
    "Reach",
    "ReachRow",
    "current_period",
    "expand_due_broadcasts",
    "issue_and_expand",
    "missed_periods",
    "parse_period",
    "period_bounds",
    "plan_monthly_cycle",
    "preview_monthly_cycle",
    "preview_special_prompt",
]
