"""Import the catalogue (职权目录与风险点) and people from CSV or XLSX files.

Each import runs in three steps:

1. **Validate** the whole file in plain Python against the keys already in the
   database (loaded once into dicts), collecting *every* problem as
   ``file:row:column: message``.
2. **Plan**: compare each row with what is stored, by natural key, and count what
   would be created, updated or left unchanged.
3. **Apply** the plan with bulk statements in the caller's transaction (Core
   ``executemany``; on PostgreSQL the inserts use ``COPY``), never one ORM
   object per row, and write one audit record when anything changed.

A file with any problem changes nothing; ``dry_run`` stops after the plan.
Re-importing the same file is a no-op: rows are upserted by natural key (units by
name, posts by unit and name, powers by post and name, risk points by post and
description, people by staff id) and nothing is ever deleted.

Optional columns that a file leaves out are not managed: the stored values stay
as they are (a new record gets the default).  The one exception to "nothing is
ever deleted" is an officer's supervision scope (监督范围), which a file with that
column states whole: the units it names replace those stored.  When a unit, power or person
appears on several rows, an empty cell repeats what another row states; two
different stated values are a problem.
"""

from __future__ import annotations

import enum
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    JSON,
    Connection,
    Dialect,
    Table,
    bindparam,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.types import TypeEngine
from sqlmodel import Session

from riskprompt.config.i18n import DEFAULT_LOCALE, N_
from riskprompt.models.audit import record
from riskprompt.models.catalog import Post, Power, RiskLevel, RiskPoint, Unit, split_measures
from riskprompt.models.clock import Clock
from riskprompt.models.errors import InvalidInput
from riskprompt.models.people import (
    DEFAULT_CHANNELS,
    Assignment,
    Channel,
    Person,
    Role,
    normalise_dingtalk_userid,
    normalise_email,
    normalise_mobile,
    normalise_wecom_userid,
    parse_locale,
)
from riskprompt.models.scope import Supervision
from riskprompt.models.tabular import Column, HeaderMap, Layout, Problem, TableError, open_table

T = TypeVar("T")

ProgressCallback = Callable[[str, int, "int | None"], None]
"""Called as ``progress(phase, done, total)``; phase is ``check`` or ``write``."""

PHASES = {"check": N_("Checking"), "write": N_("Writing")}
PROGRESS_EVERY = 500
WRITE_BATCH = 5_000
SAMPLE_CHANGES = 20

CATALOG_LAYOUT = Layout(
    (
        Column("unit", "单位", "unit", required=True),
        Column("parent_unit", "上级单位", "parent_unit"),
        Column("post", "岗位", "post", required=True),
        Column("power", "职权名称", "power", aliases=("职权", "power_name")),
        Column("power_content", "职权内容", "power_content"),
        Column("legal_basis", "法律依据", "legal_basis"),
        Column("exercising_body", "行使主体", "exercising_body"),
        Column("risk_point", "风险点", "risk_point", required=True),
        Column("level", "风险等级", "level", required=True, aliases=("risk_level",)),
        Column("cause", "风险成因", "cause"),
        Column("measures", "防控措施", "measures", required=True),
    )
)

PEOPLE_LAYOUT = Layout(
    (
        Column("name", "姓名", "name", required=True),
        Column("staff_id", "工号", "staff_id", required=True),
        Column("unit", "单位", "unit", required=True),
        Column("post", "岗位", "post", aliases=("posts",)),
        Column("mobile", "手机", "mobile", aliases=("手机号", "手机号码")),
        Column("email", "邮箱", "email", aliases=("电子邮箱", "e-mail")),
        Column(
            "wecom_userid", "企业微信账号", "wecom_userid", aliases=("企业微信", "政务微信账号")
        ),
        Column("dingtalk_userid", "钉钉账号", "dingtalk_userid", aliases=("钉钉", "浙政钉账号")),
        Column("role", "角色", "role"),
        Column("supervisor_id", "上级工号", "supervisor_id"),
        Column("locale", "语言", "locale", aliases=("language",)),
        Column("channels", "渠道", "channels"),
        Column("timezone", "时区", "timezone", aliases=("time_zone",)),
        Column("scope", "监督范围", "scope", aliases=("supervision_scope",)),
    )
)

KIND_LABELS = {
    "units": N_("Units"),
    "posts": N_("Posts"),
    "powers": N_("Powers"),
    "risk_points": N_("Risk points"),
    "people": N_("People"),
    "assignments": N_("Assignments"),
    "supervision": N_("Supervision scopes"),
}
CATALOG_KINDS = ("units", "posts", "powers", "risk_points")
PEOPLE_KINDS = ("people", "assignments")
#: Counted only when the file has the 监督范围/scope column.
SCOPE_KIND = "supervision"

# Column lengths of the tables: longer values are refused by PostgreSQL, so they
# are reported as problems rather than failing the transaction.
_UNIT_NAME = 200
_POST_NAME = 200
_POWER_NAME = 200
_BODY = 200
_DESCRIPTION = 500
_STAFF_ID = 32
_PERSON_NAME = 100
_EMAIL = 254
_TIMEZONE = 64


@dataclass
class Counts:
    """How many records of one kind an import creates, updates or leaves unchanged."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts for the audit record."""
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


@dataclass(frozen=True)
class Change:
    """One change an import makes, for the dry run's sample.

    ``action`` is ``create``, ``update`` or ``end`` (an assignment ended);
    ``fields`` are the column keys an update changes.
    """

    kind: str
    action: Literal["create", "update", "end"]
    subject: str
    row: int | None = None
    fields: tuple[str, ...] = ()


