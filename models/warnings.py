"""Three-colour warnings (三色预警) and correction reports (整改反馈).

First cut of the tables; the warnings issue adds the state machine.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from config.i18n import N_
from models.types import UTCDateTime, str_enum


class WarningColour(enum.StrEnum):
    """Yellow, orange or red (黄/橙/红)."""

    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"

    @property
    def label(self) -> str:
        """The msgid of the colour's name."""
        return {"yellow": N_("yellow"), "orange": N_("orange"), "red": N_("red")}[self.value]


class WarningForm(enum.StrEnum):
    """预警提示 (warning prompt), 诫勉警示 (admonishment), 责令纠错 (ordered correction)."""

    PROMPT = "prompt"
    ADMONISH = "admonish"
    CORRECT = "correct"

    @property
    def label(self) -> str:
        """The msgid of the form's name."""
        return {
            "prompt": N_("warning prompt"),
            "admonish": N_("admonishment"),
            "correct": N_("ordered correction"),
        }[self.value]


class WarningStatus(enum.StrEnum):
    """Where a warning stands."""

    ISSUED = "issued"
    ACKNOWLEDGED = "acknowledged"
    SUBMITTED = "submitted"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


class Warning(SQLModel, table=True):
    """A warning issued by an officer to a person, with a deadline."""

    __tablename__: ClassVar[str] = "warning"  # type: ignore[misc]

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    issued_by_id: int = Field(foreign_key="person.id")
    colour: WarningColour = Field(sa_type=str_enum(WarningColour))
    form: WarningForm = Field(sa_type=str_enum(WarningForm))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    risk_point_id: int | None = Field(default=None, foreign_key="risk_point.id")
    status: WarningStatus = Field(default=WarningStatus.ISSUED, sa_type=str_enum(WarningStatus))
    deadline: datetime = Field(sa_type=UTCDateTime)
    escalations: int = Field(default=0)
    created_at: datetime = Field(sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RectificationStatus(enum.StrEnum):
    """A correction report's review."""

    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Rectification(SQLModel, table=True):
    """A correction (整改) reported on a warning, with evidence, and its review."""

    __tablename__: ClassVar[str] = "rectification"  # type: ignore[misc]

    id: int | None = Field(default=None, primary_key=True)
    warning_id: int = Field(foreign_key="warning.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    description: str = Field(sa_column=Column(Text, nullable=False))
    evidence: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    status: RectificationStatus = Field(
        default=RectificationStatus.SUBMITTED, sa_type=str_enum(RectificationStatus)
    )
    submitted_at: datetime = Field(sa_type=UTCDateTime)
    reviewed_by_id: int | None = Field(default=None, foreign_key="person.id")
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    review_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
