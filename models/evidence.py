"""The evidence policy of a correction report: kinds, limits, checks, storing, discarding.

Chat (a photo or document sent to the bot) and the page behind a link (a
multipart upload) go through the same checks and the same storage.

A file is accepted when its declared type (MIME), its name's extension and its
first bytes agree on one of the allowed kinds, and it is at most
:data:`MAX_EVIDENCE_BYTES`.  It is stored as
``DATA_DIR/evidence/<warning id>/<random>.<ext>``: the sender's file name never
reaches the path, it is kept only as metadata.  The description handed to
:func:`riskprompt.models.warnings.submit_rectification` is a dict ``{name, path (relative
to DATA_DIR), mime, size, sha256}``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from riskprompt.config.i18n import N_
from riskprompt.models.errors import InvalidInput

log = logging.getLogger(__name__)

#: The largest file accepted (Telegram lets bots download up to 20 MB).
MAX_EVIDENCE_BYTES = 10 * 1024 * 1024
#: The most files one correction report carries.
MAX_EVIDENCE_FILES = 10
#: The largest body a correction form may post: every file at its largest, and the text.
MAX_REPORT_BYTES = MAX_EVIDENCE_FILES * MAX_EVIDENCE_BYTES + 64 * 1024
#: Longest original file name kept as metadata.
MAX_NAME_CHARS = 200
EVIDENCE_FOLDER = "evidence"

_ZIP = b"PK\x03\x04"


@dataclass(frozen=True, slots=True)
class EvidenceKind:
    """An accepted kind of file: its MIME type, extensions and first bytes."""

    mime: str
    extension: str
    extensions: tuple[str, ...]
    magic: bytes


KINDS: tuple[EvidenceKind, ...] = (
    EvidenceKind("image/jpeg", ".jpg", (".jpg", ".jpeg"), b"\xff\xd8\xff"),
    EvidenceKind("image/png", ".png", (".png",), b"\x89PNG\r\n\x1a\n"),
    EvidenceKind("application/pdf", ".pdf", (".pdf",), b"%PDF-"),
    EvidenceKind(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ".docx",
        (".docx",),
        _ZIP,
    ),
    EvidenceKind(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ".xlsx",
        (".xlsx",),
        _ZIP,
    ),
)
_BY_MIME = {kind.mime: kind for kind in KINDS}
_BY_EXTENSION = {extension: kind for kind in KINDS for extension in kind.extensions}
#: What browsers declare for a file whose type they do not know: judged by its name.
_UNDECLARED = frozenset({"", "application/octet-stream"})
ALLOWED_LABEL = "JPEG, PNG, PDF, Word (.docx), Excel (.xlsx)"


#: The refusals the web page answers with their own status (413, 415).
TOO_LARGE = N_("The file is too large: at most %(mb)s MB.")
NOT_ACCEPTED = N_("This type of file is not accepted. Send %(types)s.")
NAME_MISMATCH = N_("The file name %(name)s does not match its type. Send %(types)s.")


class EvidenceRefused(InvalidInput):
    """A file that is not accepted as evidence (type, size, content, too many)."""


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.0f}"


def check_declared(*, name: str | None, mime: str | None, size: int | None) -> EvidenceKind:
    """The kind of a file from what the sender declared (before downloading it).

    Raises:
        EvidenceRefused: a type not accepted, an extension that does not match the
            type, or a file larger than :data:`MAX_EVIDENCE_BYTES`.
    """
    kind = _BY_MIME.get((mime or "").lower())
    if kind is None:
        raise EvidenceRefused(NOT_ACCEPTED, types=ALLOWED_LABEL)
    if name:
        extension = PurePosixPath(name.replace("\\", "/")).suffix.lower()
        if extension not in kind.extensions:
            raise EvidenceRefused(NAME_MISMATCH, name=clean_name(name), types=ALLOWED_LABEL)
    check_size(size)
    return kind


def check_size(size: int | None) -> None:
    """Refuse a file larger than :data:`MAX_EVIDENCE_BYTES`.

    Raises:
        EvidenceRefused: too large.
    """
    if size is not None and size > MAX_EVIDENCE_BYTES:
        raise EvidenceRefused(TOO_LARGE, mb=_megabytes(MAX_EVIDENCE_BYTES))


def check_content(kind: EvidenceKind, content: bytes) -> None:
    """Check the downloaded bytes: size, and that they start like the declared type.

    Raises:
        EvidenceRefused: empty, too large, or not what its type says.
    """
    if not content:
        raise EvidenceRefused(N_("The file is empty."))
    check_size(len(content))
    if not content.startswith(kind.magic):
        raise EvidenceRefused(
            N_("The file's content does not match its type. Send %(types)s."), types=ALLOWED_LABEL
        )


def check_upload(*, name: str | None, mime: str | None, content: bytes) -> EvidenceKind:
    """The kind of an uploaded file (a form), checked like a chat file, content included.

    A browser that does not know a type declares ``application/octet-stream`` (or
    nothing): the name's extension then stands for the declared type.

    Raises:
        EvidenceRefused: type, name, size or content not accepted.
    """
    declared = (mime or "").split(";")[0].strip().lower()
    if declared in _UNDECLARED:
        extension = PurePosixPath((name or "").replace("\\", "/")).suffix.lower()
        kind = _BY_EXTENSION.get(extension)
        declared = kind.mime if kind is not None else declared
    kind = check_declared(name=name, mime=declared, size=len(content))
    check_content(kind, content)
    return kind


def clean_name(name: str | None, fallback: str = "file") -> str:
    """The sender's file name as metadata: no folders, no control characters, bounded."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    kept = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    return (kept or fallback)[:MAX_NAME_CHARS]


