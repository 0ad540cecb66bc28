"""What the officer API reads and answers (``XCreate`` in, ``XPublic`` out).

Inputs are bounded and checked before any rule runs: lengths, ranges, aware
times, no control characters, so that no input reaches the database in a form
it would refuse (PostgreSQL refuses NUL characters, SQLite lone surrogates).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StrictBool

from riskprompt.models.listings import CorrectionRow, PromptRow, WarningRow
from riskprompt.models.prompts import Broadcast, PromptKind, PromptStatus
from riskprompt.models.warnings import (
    MAX_TEXT,
    RectificationStatus,
    WarningColour,
    WarningForm,
    WarningStatus,
)

MAX_ID = 2**31 - 1  # ids are INTEGER columns: larger numbers are nobody's id
MAX_PAGE = 200
MAX_OFFSET = 1_000_000
_CONTROL = frozenset(chr(c) for c in (*range(0, 32), 127)) - {"\n", "\r", "\t"}


def clean_text(value: str) -> str:
    """Refuse control characters (NUL...) and lone surrogates; keep newlines and tabs."""
    if any(ch in _CONTROL for ch in value):
        raise ValueError("control characters are not allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text") from None
    return value


def clean_line(value: str) -> str:
    """One line of text: :func:`clean_text` without newlines and tabs."""
    if any(ch in value for ch in "\n\r\t"):
        raise ValueError("one line only")
    return clean_text(value)


def sane_moment(value: datetime) -> datetime:
    """An aware moment that converts to UTC (years 1 and 9999 with an offset do not)."""
    try:
        moment = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("out of range") from None
    if not 2000 <= moment.year <= 9998:
        raise ValueError("out of range")
    return value


def safe_target(value: str) -> str:
    """A target whose post or unit id, if numeric, is a plain number within range.

    The rest of the form (``person:...``, ``level:...``, ``all``) is checked by
    :func:`riskprompt.models.targets.parse_target`, which answers 422 itself.
    """
    kind, sep, ref = value.replace("：", ":").partition(":")
    ref = ref.strip().removesuffix("+").strip()
    if sep and kind.strip().lower() in ("post", "unit") and ref.isdigit():
        if not (ref.isascii() and int(ref) <= MAX_ID):
            raise ValueError("not an id")
    return value


Text = Annotated[str, Field(max_length=MAX_TEXT), AfterValidator(clean_text)]
Line = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(clean_line)]
StaffId = Annotated[str, Field(min_length=1, max_length=32), AfterValidator(clean_line)]
Moment = Annotated[AwareDatetime, AfterValidator(sane_moment)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class SpecialPromptCreate(_Input):
    """A special prompt (特别提示) to issue."""

    target: Annotated[Line, AfterValidator(safe_target)] = Field(
        description="person:STAFF_ID, post:ID, unit:ID, unit:ID+ (with sub-units), "
        "level:high|medium|low or all",
        examples=["unit:3+"],
    )
    text: Annotated[Text, Field(min_length=1)] = Field(description="What the officer says.")
    at: Moment | None = Field(
        default=None,
        description="When to send it (with an offset); omitted: now. A past time is refused "
        "unless force.",
    )
    requires_ack: StrictBool = Field(default=True, description="Readers must acknowledge.")
    force: StrictBool = Field(default=False, description="A past ``at`` means now.")


class WarningCreate(_Input):
    """A three-colour warning (三色预警) to issue."""

    person: StaffId | None = Field(
        default=None, description="The staff ID (工号) warned; or give `unit`."
    )
    unit: Annotated[int | None, Field(ge=1, le=MAX_ID)] = Field(
        default=None, description="Warn the head of this unit instead of a person."
    )
    colour: WarningColour = Field(description="yellow, orange or red")
    form: WarningForm = Field(
        description="prompt (预警提示), admonish (诫勉警示) or correct (责令纠错)"
    )
    reason: Annotated[Text, Field(min_length=1)] = Field(description="Why.")
    risk_point_id: Annotated[int | None, Field(ge=1, le=MAX_ID)] = Field(
        default=None, description="The risk point it is about, if any."
    )
    deadline: Moment | None = Field(
        default=None, description="By when (with an offset); default: per colour, in the settings."
    )


class ReviewCreate(_Input):
    """An officer's decision on a correction report (整改反馈)."""

    accept: StrictBool = Field(description="true: the warning closes; false: sent back.")
    note: Text = Field(default="", description="The reason; required when rejecting.")
    new_deadline: Moment | None = Field(
        default=None, description="When rejecting: the new deadline (with an offset)."
    )


