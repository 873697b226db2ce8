"""Small server-side SVG charts: bars (grouped, stacked) and an area over days.

Inline SVG rather than PNG or a JavaScript plotting library: crisp at any size, coloured
from ``app.css`` through classes (``chart-<series key>``, no inline style, so the page's
Content-Security-Policy stays strict), no extra request and no script. Each chart is
a ``<figure>``: a visible caption, a legend, the ``<svg role="img">`` whose ``<title>`` and
``<desc>`` say what it shows and its main numbers in a sentence (what a screen reader
announces), and every number in a table behind a ``<details>`` for keyboard and
screen-reader users. Each bar and point has its own ``<title>``: hovering shows its value.

    chart = BarChart(chart_id="wait", title="How long flags waited", summary="...",
                     categories=["< 1 h", "1-6 h"], groups=[[Series("wait", "Flags", (3, 1))]])
    html = chart.render()  # SafeString for a template
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 40, 10, 10, 24


@dataclass(frozen=True)
class Series:
    """One row of numbers, one per category; ``key`` names its CSS class ``chart-<key>``."""

    key: str
    label: str
    values: tuple[float, ...]


def nice_ticks(highest: float, *, most: int = 5, integer: bool = True) -> list[float]:
    """Round axis ticks from 0 to at least ``highest``: steps of 1, 2 or 5 times a power
    of ten, at most ``most`` steps (whole numbers when ``integer``)."""
    if highest <= 0:
        return [0.0, 1.0]
    raw = highest / most
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    if integer:
        step = max(1.0, float(round(step)))
    steps = math.ceil(highest / step - 1e-9)
    return [i * step for i in range(steps + 1)]


def number(value: float) -> str:
    """A tick or table value: whole numbers without decimals, others to one decimal."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def table_html(
    *,
    caption: str,
    row_header: str,
    columns: Sequence[str],
    rows: Sequence[tuple[str, Sequence[float | str]]],
) -> SafeString:
    """A plain data table (the numbers behind a chart)."""
    head = format_html_join("", '<th scope="col" class="num">{}</th>', ((c,) for c in columns))
    body = format_html_join(
        "",
        '<tr><th scope="row">{}</th>{}</tr>',
        (
            (
                label,
                format_html_join(
                    "",
                    '<td class="num">{}</td>',
                    ((number(v) if isinstance(v, int | float) else v,) for v in values),
                ),
            )
            for label, values in rows
        ),
    )
    return format_html(
        # a region with a tab stop: a long table scrolls, and arrow keys can scroll it
        '<div class="table-wrap" role="region" tabindex="0" aria-label="{}">'
        '<table class="table compact chart-data">'
        '<caption class="visually-hidden">{}</caption>'
        '<thead><tr><th scope="col">{}</th>{}</tr></thead><tbody>{}</tbody></table></div>',
        caption,
        caption,
        row_header,
        head,
        body,
    )


@dataclass
class _Chart:
    chart_id: str
    title: str
    summary: str
    categories: Sequence[str]
    #: Longer names of the categories for tooltips and the table ("Mon 3 Jun" for "3 Jun").
    long_categories: Sequence[str] | None = None
    row_header: str = ""
    width: int = 720
    height: int = 220
    #: Label every n-th category on the axis, always including the last one.
    label_every: int = 1
    #: A fixed top of the scale (small multiples share one); None: from the data.
    top: float | None = None
    css_class: str = ""

    def _series(self) -> list[Series]:
        raise NotImplementedError

    def _highest(self) -> float:
        raise NotImplementedError

    def _marks(self, y: _Scale) -> list[str]:
        raise NotImplementedError

    @property
    def names(self) -> Sequence[str]:
        return self.long_categories or self.categories

    @property
    def plot_width(self) -> float:
        return self.width - MARGIN_LEFT - MARGIN_RIGHT

    @property
    def slot(self) -> float:
        return self.plot_width / max(1, len(self.categories))

    def _frame(self, y: _Scale) -> list[str]:
        parts = ['<g class="chart-grid">']
        for tick in y.ticks:
            at = y(tick)
            parts.append(
                f'<line x1="{MARGIN_LEFT}" x2="{self.width - MARGIN_RIGHT}" '
                f'y1="{at:.1f}" y2="{at:.1f}"/>'
                f'<text x="{MARGIN_LEFT - 6}" y="{at + 4:.1f}" text-anchor="end">'
                f"{number(tick)}</text>"
            )
        parts.append('</g><g class="chart-axis">')
        last = len(self.categories) - 1
        for i, label in enumerate(self.categories):
            if (last - i) % max(1, self.label_every):
                continue
            x = MARGIN_LEFT + (i + 0.5) * self.slot
            parts.append(
                f'<text x="{x:.1f}" y="{self.height - 6}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
        parts.append("</g>")
        return parts

    def svg(self) -> SafeString:
        y = _Scale(self.top if self.top is not None else self._highest(), self.height)
        cid = escape(self.chart_id)
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {escape(self.css_class)}" '
            f'id="{cid}" viewBox="0 0 {self.width} {self.height}" role="img" '
            f'aria-labelledby="{cid}-title {cid}-desc" preserveAspectRatio="xMidYMid meet">',
            f'<title id="{cid}-title">{escape(self.title)}</title>',
            f'<desc id="{cid}-desc">{escape(self.summary)}</desc>',
            *self._frame(y),
            *self._marks(y),
            "</svg>",
        ]
        return mark_safe("".join(parts))  # every text in it is escaped above

    def legend(self) -> SafeString:
        series = self._series()
        if len(series) < 2:
            return mark_safe("")
        items = format_html_join(
            "",
            '<li><span class="chart-swatch chart-{}" aria-hidden="true"></span>{}</li>',
            ((s.key, s.label) for s in series),
        )
        return format_html('<ul class="chart-legend" aria-hidden="true">{}</ul>', items)

    def table(self) -> SafeString:
        series = self._series()
        return table_html(
            caption=self.title,
            row_header=self.row_header,
            columns=[s.label for s in series],
            rows=[(name, [s.values[i] for s in series]) for i, name in enumerate(self.names)],
        )

    def __html__(self) -> SafeString:  # ``{{ chart }}`` in a template is the whole figure
        return self.render()

    def __str__(self) -> str:
        return self.render()

    def render(self, *, with_table: bool = True) -> SafeString:
        """The whole figure: caption, legend, chart and (folded) its numbers as a table."""
        details = (
            format_html(
                '<details class="chart-details"><summary>The numbers as a table</summary>'
                "{}</details>",
                self.table(),
            )
            if with_table
            else ""
        )
        return format_html(
            '<figure class="chart-figure" id="{}-figure"><figcaption class="chart-caption">'
            "{}</figcaption>{}{}{}</figure>",
            self.chart_id,
            self.title,
            self.legend(),
            self.svg(),
            details,
        )


