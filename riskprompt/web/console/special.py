"""``/special``: the special prompt composer (特别提示).

Three steps, each usable without JavaScript:

1. ``GET /special``: the composer: a target (people by staff ID, a post, a unit
   with or without its sub-units, a risk level, or everyone in the officer's
   scope), the text, the time (now or later) and whether to ask for 已阅.
   ``?to=person:CW001,person:CW002`` (the not-acknowledged page's selection) or any
   other target written as ``riskprompt remind --to`` reads it fills it in.
2. ``GET /special/preview``: the dry run: every recipient and the channel the
   prompt would go out on (``riskprompt remind --dry-run``'s preview, through
   :func:`riskprompt.notifications.specials.preview_special_prompts`), in pages of
   50; nothing is written.  A GET: the dry run changes nothing, and its URL can be
   kept.
3. ``POST /special``: the officer confirms; the prompts are issued through
   :func:`riskprompt.notifications.specials.issue_special_prompts` (the rule of
   ``riskprompt remind``, so the prompts, outbox and audit records are the CLI's),
   then the browser is sent back to ``/special?sent=...`` with what was done.

A target outside the officer's supervision scope is refused, naming the target as
the officer wrote it (never the name of someone they do not supervise).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from riskprompt.config.i18n import N_, format_list
from riskprompt.models.catalog import RiskLevel
from riskprompt.models.directory import unit_in_scope, visible_units
from riskprompt.models.errors import DomainError, InvalidInput, PermissionDenied
from riskprompt.models.listings import page_broadcasts
from riskprompt.models.people import CHANNEL_LABELS, Person
from riskprompt.models.prompts import BroadcastStatus
from riskprompt.models.refs import parse_moment
from riskprompt.models.targets import Target, TargetKind, describe_target
from riskprompt.notifications.planning import Reach
from riskprompt.notifications.specials import (
    issue_special_prompts,
    preview_special_prompts,
    read_targets,
)
from riskprompt.web.console.auth import ConsoleUser, Officer
from riskprompt.web.console.errors import PageError
from riskprompt.web.console.rendering import app_url, console_locale, gettext_for, render
from riskprompt.web.console.routing import router
from riskprompt.web.context import web_context
from riskprompt.web.errors import status_for

PER_PAGE = 50
#: The longest text taken from a form field (the rule checks the text itself).
MAX_FIELD = 20_000
#: Targets a composer names one by one before "and N more".
NAMED_TARGETS = 10
KINDS = ("person", "post", "unit", "level", "all")
#: How the composer's time field is written (``<input type="datetime-local">``).
LOCAL_MOMENT = "%Y-%m-%dT%H:%M"
#: The rule's refusal of a past time names the CLI's ``--force``; the page offers "now".
_PAST_MSGID = (
    "the sending time %(when)s is in the past: give a time to come, "
    "or force it (--force) to send now"
)
_PAST_ON_PAGE = N_("the sending time %(when)s is in the past: give a time to come, or send it now")


@dataclass(frozen=True, slots=True)
class Composition:
    """What the composer's form holds (as typed: strings)."""

    kind: str = "person"
    people: str = ""
    post: str = ""
    unit: str = ""
    sub: bool = True
    level: str = ""
    text: str = ""
    when: str = "now"
    at: str = ""
    ack: bool = True

    @classmethod
    def read(cls, values: Any) -> Composition:
        """The composition of a form or a query string (a mapping of strings)."""

        def field(name: str, default: str = "") -> str:
            value = values.get(name, default)
            return value[:MAX_FIELD] if isinstance(value, str) else default

        return cls(
            kind=field("kind", "person"),
            people=field("people"),
            post=field("post").strip(),
            unit=field("unit").strip(),
            sub=field("sub") == "1",
            level=field("level").strip(),
            text=field("text"),
            when=field("when", "now"),
            at=field("at").strip(),
            ack=field("ack", "yes") != "no",
        )

    def params(self) -> dict[str, str]:
        """The composition as query parameters (the preview's URL, the confirm form)."""
        return {
            "kind": self.kind,
            "people": self.people,
            "post": self.post,
            "unit": self.unit,
            "sub": "1" if self.sub else "0",
            "level": self.level,
            "text": self.text,
            "when": self.when,
            "at": self.at,
            "ack": "yes" if self.ack else "no",
        }

    def target_text(self) -> str:
        """The target as ``riskprompt remind --to`` writes it.

        Raises:
            InvalidInput: the target's field is empty or the kind is unknown.
        """
        if self.kind == "person":
            parts = [p for p in self.people.replace("，", ",").replace("、", ",").split(",")]
            names = [p.strip() for chunk in parts for p in chunk.split() if p.strip()]
            if not names:
                raise InvalidInput(N_("give the staff ID of at least one person"))
            return ",".join(n if ":" in n or "：" in n else f"person:{n}" for n in names)
        if self.kind == "post":
            if not self.post:
                raise InvalidInput(N_("give the post's ID"))
            return f"post:{self.post}"
        if self.kind == "unit":
            if not self.unit:
                raise InvalidInput(N_("choose a unit"))
            return f"unit:{self.unit}{'+' if self.sub else ''}"
        if self.kind == "level":
            if not self.level:
                raise InvalidInput(N_("choose a risk level"))
            return f"level:{self.level}"
        if self.kind == "all":
            return "all"
        raise InvalidInput(N_("unknown kind of target %(kind)r"), kind=self.kind)


