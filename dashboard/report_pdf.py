"""The PDF report for a period and area, as a manager reads it: headline counts against the
previous period of the same length, crashes per week, where they happened (a map on the City's
boundaries and the districts and beats ranked), primary causes, data quality in plain words, and
the model as risk bands that rank crashes for follow-up.

fpdf2 lays out the pages and matplotlib draws the charts as PNGs (Plotly's static export needs a
browser download). Tables are drawn cell by cell here rather than with fpdf2's `table()`: column
widths come from the text (a column is never narrower than its longest header word, so headers
wrap between words only) and it is about ten times faster. Headings keep the block that follows
them on their page, and sections flow on rather than each starting a page, so no heading is
stranded at a page foot and no page is left near-empty. Text uses the PDF core font, so it is
limited to Latin-1: `_latin1` folds the few typographic characters the dashboard uses elsewhere.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math
import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede any pyplot import anywhere in the process
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import shapely  # noqa: E402
from fpdf import FPDF  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402

from crashes import boundaries  # noqa: E402
from dashboard import queries, snapshot  # noqa: E402
from dashboard.filters import CrashFilter  # noqa: E402
from dashboard.model_view import ModelView, current_view  # noqa: E402
from dashboard.ui import missing_note, people_gap  # noqa: E402

WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
DPI = 100
FONT_PT = 8
LINE_MM = 4.0
PAD_MM = 1.2
# A beat's hit-and-run share over fewer crashes than this is noise: drawn grey, not coloured.
MIN_CRASHES_FOR_SHARE = 10
TOP_BEATS = 15
TOP_CAUSES = 10
_FOLD = str.maketrans({"…": "...", "–": "-", "—": "-", "×": "x", "≥": ">=", "≤": "<=", "·": "-", "→": "->"})
_NUMBER = re.compile(r"^[-+]?[\d,.]+( ?%| pts|x)?$|^-$")


def _latin1(text: Any) -> str:
    return str(text).translate(_FOLD).encode("latin-1", "replace").decode("latin-1")


class _Report(FPDF):
    def __init__(self, subtitle: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.subtitle = subtitle
        self.set_auto_page_break(auto=True, margin=15)
        self.set_title("Chicago traffic crashes report")
        self.set_creator("chicago-crashes dashboard")
        self._widths_seen: dict[tuple[str, float, str], float] = {}

    def width(self, text: str) -> float:
        """`get_string_width`, remembered: fpdf2 sums each glyph in Python, and tables measure
        the same words many times (wrapping, column widths, the scratch layout)."""
        key = (self.font_style, self.font_size_pt, text)
        if key not in self._widths_seen:
            self._widths_seen[key] = self.get_string_width(text)
        return self._widths_seen[key]

    def header(self) -> None:
        self.set_font("Helvetica", "B", 9)
        self.set_text_color(110)
        self.cell(0, 6, _latin1(f"Chicago traffic crashes - {self.subtitle}"), new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", "", 8)
        self.cell(0, 8, f"page {self.page_no()}/{{nb}}", align="C")

    def keep(self, height_mm: float) -> None:
        """Start a new page unless `height_mm` more fits on this one."""
        if self.will_page_break(height_mm):
            self.add_page()

    def heading(self, text: str, keep_mm: float = 30) -> None:
        """A heading, on the page where at least `keep_mm` of what follows it fits too."""
        self.keep(10 + keep_mm)
        self.set_font("Helvetica", "B", 13)
        self.ln(2)
        self.cell(0, 8, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", "", 9)

    def paragraph(self, text: str) -> None:
        self.set_font("Helvetica", "", 9)
        self.multi_cell(0, 4.6, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        self.ln(1)

    # ------------------------------------------------------------------ tables
    def _lines(self, text: str, width: float) -> list[str]:
        """Greedy word wrap to `width` mm; a word wider than that is cut only as a last resort."""
        lines: list[str] = []
        current = ""
        for word in text.split(" "):
            candidate = f"{current} {word}" if current else word
            if self.width(candidate) <= width or not current:
                current = candidate
            else:
                lines.append(current)
                current = word
            while self.width(current) > width and len(current) > 1:
                cut = max(1, int(len(current) * width / self.width(current)))
                lines.append(current[:cut])
                current = current[cut:]
        return [*lines, current]

    def _widths(self, header: list[str], rows: list[list[str]]) -> list[float]:
        """Natural widths when the table fits the page; else every column gets its longest header
        word (and, up to 40 mm, its longest cell word) and the rest is shared by need."""
        self.set_font("Helvetica", "B", FONT_PT)
        head_full = [self.width(h) for h in header]
        head_word = [max(self.width(w) for w in h.split() or [""]) for h in header]
        self.set_font("Helvetica", "", FONT_PT)
        cell_full = [max((self.width(r[i]) for r in rows), default=0) for i in range(len(header))]
        cell_word = [
            min(40.0, max((self.width(w) for r in rows for w in r[i].split()), default=0)) for i in range(len(header))
        ]
        pad = 2 * PAD_MM + 0.5
        natural = [max(h, c) + pad for h, c in zip(head_full, cell_full, strict=True)]
        if sum(natural) <= self.epw:
            return natural
        minimum = [max(h, c) + pad for h, c in zip(head_word, cell_word, strict=True)]
        if sum(minimum) >= self.epw:
            return [m * self.epw / sum(minimum) for m in minimum]
        # Water-filling: a column that needs less than a fair share of what is left gets its
        # natural width; the wide ones share the rest, never below their minimum.
        widths = list(minimum)
        open_ = set(range(len(header)))
        while open_:
            spare = self.epw - sum(widths[i] for i in range(len(header)) if i not in open_)
            fair = spare / len(open_)
            settled = {i for i in open_ if natural[i] <= fair}
            if not settled:
                extra = spare - sum(minimum[i] for i in open_)
                need = sum(natural[i] - minimum[i] for i in open_)
                for i in open_:
                    widths[i] = minimum[i] + extra * (natural[i] - minimum[i]) / need
                break
            for i in settled:
                widths[i] = natural[i]
            open_ -= settled
        return widths

    def _row(self, cells: list[str], widths: list[float], right: list[bool], bold: bool) -> None:
        self.set_font("Helvetica", "B" if bold else "", FONT_PT)
        wrapped = [self._lines(c, w - 2 * PAD_MM) for c, w in zip(cells, widths, strict=True)]
        height = max(len(w) for w in wrapped) * LINE_MM + 1
        if self.will_page_break(height):
            self.add_page()
            if not bold:
                self._row(self._header, widths, right, bold=True)
            self.set_font("Helvetica", "B" if bold else "", FONT_PT)
        x, y = self.l_margin, self.get_y()
        for lines, width, align_right in zip(wrapped, widths, right, strict=True):
            for k, line in enumerate(lines):
                self.set_xy(x + PAD_MM, y + 0.5 + k * LINE_MM)
                self.cell(width - 2 * PAD_MM, LINE_MM, line, align="R" if align_right else "L")
            x += width
        self.set_draw_color(90 if bold else 210)
        self.line(self.l_margin, y + height, self.l_margin + sum(widths), y + height)
        self.set_xy(self.l_margin, y + height)

    def grid(self, header: Sequence[str], rows: Sequence[Sequence[Any]], intro: str | None = None) -> None:
        """A table whose header row repeats on every page it runs onto; numbers align right. An
        `intro` paragraph stays on the page of the table's first rows."""
        head = [_latin1(h) for h in header]
        body = [[_latin1(_fmt(v)) for v in row] for row in rows]
        widths = self._widths(head, body)
        right = [bool(body) and all(_NUMBER.match(r[i]) for r in body) for i in range(len(head))]
        self._header = head
        intro_mm = 0.0
        if intro:
            self.set_font("Helvetica", "", 9)
            intro_mm = self.multi_cell(0, 4.6, _latin1(intro), dry_run=True, output="HEIGHT") + 1
        self.keep(intro_mm + 2 * LINE_MM + 2 + (LINE_MM + 1) * min(3, len(body)))  # the header with a few rows
        if intro:
            self.paragraph(intro)
        self._row(head, widths, right, bold=True)
        for row in body:
            self._row(row, widths, right, bold=False)
        self.ln(2)

    def chart(self, fig: Figure) -> None:
        """The figure across the page's width, on one page."""
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, pil_kwargs={"compress_level": 1})
        buf.seek(0)
        width, height = fig.get_size_inches()
        height_mm = self.epw * height / width
        self.keep(height_mm)
        self.image(buf, w=self.epw, h=height_mm)
        self.ln(1)


