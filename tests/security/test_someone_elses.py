"""Nobody acts on someone else's prompt, warning or correction, from any front end.

One table: each row is an attempt by the wrong person through one front end
(Telegram button and text, SMS code, email link, CLI ``--as``, the officer API)
and the refusal it must meet.  After every attempt the prompt is still open,
the warning still issued, the correction still waiting, and the audit record
holds no acknowledgement, submission or decision.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from riskprompt.cli.app import app as cli_app
from riskprompt.models.catalog import Unit
from riskprompt.models.conversations import create_api_token
from riskprompt.models.people import Person, Role
from riskprompt.models.prompts import Prompt, PromptStatus
from riskprompt.models.warnings import (
    Rectification,
    RectificationStatus,
    Warning,
    WarningStatus,
    submit_rectification,
)
from riskprompt.notifications.links import form_key
from tests.bot.conftest import COLLEAGUE_CHAT, OFFICER_CHAT
from tests.builders import make_person, make_warning
from tests.security.conftest import SECRET_KEY, Front, audit_count


@dataclass
class Scene:
    """The front ends, and what the clerk and the officer own."""

    front: Front
    cli: CliRunner
    correction_id: int  # the officer's own correction (of a warning from a second officer)
    officer_token: str

    def run(self, *args: str) -> tuple[int, str]:
        result = self.cli.invoke(cli_app, ["--locale", "en", *args])
        return result.exit_code, result.output


@pytest.fixture
async def scene(front: Front, cli: CliRunner) -> Scene:
    world = front.world
    with world.session() as session:
        officer = session.exec(select(Person).where(Person.staff_id == "JJ001")).one()
        unit = session.get(Unit, officer.unit_id)
        assert unit is not None
        second = make_person(session, unit=unit, staff_id="JJ002", role=Role.OFFICER, locale="en")
        own = make_warning(session, person=officer, officer=second, at=world.clock.now())
        correction = submit_rectification(
            session,
            warning=own,
            actor=officer,
            description="已整改",
            evidence=[],
            clock=world.clock,
        )
        token = create_api_token(session, person=officer, clock=world.clock)
        session.commit()
        return Scene(front, cli, correction.id or 0, token)


Attempt = Callable[[Scene], Awaitable[str]]


async def _tap(scene: Scene, chat: int, data: str) -> str:
    world = scene.front.world
    await scene.front.webhook(world.api.callback_update(chat, data, message_id=1))
    return str(world.answers()[-1].params["text"])


async def _say(scene: Scene, chat: int, text: str) -> str:
    world = scene.front.world
    await scene.front.webhook(world.api.message_update(chat, text))
    return world.last_text(chat)


async def _sms(scene: Scene, staff_id: str, text: str) -> str:
    return (await scene.front.twilio("/twilio/sms", scene.front.sms_form(staff_id, text))).text


async def _link(scene: Scene, kind: str, target: int, staff_id: str) -> str:
    """The page's acknowledge button (POST, with the page's form key), signed for someone else."""
    url = scene.front.link(kind, target, staff_id)
    key = form_key(SECRET_KEY, url.rsplit("/", 1)[1])
    response = await scene.front.http.post(url, data={"k": key})
    return f"{response.status_code} {response.text}"


async def _cli(scene: Scene, *args: str) -> str:
    code, output = scene.run(*args)
    return f"exit {code}: {output}"


async def _api_review(scene: Scene) -> str:
    response = await scene.front.http.post(
        f"/api/v1/corrections/{scene.correction_id}/review",
        json={"accept": True},
        headers={"Authorization": f"Bearer {scene.officer_token}", "Accept-Language": "en"},
    )
    return f"{response.status_code} {response.json()['detail']}"


ATTEMPTS: list[tuple[str, Attempt, str]] = [
    (
        "telegram button: acknowledge the clerk's prompt",
        lambda s: _tap(s, COLLEAGUE_CHAT, f"ack:p:{s.front.prompt_id}"),
        "No prompt of yours has the number",  # someone else's answers as a missing one
    ),
    (
        "telegram button: acknowledge the clerk's warning",
        lambda s: _tap(s, COLLEAGUE_CHAT, f"ack:w:{s.front.warning_id}"),
        "No warning of yours has the number",
    ),
    (
        "telegram button: report a correction of the clerk's warning",
        lambda s: _tap(s, COLLEAGUE_CHAT, f"rc:{s.front.warning_id}"),
        "No warning of yours",
    ),
    (
        "telegram text: the clerk's prompt code",
        lambda s: _say(s, COLLEAGUE_CHAT, f"P{s.front.prompt_id}"),
        "No prompt of yours has the number",
    ),
    (
        "telegram button: the officer accepts their own correction",
        lambda s: _tap(s, OFFICER_CHAT, f"rv:a:{s.correction_id}"),
        "nobody may review their own correction",
    ),
    (
        "sms: the clerk's prompt code from the colleague's mobile",
        lambda s: _sms(s, "CW002", f"P{s.front.prompt_id}"),
        "No prompt of yours has the number",
    ),
    (
        "email link: the clerk's prompt, signed for the colleague",
        lambda s: _link(s, "prompt", s.front.prompt_id, "CW002"),
        "404",
    ),
    (
        "email link: the clerk's warning, signed for the colleague",
        lambda s: _link(s, "warning", s.front.warning_id, "CW002"),
        "404",
    ),
    (
        "cli: ack --as the colleague",
        lambda s: _cli(s, "ack", "--as", "CW002", str(s.front.prompt_id)),
        "No prompt of yours has the number",
    ),
    (
        "cli: ack --warning --as the colleague",
        lambda s: _cli(s, "ack", "--as", "CW002", "--warning", str(s.front.warning_id)),
        "No warning of yours has the number",
    ),
    (
        "cli: review --as the officer, of their own correction",
        lambda s: _cli(s, "review", str(s.correction_id), "--as", "JJ001", "--accept"),
        "nobody may review their own correction",
    ),
    (
        "api: the officer accepts their own correction",
        _api_review,
        "403 nobody may review their own correction",
    ),
]


@pytest.mark.parametrize(
    ("attempt", "refusal"),
    [pytest.param(a, r, id=name) for name, a, r in ATTEMPTS],
)
async def test_nobody_acts_on_someone_elses(scene: Scene, attempt: Attempt, refusal: str) -> None:
    world = scene.front.world
    before = audit_count(world)

    answer = await attempt(scene)

    assert refusal in answer
    assert "exit 0" not in answer
    with world.session() as session:
        assert session.get(Prompt, scene.front.prompt_id).status is PromptStatus.OPEN  # type: ignore[union-attr]
        assert session.get(Warning, scene.front.warning_id).status is WarningStatus.ISSUED  # type: ignore[union-attr]
        correction = session.get(Rectification, scene.correction_id)
        assert correction is not None and correction.status is RectificationStatus.SUBMITTED
    assert audit_count(world) == before
