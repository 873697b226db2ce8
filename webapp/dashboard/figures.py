"""The dashboard's charts and plain-language figures, built from its numbers.

:func:`webapp.dashboard.selectors.site_dashboard` gives the numbers (the API returns them
as they are); this module says them the way the page does: charts with a sentence each,
durations in hours and days, dates as "Mon 3 Jun".
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.utils.safestring import SafeString

from webapp.dashboard.charts import AreaChart, BarChart, Series, table_html

#: Short names of the waiting-time buckets under the histogram's bars (tables say them whole).
AXIS_WAIT_LABELS = {
    "under 1 hour": "< 1 h",
    "1 to 6 hours": "1-6 h",
    "6 to 24 hours": "6-24 h",
    "1 to 3 days": "1-3 days",
    "3 to 7 days": "3-7 days",
    "over 7 days": "> 7 days",
}


def short_day(day: date) -> str:
    return f"{day.day} {day:%b}"


def long_day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def plain_duration(seconds: float | None) -> str:
    """``5400`` -> "1 hour 30 minutes"; None -> "—"."""
    if seconds is None:
        return "—"
    minutes = int(seconds // 60)
    if minutes < 1:
        return "under a minute"

    def unit(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    if minutes < 60:
        return unit(minutes, "minute")
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return unit(hours, "hour") + (f" {unit(minutes, 'minute')}" if minutes else "")
    days, hours = divmod(hours, 24)
    return unit(days, "day") + (f" {unit(hours, 'hour')}" if hours else "")


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def daily_flags_chart(days: list[dict[str, Any]]) -> BarChart:
    dates = [row["date"] for row in days]
    opened = tuple(row["opened"] for row in days)
    confirmed = tuple(row["confirmed"] for row in days)
    rejected = tuple(row["rejected"] for row in days)
    summary = (
        f"Over the last {len(days)} days {_count(sum(opened), 'flag was', 'flags were')} "
        f"opened, {sum(confirmed)} confirmed as anomalies and {sum(rejected)} rejected "
        "as normal."
    )
    if sum(opened):
        busiest = max(range(len(days)), key=lambda i: (opened[i], i))
        summary += f" Most were opened on {long_day(dates[busiest])} ({opened[busiest]})."
    return BarChart(
        chart_id="chart-flags-daily",
        title=f"Flags opened and decided per day, last {len(days)} days",
        summary=summary,
        categories=[short_day(d) for d in dates],
        long_categories=[long_day(d) for d in dates],
        row_header="Day",
        label_every=5,
        groups=[
            [Series("opened", "Opened", opened)],
            [
                Series("confirmed", "Confirmed (anomaly)", confirmed),
                Series("rejected", "Rejected (normal)", rejected),
            ],
        ],
    )


def waiting_chart(days: list[dict[str, Any]]) -> AreaChart:
    dates = [row["date"] for row in days]
    values = tuple(row["pending_at_end"] for row in days)
    most = max(range(len(days)), key=lambda i: (values[i], i))
    summary = (
        f"Flags waiting for review at the end of each day: {values[0]} on "
        f"{long_day(dates[0])}, {values[-1]} today; at most {values[most]} "
        f"({long_day(dates[most])})."
    )
    return AreaChart(
        chart_id="chart-flags-waiting",
        title=f"Flags waiting for review at the end of each day, last {len(days)} days",
        summary=summary,
        categories=[short_day(d) for d in dates],
        long_categories=[long_day(d) for d in dates],
        row_header="Day",
        label_every=7,
        width=460,
        height=220,
        series=Series("pending", "Waiting", values),
    )


def waiting_histogram(waiting: dict[str, Any]) -> BarChart:
    buckets = waiting["histogram"]
    counts = tuple(b["count"] for b in buckets)
    n = waiting["decided"]
    if n:
        parts = [f"{b['count']} {b['label']}" for b in buckets if b["count"]]
        summary = (
            f"Of the {_count(n, 'flag')} decided in the last {waiting['window_days']} days, "
            f"{', '.join(parts)}. Half waited less than {plain_duration(waiting['median_s'])}."
        )
    else:
        summary = f"No flag was decided in the last {waiting['window_days']} days."
    return BarChart(
        chart_id="chart-waiting-times",
        title="How long decided flags had waited",
        summary=summary,
        categories=[AXIS_WAIT_LABELS.get(b["label"], b["label"]) for b in buckets],
        long_categories=[b["label"] for b in buckets],
        row_header="Waited",
        width=460,
        height=200,
        groups=[[Series("wait", "Flags", counts)]],
    )


def reviewer_charts(reviewers: dict[str, Any]) -> list[dict[str, Any]]:
    """One small chart per reviewer, on one shared scale (small multiples)."""
    dates = reviewers["days"]
    rows = reviewers["reviewers"]
    top = max(
        (c + r for p in rows for c, r in zip(p["confirmed"], p["rejected"], strict=True)), default=0
    )
    charts = []
    for i, person in enumerate(rows):
        name = person["reviewer"] or "a deleted account"
        per_day = [c + r for c, r in zip(person["confirmed"], person["rejected"], strict=True)]
        busiest = max(range(len(dates)), key=lambda d: (per_day[d], d))
        summary = (
            f"{name}: {_count(person['total'], 'decision')} in the last {len(dates)} days "
            f"({sum(person['confirmed'])} confirmed, {sum(person['rejected'])} rejected); "
            f"most on {long_day(dates[busiest])} ({per_day[busiest]})."
        )
        chart = BarChart(
            chart_id=f"chart-reviewer-{i}",
            title=f"Decisions of {name} per day",
            summary=summary,
            categories=[short_day(d) for d in dates],
            long_categories=[long_day(d) for d in dates],
            width=320,
            height=120,
            label_every=len(dates) - 1 or 1,
            top=top,
            css_class="chart-small",
            groups=[
                [
                    Series("confirmed", "Confirmed", tuple(person["confirmed"])),
                    Series("rejected", "Rejected", tuple(person["rejected"])),
                ]
            ],
        )
        charts.append({"name": name, "total": person["total"], "chart": chart})
    return charts


def reviewer_table(reviewers: dict[str, Any]) -> SafeString:
    """Reviewers x days: decisions per day (confirmed + rejected) and the total."""
    dates = reviewers["days"]
    return table_html(
        caption=f"Decisions per reviewer per day, last {len(dates)} days",
        row_header="Reviewer",
        columns=[*(short_day(d) for d in dates), "Total"],
        rows=[
            (
                person["reviewer"] or "a deleted account",
                [
                    *(c + r for c, r in zip(person["confirmed"], person["rejected"], strict=True)),
                    person["total"],
                ],
            )
            for person in reviewers["reviewers"]
        ],
    )


def new_photos_sentence(photos: dict[str, int]) -> str:
    """``{"to_check": 3, "training": 0, "videos": 1}`` -> "3 new photos to check and 1 new
    video"; "" when there is nothing new."""
    parts = []
    if photos["to_check"]:
        parts.append(f"{_count(photos['to_check'], 'new photo')} to check")
    if photos["training"]:
        parts.append(f"{_count(photos['training'], 'new photo')} of what is normal (for training)")
    if photos["videos"]:
        parts.append(_count(photos["videos"], "new video"))
    return " and ".join(parts)