def _chart_height(fig_size: tuple[float, float], pdf: _Report) -> float:
    return pdf.epw * fig_size[1] / fig_size[0]


def _short(text: Any, keep: int = 24) -> str:
    """Socrata keys are 128 hex digits: the start identifies the record in a report."""
    if not isinstance(text, str):
        return ""
    return text if len(text) <= keep else f"{text[:keep]}..."


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, pd.Timestamp | datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        if float(value).is_integer() and abs(value) < 1e15:  # a count summed as a double
            return f"{int(value):,}"
        return f"{value:.{digits}f}"
    return str(value)


def _fixed(value: Any, digits: int = 3) -> str:
    """A metric, always with its decimals (1.0 is a lift, not a count)."""
    return "-" if value is None or pd.isna(value) else f"{float(value):.{digits}f}"


def _change(now: float, before: float | None) -> str:
    if before is None or pd.isna(before) or before == 0:
        return "-"
    return f"{(now - before) / before * 100:+.1f} %"


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def _sentence(text: str) -> str:
    """'FAILING TO YIELD RIGHT-OF-WAY' -> 'Failing to yield right-of-way'."""
    return text.capitalize()


# ------------------------------------------------------------------ the previous period
def previous_period(f: CrashFilter) -> CrashFilter:
    """The same number of days just before the period, over the same area."""
    days = (f.end - f.start).days + 1
    return dataclasses.replace(f, start=f.start - timedelta(days=days), end=f.start - timedelta(days=1))


