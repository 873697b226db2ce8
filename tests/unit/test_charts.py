"""The SVG charts module: well-formed, labelled, to scale, escaped, and its table's numbers."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from webapp.dashboard.charts import AreaChart, BarChart, Series, nice_ticks
from webapp.dashboard.figures import decisions_sentence, plain_duration

SVG = "{http://www.w3.org/2000/svg}"


def stacked() -> BarChart:
    return BarChart(
        chart_id="c1",
        title="Flags per day",
        summary="3 opened, 2 decided.",
        categories=["1 Jun", "2 Jun"],
        long_categories=["Sun 1 Jun", "Mon 2 Jun"],
        row_header="Day",
        groups=[
            [Series("opened", "Opened", (1, 2))],
            [Series("confirmed", "Confirmed", (0, 1)), Series("rejected", "Rejected", (1, 0))],
        ],
    )


@pytest.mark.parametrize(
    ("highest", "ticks"),
    [
        (0, [0, 1]),
        (1, [0, 1]),
        (3, [0, 1, 2, 3]),
        (7, [0, 2, 4, 6, 8]),
        (42, [0, 10, 20, 30, 40, 50]),
    ],
)
def test_axis_ticks_are_round_and_cover_the_data(highest, ticks):  # type: ignore[no-untyped-def]
    assert nice_ticks(highest) == ticks


def test_a_bar_chart_is_a_labelled_image_with_bars_to_scale():  # type: ignore[no-untyped-def]
    root = ET.fromstring(str(stacked().svg()))
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.find(f"{SVG}title").text == "Flags per day"
    assert root.find(f"{SVG}desc").text == "3 opened, 2 decided."
    bars = {
        rect.find(f"{SVG}title").text: float(rect.get("height")) for rect in root.iter(f"{SVG}rect")
    }
    # zero values draw no bar; the rest are proportional (axis 0..2)
    assert set(bars) == {
        "Sun 1 Jun: 1 opened",
        "Mon 2 Jun: 2 opened",
        "Sun 1 Jun: 1 rejected",
        "Mon 2 Jun: 1 confirmed",
    }
    assert bars["Mon 2 Jun: 2 opened"] == pytest.approx(2 * bars["Sun 1 Jun: 1 opened"])


def test_the_figure_has_a_caption_legend_and_the_numbers_in_a_table():  # type: ignore[no-untyped-def]
    html = str(stacked().render())
    assert '<figcaption class="chart-caption">Flags per day</figcaption>' in html
    assert html.count('class="chart-swatch') == 3
    table = html[html.index("<details") :]
    assert "<summary>The numbers as a table</summary>" in table
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</th>(.*?)</tr>", table)
    assert [(day, re.findall(r">(\d+)<", cells)) for day, cells in rows] == [
        ("Sun 1 Jun", ["1", "0", "1"]),
        ("Mon 2 Jun", ["2", "1", "0"]),
    ]


def test_text_from_users_is_escaped():  # type: ignore[no-untyped-def]
    chart = AreaChart(
        chart_id="c2",
        title='Decisions of <script>alert("x")</script>',
        summary="a & b",
        categories=["<b>"],
        series=Series("pending", "Waiting", (3,)),
    )
    html = str(chart.render())
    assert "<script>" not in html and "<b>" not in html
    root = ET.fromstring(str(chart.svg()))  # still well-formed
    assert root.find(f"{SVG}desc").text == "a & b"
    assert len(list(root.iter(f"{SVG}circle"))) == 1


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (20, "under a minute"),
        (60, "1 minute"),
        (45 * 60, "45 minutes"),
        (3600, "1 hour"),
        (5400, "1 hour 30 minutes"),
        (86400, "1 day"),
        (2 * 86400 + 3 * 3600 + 59, "2 days 3 hours"),
    ],
)
def test_durations_in_plain_words(seconds, text):  # type: ignore[no-untyped-def]
    assert plain_duration(seconds) == text


@pytest.mark.parametrize(
    ("confirmed", "rejected", "undone", "text"),
    [
        (1, 0, 0, "confirmed 1 flag as anomaly"),
        (0, 2, 0, "rejected 2 flags as normal"),
        (3, 1, 0, "confirmed 3 flags as anomalies and rejected 1 as normal"),
        (2, 1, 1, "confirmed 2 flags as anomalies, rejected 1 as normal and undid 1 decision"),
        (0, 0, 2, "undid 2 decisions"),
    ],
)
def test_what_others_decided_in_a_sentence(confirmed, rejected, undone, text):  # type: ignore[no-untyped-def]
    person = {"confirmed": confirmed, "rejected": rejected, "undone": undone}
    assert decisions_sentence(person) == text
