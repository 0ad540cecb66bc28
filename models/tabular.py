"""Spreadsheet files: read CSV or XLSX as rows of text, map headers, write them back.

Nothing here knows about units or people.  The importers describe their columns
with a :class:`Layout`; this module opens the file, works out its encoding and
delimiter, matches the header row against the layout and hands back the data
rows as lists of stripped strings together with their spreadsheet row numbers
(the header is row 1), so that every problem can be reported as
``file:row:column: message``.

CSV is read as UTF-8 (with or without a byte-order mark), UTF-16 with a BOM
(Excel's "Unicode text") or GB18030 (what Excel writes on Chinese Windows),
detected from the bytes.  XLSX is read with openpyxl in read-only mode, one row
at a time.  Both are streamed: the file is never held in memory as a whole.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import os
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Literal

import openpyxl
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from riskprompt.config.i18n import N_
from riskprompt.models.errors import InvalidInput

Format = Literal["csv", "xlsx"]

CSV_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})
XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})
DELIMITERS = (",", "\t", ";")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, located as ``file:row:column``.

    ``row`` is the spreadsheet row number (the header is row 1) and ``column``
    the header text as written in the file; either is None for a problem with
    the whole file.  ``msgid`` and ``params`` are translated where shown.
    """

    source: str
    msgid: str
    params: Mapping[str, object] = field(default_factory=dict)
    row: int | None = None
    column: str | None = None

    @property
    def location(self) -> str:
        """``file``, ``file:row`` or ``file:row:column``."""
        parts = [self.source]
        if self.row is not None:
            parts.append(str(self.row))
        if self.column is not None:
            parts.append(self.column)
        return ":".join(parts)

    def translate(self, gettext: Callable[[str], str]) -> str:
        """``file:row:column: message`` in the reader's language."""
        text = gettext(self.msgid)
        if self.params:
            text = text % self.params
        return f"{self.location}: {text}"

    def __str__(self) -> str:
        return self.translate(lambda message: message)


class TableError(InvalidInput):
    """The file as a whole cannot be read (missing, wrong type, wrong encoding...)."""

    def __init__(self, source: str, message: str, **params: object) -> None:
        super().__init__(message, **params)
        self.problem = Problem(source, message, params)

    def translate(self, gettext: Callable[[str], str]) -> str:
        """``file: message`` in the reader's language."""
        return self.problem.translate(gettext)


@dataclass(frozen=True)
class Column:
    """One column of a layout: its key, its Chinese and English headers, whether required."""

    key: str
    zh: str
    en: str
    required: bool = False
    aliases: tuple[str, ...] = ()

    def label(self, locale: str) -> str:
        """The header written for ``locale`` (Chinese for zh_CN, English otherwise)."""
        return self.zh if locale == "zh_CN" else self.en


def normalise_header(text: str) -> str:
    """The form headers are compared in: no surrounding space, any case, ``_`` for inner space."""
    words = text.replace("\ufeff", "").replace("-", " ").replace("_", " ").split()
    return "_".join(words).casefold()


@dataclass
class HeaderMap:
    """Where each column of a layout is in a file, and how the file spells it."""

    index: dict[str, int]
    names: dict[str, str]
    problems: list[Problem]
    missing: list[str] = field(default_factory=list)

    def has(self, key: str) -> bool:
        """Whether the file has the column ``key``."""
        return key in self.index

    def position(self, key: str) -> int:
        """The column's index in a row, or -1 when the file does not have it."""
        return self.index.get(key, -1)


