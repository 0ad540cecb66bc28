"""Run one stand-in on its own: ``python -m tests.standins smtp|telegram|twilio``.

Prints one JSON line (``{"kind", "url", "host", "port", "env"}``) once it
listens, then reads commands from standard input, one per line, answering each
with a JSON line: ``count`` (messages accepted so far), ``duplicates`` (the
count, the distinct addresses it went to and the messages beyond the first per
address; needs recording), ``reset``, ``quit``.  End of input stops it too.
``--no-record`` keeps counts only (benchmarks).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from tests.standins.smtp import SmtpStandin
from tests.standins.telegram import TelegramStandin
from tests.standins.twilio import TwilioStandin

Standin = SmtpStandin | TelegramStandin | TwilioStandin


def _describe(kind: str, standin: Standin) -> dict[str, Any]:
    if isinstance(standin, SmtpStandin):
        env = {"RISKPROMPT_SMTP_HOST": standin.host, "RISKPROMPT_SMTP_PORT": str(standin.port)}
        return {
            "kind": kind,
            "url": f"smtp://{standin.host}:{standin.port}",
            "host": standin.host,
            "port": standin.port,
            "env": env,
        }
    if isinstance(standin, TelegramStandin):
        env = {
            "RISKPROMPT_TELEGRAM_TOKEN": standin.token,
            "RISKPROMPT_TELEGRAM_API_URL": standin.url,
        }
    else:
        env = {
            "RISKPROMPT_TWILIO_ACCOUNT_SID": standin.account_sid,
            "RISKPROMPT_TWILIO_AUTH_TOKEN": standin.auth_token,
            "RISKPROMPT_TWILIO_FROM": "+15005550006",
            "RISKPROMPT_TWILIO_API_URL": standin.url,
        }
    return {"kind": kind, "url": standin.url, "host": "127.0.0.1", "port": standin.port, "env": env}


def _count(standin: Standin) -> int:
    if isinstance(standin, TelegramStandin):
        return standin.counts["sendmessage"]
    return standin.count


def _addresses(standin: Standin) -> list[str]:
    """The address of every accepted message (chat id, recipient or number), when recording."""
    if isinstance(standin, TelegramStandin):
        return [str(call.chat_id) for call in standin.sent()]
    if isinstance(standin, SmtpStandin):
        return [to for mail in standin.messages for to in mail.rcpt_tos]
    return [message.to for message in standin.messages]


def _say(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
    sys.stdout.flush()


async def serve(kind: str, record: bool) -> None:
    """Start the stand-in, announce it, and answer commands until ``quit`` or end of input."""
    standin: Standin
    if kind == "smtp":
        standin = SmtpStandin(record=record)
    elif kind == "telegram":
        standin = TelegramStandin(record=record)
    else:
        standin = TwilioStandin(record=record)
    async with standin:
        _say(_describe(kind, standin))
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            command = line.strip().lower()
            if not line or command == "quit":
                break
            if command == "count":
                _say({"count": _count(standin)})
            elif command == "duplicates":
                addresses = _addresses(standin)
                distinct = len(set(addresses))
                _say(
                    {
                        "count": _count(standin),
                        "addresses": distinct,
                        "duplicates": len(addresses) - distinct,
                    }
                )
            elif command == "reset":
                standin.reset()
                _say({"reset": True})
            elif command:
                _say({"error": f"unknown command {command!r}"})


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and serve."""
    parser = argparse.ArgumentParser(prog="python -m tests.standins", description=__doc__)
    parser.add_argument("kind", choices=["smtp", "telegram", "twilio"])
    parser.add_argument("--no-record", action="store_true", help="count messages only")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.kind, record=not args.no_record))


if __name__ == "__main__":
    main()
