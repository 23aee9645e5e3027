"""The PDF report for a period and area: headline counts, charts, data quality, the model.

fpdf2 lays out the pages and matplotlib draws the charts as PNGs (Plotly's static export needs a
browser download). Text uses the PDF core font, so it is limited to Latin-1: `_latin1` folds
the few typographic characters the dashboard uses elsewhere.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede any pyplot import anywhere in the process
import pandas as pd  # noqa: E402
from fpdf import FPDF  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from dashboard import queries, snapshot  # noqa: E402
from dashboard.filters import CrashFilter  # noqa: E402
from dashboard.model_view import ModelView, current_view  # noqa: E402
from dashboard.ui import missing_note, people_gap  # noqa: E402

WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
_FOLD = str.maketrans({"…": "...", "–": "-", "—": "-", "×": "x", "≥": ">=", "≤": "<=", "·": "-", "→": "->"})


def _latin1(text: Any) -> str:
    return str(text).translate(_FOLD).encode("latin-1", "replace").decode("latin-1")


class _Report(FPDF):
    def __init__(self, subtitle: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.subtitle = subtitle
        self.set_auto_page_break(auto=True, margin=15)
        self.set_title("Chicago traffic crashes report")
        self.set_creator("chicago-crashes dashboard")

    def header(self) -> None:
        self.set_font("Helvetica", "B", 9)
        self.set_text_color(110)
        self.cell(0, 6, _latin1(f"Chicago traffic crashes - {self.subtitle}"), new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", "", 8)
        self.cell(0, 8, f"page {self.page_no()}/{{nb}}", align="C")

    def heading(self, text: str) -> None:
        self.set_font("Helvetica", "B", 13)
        self.ln(2)
        self.cell(0, 8, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", "", 9)

    def paragraph(self, text: str) -> None:
        self.set_font("Helvetica", "", 9)
        self.multi_cell(0, 5, _latin1(text), new_x="LMARGIN", new_y="NEXT")

    def grid(self, header: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[int] | None = None) -> None:
        self.set_font("Helvetica", "", 8)
        with self.table(col_widths=widths, text_align="LEFT", line_height=5) as table:
            for values in (header, *rows):
                row = table.row()
                for value in values:
                    row.cell(_latin1(value))
        self.ln(2)

    def chart(self, fig: Figure, height_mm: float = 70) -> None:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=140, bbox_inches="tight")
        buf.seek(0)
        self.image(buf, w=self.epw, h=height_mm, keep_aspect_ratio=True)
        self.ln(2)


def _short(text: Any, keep: int = 24) -> str:
    """Socrata keys are 128 hex digits: the start identifies the record in a report."""
    if not isinstance(text, str):
        return ""
    return text if len(text) <= keep else f"{text[:keep]}..."


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _over_time_chart(df: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(8, 3.0))
    ax = fig.subplots()
    ax.bar(df["period"], df["crashes"], width=5, color="#4c78a8", label="crashes per week")
    ax.set_ylabel("crashes per week")
    share = ax.twinx()
    share.plot(df["period"], df["hit_and_run"] / df["crashes"].where(df["crashes"] > 0), color="#e45756")
    share.set_ylabel("hit-and-run share")
    share.set_ylim(bottom=0)
    ax.set_title("Crashes per week (bars) and hit-and-run share (line)")
    fig.autofmt_xdate()
    return fig


def _heatmap_chart(df: pd.DataFrame) -> Figure:
    grid = (
        df.pivot_table(index="day_of_week", columns="hour", values="crashes", aggfunc="sum")
        .reindex(index=range(1, 8), columns=range(24))
        .fillna(0)
    )
    fig = Figure(figsize=(8, 2.8))
    ax = fig.subplots()
    image = ax.imshow(grid.values, aspect="auto", cmap="Blues")
    ax.set_yticks(range(7), WEEKDAYS)
    ax.set_xticks(range(0, 24, 2))
    ax.set_xlabel("hour")
    ax.set_title("Crashes by hour and weekday")
    fig.colorbar(image, ax=ax, label="crashes")
    return fig


def _bars_chart(labels: Sequence[str], values: Sequence[float], title: str, percent: bool = False) -> Figure:
    fig = Figure(figsize=(8, 0.9 + 0.32 * len(labels)))
    ax = fig.subplots()
    ax.barh([str(x)[:40] for x in labels], values, color="#e45756" if percent else "#f58518")
    ax.invert_yaxis()
    ax.set_title(title)
    if percent:
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    return fig


def _model_section(pdf: _Report, view: ModelView | None, f: CrashFilter) -> None:
    pdf.heading("The hit-and-run model")
    if view is None:
        pdf.paragraph("No model is registered yet: the next pipeline run trains one.")
        return
    pdf.paragraph(
        f"Current model {view.version}, trained {view.created or 'at an unknown time'}; decision threshold "
        f"{_fmt(view.threshold)}. Metrics are on the out-of-time test year {view.test_year or '(unknown)'}, "
        "which the model never saw in training or tuning, beside the baselines on the same rows."
    )
    table = view.metrics_table()
    if not table.empty:
        header = ["split", "model", *[c for c in table.columns if c not in ("split", "model")]]
        pdf.grid(header, [[_fmt(row[c]) for c in header] for _, row in table.iterrows()])
    flagged = queries.flagged_in_period(f)
    if flagged["scored"]:
        pdf.paragraph(
            f"In the report period {flagged['scored']:,} crashes are scored; the model flags "
            f"{flagged['flagged']:,} as likely hit-and-runs ({flagged['flagged'] / flagged['scored']:.1%}), "
            f"of which {flagged['flagged_true']:,} are recorded as hit-and-runs."
        )


def build_report(f: CrashFilter) -> bytes:
    """The whole report as PDF bytes."""
    published = snapshot.published() or datetime.now(UTC)
    pdf = _Report(f.describe())
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 12, "Chicago traffic crashes report", new_x="LMARGIN", new_y="NEXT")
    pdf.paragraph(
        f"Period {f.start:%Y-%m-%d} to {f.end:%Y-%m-%d} (crash date, Chicago local time); area: "
        f"{f.describe().split(' · ', 1)[1]}. Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from the gold "
        f"snapshot published {published:%Y-%m-%d %H:%M} UTC."
    )

    h = queries.headline(f)
    pdf.heading("Headline counts")
    share = f"{h['hit_and_run'] / h['crashes']:.1%}" if h["crashes"] else "-"
    pdf.grid(
        ["measure", "value"],
        [
            ["Crashes", f"{h['crashes']:,}"],
            ["Hit-and-run crashes", f"{h['hit_and_run']:,} ({share})"],
            ["Crashes with injuries", f"{h['injury_crashes']:,}"],
            ["People injured", f"{h['injured']:,}"],
            ["People killed", f"{h['killed']:,}"],
        ],
        widths=(60, 60),
    )
    if h["crashes"]:
        pdf.chart(_over_time_chart(queries.over_time(f, "week")))
        pdf.chart(_heatmap_chart(queries.hour_weekday(f)), height_mm=60)
        shares = queries.hit_and_run_by(f)
        lighting = shares[shares["dimension"] == "lighting_condition"].nlargest(8, "crashes")
        pdf.chart(
            _bars_chart(lighting["value"], lighting["hit_and_run_share"], "Hit-and-run share by lighting", True),
            height_mm=55,
        )
        pdf.heading("Injuries by road user")
        if gap := people_gap(f):  # people not loaded, or for too few of the period's crashes
            pdf.paragraph(gap)
        else:
            injuries = queries.injuries_by_road_user(f)
            pdf.grid(
                ["road user", "people", "injured", "incapacitated", "killed"],
                [[r.road_user, r.people, r.injured, r.incapacitated, r.killed] for r in injuries.itertuples()],
            )
    else:
        pdf.paragraph("No crashes in this period and area.")

    pdf.add_page()
    pdf.heading("Data quality")
    fresh = queries.freshness()
    pdf.grid(
        ["dataset", "rows", "garbled rows", "orphans", "bad locations", "newest crash", "last load (UTC)"],
        [
            [
                r.dataset,
                r.row_count if r.is_loaded else "not loaded",
                r.garbled_row_count,
                r.orphan_row_count,
                r.invalid_location_count,
                _fmt(r.latest_crash_ts),
                _fmt(r.last_loaded_at),
            ]
            for r in fresh.itertuples()
        ],
    )
    if note := missing_note(fresh.loc[~fresh["is_loaded"], "dataset"].tolist()):
        pdf.paragraph(note)
    rejected, total = queries.dq_rejected(20)
    pdf.paragraph(
        f"Rejected records: {total:,} rows kept in raw but left out of gold (a value they need is missing "
        "or cannot be typed)" + (f"; the newest {len(rejected)}:" if total else ".")
    )
    if total:
        pdf.grid(
            ["dataset", "key", "column", "value", "reason", "load"],
            [
                [r.dataset, _short(r.record_key), r.column_name, _short(r.raw_value), r.reason, r.load_id]
                for r in rejected.itertuples()
            ],
            widths=(18, 50, 28, 30, 36, 28),
        )
    expectations = queries.dq_expectations()
    failed = expectations[expectations["loads_failed"] > 0]
    pdf.paragraph(
        f"Great Expectations gate: {len(expectations)} expectations checked on every load; "
        f"{len(failed)} failed on at least one load."
    )
    if len(expectations):
        pdf.grid(
            ["dataset", "expectation", "column", "loads", "failed", "unexpected rows"],
            [
                [
                    r.dataset,
                    r.expectation.removeprefix("Expect"),
                    r.column_name or "",
                    r.loads_checked,
                    r.loads_failed,
                    r.unexpected_rows,
                ]
                for r in expectations.head(30).itertuples()
            ],
            widths=(18, 62, 40, 14, 14, 24),
        )
    worst = queries.dq_columns(10)
    pdf.paragraph("Columns with the most garbled (present but untypeable) or missing values:")
    pdf.grid(
        ["dataset", "column", "missing", "missing share", "garbled"],
        [[r.dataset, r.column_name, r.null_count, f"{r.null_share:.1%}", r.garbled_count] for r in worst.itertuples()],
    )

    pdf.add_page()
    _model_section(pdf, current_view(), f)
    return bytes(pdf.output())
