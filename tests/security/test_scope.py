"""Supervision scope on every surface: an officer of unit A lists and acts on nobody of unit B.

The bot suite's organisation (财政局: officer JJ001, clerks CW001 and CW002) gets a
second unit, 税务局, with 赵税务 (TX001) in it, a prompt, a warning and a correction
waiting for review.  JJ001's scope is 财政局 (from the people file's 监督范围 column).
Through chat (the Telegram stand-in behind the webhook), the CLI (``--as``) and the
officer API (their token), JJ001 sees nobody of 税务局, is not counted them, and a
review or warning of 赵税务 is refused in words naming the person.  An officer with no
scope given (JJ002) sees every unit, as before scopes existed; staff see only their
own; the administrator's CLI without ``--as`` sees all.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import func
from sqlmodel import select
from typer.testing import CliRunner

from riskprompt.cli.app import app as cli_app
from riskprompt.models.conversations import create_api_token
from riskprompt.models.people import Person, Role
from riskprompt.models.scope import Supervision
from riskprompt.models.warnings import Rectification, RectificationStatus, Warning, WarningStatus
from tests.bot.conftest import OFFICER_CHAT
from tests.builders import make_person, make_prompt_with_delivery, make_unit, make_warning
from tests.security.conftest import Front, audit_count

OUTSIDE = "赵税务 (TX001) is outside your supervision scope"


@dataclass
class Scene:
    """The front ends, the tax clerk's correction and the officers' API tokens."""

    front: Front
    cli: CliRunner
    correction_id: int
    warning_id: int
    token: str  # JJ001's (scope 财政局)
    open_token: str  # JJ002's (no scope given)


@pytest.fixture
async def scene(front: Front, cli: CliRunner) -> Scene:
    world = front.world
    with world.session() as session:
        people = {p.staff_id: p for p in session.exec(select(Person)).all()}
        finance = people["JJ001"].unit_id
        tax = make_unit(session, name="税务局")
        taxman = make_person(session, unit=tax, staff_id="TX001", name="赵税务", locale="en")
        other = make_person(
            session, unit=tax, staff_id="JJ002", name="钱纪检", role=Role.OFFICER, locale="en"
        )
        make_prompt_with_delivery(session, person=taxman, at=world.clock.now(), title="税务提示")
        # Issued by the officer who supervises every unit; then JJ001's scope is set.
        warning = make_warning(session, person=taxman, officer=other, at=world.clock.now())
        warning.status = WarningStatus.SUBMITTED
        session.add(warning)
        correction = Rectification(
            warning_id=warning.id or 0,
            person_id=taxman.id or 0,
            description="已整改",
            submitted_at=world.clock.now(),
        )
        session.add(correction)
        session.add(Supervision(officer_id=people["JJ001"].id or 0, unit_id=finance))
        token = create_api_token(session, person=people["JJ001"], clock=world.clock)
        open_token = create_api_token(session, person=other, clock=world.clock)
        session.commit()
        return Scene(front, cli, correction.id or 0, warning.id or 0, token, open_token)


def _cli(scene: Scene, *args: str) -> str:
    result = scene.cli.invoke(cli_app, ["--locale", "en", *args])
    return f"exit {result.exit_code}: {result.output}"


async def _api(scene: Scene, method: str, path: str, token: str, body: dict | None = None):
    return await scene.front.http.request(
        method,
        path,
        json=body,
        headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"},
    )


# -- listings --------------------------------------------------------------------------------


async def test_chat_status_and_review_queue_hold_the_scope_only(scene: Scene) -> None:
    world = scene.front.world
    await world.send(OFFICER_CHAT, "/status")
    status = world.last_text(OFFICER_CHAT)
    # 财政局's three people; 赵税务's prompt, warning and correction are not counted.
    assert "Supervision scope: 财政局 (with their sub-units), 3 people" in status
    assert "Open warnings: 1, overdue: 0" in status  # the clerk's, not 赵税务's
    assert "Corrections waiting for review: 0" in status
    await world.send(OFFICER_CHAT, "/review")
    assert world.last_text(OFFICER_CHAT) == "No correction is waiting for your review."


async def test_chat_button_to_a_correction_outside_the_scope_is_refused(scene: Scene) -> None:
    world = scene.front.world
    for button in ("rv:s:", "rv:r:", "rv:a:"):  # show it, reject it, accept it
        await scene.front.webhook(
            world.api.callback_update(OFFICER_CHAT, f"{button}{scene.correction_id}", message_id=1)
        )
        assert world.answers()[-1].params["text"] == OUTSIDE, button
    assert "已整改" not in "".join(world.texts(OFFICER_CHAT))
    assert world.state(OFFICER_CHAT) is None or world.state(OFFICER_CHAT).flow is None


@pytest.mark.parametrize(
    ("command", "hidden"),
    [
        (["prompts", "list"], "赵税务"),
        (["warnings", "list"], "赵税务"),
        (["review", "list"], "赵税务"),
        (["deliveries", "list"], "赵税务"),
        (["people", "list"], "赵税务"),
    ],
)
def test_cli_lists_narrowed_by_as(scene: Scene, command: list[str], hidden: str) -> None:
    narrowed = _cli(scene, *command, "--as", "JJ001")
    assert narrowed.startswith("exit 0"), narrowed
    assert hidden not in narrowed
    for everything in (_cli(scene, *command, "--as", "JJ002"), _cli(scene, *command)):
        assert everything.startswith("exit 0") and hidden in everything, everything


def test_cli_staff_list_only_their_own(scene: Scene) -> None:
    own = _cli(scene, "prompts", "list", "--as", "CW001", "--limit", "200")
    assert "张出纳" in own and "李会计" not in own and "赵税务" not in own
    assert "1 prompt (" in own


@pytest.mark.parametrize("path", ["/api/v1/prompts", "/api/v1/warnings", "/api/v1/corrections"])
async def test_api_lists_hold_the_token_holders_scope(scene: Scene, path: str) -> None:
    narrowed = await _api(scene, "GET", path, scene.token)
    assert narrowed.status_code == 200
    assert "TX001" not in narrowed.text
    asked = await _api(scene, "GET", f"{path}?person=TX001", scene.token)
    assert asked.json()["total"] == 0
    everything = await _api(scene, "GET", f"{path}?person=TX001", scene.open_token)
    assert everything.json()["total"] == 1


def test_people_show_names_the_scope(scene: Scene) -> None:
    shown = _cli(scene, "people", "show", "JJ001")
    assert "Supervision scope" in shown and "财政局 (with their sub-units)" in shown
    assert "every unit" in _cli(scene, "people", "show", "JJ002")
    assert "Supervision scope" not in _cli(scene, "people", "show", "CW001")


# -- actions -----------------------------------------------------------------------------------


async def test_reviewing_or_warning_someone_outside_the_scope_is_refused(scene: Scene) -> None:
    world = scene.front.world
    before = audit_count(world)
    with world.session() as session:
        warnings_before = session.exec(select(func.count()).select_from(Warning)).one()

    answers = [
        _cli(scene, "review", str(scene.correction_id), "--as", "JJ001", "--accept"),
        _cli(
            scene,
            *("warn", "--as", "JJ001", "--person", "TX001", "--colour", "red"),
            *("--form", "correct", "--reason", "越权"),
        ),
        _cli(scene, "withdraw", str(scene.warning_id), "--as", "JJ001", "--reason", "撤销"),
    ]
    review = await _api(
        scene,
        "POST",
        f"/api/v1/corrections/{scene.correction_id}/review",
        scene.token,
        {"accept": True},
    )
    warn = await _api(
        scene,
        "POST",
        "/api/v1/warnings",
        scene.token,
        {"person": "TX001", "colour": "red", "form": "correct", "reason": "越权"},
    )
    for answer in answers:
        assert answer.startswith("exit 1") and OUTSIDE in answer, answer
    for response in (review, warn):
        assert response.status_code == 403 and response.json()["detail"] == OUTSIDE
    with world.session() as session:
        correction = session.get(Rectification, scene.correction_id)
        assert correction is not None and correction.status is RectificationStatus.SUBMITTED
        warning = session.get(Warning, scene.warning_id)
        assert warning is not None and warning.status is WarningStatus.SUBMITTED
        assert session.exec(select(func.count()).select_from(Warning)).one() == warnings_before
    assert audit_count(world) == before
