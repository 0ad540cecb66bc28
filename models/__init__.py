"""The domain: tables and the rules that change them."""

from riskprompt.models.accounts import ConsoleAccount, ConsoleSession, SignInAttempt, SignInLock
from riskprompt.models.audit import AuditEvent
from riskprompt.models.catalog import Post, Power, RiskLevel, RiskPoint, Unit
from riskprompt.models.conversations import ApiToken, BindingCode, ChatState
from riskprompt.models.notices import Notice, NoticeEvent, NoticeReach, NoticeRole
from riskprompt.models.people import Assignment, Channel, Person, Role
from riskprompt.models.prompts import (
    Broadcast,
    CycleRun,
    Delivery,
    DeliveryStatus,
    FocusWork,
    Prompt,
    PromptKind,
    PromptStatus,
)
from riskprompt.models.scope import Supervision
from riskprompt.models.tokens import ProviderToken
from riskprompt.models.warnings import (
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
    "ConsoleAccount",
    "ConsoleSession",
    "CycleRun",
    "Delivery",
    "DeliveryStatus",
    "FocusWork",
    "Notice",
    "NoticeEvent",
    "NoticeReach",
    "NoticeRole",
    "Person",
    "Post",
    "Power",
    "Prompt",
    "PromptKind",
    "PromptStatus",
    "ProviderToken",
    "Rectification",
    "RectificationStatus",
    "RiskLevel",
    "RiskPoint",
    "Role",
    "SignInAttempt",
    "SignInLock",
    "Supervision",
    "Unit",
    "Warning",
    "WarningColour",
    "WarningForm",
    "WarningStatus",
]