class _Scale:
    """Value -> y coordinate, from 0 at the bottom of the plot to the top tick."""

    def __init__(self, highest: float, height: int) -> None:
        self.ticks = nice_ticks(highest)
        self.top = self.ticks[-1]
        self.bottom = height - MARGIN_BOTTOM
        self.span = self.bottom - MARGIN_TOP

    def __call__(self, value: float) -> float:
        return self.bottom - self.span * (value / self.top)


@dataclass
class BarChart(_Chart):
    """Per category, one bar per group side by side; the series of a group are stacked."""

    groups: Sequence[Sequence[Series]] = field(default_factory=list)

    def _series(self) -> list[Series]:
        return [s for group in self.groups for s in group]

    def _highest(self) -> float:
        return max(
            (sum(s.values[i] for s in g) for g in self.groups for i in range(len(self.categories))),
            default=0.0,
        )

    def _marks(self, y: _Scale) -> list[str]:
        parts = ['<g class="chart-marks">']
        bar = self.slot * 0.78 / max(1, len(self.groups))
        for i, name in enumerate(self.names):
            left = MARGIN_LEFT + i * self.slot + self.slot * 0.11
            for g, group in enumerate(self.groups):
                x = left + g * bar
                base = 0.0
                for s in group:
                    value = s.values[i]
                    if value > 0:
                        top, bottom = y(base + value), y(base)
                        parts.append(
                            f'<rect class="chart-{escape(s.key)}" x="{x:.1f}" y="{top:.1f}" '
                            f'width="{max(1.0, bar - 1):.1f}" height="{bottom - top:.1f}">'
                            f"<title>{escape(name)}: {number(value)} {escape(s.label.lower())}"
                            "</title></rect>"
                        )
                    base += value
        parts.append("</g>")
        return parts


@dataclass
class AreaChart(_Chart):
    """One series as a filled area under a line, a dot per category."""

    series: Series = field(default_factory=lambda: Series("area", "", ()))

    def _series(self) -> list[Series]:
        return [self.series]

    def _highest(self) -> float:
        return max(self.series.values, default=0.0)

    def _marks(self, y: _Scale) -> list[str]:
        points = [
            (MARGIN_LEFT + (i + 0.5) * self.slot, y(v)) for i, v in enumerate(self.series.values)
        ]
        if not points:
            return []
        line = " ".join(f"{x:.1f},{py:.1f}" for x, py in points)
        area = f"{points[0][0]:.1f},{y.bottom:.1f} {line} {points[-1][0]:.1f},{y.bottom:.1f}"
        key = escape(self.series.key)
        parts = [
            f'<g class="chart-marks chart-{key}">',
            f'<polygon class="chart-area" points="{area}"/>',
            f'<polyline class="chart-line" points="{line}"/>',
        ]
        for (x, py), name, value in zip(points, self.names, self.series.values, strict=True):
            parts.append(
                f'<circle class="chart-dot" cx="{x:.1f}" cy="{py:.1f}" r="3">'
                f"<title>{escape(name)}: {number(value)} {escape(self.series.label.lower())}"
                "</title></circle>"
            )
        parts.append("</g>")
        return parts