@dataclass(frozen=True)
class Layout:
    """The columns of one kind of file (the catalogue, people)."""

    columns: tuple[Column, ...]
    _lookup: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lookup: dict[str, Column] = {}
        for column in self.columns:
            for name in (column.key, column.zh, column.en, *column.aliases):
                lookup[normalise_header(name)] = column
        object.__setattr__(self, "_lookup", lookup)

    def column(self, key: str) -> Column:
        """The column ``key``.

        Raises:
            KeyError: no such column in this layout.
        """
        for column in self.columns:
            if column.key == key:
                return column
        raise KeyError(key)

    def recognises(self, header: str) -> bool:
        """Whether ``header`` names one of the columns."""
        return normalise_header(header) in self._lookup

    def header(self, locale: str) -> list[str]:
        """The header row written for ``locale``."""
        return [column.label(locale) for column in self.columns]

    def match(self, headers: Sequence[str], *, source: str) -> HeaderMap:
        """Find the layout's columns in a header row (any order, Chinese or English).

        Every problem is collected: an unknown column (a typo must not be ignored),
        a column given twice, a required column missing.
        """
        index: dict[str, int] = {}
        names: dict[str, str] = {}
        problems: list[Problem] = []
        missing: list[str] = []
        chinese = english = 0
        for position, text in enumerate(headers):
            if not text:
                continue  # an unnamed column; values under it are reported per row
            column = self._lookup.get(normalise_header(text))
            if column is None:
                problems.append(self._unknown(source, text))
                continue
            if column.key in index:
                problems.append(
                    Problem(
                        source,
                        N_("column %(name)r is given twice (also as %(other)r)"),
                        {"name": text, "other": names[column.key]},
                        1,
                        text,
                    )
                )
                continue
            index[column.key] = position
            names[column.key] = text
            if normalise_header(text) == normalise_header(column.en):
                english += 1
            else:
                chinese += 1
        # A missing column is named the way the rest of the file names its columns.
        locale = "en" if english > chinese else "zh_CN"
        for column in self.columns:
            if column.key in index:
                continue
            names[column.key] = column.label(locale)
            if column.required:
                missing.append(column.key)
                problems.append(
                    Problem(
                        source,
                        N_("missing column %(zh)s (%(en)s)"),
                        {"zh": column.zh, "en": column.en},
                        1,
                        column.label(locale),
                    )
                )
        return HeaderMap(index=index, names=names, problems=problems, missing=missing)

    def _unknown(self, source: str, text: str) -> Problem:
        known = [c.zh for c in self.columns] + [c.en for c in self.columns]
        guess = difflib.get_close_matches(text.strip(), known, n=1, cutoff=0.6)
        if not guess:
            guess = difflib.get_close_matches(normalise_header(text), known, n=1, cutoff=0.6)
        if guess:
            return Problem(
                source,
                N_("unknown column %(name)r (did you mean %(guess)r?)"),
                {"name": text, "guess": guess[0]},
                1,
                text,
            )
        return Problem(
            source,
            N_("unknown column %(name)r; the columns are: %(columns)s"),
            {"name": text, "columns": ", ".join(c.zh + "/" + c.en for c in self.columns)},
            1,
            text,
        )


@dataclass
class Table:
    """An open input file: its header row and a stream of data rows.

    ``rows()`` yields ``(row_number, cells)`` for every non-blank row, cells being
    stripped strings padded to the header's width.  Values in columns without a
    header are recorded in ``problems`` as the rows are read.
    """

    source: str
    headers: list[str]
    size_hint: int | None
    problems: list[Problem]
    _raw: Iterator[Sequence[Any]]
    _clean: Callable[[Any], str]

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """The data rows with their spreadsheet row numbers (header = 1)."""
        width = len(self.headers)
        unnamed = [i for i, text in enumerate(self.headers) if not text]
        clean = self._clean
        for number, raw in _numbered(self._raw, self.source):
            cells = list(map(clean, raw))
            if not any(cells):
                continue  # blank rows are what spreadsheets leave behind, not data
            if len(cells) < width:
                cells.extend([""] * (width - len(cells)))
            elif len(cells) > width:
                for extra in range(width, len(cells)):
                    if cells[extra]:
                        self._no_header(number, extra)
                del cells[width:]
            for position in unnamed:
                if cells[position]:
                    self._no_header(number, position)
            yield number, cells

    def _no_header(self, row: int, position: int) -> None:
        self.problems.append(
            Problem(
                self.source,
                N_("a value in a column without a header"),
                {},
                row,
                get_column_letter(position + 1),
            )
        )


def _numbered(raw: Iterator[Sequence[Any]], source: str) -> Iterator[tuple[int, Sequence[Any]]]:
    """Rows numbered from 2 (the header is row 1); a row the CSV reader refuses is an error."""
    number = 1
    while True:
        number += 1
        try:
            row = next(raw)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a field longer than csv.field_size_limit()
            raise TableError(
                source, N_("row %(row)d cannot be read: %(reason)s"), row=number, reason=str(exc)
            ) from None
        yield number, row


def table_format(path: Path, *, source: str) -> Format:
    """``csv`` or ``xlsx`` from the file name's extension.

    Raises:
        TableError: any other extension.
    """
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in XLSX_SUFFIXES:
        return "xlsx"
    if suffix == ".xls":
        raise TableError(
            source, N_("old Excel files (.xls) cannot be read: save the sheet as .xlsx or .csv")
        )
    raise TableError(
        source, N_("unsupported file type %(suffix)r: use .csv or .xlsx"), suffix=suffix or ""
    )


