"""``riskprompt doctor``: check the settings, the database and every configured channel.

Each check gives a :class:`Check`: its name, a status (ok, warn, fail) and the
reason, in the reader's language.  Only ``fail`` makes the command exit 1;
``warn`` is for what works but should not go to production as it is (the
placeholder secret key in development, a plain-HTTP public URL).

Channels are reached with the same client libraries the adapters use, with the
same settings: SMTP connect, EHLO, STARTTLS/TLS and AUTH (aiosmtplib); Telegram
``getMe`` (python-telegram-bot); Twilio's account fetch (twilio); the file
channel's folder written to and read back.  No reason ever carries a secret.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import re
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import Engine, text

from riskprompt.config.i18n import N_, _, ngettext, translator
from riskprompt.config.settings import PLACEHOLDER_SECRET, Settings
from riskprompt.logs import Redactor, secrets_of
from riskprompt.models.db import current_revision, head_revision
from riskprompt.models.people import CHANNEL_LABELS, Channel, Person
from riskprompt.notifications.channels import build_adapters, distinct_adapters
from riskprompt.notifications.channels.base import Message, Outcome
from riskprompt.notifications.links import (
    SMS_LINK_BUDGET,
    AckTarget,
    make_short_token,
    public_base,
    short_url,
)
from riskprompt.notifications.outbox import DeliveryKey

#: Seconds one network check may take.
CHECK_TIMEOUT_SECONDS = 10.0


class Status(enum.StrEnum):
    """How a check came out."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


STATUS_LABELS: dict[Status, str] = {
    Status.OK: N_("OK"),
    Status.WARN: N_("WARN"),
    Status.FAIL: N_("FAIL"),
}


@dataclass(frozen=True)
class Check:
    """One line of the doctor's table: what was checked, how it came out, and why."""

    name: str
    status: Status
    reason: str
    key: str = ""  # what other steps look for ("database", "schema")

    @property
    def failed(self) -> bool:
        """Whether this check fails the command."""
        return self.status is Status.FAIL


def _ok(name: str, reason: str) -> Check:
    return Check(name, Status.OK, reason)


def _fail(name: str, reason: str) -> Check:
    return Check(name, Status.FAIL, reason)


def _error(exc: BaseException) -> str:
    """An exception as one short line."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{exc.__class__.__name__}: {message}" if message else exc.__class__.__name__


# -- settings, database, folders ----------------------------------------------------------------


def check_settings(settings: Settings) -> list[Check]:
    """The settings that load but are not ready for production."""
    checks = []
    name = _("Secret key")
    if settings.SECRET_KEY == PLACEHOLDER_SECRET:
        # load_settings refuses it in production; in development it is only a warning.
        checks.append(
            Check(name, Status.WARN, _("the placeholder; set RISKPROMPT_SECRET_KEY in production"))
        )
    elif len(settings.SECRET_KEY) < 16:
        checks.append(Check(name, Status.WARN, _("shorter than 16 characters")))
    else:
        checks.append(_ok(name, _("set")))

    name = _("Public URL")
    needs_public = settings.telegram_enabled or settings.twilio_enabled
    if not settings.PUBLIC_URL:
        if needs_public and settings.ENVIRONMENT == "production":
            checks.append(
                _fail(
                    name,
                    _(
                        "not set: Twilio cannot post replies and the Telegram bot cannot "
                        "use a webhook"
                    ),
                )
            )
        else:
            # Every SMS and email carries a link to its page: a local address opens nowhere
            # but on this machine.
            local = f"http://{settings.WEB_HOST}:{settings.WEB_PORT}"
            checks.append(
                Check(
                    name,
                    Status.WARN,
                    _("not set; the links in SMS and email point at %(url)s") % {"url": local},
                )
            )
    elif _on_loopback(settings.PUBLIC_URL):
        checks.append(
            Check(
                name,
                Status.WARN,
                _("%(url)s is on this machine: nobody else can open the links in SMS and email")
                % {"url": settings.PUBLIC_URL},
            )
        )
    elif not settings.PUBLIC_URL.startswith("https://"):
        checks.append(Check(name, Status.WARN, _("not HTTPS: Telegram webhooks need HTTPS")))
    else:
        checks.append(_ok(name, settings.PUBLIC_URL))
    checks.append(_sms_link_check(settings))
    return checks


def _on_loopback(url: str) -> bool:
    """Whether ``url`` names this machine (localhost, 127.0.0.0/8, ::1)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _sms_link_check(settings: Settings) -> Check:
    """Whether an SMS link (for ids up to a million) fits the room an SMS keeps for it."""
    name = _("SMS links")
    base = public_base(settings.PUBLIC_URL, settings.WEB_HOST, settings.WEB_PORT)
    target = AckTarget(kind="warning", id=999_999, person_id=999_999)
    link = short_url(base, make_short_token(settings.SECRET_KEY, target, now=datetime.now(UTC)))
    # Without a public URL the links point at the local web app: nothing to shorten.
    if len(link) > SMS_LINK_BUDGET and settings.PUBLIC_URL:
        return Check(
            name,
            Status.WARN,
            _(
                "%(n)s characters with this public URL, over the %(max)s an SMS keeps for "
                "its link: long SMS may take one more segment; a shorter public URL helps"
            )
            % {"n": len(link), "max": SMS_LINK_BUDGET},
        )
    return _ok(name, _("up to %(n)s characters") % {"n": len(link)})


