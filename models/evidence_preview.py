"""Evidence shown to the officer reviewing it: a PDF's first page as an image, office
documents as text.

The files were checked when they came in (:mod:`riskprompt.models.evidence`: type,
size, first bytes), but their insides are the sender's: a PDF is rendered by PDFium
(pypdfium2) into a bounded image, one page at a time under a lock (PDFium is not
thread-safe); a Word or Excel file is a zip whose unpacked size is checked before it
is opened (no zip bomb), and only so much of its text is read.  What cannot be read
raises :class:`UnreadableEvidence`; the officer can still download the file.
"""

from __future__ import annotations

import io
import threading
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from riskprompt.config.i18n import N_
from riskprompt.models.errors import InvalidInput

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
IMAGES = frozenset({"image/jpeg", "image/png"})
PDF = "application/pdf"

#: The width a PDF's first page is rendered to, in pixels, and the most of either side.
PAGE_WIDTH = 1000
MAX_SIDE = 2400
#: The most an office document may unpack to, and the most entries it may hold.
MAX_UNPACKED = 64 * 1024 * 1024
MAX_ENTRIES = 2000
#: How much of an office document is shown: characters of a Word file; sheets, rows
#: and columns of an Excel file; characters of one cell.
MAX_CHARS = 20_000
MAX_SHEETS = 5
MAX_ROWS = 200
MAX_COLUMNS = 26
MAX_CELL = 500

_PDFIUM = threading.Lock()


class UnreadableEvidence(InvalidInput):
    """A stored file that cannot be shown (damaged, encrypted, too large unpacked)."""


def preview_kind(mime: str) -> str:
    """How a file of type ``mime`` is shown: ``image``, ``pdf``, ``docx``, ``xlsx`` or
    ``file`` (a download only)."""
    if mime in IMAGES:
        return "image"
    return {PDF: "pdf", DOCX: "docx", XLSX: "xlsx"}.get(mime, "file")


def _unreadable() -> UnreadableEvidence:
    return UnreadableEvidence(N_("The file cannot be shown here; download it to open it."))


def pdf_page_count(path: Path) -> int:
    """How many pages the PDF has.

    Raises:
        UnreadableEvidence: it cannot be opened (damaged, encrypted).
    """
    import pypdfium2 as pdfium

    with _PDFIUM:
        try:
            document = pdfium.PdfDocument(path)
        except pdfium.PdfiumError:
            raise _unreadable() from None
        try:
            return len(document)
        finally:
            document.close()


def pdf_first_page_png(path: Path, *, width: int = PAGE_WIDTH) -> bytes:
    """The first page of the PDF as a PNG image ``width`` pixels wide (at most
    :data:`MAX_SIDE` pixels on either side).

    Raises:
        UnreadableEvidence: it cannot be opened or has no page.
    """
    import pypdfium2 as pdfium

    with _PDFIUM:
        try:
            document = pdfium.PdfDocument(path)
        except pdfium.PdfiumError:
            raise _unreadable() from None
        try:
            if len(document) == 0:
                raise _unreadable()
            page = document[0]
            try:
                page_width, page_height = page.get_size()
                if page_width <= 0 or page_height <= 0:
                    raise _unreadable()
                scale = min(width / page_width, MAX_SIDE / page_height, MAX_SIDE / page_width)
                bitmap = page.render(scale=scale)
                image = bitmap.to_pil()
            except pdfium.PdfiumError:
                raise _unreadable() from None
            finally:
                page.close()
        finally:
            document.close()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _check_zip(path: Path) -> None:
    """Refuse an office file that is not a zip, or unpacks to too much."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        raise _unreadable() from None
    if len(entries) > MAX_ENTRIES or sum(e.file_size for e in entries) > MAX_UNPACKED:
        raise _unreadable()


@dataclass(frozen=True, slots=True)
class TextBlock:
    """A paragraph (``rows`` empty) or a table (``rows`` of cells) of a document."""

    text: str = ""
    rows: list[list[str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Sheet:
    """The first rows of one sheet of a workbook."""

    name: str
    rows: list[list[str]]
    truncated: bool


@dataclass(frozen=True, slots=True)
class OfficeText:
    """What an office document says: a Word file's blocks, or an Excel file's sheets.

    ``truncated``: there is more than is shown.
    """

    blocks: list[TextBlock] = field(default_factory=list)
    sheets: list[Sheet] = field(default_factory=list)
    truncated: bool = False


def _cell(text: str) -> str:
    value = text.strip()
    return value if len(value) <= MAX_CELL else value[:MAX_CELL] + "…"


def docx_text(path: Path) -> OfficeText:
    """The paragraphs and tables of a Word (.docx) file, in order, up to :data:`MAX_CHARS`.

    Raises:
        UnreadableEvidence: it cannot be read.
    """
    _check_zip(path)
    import docx
    from docx.table import Table

    try:
        document = docx.Document(str(path))
        blocks: list[TextBlock] = []
        used = 0
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                rows = [[_cell(c.text) for c in row.cells[:MAX_COLUMNS]] for row in item.rows]
                rows = rows[:MAX_ROWS]
                used += sum(len(c) for row in rows for c in row)
                blocks.append(TextBlock(rows=rows))
            else:
                text = item.text.strip()
                if not text:
                    continue
                used += len(text)
                blocks.append(TextBlock(text=text))
            if used >= MAX_CHARS:
                return OfficeText(blocks=blocks, truncated=True)
    except Exception:  # a damaged part: python-docx raises many kinds
        raise _unreadable() from None
    return OfficeText(blocks=blocks)


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M") if value.time() != time(0) else f"{value:%Y-%m-%d}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return _cell(str(value))


def xlsx_text(path: Path) -> OfficeText:
    """The first :data:`MAX_ROWS` rows of the first :data:`MAX_SHEETS` sheets of an Excel
    (.xlsx) file, as text (values, not formulas).

    Raises:
        UnreadableEvidence: it cannot be read.
    """
    _check_zip(path)
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception:  # a damaged part: openpyxl raises many kinds
        raise _unreadable() from None
    try:
        sheets: list[Sheet] = []
        for worksheet in workbook.worksheets[:MAX_SHEETS]:
            rows: list[list[str]] = []
            truncated = False
            for values in worksheet.iter_rows(values_only=True):
                if len(rows) == MAX_ROWS:
                    truncated = True
                    break
                cells = [_shown(v) for v in values[:MAX_COLUMNS]]
                truncated = truncated or len(values) > MAX_COLUMNS
                rows.append(cells)
            while rows and not any(rows[-1]):
                rows.pop()
            width = max((i + 1 for row in rows for i, c in enumerate(row) if c), default=0)
            sheets.append(Sheet(worksheet.title, [row[:width] for row in rows], truncated))
        more = len(workbook.worksheets) > MAX_SHEETS
    except Exception:  # a damaged sheet
        raise _unreadable() from None
    finally:
        workbook.close()
    return OfficeText(sheets=sheets, truncated=more or any(s.truncated for s in sheets))


def office_text(path: Path, mime: str) -> OfficeText:
    """The text of a Word or Excel file (see :func:`docx_text`, :func:`xlsx_text`).

    Raises:
        UnreadableEvidence: another type, or it cannot be read.
    """
    if mime == DOCX:
        return docx_text(path)
    if mime == XLSX:
        return xlsx_text(path)
    raise _unreadable()