def clean_cell(value: Any) -> str:
    """The text of a spreadsheet cell: stripped, numbers without a trailing ``.0``.

    A mobile number or a staff id typed into Excel is stored as a number; it must
    come back as the digits the person typed.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).strip()


def detect_encoding(path: Path, *, source: str) -> tuple[str, int]:
    """The codec a CSV file is written in, and how many line breaks it holds.

    UTF-8 (a byte-order mark is dropped), UTF-16 with a byte-order mark, or
    GB18030, tried in that order over the whole file in chunks: a GB18030 file
    may look like UTF-8 for its first lines.  The line count sizes the progress bar.

    Raises:
        TableError: the bytes are none of these encodings, or hold a NUL character.
    """
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith(codecs.BOM_UTF8):
        candidates: tuple[str, ...] = ("utf-8-sig",)
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ("utf-16",)
    else:
        candidates = ("utf-8", "gb18030")
    for codec in candidates:
        lines = _count_lines_if_decodes(path, codec, source)
        if lines is not None:
            return codec, lines
    raise TableError(
        source, N_("cannot read the file: its text is neither UTF-8 nor GB18030 (GBK)")
    )


def _count_lines_if_decodes(path: Path, codec: str, source: str) -> int | None:
    decoder = codecs.getincrementaldecoder(codec)()
    lines = 0
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(_CHUNK):
                # No database stores a NUL character (PostgreSQL refuses it): a text
                # file has none, so the whole file is refused, as one that does not decode.
                if "\x00" in decoder.decode(chunk):
                    raise TableError(source, N_("cannot read the file: it contains NUL characters"))
                lines += chunk.count(b"\n")
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return None
    return lines


def sniff_delimiter(header_line: str, recognises: Callable[[str], bool] | None = None) -> str:
    """The delimiter of a CSV header line: comma, tab or semicolon.

    The one giving the most recognised column names wins, then the one giving the
    most fields; a tie goes to the comma.  (``csv.Sniffer`` guesses from
    character frequencies and is easily fooled by one line of Chinese text.)
    """
    best, best_score = ",", (-1, -1)
    for delimiter in DELIMITERS:
        fields = next(csv.reader([header_line], delimiter=delimiter), [])
        known = sum(1 for f in fields if recognises(f)) if recognises else 0
        score = (known, len(fields))
        if score > best_score:
            best, best_score = delimiter, score
    return best


@contextmanager
def open_table(
    path: Path,
    *,
    source: str | None = None,
    sheet: str | None = None,
    recognises: Callable[[str], bool] | None = None,
) -> Iterator[Table]:
    """Open a CSV or XLSX file for reading, row by row.

    Args:
        path: the file.
        source: how the file is named in problems (default: ``path`` as given).
        sheet: the worksheet of an XLSX file (default: the first).
        recognises: tells a known header; helps choose a CSV file's delimiter.

    Raises:
        TableError: the file is missing, of an unknown type, not decodable, not a
            workbook, has no such sheet, or is empty.
    """
    name = source if source is not None else str(path)
    kind = table_format(path, source=name)
    if not path.exists():
        raise TableError(name, N_("no such file"))
    if not path.is_file():
        raise TableError(name, N_("not a file"))
    try:
        if kind == "csv":
            if sheet is not None:
                raise TableError(name, N_("--sheet applies to .xlsx files only"))
            with _open_csv(path, name, recognises) as table:
                yield table
        else:
            with _open_xlsx(path, name, sheet) as table:
                yield table
    except OSError as exc:
        raise TableError(
            name, N_("cannot read the file: %(reason)s"), reason=exc.strerror or exc
        ) from None


@contextmanager
def _open_csv(path: Path, source: str, recognises: Callable[[str], bool] | None) -> Iterator[Table]:
    codec, lines = detect_encoding(path, source=source)
    with path.open(encoding=codec, newline="") as handle:
        first = handle.readline()
        if not first.strip():
            raise TableError(source, N_("the file is empty: the first row must be the header"))
        delimiter = sniff_delimiter(first, recognises)

        def lines_again() -> Iterator[str]:
            yield first
            yield from handle

        reader = csv.reader(lines_again(), delimiter=delimiter)
        try:
            first_row = next(reader)
        except csv.Error as exc:
            raise TableError(
                source, N_("row %(row)d cannot be read: %(reason)s"), row=1, reason=str(exc)
            ) from None
        headers = [cell.strip().replace("\ufeff", "") for cell in first_row]
        while headers and not headers[-1]:
            headers.pop()
        yield Table(
            source=source,
            headers=headers,
            size_hint=max(lines - 1, 0),
            problems=[],
            _raw=reader,
            _clean=str.strip,
        )


@contextmanager
def _open_xlsx(path: Path, source: str, sheet: str | None) -> Iterator[Table]:
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError) as exc:
        raise TableError(
            source, N_("not an Excel workbook (.xlsx): %(reason)s"), reason=str(exc) or type(exc)
        ) from None
    try:
        if sheet is None:
            worksheet = workbook.worksheets[0]
        elif sheet in workbook.sheetnames:
            worksheet = workbook[sheet]
        else:
            raise TableError(
                source,
                N_("no sheet %(sheet)r; the sheets are: %(sheets)s"),
                sheet=sheet,
                sheets=", ".join(workbook.sheetnames),
            )
        max_row = getattr(worksheet, "max_row", None)
        if not max_row or max_row <= 1:
            max_row = _count_xlsx_rows(path, getattr(worksheet, "_worksheet_path", None))
        # Some writers store wrong dimensions and read-only mode trusts them; forget
        # them so that every row is read (the old value only sizes the progress bar).
        if hasattr(worksheet, "reset_dimensions"):
            worksheet.reset_dimensions()
        raw = worksheet.iter_rows(values_only=True)
        first = next(raw, None)
        if first is None or not any(clean_cell(value) for value in first):
            raise TableError(source, N_("the sheet is empty: the first row must be the header"))
        headers = [clean_cell(value).replace("\ufeff", "") for value in first]
        while headers and not headers[-1]:
            headers.pop()
        yield Table(
            source=source,
            headers=headers,
            size_hint=max(max_row - 1, 0) if max_row else None,
            problems=[],
            _raw=raw,
            _clean=clean_cell,
        )
    finally:
        workbook.close()


def _count_xlsx_rows(path: Path, member: str | None) -> int | None:
    """The rows of a sheet without a stored dimension, counted in its XML (for progress).

    openpyxl's write-only mode, among others, stores no ``<dimension>``; counting
    ``<row`` tags in the decompressed stream is cheap next to parsing the cells.
    """
    if not member:
        return None
    count, tail = 0, b""
    try:
        with zipfile.ZipFile(path) as archive, archive.open(member.lstrip("/")) as stream:
            while chunk := stream.read(_CHUNK):
                data = tail + chunk
                count += data.count(b"<row ") + data.count(b"<row>")
                tail = data[-5:]
                # A tag split across chunks is counted once: drop what ``tail`` repeats.
                count -= tail.count(b"<row ") + tail.count(b"<row>")
            count += tail.count(b"<row ") + tail.count(b"<row>")
    except (KeyError, zipfile.BadZipFile, OSError):
        return None
    return count or None


def write_table(
    path: Path,
    *,
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    source: str | None = None,
    title: str = "Sheet1",
) -> int:
    """Write a header and rows as CSV (UTF-8 with BOM, for Excel) or XLSX, by extension.

    The file is written beside its final name and moved into place at the end, so
    a failed export never leaves half a file.  Returns the number of data rows.

    Raises:
        TableError: an unknown extension, or the file cannot be written.
    """
    name = source if source is not None else str(path)
    kind = table_format(path, source=name)
    partial = path.with_name(f".{path.name}.part")
    try:
        if kind == "csv":
            count = _write_csv(partial, headers, rows)
        else:
            count = _write_xlsx(partial, headers, rows, title)
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise TableError(
            name, N_("cannot write the file: %(reason)s"), reason=exc.strerror or exc
        ) from None
    return count


def _write_csv(path: Path, headers: Sequence[str], rows: Iterable[Sequence[str]]) -> int:
    count = 0
    # The BOM is what makes Excel open UTF-8 as UTF-8 instead of the ANSI code page.
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(headers)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def _write_xlsx(
    path: Path, headers: Sequence[str], rows: Iterable[Sequence[str]], title: str
) -> int:
    workbook = openpyxl.Workbook(write_only=True)
    worksheet = workbook.create_sheet(title)
    worksheet.append(list(headers))
    count = 0
    for row in rows:
        worksheet.append([_text_cell(worksheet, value) for value in row])
        count += 1
    workbook.save(path)
    return count


def _text_cell(worksheet: Any, value: str) -> Any:
    if not value:
        return None
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if value.startswith("="):
        # openpyxl would store it as a formula; text must stay text.
        cell = WriteOnlyCell(worksheet, value=value)
        cell.data_type = "s"
        return cell
    return value