# ------------------------------------------------------------------ charts
def partial_weeks(periods: Sequence[date], first: date, last: date) -> dict[date, int]:
    """The weeks (by their Monday) that the days `first`..`last` cover only in part, with how
    many of their 7 days they cover."""
    partial = {}
    for monday in periods:
        days = (min(monday + timedelta(days=6), last) - max(monday, first)).days + 1
        if days < 7:
            partial[monday] = max(days, 0)
    return partial


def _over_time_chart(df: pd.DataFrame, partial: dict[date, int]) -> Figure:
    fig = Figure(figsize=(8, 2.8))
    fig.subplots_adjust(left=0.08, right=0.91, top=0.9, bottom=0.17)
    ax = fig.subplots()
    is_partial = df["period"].isin(list(partial))
    ax.bar(df["period"], df["crashes"], width=5, color=np.where(is_partial, "#c6d4e6", "#4c78a8"))
    if is_partial.any():
        ax.bar(
            df.loc[is_partial, "period"],
            df.loc[is_partial, "crashes"],
            width=5,
            color="none",
            edgecolor="#4c78a8",
            hatch="///",
            label="partial week",
        )
        ax.legend(loc="lower left", fontsize=7, frameon=False)
    ax.set_ylabel("crashes per week")
    share = ax.twinx()
    share.plot(df["period"], df["hit_and_run"] / df["crashes"].where(df["crashes"] > 0), color="#e45756")
    share.set_ylabel("hit-and-run share")
    share.set_ylim(bottom=0)
    share.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_title("Crashes per week (bars, week starting Monday) and hit-and-run share (line)", fontsize=9)
    for label in ax.get_xticklabels():
        label.set_rotation(20)
    return fig