def check_database(engine: Engine) -> list[Check]:
    """The database answers and its schema is this version's."""
    name = _("Database")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = current_revision(engine)
    except Exception as exc:  # any driver error is the answer here
        reason = _("does not answer: %(error)s") % {"error": _error(exc)}
        return [Check(name, Status.FAIL, reason, key="database")]
    head = head_revision()
    reached = Check(name, Status.OK, engine.dialect.name, key="database")
    if current != head:
        return [
            reached,
            Check(
                _("Schema"),
                Status.FAIL,
                _("at %(current)s, this version needs %(head)s: run `riskprompt db upgrade`")
                % {"current": current or _("empty"), "head": head},
                key="schema",
            ),
        ]
    return [reached, Check(_("Schema"), Status.OK, _("at %(head)s") % {"head": head}, key="schema")]


def check_folder(name: str, folder: Path) -> Check:
    """``folder`` exists (or can be made) and a file can be written there and read back."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-", delete=True) as handle:
            handle.write(b"ok")
            handle.flush()
            handle.seek(0)
            handle.read()
    except OSError as exc:
        return _fail(
            name,
            _("%(folder)s is not writable: %(error)s")
            % {"folder": folder, "error": exc.strerror or _error(exc)},
        )
    return _ok(name, _("%(folder)s is writable") % {"folder": folder.resolve()})


def uses_file_channel(settings: Settings) -> bool:
    """Whether some channel goes to the file channel (no credentials, LOCAL_CHANNEL=file)."""
    unconfigured = not all(_providers(settings).values())
    return unconfigured and settings.LOCAL_CHANNEL == "file"


# -- channels -----------------------------------------------------------------------------------


async def check_smtp(settings: Settings) -> Check:
    """Connect, EHLO, STARTTLS or TLS as configured, and log in when a username is set."""
    from aiosmtplib import SMTP

    name = _("Email (SMTP)")
    smtp = SMTP(
        hostname=settings.SMTP_HOST,
        port=settings.SMTP_PORT,
        use_tls=settings.SMTP_TLS,
        start_tls=settings.SMTP_STARTTLS and not settings.SMTP_TLS,
        timeout=min(settings.SMTP_TIMEOUT_SECONDS, CHECK_TIMEOUT_SECONDS),
    )
    try:
        await smtp.connect()
        await smtp.ehlo()
        if settings.SMTP_USERNAME:
            await smtp.login(settings.SMTP_USERNAME, settings.SMTP_PASSWORD or "")
        await smtp.quit()
    except Exception as exc:  # refused, timed out, TLS, AUTH: each is the reason
        smtp.close()
        return _fail(name, f"{settings.SMTP_HOST}:{settings.SMTP_PORT}: {_error(exc)}")
    how = _("logged in") if settings.SMTP_USERNAME else _("connected")
    return _ok(name, f"{settings.SMTP_HOST}:{settings.SMTP_PORT}: {how}")


async def check_telegram(settings: Settings) -> Check:
    """Call getMe with the bot token."""
    from telegram import Bot
    from telegram.request import HTTPXRequest

    name = _("Telegram")
    request = HTTPXRequest(
        connect_timeout=CHECK_TIMEOUT_SECONDS,
        read_timeout=CHECK_TIMEOUT_SECONDS,
        write_timeout=CHECK_TIMEOUT_SECONDS,
        pool_timeout=CHECK_TIMEOUT_SECONDS,
    )
    options: dict[str, object] = {"request": request}
    if settings.TELEGRAM_API_URL:
        options |= {
            "base_url": f"{settings.TELEGRAM_API_URL}/bot",
            "base_file_url": f"{settings.TELEGRAM_API_URL}/file/bot",
        }
    bot = Bot(settings.TELEGRAM_TOKEN or "", **options)  # type: ignore[arg-type]
    try:
        me = await bot.get_me()
    except Exception as exc:  # InvalidToken, NetworkError, TimedOut...
        return _fail(name, _error(exc))
    finally:
        await request.shutdown()
    return _ok(name, _("bot @%(username)s answers") % {"username": me.username})


async def check_twilio(settings: Settings) -> Check:
    """Fetch the Twilio account with its SID and auth token."""
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    name = _("SMS (Twilio)")
    http = AsyncTwilioHttpClient(timeout=CHECK_TIMEOUT_SECONDS)
    try:
        client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http)
        if settings.TWILIO_API_URL:
            client.api.base_url = settings.TWILIO_API_URL
            client.edge = None
            client.region = None
        sid = settings.TWILIO_ACCOUNT_SID or ""
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            account = await client.api.v2010.accounts(sid).fetch_async()
    except Exception as exc:  # TwilioRestException (401, 404), aiohttp errors, timeouts
        return _fail(name, _error(exc))
    finally:
        await http.close()
    if account.status not in (None, "active"):
        return _fail(name, _("account %(status)s") % {"status": account.status})
    return _ok(name, _("account %(name)s is active") % {"name": account.friendly_name or sid})


async def check_aliyun_sms(settings: Settings) -> list[Check]:
    """The sign name and each kind's template approved at Alibaba Cloud, with our variables.

    A kind without a template code warns, naming ``RISKPROMPT_ALIYUN_SMS_TEMPLATES``;
    a template using a variable we do not send, or whose link is not
    ``PUBLIC_URL/a/${link}``, fails.
    """
    from riskprompt.notifications.channels.sms import TEMPLATE_VARIABLES, SmsError, SmsKind
    from riskprompt.notifications.channels.sms_aliyun import AliyunSmsProvider

    name = _("SMS (Alibaba Cloud)")
    provider = AliyunSmsProvider.from_settings(settings)
    provider.timeout = CHECK_TIMEOUT_SECONDS
    checks = []
    missing = [k.value for k in SmsKind if k.value not in settings.ALIYUN_SMS_TEMPLATES]
    if missing:
        checks.append(
            Check(
                name,
                Status.WARN,
                _(
                    "no template for %(kinds)s messages: they fall back to the next channel; "
                    "set RISKPROMPT_ALIYUN_SMS_TEMPLATES"
                )
                % {"kinds": ", ".join(missing)},
            )
        )
    await provider.open()
    try:
        sign = await provider.sign_approval()
        if not sign.approved:
            return [
                *checks,
                _fail(
                    name,
                    _("sign name %(sign)s is %(status)s %(reason)s")
                    % {
                        "sign": settings.ALIYUN_SMS_SIGN_NAME,
                        "status": _(sign.status),
                        "reason": sign.reason,
                    },
                ),
            ]
        checks.append(
            _ok(name, _("sign name %(sign)s approved") % {"sign": settings.ALIYUN_SMS_SIGN_NAME})
        )
        link = public_base(settings.PUBLIC_URL, settings.WEB_HOST, settings.WEB_PORT) + "/a/${link}"
        for kind in SmsKind:
            code = settings.ALIYUN_SMS_TEMPLATES.get(kind.value)
            if not code:
                continue
            label = f"{name}: {kind.value} ({code})"
            template = await provider.template_approval(kind)
            used = set(re.findall(r"\$\{(\w+)\}", template.content))
            extra = sorted(used - set(TEMPLATE_VARIABLES[kind]))
            if not template.approved:
                checks.append(_fail(label, f"{_(template.status)} {template.reason}".strip()))
            elif extra:
                checks.append(
                    _fail(
                        label,
                        _("uses %(names)s; this kind sends %(sent)s")
                        % {"names": ", ".join(extra), "sent": ", ".join(TEMPLATE_VARIABLES[kind])},
                    )
                )
            elif "link" in used and link not in template.content:
                checks.append(_fail(label, _("its link must be %(link)s") % {"link": link}))
            else:
                checks.append(_ok(label, _("approved")))
    except SmsError as exc:
        checks.append(_fail(name, str(exc)))
    finally:
        await provider.close()
    return checks


async def check_wecom(settings: Settings) -> list[Check]:
    """Fetch a token with the app's secret, then read the app (``agent/get``); the callback.

    The token is fetched afresh (not from the shared cache): this checks the CorpID,
    the secret and the IP allow-list themselves.
    """
    from riskprompt.notifications.channels.wecom import WeComClient, WeComUnavailable

    name = _("WeCom")
    client = WeComClient.from_settings(settings, engine=None)
    client.timeout = CHECK_TIMEOUT_SECONDS
    try:
        async with client:
            answer = await client.agent()
    except WeComUnavailable as exc:
        return [_fail(name, f"{settings.WECOM_API_URL}: {exc}")]
    if not answer.ok:
        return [_fail(name, f"agent/get errcode {answer.errcode}: {answer.errmsg}")]
    agent = answer.data
    if agent.get("close"):
        return [_fail(name, _("app %(name)s is disabled") % {"name": agent.get("name", "")})]
    users = (agent.get("allow_userinfos") or {}).get("user") or []
    parties = (agent.get("allow_partys") or {}).get("partyid") or []
    tags = (agent.get("allow_tags") or {}).get("tagid") or []
    values = {"name": agent.get("name", ""), "agent": settings.WECOM_AGENT_ID}
    if users or parties or tags:
        checks = [_ok(name, _("app %(name)s (agent %(agent)s) answers") % values)]
    else:
        reason = _("app %(name)s is visible to nobody: nobody can receive its messages")
        checks = [Check(name, Status.WARN, reason % values)]
    if not settings.wecom_callbacks_enabled:
        checks.append(
            Check(
                _("WeCom callback"),
                Status.WARN,
                _(
                    "not set: the buttons of a card and replies cannot reach riskprompt; "
                    "set RISKPROMPT_WECOM_TOKEN and _AES_KEY"
                ),
            )
        )
    elif not settings.PUBLIC_URL:
        checks.append(
            Check(
                _("WeCom callback"),
                Status.WARN,
                _("set RISKPROMPT_PUBLIC_URL: WeCom calls PUBLIC_URL/wecom/callback"),
            )
        )
    else:
        checks.append(_ok(_("WeCom callback"), f"{settings.PUBLIC_URL}/wecom/callback"))
    return checks


async def check_dingtalk(settings: Settings) -> list[Check]:
    """Fetch a token with the app's key and secret, then read the agent's visible range."""
    from riskprompt.notifications.channels.dingtalk import DingTalkClient, DingTalkUnavailable

    name = _("DingTalk")
    client = DingTalkClient.from_settings(settings, engine=None)
    client.timeout = CHECK_TIMEOUT_SECONDS
    try:
        async with client:
            answer = await client.visible_scopes()
    except DingTalkUnavailable as exc:
        return [_fail(name, f"{settings.DINGTALK_API_URL}: {exc}")]
    if not answer.ok:
        return [_fail(name, f"visible_scopes errcode {answer.errcode}: {answer.errmsg}")]
    scopes = answer.data
    values = {"agent": settings.DINGTALK_AGENT_ID}
    if (
        scopes.get("userVisibleScopes")
        or scopes.get("deptVisibleScopes")
        or not scopes.get("isHidden", False)
    ):
        checks = [_ok(name, _("agent %(agent)s answers") % values)]
    else:
        reason = _("agent %(agent)s is visible to nobody: nobody can receive its messages")
        checks = [Check(name, Status.WARN, reason % values)]
    if not settings.dingtalk_callbacks_enabled:
        checks.append(
            Check(
                _("DingTalk callback"),
                Status.WARN,
                _("not set: set RISKPROMPT_DINGTALK_TOKEN and _AES_KEY for event callbacks"),
            )
        )
    elif settings.PUBLIC_URL:
        checks.append(_ok(_("DingTalk callback"), f"{settings.PUBLIC_URL}/dingtalk/callback"))
    return checks


async def check_channels(settings: Settings) -> list[Check]:
    """Reach every configured channel, at once; the file channel's folder when it is used."""
    probes = []
    if settings.smtp_enabled:
        probes.append(check_smtp(settings))
    if settings.telegram_enabled:
        probes.append(check_telegram(settings))
    if settings.twilio_enabled:
        probes.append(check_twilio(settings))
    checks = list(await asyncio.gather(*probes))
    if settings.wecom_enabled:
        checks.extend(await check_wecom(settings))
    if settings.dingtalk_enabled:
        checks.extend(await check_dingtalk(settings))
    if settings.aliyun_sms_enabled:
        checks.extend(await check_aliyun_sms(settings))
    checks.extend(check_local_channels(settings))
    if uses_file_channel(settings):
        checks.append(check_folder(_("File channel"), settings.OUTBOX_DIR))
    return checks


