"""What every list command prints: a table that fits the terminal, or plain rows.

A list command describes its columns once (:class:`Column`), adds its rows, and
hands the listing to :func:`show` with the ``--wide`` and ``--format`` options
every list command takes:

- ``table`` (the default on a terminal): the columns that fit the terminal's
  width, dropping the least important first and saying which; never a name, a
  date, a score or an ID cut short.  When even the essential columns do not fit,
  one block per record.  ``--wide`` shows every column, however wide.
- ``tsv`` (the default when the output is piped): a header line and one line per
  record, tab-separated, every column; titles and totals go to standard error.
- ``csv`` and ``json``: every column, for a spreadsheet or a program; JSON keys
  are stable English names, moments are ISO 8601.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, TextIO
from zoneinfo import ZoneInfo

import typer
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from riskprompt.config.i18n import N_, _, format_number, ngettext
from riskprompt.models.errors import InvalidInput

Cell = str | int | float | datetime | date | None

# The narrowest a wrapping column (free text) is squeezed to before columns go.
_TEXT_MIN = 12
# Characters that make a spreadsheet read a cell as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class Format(StrEnum):
    """How a listing is printed."""

    TABLE = "table"
    TSV = "tsv"
    CSV = "csv"
    JSON = "json"


WideOption = Annotated[
    bool,
    typer.Option("--wide", help=_("Show every column, however wide the table gets.")),
]
FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        help=_("table, tsv, csv or json (default: table on a terminal, tsv when piped)."),
        show_default=False,
    ),
]


@dataclass(frozen=True)
class Column:
    """One column: its JSON key, its heading, how it may be shown.

    ``keep`` is how important the column is: 0 is always shown, higher numbers are
    dropped first when the terminal is narrow.  Only ``wraps`` columns (free text)
    are ever broken over lines; the rest are shown whole or not at all.
    """

    key: str
    header: str
    keep: int = 0
    wraps: bool = False
    numeric: bool = False
    day: bool = False  # a moment shown by its date (deadlines: the end of a day)


@dataclass
class Listing:
    """A titled set of rows under the same columns."""

    title: str
    columns: Sequence[Column]
    zone: ZoneInfo
    rows: list[tuple[Cell, ...]] = field(default_factory=list)

    def add(self, *cells: Cell) -> None:
        """Add one record, a cell per column."""
        if len(cells) != len(self.columns):  # pragma: no cover - a programming error
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(cells)

    def text(self, cell: Cell, column: Column | None = None) -> str:
        """A cell as the reader sees it in a table."""
        if isinstance(cell, datetime) and column is not None and column.day:
            return cell.astimezone(self.zone).date().isoformat()
        if cell is None:
            return ""
        if isinstance(cell, bool):
            return _("yes") if cell else _("no")
        if isinstance(cell, int | float):
            return format_number(cell)
        if isinstance(cell, datetime):
            return cell.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")
        if isinstance(cell, date):
            return cell.isoformat()
        return cell

    def plain(self, cell: Cell) -> str:
        """A cell for CSV and TSV: no grouping in numbers, moments to the second."""
        if isinstance(cell, bool) or not isinstance(cell, int | float | datetime):
            return self.text(cell)
        if isinstance(cell, datetime):
            return cell.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")
        return str(cell)

    def data(self, cell: Cell) -> str | int | float | None:
        """A cell for JSON."""
        if isinstance(cell, datetime):
            return cell.astimezone(self.zone).isoformat()
        if isinstance(cell, date):
            return cell.isoformat()
        return cell


def parse_format(value: str | None, *, piped: bool) -> Format:
    """The ``--format`` asked for, or the default for where the output goes.

    Raises:
        InvalidInput: not one of table, tsv, csv, json.
    """
    if value is None:
        return Format.TSV if piped else Format.TABLE
    try:
        return Format(value.strip().lower())
    except ValueError:
        raise InvalidInput(
            N_("unknown format %(value)r: use table, tsv, csv or json"), value=value
        ) from None


def is_table(form: str | None, console: Console) -> bool:
    """Whether ``--format`` (or its default for ``console``) asks for the table."""
    return parse_format(form, piped=not console.is_terminal) is Format.TABLE


def show(
    listing: Listing,
    console: Console,
    *,
    wide: bool = False,
    form: str | None = None,
    notes: Sequence[str] = (),
    err: Console | None = None,
) -> None:
    """Print ``listing`` as asked; ``notes`` (totals and the like) follow a table.

    In the plain formats the notes go to standard error (``err``), so that the
    standard output holds the rows alone.
    """
    chosen = parse_format(form, piped=not console.is_terminal)
    if chosen is Format.TABLE:
        _print_table(listing, console, wide=wide)
        for note in notes:
            console.print(note, highlight=False, markup=False, soft_wrap=True)
        return
    out: TextIO = console.file
    if chosen is Format.JSON:
        records = [
            {c.key: listing.data(cell) for c, cell in zip(listing.columns, row, strict=True)}
            for row in listing.rows
        ]
        out.write(json.dumps(records, ensure_ascii=False, indent=2) + "\n")
    elif chosen is Format.CSV:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([c.header for c in listing.columns])
        writer.writerows([_defused(listing.plain(cell)) for cell in row] for row in listing.rows)
    else:
        out.write("\t".join(c.header for c in listing.columns) + "\n")
        for row in listing.rows:
            out.write("\t".join(_flat(listing.plain(cell)) for cell in row) + "\n")
    out.flush()
    target = err or Console(stderr=True)
    for note in notes:
        target.print(note, highlight=False, markup=False, soft_wrap=True)


def _defused(text: str) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _flat(text: str) -> str:
    return " ".join(text.split()) if ("\t" in text or "\n" in text) else text


def _needed(listing: Listing, index: int) -> int:
    column = listing.columns[index]
    widths = [cell_len(line) for line in column.header.splitlines() or [""]]
    for row in listing.rows:
        text = listing.text(row[index], column)
        widths.extend(cell_len(line) for line in text.splitlines() or [""])
    return max(widths)


def _fits(widths: dict[int, int], listing: Listing, width: int) -> bool:
    total = 1  # the left border; each column adds its padding and its right border
    for index, need in widths.items():
        shown = min(need, _TEXT_MIN) if listing.columns[index].wraps else need
        total += shown + 3
    return total <= width


def _print_table(listing: Listing, console: Console, *, wide: bool) -> None:
    if not listing.rows:
        if listing.title:
            console.print(listing.title, style="bold", highlight=False, markup=False)
        console.print(_("Nothing to list."), highlight=False)
        return
    widths = {index: _needed(listing, index) for index in range(len(listing.columns))}
    shown = dict(widths)
    hidden: list[int] = []
    if not wide:
        # The essential columns, then each other one by importance while it fits.
        shown = {i: w for i, w in widths.items() if listing.columns[i].keep == 0}
        if not _fits(shown, listing, console.width):
            _print_records(listing, console)
            return
        others = sorted(
            (i for i in widths if listing.columns[i].keep > 0),
            key=lambda i: (listing.columns[i].keep, i),
        )
        for index in others:
            if _fits({**shown, index: widths[index]}, listing, console.width):
                shown[index] = widths[index]
            else:
                hidden.append(index)
        shown = {i: shown[i] for i in sorted(shown)}
    table = Table(
        title=listing.title or None,
        title_justify="left",
        header_style="bold",
    )
    for index in shown:
        column = listing.columns[index]
        table.add_column(
            column.header,
            justify="right" if column.numeric else "left",
            no_wrap=not column.wraps,
            overflow="fold",
            min_width=None if column.wraps else widths[index],
        )
    for row in listing.rows:
        table.add_row(*(listing.text(row[index], listing.columns[index]) for index in shown))
    target = console
    if wide:
        total = sum(widths.values()) + 3 * len(widths) + 1
        if total > console.width:
            target = Console(file=console.file, width=total, color_system=console.color_system)
    target.print(table)
    if hidden:
        names = _(", ").join(listing.columns[i].header for i in sorted(hidden))
        count = len(hidden)
        console.print(
            ngettext(
                "%(n)s more column (%(names)s): --wide shows it.",
                "%(n)s more columns (%(names)s): --wide shows them.",
                count,
            )
            % {"n": format_number(count), "names": names},
            highlight=False,
            markup=False,
            soft_wrap=True,
            style="dim",
        )


def _print_records(listing: Listing, console: Console) -> None:
    """One block per record: ``heading: value`` lines, for a terminal too narrow."""
    if listing.title:
        console.print(listing.title, style="bold", highlight=False, markup=False)
    label_width = max(cell_len(c.header) for c in listing.columns)
    for row in listing.rows:
        console.print()
        for column, cell in zip(listing.columns, row, strict=True):
            pad = " " * (label_width - cell_len(column.header))
            console.print(
                f"{column.header}{pad}  {listing.text(cell, column)}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
