"""Evidence files: which are accepted, and how they are stored."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from riskprompt.models.evidence import (
    MAX_EVIDENCE_BYTES,
    EvidenceRefused,
    check_content,
    check_declared,
    clean_name,
    discard,
    store,
)


@pytest.mark.parametrize(
    ("name", "mime", "size", "accepted"),
    [
        ("照片.JPG", "image/jpeg", 10, ".jpg"),
        ("scan.jpeg", "image/jpeg", 10, ".jpg"),
        (None, "image/jpeg", 10, ".jpg"),  # a photo has no name
        ("a.png", "image/png", 10, ".png"),
        ("报告.pdf", "application/pdf", MAX_EVIDENCE_BYTES, ".pdf"),
        (
            "表.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            10,
            ".xlsx",
        ),
        ("a.pdf", "application/pdf", MAX_EVIDENCE_BYTES + 1, None),
        ("a.pdf.exe", "application/pdf", 10, None),
        ("a.html", "text/html", 10, None),
        ("a.pdf", None, 10, None),
        ("a.docm", "application/vnd.ms-word.document.macroEnabled.12", 10, None),
    ],
)
def test_declared_type_name_and_size(
    name: str | None, mime: str | None, size: int, accepted: str | None
) -> None:
    if accepted is None:
        with pytest.raises(EvidenceRefused):
            check_declared(name=name, mime=mime, size=size)
    else:
        assert check_declared(name=name, mime=mime, size=size).extension == accepted


def test_content_must_start_like_its_type() -> None:
    pdf = check_declared(name="a.pdf", mime="application/pdf", size=None)
    check_content(pdf, b"%PDF-1.7 ...")
    for content in (b"", b"<html>", b"\xff\xd8\xff"):
        with pytest.raises(EvidenceRefused):
            check_content(pdf, content)


def test_names_are_metadata_only(tmp_path: Path) -> None:
    assert clean_name("../../etc/passwd") == "passwd"
    assert clean_name("C:\\Users\\x\\报告.pdf") == "报告.pdf"
    assert clean_name("a\x00b\u202e.pdf") == "ab.pdf"
    assert clean_name("") == "file"
    kind = check_declared(name="x.pdf", mime="application/pdf", size=None)
    item = store(tmp_path, warning_id=7, kind=kind, content=b"%PDF-1", name="../../evil.sh")
    path = tmp_path / item["path"]
    assert path.parent == tmp_path / "evidence" / "7"
    assert path.suffix == ".pdf" and "evil" not in item["path"]
    assert item == {
        "name": "evil.sh",
        "path": item["path"],
        "mime": "application/pdf",
        "size": 6,
        "sha256": hashlib.sha256(b"%PDF-1").hexdigest(),
    }
    outside = tmp_path / "keep.txt"
    outside.write_text("mine")
    discard(tmp_path, [item, {"path": "../keep.txt"}, {"path": str(outside)}])
    assert not path.exists()
    assert outside.exists()