def store(
    data_dir: Path, *, warning_id: int, kind: EvidenceKind, content: bytes, name: str
) -> dict[str, Any]:
    """Write ``content`` under ``data_dir/evidence/<warning_id>/`` with a random name.

    Returns:
        The evidence item: ``{name, path, mime, size, sha256}`` (``path`` relative to
        ``data_dir``, with forward slashes).
    """
    relative = PurePosixPath(
        EVIDENCE_FOLDER, str(int(warning_id)), uuid.uuid4().hex + kind.extension
    )
    target = data_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    partial.write_bytes(content)
    os.replace(partial, target)  # a reader never sees half a file
    return {
        "name": clean_name(name),
        "path": relative.as_posix(),
        "mime": kind.mime,
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }


def discard(data_dir: Path, items: list[dict[str, Any]]) -> None:
    """Remove stored files that will not be submitted (a cancelled report)."""
    root = (data_dir / EVIDENCE_FOLDER).resolve()
    for item in items:
        path = (data_dir / str(item.get("path", ""))).resolve()
        if not path.is_relative_to(root):  # only ever our own folder
            log.warning("not removing %s: outside the evidence folder", path)
            continue
        path.unlink(missing_ok=True)


def human_size(size: int) -> str:
    """``12 KB``, ``1.5 MB``: sizes as people read them."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


#: What each accepted type is called where files are listed.
KIND_LABELS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "application/pdf": "PDF",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word (.docx)",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel (.xlsx)",
}


@dataclass(frozen=True, slots=True)
class EvidenceFile:
    """A stored evidence file as an officer looks at it.

    Attributes:
        name: the sender's file name (metadata only, see :func:`clean_name`).
        mime: its type; ``kind`` says it for people (PDF, JPEG...).
        size: its size in bytes.
        path: where it is stored, or None when the record points outside the
            evidence folder (never followed).
        present: whether the file is there to be read.
    """

    name: str
    mime: str
    size: int
    path: Path | None
    present: bool

    @property
    def kind(self) -> str:
        """The type as people call it: ``PDF``, ``JPEG``, ``Word (.docx)``..."""
        return KIND_LABELS.get(self.mime, self.mime or "?")


def stored_path(data_dir: Path, item: dict[str, Any]) -> Path | None:
    """Where an evidence item is stored, or None when its path leaves the evidence folder."""
    root = (data_dir / EVIDENCE_FOLDER).resolve()
    path = (data_dir / str(item.get("path", ""))).resolve()
    return path if path.is_relative_to(root) and path != root else None


def evidence_files(data_dir: Path, items: list[dict[str, Any]]) -> list[EvidenceFile]:
    """The evidence items of a correction report as files (see :class:`EvidenceFile`)."""
    files = []
    for item in items:
        path = stored_path(data_dir, item)
        files.append(
            EvidenceFile(
                name=clean_name(str(item.get("name") or "")),
                mime=str(item.get("mime") or ""),
                size=int(item.get("size") or 0),
                path=path,
                present=path is not None and path.is_file(),
            )
        )
    return files


def safe_file_name(name: str, mime: str = "") -> str:
    """A name to save a file under in a folder: the sender's name without folders, control
    characters or a leading dot (so never ``..`` nor a hidden file), else ``file.<ext>``."""
    kept = clean_name(name, fallback="").replace(":", "_").lstrip(". ").rstrip(". ")
    if kept:
        return kept
    kind = _BY_MIME.get(mime.lower())
    return "file" + (kind.extension if kind is not None else "")


def _numbered(name: str, number: int) -> str:
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        return f"{name} ({number})"
    return f"{stem} ({number}).{suffix}"


def copy_out(files: list[EvidenceFile], folder: Path) -> list[tuple[EvidenceFile, Path | None]]:
    """Copy the stored files into ``folder`` under their original names.

    Names are made safe (:func:`safe_file_name`); nothing already there is
    overwritten: a name taken gets `` (2)``, `` (3)``... before its suffix.  The
    folder is made if missing.

    Returns:
        Each file with where it was copied, or None when it is not stored (missing).

    Raises:
        OSError: the folder cannot be made or written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    copied: list[tuple[EvidenceFile, Path | None]] = []
    for file in files:
        if not file.present or file.path is None:
            copied.append((file, None))
            continue
        content = file.path.read_bytes()
        base = safe_file_name(file.name, file.mime)
        for number in range(1, 10_000):
            target = folder / (base if number == 1 else _numbered(base, number))
            try:
                with target.open("xb") as handle:  # never overwrites, even in a race
                    handle.write(content)
            except FileExistsError:
                continue
            copied.append((file, target))
            break
        else:  # pragma: no cover - ten thousand files of one name
            raise FileExistsError(str(folder / base))
    return copied