def _heatmap_chart(df: pd.DataFrame) -> Figure:
    grid = (
        df.pivot_table(index="day_of_week", columns="hour", values="crashes", aggfunc="sum")
        .reindex(index=range(1, 8), columns=range(24))
        .fillna(0)
    )
    fig = Figure(figsize=(8, 2.4))
    fig.subplots_adjust(left=0.07, right=1.02, top=0.89, bottom=0.17)
    ax = fig.subplots()
    image = ax.imshow(grid.values, aspect="auto", cmap="Blues")
    ax.set_yticks(range(7), WEEKDAYS)
    ax.set_xticks(range(0, 24, 2))
    ax.set_xlabel("hour")
    ax.set_title("Crashes by hour and weekday", fontsize=9)
    fig.colorbar(image, ax=ax, label="crashes")
    return fig


def _bars_chart(labels: Sequence[str], values: Sequence[float]) -> Figure:
    height = 0.7 + 0.25 * len(labels)
    fig = Figure(figsize=(8, height))
    fig.subplots_adjust(left=0.3, right=0.97, top=1 - 0.1 / height, bottom=0.3 / height)
    ax = fig.subplots()
    ax.barh([_sentence(str(x))[:40] for x in labels], values, color="#e45756")
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    return fig


@functools.cache
def _outlines(layer: str) -> tuple[list[str], list[list[np.ndarray]], np.ndarray]:
    """Per feature of a packaged boundary layer: its id, its outer rings and a point inside it."""
    features = boundaries.feature_collection(layer)["features"]
    ids, rings = [], []
    for feature in features:
        geometry = feature["geometry"]
        polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
        ids.append(str(feature["properties"]["id"]))
        rings.append([np.asarray(polygon[0]) for polygon in polygons])
    shapes = boundaries.layer(layer).polygons
    inside = shapely.get_coordinates(shapely.point_on_surface(shapes))
    return ids, rings, inside


def _area_panel(ax: Any, layer: str, values: dict[str, float], cmap: str, label: str, fmt: str) -> Any:
    ids, rings, _ = _outlines(layer)
    flat, colours_of = [], []
    for area_id, parts in zip(ids, rings, strict=True):
        for ring in parts:
            flat.append(ring)
            colours_of.append(values.get(area_id, np.nan))
    known = np.asarray(colours_of, dtype="float64")
    norm = Normalize(vmin=0, vmax=np.nanmax(known) if np.isfinite(known).any() and np.nanmax(known) > 0 else 1)
    colormap = matplotlib.colormaps[cmap]
    faces = [colormap(norm(v)) if np.isfinite(v) else (0.9, 0.9, 0.9, 1.0) for v in known]
    ax.add_collection(PolyCollection(flat, facecolors=faces, edgecolors="#555555", linewidths=0.25))
    ax.autoscale_view()
    ax.set_aspect(1 / math.cos(math.radians(41.84)))
    ax.set_axis_off()
    mappable = matplotlib.cm.ScalarMappable(norm=norm, cmap=colormap)
    colorbar = ax.figure.colorbar(mappable, ax=ax, shrink=0.6, label=label, format=fmt)
    colorbar.ax.tick_params(labelsize=7)
    return ax


def _map_chart(districts: pd.DataFrame, beats: pd.DataFrame) -> Figure:
    """Crashes per police district (numbered) and hit-and-run share per beat, on the City's
    boundaries; district outlines drawn over the beats."""
    fig = Figure(figsize=(8, 4.6))
    fig.subplots_adjust(left=0.0, right=1.0, top=0.93, bottom=0.02, wspace=0.02)
    left, right = fig.subplots(1, 2)
    crashes = {str(int(k)): float(v) for k, v in zip(districts["id"], districts["crashes"], strict=True)}
    _area_panel(left, "police_districts", crashes, "Reds", "crashes", "{x:,.0f}")
    ids, _, inside = _outlines("police_districts")
    for area_id, (x, y) in zip(ids, inside, strict=True):
        left.text(x, y, area_id, ha="center", va="center", fontsize=6.5, weight="bold", color="#222222")
    left.set_title("Crashes per police district", fontsize=9)
    enough = beats["crashes"] >= MIN_CRASHES_FOR_SHARE
    share = {
        str(k).zfill(4): float(v) for k, v in zip(beats["id"][enough], beats["hit_and_run_share"][enough], strict=True)
    }
    _area_panel(right, "police_beats", share, "Purples", "hit-and-run share", PercentFormatter(1.0, decimals=0))
    _, district_rings, _ = _outlines("police_districts")
    right.add_collection(
        PolyCollection(
            [r for parts in district_rings for r in parts], facecolors="none", edgecolors="#111111", linewidths=0.6
        )
    )
    right.set_title(f"Hit-and-run share per beat (grey: under {MIN_CRASHES_FOR_SHARE} crashes)", fontsize=9)
    return fig