#: The setting that gives each channel its provider.
CHANNEL_SETTINGS = {
    Channel.EMAIL: "RISKPROMPT_SMTP_HOST",
    Channel.SMS: "RISKPROMPT_TWILIO_ACCOUNT_SID (_AUTH_TOKEN, _FROM)",
    Channel.TELEGRAM: "RISKPROMPT_TELEGRAM_TOKEN",
    Channel.WECOM: "RISKPROMPT_WECOM_CORP_ID (_AGENT_ID, _SECRET)",
    Channel.DINGTALK: "RISKPROMPT_DINGTALK_APP_KEY (_APP_SECRET, _AGENT_ID)",
}


def _providers(settings: Settings) -> dict[Channel, bool]:
    """Whether each channel has its provider (else it goes to the file or console channel)."""
    return {
        Channel.EMAIL: settings.smtp_enabled,
        Channel.SMS: settings.sms_enabled,
        Channel.TELEGRAM: settings.telegram_enabled,
        Channel.WECOM: settings.wecom_enabled,
        Channel.DINGTALK: settings.dingtalk_enabled,
    }


def _provider_setting(settings: Settings, channel: Channel) -> str:
    """What to set for ``channel``: for Alibaba Cloud SMS, the settings still missing."""
    if channel is Channel.SMS and settings.SMS_PROVIDER == "aliyun":
        names = ("ACCESS_KEY_ID", "ACCESS_KEY_SECRET", "SIGN_NAME")
        return ", ".join(
            f"RISKPROMPT_ALIYUN_SMS_{n}" for n in names if not getattr(settings, f"ALIYUN_SMS_{n}")
        )
    return CHANNEL_SETTINGS[channel]


