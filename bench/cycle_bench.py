"""Benchmark of the monthly cycle (``riskprompt.notifications.planning.plan_monthly_cycle``).

For each size N it builds N people, each holding one of N/10 posts (5 risk points
each: 2 high, 2 medium, 1 low), in N/1000 units, with a global and a few unit key
works; people are reached 40% by Telegram, 30% by SMS, 25% by email (SMS opt-out)
and 5% not at all; 10% read English; the holders of a post are mixed, so a post is
rendered in several channels and languages.  Setup uses Core inserts and is not
timed.

Then, each in a fresh process:

* ``cycle``: ``plan_monthly_cycle`` on database A, timed; peak RSS of that process;
* ``baseline``: the very rows the cycle wrote (prompts and deliveries), inserted
  into the same tables of an identically prepared database B with the driver's
  raw ``executemany`` in chunks of 5,000; only the inserts and commits are timed.

It prints seconds, rows/s (prompts + deliveries), peak RSS, the ratio of the cycle
to the baseline, and how the time grows with N.  Goals: ratio <= 3, <= 400 MB,
10x the people in <= 11x the time.

    .venv/bin/python bench/cycle_bench.py [--people 10000 100000] [--database-url URL] [--repeat 3]

Without ``--database-url`` it runs on SQLite (a scratch folder) and on the
PostgreSQL at ``RISKPROMPT_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``), where it creates scratch
databases and drops them afterwards.  A SQLite URL or a PostgreSQL URL chooses one.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_POSTGRES_URL = os.environ.get(
    "RISKPROMPT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PERIOD = "2026-12"
NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
CHUNK = 5000

LEVELS = ["high", "high", "medium", "medium", "low"]
RISKS = [
    "在资金支付审核中降低审核标准或违规支付",
    "利用职务便利为特定关系人谋取利益",
    "在采购需求中设置倾向性条款排斥潜在供应商",
    "违规泄露项目评审或招标信息",
    "档案资料保管不善造成遗失或泄密",
]
MEASURES = [
    ["实行双人复核和分级审批", "支付信息全程留痕，定期对账"],
    ["严格执行回避制度", "重大事项集体研究决定", "接受纪检监察机构监督"],
    ["采购需求公开征求意见", "评审专家随机抽取"],
    ["签订保密承诺书", "关键信息分级授权访问"],
    ["专柜存放、借阅登记", "定期清点检查"],
]


# -- setup (not timed) -----------------------------------------------------------------------


def populate(url: str, people: int) -> None:
    """Fill a migrated database with ``people`` people, their posts and risk points."""
    from sqlalchemy import insert

    from riskprompt.models.catalog import Post, RiskPoint, Unit
    from riskprompt.models.db import make_engine
    from riskprompt.models.people import Assignment, Person
    from riskprompt.models.prompts import FocusWork

    units = max(1, people // 1000)
    posts = max(1, people // 10)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            insert(Unit.__table__),  # type: ignore[attr-defined]
            [{"id": u + 1, "name": f"单位{u + 1}", "parent_id": None} for u in range(units)],
        )
        conn.execute(
            insert(Post.__table__),  # type: ignore[attr-defined]
            [
                {"id": p + 1, "unit_id": p % units + 1, "name": f"第{p + 1}号业务岗"}
                for p in range(posts)
            ],
        )
        conn.execute(
            insert(RiskPoint.__table__),  # type: ignore[attr-defined]
            [
                {
                    "post_id": p + 1,
                    "power_id": None,
                    "description": f"{RISKS[k]}（{p + 1}-{k + 1}）",
                    "level": LEVELS[k],
                    "cause": "",
                    "measures": MEASURES[k],
                }
                for p in range(posts)
                for k in range(5)
            ],
        )
        for start in range(0, people, 20_000):
            batch = range(start, min(people, start + 20_000))
            conn.execute(
                insert(Person.__table__),  # type: ignore[attr-defined]
                [person_row(i, units) for i in batch],
            )
            conn.execute(
                insert(Assignment.__table__),  # type: ignore[attr-defined]
                [
                    {
                        "person_id": i + 1,
                        "post_id": holds(i, posts),
                        "start_on": date(2026, 1, 1),
                        "end_on": None,
                        "created_at": NOW,
                    }
                    for i in batch
                ],
            )
        conn.execute(
            insert(FocusWork.__table__),  # type: ignore[attr-defined]
            [
                {
                    "period": PERIOD,
                    "unit_id": u,
                    "text": "年底集中采购和资金拨付" if u is None else f"单位{u}专项资金清理",
                    "set_by_id": 1,
                    "updated_at": NOW,
                }
                for u in [None, *range(1, units + 1, 3)]
            ],
        )
    engine.dispose()


def holds(i: int, posts: int) -> int:
    """The post person ``i`` holds: ten consecutive people share a post, so its holders
    use several channels and both languages."""
    return (i // 10) % posts + 1


def person_row(i: int, units: int) -> dict[str, object]:
    """Person ``i``: 40% Telegram, 30% SMS, 25% email (SMS opt-out), 5% unreachable."""
    kind = i % 20
    return {
        "id": i + 1,
        "staff_id": f"P{i + 1:07d}",
        "name": f"人员{i + 1}",
        "unit_id": i % units + 1,
        "role": "officer" if i == 0 else "staff",
        "supervisor_id": None,
        "locale": "en" if i % 10 == 3 else "zh_CN",
        "timezone": "Asia/Shanghai",
        "mobile": None if kind == 19 else f"+86138{i:08d}",
        "email": None if kind == 19 else f"p{i}@example.gov.cn",
        "telegram_chat_id": 10_000_000 + i if kind < 8 else None,
        "channels": "telegram,sms,email",
        "sms_opt_out": 14 <= kind <= 19,
        "active": True,
    }


# -- workers (run in their own process) ------------------------------------------------------


def peak_rss_mb() -> float:
    """The process's peak resident set size in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def work_cycle(url: str) -> dict[str, object]:
    """Run the cycle on ``url``: seconds, counts and peak RSS."""
    import logging

    from riskprompt.config.settings import load_settings
    from riskprompt.models.clock import FixedClock
    from riskprompt.models.db import make_engine
    from riskprompt.notifications.planning import plan_monthly_cycle

    logging.disable(logging.INFO)
    settings = load_settings(DATABASE_URL=url)
    engine = make_engine(url)
    before = peak_rss_mb()
    started = time.perf_counter()
    result = plan_monthly_cycle(engine, period=PERIOD, clock=FixedClock(NOW), settings=settings)
    seconds = time.perf_counter() - started
    engine.dispose()
    return {
        "seconds": seconds,
        "prompts": result.prompts_created,
        "deliveries": result.deliveries_created,
        "unreachable": result.unreachable,
        "rss_before_mb": before,
        "peak_rss_mb": peak_rss_mb(),
    }


