"""Benchmark of the follow-up (``notifications.escalation.run_follow_ups``) on a big city.

It builds N people as ``bench/cycle_bench.py`` does, plans the month's prompts (not
timed), then moves the clock and times the follow-up runs nobody answered:

* +24 h: the first reminder of every prompt (one delivery each, on the next channel);
* +48 h: the second reminder;
* +72 h: the lists of people who have not acknowledged, to the officers.

It prints seconds and prompts/s per step and the ratio of a reminder run to the
monthly cycle that planned the same prompts (the cycle is the baseline: both
write one delivery per prompt).

    .venv/bin/python bench/follow_up_bench.py [--people 10000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def run(url: str, people: int) -> dict[str, float]:
    """Populate, plan, then time the three follow-up steps on ``url``."""
    from cycle_bench import NOW, PERIOD, populate

    from riskprompt.config.settings import load_settings
    from riskprompt.models.clock import FixedClock
    from riskprompt.models.db import make_engine, upgrade
    from riskprompt.notifications.escalation import run_follow_ups
    from riskprompt.notifications.planning import plan_monthly_cycle

    upgrade(url)
    populate(url, people)
    settings = load_settings(DATABASE_URL=url)
    engine = make_engine(url)
    clock = FixedClock(NOW)
    started = time.perf_counter()
    planned = plan_monthly_cycle(engine, period=PERIOD, clock=clock, settings=settings)
    figures = {"cycle": time.perf_counter() - started, "prompts": planned.prompts_created}
    for name, hours in (("reminder 1", 24), ("reminder 2", 48), ("lists", 72)):
        clock.current = NOW + timedelta(hours=hours)
        started = time.perf_counter()
        stats = run_follow_ups(engine, clock=clock, settings=settings)
        figures[name] = time.perf_counter() - started
        figures[f"{name} count"] = stats.prompt_reminders or stats.people_listed
    engine.dispose()
    return figures


def report(backend: str, figures: dict[str, float]) -> None:
    """Print one backend's figures."""
    prompts = figures["prompts"]
    print(f"{backend}: {prompts:,.0f} prompts planned in {figures['cycle']:.1f} s")
    for name in ("reminder 1", "reminder 2", "lists"):
        seconds = figures[name]
        print(
            f"  {name}: {figures[f'{name} count']:,.0f} in {seconds:.1f} s "
            f"= {prompts / seconds:,.0f} prompts/s; "
            f"ratio to the cycle {seconds / figures['cycle']:.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--database-url", help="a PostgreSQL server URL: a scratch database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report("sqlite", run(f"sqlite:///{folder}/follow_up.db", args.people))
    if args.database_url:
        from tests.conftest import postgres_scratch_url

        for url in postgres_scratch_url(args.database_url):
            report("postgresql", run(url, args.people))


if __name__ == "__main__":
    main()
