"""Benchmark ``import catalog`` against a bare ``csv`` read plus ``executemany``.

Generates a catalogue of ``--rows`` risk points (50 units × 200 posts × 10 risk
points for 100,000 rows, two powers per post, three measures per point), imports
it into a freshly migrated database with the function the CLI uses, imports it a
second time (the no-op path), then loads the same rows into a single flat table
with the DB-API's ``executemany`` as the baseline.

    .venv/bin/python bench/import_bench.py [--rows 100000] [--format csv|xlsx]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Without ``--database-url`` it runs on SQLite in a temporary folder.  With a
PostgreSQL URL it creates a scratch database on that server and drops it after.
Goal: at least 20,000 rows/s and at most 300 MB peak RSS.
"""

from __future__ import annotations

import argparse
import csv
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from riskprompt.models.clock import SystemClock
from riskprompt.models.db import make_engine, session_scope, upgrade
from riskprompt.models.importing import import_catalog

HEADER = [
    "单位",
    "上级单位",
    "岗位",
    "职权名称",
    "职权内容",
    "法律依据",
    "风险点",
    "风险等级",
    "防控措施",
]
LEVELS = ["高", "中", "低"]
POSTS_PER_UNIT = 200
POINTS_PER_POST = 10
GOAL_ROWS_PER_S = 20_000
GOAL_RSS_MB = 300


def catalogue_rows(n: int) -> Iterator[list[str]]:
    """``n`` catalogue rows, one per risk point, generated (never held in memory)."""
    per_unit = POSTS_PER_UNIT * POINTS_PER_POST
    for i in range(n):
        u, rest = divmod(i, per_unit)
        p, k = divmod(rest, POINTS_PER_POST)
        power = k % 2
        yield [
            f"第{u:03d}监督检查室" if u else "市纪委监委",
            "市纪委监委" if u else "",
            f"岗位{p + 1:03d}",
            f"职权{power + 1}",
            f"第{power + 1}项职权的内容：依法依规履行岗位职责",
            f"《中华人民共和国监察法》第{power + 11}条",
            f"风险点{u + 1:03d}-{p + 1:03d}-{k + 1:02d}：未按规定程序办理事项",
            LEVELS[k % 3],
            "严格执行集体研究制度；全程留痕、定期检查；发现问题及时纠正",
        ]


def write_csv(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(catalogue_rows(n))


def write_xlsx(path: Path, n: int) -> None:
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("职权目录")
    sheet.append(HEADER)
    for row in catalogue_rows(n):
        sheet.append(row)
    workbook.save(path)


def peak_rss_mb() -> float:
    """The peak resident set size of this process so far (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / (1024 * 1024)


@contextmanager
def scratch_database(url: str | None, folder: Path) -> Iterator[str]:
    """A fresh, migrated database: SQLite in ``folder`` or a scratch PostgreSQL database."""
    if url is None:
        db_url = f"sqlite:///{folder / 'bench.db'}"
        upgrade(db_url)
        yield db_url
        return
    base = make_url(url)
    name = f"rp_import_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db_url = base.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(db_url)
        yield db_url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_import(url: str, path: Path) -> tuple[float, float, object]:
    """Import ``path`` and commit; returns wall seconds, this process's CPU seconds, the result.

    CPU time does not count waiting for the database server, nor for other
    processes on a busy machine: next to wall time it tells the two apart.
    """
    engine = make_engine(url)
    try:
        start, cpu = time.perf_counter(), time.process_time()
        with session_scope(engine) as session:
            result = import_catalog(session, path=path, clock=SystemClock())
        return time.perf_counter() - start, time.process_time() - cpu, result
    finally:
        engine.dispose()


def run_baseline(url: str, path: Path) -> tuple[float, int]:
    """A bare ``csv`` read and one ``executemany`` INSERT into a flat table of the same rows."""
    engine = make_engine(url)
    columns = ", ".join(f"c{i} TEXT" for i in range(len(HEADER)))
    key = "INTEGER PRIMARY KEY" if engine.dialect.name == "sqlite" else "SERIAL PRIMARY KEY"
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE bench_flat (id {key}, {columns})"))
    raw = engine.raw_connection()
    marker = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    names = ", ".join(f"c{i}" for i in range(len(HEADER)))
    sql = f"INSERT INTO bench_flat ({names}) VALUES ({', '.join([marker] * len(HEADER))})"
    try:
        start = time.perf_counter()
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            rows = list(reader)
        cursor = raw.cursor()
        cursor.executemany(sql, rows)
        raw.commit()
        elapsed = time.perf_counter() - start
        cursor.close()
    finally:
        raw.close()
        engine.dispose()
    return elapsed, len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="rp-bench-") as tmp:
        folder = Path(tmp)
        path = folder / f"catalogue.{args.format}"
        start = time.perf_counter()
        (write_csv if args.format == "csv" else write_xlsx)(path, args.rows)
        size_mb = path.stat().st_size / 1e6
        print(
            f"generated {args.rows:,} rows, {size_mb:.1f} MB {args.format} "
            f"in {time.perf_counter() - start:.1f} s"
        )
        with scratch_database(args.database_url, folder) as url:
            backend = make_url(url).get_backend_name()
            rss_before = peak_rss_mb()
            seconds, cpu, result = run_import(url, path)
            rss_import = peak_rss_mb()
            if not result.ok:  # type: ignore[attr-defined]
                for problem in result.problems[:10]:  # type: ignore[attr-defined]
                    print(problem)
                return 1
            rate = args.rows / seconds
            counts = {k: c.created for k, c in result.counts.items()}  # type: ignore[attr-defined]
            print(f"backend: {backend}")
            print(
                f"import:    {args.rows:,} rows in {seconds:.2f} s = {rate:,.0f} rows/s "
                f"(CPU {cpu:.2f} s) {counts}"
            )
            print(f"peak RSS:  {rss_import:.0f} MB (before the import: {rss_before:.0f} MB)")
            again, _, result2 = run_import(url, path)
            changed = result2.changed  # type: ignore[attr-defined]
            print(
                f"re-import: {args.rows:,} rows in {again:.2f} s = {args.rows / again:,.0f} rows/s "
                f"(changed: {changed})"
            )
            if args.format == "csv":
                base_seconds, base_rows = run_baseline(url, path)
                base_rate = base_rows / base_seconds
                print(
                    f"baseline:  csv + executemany {base_rows:,} rows in {base_seconds:.2f} s "
                    f"= {base_rate:,.0f} rows/s"
                )
                print(
                    f"ratio:     import takes {seconds / base_seconds:.1f}× the baseline's time "
                    f"({rate / base_rate:.2f} of its rate)"
                )
            ok = rate >= GOAL_ROWS_PER_S and rss_import <= GOAL_RSS_MB
            print(
                f"goal (>= {GOAL_ROWS_PER_S:,} rows/s, <= {GOAL_RSS_MB} MB): "
                f"{'met' if ok else 'MISSED'}"
            )
            return 0 if ok else 2


if __name__ == "__main__":
    raise SystemExit(main())
