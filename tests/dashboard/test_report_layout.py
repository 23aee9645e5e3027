"""The PDF report as a manager reads it, checked on its rendered pages: poppler's `pdftoppm` draws
each page to PNG and `pdftotext` reads each page's words and their boxes, so the checks are about
what is on paper (page count, ink, where headings fall, whole header words), not about our code.

One report is built for the module: 91 days (the Reports page's default length) that start and
end mid-week, so the weekly chart has a partial week at either end."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from tests.dashboard.conftest import Demo

# A heading is set in 13 pt (the title in 18 pt), body text and tables in 8-9 pt: poppler's line
# boxes are about 1.15 x the point size.
HEADING_MIN_HEIGHT_PT = 11.0
# Ink is a pixel darker than light grey; a page with only its running header and footer has
# about 0.2 % of its pixels inked.
INK_FLOOR = 0.03
# A page that ends above this share of the body height is near-empty (the last page may be shorter).
FILLED_FLOOR, LAST_PAGE_FILLED_FLOOR = 0.5, 0.2
# The table headers of the report, as a reader sees them: each word must come out whole.
HEADER_LABELS = (
    "measure",
    "this period",
    "previous period",
    "change",
    "district",
    "beat",
    "crashes",
    "hit-and-run share",
    "primary cause",
    "share of crashes",
    "road user",
    "incapacitated",
    "dataset",
    "garbled rows",
    "orphans",
    "bad locations",
    "newest crash",
    "last load (UTC)",
    "check",
    "result",
    "missing share",
    "band",
    "score from",
    "precision at or above",
    "recall at or above",
    "lift at or above",
    "ROC-AUC",
    "PR-AUC",
    "top-decile lift",
)


@dataclass(frozen=True)
class Page:
    number: int
    text: str  # pdftotext -layout of this page
    lines: list[tuple[float, str]]  # (line box height in pt, words) in reading order, footer dropped
    ink: float  # share of inked pixels
    filled: float  # lowest ink above the footer, as a share of the body height


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def render(pdf: bytes, folder: Path) -> list[Page]:
    """The pages as poppler draws and reads them (PNGs kept in `folder` to look at)."""
    from matplotlib.image import imread

    for tool in ("pdftoppm", "pdftotext"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: apt-get install poppler-utils (.ci/run installs it)")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "report.pdf"
    path.write_bytes(pdf)
    _run("pdftoppm", "-r", "40", "-gray", "-png", str(path), str(folder / "page"))
    pngs = sorted(folder.glob("page-*.png"), key=lambda p: int(p.stem.split("-")[1]))
    root = ET.fromstring(re.sub(r'xmlns="[^"]+"', "", _run("pdftotext", "-bbox-layout", str(path), "-")))
    boxes = root.findall(".//page")
    assert len(boxes) == len(pngs), (len(boxes), len(pngs))
    pages = []
    for number, (png, box) in enumerate(zip(pngs, boxes, strict=True), start=1):
        gray = imread(png)
        gray = gray[..., 0] if gray.ndim == 3 else gray
        inked = gray < 0.8
        height = gray.shape[0]
        header, footer = int(height * 0.06), int(height * 0.94)  # running header and page number
        rows = np.flatnonzero(inked[header:footer].any(axis=1))
        filled = (rows[-1] + 1) / (footer - header) if len(rows) else 0.0
        lines = []
        for line in box.iter("line"):
            words = " ".join(w.text or "" for w in line.iter("word"))
            if re.fullmatch(r"page \d+/\d+", words):
                continue
            lines.append((float(line.get("yMax")) - float(line.get("yMin")), words))
        text = _run("pdftotext", "-layout", "-f", str(number), "-l", str(number), str(path), "-")
        pages.append(Page(number, text, lines, float(inked.mean()), float(filled)))
    return pages


def period(demo: Demo) -> tuple[date, date]:
    """91 days ending two days before the newest crash, moved so that neither end is a week's end."""
    end = demo.one("select max(crash_date) from marts.agg_crashes_daily") - timedelta(days=2)
    while end.weekday() == 6 or (end - timedelta(days=90)).weekday() == 0:
        end -= timedelta(days=1)
    return end - timedelta(days=90), end


@pytest.fixture(scope="module")
def report(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[Page]]:
    """The report for `period`, rendered."""
    from dashboard.filters import CrashFilter
    from dashboard.report_pdf import build_report
    from dashboard.snapshot import clear

    clear()
    pdf = build_report(CrashFilter(*period(demo)))
    return pdf, render(pdf, tmp_path_factory.mktemp("report-pages"))


def _section(pages: list[Page], start: str, end: str | None = None) -> str:
    flat = " ".join(" ".join(p.text for p in pages).split())
    begin = flat.index(start)
    return flat[begin : flat.index(end, begin) if end else None]