# ------------------------------------------------------------------ data quality in plain words
_COLUMN_WORDS = {
    "crash_ts": "crash time",
    "crash_date": "crash date",
    "latitude_num": "latitude",
    "longitude_num": "longitude",
    "latitude_parsed": "latitude",
    "hit_and_run_i": "the hit-and-run field",
    "intersection_related_i": "the intersection field",
    "crash_day_of_week": "weekday",
    "crash_record_id": "crash record id",
    "crash_unit_id": "unit id",
    "person_id": "person id",
}


def plain_check(expectation: str, column: str | None) -> str:
    """A Great Expectations check as a sentence: ('ExpectColumnValuesToBeUnique', 'person_id')
    -> 'person id is unique'."""
    name = _COLUMN_WORDS.get(column or "", (column or "the row").replace("_", " "))
    kind = expectation.removeprefix("Expect").removeprefix("ColumnValues")
    if kind == "ToNotBeNull":
        return f"{name} is filled in"
    if kind == "ToBeUnique":
        return f"{name} is unique"
    if kind == "ToMatchRegex":
        return f"{name} is a well-formed date and time"
    if kind == "ToBeBetween":
        if column in ("latitude_num", "longitude_num"):
            return f"{name} lies within Chicago"
        if column == "crash_ts":
            return "crash time is not in the future"
        return f"{name} lies in its allowed range"
    if kind == "ToBeInSet":
        return f"{name} is one of its allowed values"
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", kind).lower().strip()
    return f"{name}: {words}"


def _quality_rows(expectations: pd.DataFrame) -> list[list[str]]:
    """Per dataset, the checks that always passed in one row; each failing check in its own."""
    rows = []
    for dataset, checks in expectations.groupby("dataset", sort=True):
        failed = checks[checks["loads_failed"] > 0]
        passed = checks[checks["loads_failed"] == 0]
        for r in failed.itertuples():
            rows.append(
                [
                    dataset,
                    plain_check(r.expectation, r.column_name),
                    f"failed on {int(r.loads_failed):,} of {int(r.loads_checked):,} loads; "
                    f"{int(r.unexpected_rows or 0):,} rows did not meet it",
                ]
            )
        if len(passed):
            loads = int(passed["loads_checked"].max())
            described = "; ".join(
                dict.fromkeys(
                    plain_check(e, c) for e, c in zip(passed["expectation"], passed["column_name"], strict=True)
                )
            )
            rows.append([dataset, described, f"passed on every load ({loads:,} {'load' if loads == 1 else 'loads'})"])
    return rows


# ------------------------------------------------------------------ sections
def _headline_section(
    pdf: _Report, f: CrashFilter, before: CrashFilter, bounds: tuple[date, date] | None
) -> tuple[dict[str, int], bool]:
    h = queries.headline(f)
    has_before = bounds is not None and before.end >= bounds[0]
    p = queries.headline(before) if has_before else None
    pdf.heading("Headline counts", keep_mm=45)
    days = (f.end - f.start).days + 1
    if not has_before:
        pdf.paragraph(
            f"Gold holds no crashes before {bounds[0] if bounds else f.start:%Y-%m-%d}, so there is no previous "
            f"period {before.start:%Y-%m-%d} to {before.end:%Y-%m-%d} to compare with."
        )
    else:
        partly = bounds is not None and before.start < bounds[0]
        pdf.paragraph(
            f"Compared with the previous period {before.start:%Y-%m-%d} to {before.end:%Y-%m-%d} (the {days} days "
            "before, same area)"
            + (f"; gold starts on {bounds[0]:%Y-%m-%d}, so it covers that period only in part." if partly else ".")
        )

    def row(label: str, key: str) -> list[str]:
        return [label, f"{h[key]:,}", f"{p[key]:,}" if p else "-", _change(h[key], p[key] if p else None)]

    share_now = h["hit_and_run"] / h["crashes"] if h["crashes"] else None
    share_before = p["hit_and_run"] / p["crashes"] if p and p["crashes"] else None
    share_change = (
        f"{(share_now - share_before) * 100:+.1f} pts" if share_now is not None and share_before is not None else "-"
    )
    pdf.grid(
        ["measure", "this period", "previous period", "change"],
        [
            row("Crashes", "crashes"),
            row("Hit-and-run crashes", "hit_and_run"),
            [
                "Hit-and-run share",
                _share(h["hit_and_run"], h["crashes"]),
                _share(p["hit_and_run"], p["crashes"]) if p else "-",
                share_change,
            ],
            row("Crashes with injuries", "injury_crashes"),
            row("Injuries on crash records", "injured"),
            row("Deaths on crash records", "killed"),
        ],
    )
    return h, has_before


