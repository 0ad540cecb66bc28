"""Benchmark of the officers' console: the overview (``/``) and ``/unacknowledged``.

Setup (not timed): a migrated database filled through Core bulk inserts with a city
of N people (default 100,000) in U units (default 500: 50 bureaus of 9 sections
each), one post per ten people with 5 risk points (2 high, 2 medium, 1 low), the
month's prompt for everyone (70% acknowledged, 28% open with 0-3 reminders, 2%
cancelled) and its deliveries (one per prompt, one more per reminder, on the
person's channel; 2% failed), 3% of the people warned (yellow/orange/red, every
state, a third of the open ones overdue) and a correction waiting on each
submitted warning.  Then ``ANALYZE`` (as autovacuum would in service).

Timed: GET ``/`` and GET ``/unacknowledged`` through the real app
(``create_app`` in-process, an httpx client on its ASGI transport, so no network
and no other process), each ``--requests`` times after a few warm-up requests, by
two officers signed in with real console sessions: one supervising every unit
(wide) and one supervising a single section (narrow).  Each request's time is the
app's time to answer it in full (the whole body read).  Side by side, the bare
SQLAlchemy Core query doing the same aggregation (the overview's counts per unit;
the not-acknowledged page's first 50 rows and their total), timed the same way;
the ratio is the page's p50 over the query's p50.  Goal: p99 <= 300 ms.

    .venv/bin/python bench/console_bench.py [--people 100000] [--units 500]
        [--requests 50] [--database-url URL]

Without ``--database-url`` it runs on SQLite (a scratch folder) and on the
PostgreSQL at ``RISKPROMPT_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``), where it creates a scratch
database and drops it afterwards.  A SQLite URL or a PostgreSQL URL chooses one.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_POSTGRES_URL = os.environ.get(
    "RISKPROMPT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PERIOD = "2026-12"
#: The benchmark's clock: ten days into the period.
NOW = datetime(2026, 12, 10, 2, 0, tzinfo=UTC)
MONTH_START = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # 2026-12-01 00:00 in Shanghai
CHUNK = 20_000
BUREAUS_SHARE = 10  # one bureau in ten units, each with nine sections
LEVELS = ["high", "high", "medium", "medium", "low"]
RISKS = [
    "在资金支付审核中降低审核标准或违规支付",
    "利用职务便利为特定关系人谋取利益",
    "在采购需求中设置倾向性条款排斥潜在供应商",
    "违规泄露项目评审或招标信息",
    "档案资料保管不善造成遗失或泄密",
]
MEASURES = ["实行双人复核和分级审批", "支付信息全程留痕，定期对账"]
CHANNELS = ["telegram", "sms", "email"]
COLOURS = ["yellow", "yellow", "orange", "red"]
#: Warning states, in the mix the city has them (open ones first).
WARNING_STATES = ["issued", "issued", "acknowledged", "submitted", "returned", "closed"]
GOAL_MS = 300.0


# -- setup (not timed) -----------------------------------------------------------------------


def unit_rows(units: int) -> list[dict[str, object]]:
    """``units`` units: bureaus (one in ten) and their sections (the other nine)."""
    bureaus = max(1, units // BUREAUS_SHARE)
    rows: list[dict[str, object]] = [
        {"id": b + 1, "name": f"滨江市第{b + 1}局", "parent_id": None, "created_at": NOW}
        for b in range(bureaus)
    ]
    for s in range(units - bureaus):
        parent = s % bureaus + 1
        rows.append(
            {
                "id": bureaus + s + 1,
                "name": f"第{parent}局第{s // bureaus + 1}科",
                "parent_id": parent,
                "created_at": NOW,
            }
        )
    return rows


def person_row(i: int, units: int) -> dict[str, object]:
    """Person ``i`` (1-based id ``i + 1``): staff, spread over every unit."""
    channel = CHANNELS[i % 3]
    return {
        "id": i + 1,
        "staff_id": f"P{i + 1:07d}",
        "name": f"人员{i + 1}",
        "unit_id": i % units + 1,
        "role": "staff",
        "supervisor_id": None,
        "locale": "zh_CN",
        "timezone": "Asia/Shanghai",
        "mobile": f"+86138{i:08d}",
        "email": f"p{i}@example.gov.cn",
        "telegram_chat_id": 10_000_000 + i if channel == "telegram" else None,
        "channels": ",".join([channel, *(c for c in CHANNELS if c != channel)]),
        "sms_opt_out": False,
        "chat_paused": False,
        "active": True,
    }


def holds(i: int, units: int, posts: int) -> int:
    """The post person ``i`` holds: one of their own unit's (post ``p`` is in unit
    ``p % units``), ten people to a post."""
    if posts < units:
        return i % posts + 1
    return (i // units) % (posts // units) * units + i % units + 1


def prompt_state(i: int) -> tuple[str, int]:
    """Person ``i``'s prompt: its status and reminders (70% read, 28% open, 2% cancelled)."""
    kind = i % 50
    if kind < 35:
        return "acknowledged", 0
    if kind < 49:
        return "open", i % 4
    return "cancelled", 0


