"""The page behind a link on the real server: tokens never reach the access log; the SMS
of a prompt and of a warning carries a short link that fits and opens the page."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta

import httpx
import pytest
from sqlmodel import Session

from riskprompt.models.people import Channel, Role
from riskprompt.models.prompts import Prompt, PromptKind, PromptStatus
from riskprompt.models.warnings import WarningColour, WarningForm, issue_warning
from riskprompt.notifications.links import (
    SMS_LINK_PLACEHOLDER,
    AckLinks,
    AckTarget,
    form_key,
    make_ack_token,
)
from riskprompt.notifications.rendering import render_prompt, render_warning, sms_fits
from riskprompt.web import create_app
from riskprompt.web.server import make_server
from tests.builders import make_person, make_unit
from tests.riskprompt.web.conftest import SECRET_KEY

SHORT_LINK = re.compile(r"https?://\S+/a/[A-Za-z0-9._-]+")
LONG_POINTS = [
    {"level": "high", "description": f"重大资金支付未经集体研究决定{n}", "measures": ["双人复核"]}
    for n in range(6)
]


async def _serve(app):
    server = make_server(app, host="127.0.0.1", port=0, embedded=True, access_log=True)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_the_access_log_holds_no_token(web_settings, engine, clock, session, caplog):
    person = make_person(session, unit=make_unit(session), locale="en")
    prompt = Prompt(
        kind=PromptKind.SPECIAL,
        person_id=person.id,
        title="T",
        content={"text": "Read this."},
        created_at=clock.now(),
    )
    session.add(prompt)
    session.commit()
    token = make_ack_token(SECRET_KEY, AckTarget("prompt", prompt.id, person.id), now=clock.now())
    links = AckLinks(secret_key=SECRET_KEY, base="http://x", now=clock.now())
    short = links.short(AckTarget("prompt", prompt.id, person.id)).rsplit("/", 1)[1]
    app = create_app(settings=web_settings, engine=engine, clock=clock)
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    server, task, base = await _serve(app)
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            assert (await http.get(f"/ack/{token}")).status_code == 200
            assert (await http.get(f"/a/{short}")).status_code == 200
            posted = await http.post(f"/ack/{token}", data={"k": form_key(SECRET_KEY, token)})
            assert posted.status_code == 200
            assert (await http.get(f"/ack/{token}x")).status_code == 400
    finally:
        server.should_exit = True
        await task
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert len(lines) == 4
    assert all("/<redacted>" in line for line in lines)
    text = "\n".join(lines) + caplog.text
    assert token not in text and short not in text and token[:20] not in text
    with Session(engine) as s:
        assert s.get(Prompt, prompt.id).status is PromptStatus.ACKNOWLEDGED


def _fill(text: str, settings, target: AckTarget, now) -> str:
    links = AckLinks(secret_key=settings.SECRET_KEY, base=settings.PUBLIC_URL, now=now)
    filled = links.fill_for(text, target)
    assert filled is not None
    return filled


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_prompt_and_warning_sms_carry_a_short_link_that_fits_and_opens_the_page(
    web_settings, client, engine, clock, session, locale
):
    short_public = web_settings.model_copy(update={"PUBLIC_URL": "https://rp.gov.cn"})
    unit = make_unit(session, name="财务处")
    officer = make_person(session, unit=unit, role=Role.OFFICER)
    person = make_person(session, unit=unit, locale=locale)
    prompt = Prompt(
        kind=PromptKind.MONTHLY,
        person_id=person.id,
        period="2026-12",
        title="2026年12月岗位廉政风险提示",
        content={"period": "2026-12", "post": "出纳", "unit": "财务处", "risk_points": LONG_POINTS},
        created_at=clock.now(),
    )
    session.add(prompt)
    warning = issue_warning(
        session,
        actor=officer,
        person=person,
        colour=WarningColour.RED,
        form=WarningForm.CORRECT,
        reason="合同审批未经集体研究，且多次拆分规避招标" * 5,
        deadline=clock.now() + timedelta(days=7),
        clock=clock,
    )
    session.commit()

    prompt_sms = render_prompt(
        prompt=prompt, person=person, channel=Channel.SMS, settings=web_settings
    ).text
    warning_sms = render_warning(
        warning=warning, reader=person, channel=Channel.SMS, settings=web_settings
    ).text
    for rendered, target in (
        (prompt_sms, AckTarget("prompt", prompt.id, person.id)),
        (warning_sms, AckTarget("warning", warning.id, person.id)),
    ):
        assert SMS_LINK_PLACEHOLDER in rendered
        assert sms_fits(rendered)
        for settings in (short_public, web_settings):
            sms = _fill(rendered, settings, target, clock.now())
            found = SHORT_LINK.search(sms)
            assert found is not None, sms
            url = found.group(0)
            if settings is short_public:
                assert len(url) <= 40, url
                assert sms_fits(sms), sms
            page = client.get(url.removeprefix(settings.PUBLIC_URL))
            assert page.status_code == 200
            assert f'lang="{locale.replace("_", "-")}"' in page.text
    assert f"W{warning.id}" in warning_sms  # the reply that acknowledges it by SMS
