"""Inbound benchmark: signed Twilio SMS acknowledgements posted to the web app.

For each backend, a fresh database is migrated and seeded with N people, each
with one open prompt; the web app is started as ``riskprompt web`` (uvicorn) in
its own process on a free port; this process then posts N signed ``/twilio/sms``
webhooks (``Body=1`` from each person's number: "acknowledge my latest prompt")
with a fixed concurrency over keep-alive connections (httpx), timing each one.
Every answer is checked (200, TwiML saying acknowledged) and so is the database
afterwards (N prompts acknowledged, N audit records, the audit chain intact).

    .venv/bin/python bench/inbound_bench.py                    # 10,000 on SQLite
    .venv/bin/python bench/inbound_bench.py --count 2000       # quicker
    .venv/bin/python bench/inbound_bench.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test   # and PostgreSQL

With ``--database-url`` a scratch database is created on that server for the run
and dropped afterwards (add ``--no-sqlite`` to skip SQLite).

Goal: >= 500 acknowledgements/s and p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402
from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import Session  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from riskprompt.models.audit import AuditEvent, verify_chain  # noqa: E402
from riskprompt.models.catalog import Unit  # noqa: E402
from riskprompt.models.db import make_engine, upgrade  # noqa: E402
from riskprompt.models.people import Person  # noqa: E402
from riskprompt.models.prompts import Prompt, PromptKind, PromptStatus  # noqa: E402

PUBLIC_URL = "https://riskprompt.example.gov.cn"
AUTH_TOKEN = "bench-twilio-auth-token"
SECRET_KEY = "bench-secret-key"
WARMUP = 200
GOAL_RATE = 500.0
GOAL_P99_MS = 50.0


def mobile(n: int) -> str:
    """A distinct Chinese mobile number in E.164 for person ``n``."""
    return f"+86139{n:08d}"


# -- databases ---------------------------------------------------------------------------------


@contextmanager
def sqlite_database() -> Iterator[str]:
    """A migrated SQLite database in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="rp-bench-") as folder:
        url = f"sqlite:///{folder}/bench.db"
        upgrade(url)
        yield url


@contextmanager
def postgres_database(base_url: str) -> Iterator[str]:
    """A scratch, migrated database on the PostgreSQL server of ``base_url``; dropped after."""
    base = make_url(base_url)
    name = f"rp_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed(url: str, people: int) -> None:
    """``people`` staff in one unit, each with one open special prompt."""
    engine = make_engine(url)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        unit_id = conn.execute(insert(Unit).values(name="基准测试单位").returning(Unit.id)).scalar()
        conn.execute(
            insert(Person),
            [
                {
                    "staff_id": f"B{n:06d}",
                    "name": f"测试{n}",
                    "unit_id": unit_id,
                    "role": "staff",
                    "locale": "zh_CN",
                    "timezone": "Asia/Shanghai",
                    "mobile": mobile(n),
                    "channels": "sms",
                    "sms_opt_out": False,
                    "chat_paused": False,
                    "active": True,
                }
                for n in range(people)
            ],
        )
        ids = conn.execute(select(Person.id).order_by(Person.id)).scalars().all()
        conn.execute(
            insert(Prompt),
            [
                {
                    "kind": PromptKind.SPECIAL,
                    "person_id": person_id,
                    "title": "节前廉洁提醒",
                    "body": "请注意本岗位风险点。",
                    "content": {},
                    "requires_ack": True,
                    "status": PromptStatus.OPEN,
                    "created_at": now,
                }
                for person_id in ids
            ],
        )
    engine.dispose()