def populate(url: str, people: int, units: int) -> tuple[int, int]:
    """Fill the migrated database at ``url``; return the wide and the narrow officer's ids."""
    from sqlalchemy import insert, text

    from riskprompt.models.catalog import Post, RiskPoint, Unit
    from riskprompt.models.db import make_engine
    from riskprompt.models.people import Assignment, Person
    from riskprompt.models.prompts import Delivery, Prompt
    from riskprompt.models.scope import Supervision
    from riskprompt.models.warnings import Rectification, Warning

    posts = max(1, people // 10)
    engine = make_engine(url)
    wide, narrow = people + 1, people + 2
    with engine.begin() as conn:
        conn.execute(insert(Unit.__table__), unit_rows(units))  # type: ignore[attr-defined]
        conn.execute(
            insert(Post.__table__),  # type: ignore[attr-defined]
            [
                {"id": p + 1, "unit_id": p % units + 1, "name": f"第{p + 1}号业务岗"}
                for p in range(posts)
            ],
        )
        for start in range(0, posts, CHUNK // 5):
            conn.execute(
                insert(RiskPoint.__table__),  # type: ignore[attr-defined]
                [
                    {
                        "post_id": p + 1,
                        "power_id": None,
                        "description": f"{RISKS[k]}（{p + 1}-{k + 1}）",
                        "level": LEVELS[k],
                        "cause": "",
                        "measures": MEASURES,
                    }
                    for p in range(start, min(posts, start + CHUNK // 5))
                    for k in range(5)
                ],
            )
        delivery_id = 0
        for start in range(0, people, CHUNK):
            batch = range(start, min(people, start + CHUNK))
            conn.execute(
                insert(Person.__table__),  # type: ignore[attr-defined]
                [person_row(i, units) for i in batch],
            )
            conn.execute(
                insert(Assignment.__table__),  # type: ignore[attr-defined]
                [
                    {
                        "person_id": i + 1,
                        "post_id": holds(i, units, posts),
                        "start_on": date(2026, 1, 1),
                        "end_on": None,
                        "created_at": NOW,
                    }
                    for i in batch
                ],
            )
            prompts, deliveries = [], []
            for i in batch:
                status, reminders = prompt_state(i)
                created = MONTH_START + timedelta(hours=9)
                prompts.append(
                    {
                        "id": i + 1,
                        "kind": "monthly",
                        "person_id": i + 1,
                        "post_id": holds(i, units, posts),
                        "period": PERIOD,
                        "issued_by_id": None,
                        "broadcast_id": None,
                        "title": "2026年12月岗位廉政风险提示",
                        "body": "",
                        "content": {"period": PERIOD},
                        "requires_ack": True,
                        "status": status,
                        "created_at": created,
                        "acknowledged_at": created + timedelta(hours=i % 48)
                        if status == "acknowledged"
                        else None,
                        "acknowledged_via": CHANNELS[i % 3] if status == "acknowledged" else None,
                        "remind_at": NOW + timedelta(days=1) if status == "open" else None,
                        "reminders": reminders,
                    }
                )
                for step in range(reminders + 1):
                    delivery_id += 1
                    channel = CHANNELS[(i + step) % 3]
                    failed = i % 50 == 36 and step == reminders
                    sent = created + timedelta(days=2 * step, minutes=1)
                    deliveries.append(
                        {
                            "id": delivery_id,
                            "prompt_id": i + 1,
                            "warning_id": None,
                            "notice_id": None,
                            "person_id": i + 1,
                            "channel": channel,
                            "replaces_id": None,
                            "subject": "",
                            "body": "风险提示",
                            "html": None,
                            "extra": {"reminder": step} if step else {},
                            "address": None,
                            "status": "failed" if failed else "sent",
                            "attempts": 1,
                            "due_at": sent,
                            "claimed_at": None,
                            "claimed_by": None,
                            "last_attempt_at": sent,
                            "sent_at": None if failed else sent,
                            "provider_message_id": None,
                            "last_error": "undelivered" if failed else None,
                            "idempotency_key": f"bench-{delivery_id}",
                            "created_at": sent,
                        }
                    )
            conn.execute(insert(Prompt.__table__), prompts)  # type: ignore[attr-defined]
            conn.execute(insert(Delivery.__table__), deliveries)  # type: ignore[attr-defined]
        conn.execute(
            insert(Person.__table__),  # type: ignore[attr-defined]
            [
                {
                    **person_row(officer - 1, units),
                    "staff_id": staff_id,
                    "name": name,
                    "role": "officer",
                    "unit_id": 1,
                }
                for officer, staff_id, name in (
                    (wide, "JJ0001", "纪检全市"),
                    (narrow, "JJ0002", "纪检一科"),
                )
            ],
        )
        # the narrow officer supervises one section (its tenth of a bureau's people)
        section = max(1, units // BUREAUS_SHARE) + 1
        conn.execute(
            insert(Supervision.__table__),  # type: ignore[attr-defined]
            [{"officer_id": narrow, "unit_id": section}],
        )
        warnings, corrections = [], []
        for n, i in enumerate(range(7, people, 33)):  # 3% of the people
            state = WARNING_STATES[n % len(WARNING_STATES)]
            overdue = state != "closed" and n % 3 == 0
            created = MONTH_START - timedelta(days=20) + timedelta(hours=n % 400)
            deadline = NOW - timedelta(days=1 + n % 5) if overdue else NOW + timedelta(days=n % 14)
            warnings.append(
                {
                    "id": n + 1,
                    "person_id": i + 1,
                    "issued_by_id": wide,
                    "colour": COLOURS[n % 4],
                    "form": "correct",
                    "reason": "未经集体研究决定审批采购事项",
                    "risk_point_id": None,
                    "status": state,
                    "deadline": deadline,
                    "escalations": 0,
                    "created_at": created,
                    "acknowledged_at": created + timedelta(hours=3) if state != "issued" else None,
                    "closed_at": created + timedelta(days=5) if state == "closed" else None,
                    "deadline_set_at": created,
                    "reminders_sent": 0,
                    "next_step_at": None if state == "closed" else deadline,
                    "flagged_at": None,
                }
            )
            if state in ("submitted", "closed", "returned"):
                corrections.append(
                    {
                        "warning_id": n + 1,
                        "person_id": i + 1,
                        "description": "已组织集体研究并公示结果。",
                        "evidence": [],
                        "status": {
                            "submitted": "submitted",
                            "closed": "accepted",
                            "returned": "rejected",
                        }[state],
                        "submitted_at": created + timedelta(days=2, hours=n % 24),
                        "reviewed_by_id": None if state == "submitted" else wide,
                        "reviewed_at": None
                        if state == "submitted"
                        else created + timedelta(days=3),
                        "review_note": None,
                    }
                )
        conn.execute(insert(Warning.__table__), warnings)  # type: ignore[attr-defined]
        conn.execute(insert(Rectification.__table__), corrections)  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    if engine.dialect.name == "postgresql":
        # the serial sequences after explicit ids (sessions and audit records are added later)
        with engine.begin() as conn:
            for table in ("unit", "post", "person", "prompt", "delivery", "warning"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    engine.dispose()
    return wide, narrow


# -- databases -------------------------------------------------------------------------------


class Scratch:
    """One scratch database on one backend, removed by :meth:`close`."""

    def __init__(self, kind: str, base_url: str) -> None:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        self.kind = kind
        if kind == "sqlite":
            self.folder = Path(tempfile.mkdtemp(prefix="console_bench_"))
            self.url = f"sqlite:///{self.folder / 'bench.sqlite'}"
        else:
            base = make_url(base_url)
            self.name = f"rp_bench_{uuid.uuid4().hex[:10]}"
            self.admin = create_engine(base, isolation_level="AUTOCOMMIT")
            with self.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
            self.url = base.set(database=self.name).render_as_string(hide_password=False)

    def close(self) -> None:
        """Remove the database."""
        from sqlalchemy import text

        if self.kind == "sqlite":
            shutil.rmtree(self.folder, ignore_errors=True)
        else:
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            self.admin.dispose()


# -- timing ----------------------------------------------------------------------------------

#: The pages timed, and the bare query each is compared with.
PAGES = ("/", "/unacknowledged")


def page_exists(path: str) -> bool:
    """Whether the console has a page at ``path`` (says so when it has not)."""
    from fastapi.routing import APIRoute

    import riskprompt.web.console as console

    for name in console.PAGES:
        __import__(f"riskprompt.web.console.{name}")
    if any(isinstance(r, APIRoute) and r.path == path for r in console.router.routes):
        return True
    print(f"  {path}: no such console page yet, not timed")
    return False


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 of ``samples`` (milliseconds)."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


async def time_pages(
    url: str, officers: dict[str, int], paths: list[str], requests: int, warmup: int
) -> dict[tuple[str, str], list[float]]:
    """Each path for each officer: ``requests`` timed GETs through the app (ms each)."""
    import httpx
    from sqlmodel import Session

    from riskprompt.config.settings import load_settings
    from riskprompt.models.accounts import start_session
    from riskprompt.models.clock import FixedClock
    from riskprompt.models.db import make_engine
    from riskprompt.models.people import Person
    from riskprompt.web import create_app
    from riskprompt.web.console.auth import SESSION_COOKIE

    settings = load_settings(DATABASE_URL=url, PUBLIC_URL=None)
    engine = make_engine(url)
    clock = FixedClock(NOW)
    app = create_app(settings=settings, engine=engine, clock=clock)
    results: dict[tuple[str, str], list[float]] = {}
    try:
        for label, officer_id in officers.items():
            with Session(engine, expire_on_commit=False) as session:
                officer = session.get(Person, officer_id)
                assert officer is not None
                opened = start_session(session, person=officer, clock=clock, client="bench")
                session.commit()
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://testserver",
                cookies={SESSION_COOKIE: opened.token},
            ) as client:
                for path in paths:
                    samples = []
                    for n in range(warmup + requests):
                        started = time.perf_counter()
                        answer = await client.get(path)
                        elapsed = (time.perf_counter() - started) * 1000
                        if answer.status_code != 200:
                            raise SystemExit(
                                f"GET {path} as {label}: HTTP {answer.status_code}\n"
                                f"{answer.text[:2000]}"
                            )
                        if n >= warmup:
                            samples.append(elapsed)
                    results[(label, path)] = samples
    finally:
        engine.dispose()
    return results


def time_queries(
    url: str, officers: dict[str, int], requests: int, warmup: int
) -> dict[tuple[str, str], list[float]]:
    """The bare queries of each page for each officer, timed as the pages are (ms each)."""
    from riskprompt.models.db import make_engine

    engine = make_engine(url)
    results: dict[tuple[str, str], list[float]] = {}
    try:
        for label, officer_id in officers.items():
            for path, query in (("/", bare_overview), ("/unacknowledged", bare_unacknowledged)):
                samples = []
                for n in range(warmup + requests):
                    started = time.perf_counter()
                    with engine.connect() as conn:
                        query(conn, officer_id)
                    elapsed = (time.perf_counter() - started) * 1000
                    if n >= warmup:
                        samples.append(elapsed)
                results[(label, path)] = samples
    finally:
        engine.dispose()
    return results


# -- the bare queries ------------------------------------------------------------------------


def scope_units(conn: Any, officer_id: int) -> list[int] | None:
    """The ids of the units the officer supervises, subtrees included (None: every unit)."""
    from sqlalchemy import select

    from riskprompt.models.catalog import Unit
    from riskprompt.models.scope import Supervision

    roots = list(
        conn.execute(select(Supervision.unit_id).where(Supervision.officer_id == officer_id))
        .scalars()
        .all()
    )
    if not roots:
        return None
    parents = dict(conn.execute(select(Unit.id, Unit.parent_id)).all())
    children: dict[int, list[int]] = {}
    for unit, parent in parents.items():
        if parent is not None:
            children.setdefault(parent, []).append(unit)
    found, todo = set(roots), list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return sorted(found)


def bare_overview(conn: Any, officer_id: int) -> list[Any]:
    """The overview's figures per unit in bare Core: one ``GROUP BY`` unit per measure
    (people, risk points by level, prompts and acknowledgements of the period, open
    warnings by colour with the overdue ones, corrections waiting)."""
    from sqlalchemy import and_, case, func, select

    from riskprompt.models.catalog import Post, RiskPoint, Unit
    from riskprompt.models.people import Person
    from riskprompt.models.prompts import Prompt
    from riskprompt.models.warnings import Rectification, Warning

    units = scope_units(conn, officer_id)

    def within(column: Any) -> list[Any]:
        return [] if units is None else [column.in_(units)]

    names = conn.execute(
        select(Unit.id, Unit.name, Unit.parent_id).where(*within(Unit.id)).order_by(Unit.id)
    ).all()
    people = conn.execute(
        select(Person.unit_id, func.count())
        .where(Person.active.is_(True), *within(Person.unit_id))
        .group_by(Person.unit_id)
    ).all()
    risk = conn.execute(
        select(Post.unit_id, RiskPoint.level, func.count())
        .select_from(RiskPoint)
        .join(Post, Post.id == RiskPoint.post_id)
        .where(*within(Post.unit_id))
        .group_by(Post.unit_id, RiskPoint.level)
    ).all()
    prompts = conn.execute(
        select(
            Person.unit_id,
            func.count(),
            func.sum(case((Prompt.status == "acknowledged", 1), else_=0)),
        )
        .select_from(Prompt)
        .join(Person, Person.id == Prompt.person_id)
        .where(
            Prompt.period == PERIOD,
            Prompt.requires_ack.is_(True),
            Prompt.status != "cancelled",
            *within(Person.unit_id),
        )
        .group_by(Person.unit_id)
    ).all()
    late = and_(Warning.status.in_(("issued", "acknowledged", "returned")), Warning.deadline < NOW)
    warnings = conn.execute(
        select(Person.unit_id, Warning.colour, func.count(), func.sum(case((late, 1), else_=0)))
        .select_from(Warning)
        .join(Person, Person.id == Warning.person_id)
        .where(
            Warning.status.in_(("issued", "acknowledged", "returned", "submitted")),
            *within(Person.unit_id),
        )
        .group_by(Person.unit_id, Warning.colour)
    ).all()
    waiting = conn.execute(
        select(Person.unit_id, func.count())
        .select_from(Rectification)
        .join(Person, Person.id == Rectification.person_id)
        .where(Rectification.status == "submitted", *within(Person.unit_id))
        .group_by(Person.unit_id)
    ).all()
    return [names, people, risk, prompts, warnings, waiting]


def bare_unacknowledged(conn: Any, officer_id: int) -> list[Any]:
    """The not-acknowledged page in bare Core: the people waiting (one row each, the
    longest waiting first) counted, the first 50, their prompts with unit and post, and
    the deliveries of those prompts (last channel, its status, reminders sent)."""
    from sqlalchemy import func, select

    from riskprompt.models.catalog import Post, Unit
    from riskprompt.models.people import Person
    from riskprompt.models.prompts import Delivery, Prompt

    units = scope_units(conn, officer_id)
    where = [Prompt.status == "open", Prompt.requires_ack.is_(True), Prompt.period == PERIOD]
    if units is not None:
        where.append(Person.unit_id.in_(units))
    waiting = (
        select(
            Prompt.person_id.label("person_id"),
            func.min(Prompt.created_at).label("since"),
            func.min(Prompt.id).label("first"),
        )
        .join(Person, Person.id == Prompt.person_id)
        .where(*where)
        .group_by(Prompt.person_id)
        .subquery()
    )
    total = conn.execute(select(func.count()).select_from(waiting)).scalar_one()
    person_ids = (
        conn.execute(
            select(waiting.c.person_id)
            .order_by(waiting.c.since, waiting.c.first, waiting.c.person_id)
            .limit(50)
        )
        .scalars()
        .all()
    )
    rows = conn.execute(
        select(Prompt.id, Prompt.created_at, Person.name, Person.staff_id, Unit.name, Post.name)
        .join(Person, Person.id == Prompt.person_id)
        .join(Unit, Unit.id == Person.unit_id)
        .outerjoin(Post, Post.id == Prompt.post_id)
        .where(Prompt.status == "open", Prompt.period == PERIOD, Prompt.person_id.in_(person_ids))
        .order_by(Prompt.created_at, Prompt.id)
    ).all()
    deliveries = conn.execute(
        select(
            Delivery.prompt_id, Delivery.channel, Delivery.status, Delivery.sent_at, Delivery.extra
        )
        .where(Delivery.prompt_id.in_([r[0] for r in rows]))
        .order_by(Delivery.id)
    ).all()
    return [total, rows, deliveries]


# -- the run ---------------------------------------------------------------------------------


def bench(kind: str, base_url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Setup, then the pages and the bare queries on one backend."""
    from riskprompt.models.db import upgrade

    scratch = Scratch(kind, base_url)
    try:
        started = time.perf_counter()
        upgrade(scratch.url)
        wide, narrow = populate(scratch.url, args.people, args.units)
        setup = time.perf_counter() - started
        print(
            f"{kind}: setup {setup:.1f} s ({args.people:,} people, {args.units} units)", flush=True
        )
        officers = {"wide": wide, "narrow": narrow}
        load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
        print(f"{kind}: timing; load average {load} on {os.cpu_count()} cores", flush=True)
        paths = [path for path in PAGES if page_exists(path)]
        pages = asyncio.run(time_pages(scratch.url, officers, paths, args.requests, args.warmup))
        queries = time_queries(scratch.url, officers, args.requests, args.warmup)
    finally:
        scratch.close()
    rows = []
    for label in officers:
        for path in paths:
            p50, p99 = percentiles(pages[(label, path)])
            q50, q99 = percentiles(queries[(label, path)])
            rows.append(
                {
                    "backend": kind,
                    "officer": label,
                    "path": path,
                    "p50": p50,
                    "p99": p99,
                    "q50": q50,
                    "q99": q99,
                    "ratio": p50 / q50 if q50 else float("inf"),
                }
            )
    return rows


def main() -> None:
    """Parse the arguments, run on every backend, print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--units", type=int, default=500)
    parser.add_argument("--requests", type=int, default=50, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests first")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    logging.disable(logging.INFO)

    if args.database_url is None:
        backends = [("sqlite", ""), ("postgresql", DEFAULT_POSTGRES_URL)]
    elif args.database_url.startswith("sqlite"):
        backends = [("sqlite", "")]
    else:
        backends = [("postgresql", args.database_url)]

    results: list[dict[str, Any]] = []
    for kind, base_url in backends:
        results.extend(bench(kind, base_url, args))
    print()
    print(
        f"{'backend':<11}{'officer':<8}{'page':<17}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'query p50':>10}{'query p99':>10}{'ratio':>7}  goal p99 <= {GOAL_MS:.0f} ms"
    )
    for r in results:
        ok = "ok" if r["p99"] <= GOAL_MS else "OVER"
        print(
            f"{r['backend']:<11}{r['officer']:<8}{r['path']:<17}{r['p50']:>8.1f}{r['p99']:>8.1f}"
            f"{r['q50']:>10.1f}{r['q99']:>10.1f}{r['ratio']:>7.1f}  {ok}"
        )


if __name__ == "__main__":
    main()
