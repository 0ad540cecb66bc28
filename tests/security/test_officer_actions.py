"""Staff cannot do what only officers may: by chat, by the API, by the CLI.

Officers' actions: issue a special prompt or a warning, withdraw a warning,
review a correction, set the month's key work, read the unit's status, hold an
API token.  A member of staff (the clerk, CW001) tries each through every front
end that offers it; an officer demoted to staff keeps a token that then opens
nothing.  Each attempt is refused in words, and changes nothing: no broadcast,
no warning, the correction still waiting, no audit record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import func
from sqlmodel import select
from typer.testing import CliRunner

from riskprompt.cli.app import app as cli_app
from riskprompt.models.conversations import create_api_token
from riskprompt.models.people import Person, Role
from riskprompt.models.prompts import Broadcast
from riskprompt.models.warnings import (
    Rectification,
    RectificationStatus,
    Warning,
    WarningStatus,
    submit_rectification,
)
from tests.bot.conftest import CLERK_CHAT
from tests.security.conftest import Front, audit_count

NOT_AN_OFFICER = "张出纳 (CW001) is not an officer and may not do this"


@dataclass
class Scene:
    """The front ends, the clerk's submitted correction and a demoted officer's token."""

    front: Front
    cli: CliRunner
    correction_id: int
    demoted_token: str


@pytest.fixture
async def scene(front: Front, cli: CliRunner) -> Scene:
    world = front.world
    with world.session() as session:
        clerk = session.exec(select(Person).where(Person.staff_id == "CW001")).one()
        officer = session.exec(select(Person).where(Person.staff_id == "JJ001")).one()
        warning = session.get(Warning, front.warning_id)
        assert warning is not None
        correction = submit_rectification(
            session,
            warning=warning,
            actor=clerk,
            description="已整改",
            evidence=[],
            clock=world.clock,
        )
        token = create_api_token(session, person=officer, clock=world.clock)
        officer.role = Role.STAFF  # demoted: the token stays, its power goes
        session.add(officer)
        session.commit()
        return Scene(front, cli, correction.id or 0, token)


Attempt = Callable[[Scene], Awaitable[str]]


async def _say(scene: Scene, text: str) -> str:
    world = scene.front.world
    await scene.front.webhook(world.api.message_update(CLERK_CHAT, text))
    return world.last_text(CLERK_CHAT)


async def _tap(scene: Scene, data: str) -> str:
    world = scene.front.world
    await scene.front.webhook(world.api.callback_update(CLERK_CHAT, data, message_id=1))
    return str(world.answers()[-1].params["text"])


async def _cli(scene: Scene, *args: str) -> str:
    result = scene.cli.invoke(cli_app, ["--locale", "en", *args])
    return f"exit {result.exit_code}: {result.output}"


def _api(method: str, path: str, body: dict[str, object] | None = None) -> Attempt:
    async def attempt(scene: Scene) -> str:
        response = await scene.front.http.request(
            method,
            path.format(correction=scene.correction_id),
            json=body,
            headers={"Authorization": f"Bearer {scene.demoted_token}", "Accept-Language": "en"},
        )
        return f"{response.status_code} {response.json().get('detail')}"

    return attempt


DEMOTED = "王纪检 (JJ001) is not an officer and may not do this"
ATTEMPTS: list[tuple[str, Attempt, str]] = [
    ("chat /remind", lambda s: _say(s, "/remind"), NOT_AN_OFFICER),
    ("chat /review", lambda s: _say(s, "/review"), NOT_AN_OFFICER),
    ("chat /status", lambda s: _say(s, "/status"), NOT_AN_OFFICER),
    ("chat button: accept", lambda s: _tap(s, f"rv:a:{s.correction_id}"), NOT_AN_OFFICER),
    ("chat button: reject", lambda s: _tap(s, f"rv:r:{s.correction_id}"), NOT_AN_OFFICER),
    ("chat button: show", lambda s: _tap(s, f"rv:s:{s.correction_id}"), NOT_AN_OFFICER),
    (
        "api: special prompt",
        _api("POST", "/api/v1/special-prompts", {"target": "all", "text": "全体注意"}),
        f"403 {DEMOTED}",
    ),
    ("api: list prompts", _api("GET", "/api/v1/prompts"), f"403 {DEMOTED}"),
    ("api: list warnings", _api("GET", "/api/v1/warnings"), f"403 {DEMOTED}"),
    ("api: list corrections", _api("GET", "/api/v1/corrections"), f"403 {DEMOTED}"),
    (
        "api: review",
        _api("POST", "/api/v1/corrections/{correction}/review", {"accept": True}),
        f"403 {DEMOTED}",
    ),
    (
        "cli: remind",
        lambda s: _cli(s, "remind", "--as", "CW001", "--to", "all", "--text", "全体注意"),
        NOT_AN_OFFICER,
    ),
    (
        "cli: warn",
        lambda s: _cli(
            s,
            "warn",
            "--as",
            "CW001",
            "--person",
            "CW002",
            "--colour",
            "red",
            "--form",
            "correct",
            "--reason",
            "越权",
        ),
        NOT_AN_OFFICER,
    ),
    (
        "cli: withdraw",
        lambda s: _cli(s, "withdraw", str(s.front.warning_id), "--as", "CW001", "--reason", "撤销"),
        NOT_AN_OFFICER,
    ),
    (
        "cli: review",
        lambda s: _cli(s, "review", str(s.correction_id), "--as", "CW001", "--accept"),
        NOT_AN_OFFICER,
    ),
    (
        "cli: focus set",
        lambda s: _cli(s, "focus", "set", "2026-12", "重点工作", "--as", "CW001"),
        NOT_AN_OFFICER,
    ),
    ("cli: tokens create", lambda s: _cli(s, "tokens", "create", "CW001"), NOT_AN_OFFICER),
]


@pytest.mark.parametrize(
    ("attempt", "refusal"), [pytest.param(a, r, id=name) for name, a, r in ATTEMPTS]
)
async def test_staff_cannot_act_as_an_officer(scene: Scene, attempt: Attempt, refusal: str) -> None:
    world = scene.front.world
    before = audit_count(world)
    with world.session() as session:
        warnings_before = session.exec(select(func.count()).select_from(Warning)).one()

    answer = await attempt(scene)

    assert refusal in answer
    assert "exit 0" not in answer
    with world.session() as session:
        assert session.exec(select(Broadcast)).all() == []
        assert session.exec(select(func.count()).select_from(Warning)).one() == warnings_before
        warning = session.get(Warning, scene.front.warning_id)
        assert warning is not None and warning.status is WarningStatus.SUBMITTED
        correction = session.get(Rectification, scene.correction_id)
        assert correction is not None and correction.status is RectificationStatus.SUBMITTED
    assert audit_count(world) == before