def check_local_channels(settings: Settings) -> list[Check]:
    """A warning for each channel left on the outbox folder or the console: nobody gets it."""
    enabled = _providers(settings)
    where = (
        _("messages are printed on the console")
        if settings.LOCAL_CHANNEL == "console"
        else _("messages are written to %(folder)s") % {"folder": settings.OUTBOX_DIR}
    )
    return [
        Check(
            _(CHANNEL_NAMES[channel]),
            Status.WARN,
            _("no provider: %(where)s; set %(setting)s")
            % {"where": where, "setting": _provider_setting(settings, channel)},
        )
        for channel in enabled  # email, SMS, Telegram, WeCom, DingTalk
        if not enabled[channel]
    ]


def summary(checks: list[Check]) -> str:
    """The line under the table: all passed only when nothing warns or fails."""
    total, failed = len(checks), sum(c.failed for c in checks)
    warned = sum(c.status is Status.WARN for c in checks)
    if failed:
        line = _("%(n)s of %(total)s checks failed.") % {"n": failed, "total": total}
        if warned:
            line += " " + ngettext("%(n)s check warns.", "%(n)s checks warn.", warned) % {
                "n": warned
            }
        return line
    if warned:
        return ngettext(
            "%(total)s checks: %(ok)s passed, %(n)s warning.",
            "%(total)s checks: %(ok)s passed, %(n)s warnings.",
            warned,
        ) % {"total": total, "ok": total - warned, "n": warned}
    return _("All %(total)s checks passed.") % {"total": total}


