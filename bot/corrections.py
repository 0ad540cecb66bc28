"""Reporting a correction (整改反馈) on a warning, step by step.

describe what was done → attach evidence (photos, documents; several) → preview →
submit.  The steps and what was said so far live in the chat's ``ChatState``, so a
restart in the middle loses nothing.  /cancel anywhere drops the report and the
files uploaded for it.
"""

from __future__ import annotations

import logging

from telegram import Message
from telegram.error import TelegramError

from riskprompt.bot import state as flows
from riskprompt.bot.people import (
    COLOUR_MARKS,
    drop_flow,
    refuse_stale,
    warning_code,
)
from riskprompt.bot.turn import Buttons, Reader, Turn, clip, step
from riskprompt.config.i18n import N_
from riskprompt.models.codes import CANCEL, REPORT_CORRECTION, REPORT_DONE, REPORT_SUBMIT
from riskprompt.models.errors import InvalidInput
from riskprompt.models.evidence import (
    ALLOWED_LABEL,
    MAX_EVIDENCE_BYTES,
    MAX_EVIDENCE_FILES,
    EvidenceRefused,
    check_content,
    check_declared,
    check_size,
    discard,
    human_size,
    store,
)
from riskprompt.models.listings import own_warning
from riskprompt.models.text import check_storable
from riskprompt.models.warnings import MAX_TEXT, Warning, next_status, submit_rectification

log = logging.getLogger(__name__)


def _done_button(turn: Turn) -> Buttons:
    return [[(turn._("Done: preview the report"), REPORT_DONE)]]


def _ask_description(turn: Turn, warning: Warning) -> str:
    return turn._(
        "Report a correction on %(code)s: %(reason)s\n\n"
        "Describe in one message what was done to correct it. Send /cancel to stop.",
        code=warning_code(warning),
        reason=clip(warning.reason, 300),
    )


def _ask_evidence(turn: Turn) -> str:
    return turn._(
        "Now send the evidence: photos or documents (%(types)s), at most %(mb)s MB each "
        "and %(max)s files. Tap Done when all are sent.",
        types=ALLOWED_LABEL,
        mb=MAX_EVIDENCE_BYTES // (1024 * 1024),
        max=MAX_EVIDENCE_FILES,
    )


def preview_text(reader: Reader, warning: Warning, description: str, evidence: list[dict]) -> str:
    """The report as it will be submitted."""
    lines = [
        reader._(
            "Correction report on %(code)s (%(mark)s %(colour)s warning · %(form)s)",
            code=warning_code(warning),
            mark=COLOUR_MARKS[warning.colour],
            colour=reader._(warning.colour.label),
            form=reader._(warning.form.label),
        ),
        "",
        reader._("What was done:"),
        clip(description, 2500),
        "",
        reader.ngettext("Evidence: %(n)s file", "Evidence: %(n)s files", len(evidence)),
    ]
    lines.extend(f"• {item['name']} ({human_size(int(item['size']))})" for item in evidence)
    return "\n".join(lines)


@step
async def begin_correction(turn: Turn) -> None:
    """Start a correction report on the warning of the button pressed."""
    turn.answer()
    turn.require_private()
    person = turn.actor
    warning = own_warning(
        turn.session, person=person, warning_id=int(turn.data.removeprefix(REPORT_CORRECTION))
    )
    if flows.at(turn.state, flows.CORRECTION) and turn.state.data.get("warning_id") == warning.id:
        turn.say(
            turn._(
                "You are already reporting on %(code)s: carry on, or send /cancel.",
                code=warning_code(warning),
            )
        )
        return
    next_status(warning, "submit")  # a closed or already submitted warning is refused now
    drop_flow(turn)
    flows.begin(
        turn.session,
        turn.state,
        flow=flows.CORRECTION,
        step=flows.DESCRIBE,
        person_id=person.id,
        now=turn.now,
        warning_id=warning.id,
        evidence=[],
    )
    turn.say(_ask_description(turn, warning))


async def describe(turn: Turn) -> None:
    """Take the description of what was done, then ask for the evidence."""
    text = turn.text.strip()
    if len(text) > MAX_TEXT:
        raise InvalidInput(N_("The description is longer than %(max)s characters."), max=MAX_TEXT)
    check_storable(text, N_("the description"))
    flows.advance(turn.session, turn.state, step=flows.EVIDENCE, now=turn.now, description=text)
    turn.say(_ask_evidence(turn), _done_button(turn))


async def expect_file(turn: Turn) -> None:
    """Text while files are expected: say what to do."""
    turn.say(turn._("Send a photo or a document, or tap Done."), _done_button(turn))


