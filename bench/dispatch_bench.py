"""Dispatch benchmark: the channel adapters against bare library loops (and Apprise).

Email: N emails through :class:`EmailChannel` (aiosmtplib, a pool of connections)
to a loopback aiosmtpd; the baseline is a bare aiosmtplib loop with as many
connections, building an equivalent ``EmailMessage`` per send; Apprise sends the
same N mails to the same server through a ``mailto://`` URL, in as many threads.
Telegram: N messages through :class:`TelegramChannel` to the Bot API stand-in;
the baseline is a bare ``Bot.send_message`` loop with the same concurrency.

Both sides send with the same concurrency (an asyncio semaphore and gather),
rate limits off.  The stand-ins run in their own process
(``python -m tests.standins ... --no-record``) so that server work is not
counted against the client; each run is checked against the server's count.

    .venv/bin/python bench/dispatch_bench.py              # 10,000 of each
    .venv/bin/python bench/dispatch_bench.py --count 1000 # quicker

Goals: adapter/bare >= 0.8 for both; email adapter >= 5 x Apprise.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiosmtplib  # noqa: E402
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup  # noqa: E402
from telegram.request import HTTPXRequest  # noqa: E402

from riskprompt.notifications.channels import EmailChannel, TelegramChannel  # noqa: E402
from riskprompt.notifications.channels.base import Button, Message, Outcome  # noqa: E402

SENDER = "风险提示 <riskprompt@example.gov.cn>"
SUBJECT = "【风险提示】2026年12月 岗位权力风险防控提示"
TEXT = (
    "张三同志：\n本月重点工作：年度预算执行与合同审批。\n"
    "风险点（高）：合同审批未经集体研究。防控措施：集体研究、全程留痕、纪检监察备案。\n"
    "风险点（中）：公务接待超标准。防控措施：事前审批、公函接待、清单报销。\n"
    "请回复“已知悉”确认。"
)
HTML = "<p>" + TEXT.replace("\n", "<br>") + "</p>"
TELEGRAM_TEXT = "<b>风险提示</b>\n" + TEXT
BUTTON = Button("已知悉", "ack:1")
CHATS = 1000
WARMUP = 200


# -- stand-in processes ---------------------------------------------------------


class StandinProcess:
    """A stand-in in its own process, spoken to over stdin/stdout (see tests/standins/__main__)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.info: dict[str, Any] = {}
        self._proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> StandinProcess:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.standins",
            self.kind,
            "--no-record",
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.info = await self._read()
        return self

    async def _read(self) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        line = await asyncio.wait_for(self._proc.stdout.readline(), 30)
        if not line:
            raise RuntimeError(f"the {self.kind} stand-in exited")
        return json.loads(line)

    async def command(self, command: str) -> dict[str, Any]:
        """Send one command (count, reset) and read its answer."""
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(f"{command}\n".encode())
        await self._proc.stdin.drain()
        return await self._read()

    async def count(self) -> int:
        """Messages the stand-in accepted since the last reset."""
        return int((await self.command("count"))["count"])

    async def __aexit__(self, *exc: object) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.write(b"quit\n")
            await proc.stdin.drain()
            await asyncio.wait_for(proc.wait(), 10)
        except (TimeoutError, ConnectionError):
            proc.kill()
            await proc.wait()


# -- measuring ------------------------------------------------------------------


@dataclass
class Run:
    """One timed run."""

    name: str
    count: int
    seconds: float
    ok: int

    @property
    def rate(self) -> float:
        """Messages per second."""
        return self.count / self.seconds


async def gather_limited(
    concurrency: int, items: Iterable[Any], send: Callable[[Any], Awaitable[bool]]
) -> int:
    """Send every item with at most ``concurrency`` in flight; how many succeeded."""
    slots = asyncio.Semaphore(concurrency)

    async def one(item: Any) -> bool:
        async with slots:
            return await send(item)

    results = await asyncio.gather(*(one(item) for item in items))
    return sum(results)


async def timed(
    name: str, count: int, server: StandinProcess, body: Callable[[], Awaitable[int]]
) -> Run:
    """Run ``body`` once, timed, and check the server received ``count`` messages."""
    await server.command("reset")
    start = time.perf_counter()
    ok = await body()
    seconds = time.perf_counter() - start
    received = await server.count()
    if ok != count or received != count:
        print(f"  ! {name}: {ok} reported sent, {received} received of {count}")
    return Run(name, count, seconds, ok)


