"""One label map per enum, in models/, every label translated; titles in the reader's language."""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from riskprompt.config.i18n import translator
from riskprompt.models.catalog import RiskLevel
from riskprompt.models.clock import FixedClock
from riskprompt.models.errors import IllegalTransition, InvalidInput
from riskprompt.models.people import Channel, Role
from riskprompt.models.prompts import DeliveryStatus, Prompt, PromptKind, PromptStatus
from riskprompt.models.warnings import (
    WarningColour,
    WarningForm,
    WarningStatus,
    issue_warning,
    withdraw_warning,
)
from tests.builders import make_person, make_unit

LABELLED: list[type[enum.Enum]] = [
    Channel,
    Role,
    RiskLevel,
    PromptKind,
    PromptStatus,
    DeliveryStatus,
    WarningColour,
    WarningForm,
    WarningStatus,
]


@pytest.mark.parametrize("kind", LABELLED, ids=lambda k: k.__name__)
def test_every_member_has_a_label_translated_into_chinese(kind: type[enum.Enum]) -> None:
    zh = translator("zh_CN").gettext
    for member in kind:
        label = member.label  # type: ignore[attr-defined]
        assert label, member
        assert zh(label) != label or label == "Telegram", f"{member!r}: {label!r} untranslated"


def test_a_prompt_title_is_read_in_the_readers_language_not_as_stored() -> None:
    monthly = Prompt(kind=PromptKind.MONTHLY, person_id=1, period="2026-12", title="2026年12月…")
    assert monthly.title_in("en") == "December 2026 post integrity risk prompt"
    assert monthly.title_in("zh_CN") == "2026年12月岗位廉政风险提示"
    special = Prompt(kind=PromptKind.SPECIAL, person_id=1, title="特别提示")
    assert special.title_in("en") == "Special risk prompt"


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_refusal_translates_the_state_and_the_action(session: Session) -> None:
    clock = FixedClock(datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    unit = make_unit(session)
    officer = make_person(session, unit=unit, role=Role.OFFICER)
    warning = issue_warning(
        session,
        actor=officer,
        person=make_person(session, unit=unit),
        colour=WarningColour.YELLOW,
        form=WarningForm.PROMPT,
        reason="采购审批未经集体研究",
        deadline=clock.now() + timedelta(days=7),
        clock=clock,
    )
    withdraw_warning(session, warning=warning, actor=officer, clock=clock, reason="误发")
    with pytest.raises(IllegalTransition) as refused:
        withdraw_warning(session, warning=warning, actor=officer, clock=clock, reason="误发")
    said = refused.value.translate(translator("zh_CN").gettext)
    assert said == f"预警W{warning.id}当前状态为“已撤回”，无法撤回"
    # a field named in a refusal is a label too; what the person wrote stays as written
    with pytest.raises(InvalidInput) as empty:
        withdraw_warning(session, warning=warning, actor=officer, clock=clock, reason=" ")
    assert "the reason" not in empty.value.translate(translator("zh_CN").gettext)