def run_checks(settings: Settings, engine: Engine) -> list[Check]:
    """Every check, in the table's order, with secrets taken out of the reasons.

    Args:
        settings: the loaded settings.
        engine: the database (not required to be migrated).

    Returns:
        The checks.
    """
    checks = [*check_settings(settings), *check_database(engine)]
    checks.append(check_folder(_("Data folder"), settings.DATA_DIR))
    checks.extend(asyncio.run(check_channels(settings)))
    redact = Redactor(secrets_of(settings))
    return [replace(c, reason=redact(c.reason)) for c in checks]


# -- a test message -------------------------------------------------------------------------------

CHANNEL_NAMES = CHANNEL_LABELS  # one label map, in models/


def doctor_message(person: Person, channel: Channel, address: str) -> Message:
    """The test message for ``person`` on ``channel``, in their language."""
    gettext = translator(person.locale).gettext
    text_ = gettext(
        "This is a test message from riskprompt. It shows that this channel reaches you; "
        "there is nothing to do."
    )
    return Message(
        delivery_id=0,
        channel=channel.value,
        address=address,
        subject=gettext("riskprompt test message"),
        text=text_,
        idempotency_key=str(DeliveryKey.doctor()),
        locale=person.locale,
    )


async def send_test_messages(settings: Settings, person: Person) -> list[Check]:
    """Send the test message to ``person`` on each channel that reaches them, now.

    The message goes straight through the channel adapter, not the outbox: it is
    no prompt, and the answer (sent, or the provider's error) is what doctor shows.

    Args:
        settings: the settings (which adapters, which credentials).
        person: the addressee.

    Returns:
        One check per channel; a failing check when no channel reaches the person.
    """
    adapters = build_adapters(settings)
    channels = person.reachable_channels()
    label = _("Test message to %(staff_id)s") % {"staff_id": person.staff_id}
    if not channels:
        return [_fail(label, _("no channel reaches this person"))]
    for adapter in distinct_adapters(adapters.values()):
        await adapter.open()
    checks = []
    try:
        for channel in channels:
            address = person.address_for(channel) or ""
            name = f"{label}: {_(CHANNEL_NAMES[channel])}"
            try:
                async with asyncio.timeout(CHECK_TIMEOUT_SECONDS * 3):
                    result = await adapters[channel].send(doctor_message(person, channel, address))
            except TimeoutError:
                checks.append(_fail(name, _("no answer in time")))
                continue
            if result.outcome is Outcome.SENT:
                checks.append(_ok(name, _("sent (%(id)s)") % {"id": result.provider_id or address}))
            else:
                checks.append(_fail(name, result.error or result.outcome.value))
    finally:
        for adapter in distinct_adapters(adapters.values()):
            await adapter.close()
    redact = Redactor(secrets_of(settings))
    return [replace(c, reason=redact(c.reason)) for c in checks]


__all__ = [
    "Check",
    "Status",
    "check_channels",
    "check_database",
    "check_folder",
    "check_settings",
    "doctor_message",
    "run_checks",
    "send_test_messages",
]
