"""Evidence uploads: hostile names never reach the file system; wrong or huge files are refused.

The clerk reports a correction in chat and sends documents through the Bot API
stand-in.  A file name is metadata only: whatever it says (``../``, an absolute
path, a Windows path, a NUL, 300 characters, right-to-left tricks) the file is
stored as ``DATA_DIR/evidence/<warning>/<random>.<ext>`` and nothing appears
anywhere else.  A declared size over the limit is refused before any download;
a size that lies is caught on the bytes; a type, extension or content that
disagree is refused; so is an eleventh file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from riskprompt.models.evidence import MAX_EVIDENCE_BYTES, MAX_EVIDENCE_FILES
from tests.bot.conftest import CLERK_CHAT, PDF, World
from tests.security.conftest import Front

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

#: (sent name, stored name) -- the file itself always lands under evidence/<warning>/.
HOSTILE_NAMES = [
    ("../../../../etc/cron.d/evil.pdf", "evil.pdf"),
    ("..\\..\\Windows\\System32\\evil.pdf", "evil.pdf"),
    ("/etc/passwd.pdf", "passwd.pdf"),
    ("%2e%2e%2f%2e%2e%2fevil.pdf", "%2e%2e%2f%2e%2e%2fevil.pdf"),
    ("evil\x00.pdf", "evil.pdf"),
    ("\u202efdp.exe.pdf", "fdp.exe.pdf"),
    ("CON.pdf", "CON.pdf"),
    ("~/.ssh/authorized_keys.pdf", "authorized_keys.pdf"),
    ("a" * 300 + ".pdf", "a" * 200),
]

#: (name, declared MIME type, content, declared size, what the refusal says)
REFUSED = [
    ("big.pdf", "application/pdf", PDF, MAX_EVIDENCE_BYTES + 1, "too large"),
    ("liar.pdf", "application/pdf", PDF + b"0" * MAX_EVIDENCE_BYTES, 1000, "too large"),
    ("scan.pdf", "application/pdf", b"MZ\x90\x00\x03", None, "content does not match"),
    ("page.pdf", "application/pdf", b"<html><script>", None, "content does not match"),
    ("photo.jpg", "image/png", PNG, None, "does not match its type"),
    ("report.docx", DOCX, PDF, None, "content does not match"),
    ("payload.pdf.exe", "application/pdf", PDF, None, "does not match its type"),
    ("shell.sh", "application/x-sh", b"#!/bin/sh\nrm -rf /", None, "not accepted"),
    ("empty.pdf", "application/pdf", b"", None, "empty"),
    ("no-type.pdf", "", PDF, None, "not accepted"),
]


def files_under(root: Path) -> set[Path]:
    """Every file below ``root``."""
    return {p for p in root.rglob("*") if p.is_file()}


async def begin_report(world: World, warning_id: int) -> None:
    """The clerk starts a correction report and describes it; files are expected next."""
    await world.tap(CLERK_CHAT, f"rc:{warning_id}", message_id=1)
    await world.send(CLERK_CHAT, "已整改，附证明材料")


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_hostile_file_names_are_metadata_only(front: Front, tmp_path: Path) -> None:
    world = front.world
    data_dir = Path(world.settings.DATA_DIR)
    before = files_under(tmp_path)
    await begin_report(world, front.warning_id)

    for n, (sent, _stored) in enumerate(HOSTILE_NAMES):
        # each file different: the same bytes twice are taken once
        await world.document(CLERK_CHAT, PDF + b"%" * n, name=sent, mime="application/pdf")
        assert "Received" in world.last_text(CLERK_CHAT), sent

    new = files_under(tmp_path) - before
    folder = data_dir / "evidence" / str(front.warning_id)
    assert len(new) == len(HOSTILE_NAMES)
    for path in new:
        assert path.parent == folder
        assert path.suffix == ".pdf" and len(path.stem) == 32  # a random hex name
    state = world.state(CLERK_CHAT)
    assert state is not None
    kept = [item["name"] for item in state.data["evidence"]]
    assert kept == [stored for _sent, stored in HOSTILE_NAMES]
    assert all(
        (data_dir / item["path"]).resolve().is_relative_to(folder.resolve())
        for item in state.data["evidence"]
    )


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # files, not rows
@pytest.mark.parametrize(
    ("name", "mime", "content", "size", "refusal"),
    REFUSED,
    ids=[row[0] for row in REFUSED],
)
async def test_wrong_or_oversized_files_are_refused(
    front: Front,
    tmp_path: Path,
    name: str,
    mime: str,
    content: bytes,
    size: int | None,
    refusal: str,
) -> None:
    world = front.world
    before = files_under(tmp_path)
    await begin_report(world, front.warning_id)
    downloads = world.api.counts["getfile"]

    await world.document(CLERK_CHAT, content, name=name, mime=mime, size=size)

    assert refusal in world.last_text(CLERK_CHAT)
    assert files_under(tmp_path) == before
    state = world.state(CLERK_CHAT)
    assert state is not None and state.data["evidence"] == []
    if size is not None and size > MAX_EVIDENCE_BYTES:
        assert world.api.counts["getfile"] == downloads  # refused before downloading


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_an_eleventh_file_is_refused(front: Front, tmp_path: Path) -> None:
    world = front.world
    await begin_report(world, front.warning_id)
    for n in range(MAX_EVIDENCE_FILES):
        await world.document(CLERK_CHAT, PDF + b"%" * n)
    stored = files_under(tmp_path / "data")

    await world.document(CLERK_CHAT, PDF + b"% the eleventh")

    assert f"at most {MAX_EVIDENCE_FILES} files" in world.last_text(CLERK_CHAT)
    assert files_under(tmp_path / "data") == stored
    state = world.state(CLERK_CHAT)
    assert state is not None and len(state.data["evidence"]) == MAX_EVIDENCE_FILES
