"""Small display helpers shared by the pages (formatting, the no-gold-yet message)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from crashes.config import get_settings
from dashboard import snapshot
from orchestration.runs import record_event

if TYPE_CHECKING:
    from dashboard.filters import CrashFilter


def page_title(page: str, heading: str | None = None) -> None:
    """The page's heading; the first time a session opens the page, a `page_view` event."""
    st.title(heading or page)
    if st.session_state.get("_viewed_page") != page:
        st.session_state["_viewed_page"] = page
        try:
            record_event("page_view", {"page": page})
        except sqlite3.Error as exc:  # counting views must never take a page down
            st.toast(f"page view not recorded: {exc}")


def gold_missing() -> bool:
    """True (with a way forward shown) when there is no gold to show: nothing published yet, or
    the current snapshot held read-write with no previous one to fall back on (one line each)."""
    path = get_settings().gold_path
    if not path.exists():
        st.warning(
            f"No gold snapshot yet (`{path}`). Run `crashes demo`, or start an "
            "ingest on the Ingest page: the build publishes gold when it succeeds."
        )
        return True
    served = snapshot.check()
    if served.locked is None:
        return False
    if served.fallback:
        st.warning(
            f"{served.locked} — showing the previous snapshot, published {snapshot.published():%Y-%m-%d %H:%M} UTC."
        )
        return False
    st.error(str(served.locked))
    return True


def require_gold() -> None:
    """Stop the page (after the message) when there is no gold to show."""
    if gold_missing():
        st.stop()


def count(value: Any) -> str:
    return "–" if value is None or (isinstance(value, float) and pd.isna(value)) else f"{int(value):,}"


def share(part: Any, whole: Any) -> str:
    return f"{part / whole:.1%}" if whole else "–"


def size(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n_bytes) < 1024 or unit == "GB":
            return f"{n_bytes:,.0f} {unit}" if unit == "B" else f"{n_bytes:,.1f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:,.1f} GB"


def ago(value: Any, now: datetime | None = None) -> str:
    """'3.2 hours ago' for a timestamp (naive values are taken as UTC)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "never"
    ts = pd.Timestamp(value)
    ts = ts.tz_localize(UTC) if ts.tzinfo is None else ts.tz_convert(UTC)
    seconds = ((now or datetime.now(UTC)) - ts.to_pydatetime()).total_seconds()
    if seconds < 3600:
        return f"{seconds / 60:,.0f} min ago"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:,.1f} hours ago"
    return f"{seconds / 86400:,.1f} days ago"


def stamp(value: Any) -> str:
    """A timestamp to the second, or a dash when there is none (never `NaT` or `None`)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "–"
    return f"{pd.Timestamp(value):%Y-%m-%d %H:%M:%S}"


def missing_note(missing: list[str]) -> str | None:
    """One line for datasets never loaded: their figures are unknown, which is not zero."""
    if not missing:
        return None
    names = " and ".join(missing)
    return (
        f"No {names} loaded yet: the figures that need them (units, people, injuries by road user) are "
        "unknown, not zero. Load their files with `crashes ingest` and build again."
    )


# Below this share of crashes with person records, counts of people would undercount: hidden.
PEOPLE_COMPLETE = 0.95
CRASH_RECORD_INJURIES = "Injuries on crash records"
CRASH_RECORD_DEATHS = "Deaths on crash records"
CRASH_RECORD_HELP = (
    "Summed from the injury counts the police report writes on each crash record, not counted from "
    "the person records (those are the figures by road user)."
)


def people_gap(f: CrashFilter) -> str | None:
    """Why person-level figures for `f` cannot be shown (people not loaded, or loaded for too few
    of its crashes), or None when they can."""
    from dashboard import queries

    missing = queries.missing_datasets()
    if "people" in missing:
        return missing_note(missing)
    cover = queries.record_coverage(f)
    if cover["crashes"] and cover["with_people"] < PEOPLE_COMPLETE * cover["crashes"]:
        return (
            f"People records are partial: only {cover['with_people']:,} of the {cover['crashes']:,} crashes "
            f"selected ({cover['with_people'] / cover['crashes']:.1%}) have any, so counts of people "
            "(injuries by road user) would undercount and are not shown. Load the people file for the whole "
            "period with `crashes ingest` and build again."
        )
    return None
