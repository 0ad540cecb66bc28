"""The assessment chart: score, acknowledged rate and open warnings per unit (or person).

Three panels side by side, each with one value axis (no twin axes): the score
(0–100), the acknowledged rate (0–100 %) and the open warnings (a count); one
horizontal bar per row with its value written at its end, the names down the
left (a person's unit under the name).  The rows are ranked from the lowest
score up, so the ones that need attention come first; at most ``top`` of them
are drawn (the caption says how many of how many), so a report of a whole
county's people stays readable.  Rows with nothing in the period (no prompt, no
warning) are left out and counted in the caption; a row without a score or a
rate draws no bar and says so.

Rendered with matplotlib's Agg backend on a private ``Figure`` (no pyplot global
state, no backend switch).  Unit names are Chinese and matplotlib's default
DejaVu Sans has no CJK glyphs, so the chart uses Noto Sans CJK SC from the
``noto-cjk-sans-otc`` distribution (SIL Open Font License 1.1), a dependency of
this package: the font is always there, whatever the machine has installed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import BinaryIO

from riskprompt.config.i18n import _, format_number, ngettext
from riskprompt.models.assessment import Assessment, AssessmentRow

FONT_FAMILY = "Noto Sans CJK SC"
DEFAULT_TOP = 20
"""How many rows the chart draws at most."""

_SCORE_COLOUR = "#6b7280"
_RATE_COLOUR = "#2563eb"
_OPEN_COLOUR = "#dc2626"


@cache
def register_cjk_font() -> str:
    """Add the packaged Noto Sans CJK collection to matplotlib once; return the family."""
    from matplotlib import font_manager
    from noto_cjk_sans_otc import FONT_PATH

    # One file holds every face (JP, KR, SC, TC, HK); matplotlib 3.11 reads all of them.
    font_manager.fontManager.addfont(str(FONT_PATH))
    return FONT_FAMILY


def chart_rows(assessment: Assessment, top: int = DEFAULT_TOP) -> list[AssessmentRow]:
    """The rows the chart draws: lowest score first (no score last), at most ``top``."""
    shown = [row for row in assessment.rows if row.received_anything]
    shown.sort(
        key=lambda row: (
            row.score is None,
            row.score if row.score is not None else 0.0,
            row.ack_rate if row.ack_rate is not None else 1.0,
            -row.open,
        )
    )
    return shown[: max(top, 1)]


def caption(assessment: Assessment, shown: int) -> str:
    """What the chart shows of the report: the order, how many rows, what is left out."""
    received = sum(1 for row in assessment.rows if row.received_anything)
    idle = len(assessment.rows) - received
    if assessment.by == "person":
        parts = [
            ngettext(
                "The %(n)s person with the lowest score, of %(total)s",
                "The %(n)s people with the lowest scores, of %(total)s",
                shown,
            )
            % {"n": format_number(shown), "total": format_number(received)}
            if shown < received
            else _("Every person, lowest score first")
        ]
        if idle:
            parts.append(
                ngettext(
                    "%(n)s person with no prompt or warning is not shown",
                    "%(n)s people with no prompt or warning are not shown",
                    idle,
                )
                % {"n": format_number(idle)}
            )
    else:
        parts = [
            ngettext(
                "The %(n)s unit with the lowest score, of %(total)s",
                "The %(n)s units with the lowest scores, of %(total)s",
                shown,
            )
            % {"n": format_number(shown), "total": format_number(received)}
            if shown < received
            else _("Every unit, lowest score first")
        ]
        if idle:
            parts.append(
                ngettext(
                    "%(n)s unit with no prompt or warning is not shown",
                    "%(n)s units with no prompt or warning are not shown",
                    idle,
                )
                % {"n": format_number(idle)}
            )
    return _("; ").join(parts)


def _label(row: AssessmentRow, by: str) -> str:
    """A row's name down the left; a person's unit under the name."""
    return f"{row.name}\n{row.unit}" if by == "person" and row.unit else row.name


def render_chart(assessment: Assessment, out: BinaryIO, *, top: int = DEFAULT_TOP) -> None:
    """Write the chart as PNG to ``out`` (see the module docstring)."""
    # The Agg canvas is attached explicitly: no global backend switch, no pyplot.
    from matplotlib import rc_context
    from matplotlib.axes import Axes
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    from riskprompt.reporting import chart_title, format_rate

    family = register_cjk_font()
    rows = chart_rows(assessment, top)
    positions = list(range(len(rows)))
    per_row = 0.5 if assessment.by == "person" else 0.36
    height = 1.9 + per_row * max(len(rows), 3)

    def panel(
        axes: Axes,
        title: str,
        values: list[float | None],
        *,
        limit: float,
        colour: str,
        shown: Callable[[float], str],
        missing: str,
    ) -> None:
        """One measure: a bar per row with its value at the end; one axis."""
        axes.barh(positions, [v or 0.0 for v in values], height=0.6, color=colour)
        for y, value in zip(positions, values, strict=True):
            if value is None:
                axes.text(limit * 0.02, y, missing, va="center", fontsize=8, color="#6b7280")
            else:
                axes.text(value + limit * 0.02, y, shown(value), va="center", fontsize=9)
        axes.set_xlim(0, limit * 1.18)  # room for the value at the end of a full bar
        axes.set_title(title, fontsize=11)
        axes.grid(axis="x", color="#e5e7eb")
        axes.set_axisbelow(True)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)

    with rc_context({"font.family": [family], "axes.unicode_minus": False, "font.size": 10}):
        figure = Figure(figsize=(11.0, height), dpi=100, layout="constrained")
        FigureCanvasAgg(figure)
        score_axes, rate_axes, open_axes = figure.subplots(
            1, 3, sharey=True, gridspec_kw={"width_ratios": [2, 3, 2]}
        )
        figure.suptitle(chart_title(assessment), fontsize=13)
        figure.supxlabel(
            caption(assessment, len(rows)) if rows else _("Nothing to show for this period"),
            fontsize=9,
        )
        panel(
            score_axes,
            _("Score"),
            [row.score for row in rows],
            limit=100.0,
            colour=_SCORE_COLOUR,
            shown=format_number,
            missing=_("no score"),
        )
        score_axes.set_xticks([0, 50, 100])
        panel(
            rate_axes,
            _("Acknowledged (%)"),
            [row.ack_rate for row in rows],
            limit=1.0,
            colour=_RATE_COLOUR,
            shown=format_rate,
            missing=_("no prompt to acknowledge"),
        )
        rate_axes.set_xticks([i / 5 for i in range(6)])
        rate_axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_rate(v)))
        counts = [row.open for row in rows]
        panel(
            open_axes,
            _("Open warnings"),
            [float(n) for n in counts],
            limit=float(max([*counts, 1])),
            colour=_OPEN_COLOUR,
            shown=lambda v: format_number(int(v)),
            missing="",
        )
        open_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        score_axes.set_yticks(positions, [_label(row, assessment.by) for row in rows])
        score_axes.tick_params(axis="y", labelsize=9 if assessment.by == "person" else 10)
        score_axes.set_ylim(max(len(rows), 1) - 0.5, -0.5)  # the first row at the top
        figure.savefig(out, format="png")
