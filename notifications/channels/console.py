"""The console channel: prints each message as a readable block (Django's console backend)."""

from __future__ import annotations

from typing import ClassVar

from rich.console import Console, Group
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from riskprompt.config.i18n import _
from riskprompt.notifications.channels.base import ChannelAdapter, Message, SendResult


class ConsoleChannel(ChannelAdapter):
    """Prints every message to a rich ``Console``; the provider id is ``console-<delivery_id>``."""

    name: ClassVar[str] = "console"
    max_concurrency: ClassVar[int] = 1

    def __init__(self, console: Console | None = None) -> None:
        """Print to ``console`` (default: a console on standard output)."""
        self.console = console or Console(highlight=False)

    def render(self, message: Message) -> Panel:
        """The block printed for ``message``."""
        header = Table.grid(padding=(0, 2))
        header.add_column(style="bold")
        header.add_column()
        header.add_row(_("Channel"), Text(message.channel))
        header.add_row(_("To"), Text(message.address))
        if message.subject:
            header.add_row(_("Subject"), Text(message.subject))
        header.add_row(_("Delivery"), Text(f"{message.delivery_id} ({message.idempotency_key})"))
        body: list[Text | Table | Rule] = [header, Rule(style="dim")]
        parts = message.parts or (message.text,)
        for index, part in enumerate(parts):
            if index:
                body.append(Rule(style="dim"))
            body.append(Text(part))
        if message.buttons:
            body.append(Rule(style="dim"))
            labels = "  ".join(f"[ {b.label} ]" for b in message.buttons)
            body.append(Text(_("Buttons") + ": " + labels))
        return Panel(Group(*body), title=_("Message"), title_align="left", expand=False)

    async def send(self, message: Message) -> SendResult:
        """Print ``message``."""
        if not message.address.strip():
            return SendResult.failed(f"no {message.channel} address")
        self.console.print(self.render(message))
        return SendResult.sent(f"console-{message.delivery_id}")