def _prefilled(to: str) -> Composition:
    """The composition a ``?to=`` target fills in (as ``riskprompt remind --to`` reads it).

    Raises:
        InvalidInput: not a target, or several that are not all people.
    """
    targets = read_targets(to)
    first = targets[0]
    if first.kind is TargetKind.PERSON:
        return Composition(kind="person", people=", ".join(t.value for t in targets))
    if first.kind is TargetKind.POST:
        return Composition(kind="post", post=first.value)
    if first.kind is TargetKind.UNIT:
        return Composition(kind="unit", unit=first.value, sub=first.sub_units)
    if first.kind is TargetKind.LEVEL:
        return Composition(kind="level", level=first.value)
    return Composition(kind="all")


def _moment(composition: Composition, officer: Person, request: Request) -> datetime | None:
    """When to send: None for now, else the time typed, in the officer's time zone.

    Raises:
        InvalidInput: "later" without a time, or a time that cannot be read.
    """
    if composition.when != "later":
        return None
    if not composition.at:
        raise InvalidInput(N_("give the sending time, or choose to send it now"))
    settings = web_context(request).settings
    moment = parse_moment(composition.at.replace("T", " "), settings)
    try:
        zone = ZoneInfo(officer.timezone)
    except (ValueError, KeyError):
        zone = settings.zone
    return moment.replace(tzinfo=zone)


def _unit_choices(session: Session, viewer: Person) -> list[tuple[str, str]]:
    return [(str(u.id), u.name) for u in visible_units(session, viewer=viewer)]


def _words(
    session: Session, target: Target | str, gettext: Any, officer: ConsoleUser, locale: str
) -> str:
    """A target in the reader's words; "everyone" of an officer with a scope is everyone
    in it (the prompt is narrowed to it), named by its units."""
    if str(target) == "all" and officer.supervised is not None:
        return gettext(N_("everyone in your scope: %(units)s")) % {
            "units": format_list(officer.supervised, locale)
        }
    return describe_target(session, target, gettext)


def _described(
    session: Session, targets: list[Target], gettext: Any, officer: ConsoleUser, locale: str
) -> tuple[list[str], int]:
    """The first targets in the reader's words, and how many more there are."""
    named = [_words(session, t, gettext, officer, locale) for t in targets[:NAMED_TARGETS]]
    return named, max(0, len(targets) - NAMED_TARGETS)


def _refusal(exc: DomainError, typed: str) -> DomainError:
    """The error the page shows: a scope refusal names the target as typed, and a past
    time offers "now" rather than the CLI's ``--force``."""
    if isinstance(exc, PermissionDenied):
        return PermissionDenied(N_("%(target)s is outside your supervision scope"), target=typed)
    if exc.msgid == _PAST_MSGID:
        return InvalidInput(_PAST_ON_PAGE, **exc.params)
    return exc


def _checked_targets(composition: Composition) -> list[Target]:
    """The composition's targets, read (not yet checked against the database)."""
    return read_targets(composition.target_text())


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) <= 100_000:
        raise PageError(422, N_("These fields are missing or not valid: %(fields)s"), fields="page")
    return int(raw)