PROMPT_COLUMNS = [
    "id", "kind", "person_id", "post_id", "period", "issued_by_id", "broadcast_id", "title",
    "body", "content", "requires_ack", "status", "created_at", "acknowledged_at",
    "acknowledged_via",
]  # fmt: skip
DELIVERY_COLUMNS = [
    "id", "prompt_id", "warning_id", "person_id", "channel", "replaces_id", "subject", "body",
    "html", "extra", "address", "status", "attempts", "due_at", "claimed_at", "claimed_by",
    "last_attempt_at", "sent_at", "provider_message_id", "last_error", "idempotency_key",
    "created_at",
]  # fmt: skip


def work_baseline(source_url: str, target_url: str) -> dict[str, object]:
    """Copy the cycle's rows from ``source_url`` into ``target_url`` with raw executemany."""
    from riskprompt.models.db import make_engine

    source = make_engine(source_url)
    target = make_engine(target_url)
    postgres = target.dialect.name == "postgresql"
    mark = "%s" if postgres else "?"
    seconds = 0.0
    rows = 0
    for table, columns in (("prompt", PROMPT_COLUMNS), ("delivery", DELIVERY_COLUMNS)):
        # read the JSON columns as text, as they were written
        selected = [f"{c}::text" if postgres and c in ("content", "extra") else c for c in columns]
        insert_sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join([mark] * len(columns))})"
        )
        reader = source.raw_connection()
        writer = target.raw_connection()
        try:
            read_cursor = reader.cursor()
            read_cursor.execute(f"SELECT {', '.join(selected)} FROM {table} ORDER BY id")
            write_cursor = writer.cursor()
            while True:
                chunk = read_cursor.fetchmany(CHUNK)
                if not chunk:
                    break
                started = time.perf_counter()
                write_cursor.executemany(insert_sql, chunk)
                writer.commit()
                seconds += time.perf_counter() - started
                rows += len(chunk)
        finally:
            reader.close()
            writer.close()
    source.dispose()
    target.dispose()
    return {"seconds": seconds, "rows": rows, "peak_rss_mb": peak_rss_mb()}