class PersonRef(BaseModel):
    """A person as listed: staff id (工号) and name."""

    staff_id: str
    name: str


def _ref(person: Any) -> PersonRef:
    return PersonRef(staff_id=person.staff_id, name=person.name)


class BroadcastPublic(BaseModel):
    """A special prompt as issued."""

    id: int
    target: str
    text: str
    requires_ack: bool
    status: str = Field(description="scheduled, or expanded into prompts")
    due_at: datetime
    created_at: datetime
    prompt_count: int

    @classmethod
    def of(cls, broadcast: Broadcast) -> BroadcastPublic:
        """From the table row."""
        return cls.model_validate(broadcast, from_attributes=True)


class PromptPublic(BaseModel):
    """A risk prompt to one person."""

    id: int
    kind: PromptKind
    person: PersonRef
    post: str | None
    period: str | None
    title: str
    status: PromptStatus
    requires_ack: bool
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_via: str | None
    broadcast_id: int | None

    @classmethod
    def of(cls, row: PromptRow) -> PromptPublic:
        """From a listing row."""
        p = row.prompt
        return cls(
            id=p.id or 0,
            kind=p.kind,
            person=_ref(row.person),
            post=row.post_name,
            period=p.period,
            title=p.title,
            status=p.status,
            requires_ack=p.requires_ack,
            created_at=p.created_at,
            acknowledged_at=p.acknowledged_at,
            acknowledged_via=p.acknowledged_via,
            broadcast_id=p.broadcast_id,
        )


class WarningPublic(BaseModel):
    """A three-colour warning (三色预警)."""

    id: int
    person: PersonRef
    issued_by: PersonRef
    colour: WarningColour
    form: WarningForm
    reason: str
    status: WarningStatus
    deadline: datetime
    escalations: int
    created_at: datetime
    acknowledged_at: datetime | None
    closed_at: datetime | None

    @classmethod
    def of(cls, row: WarningRow) -> WarningPublic:
        """From a listing row."""
        w = row.warning
        return cls(
            id=w.id or 0,
            person=_ref(row.person),
            issued_by=_ref(row.issuer),
            colour=w.colour,
            form=w.form,
            reason=w.reason,
            status=w.status,
            deadline=w.deadline,
            escalations=w.escalations,
            created_at=w.created_at,
            acknowledged_at=w.acknowledged_at,
            closed_at=w.closed_at,
        )


class EvidencePublic(BaseModel):
    """One evidence file of a correction (its content stays on the server)."""

    name: str
    mime: str | None = None
    size: int | None = None


class CorrectionPublic(BaseModel):
    """A correction report (整改反馈) and its review."""

    id: int
    warning_id: int
    warning_status: WarningStatus
    person: PersonRef
    description: str
    evidence: list[EvidencePublic]
    status: RectificationStatus
    submitted_at: datetime
    reviewed_by: PersonRef | None
    reviewed_at: datetime | None
    review_note: str | None

    @classmethod
    def of(cls, row: CorrectionRow) -> CorrectionPublic:
        """From a listing row."""
        c = row.correction
        files = [
            EvidencePublic(
                name=str(item.get("name", "")),
                mime=item.get("mime") if isinstance(item.get("mime"), str) else None,
                size=item.get("size") if isinstance(item.get("size"), int) else None,
            )
            for item in c.evidence
            if isinstance(item, dict)
        ]
        return cls(
            id=c.id or 0,
            warning_id=c.warning_id,
            warning_status=row.warning.status,
            person=_ref(row.person),
            description=c.description,
            evidence=files,
            status=c.status,
            submitted_at=c.submitted_at,
            reviewed_by=_ref(row.reviewer) if row.reviewer is not None else None,
            reviewed_at=c.reviewed_at,
            review_note=c.review_note,
        )


class _Page(BaseModel):
    total: int = Field(description="How many match the filters, all pages together.")
    limit: int
    offset: int


class PromptPage(_Page):
    """A page of prompts, newest first."""

    items: list[PromptPublic]


class WarningPage(_Page):
    """A page of warnings, newest first."""

    items: list[WarningPublic]


class CorrectionPage(_Page):
    """A page of correction reports (pending: oldest first; otherwise newest first)."""

    items: list[CorrectionPublic]


class ErrorPublic(BaseModel):
    """A refusal, in the reader's language (``Accept-Language``, else the officer's)."""

    detail: str
    error: str | None = None