async def _composer_page(
    request: Request,
    officer: ConsoleUser,
    composition: Composition,
    *,
    error: str = "",
    status: int = 200,
    sent: dict[str, Any] | None = None,
) -> Response:
    """The composer page (with an error, or what was just sent) and the officer's
    special prompts, newest first, in pages of 50."""
    gettext = gettext_for(request)
    locale = console_locale(request)
    page = _page_number(request)

    def read(session: Session) -> dict[str, Any]:
        me = officer.in_session(session)
        recent = page_broadcasts(session, issuer=me, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
        return {
            "units": _unit_choices(session, me),
            "recent": recent,
            "recent_targets": {
                b.id: _words(session, b.target, gettext, officer, locale) for b in recent.rows
            },
        }

    data = await web_context(request).run(read)
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    return render(
        request,
        "special.html.j2",
        {
            "active": "special",
            "officer": officer,
            "form": composition,
            "kinds": KINDS,
            "levels": list(RiskLevel),
            "error": error,
            "sent": sent,
            "page_url": lambda n: f"{request.url.path}?{urlencode([*query, ('page', str(n))])}",
            **data,
        },
        status=status,
    )


@router.get("/special")
async def special_composer(request: Request, officer: Officer) -> Response:
    """The composer, empty, prefilled from ``?to=``, or after sending (``?sent=``)."""
    gettext = gettext_for(request)
    locale = console_locale(request)
    to = request.query_params.get("to")
    composition = (
        Composition.read(request.query_params) if "kind" in request.query_params else Composition()
    )
    error, status = "", 200
    if to:
        try:
            composition = _prefilled(to[:MAX_FIELD])
            if composition.kind == "unit" and not composition.unit.isdigit():
                named = composition.unit

                def unit_id(session: Session) -> str:
                    me = officer.in_session(session)
                    return str(unit_in_scope(session, viewer=me, ref=named).id)

                composition = replace(composition, unit=await web_context(request).run(unit_id))
        except DomainError as exc:
            error, status = exc.translate(gettext), status_for(exc)
    sent = None
    raw_sent = request.query_params.get("sent", "")
    if raw_sent:
        ids = [int(p) for p in raw_sent.split(",")[:500] if p.isascii() and p.isdigit()]
        ids = [i for i in ids if 0 < i < 2**31]

        def done(session: Session) -> dict[str, Any]:
            me = officer.in_session(session)
            found = page_broadcasts(session, issuer=me, limit=len(ids) or 1, ids=ids).rows
            return {
                "broadcasts": len(found),
                "prompts": sum(b.prompt_count for b in found),
                "scheduled": [b for b in found if b.status == BroadcastStatus.SCHEDULED],
                "targets": [
                    _words(session, b.target, gettext, officer, locale) for b in found[:10]
                ],
                "more": max(0, len(found) - 10),
            }

        sent = await web_context(request).run(done) if ids else None
        if sent is not None and not sent["broadcasts"]:
            sent = None
    return await _composer_page(
        request, officer, composition, error=error, status=status, sent=sent
    )


@router.get("/special/preview")
async def special_preview(request: Request, officer: Officer) -> Response:
    """The dry run: recipients × channels of what the composer holds; writes nothing."""
    composition = Composition.read(request.query_params)
    gettext = gettext_for(request)
    locale = console_locale(request)
    page = _page_number(request)
    try:
        targets = _checked_targets(composition)
        at = _moment(composition, officer.person, request)
    except DomainError as exc:
        return await _composer_page(
            request, officer, composition, error=exc.translate(gettext), status=status_for(exc)
        )
    context = web_context(request)
    typed = composition.target_text()

    def preview(session: Session) -> dict[str, Any]:
        me = officer.in_session(session)
        try:
            reach: Reach = preview_special_prompts(
                session,
                actor=me,
                targets=targets,
                text=composition.text,
                at=at,
                requires_ack=composition.ack,
                clock=context.clock,
                settings=context.settings,
            )
        except DomainError as exc:
            raise _refusal(exc, typed) from None
        finally:
            session.rollback()  # a dry run: nothing it might have touched is kept
        named, more = _described(session, targets, gettext, officer, locale)
        return {"reach": reach, "named": named, "more": more}

    try:
        result = await context.run(preview)
    except DomainError as exc:
        return await _composer_page(
            request, officer, composition, error=exc.translate(gettext), status=status_for(exc)
        )
    reach = result["reach"]
    offset = (page - 1) * PER_PAGE
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    return render(
        request,
        "special_preview.html.j2",
        {
            "active": "special",
            "form": composition,
            "reach": reach,
            "rows": reach.rows[offset : offset + PER_PAGE],
            "offset": offset,
            "page": page,
            "pages": max(1, -(-reach.people // PER_PAGE)),
            "by_channel": [(CHANNEL_LABELS[c], n) for c, n in reach.by_channel.items() if n],
            "channel_labels": CHANNEL_LABELS,
            "named": result["named"],
            "more": result["more"],
            "now": at is None,
            "edit_url": f"{app_url(request, '/special')}?{urlencode(composition.params())}",
            "page_url": lambda n: f"{request.url.path}?{urlencode([*query, ('page', str(n))])}",
        },
    )


@router.post("/special")
async def special_confirm(request: Request, officer: Officer) -> Response:
    """Issue the special prompt(s) the officer saw in the dry run."""
    form = await request.form()
    composition = Composition.read(form)
    gettext = gettext_for(request)
    try:
        targets = _checked_targets(composition)
        at = _moment(composition, officer.person, request)
    except DomainError as exc:
        return await _composer_page(
            request, officer, composition, error=exc.translate(gettext), status=status_for(exc)
        )
    context = web_context(request)
    typed = composition.target_text()

    def issue(session: Session) -> list[int]:
        me = officer.in_session(session)
        try:
            broadcasts = issue_special_prompts(
                session,
                actor=me,
                targets=targets,
                text=composition.text,
                at=at,
                requires_ack=composition.ack,
                clock=context.clock,
                settings=context.settings,
            )
        except DomainError as exc:
            raise _refusal(exc, typed) from None
        return [b.id or 0 for b in broadcasts]

    try:
        ids = await context.run(issue)
    except DomainError as exc:
        return await _composer_page(
            request, officer, composition, error=exc.translate(gettext), status=status_for(exc)
        )
    target = app_url(request, "/special") + "?" + urlencode({"sent": ",".join(map(str, ids))})
    return RedirectResponse(target, status_code=303)


__all__ = ["Composition"]
