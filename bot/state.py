"""Where a chat stands in a guided conversation, kept in the database (``ChatState``).

One row per chat: the flow (a correction report, a special prompt, a review), the
step within it and what was said so far (``data``, JSON).  It is read at the start
of every update and written in the same transaction as the domain change, so after
a restart, or on another instance, the person carries on where they were.

Why not PTB's ``ConversationHandler``: it keeps the state of each conversation in
the process (its persistence is read once at start-up and never re-read, PTB
issues #4452 and #5123), so a second instance or a restart would not know it.
Re-deriving its states from the database on every update would fight its
internals; plain handlers that dispatch on this row are simpler and restart-safe.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from riskprompt.models.conversations import ChatState

# Flows.
CORRECTION = "correction"
REMIND = "remind"
REVIEW = "review"
WARN = "warn"

# Steps of a correction report (整改反馈): describe → evidence → preview → submitted.
DESCRIBE = "describe"
EVIDENCE = "evidence"
PREVIEW = "preview"
# Steps of a special prompt (特别提示): target → text → preview → sent.
TARGET = "target"
TEXT = "text"
# The one step of a review that needs typing: the reason of a rejection.
REASON = "reason"
# Steps of a warning (预警): subject → colour → form → reason → preview → issued.
SUBJECT = "subject"
COLOUR = "colour"
FORM = "form"


def load_state(session: Session, *, chat_id: int, now: datetime) -> ChatState:
    """The chat's conversation state (a new, empty one when it has none yet)."""
    state = session.get(ChatState, chat_id)
    if state is None:
        state = ChatState(chat_id=chat_id, updated_at=now, data={})
    return state


def at(state: ChatState, flow: str, *steps: str) -> bool:
    """Whether the chat is in ``flow`` (at one of ``steps`` when given)."""
    return state.flow == flow and (not steps or state.step in steps)


def begin(
    session: Session,
    state: ChatState,
    *,
    flow: str,
    step: str,
    person_id: int | None,
    now: datetime,
    **data: Any,
) -> None:
    """Start ``flow`` at ``step`` with ``data``, replacing whatever the chat was doing."""
    state.flow = flow
    state.step = step
    state.person_id = person_id
    state.data = dict(data)
    state.updated_at = now
    session.add(state)


def advance(session: Session, state: ChatState, *, step: str, now: datetime, **data: Any) -> None:
    """Move to ``step``, adding ``data`` to what was said so far."""
    state.step = step
    # A new dict: the JSON column does not track changes made in place.
    state.data = {**state.data, **data}
    state.updated_at = now
    session.add(state)


def clear(state: ChatState, *, now: datetime) -> dict[str, Any]:
    """End the chat's flow; returns what it had collected (e.g. files to discard)."""
    collected = dict(state.data or {})
    state.flow = None
    state.step = None
    state.data = {}
    state.updated_at = now
    # A state never stored needs no row; a stored one is tracked by the session.
    return collected
