"""``GET /ack/{token}``: the signed, expiring acknowledgement link of an email.

Opening the link acknowledges the prompt or warning it names, as its addressee,
and shows a small page in the addressee's language; opening it again changes
nothing and says when it was acknowledged.  A tampered token answers 400, an
expired one 410, both in the default language, and change nothing.

The issue asks for a plain GET link, and so it is.  The risk to know: mail
security scanners (Outlook Safe Links, gateways) fetch links in incoming mail
before the person reads it, which would acknowledge on their behalf.  Should
that show up in the audit (acknowledgements seconds after delivery, from a
scanner's address), the remedy is a page with a confirm button (POST).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlmodel import Session

from riskprompt.config.i18n import N_, format_when, normalise_locale, translator
from riskprompt.models.clock import Clock
from riskprompt.models.errors import DomainError
from riskprompt.models.people import Person
from riskprompt.models.prompts import Prompt, acknowledge_prompt
from riskprompt.models.warnings import Warning, acknowledge_warning
from riskprompt.notifications.links import (
    ACK_LINK_TTL,
    AckTarget,
    LinkExpired,
    LinkInvalid,
    read_ack_token,
)
from riskprompt.web.context import web_context
from riskprompt.web.errors import status_for

router = APIRouter(tags=["links"])

TEMPLATES_DIR = Path(__file__).parent / "templates"

MAX_TOKEN_LENGTH = 512  # ours are ~60 characters


@dataclass(frozen=True, slots=True)
class Page:
    """What the page says: a heading, the subject, a sentence, the status, the language."""

    heading: str
    message: str
    status: int = 200
    subject: str = ""
    locale: str = "zh_CN"

    @property
    def ok(self) -> bool:
        """Whether it reports a success."""
        return self.status < 400


@cache
def _environment(locale: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        extensions=["jinja2.ext.i18n"],
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translator(locale), newstyle=True)  # type: ignore[attr-defined]
    return env


def render(page: Page) -> HTMLResponse:
    """The page as HTML (autoescaped), not cached and not leaking the link as a referrer."""
    html = (
        _environment(page.locale)
        .get_template("page.html.j2")
        .render(
            lang=page.locale.replace("_", "-"),
            heading=page.heading,
            subject=page.subject,
            message=page.message,
            ok=page.ok,
        )
    )
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    return HTMLResponse(html, status_code=page.status, headers=headers)


def _fault(locale: str, status: int, heading: str, message: str, **params: object) -> Page:
    gettext = translator(locale).gettext
    return Page(gettext(heading), gettext(message) % params, status, locale=locale)


def _warning_label(warning: Warning, locale: str) -> str:
    gettext = translator(locale).gettext
    return gettext(N_("%(colour)s warning (%(form)s) #%(id)s")) % {
        "colour": gettext(warning.colour.label),
        "form": gettext(warning.form.label),
        "id": warning.id,
    }


def acknowledge_link(session: Session, target: AckTarget, *, clock: Clock, default: str) -> Page:
    """Acknowledge what ``target`` names as its person; the page that says how it went."""
    person = session.get(Person, target.person_id)
    if person is None:
        return _nothing(default)
    locale = normalise_locale(person.locale) or default
    gettext = translator(locale).gettext
    try:
        if target.kind == "prompt":
            prompt = session.get(Prompt, target.id)
            if prompt is None:
                return _nothing(locale)
            done = acknowledge_prompt(
                session, prompt=prompt, actor=person, clock=clock, via="email"
            )
            subject, when = prompt.title, prompt.acknowledged_at
        else:
            warning = session.get(Warning, target.id)
            if warning is None:
                return _nothing(locale)
            done = acknowledge_warning(
                session, warning=warning, actor=person, clock=clock, via="email"
            )
            subject, when = _warning_label(warning, locale), warning.acknowledged_at
    except DomainError as exc:
        session.rollback()
        return Page(
            gettext(N_("Cannot acknowledge")),
            exc.translate(gettext),
            status_for(exc),
            locale=locale,
        )
    moment = format_when(when, person.timezone, locale) if when is not None else ""
    if done:
        heading, message = N_("Acknowledged, thank you"), N_("Acknowledged on %(when)s.")
    else:
        heading = N_("Already acknowledged")
        message = N_("This was acknowledged on %(when)s; nothing has changed.")
    return Page(gettext(heading), gettext(message) % {"when": moment}, 200, subject, locale)


def _nothing(locale: str) -> Page:
    return _fault(
        locale,
        404,
        N_("Nothing to acknowledge"),
        N_("This prompt or warning no longer exists."),
    )


@router.get("/ack/{token}", summary="Acknowledge by email link", include_in_schema=False)
async def acknowledge_by_link(token: str, request: Request) -> HTMLResponse:
    """Acknowledge the prompt or warning of a signed link and show the outcome."""
    context = web_context(request)
    default = context.settings.LOCALE
    try:
        if len(token) > MAX_TOKEN_LENGTH:
            raise LinkInvalid("too long")
        target = read_ack_token(context.settings.SECRET_KEY, token, now=context.clock.now())
    except LinkInvalid:
        return render(
            _fault(
                default,
                400,
                N_("This link is not valid"),
                N_("The link is damaged or incomplete. Open it again from the email."),
            )
        )
    except LinkExpired:
        return render(
            _fault(
                default,
                410,
                N_("This link has expired"),
                N_(
                    "Acknowledgement links work for %(days)s days. Reply in chat or by SMS instead."
                ),
                days=ACK_LINK_TTL.days,
            )
        )
    page = await context.run(
        lambda session: acknowledge_link(session, target, clock=context.clock, default=default)
    )
    return render(page)