@dataclass
class ImportResult:
    """What an import found and did.

    ``problems`` non-empty means nothing was written.  ``counts`` has one entry per
    kind (see :data:`KIND_LABELS`); ``changes`` holds up to
    :data:`SAMPLE_CHANGES` examples.
    """

    kind: Literal["catalog", "people"]
    source: str
    dry_run: bool
    counts: dict[str, Counts]
    rows: int = 0
    changes: list[Change] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No problem was found."""
        return not self.problems

    @property
    def changed(self) -> bool:
        """Something is (or, in a dry run, would be) created or updated."""
        return any(c.created or c.updated for c in self.counts.values())

    @property
    def applied(self) -> bool:
        """The changes were written to the database."""
        return self.ok and not self.dry_run

    @property
    def room(self) -> bool:
        """Whether another example change is kept (saves building the ones that are not)."""
        return len(self.changes) < SAMPLE_CHANGES

    def note(self, change: Change) -> None:
        """Keep ``change`` as an example while there is room."""
        if self.room:
            self.changes.append(change)


class _Unmanaged(enum.Enum):
    """The file has no column for this field: leave the stored value alone."""

    TOKEN = "unmanaged"


UNMANAGED = _Unmanaged.TOKEN


def _table(model: type[Any]) -> Table:
    return model.__table__  # type: ignore[no-any-return]


class _Rows:
    """Shared row-reading chores: problems located by column, progress, lengths."""

    def __init__(
        self, source: str, header: HeaderMap, size_hint: int | None, progress: ProgressCallback
    ) -> None:
        self.source = source
        self.header = header
        self.size_hint = size_hint
        self.progress = progress
        self.problems: list[Problem] = []
        self.count = 0

    def problem(self, row: int, key: str, msgid: str, **params: object) -> None:
        self.problems.append(Problem(self.source, msgid, params, row, self.header.names[key]))

    def refused(self, row: int, key: str, exc: InvalidInput) -> None:
        self.problems.append(
            Problem(self.source, exc.msgid, exc.params, row, self.header.names[key])
        )

    def too_long(self, row: int, key: str, value: str, limit: int) -> bool:
        if len(value) > limit:
            self.problem(
                row,
                key,
                N_("too long: at most %(max)d characters, not %(n)d"),
                max=limit,
                n=len(value),
            )
            return True
        return False

    def tick(self) -> None:
        self.count += 1
        if self.count % PROGRESS_EVERY == 0:
            self.progress("check", self.count, self.size_hint)

    def done(self) -> None:
        self.progress("check", self.count, self.count)


def _no_progress(phase: str, done: int, total: int | None) -> None:
    """The progress callback used when the caller gives none."""


def _identity(value: Any) -> Any:
    return value


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _copy_value(column_type: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any]:
    """How a Python value is written in ``COPY``: the way Core would have bound it.

    JSON is the exception: psycopg adapts it in the driver, not in a bind processor.
    """
    if isinstance(column_type, JSON):
        return _json_text
    return column_type.bind_processor(dialect) or _identity


def _scalar_default(table: Table, key: str) -> Any:
    """The scalar Python-side default of ``table.c[key]`` (None when it has none)."""
    default = table.c[key].default
    if default is None or not getattr(default, "is_scalar", False):
        return None
    return default.arg  # type: ignore[attr-defined]


def _batches(items: Iterable[T], size: int = WRITE_BATCH) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Writer:
    """Bulk statements on the session's connection, reporting write progress.

    Inserts are Core ``executemany`` batches, except on PostgreSQL where they go
    through ``COPY ... FROM STDIN`` on the same connection (so in the same
    transaction): psycopg's pipelined ``executemany`` managed about 30,000 rows/s
    for the risk points, ``COPY`` about 80,000.
    """

    def __init__(self, connection: Connection, total: int, progress: ProgressCallback) -> None:
        self.connection = connection
        self.total = total
        self.done = 0
        self.progress = progress
        self.copy = connection.dialect.name == "postgresql"

    def insert(self, table: Table, rows: Iterable[dict[str, Any]]) -> None:
        """Insert ``rows`` (dicts with the same keys) into ``table``."""
        iterator = iter(rows)
        first = next(iterator, None)
        if first is None:
            return
        names = list(first)
        # Columns the rows leave out but that have a Python-side default (a later
        # migration's new column, say) get it here: COPY and the compiled INSERT
        # below bypass the ORM that would otherwise fill it in.
        defaults = {
            c.key: _scalar_default(table, c.key)
            for c in table.columns
            if c.key not in first and _scalar_default(table, c.key) is not None
        }
        if defaults:
            names += list(defaults)
            first = {**first, **defaults}
        dialect = self.connection.dialect
        convert = [(name, _copy_value(table.c[name].type, dialect)) for name in names]
        values = (
            [f(row.get(name, defaults.get(name))) for name, f in convert]
            for row in itertools.chain((first,), iterator)
        )
        if self.copy:
            self._copy(table, names, values)
            return
        # The statement is compiled once and the values converted above by the
        # columns' own bind processors: Core's per-row parameter handling cost more
        # than SQLite's executemany itself.
        compiled = insert(table).compile(dialect=dialect, column_keys=names)
        order = [names.index(key) for key in compiled.positiontup or ()]
        if len(order) != len(names):  # a named paramstyle: let Core bind the dicts
            for batch in _batches(dict(zip(names, v, strict=True)) for v in values):
                self.connection.execute(insert(table), batch)
                self._advance(len(batch))
            return
        sql = str(compiled)
        for batch in _batches(tuple(v[i] for i in order) for v in values):
            self.connection.exec_driver_sql(sql, batch)
            self._advance(len(batch))

    def _copy(self, table: Table, names: list[str], values: Iterator[list[Any]]) -> None:
        columns = ", ".join(f'"{name}"' for name in names)
        dbapi = self.connection.connection.dbapi_connection
        assert dbapi is not None
        with dbapi.cursor() as cursor:  # type: ignore[attr-defined]
            with cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
                n = 0
                for row in values:
                    copy.write_row(row)
                    n += 1
                    if n % WRITE_BATCH == 0:
                        self._advance(WRITE_BATCH)
                self._advance(n % WRITE_BATCH)

    def update(self, table: Table, values: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
        """``UPDATE table SET v = :b_v ... WHERE id = :b_id`` for each row (keys ``b_*``)."""
        statement = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values({name: bindparam(f"b_{name}") for name in values})
        )
        for batch in _batches(rows):
            self.connection.execute(statement, batch)
            self._advance(len(batch))

    def _advance(self, n: int) -> None:
        self.done += n
        self.progress("write", self.done, self.total)


def _read(
    path: Path,
    *,
    source: str,
    sheet: str | None,
    layout: Layout,
    result: ImportResult,
    read_rows: Callable[[Iterator[tuple[int, list[str]]], _Rows], T],
    progress: ProgressCallback,
) -> tuple[T, HeaderMap] | None:
    """Open the file, match its header and run ``read_rows``; problems go to ``result``.

    Returns what ``read_rows`` made of the rows and the header, or None when the
    file could not be read at all.
    """
    try:
        with open_table(path, source=source, sheet=sheet, recognises=layout.recognises) as table:
            header = layout.match(table.headers, source=source)
            result.problems.extend(header.problems)
            if header.missing:
                return None  # the rows cannot be read without their required columns
            reader = _Rows(source, header, table.size_hint, progress)
            parsed = read_rows(table.rows(), reader)
            reader.done()
            result.rows = reader.count
            result.problems.extend(table.problems)
            result.problems.extend(reader.problems)
            return parsed, header
    except TableError as exc:
        result.problems.append(exc.problem)
        return None


def _sort_problems(result: ImportResult) -> None:
    # Checks across rows (parents, supervisors) run after the file is read; the
    # report reads best in file order.
    result.problems.sort(key=lambda p: p.row or 0)


# --------------------------------------------------------------------------- catalogue

_POWER_FIELDS = ("power_content", "legal_basis", "exercising_body")
_POWER_COLUMNS = {
    "power_content": "content",
    "legal_basis": "legal_basis",
    "exercising_body": "exercising_body",
}

PostKey = tuple[str, str]


@dataclass(slots=True)
class _UnitRow:
    name: str
    row: int
    parent: str | None = None
    parent_row: int | None = None


@dataclass(slots=True)
class _PostRow:
    key: PostKey
    row: int


@dataclass(slots=True)
class _PowerRow:
    post: PostKey
    name: str
    row: int
    stated: dict[str, tuple[str, int]] = field(default_factory=dict)


@dataclass(slots=True)
class _PointRow:
    post: PostKey
    description: str
    row: int
    level: RiskLevel
    measures: list[str]
    cause: str | _Unmanaged
    power: str | _Unmanaged | None


@dataclass
class _CatalogFile:
    units: dict[str, _UnitRow] = field(default_factory=dict)
    posts: dict[PostKey, _PostRow] = field(default_factory=dict)
    powers: dict[tuple[PostKey, str], _PowerRow] = field(default_factory=dict)
    points: dict[tuple[PostKey, str], _PointRow] = field(default_factory=dict)


@dataclass
class _CatalogDB:
    units: dict[str, tuple[int, int | None]]
    unit_names: dict[int, str]
    posts: dict[PostKey, int]
    powers: dict[tuple[int, str], tuple[int, str, str, str]]
    points: dict[tuple[int, str], tuple[int, RiskLevel, str, list[str], str | None, int | None]]


def _read_catalog_rows(rows: Iterator[tuple[int, list[str]]], r: _Rows) -> _CatalogFile:
    """Check every row of a catalogue file and collect its units, posts, powers, risk points."""
    h = r.header
    at = h.position
    i_unit, i_parent, i_post = at("unit"), at("parent_unit"), at("post")
    i_power, i_point, i_level = at("power"), at("risk_point"), at("level")
    i_cause, i_measures = at("cause"), at("measures")
    power_fields = [(key, at(key)) for key in _POWER_FIELDS if h.has(key)]
    point_fields = [(key, at(key)) for key in ("level", "cause", "measures") if h.has(key)]
    below_post = [(key, at(key)) for key in ("power", *_POWER_FIELDS) if h.has(key)] + point_fields
    parse_level = RiskLevel.parse
    out = _CatalogFile()
    units, posts, powers, points = out.units, out.posts, out.powers, out.points
    # The loop runs once per row of files with 100,000 rows: lengths are compared
    # inline and r.too_long() is called only to report.
    every = PROGRESS_EVERY

    for row, cells in rows:
        r.count += 1
        if r.count % every == 0:
            r.progress("check", r.count, r.size_hint)
        unit = cells[i_unit]
        if not unit:
            r.problem(
                row,
                "unit",
                N_("the unit is empty: write it on every row (merged cells are not read)"),
            )
            continue
        if len(unit) > _UNIT_NAME and r.too_long(row, "unit", unit, _UNIT_NAME):
            continue
        seen_unit = units.get(unit)
        if seen_unit is None:
            seen_unit = units[unit] = _UnitRow(unit, row)
        else:
            unit = seen_unit.name  # one string object per unit, however many rows
        if i_parent >= 0 and (parent := cells[i_parent]):
            if parent == unit:
                r.problem(row, "parent_unit", N_("a unit cannot be its own parent unit"))
            elif seen_unit.parent is None:
                seen_unit.parent, seen_unit.parent_row = parent, row
            elif seen_unit.parent != parent:
                r.problem(
                    row,
                    "parent_unit",
                    N_("unit %(unit)r has parent unit %(other)r on row %(first)d"),
                    unit=unit,
                    other=seen_unit.parent,
                    first=seen_unit.parent_row,
                )

        post = cells[i_post]
        if not post:
            # A row with a unit only defines the unit (units without posts round-trip).
            for key, position in below_post:
                if cells[position]:
                    r.problem(row, key, N_("this value needs a post on the same row"))
            continue
        if len(post) > _POST_NAME and r.too_long(row, "post", post, _POST_NAME):
            continue
        seen_post = posts.get((unit, post))
        if seen_post is None:
            key = (unit, post)
            seen_post = posts[key] = _PostRow(key, row)
        post_key = seen_post.key

        power_name: str | _Unmanaged | None = UNMANAGED
        if i_power >= 0:
            power_name = cells[i_power] or None
        if power_name is not None and power_name is not UNMANAGED:
            if len(power_name) <= _POWER_NAME or not r.too_long(
                row, "power", power_name, _POWER_NAME
            ):
                _read_power(r, row, cells, powers, post_key, power_name, power_fields)
        else:
            for key, position in power_fields:
                if cells[position]:
                    r.problem(row, key, N_("this value needs a power name on the same row"))

        description = cells[i_point]
        if not description:
            # A row without a risk point defines the unit, post and power only.
            for key, position in point_fields:
                if cells[position]:
                    r.problem(row, key, N_("this value needs a risk point on the same row"))
            continue
        if len(description) > _DESCRIPTION and r.too_long(
            row, "risk_point", description, _DESCRIPTION
        ):
            continue
        level_text = cells[i_level]
        level: RiskLevel | None = None
        if not level_text:
            r.problem(row, "level", N_("the risk level is empty: use 高/中/低 or high/medium/low"))
        else:
            try:
                level = parse_level(level_text)
            except InvalidInput as exc:
                r.refused(row, "level", exc)
        measures = split_measures(cells[i_measures])
        if not measures:
            r.problem(row, "measures", N_("a risk point needs at least one control measure"))
        if level is None or not measures:
            continue
        point = _PointRow(
            post_key,
            description,
            row,
            level,
            measures,
            cells[i_cause] if i_cause >= 0 else UNMANAGED,
            power_name,
        )
        seen_point = points.get((post_key, description))
        if seen_point is None:
            points[(post_key, description)] = point
        elif (seen_point.level, seen_point.measures, seen_point.cause, seen_point.power) != (
            point.level,
            point.measures,
            point.cause,
            point.power,
        ):
            r.problem(
                row,
                "risk_point",
                N_("risk point %(point)r of this post is already on row %(first)d, differently"),
                point=description,
                first=seen_point.row,
            )
    return out


def _read_power(
    r: _Rows,
    row: int,
    cells: list[str],
    powers: dict[tuple[PostKey, str], _PowerRow],
    post_key: PostKey,
    name: str,
    power_fields: list[tuple[str, int]],
) -> None:
    seen = powers.get((post_key, name))
    if seen is None:
        seen = powers[(post_key, name)] = _PowerRow(post_key, name, row)
    for key, position in power_fields:
        value = cells[position]
        if not value:
            continue
        if key == "exercising_body" and r.too_long(row, key, value, _BODY):
            continue
        stated = seen.stated.get(key)
        if stated is None:
            seen.stated[key] = (value, row)
        elif stated[0] != value:
            r.problem(
                row,
                key,
                N_("power %(power)r of this post has another value here on row %(first)d"),
                power=name,
                first=stated[1],
            )


def _load_catalog(connection: Connection) -> _CatalogDB:
    """Every natural key of the stored catalogue, with the values an import compares."""
    unit, post, power, point = _table(Unit), _table(Post), _table(Power), _table(RiskPoint)
    units: dict[str, tuple[int, int | None]] = {}
    unit_names: dict[int, str] = {}
    for unit_id, name, parent_id in connection.execute(
        select(unit.c.id, unit.c.name, unit.c.parent_id)
    ):
        units[name] = (unit_id, parent_id)
        unit_names[unit_id] = name
    posts = {
        (unit_names[unit_id], name): post_id
        for post_id, unit_id, name in connection.execute(
            select(post.c.id, post.c.unit_id, post.c.name)
        )
    }
    powers = {
        (post_id, name): (power_id, content, legal_basis, body)
        for power_id, post_id, name, content, legal_basis, body in connection.execute(
            select(
                power.c.id,
                power.c.post_id,
                power.c.name,
                power.c.content,
                power.c.legal_basis,
                power.c.exercising_body,
            )
        )
    }
    stored_points = connection.execute(
        select(
            point.c.id,
            point.c.post_id,
            point.c.description,
            point.c.level,
            point.c.cause,
            point.c.measures,
            power.c.name,
            point.c.power_id,
        ).outerjoin(power, power.c.id == point.c.power_id)
    )
    points = {
        (post_id, description): (point_id, RiskLevel(level), cause, measures, name, power_id)
        for point_id, post_id, description, level, cause, measures, name, power_id in stored_points
    }
    return _CatalogDB(units, unit_names, posts, powers, points)


def _check_parents(r: _Rows, has_parent_column: bool, file: _CatalogFile, db: _CatalogDB) -> None:
    """Parent units exist (in the file or the database) and nest without a cycle."""
    if not has_parent_column:
        return
    parents: dict[str, str | None] = {
        name: db.unit_names.get(parent_id) if parent_id else None
        for name, (_, parent_id) in db.units.items()
    }
    for name, unit in file.units.items():
        if (
            unit.parent is not None
            and unit.parent not in file.units
            and unit.parent not in db.units
        ):
            r.problem(
                unit.parent_row or unit.row,
                "parent_unit",
                N_(
                    "unknown parent unit %(parent)r: it is neither in this file nor in the database"
                ),
                parent=unit.parent,
            )
            parents[name] = None
        else:
            parents[name] = unit.parent
    for name, on_cycle in _cycles(parents, file.units):
        unit = file.units[name]
        r.problem(
            unit.parent_row or unit.row,
            "parent_unit",
            N_("the parent units form a cycle: %(cycle)s"),
            cycle=" → ".join(on_cycle),
        )


def _cycles(up: dict[str, str | None], starts: Iterable[str]) -> Iterator[tuple[str, list[str]]]:
    """Each cycle of a graph where every node has at most one successor, once.

    Yields the start node that found it and the cycle's nodes (first repeated).
    """
    state: dict[str, int] = {}  # 1: on the current walk, 2: known to end well or reported
    for start in starts:
        walk: list[str] = []
        node: str | None = start
        while node is not None and node not in state:
            state[node] = 1
            walk.append(node)
            node = up.get(node)
        if node is not None and state[node] == 1:
            cycle = walk[walk.index(node) :]
            yield start, [*cycle, node]
        for seen in walk:
            state[seen] = 2


def _plan_catalog(
    result: ImportResult, header: HeaderMap, file: _CatalogFile, db: _CatalogDB
) -> _CatalogPlan:
    """Compare the file with the database: what to insert and what to update."""
    plan = _CatalogPlan()
    counts = result.counts
    manage_parent = header.has("parent_unit")
    for name, unit in file.units.items():
        stored = db.units.get(name)
        if stored is None:
            counts["units"].created += 1
            plan.new_units.append(name)
            result.note(Change("units", "create", name, unit.row))
            if manage_parent and unit.parent:
                plan.unit_parents.append((name, unit.parent))
            continue
        current = db.unit_names.get(stored[1]) if stored[1] else None
        if manage_parent and current != unit.parent:
            counts["units"].updated += 1
            plan.unit_parents.append((name, unit.parent))
            result.note(
                Change("units", "update", name, unit.parent_row or unit.row, ("parent_unit",))
            )
        else:
            counts["units"].unchanged += 1

    for key, post in file.posts.items():
        if key in db.posts:
            counts["posts"].unchanged += 1
        else:
            counts["posts"].created += 1
            plan.new_posts.append(key)
            if result.room:
                result.note(Change("posts", "create", " / ".join(key), post.row))

    managed_power = [key for key in _POWER_FIELDS if header.has(key)]
    for (post_key, name), power in file.powers.items():
        post_id = db.posts.get(post_key)
        stored_power = db.powers.get((post_id, name)) if post_id is not None else None
        values = {key: power.stated.get(key, ("", 0))[0] for key in managed_power}
        if stored_power is None:
            counts["powers"].created += 1
            plan.new_powers.append((post_key, name, values))
            if result.room:
                result.note(Change("powers", "create", " / ".join((*post_key, name)), power.row))
            continue
        current = dict(zip(_POWER_FIELDS, stored_power[1:], strict=True))
        changed = tuple(key for key in managed_power if values[key] != current[key])
        if changed:
            counts["powers"].updated += 1
            plan.power_updates.append((stored_power[0], {**current, **values}))
            result.note(
                Change("powers", "update", " / ".join((*post_key, name)), power.row, changed)
            )
        else:
            counts["powers"].unchanged += 1

    for (post_key, description), point in file.points.items():
        post_id = db.posts.get(post_key)
        stored_point = db.points.get((post_id, description)) if post_id is not None else None
        if stored_point is None:
            counts["risk_points"].created += 1
            plan.new_points.append(point)
            if result.room:
                subject = " / ".join((*post_key, description))
                result.note(Change("risk_points", "create", subject, point.row))
            continue
        point_id, level, cause, measures, power_name, stored_power_id = stored_point
        changed_fields: list[str] = []
        if level != point.level:
            changed_fields.append("level")
        if point.cause is not UNMANAGED and cause != point.cause:
            changed_fields.append("cause")
        if measures != point.measures:
            changed_fields.append("measures")
        if point.power is not UNMANAGED and power_name != point.power:
            changed_fields.append("power")
        if changed_fields:
            counts["risk_points"].updated += 1
            plan.point_updates.append((point_id, point, cause, stored_power_id))
            subject = " / ".join((*post_key, description))
            result.note(Change("risk_points", "update", subject, point.row, tuple(changed_fields)))
        else:
            counts["risk_points"].unchanged += 1
    return plan


@dataclass
class _CatalogPlan:
    new_units: list[str] = field(default_factory=list)
    unit_parents: list[tuple[str, str | None]] = field(default_factory=list)
    new_posts: list[PostKey] = field(default_factory=list)
    new_powers: list[tuple[PostKey, str, dict[str, str]]] = field(default_factory=list)
    power_updates: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    new_points: list[_PointRow] = field(default_factory=list)
    point_updates: list[tuple[int, _PointRow, str, int | None]] = field(default_factory=list)

    def size(self) -> int:
        return (
            len(self.new_units)
            + len(self.unit_parents)
            + len(self.new_posts)
            + len(self.new_powers)
            + len(self.power_updates)
            + len(self.new_points)
            + len(self.point_updates)
        )


def _apply_catalog(
    connection: Connection, plan: _CatalogPlan, *, clock: Clock, progress: ProgressCallback
) -> None:
    """Write the plan: units, then posts, then powers, then risk points (ids flow down)."""
    unit, post, power, point = _table(Unit), _table(Post), _table(Power), _table(RiskPoint)
    write = _Writer(connection, plan.size(), progress)
    now = clock.now()

    write.insert(unit, ({"name": n, "parent_id": None, "created_at": now} for n in plan.new_units))
    unit_ids: dict[str, int] = {n: i for n, i in connection.execute(select(unit.c.name, unit.c.id))}
    write.update(
        unit,
        ["parent_id"],
        (
            {"b_id": unit_ids[name], "b_parent_id": unit_ids[parent] if parent else None}
            for name, parent in plan.unit_parents
        ),
    )

    write.insert(post, ({"unit_id": unit_ids[u], "name": p} for u, p in plan.new_posts))
    unit_names = {unit_id: name for name, unit_id in unit_ids.items()}
    post_ids: dict[PostKey, int] = {
        (unit_names[unit_id], name): post_id
        for post_id, unit_id, name in connection.execute(
            select(post.c.id, post.c.unit_id, post.c.name)
        )
    }

    write.insert(
        power,
        (
            {
                "post_id": post_ids[post_key],
                "name": name,
                "content": values.get("power_content", ""),
                "legal_basis": values.get("legal_basis", ""),
                "exercising_body": values.get("exercising_body", ""),
            }
            for post_key, name, values in plan.new_powers
        ),
    )
    write.update(
        power,
        list(_POWER_COLUMNS.values()),
        (
            {f"b_{_POWER_COLUMNS[key]}": value for key, value in values.items()}
            | {"b_id": power_id}
            for power_id, values in plan.power_updates
        ),
    )
    power_ids: dict[tuple[int, str], int] = {}
    if plan.new_points or plan.point_updates:
        power_ids = {
            (post_id, name): power_id
            for power_id, post_id, name in connection.execute(
                select(power.c.id, power.c.post_id, power.c.name)
            )
        }

    def power_id(post_id: int, name: str | None) -> int | None:
        return power_ids[(post_id, name)] if name else None

    def new_point(p: _PointRow) -> dict[str, Any]:
        post_id = post_ids[p.post]
        return {
            "post_id": post_id,
            "power_id": None if p.power is UNMANAGED else power_id(post_id, p.power),  # type: ignore[arg-type]
            "description": p.description,
            "level": p.level,
            "cause": "" if p.cause is UNMANAGED else p.cause,
            "measures": p.measures,
        }

    write.insert(point, (new_point(p) for p in plan.new_points))

    def point_update(item: tuple[int, _PointRow, str, int | None]) -> dict[str, Any]:
        point_id, p, cause, stored_power_id = item
        return {
            "b_id": point_id,
            "b_level": p.level,
            "b_cause": cause if p.cause is UNMANAGED else p.cause,
            "b_measures": p.measures,
            "b_power_id": (
                stored_power_id if p.power is UNMANAGED else power_id(post_ids[p.post], p.power)  # type: ignore[arg-type]
            ),
        }

    write.update(
        point,
        ["level", "cause", "measures", "power_id"],
        (point_update(i) for i in plan.point_updates),
    )


def import_catalog(
    session: Session,
    *,
    path: Path,
    clock: Clock,
    sheet: str | None = None,
    dry_run: bool = False,
    source: str | None = None,
    progress: ProgressCallback | None = None,
    actor_id: int | None = None,
) -> ImportResult:
    """Import a catalogue file: units, posts, powers and risk points with their measures.

    One row per risk point; unit and post repeat.  Columns (Chinese or English
    headers, any order): 单位/unit, 岗位/post, 风险点/risk_point, 风险等级/level and
    防控措施/measures are required; 上级单位/parent_unit, 职权名称/power,
    职权内容/power_content, 法律依据/legal_basis, 行使主体/exercising_body and
    风险成因/cause are optional.  A row with an empty risk point defines the unit,
    post and power only; a row with an empty post defines the unit only.

    Args:
        session: the transaction to write in; the caller commits.
        path: a .csv (UTF-8, UTF-8 with BOM, GB18030) or .xlsx file.
        clock: stamps new units and the audit record.
        sheet: the worksheet of an XLSX file (default: the first).
        dry_run: check and plan only; write nothing.
        source: how the file is named in problems (default: ``path``).
        progress: called as rows are checked and written.
        actor_id: who imports, for the audit record (None: the server's administrator
            at the terminal).

    Returns:
        The counts, sample changes and, when the file is refused, every problem
        (then nothing was written).
    """
    name = source if source is not None else str(path)
    report = progress or _no_progress
    result = ImportResult(
        kind="catalog", source=name, dry_run=dry_run, counts={k: Counts() for k in CATALOG_KINDS}
    )
    read = _read(
        path,
        source=name,
        sheet=sheet,
        layout=CATALOG_LAYOUT,
        result=result,
        read_rows=_read_catalog_rows,
        progress=report,
    )
    if read is None:
        return result
    parsed, header = read
    connection = session.connection()
    db = _load_catalog(connection)
    across = _Rows(name, header, None, report)
    _check_parents(across, header.has("parent_unit"), parsed, db)
    result.problems.extend(across.problems)
    if result.problems:
        _sort_problems(result)
        return result
    plan = _plan_catalog(result, header, parsed, db)
    if dry_run or not result.changed:
        return result
    _apply_catalog(connection, plan, clock=clock, progress=report)
    _audit(session, result, clock=clock, action="catalog.imported", actor_id=actor_id)
    return result


def _audit(
    session: Session, result: ImportResult, *, clock: Clock, action: str, actor_id: int | None
) -> None:
    record(
        session,
        at=clock.now(),
        actor_id=actor_id,
        action=action,
        subject_type="import",
        subject_id=None,
        data={
            "file": Path(result.source).name,
            "rows": result.rows,
            "counts": {kind: counts.as_dict() for kind, counts in result.counts.items()},
        },
    )


# --------------------------------------------------------------------------- people


@dataclass(slots=True)
class _PersonRow:
    row: int
    staff_id: str
    name: str
    unit_id: int | None
    posts: list[int] | None
    mobile: str | None
    email: str | None
    wecom_userid: str | None
    dingtalk_userid: str | None
    role: Role
    supervisor: str | None
    locale: str
    channels: str
    timezone: str
    scope: list[int] | None  # unit ids; None: the file has no scope column


@dataclass
class _PeopleFile:
    people: dict[str, _PersonRow]
    seen: dict[str, int]
    supervisors: list[tuple[int, str]]


@dataclass
class _PeopleDB:
    units: dict[str, int]
    unit_names: dict[int, str]
    posts: dict[tuple[int, str], int]
    post_names: dict[int, str]
    people: dict[str, dict[str, Any]]
    staff_ids: dict[int, str]
    held: dict[int, dict[int, list[int]]]
    scopes: dict[int, set[int]]


_PERSON_FIELDS = (
    "name",
    "unit",
    "mobile",
    "email",
    "wecom_userid",
    "dingtalk_userid",
    "role",
    "supervisor_id",
    "locale",
    "channels",
    "timezone",
)


def _load_people(connection: Connection, *, today: date) -> _PeopleDB:
    """Units, posts, people and the posts they hold today, keyed as an import needs them."""
    unit, post, person, assignment = _table(Unit), _table(Post), _table(Person), _table(Assignment)
    units: dict[str, int] = {n: i for n, i in connection.execute(select(unit.c.name, unit.c.id))}
    posts: dict[tuple[int, str], int] = {}
    post_names: dict[int, str] = {}
    for post_id, unit_id, name in connection.execute(
        select(post.c.id, post.c.unit_id, post.c.name)
    ):
        posts[(unit_id, name)] = post_id
        post_names[post_id] = name
    people: dict[str, dict[str, Any]] = {}
    staff_ids: dict[int, str] = {}
    rows = connection.execute(
        select(
            person.c.id,
            person.c.staff_id,
            person.c.name,
            person.c.unit_id,
            person.c.mobile,
            person.c.email,
            person.c.wecom_userid,
            person.c.dingtalk_userid,
            person.c.role,
            person.c.supervisor_id,
            person.c.locale,
            person.c.channels,
            person.c.timezone,
        )
    ).mappings()
    for stored in rows:
        people[stored["staff_id"]] = dict(stored)
        staff_ids[stored["id"]] = stored["staff_id"]
    held: dict[int, dict[int, list[int]]] = {}
    for assignment_id, person_id, post_id in connection.execute(
        select(assignment.c.id, assignment.c.person_id, assignment.c.post_id)
        .where(assignment.c.start_on <= today)
        .where((assignment.c.end_on.is_(None)) | (assignment.c.end_on > today))
        .order_by(assignment.c.id)
    ):
        held.setdefault(person_id, {}).setdefault(post_id, []).append(assignment_id)
    supervision = _table(Supervision)
    scopes: dict[int, set[int]] = {}
    for officer_id, unit_id in connection.execute(
        select(supervision.c.officer_id, supervision.c.unit_id)
    ):
        scopes.setdefault(officer_id, set()).add(unit_id)
    return _PeopleDB(
        units=units,
        unit_names={v: k for k, v in units.items()},
        posts=posts,
        post_names=post_names,
        people=people,
        staff_ids=staff_ids,
        held=held,
        scopes=scopes,
    )


def _read_people_rows(
    rows: Iterator[tuple[int, list[str]]],
    r: _Rows,
    *,
    db: _PeopleDB,
    default_locale: str,
    default_timezone: str,
) -> _PeopleFile:
    """Check every row of a people file against the stored units and posts."""
    h = r.header
    at = h.position
    i_name, i_staff, i_unit, i_post = at("name"), at("staff_id"), at("unit"), at("post")
    i_mobile, i_email, i_role, i_sup = at("mobile"), at("email"), at("role"), at("supervisor_id")
    i_locale, i_channels, i_tz = at("locale"), at("channels"), at("timezone")
    i_scope = at("scope")
    accounts = [
        (key, at(key), normalise)
        for key, normalise in (
            ("wecom_userid", normalise_wecom_userid),
            ("dingtalk_userid", normalise_dingtalk_userid),
        )
    ]
    people: dict[str, _PersonRow] = {}
    seen: dict[str, int] = {}
    supervisors: list[tuple[int, str]] = []
    zones: dict[str, bool] = {}

    for row, cells in rows:
        r.tick()
        bad = False
        staff_id = cells[i_staff]
        if not staff_id:
            r.problem(row, "staff_id", N_("the staff id is empty"))
            bad = True
        elif r.too_long(row, "staff_id", staff_id, _STAFF_ID):
            bad = True
        elif staff_id in seen:
            r.problem(
                row,
                "staff_id",
                N_("duplicate staff id %(staff_id)r: already on row %(first)d"),
                staff_id=staff_id,
                first=seen[staff_id],
            )
            bad = True
        else:
            seen[staff_id] = row
        name = cells[i_name]
        if not name:
            r.problem(row, "name", N_("the name is empty"))
            bad = True
        elif r.too_long(row, "name", name, _PERSON_NAME):
            bad = True

        unit_name = cells[i_unit]
        unit_id = db.units.get(unit_name)
        if not unit_name:
            r.problem(row, "unit", N_("the unit is empty"))
            bad = True
        elif unit_id is None:
            r.problem(
                row,
                "unit",
                N_("unknown unit %(unit)r: import the catalogue first or correct the name"),
                unit=unit_name,
            )
            bad = True

        posts: list[int] | None = None
        if i_post >= 0:
            posts = []
            for post_name in split_measures(cells[i_post]):  # same separators: ；; and newlines
                if unit_id is None:
                    break
                post_id = db.posts.get((unit_id, post_name))
                if post_id is None:
                    r.problem(
                        row,
                        "post",
                        N_("unknown post %(post)r in unit %(unit)r"),
                        post=post_name,
                        unit=unit_name,
                    )
                    bad = True
                elif post_id not in posts:
                    posts.append(post_id)

        mobile: str | None = None
        if i_mobile >= 0 and cells[i_mobile]:
            try:
                mobile = normalise_mobile(cells[i_mobile])
            except InvalidInput as exc:
                r.refused(row, "mobile", exc)
                bad = True
        email: str | None = None
        if i_email >= 0 and cells[i_email]:
            try:
                email = normalise_email(cells[i_email])
            except InvalidInput as exc:
                r.refused(row, "email", exc)
                bad = True
            else:
                bad = r.too_long(row, "email", email, _EMAIL) or bad
        userids: dict[str, str | None] = {}
        for key, index, normalise in accounts:
            userids[key] = None
            if index >= 0 and cells[index]:
                try:
                    userids[key] = normalise(cells[index])
                except InvalidInput as exc:
                    r.refused(row, key, exc)
                    bad = True
        role = Role.STAFF
        if i_role >= 0 and cells[i_role]:
            try:
                role = Role.parse(cells[i_role])
            except InvalidInput as exc:
                r.refused(row, "role", exc)
                bad = True
        supervisor: str | None = None
        if i_sup >= 0 and cells[i_sup]:
            supervisor = cells[i_sup]
            if supervisor == staff_id:
                r.problem(row, "supervisor_id", N_("a person cannot be their own supervisor"))
                bad = True
            else:
                supervisors.append((row, supervisor))
        locale = default_locale
        if i_locale >= 0 and cells[i_locale]:
            try:
                locale = parse_locale(cells[i_locale])
            except InvalidInput as exc:
                r.refused(row, "locale", exc)
                bad = True
        channels = DEFAULT_CHANNELS
        if i_channels >= 0 and cells[i_channels]:
            try:
                chosen = Channel.parse_list(cells[i_channels])
            except InvalidInput as exc:
                r.refused(row, "channels", exc)
                bad = True
            else:
                channels = ",".join(chosen) if chosen else DEFAULT_CHANNELS
        timezone = default_timezone
        if i_tz >= 0 and cells[i_tz]:
            timezone = cells[i_tz]
            if timezone not in zones:
                zones[timezone] = _is_zone(timezone) and len(timezone) <= _TIMEZONE
            if not zones[timezone]:
                r.problem(
                    row,
                    "timezone",
                    N_("unknown time zone %(value)r: use a name such as Asia/Shanghai"),
                    value=timezone,
                )
                bad = True
        scope: list[int] | None = None
        if i_scope >= 0:
            scope = _read_scope(r, row, cells[i_scope], db=db)
            effective = role
            if i_role < 0 and staff_id in db.people:  # no role column: the stored role holds
                effective = Role(db.people[staff_id]["role"])
            if scope is None:
                bad = True
            elif scope and effective is not Role.OFFICER:
                r.problem(row, "scope", N_("only officers (纪检监察) have a supervision scope"))
                bad = True
        if bad:
            continue
        people[staff_id] = _PersonRow(
            row=row,
            staff_id=staff_id,
            name=name,
            unit_id=unit_id,
            posts=posts,
            mobile=mobile,
            email=email,
            wecom_userid=userids["wecom_userid"],
            dingtalk_userid=userids["dingtalk_userid"],
            role=role,
            supervisor=supervisor,
            locale=locale,
            channels=channels,
            timezone=timezone,
            scope=scope if i_scope >= 0 else None,
        )
    return _PeopleFile(people, seen, supervisors)


def _read_scope(r: _Rows, row: int, cell: str, *, db: _PeopleDB) -> list[int] | None:
    """The units named in a 监督范围 cell (full names, or a part naming one unit only).

    Returns the unit ids in the order given ([] for an empty cell), or None when a
    name is unknown or ambiguous (the problem is recorded).
    """
    found: list[int] = []
    ok = True
    for name in split_measures(cell):  # the same separators: ；; and newlines
        unit_id = db.units.get(name)
        if unit_id is None:
            matches = sorted(n for n in db.units if name in n)
            if len(matches) == 1:
                unit_id = db.units[matches[0]]
            elif matches:
                r.problem(
                    row,
                    "scope",
                    N_("unit %(unit)r is ambiguous: it is part of %(names)s; write the full name"),
                    unit=name,
                    names="、".join(matches[:5]),
                )
                ok = False
                continue
            else:
                r.problem(
                    row, "scope", N_("unknown unit %(unit)r in the supervision scope"), unit=name
                )
                ok = False
                continue
        if unit_id not in found:
            found.append(unit_id)
    return found if ok else None


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


#: The columns whose value reaches one person only (an account in a chat app).
_ACCOUNT_FIELDS = ("wecom_userid", "dingtalk_userid")


def _check_accounts(r: _Rows, file: _PeopleFile, db: _PeopleDB) -> None:
    """No WeCom or DingTalk account belongs to two people once the file is imported."""
    for key in _ACCOUNT_FIELDS:
        if not r.header.has(key):
            continue
        holders: dict[str, list[str]] = {}
        for staff_id, stored in db.people.items():
            if staff_id not in file.people and stored[key]:
                holders.setdefault(stored[key], []).append(staff_id)
        for staff_id in sorted(file.people, key=lambda s: file.people[s].row):
            value = getattr(file.people[staff_id], key)
            if value:
                holders.setdefault(value, []).append(staff_id)
        for value, staff_ids in holders.items():
            for staff_id in staff_ids[1:]:
                if staff_id in file.people:
                    r.problem(
                        file.people[staff_id].row,
                        key,
                        N_("account %(value)r already belongs to %(staff_id)s"),
                        value=value,
                        staff_id=staff_ids[0],
                    )


def _check_supervisors(r: _Rows, file: _PeopleFile, db: _PeopleDB) -> None:
    """Supervisors are known (in the file or the database) and form no cycle."""
    # Staff ids of rows refused for another reason still count as known, so that
    # one bad row does not cascade into problems on the rows pointing at it.
    for row, supervisor in file.supervisors:
        if supervisor not in file.seen and supervisor not in db.people:
            r.problem(
                row,
                "supervisor_id",
                N_(
                    "unknown supervisor %(staff_id)r: no such staff id in this file or the database"
                ),
                staff_id=supervisor,
            )
    if not r.header.has("supervisor_id"):
        return
    up: dict[str, str | None] = {
        staff_id: db.staff_ids.get(stored["supervisor_id"]) if stored["supervisor_id"] else None
        for staff_id, stored in db.people.items()
    }
    for staff_id, person in file.people.items():
        up[staff_id] = person.supervisor
    ordered = sorted(file.people, key=lambda staff_id: file.people[staff_id].row)
    for start, cycle in _cycles(up, ordered):
        r.problem(
            file.people[start].row,
            "supervisor_id",
            N_("the supervisors form a cycle: %(cycle)s"),
            cycle=" → ".join(cycle),
        )


@dataclass
class _PeoplePlan:
    new_people: list[_PersonRow] = field(default_factory=list)
    updates: list[tuple[int, _PersonRow]] = field(default_factory=list)
    supervisors: list[tuple[str, str | None]] = field(default_factory=list)
    new_assignments: list[tuple[str, int]] = field(default_factory=list)
    ended: list[int] = field(default_factory=list)
    # The officers whose supervision scope is replaced, and the units it names now.
    scopes: list[tuple[str, list[int]]] = field(default_factory=list)

    def size(self) -> int:
        return (
            len(self.new_people)
            + len(self.updates)
            + len(self.supervisors)
            + len(self.new_assignments)
            + len(self.ended)
            + sum(len(units) for _, units in self.scopes)
        )


def _plan_people(
    result: ImportResult, header: HeaderMap, people: dict[str, _PersonRow], db: _PeopleDB
) -> _PeoplePlan:
    """Compare the file with the database: people to create or update, posts to start or end."""
    plan = _PeoplePlan()
    counts = result.counts
    managed = {key for key in _PERSON_FIELDS if header.has(key)}
    for staff_id, person in people.items():
        subject = f"{person.name} ({staff_id})"
        stored = db.people.get(staff_id)
        if stored is None:
            counts["people"].created += 1
            plan.new_people.append(person)
            if person.supervisor:
                plan.supervisors.append((staff_id, person.supervisor))
            result.note(Change("people", "create", subject, person.row))
            held: dict[int, list[int]] = {}
        else:
            current_supervisor = (
                db.staff_ids.get(stored["supervisor_id"]) if stored["supervisor_id"] else None
            )
            wanted: dict[str, tuple[Any, Any]] = {
                "name": (person.name, stored["name"]),
                "unit": (person.unit_id, stored["unit_id"]),
                "mobile": (person.mobile, stored["mobile"]),
                "email": (person.email, stored["email"]),
                "wecom_userid": (person.wecom_userid, stored["wecom_userid"]),
                "dingtalk_userid": (person.dingtalk_userid, stored["dingtalk_userid"]),
                "role": (person.role, Role(stored["role"])),
                "supervisor_id": (person.supervisor, current_supervisor),
                "locale": (person.locale, stored["locale"]),
                "channels": (person.channels, stored["channels"]),
                "timezone": (person.timezone, stored["timezone"]),
            }
            changed = tuple(
                k for k in _PERSON_FIELDS if k in managed and wanted[k][0] != wanted[k][1]
            )
            if changed:
                counts["people"].updated += 1
                plan.updates.append((stored["id"], person))
                if "supervisor_id" in changed:
                    plan.supervisors.append((staff_id, person.supervisor))
                result.note(Change("people", "update", subject, person.row, changed))
            else:
                counts["people"].unchanged += 1
            held = db.held.get(stored["id"], {})
        _plan_scope(result, plan, person, subject, db.scopes.get(stored["id"]) if stored else None)
        if person.posts is None:
            continue  # no post column: the file does not say who holds what
        for post_id in person.posts:
            post_subject = f"{subject} → {db.post_names[post_id]}"
            if post_id in held:
                counts["assignments"].unchanged += 1
            else:
                counts["assignments"].created += 1
                plan.new_assignments.append((staff_id, post_id))
                result.note(Change("assignments", "create", post_subject, person.row))
        for post_id, assignment_ids in held.items():
            if post_id not in person.posts:
                counts["assignments"].updated += 1
                plan.ended.extend(assignment_ids)
                result.note(
                    Change(
                        "assignments", "end", f"{subject} → {db.post_names[post_id]}", person.row
                    )
                )
    return plan


def _plan_scope(
    result: ImportResult,
    plan: _PeoplePlan,
    person: _PersonRow,
    subject: str,
    stored: set[int] | None,
) -> None:
    """Replace the person's scope when the file states another one."""
    if person.scope is None:
        return  # no scope column: the stored scope stays
    wanted, before = set(person.scope), stored or set()
    if not wanted and not before:
        return
    counts = result.counts[SCOPE_KIND]
    if wanted == before:
        counts.unchanged += 1
        return
    if before:
        counts.updated += 1
        result.note(Change(SCOPE_KIND, "update", subject, person.row))
    else:
        counts.created += 1
        result.note(Change(SCOPE_KIND, "create", subject, person.row))
    plan.scopes.append((person.staff_id, person.scope))