def check_database(url: str, expected: int) -> dict[str, object]:
    """How many prompts are acknowledged, how many audit records, whether the chain holds.

    The chain is checked by ``riskprompt audit verify``'s own walk (every record's
    hash recomputed, each chained to the one before, the last one named by the head).
    """
    engine = make_engine(url)
    with engine.connect() as conn:
        acknowledged = conn.execute(
            select(func.count()).where(Prompt.status == PromptStatus.ACKNOWLEDGED)
        ).scalar()
        audited = conn.execute(
            select(func.count()).where(AuditEvent.action == "prompt.acknowledged")
        ).scalar()
    with Session(engine) as session:
        report = verify_chain(session)
    engine.dispose()
    return {
        "acknowledged": acknowledged,
        "audit_records": audited,
        "chain_ok": report.ok,
        "all_done": acknowledged == expected and audited == expected and report.ok,
    }


# -- the server --------------------------------------------------------------------------------


@contextmanager
def web_server(url: str, log_path: Path, workers: int = 1) -> Iterator[tuple[str, psutil.Process]]:
    """``riskprompt web --workers N`` on a free port against ``url``; its base URL and process."""
    env = {
        **os.environ,
        "RISKPROMPT_DATABASE_URL": url,
        "RISKPROMPT_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "RISKPROMPT_PUBLIC_URL": PUBLIC_URL,
        "RISKPROMPT_SECRET_KEY": SECRET_KEY,
        "RISKPROMPT_WEB_PORT": "0",
    }
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from riskprompt.cli import main; main()",
                "web",
                "--no-access-log",
                "--workers",
                str(workers),
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        base = None
        deadline = time.monotonic() + 30
        while base is None and time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the server stopped:\n{log_path.read_text()}")
            match = re.search(r"web app at (http://\S+)", log_path.read_text())
            base = match.group(1) if match else None
            time.sleep(0.05)
        if base is None:
            raise RuntimeError(f"the server did not start:\n{log_path.read_text()}")
        yield base, psutil.Process(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- the client --------------------------------------------------------------------------------


def signed_requests(first: int, count: int) -> list[tuple[bytes, str]]:
    """The body and signature of ``count`` replies "1", from person ``first`` on."""
    validator = RequestValidator(AUTH_TOKEN)
    requests = []
    for n in range(first, first + count):
        form = {
            "MessageSid": f"SM{n:032d}",
            "AccountSid": "AC" + "0" * 32,
            "From": mobile(n),
            "To": "+15005550006",
            "Body": "1",
            "NumMedia": "0",
        }
        signature = validator.compute_signature(PUBLIC_URL + "/twilio/sms", form)
        requests.append((urlencode(form).encode(), signature))
    return requests


async def post_all(
    base: str, requests: list[tuple[bytes, str]], concurrency: int
) -> tuple[float, list[float], list[str]]:
    """Post every request with ``concurrency`` workers; elapsed seconds, latencies, failures."""
    latencies: list[float] = []
    failures: list[str] = []
    queue = iter(requests)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def worker() -> None:
            for body, signature in queue:
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": signature,
                }
                started = time.perf_counter()
                response = await client.post("/twilio/sms", content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200 or "<Message>" not in response.text:
                    failures.append(f"{response.status_code} {response.text[:200]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return elapsed, latencies, failures


async def post_all_raw(
    base: str, requests: list[tuple[bytes, str]], concurrency: int
) -> tuple[float, list[float], list[str]]:
    """:func:`post_all` with a minimal HTTP/1.1 keep-alive client on asyncio streams.

    A load generator must cost less than the server it measures: on this 2-core
    machine httpx spends 1-2 ms of CPU per request, as much as half the server's.
    This one writes each prepared request in one piece and reads the status line,
    the headers and ``Content-Length`` bytes of body.
    """
    host, port = base.removeprefix("http://").rsplit(":", 1)
    latencies: list[float] = []
    failures: list[str] = []
    queue = iter(requests)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for body, signature in queue:
                head = (
                    f"POST /twilio/sms HTTP/1.1\r\nHost: {host}\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\n"
                    f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
                )
                started = time.perf_counter()
                writer.write(head.encode() + body)
                status = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                answer = await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if b" 200 " not in status or b"<Message>" not in answer:
                    failures.append(f"{status!r} {answer[:200]!r}")
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, failures


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _cpu(times: object) -> float:
    return float(times.user + times.system)  # type: ignore[attr-defined]


def _server_cpu(server: psutil.Process) -> float:
    """CPU seconds of the server and its worker processes."""
    total = _cpu(server.cpu_times())
    for child in server.children(recursive=True):
        try:
            total += _cpu(child.cpu_times())
        except psutil.NoSuchProcess:
            pass
    return total


def bench(
    backend: str,
    url: str,
    count: int,
    concurrency: int,
    log_dir: Path,
    client_kind: str,
    workers: int = 1,
) -> dict[str, object]:
    """Seed, serve, post, check; the figures of one backend."""
    post = post_all if client_kind == "httpx" else post_all_raw
    seed(url, count + WARMUP)
    with web_server(url, log_dir / f"server-{backend}.log", workers) as (base, server):
        warmup = signed_requests(count, WARMUP)
        asyncio.run(post(base, warmup, concurrency))
        requests = signed_requests(0, count)
        client, served = psutil.Process().cpu_times(), _server_cpu(server)
        elapsed, latencies, failures = asyncio.run(post(base, requests, concurrency))
        client_cpu = _cpu(psutil.Process().cpu_times()) - _cpu(client)
        server_cpu = _server_cpu(server) - served
    state = check_database(url, count + WARMUP)
    rate = count / elapsed
    p50 = percentile(latencies, 0.50) * 1000
    p99 = percentile(latencies, 0.99) * 1000
    return {
        "backend": backend,
        "count": count,
        "concurrency": concurrency,
        "workers": workers,
        "client": client_kind,
        "seconds": round(elapsed, 2),
        "per_second": round(rate, 1),
        "p50_ms": round(p50, 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(max(latencies) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
        "server_cpu_ms_per_request": round(server_cpu / count * 1000, 3),
        "client_cpu_ms_per_request": round(client_cpu / count * 1000, 3),
        "failures": len(failures),
        "first_failure": failures[0] if failures else None,
        **state,
        "goal_met": rate >= GOAL_RATE and p99 <= GOAL_P99_MS and not failures,
    }


def main() -> int:
    """Run the benchmark on the chosen backends and print one line per backend, then JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="acknowledgements to post")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument(
        "--database-url", help="a PostgreSQL server URL: also run there (scratch database)"
    )
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="server processes on SQLite (their writes take turns on the file's lock; "
        "2 overlap one request's parsing, signature check and answer with another's write)",
    )
    parser.add_argument("--pg-workers", type=int, default=2, help="server processes on PostgreSQL")
    parser.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="the load generator: a minimal asyncio HTTP/1.1 client, or httpx",
    )
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory(prefix="rp-bench-logs-") as logs:
        if not args.no_sqlite:
            with sqlite_database() as url:
                results.append(
                    bench(
                        "sqlite",
                        url,
                        args.count,
                        args.concurrency,
                        Path(logs),
                        args.client,
                        args.workers,
                    )
                )
        if args.database_url:
            with postgres_database(args.database_url) as url:
                results.append(
                    bench(
                        "postgresql",
                        url,
                        args.count,
                        args.concurrency,
                        Path(logs),
                        args.client,
                        args.pg_workers,
                    )
                )
    for r in results:
        print(
            f"{r['backend']:>10} ({r['workers']} worker(s), {r['client']} client): "
            f"{r['count']} acknowledgements in "
            f"{r['seconds']} s = "
            f"{r['per_second']}/s; latency p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
            f"max {r['max_ms']} ms; CPU per request: server "
            f"{r['server_cpu_ms_per_request']} ms, client {r['client_cpu_ms_per_request']} ms; "
            f"failures {r['failures']}; "
            f"acknowledged {r['acknowledged']}, audit chain {'ok' if r['chain_ok'] else 'BROKEN'}; "
            f"goal {'met' if r['goal_met'] else 'NOT met'}"
        )
    print(json.dumps(results, ensure_ascii=False))
    return 0 if all(r["goal_met"] and r["all_done"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
