"""Scale-out benchmark: N due deliveries drained by 1, 2 and 4 worker processes on PostgreSQL.

Setup (not timed): a scratch PostgreSQL database is migrated and filled with N
people, each holding one post (5 risk points) and reachable on one channel: 40%
Telegram, 30% SMS, 30% email.  The real monthly cycle
(``plan_monthly_cycle``) then writes N prompts and their N deliveries, due now.
That database is the template of the runs.

Each run clones the template (``CREATE DATABASE ... TEMPLATE``), starts W
``riskprompt run --role worker`` processes against it, with every channel
pointed at the loopback stand-ins (``python -m tests.standins smtp|telegram|
twilio``, each in its own process, recording what they accept) and rate limits
off, waits until no delivery is pending or in flight, and stops the workers with
SIGTERM.  It prints, per worker count:

* the wall time from starting the workers until the outbox was empty (process
  start-up included) and the sending span (first to last ``sent_at``);
* deliveries per second over each, and per worker;
* the messages the stand-ins accepted, and the duplicates among them (a second
  message to the same chat, number or address): these must be zero.

    .venv/bin/python bench/scale_bench.py [--deliveries 50000] [--workers 1 2 4]
        [--database-url URL]

``--database-url`` is a PostgreSQL server URL whose user may create databases
(default: ``RISKPROMPT_TEST_POSTGRES_URL`` or
``postgresql+psycopg://postgres@127.0.0.1:5432/test``); the scratch databases
are dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
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
CHUNK = 20_000
LEVELS = ["high", "high", "medium", "medium", "low"]
RISK = "在资金支付审核中降低审核标准或违规支付"
MEASURES = ["实行双人复核和分级审批", "支付信息全程留痕，定期对账"]
STANDINS = ("telegram", "twilio", "smtp")
WORKER = "from riskprompt.cli import main; main()"


# -- setup ---------------------------------------------------------------------------------


def person_row(i: int, units: int) -> dict[str, object]:
    """Person ``i``: 40% Telegram, 30% SMS, 30% email; one address each, all distinct."""
    kind = i % 10
    telegram = kind < 4
    sms = 4 <= kind < 7
    return {
        "id": i + 1,
        "staff_id": f"S{i + 1:07d}",
        "name": f"人员{i + 1}",
        "unit_id": i % units + 1,
        "role": "officer" if i == 0 else "staff",
        "supervisor_id": None,
        "locale": "en" if i % 10 == 3 else "zh_CN",
        "timezone": "Asia/Shanghai",
        "mobile": f"+86138{i:08d}" if sms else None,
        "email": f"p{i}@example.gov.cn" if not telegram and not sms else None,
        "telegram_chat_id": 10_000_000 + i if telegram else None,
        "channels": "telegram,sms,email",
        "sms_opt_out": False,
        "active": True,
    }


def populate(url: str, people: int) -> None:
    """``people`` people in ``people/1000`` units, ten to a post of 5 risk points."""
    from sqlalchemy import insert

    from riskprompt.models.catalog import Post, RiskPoint, Unit
    from riskprompt.models.db import make_engine
    from riskprompt.models.people import Assignment, Person

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
                    "description": f"{RISK}（{p + 1}-{k + 1}）",
                    "level": LEVELS[k],
                    "cause": "",
                    "measures": MEASURES,
                }
                for p in range(posts)
                for k in range(5)
            ],
        )
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
                        "post_id": (i // 10) % posts + 1,
                        "start_on": date(2026, 1, 1),
                        "end_on": None,
                        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
                    }
                    for i in batch
                ],
            )
    engine.dispose()


def plan(url: str) -> tuple[int, float]:
    """Run this month's cycle (due a minute ago); returns (deliveries, seconds)."""
    import logging

    from sqlalchemy import func
    from sqlmodel import Session, select

    from riskprompt.config.settings import load_settings
    from riskprompt.models.clock import FixedClock
    from riskprompt.models.db import make_engine
    from riskprompt.models.prompts import Delivery
    from riskprompt.notifications.planning import current_period, plan_monthly_cycle

    logging.disable(logging.INFO)
    settings = load_settings(DATABASE_URL=url)
    clock = FixedClock(datetime.now(UTC) - timedelta(minutes=1))
    engine = make_engine(url)
    started = time.perf_counter()
    plan_monthly_cycle(
        engine,
        period=current_period(clock=clock, settings=settings),
        clock=clock,
        settings=settings,
    )
    seconds = time.perf_counter() - started
    with Session(engine) as session:
        count = session.exec(select(func.count()).select_from(Delivery)).one()
    engine.dispose()
    return int(count), seconds


class Scratch:
    """Scratch databases on one PostgreSQL server, dropped at the end."""

    def __init__(self, base_url: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        self.base = make_url(base_url)
        self.admin = create_engine(self.base, isolation_level="AUTOCOMMIT")
        self.names: list[str] = []

    def new(self, template: str | None = None) -> str:
        """A new empty database (or a copy of the database ``template``); its URL."""
        from sqlalchemy import text

        name = f"rp_scale_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as conn:
            if template is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            else:
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        self.names.append(name)
        return self.url(name)

    def url(self, name: str) -> str:
        """The URL of database ``name``."""
        return self.base.set(database=name).render_as_string(hide_password=False)

    def drop(self, name: str) -> None:
        """Drop database ``name``."""
        from sqlalchemy import text

        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.names.remove(name)

    def close(self) -> None:
        """Drop every database left and let go of the server."""
        for name in list(self.names):
            self.drop(name)
        self.admin.dispose()


# -- stand-ins -------------------------------------------------------------------------------


class Standin:
    """One ``python -m tests.standins KIND`` process, spoken to over its stdin/stdout."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.standins", kind],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.info = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.kind} stand-in did not start")
        return json.loads(line)

    def ask(self, command: str) -> dict[str, Any]:
        """Send one command; its JSON answer."""
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        """Say quit and wait for the process."""
        try:
            self.ask_quit()
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()

    def ask_quit(self) -> None:
        """Stop the stand-in."""
        assert self.process.stdin is not None
        self.process.stdin.write("quit\n")
        self.process.stdin.flush()
        self.process.wait(timeout=30)


# -- one run ---------------------------------------------------------------------------------


def outbox_state(url: str) -> dict[str, int]:
    """Deliveries per status."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status, count(*) FROM delivery GROUP BY status")).all()
    engine.dispose()
    return {str(status): int(n) for status, n in rows}