def run_worker(*args: str) -> dict[str, object]:
    """Run a worker in a fresh process (so its peak RSS is its own) and read its answer."""
    done = subprocess.run(
        [sys.executable, __file__, "--worker", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"worker {args[0]} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- databases -------------------------------------------------------------------------------


class Scratch:
    """Scratch databases on one backend, every one removed by :meth:`close`."""

    def __init__(self, kind: str, base_url: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        self.kind = kind
        self.urls: list[str] = []
        if kind == "sqlite":
            self.folder = Path(tempfile.mkdtemp(prefix="cycle_bench_"))
        else:
            self.base = make_url(base_url)
            self.admin = create_engine(self.base, isolation_level="AUTOCOMMIT")

    def _new(self, template: str | None) -> str:
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        if self.kind == "sqlite":
            url = f"sqlite:///{self.folder / f'db{len(self.urls)}.sqlite'}"
            if template is not None:
                shutil.copy(make_url(template).database or "", make_url(url).database or "")
        else:
            name = f"rp_bench_{uuid.uuid4().hex[:10]}"
            with self.admin.connect() as conn:
                if template is None:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
                else:
                    source = make_url(template).database
                    conn.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = :name AND pid <> pg_backend_pid()"
                        ),
                        {"name": source},
                    )
                    conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{source}"'))
            url = self.base.set(database=name).render_as_string(hide_password=False)
        self.urls.append(url)
        return url

    def populated(self, people: int) -> str:
        """A migrated database with ``people`` people (the template of the runs)."""
        from riskprompt.models.db import upgrade

        url = self._new(None)
        upgrade(url)
        populate(url, people)
        return url

    def clone(self, template: str) -> str:
        """A copy of ``template``."""
        return self._new(template)

    def drop(self, url: str) -> None:
        """Remove one database."""
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        if self.kind == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{make_url(url).database}{suffix}").unlink(missing_ok=True)
        else:
            with self.admin.connect() as conn:
                name = make_url(url).database
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.urls.remove(url)

    def close(self) -> None:
        """Remove every database made here."""
        for url in list(self.urls):
            self.drop(url)
        if self.kind == "sqlite":
            shutil.rmtree(self.folder, ignore_errors=True)
        else:
            self.admin.dispose()


def bench(scratch: Scratch, people: int, repeat: int) -> dict[str, object]:
    """One size on one backend: setup once, then the cycle and the baseline ``repeat`` times.

    Each run starts from a fresh copy of the populated database; the best time of
    each is kept (the usual way to measure on a machine doing other work too).
    """
    started = time.perf_counter()
    template = scratch.populated(people)
    setup = time.perf_counter() - started
    cycles, baselines = [], []
    for _ in range(repeat):
        cycle_url, baseline_url = scratch.clone(template), scratch.clone(template)
        cycles.append(run_worker("cycle", cycle_url))
        baselines.append(run_worker("baseline", cycle_url, baseline_url))
        scratch.drop(cycle_url)
        scratch.drop(baseline_url)
    scratch.drop(template)
    cycle = min(cycles, key=lambda r: float(r["seconds"]))  # type: ignore[arg-type]
    baseline = min(float(b["seconds"]) for b in baselines)  # type: ignore[arg-type]
    rows = int(cycle["prompts"]) + int(cycle["deliveries"])  # type: ignore[call-overload]
    assert all(b["rows"] == rows for b in baselines), (rows, baselines)
    return {
        "backend": scratch.kind,
        "people": people,
        "setup_s": setup,
        **cycle,
        "peak_rss_mb": max(float(c["peak_rss_mb"]) for c in cycles),  # type: ignore[arg-type]
        "rows": rows,
        "rows_per_s": rows / float(cycle["seconds"]),  # type: ignore[arg-type]
        "baseline_s": baseline,
        "ratio": float(cycle["seconds"]) / baseline,  # type: ignore[arg-type]
        "all_cycle_s": [round(float(c["seconds"]), 2) for c in cycles],  # type: ignore[arg-type]
        "all_baseline_s": [round(float(b["seconds"]), 2) for b in baselines],  # type: ignore[arg-type]
    }


def main() -> None:
    """Parse the arguments, run every size on every backend, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the best counts")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        task, *urls = args.worker
        answer = work_cycle(*urls) if task == "cycle" else work_baseline(*urls)
        print(json.dumps(answer))
        return

    if args.database_url is None:
        backends = [("sqlite", ""), ("postgresql", DEFAULT_POSTGRES_URL)]
    elif args.database_url.startswith("sqlite"):
        backends = [("sqlite", "")]
    else:
        backends = [("postgresql", args.database_url)]

    header = (
        f"{'backend':<11}{'people':>9}{'prompts':>9}{'deliv.':>9}{'cycle s':>9}"
        f"{'rows/s':>9}{'peak MB':>9}{'raw s':>8}{'ratio':>7}"
    )
    print(header)
    results: dict[str, list[dict[str, object]]] = {}
    for kind, base_url in backends:
        scratch = Scratch(kind, base_url)
        try:
            for people in sorted(args.people):
                r = bench(scratch, people, args.repeat)
                results.setdefault(kind, []).append(r)
                print(
                    f"{kind:<11}{people:>9,}{r['prompts']:>9,}{r['deliveries']:>9,}"
                    f"{r['seconds']:>9.2f}{r['rows_per_s']:>9,.0f}{r['peak_rss_mb']:>9.0f}"
                    f"{r['baseline_s']:>8.2f}{r['ratio']:>7.2f}"
                    f"   runs {r['all_cycle_s']} raw {r['all_baseline_s']}",
                    flush=True,
                )
        finally:
            scratch.close()
    print()
    print("goals: ratio <= 3, peak <= 400 MB, 10x the people in <= 11x the time")
    for kind, runs in results.items():
        for small, large in itertools.pairwise(runs):
            people = int(large["people"]) / int(small["people"])  # type: ignore[call-overload]
            grows = float(large["seconds"]) / float(small["seconds"])  # type: ignore[arg-type]
            print(
                f"{kind}: {people:.0f}x the people ({small['people']:,} -> {large['people']:,}) "
                f"took {grows:.1f}x the time"
            )


if __name__ == "__main__":
    main()