def _apply_people(
    connection: Connection,
    plan: _PeoplePlan,
    header: HeaderMap,
    db: _PeopleDB,
    *,
    clock: Clock,
    today: date,
    progress: ProgressCallback,
) -> None:
    """Write the plan: people first, then supervisors (they may refer forward), then posts."""
    person, assignment = _table(Person), _table(Assignment)
    write = _Writer(connection, plan.size(), progress)
    now = clock.now()
    write.insert(
        person,
        (
            {
                "staff_id": p.staff_id,
                "name": p.name,
                "unit_id": p.unit_id,
                "role": p.role,
                "supervisor_id": None,
                "locale": p.locale,
                "timezone": p.timezone,
                "mobile": p.mobile,
                "email": p.email,
                "wecom_userid": p.wecom_userid,
                "dingtalk_userid": p.dingtalk_userid,
                "telegram_chat_id": None,
                "channels": p.channels,
                "sms_opt_out": False,
                "active": True,
            }
            for p in plan.new_people
        ),
    )
    ids: dict[str, int] = {staff_id: stored["id"] for staff_id, stored in db.people.items()}
    if plan.new_people:
        ids.update((s, i) for s, i in connection.execute(select(person.c.staff_id, person.c.id)))

    columns = {
        "name": "name",
        "unit": "unit_id",
        "mobile": "mobile",
        "email": "email",
        "wecom_userid": "wecom_userid",
        "dingtalk_userid": "dingtalk_userid",
        "role": "role",
        "locale": "locale",
        "channels": "channels",
        "timezone": "timezone",
    }
    managed = [key for key in columns if header.has(key)]
    if plan.updates:
        write.update(
            person,
            [columns[key] for key in managed],
            (
                {"b_id": person_id}
                | {
                    f"b_{columns[key]}": (p.unit_id if key == "unit" else getattr(p, key))
                    for key in managed
                }
                for person_id, p in plan.updates
            ),
        )
    write.update(
        person,
        ["supervisor_id"],
        (
            {"b_id": ids[staff_id], "b_supervisor_id": ids[sup] if sup else None}
            for staff_id, sup in plan.supervisors
        ),
    )
    write.insert(
        assignment,
        (
            {
                "person_id": ids[staff_id],
                "post_id": post_id,
                "start_on": today,
                "end_on": None,
                "created_at": now,
            }
            for staff_id, post_id in plan.new_assignments
        ),
    )
    write.update(assignment, ["end_on"], ({"b_id": a, "b_end_on": today} for a in plan.ended))
    if plan.scopes:
        supervision = _table(Supervision)
        officers = [ids[staff_id] for staff_id, _ in plan.scopes]
        for batch in _batches(officers):
            connection.execute(delete(supervision).where(supervision.c.officer_id.in_(batch)))
        write.insert(
            supervision,
            (
                {"officer_id": ids[staff_id], "unit_id": unit_id}
                for staff_id, units in plan.scopes
                for unit_id in units
            ),
        )