def _weekly_section(pdf: _Report, f: CrashFilter, bounds: tuple[date, date]) -> None:
    weekly = queries.over_time(f, "week")
    first, last = max(f.start, bounds[0]), min(f.end, bounds[1])
    partial = partial_weeks([pd.Timestamp(p).date() for p in weekly["period"]], first, last)
    weekly = weekly.assign(period=[pd.Timestamp(p).date() for p in weekly["period"]])
    pdf.heading("Crashes per week", keep_mm=_chart_height((8, 2.8), pdf) + 10)
    pdf.chart(_over_time_chart(weekly, partial))
    if partial:
        weeks = " and ".join(f"the week of {monday:%Y-%m-%d} ({days} of 7 days)" for monday, days in partial.items())
        pdf.paragraph(f"Hatched bars are partial weeks, which the period covers only in part: {weeks}.")
    else:
        pdf.paragraph("Every week drawn is a whole week (Monday to Sunday).")
    pdf.chart(_heatmap_chart(queries.hour_weekday(f)))


def _areas_section(pdf: _Report, f: CrashFilter, before: CrashFilter, has_before: bool) -> None:
    districts = queries.by_area_compared(f, before, "districts")
    beats = queries.by_area_compared(f, before, "beats")
    pdf.heading("Where crashes happened", keep_mm=_chart_height((8, 4.6), pdf))
    pdf.chart(_map_chart(districts, beats))
    pdf.paragraph(
        "Map: crashes per police district (left, each district's number on it) and the hit-and-run share of "
        f"each police beat (right; beats with fewer than {MIN_CRASHES_FOR_SHARE} crashes in the period are grey, "
        "their share being noise), drawn on the City of Chicago's boundaries."
    )

    def ranked(areas: pd.DataFrame) -> pd.DataFrame:
        out = areas[areas["crashes"] > 0]
        if not has_before:
            out = out.assign(previous=None)
        return out.sort_values(["crashes", "id"], ascending=[False, True]).reset_index(drop=True)

    top = ranked(districts)
    pdf.heading("Police districts ranked by crashes", keep_mm=30)
    pdf.grid(
        ["#", "district", "crashes", "previous period", "change", "hit-and-run share"],
        [
            [
                i + 1,
                f"District {int(r.id)}",
                int(r.crashes),
                _fmt(r.previous),
                _change(r.crashes, r.previous),
                _share(r.hit_and_run, r.crashes),
            ]
            for i, r in enumerate(top.itertuples())
        ],
    )
    top_beats = ranked(beats).head(TOP_BEATS)
    pdf.heading(f"Beats ranked by crashes (top {len(top_beats)} of {int((beats['crashes'] > 0).sum())})", keep_mm=30)
    pdf.grid(
        ["#", "beat", "district", "crashes", "previous period", "change", "hit-and-run share"],
        [
            [
                i + 1,
                r.id,
                f"District {int(r.id) // 100}" if str(r.id).isdigit() else "-",
                int(r.crashes),
                _fmt(r.previous),
                _change(r.crashes, r.previous),
                _share(r.hit_and_run, r.crashes),
            ]
            for i, r in enumerate(top_beats.itertuples())
        ],
    )


