"""The catalogue: units, posts, their powers (职权目录) and risk points (风险点)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import ClassVar

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from riskprompt.config.i18n import N_
from riskprompt.models.errors import InvalidInput
from riskprompt.models.types import UTCDateTime, str_enum


class RiskLevel(enum.StrEnum):
    """Risk level of a risk point (高/中/低)."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 for high, 1 for medium, 2 for low: sort high first."""
        return _LEVEL_RANK[self]

    @property
    def label(self) -> str:
        """The msgid of the level's name (translate where shown)."""
        return _LEVEL_LABELS[self]

    @classmethod
    def parse(cls, value: str) -> RiskLevel:
        """Read 高/中/低 or high/medium/low (any case).

        Raises:
            InvalidInput: for anything else.
        """
        key = value.strip().lower()
        level = _LEVEL_WORDS.get(key)
        if level is None:
            raise InvalidInput(
                N_("unknown risk level %(value)r: use 高/中/低 or high/medium/low"), value=value
            )
        return level


_LEVEL_RANK = {RiskLevel.HIGH: 0, RiskLevel.MEDIUM: 1, RiskLevel.LOW: 2}
_LEVEL_LABELS = {
    RiskLevel.HIGH: N_("high"),
    RiskLevel.MEDIUM: N_("medium"),
    RiskLevel.LOW: N_("low"),
}
_LEVEL_WORDS = {
    "高": RiskLevel.HIGH,
    "high": RiskLevel.HIGH,
    "h": RiskLevel.HIGH,
    "中": RiskLevel.MEDIUM,
    "medium": RiskLevel.MEDIUM,
    "m": RiskLevel.MEDIUM,
    "低": RiskLevel.LOW,
    "low": RiskLevel.LOW,
    "l": RiskLevel.LOW,
}


class Unit(SQLModel, table=True):
    """A unit (单位) of the public body; units may nest."""

    __tablename__: ClassVar[str] = "unit"  # type: ignore[misc]

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    parent_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    created_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Post(SQLModel, table=True):
    """A post (岗位) in a unit."""

    __tablename__: ClassVar[str] = "post"  # type: ignore[misc]
    __table_args__ = (UniqueConstraint("unit_id", "name", name="uq_post_unit_name"),)

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    name: str = Field(max_length=200)


class Power(SQLModel, table=True):
    """An entry of a post's catalogue of powers (职权目录)."""

    __tablename__: ClassVar[str] = "power"  # type: ignore[misc]
    __table_args__ = (UniqueConstraint("post_id", "name", name="uq_power_post_name"),)

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id", index=True)
    name: str = Field(max_length=200)
    content: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    legal_basis: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    exercising_body: str = Field(default="", max_length=200)


class RiskPoint(SQLModel, table=True):
    """A risk point (风险点) of a post, with its level and control measures (防控措施)."""

    __tablename__: ClassVar[str] = "risk_point"  # type: ignore[misc]
    __table_args__ = (
        UniqueConstraint("post_id", "description", name="uq_risk_point_post_description"),
    )

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id", index=True)
    power_id: int | None = Field(default=None, foreign_key="power.id", index=True)
    description: str = Field(max_length=500)
    level: RiskLevel = Field(sa_type=str_enum(RiskLevel), index=True)
    cause: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    measures: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


def split_measures(text: str) -> list[str]:
    """Split control measures written one per line or separated by ；/; ."""
    normalised = text.replace("；", "\n").replace(";", "\n").replace("\r", "\n")
    return [part.strip() for part in normalised.split("\n") if part.strip()]


def join_measures(measures: list[str]) -> str:
    """Write measures back the way :func:`split_measures` reads them."""
    return "；".join(measures)