def decisions_sentence(person: dict[str, Any]) -> str:
    """``{"confirmed": 2, "rejected": 1, "undone": 0}`` -> "confirmed 2 flags as anomalies
    and rejected 1 as normal"."""
    parts = []
    if person["confirmed"]:
        n = person["confirmed"]
        parts.append(f"confirmed {_count(n, 'flag')} as anomal{'y' if n == 1 else 'ies'}")
    if person["rejected"]:
        n = person["rejected"]
        noun = "" if parts else (" flag" if n == 1 else " flags")
        parts.append(f"rejected {n}{noun} as normal")
    if person["undone"]:
        parts.append(f"undid {_count(person['undone'], 'decision')}")
    if len(parts) > 1:
        return ", ".join(parts[:-1]) + " and " + parts[-1]
    return parts[0] if parts else "made no decision"


def dashboard_figures(data: dict[str, Any]) -> dict[str, Any]:
    """What the page shows beyond the raw numbers: charts and plain durations."""
    days = data["flags"]["days"]
    waiting = data["waiting"]
    changes = data["since_last_visit"]
    return {
        "flags_daily": daily_flags_chart(days),
        "flags_waiting": waiting_chart(days),
        "waiting_histogram": waiting_histogram(waiting),
        "reviewer_charts": reviewer_charts(data["reviewers"]),
        "reviewer_table": reviewer_table(data["reviewers"]),
        "new_photos": new_photos_sentence(changes["photos"]) if changes["photos"] else "",
        "decisions_by_others": [
            (person["reviewer"], decisions_sentence(person))
            for person in changes["decisions_by_others"]
        ],
        "median_wait": plain_duration(waiting["median_s"]),
        "p90_wait": plain_duration(waiting["p90_s"]),
        "oldest_pending": plain_duration(data["flags"]["oldest_pending_s"]),
    }