def _causes_section(pdf: _Report, f: CrashFilter, before: CrashFilter, total: int) -> None:
    causes = queries.primary_causes(f, before, TOP_CAUSES)
    pdf.heading("Primary causes", keep_mm=35)
    pdf.grid(
        intro=f"The {len(causes)} most frequent primary contributory causes the police recorded in the period, "
        "against the previous period.",
        header=["primary cause", "crashes", "share of crashes", "previous period", "change", "hit-and-run share"],
        rows=[
            [
                _sentence(r.cause),
                int(r.crashes),
                _share(r.crashes, total),
                int(r.previous),
                _change(r.crashes, r.previous),
                _share(r.hit_and_run, r.crashes),
            ]
            for r in causes.itertuples()
        ],
    )
    shares = queries.hit_and_run_by(f)
    lighting = shares[shares["dimension"] == "lighting_condition"].nlargest(8, "crashes")
    pdf.heading("Hit-and-run share by lighting", keep_mm=_chart_height((8, 0.7 + 0.25 * len(lighting)), pdf))
    pdf.chart(_bars_chart(lighting["value"], lighting["hit_and_run_share"]))


def _injuries_section(pdf: _Report, f: CrashFilter) -> None:
    pdf.heading("Injuries by road user", keep_mm=25)
    if gap := people_gap(f):  # people not loaded, or for too few of the period's crashes
        pdf.paragraph(gap)
        return
    injuries = queries.injuries_by_road_user(f)
    if injuries.empty:
        pdf.paragraph("No people are recorded for this period's crashes.")
        return
    pdf.grid(
        ["road user", "people", "injured", "incapacitated", "killed"],
        [[r.road_user, r.people, r.injured, r.incapacitated, r.killed] for r in injuries.itertuples()],
    )


def _quality_section(pdf: _Report) -> None:
    pdf.heading("Data quality", keep_mm=40)
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
    said = (
        f"Rejected records: {total:,} rows kept in raw but left out of gold (a value they need is missing "
        "or cannot be typed)" + (f"; the newest {len(rejected)}:" if total else ".")
    )
    if not total:
        pdf.paragraph(said)
    else:
        pdf.grid(
            intro=said,
            header=["dataset", "key", "column", "value", "reason", "load"],
            rows=[
                [r.dataset, _short(r.record_key), r.column_name, _short(r.raw_value), r.reason, r.load_id]
                for r in rejected.itertuples()
            ],
        )
    expectations = queries.dq_expectations()
    failed = expectations[expectations["loads_failed"] > 0]
    checks = len(expectations)
    if not checks:
        pdf.paragraph("Checks on each new load (the ingestion gate): no load has been checked yet.")
    else:
        pdf.grid(
            ["dataset", "check", "result"],
            _quality_rows(expectations),
            intro=f"Checks on each new load (the ingestion gate): {checks} checks run on every load; "
            + (f"{len(failed)} failed on at least one load." if len(failed) else "every one passed on every load."),
        )
    worst = queries.dq_columns(8)
    worst = worst[(worst["null_count"] > 0) | (worst["garbled_count"] > 0)]
    if len(worst):
        pdf.grid(
            intro="Columns with the most values that are present but cannot be read (garbled), then the most empty:",
            header=["dataset", "column", "empty", "missing share", "garbled"],
            rows=[
                [r.dataset, r.column_name, r.null_count, f"{r.null_share:.1%}", r.garbled_count]
                for r in worst.itertuples()
            ],
        )


_MODEL_NAMES = {"model": "this model", "prevalence": "prevalence (no model)"}


