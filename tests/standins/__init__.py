"""Stand-ins that speak the providers' real protocols over loopback.

- :class:`~tests.standins.smtp.SmtpStandin`: an aiosmtpd SMTP server.
- :class:`~tests.standins.telegram.TelegramStandin`: the Telegram Bot API methods we call.
- :class:`~tests.standins.twilio.TwilioStandin`: Twilio's Messages API.

Each starts inside the running asyncio loop on 127.0.0.1 and a free port
(``async with ...() as server``); the pytest fixtures are in
:mod:`tests.standins.fixtures`; ``python -m tests.standins smtp|telegram|twilio``
runs one on its own (benchmarks, demos).
"""
