"""Evidence shown to the reviewing officer: a PDF's first page, office documents as text."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from riskprompt.models.evidence_preview import (
    DOCX,
    MAX_ROWS,
    XLSX,
    UnreadableEvidence,
    docx_text,
    office_text,
    pdf_first_page_png,
    pdf_page_count,
    preview_kind,
    xlsx_text,
)
from tests.riskprompt.web.console.desk_support import docx_bytes, pdf_bytes


def test_each_type_is_shown_its_own_way() -> None:
    kinds = ("image/png", "image/jpeg", "application/pdf", DOCX, XLSX)
    assert [preview_kind(m) for m in kinds] == ["image", "image", "pdf", "docx", "xlsx"]
    assert preview_kind("application/zip") == "file"


def test_a_pdfs_first_page_is_an_image_of_bounded_size(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf_bytes(pages=3))
    assert pdf_page_count(path) == 3
    image = Image.open(io.BytesIO(pdf_first_page_png(path, width=600)))
    assert image.format == "PNG" and abs(image.size[0] - 600) <= 2
    # a page far taller than wide stays within MAX_SIDE
    from matplotlib.figure import Figure

    tall = io.BytesIO()
    Figure(figsize=(2, 60)).savefig(tall, format="pdf")
    (tmp_path / "tall.pdf").write_bytes(tall.getvalue())
    width, height = Image.open(io.BytesIO(pdf_first_page_png(tmp_path / "tall.pdf"))).size
    assert height <= 2401 and width < 100


@pytest.mark.parametrize("content", [b"%PDF-1.4 not really", b""])
def test_a_damaged_pdf_cannot_be_shown(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(content)
    with pytest.raises(UnreadableEvidence):
        pdf_first_page_png(path)
    with pytest.raises(UnreadableEvidence):
        pdf_page_count(path)


def test_a_word_file_is_read_in_order(tmp_path: Path) -> None:
    path = tmp_path / "a.docx"
    path.write_bytes(docx_bytes())
    text = docx_text(path)
    assert text.blocks[0].text == "整改情况说明：已补齐会议纪要。"
    assert text.blocks[1].rows == [["事项", "完成情况"], ["集体研究", "已完成"]]
    assert not text.truncated


def test_a_long_sheet_is_cut_and_says_so(tmp_path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for n in range(MAX_ROWS + 50):
        sheet.append([n, f"第{n}行", None])
    path = tmp_path / "long.xlsx"
    workbook.save(path)
    text = xlsx_text(path)
    assert len(text.sheets[0].rows) == MAX_ROWS and text.truncated
    assert text.sheets[0].rows[1] == ["1", "第1行"]  # empty columns dropped


def test_a_zip_bomb_is_not_opened(tmp_path: Path) -> None:
    path = tmp_path / "bomb.docx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * (65 * 1024 * 1024))
    assert path.stat().st_size < 1024 * 1024
    with pytest.raises(UnreadableEvidence):
        office_text(path, DOCX)


@pytest.mark.parametrize("mime", [DOCX, XLSX])
def test_a_damaged_office_file_cannot_be_shown(tmp_path: Path, mime: str) -> None:
    path = tmp_path / "broken"
    path.write_bytes(b"PK\x03\x04 not a zip at all")
    with pytest.raises(UnreadableEvidence):
        office_text(path, mime)