async def interleaved(
    contenders: dict[str, Callable[[list[Message]], Awaitable[int]]],
    batch: list[Message],
    rounds: int,
    server: StandinProcess,
) -> list[Run]:
    """Send ``batch`` through each contender in ``rounds`` alternating slices.

    The machine may be shared: alternating slices spreads any change in load
    over every contender instead of landing on one of them.
    """
    size = -(-len(batch) // rounds)
    slices = [batch[i : i + size] for i in range(0, len(batch), size)]
    totals = {name: Run(name, 0, 0.0, 0) for name in contenders}
    order = list(contenders)
    for index, piece in enumerate(slices):
        for name in order if index % 2 == 0 else reversed(order):
            send = functools.partial(contenders[name], piece)
            run = await timed(name, len(piece), server, send)
            total = totals[name]
            total.count += run.count
            total.seconds += run.seconds
            total.ok += run.ok
    return list(totals.values())


def messages(count: int, channel: str) -> list[Message]:
    """``count`` rendered messages to distinct addresses."""
    result = []
    for i in range(count):
        if channel == "email":
            address = f"user{i}@example.gov.cn"
        else:
            address = str(100_000 + i % CHATS)
        result.append(
            Message(
                delivery_id=i,
                channel=channel,
                address=address,
                subject=SUBJECT,
                text=TEXT,
                html=HTML if channel == "email" else None,
                parts=(TELEGRAM_TEXT,) if channel == "telegram" else (),
                buttons=(BUTTON,) if channel == "telegram" else (),
                idempotency_key=f"p{i}-{channel}",
            )
        )
    return result


# -- email ----------------------------------------------------------------------


async def email_adapter(host: str, port: int, batch: list[Message], concurrency: int) -> int:
    """Send ``batch`` through EmailChannel."""
    channel = EmailChannel(host=host, port=port, sender=SENDER, pool_size=concurrency)

    async def send(message: Message) -> bool:
        return (await channel.send(message)).outcome is Outcome.SENT

    async with channel:
        return await gather_limited(concurrency, batch, send)


def bare_email(message: Message) -> EmailMessage:
    """The idiomatic EmailMessage a bare aiosmtplib user would build for the same mail."""
    mime = EmailMessage()
    mime["Subject"] = message.subject
    mime["From"] = SENDER
    mime["To"] = message.address
    mime["Date"] = datetime.now(UTC)
    mime["Message-ID"] = f"<{message.idempotency_key}@example.gov.cn>"
    mime.set_content(message.text)
    if message.html:
        mime.add_alternative(message.html, subtype="html")
    return mime


async def email_bare(host: str, port: int, batch: list[Message], concurrency: int) -> int:
    """Send ``batch`` with bare aiosmtplib: ``concurrency`` connections, one send each at a time."""
    idle = [aiosmtplib.SMTP(hostname=host, port=port, start_tls=False) for _ in range(concurrency)]
    for smtp in idle:
        await smtp.connect()

    async def send(message: Message) -> bool:
        smtp = idle.pop()
        try:
            await smtp.send_message(bare_email(message))
            return True
        except aiosmtplib.SMTPException:
            return False
        finally:
            idle.append(smtp)

    try:
        return await gather_limited(concurrency, batch, send)
    finally:
        for smtp in idle:
            await smtp.quit()


def apprise_available() -> bool:
    """Whether Apprise is installed (it is not a project dependency)."""
    try:
        import apprise  # noqa: F401
    except ImportError:
        return False
    return True


async def email_apprise(host: str, port: int, batch: list[Message], concurrency: int) -> int:
    """Send ``batch`` with Apprise's mailto:// plugin, ``concurrency`` threads, throttle off."""
    import apprise

    def worker(share: list[Message]) -> int:
        sent = 0
        for message in share:
            url = (
                f"mailto://{host}:{port}?smtp={host}&from=riskprompt@example.gov.cn"
                f"&to={message.address}&format=text"
            )
            plugin = apprise.Apprise.instantiate(url)
            assert plugin is not None, url
            plugin.request_rate_per_sec = 0  # rate limits off, as for the adapters
            sent += bool(plugin.notify(body=message.text, title=message.subject))
        return sent

    shares = [batch[i::concurrency] for i in range(concurrency)]
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        counts = await asyncio.gather(*(loop.run_in_executor(pool, worker, s) for s in shares))
    return sum(counts)


# -- Telegram ---------------------------------------------------------------------


async def telegram_adapter(info: dict[str, Any], batch: list[Message], concurrency: int) -> int:
    """Send ``batch`` through TelegramChannel."""
    token = info["env"]["RISKPROMPT_TELEGRAM_TOKEN"]
    channel = TelegramChannel(token=token, api_url=info["url"], max_concurrency=concurrency)

    async def send(message: Message) -> bool:
        return (await channel.send(message)).outcome is Outcome.SENT

    async with channel:
        return await gather_limited(concurrency, batch, send)


async def telegram_bare(info: dict[str, Any], batch: list[Message], concurrency: int) -> int:
    """Send ``batch`` with a bare python-telegram-bot ``Bot.send_message`` loop."""
    token = info["env"]["RISKPROMPT_TELEGRAM_TOKEN"]
    bot = Bot(
        token,
        base_url=f"{info['url']}/bot",
        base_file_url=f"{info['url']}/file/bot",
        request=HTTPXRequest(connection_pool_size=concurrency),
    )
    markup = InlineKeyboardMarkup([[InlineKeyboardButton(BUTTON.label, callback_data=BUTTON.data)]])

    async def send(message: Message) -> bool:
        await bot.send_message(
            int(message.address), message.parts[0], parse_mode="HTML", reply_markup=markup
        )
        return True

    async with bot:
        return await gather_limited(concurrency, batch, send)


# -- main -------------------------------------------------------------------------


def report(title: str, runs: list[Run]) -> None:
    """Print one table of runs."""
    print(f"\n{title}")
    for run in runs:
        print(
            f"  {run.name:<32} {run.count:>6} msgs  {run.seconds:>7.2f} s  {run.rate:>8.0f} msg/s"
        )


def verdict(label: str, value: float, goal: float) -> str:
    """``label: value (goal >= x) ok/MISSED``."""
    mark = "ok" if value >= goal else "MISSED"
    return f"  {label:<36} {value:>6.2f}   (goal >= {goal:g})  {mark}"


async def bench_email(args: argparse.Namespace) -> list[str]:
    """Run the email comparison; the verdict lines."""
    n, c = args.count, args.email_concurrency
    batch = messages(n, "email")
    async with StandinProcess("smtp") as server:
        host, port = server.info["host"], server.info["port"]
        await email_adapter(host, port, batch[:WARMUP], c)
        await email_bare(host, port, batch[:WARMUP], c)
        runs = await interleaved(
            {
                f"bare aiosmtplib (x{c})": lambda part: email_bare(host, port, part, c),
                f"EmailChannel (pool {c})": lambda part: email_adapter(host, port, part, c),
            },
            batch,
            args.rounds,
            server,
        )
        if args.no_apprise:
            apprise_note = "Apprise comparison skipped (--no-apprise)"
        elif not apprise_available():
            apprise_note = (
                "Apprise is not installed: comparison skipped "
                "(.venv/bin/pip install apprise; it is not a project dependency)"
            )
        else:
            apprise_note = ""
            runs.append(
                await timed(
                    f"Apprise mailto:// (x{c} threads)",
                    n,
                    server,
                    lambda: email_apprise(host, port, batch, c),
                )
            )
    report(f"Email: {n} messages to a loopback aiosmtpd, concurrency {c}", runs)
    bare, adapter = runs[0], runs[1]
    lines = [verdict("email adapter / bare aiosmtplib", adapter.rate / bare.rate, 0.8)]
    if apprise_note:
        print(f"  note: {apprise_note}")
    else:
        lines.append(verdict("email adapter / Apprise", adapter.rate / runs[2].rate, 5.0))
    return lines


async def bench_telegram(args: argparse.Namespace) -> list[str]:
    """Run the Telegram comparison; the verdict lines."""
    n, c = args.count, args.telegram_concurrency
    batch = messages(n, "telegram")
    async with StandinProcess("telegram") as server:
        info = server.info
        await telegram_adapter(info, batch[:WARMUP], c)
        await telegram_bare(info, batch[:WARMUP], c)
        runs = await interleaved(
            {
                f"bare Bot.send_message (x{c})": lambda part: telegram_bare(info, part, c),
                f"TelegramChannel (x{c})": lambda part: telegram_adapter(info, part, c),
            },
            batch,
            args.rounds,
            server,
        )
    report(f"Telegram: {n} messages to the Bot API stand-in, concurrency {c}", runs)
    return [verdict("telegram adapter / bare Bot", runs[1].rate / runs[0].rate, 0.8)]


async def main(args: argparse.Namespace) -> None:
    """Run the selected benchmarks and print the ratios."""
    print(
        "Sending through the channel adapters directly (semaphore + gather), "
        "rate limits off; the dispatcher is not involved."
    )
    lines: list[str] = []
    if args.only in (None, "email"):
        lines += await bench_email(args)
    if args.only in (None, "telegram"):
        lines += await bench_telegram(args)
    print("\nRatios")
    print("\n".join(lines))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="messages per run")
    parser.add_argument("--email-concurrency", type=int, default=4, help="SMTP connections")
    parser.add_argument("--telegram-concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument(
        "--rounds", type=int, default=4, help="alternating slices per adapter/bare comparison"
    )
    parser.add_argument("--only", choices=["email", "telegram"], help="run one channel only")
    parser.add_argument("--no-apprise", action="store_true", help="skip the Apprise comparison")
    args = parser.parse_args(argv)
    if args.count < 1 or args.rounds < 1:
        parser.error("--count and --rounds must be at least 1")
    return args


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
