"""The domain: tables and the rules that change them."""

from models.audit import AuditEvent
from models.catalog import Post, Power, RiskLevel, RiskPoint, Unit
from models.conversations import ApiToken, BindingCode, ChatState
from models.people import Assignment, Channel, Person, Role
from models.prompts import (
    Broadcast,
    CycleRun,
    Delivery,
    DeliveryStatus,
    FocusWork,
    Prompt,
    PromptKind,
    PromptStatus,
)
from models.warnings import (
    Rectification,
    RectificationStatus,
    Warning,
    WarningColour,
    WarningForm,
    WarningStatus,
)

__all__ = [
    "ApiToken",
    "Assignment",
    "AuditEvent",
    "BindingCode",
    "Broadcast",
    "Channel",
    "ChatState",
    "CycleRun",
    "Delivery",
    "DeliveryStatus",
    "FocusWork",
    "Person",
    "Post",
    "Power",
    "Prompt",
    "PromptKind",
    "PromptStatus",
    "Rectification",
    "RectificationStatus",
    "RiskLevel",
    "RiskPoint",
    "Role",
    "Unit",
    "Warning",
    "WarningColour",
    "WarningForm",
    "WarningStatus",
]