def _model_section(pdf: _Report, view: ModelView | None, f: CrashFilter) -> None:
    pdf.heading("The hit-and-run model", keep_mm=50)
    if view is None:
        pdf.paragraph("No model is registered yet: the next pipeline run trains one.")
        return
    year = view.risk_year or view.test_year
    pdf.paragraph(
        "What the score is for: it ranks crashes for follow-up (which reports to canvass first, which beats "
        "to look at), it does not judge any one crash. Each score is a calibrated probability that the crash "
        "was a hit-and-run; the risk bands cut the scores at the highest 1, 5 and 10 percent. "
        f"Model {view.version}, trained {view.created or 'at an unknown time'}; its figures are on the "
        f"test year {year or '(unknown)'}, which it never saw in training or tuning."
    )
    if view.selection.get("note"):
        pdf.paragraph(f"Baseline check: {view.selection['note']}.")
    bands = view.bands()
    if bands.empty:
        pdf.paragraph("This model version records no risk bands: retrain it to see them.")
    else:
        pdf.grid(
            intro=f"Risk bands on the test year {year}: precision, recall and lift are those of following up every "
            "crash at or above the band's score.",
            header=[
                "band",
                "score from",
                "hit-and-run share in band",
                "precision at or above",
                "recall at or above",
                "lift at or above",
            ],
            rows=[
                [
                    b.band,
                    f"{b.min_score:.1%}",
                    f"{b.band_precision:.2f}",
                    f"{b.precision:.2f}",
                    f"{b.recall:.2f}",
                    f"{b.lift:.1f}x",
                ]
                for b in bands.itertuples()
            ],
        )
        in_period = queries.risk_bands_in_period(f).set_index("risk_band")
        scored = int(in_period["crashes"].sum())
        if scored:
            recorded = int(in_period["hit_and_run"].sum())
            rows = []
            for b in bands["band"]:
                n = int(in_period["crashes"].get(b, 0))
                hits = int(in_period["hit_and_run"].get(b, 0))
                rows.append([b, n, hits, _share(hits, n)])
            pdf.grid(
                ["band", "crashes in the period", "recorded hit-and-runs", "hit-and-run share"],
                rows,
                intro=f"In the report period {scored:,} crashes are scored; {recorded:,} "
                f"({_share(recorded, scored)}) are recorded as hit-and-runs. Per band:",
            )
        else:
            pdf.paragraph("No crash of the report period is scored yet: the pipeline's score stage writes them.")
    table = view.metrics_table()
    test = table[table["split"] == "test"] if not table.empty else table
    if len(test):
        pdf.grid(
            intro="How well it ranks, beside the baselines on the same test-year rows:",
            header=["model", "ROC-AUC", "PR-AUC", "top-decile lift", "Brier score"],
            rows=[
                [
                    _MODEL_NAMES.get(r["model"], str(r["model"]).replace("_", " ")),
                    *[_fixed(r.get(c)) for c in ("roc_auc", "pr_auc", "lift_top_decile", "brier")],
                ]
                for _, r in test.iterrows()
            ],
        )
    top_k = view.precision_at_k()
    if len(top_k):
        pdf.paragraph(
            f"Precision of the k highest scores of {year}: "
            + ", ".join(f"top {int(r.k):,}: {r.precision:.2f}" for r in top_k.itertuples())
            + "."
        )


def _together(pdf: _Report, draw: Callable[[_Report], None]) -> None:
    """Draw a section that fits on one page on one page: it is measured on a scratch report first
    (its queries are cached, so the second drawing costs only the layout)."""
    scratch = _Report(pdf.subtitle)
    scratch.add_page()
    top = scratch.get_y()
    draw(scratch)
    height = (scratch.page - 1) * scratch.eph + scratch.get_y() - top
    if height < pdf.eph - 10:
        pdf.keep(height)
    draw(pdf)


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
    bounds = queries.date_bounds()
    before = previous_period(f)
    h, has_before = _headline_section(pdf, f, before, bounds)
    if h["crashes"] and bounds is not None:
        _weekly_section(pdf, f, bounds)
        _areas_section(pdf, f, before, has_before)
        _causes_section(pdf, f, before, h["crashes"])
        _injuries_section(pdf, f)
    else:
        pdf.paragraph("No crashes in this period and area.")
    _together(pdf, _quality_section)
    view = current_view()
    _together(pdf, lambda target: _model_section(target, view, f))
    return bytes(pdf.output())