def _declared(message: Message, count: int) -> tuple[str, str | None, str | None, int | None, str]:
    """(file_id, name, MIME, size, name kept) of the photo or document in ``message``."""
    if message.photo:
        photo = message.photo[-1]  # the largest size
        return photo.file_id, None, "image/jpeg", photo.file_size, f"photo-{count}.jpg"
    document = message.document
    if document is None:  # pragma: no cover - the handler's filter lets only these through
        raise EvidenceRefused(N_("Send a photo or a document."))
    name = document.file_name
    return document.file_id, name, document.mime_type, document.file_size, name or f"file-{count}"


@step
async def receive_file(turn: Turn) -> None:
    """Check, download and store a photo or document sent as evidence."""
    state = turn.state
    if flows.at(state, flows.CORRECTION, flows.DESCRIBE):
        turn.say(turn._("First describe in words what was done; then send the files."))
        return
    if not flows.at(state, flows.CORRECTION, flows.EVIDENCE, flows.PREVIEW):
        turn.say(
            turn._(
                "Files are taken while you report a correction: "
                "open /warnings and tap “Report a correction”."
            )
        )
        return
    evidence = list(state.data.get("evidence") or [])
    if len(evidence) >= MAX_EVIDENCE_FILES:
        raise EvidenceRefused(N_("A report carries at most %(max)s files."), max=MAX_EVIDENCE_FILES)
    message = turn.update.effective_message
    assert message is not None
    file_id, name, mime, size, kept_name = _declared(message, len(evidence) + 1)
    kind = check_declared(name=name, mime=mime, size=size)
    warning_id = int(state.data["warning_id"])
    turn.end_read()  # no transaction stays open during the download
    try:
        telegram_file = await turn.context.bot.get_file(file_id)
        check_size(telegram_file.file_size)
        content = bytes(await telegram_file.download_as_bytearray())
    except TelegramError as exc:
        log.warning("evidence download failed: %s", exc)
        turn.say(turn._("I could not fetch that file; please send it again."))
        return
    check_content(kind, content)
    item = store(
        turn.deps.data_dir, warning_id=warning_id, kind=kind, content=content, name=kept_name
    )
    # The chat may have moved on during the download (a /cancel from another device).
    turn.session.refresh(state)
    data_dir = turn.deps.data_dir
    if (
        not flows.at(state, flows.CORRECTION, flows.EVIDENCE, flows.PREVIEW)
        or state.data.get("warning_id") != warning_id
    ):
        discard(data_dir, [item])
        turn.say(turn._("That report was closed meanwhile; the file was not kept."))
        return
    evidence = list(state.data.get("evidence") or [])
    if any(e.get("sha256") == item["sha256"] for e in evidence):
        discard(data_dir, [item])
        turn.say(turn._("This file was already received."), _done_button(turn))
        return
    evidence.append(item)
    flows.advance(turn.session, state, step=flows.EVIDENCE, now=turn.now, evidence=evidence)
    turn.say(
        turn._("Received %(name)s (%(size)s).", name=item["name"], size=human_size(item["size"]))
        + " "
        + turn.reader.ngettext(
            "%(n)s file so far: send more, or tap Done.",
            "%(n)s files so far: send more, or tap Done.",
            len(evidence),
        ),
        _done_button(turn),
    )


@step
async def finish_evidence(turn: Turn) -> None:
    """Show the report for a last look (Done button or /done)."""
    if not flows.at(turn.state, flows.CORRECTION, flows.EVIDENCE):
        if turn.query:
            refuse_stale(turn)
        else:
            turn.say(turn._("There is nothing to finish."))
        return
    turn.answer()
    person = turn.actor
    warning = own_warning(
        turn.session, person=person, warning_id=int(turn.state.data["warning_id"])
    )
    flows.advance(turn.session, turn.state, step=flows.PREVIEW, now=turn.now)
    text = preview_text(
        turn.reader, warning, turn.state.data["description"], turn.state.data["evidence"]
    )
    turn.say(
        text + "\n\n" + turn._("Submit this report?"),
        [[(turn._("Submit"), REPORT_SUBMIT)], [(turn._("Cancel"), CANCEL)]],
    )


@step
async def submit_correction(turn: Turn) -> None:
    """Submit the report; the domain tells the reviewing officers."""
    if not flows.at(turn.state, flows.CORRECTION, flows.PREVIEW):
        refuse_stale(turn)
        return
    person = turn.actor
    data = turn.state.data
    warning = own_warning(turn.session, person=person, warning_id=int(data["warning_id"]))
    rectification = submit_rectification(
        turn.session,
        warning=warning,
        actor=person,
        description=data["description"],
        evidence=list(data["evidence"]),
        clock=turn.deps.clock,
    )
    flows.clear(turn.state, now=turn.now)  # the files now belong to the report
    line = turn._("✓ Submitted at %(when)s. The officer will review it.", when=turn.when(turn.now))
    preview = preview_text(turn.reader, warning, rectification.description, rectification.evidence)
    turn.edit(f"{preview}\n\n{line}")
    turn.answer(turn._("Submitted."))