def import_people(
    session: Session,
    *,
    path: Path,
    clock: Clock,
    zone: ZoneInfo | None = None,
    default_locale: str = DEFAULT_LOCALE,
    default_timezone: str = "Asia/Shanghai",
    sheet: str | None = None,
    dry_run: bool = False,
    source: str | None = None,
    progress: ProgressCallback | None = None,
    actor_id: int | None = None,
) -> ImportResult:
    """Import a people file: who they are, how to reach them, which posts they hold.

    Columns (Chinese or English headers, any order): 姓名/name, 工号/staff_id (the
    natural key) and 单位/unit are required; 岗位/post (several separated by
    ；/;/newline), 手机/mobile, 邮箱/email, 企业微信账号/wecom_userid,
    钉钉账号/dingtalk_userid, 角色/role, 上级工号/supervisor_id,
    语言/locale, 渠道/channels, 时区/timezone and 监督范围/scope (an officer's units,
    full names or a part naming one unit, separated like posts; each with its
    sub-units; empty: every unit) are optional.  Units and posts must
    exist already.  A listed post the person does not hold starts today; a held
    post no longer listed ends today ("today" in ``zone``).

    Args:
        session: the transaction to write in; the caller commits.
        path: a .csv (UTF-8, UTF-8 with BOM, GB18030) or .xlsx file.
        clock: tells today and stamps the records.
        zone: the time zone "today" is taken in (default: ``default_timezone``).
        default_locale: a person's language when the cell is empty.
        default_timezone: a person's time zone when the cell is empty.
        sheet: the worksheet of an XLSX file (default: the first).
        dry_run: check and plan only; write nothing.
        source: how the file is named in problems (default: ``path``).
        progress: called as rows are checked and written.
        actor_id: who imports, for the audit record (None: the server's administrator
            at the terminal).

    Returns:
        The counts, sample changes and, when the file is refused, every problem
        (then nothing was written).
    """
    name = source if source is not None else str(path)
    report = progress or _no_progress
    today = clock.now().astimezone(zone or ZoneInfo(default_timezone)).date()
    result = ImportResult(
        kind="people", source=name, dry_run=dry_run, counts={k: Counts() for k in PEOPLE_KINDS}
    )
    connection = session.connection()
    db = _load_people(connection, today=today)

    def read_rows(rows: Iterator[tuple[int, list[str]]], r: _Rows) -> _PeopleFile:
        return _read_people_rows(
            rows, r, db=db, default_locale=default_locale, default_timezone=default_timezone
        )

    read = _read(
        path,
        source=name,
        sheet=sheet,
        layout=PEOPLE_LAYOUT,
        result=result,
        read_rows=read_rows,
        progress=report,
    )
    if read is None:
        return result
    parsed, header = read
    if header.has("scope"):
        result.counts[SCOPE_KIND] = Counts()
    people = parsed.people
    across = _Rows(name, header, None, report)
    _check_supervisors(across, parsed, db)
    _check_accounts(across, parsed, db)
    result.problems.extend(across.problems)
    if result.problems:
        _sort_problems(result)
        return result
    plan = _plan_people(result, header, people, db)
    if dry_run or not result.changed:
        return result
    _apply_people(connection, plan, header, db, clock=clock, today=today, progress=report)
    _audit(session, result, clock=clock, action="people.imported", actor_id=actor_id)
    return result