def sending_span(url: str) -> tuple[float, int]:
    """Seconds from the first to the last ``sent_at``, and deliveries sent more than once."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        first, last, retried = conn.execute(
            text(
                "SELECT min(sent_at), max(sent_at), count(*) FILTER (WHERE attempts > 1) "
                "FROM delivery WHERE status = 'sent'"
            )
        ).one()
    engine.dispose()
    return (last - first).total_seconds() if first and last else 0.0, int(retried)


def run_workers(
    url: str, workers: int, expected: int, standins: list[Standin], folder: Path
) -> dict[str, Any]:
    """Drain the outbox of ``url`` with ``workers`` processes; the figures of the run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKPROMPT_")}
    for standin in standins:
        env.update(standin.info["env"])
        standin.ask("reset")
    env |= {
        "RISKPROMPT_DATABASE_URL": url,
        "RISKPROMPT_RATE_LIMITS": "false",
        "RISKPROMPT_DISPATCH_INTERVAL_SECONDS": "1",
        "RISKPROMPT_OUTBOX_DIR": str(folder / "outbox"),
        "RISKPROMPT_LOG_FORMAT": "json",
        # the workers run on the real clock: quiet hours would hold everything at night
        "RISKPROMPT_QUIET_HOURS": "",
    }
    logs = [open(folder / f"worker-{workers}-{n}.log", "w") for n in range(workers)]
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from riskprompt.cli import main; main()",
                "run",
                "--role",
                "worker",
            ],
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        for log in logs
    ]
    try:
        while True:
            state = outbox_state(url)
            if state.get("sent", 0) + state.get("failed", 0) >= expected and not (
                state.get("pending") or state.get("sending")
            ):
                break
            dead = [p for p in processes if p.poll() is not None]
            if dead:
                raise RuntimeError(f"a worker stopped early (see {folder}/worker-*.log)")
            time.sleep(0.25)
        wall = time.perf_counter() - started
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=60) for process in processes]
        for log in logs:
            log.close()
    span, retried = sending_span(url)
    received = {s.kind: s.ask("duplicates") for s in standins}
    return {
        "workers": workers,
        "exit_codes": codes,
        "state": state,
        "wall_seconds": wall,
        "span_seconds": span,
        "retried": retried,
        "received": received,
    }


def report(result: dict[str, Any], expected: int) -> None:
    """Print one run's line."""
    received = result["received"]
    messages = sum(r["count"] for r in received.values())
    duplicates = sum(r["duplicates"] for r in received.values())
    wall, span, workers = result["wall_seconds"], result["span_seconds"], result["workers"]
    per_wall = expected / wall if wall else 0.0
    per_span = expected / span if span else 0.0
    print(
        f"{workers} worker(s): {expected:,} deliveries in {wall:.1f} s wall "
        f"({per_wall:,.0f}/s, {per_wall / workers:,.0f}/s per worker); "
        f"sending span {span:.1f} s ({per_span:,.0f}/s); "
        f"stand-ins accepted {messages:,} "
        f"(telegram {received['telegram']['count']:,}, sms {received['twilio']['count']:,}, "
        f"email {received['smtp']['count']:,}), duplicates {duplicates}; "
        f"outbox {result['state']}; retried {result['retried']}; "
        f"exit codes {result['exit_codes']}",
        flush=True,
    )


def main() -> None:
    """Parse the arguments, set up, run each worker count, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=50_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--database-url", default=DEFAULT_POSTGRES_URL)
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        parser.error("the scale benchmark needs PostgreSQL")
    # SIGTERM cleans up like Ctrl-C: workers stopped, stand-ins closed, databases dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    from riskprompt.models.db import upgrade

    scratch = Scratch(args.database_url)
    standins: list[Standin] = []
    try:
        template = scratch.new()
        upgrade(template)
        started = time.perf_counter()
        populate(template, args.deliveries)
        populated = time.perf_counter() - started
        expected, planned = plan(template)
        print(
            f"setup: {args.deliveries:,} people in {populated:.1f} s; monthly cycle wrote "
            f"{expected:,} deliveries in {planned:.1f} s",
            flush=True,
        )
        template_name = template.rsplit("/", 1)[1]
        scratch.admin.dispose()  # no connection may stay on a template while it is copied
        standins = [Standin(kind) for kind in STANDINS]
        results = []
        with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
            for workers in args.workers:
                url = scratch.new(template_name)
                result = run_workers(url, workers, expected, standins, Path(tmp))
                report(result, expected)
                results.append(result)
                scratch.drop(url.rsplit("/", 1)[1])
        total_duplicates = sum(
            r["duplicates"] for result in results for r in result["received"].values()
        )
        print(f"duplicates across all runs: {total_duplicates}", flush=True)
        if total_duplicates:
            sys.exit(1)
    finally:
        for standin in standins:
            standin.close()
        scratch.close()


if __name__ == "__main__":
    main()
