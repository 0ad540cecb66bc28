"""The assessment chart: acknowledged rate and open warnings per unit (or person).

Rendered with matplotlib's Agg backend on a private ``Figure`` (no pyplot global
state, no backend switch).  Unit names are Chinese and matplotlib's default
DejaVu Sans has no CJK glyphs, so the chart uses Noto Sans CJK SC from the
``noto-cjk-sans-otc`` distribution (SIL Open Font License 1.1), a dependency of
this package: the font is always there, whatever the machine has installed.
"""

from __future__ import annotations

from functools import cache
from typing import BinaryIO

from riskprompt.config.i18n import _, format_ratio
from riskprompt.models.assessment import Assessment

FONT_FAMILY = "Noto Sans CJK SC"


@cache
def register_cjk_font() -> str:
    """Add the packaged Noto Sans CJK collection to matplotlib once; return the family."""
    from matplotlib import font_manager
    from noto_cjk_sans_otc import FONT_PATH

    # One file holds every face (JP, KR, SC, TC, HK); matplotlib 3.11 reads all of them.
    font_manager.fontManager.addfont(str(FONT_PATH))
    return FONT_FAMILY


def render_chart(assessment: Assessment, out: BinaryIO) -> None:
    """Write the chart as PNG to ``out``: a bar per row for each of the two measures."""
    # The Agg canvas is attached explicitly: no global backend switch, no pyplot.
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    family = register_cjk_font()
    rows = assessment.rows
    names = [row.name for row in rows]
    rates = [row.ack_rate or 0.0 for row in rows]
    open_warnings = [row.open for row in rows]
    positions = list(range(len(rows)))
    width = 0.38
    with rc_context({"font.family": [family], "axes.unicode_minus": False}):
        figure = Figure(figsize=(max(6.0, 1.1 * len(rows) + 2), 4.5), dpi=100)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        rate_bars = axes.bar(
            [p - width / 2 for p in positions],
            rates,
            width,
            color="#2563eb",
            label=_("Acknowledged (%)"),
        )
        axes.set_ylim(0, 1.3)  # headroom for the legend
        axes.set_yticks([i / 5 for i in range(6)])
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: format_ratio(value)))
        axes.set_ylabel(_("Acknowledged (%)"))
        other = axes.twinx()
        open_bars = other.bar(
            [p + width / 2 for p in positions],
            open_warnings,
            width,
            color="#dc2626",
            label=_("Open warnings"),
        )
        other.set_ylabel(_("Open warnings"))
        other.set_ylim(0, max([*open_warnings, 1]) * 1.3)
        other.yaxis.get_major_locator().set_params(integer=True)
        axes.set_xticks(positions, names, rotation=30 if len(rows) > 4 else 0, ha="right")
        axes.set_title(
            _("Acknowledged rate and open warnings, %(period)s") % {"period": assessment.period}
        )
        axes.legend(handles=[rate_bars, open_bars], loc="upper left", ncols=2, fontsize="small")
        figure.tight_layout()
        figure.savefig(out, format="png")