def test_pages_are_neither_too_many_nor_near_empty(report: tuple[bytes, list[Page]]) -> None:
    _, pages = report
    print(" ".join(f"p{p.number}: ink {p.ink:.1%}, filled {p.filled:.0%}" for p in pages))
    assert 3 <= len(pages) <= 7, f"{len(pages)} pages"
    for page in pages:
        last = page.number == len(pages)
        assert page.ink >= INK_FLOOR, f"page {page.number} is near-empty: {page.ink:.2%} ink"
        floor = LAST_PAGE_FILLED_FLOOR if last else FILLED_FLOOR
        assert page.filled >= floor, f"page {page.number} ends at {page.filled:.0%} of its height"
        assert len([h for h, _ in page.lines]) >= 6, f"page {page.number} has almost no text: {page.lines}"


def test_no_heading_ends_a_page(report: tuple[bytes, list[Page]]) -> None:
    _, pages = report
    for page in pages:
        height, words = page.lines[-1]
        assert height < HEADING_MIN_HEIGHT_PT, f"page {page.number} ends with the heading {words!r}"


def test_table_headers_keep_their_words_whole(report: tuple[bytes, list[Page]]) -> None:
    _, pages = report
    tokens = {t for p in pages for t in p.text.split()}
    broken = {w for label in HEADER_LABELS for w in label.split() if w not in tokens}
    assert not broken, f"header words not found whole on any page: {sorted(broken)}"


def test_data_quality_reads_in_plain_words(report: tuple[bytes, list[Page]]) -> None:
    _, pages = report
    dq = _section(pages, "Data quality", "The hit-and-run model")
    assert not re.search(r"Expect|ColumnValues|ToBe|NotBe", dq), dq
    assert not re.search(r"(?<![\d.])\d+\.0(?![\d%])", dq), "a count is printed as a float"
    assert "checks run on every load" in dq


def test_the_report_ranks_areas_maps_them_and_compares_the_previous_period(
    demo: Demo, report: tuple[bytes, list[Page]]
) -> None:
    pdf, pages = report
    start, last = period(demo)
    before = (start - timedelta(days=91), start - timedelta(days=1))
    previous = demo.one("select count(*) from marts.fct_crashes where crash_date between ? and ?", list(before))
    headline = _section(pages, "Headline counts", "Crashes per week")
    assert f"previous period {before[0]:%Y-%m-%d} to {before[1]:%Y-%m-%d}" in headline
    assert re.search(rf"Crashes [\d,]+ {previous:,} [+-]\d+(\.\d)? %", headline), headline

    district, crashes = demo.sql(
        "select try_cast(beat_of_occurrence as integer) // 100, count(*) from marts.fct_crashes"
        " where crash_date between ? and ? group by 1 order by 2 desc, 1 limit 1",
        [start, last],
    )[0]
    ranked = _section(pages, "Where crashes happened")
    assert re.search(rf"1 District {district} {crashes:,} ", ranked), ranked[:400]
    assert "Beats ranked by crashes" in ranked
    images = len(re.findall(rb"/Subtype\s*/Image", pdf))
    assert images >= 4, f"{images} images: the weekly, hour x weekday, lighting and map figures"
    assert "Map: crashes per police district" in ranked

    cause, n = demo.sql(
        "select prim_contributory_cause, count(*) from marts.fct_crashes where crash_date between ? and ?"
        " group by 1 order by 2 desc, 1 limit 1",
        [start, last],
    )[0]
    causes = _section(pages, "Primary causes")
    assert f"{cause.capitalize()} {n:,}" in causes, causes[:400]


def test_partial_weeks_at_either_end_are_marked(demo: Demo, report: tuple[bytes, list[Page]]) -> None:
    _, pages = report
    start, end = period(demo)
    first_monday = start - timedelta(days=start.weekday())
    last_monday = end - timedelta(days=end.weekday())
    weekly = _section(pages, "Crashes per week")
    first_days, last_days = 7 - start.weekday(), end.weekday() + 1
    assert f"week of {first_monday:%Y-%m-%d} ({first_days} of 7 days)" in weekly, weekly[:400]
    assert f"week of {last_monday:%Y-%m-%d} ({last_days} of 7 days)" in weekly, weekly[:400]
    assert "partial" in weekly


def test_the_model_section_ranks_by_risk_band_and_flags_nothing(demo: Demo, report: tuple[bytes, list[Page]]) -> None:
    from dashboard.model_view import current_view
    from tests.dashboard.conftest import require_model

    require_model(demo)
    _, pages = report
    model = _section(pages, "The hit-and-run model")
    whole = " ".join(p.text for p in pages).lower()
    assert not re.search(r"\bflag(s|ged)?\b|threshold", whole), "the report flags crashes at a cut"
    assert "ranks crashes for follow-up" in model
    bands = current_view().bands()
    assert len(bands) >= 2
    for band in bands.itertuples():
        if band.band != "rest":
            assert re.search(rf"{band.band} {band.min_score:.1%} [\d.]+ {band.precision:.2f} ", model), band
    top = demo.one(
        "select count(*) from marts.ml_hit_and_run_scores s join marts.fct_crashes c using (crash_record_id)"
        " where c.crash_date between ? and ? and s.risk_band = ?",
        [*period(demo), bands["band"].iloc[0]],
    )
    assert f"{bands['band'].iloc[0]} {top:,}" in model
