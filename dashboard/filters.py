"""The period and area a user picks, and the widgets that pick them (Explore, Reports).

An area is a set of police districts and/or beats; the district is the beat number without its
last two digits (beat 1834 is in district 18), as the Chicago Police Department numbers them.
The values only ever reach SQL as bound parameters (see `queries.filter_params`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import streamlit as st

from dashboard import queries


@dataclass(frozen=True)
class CrashFilter:
    start: date
    end: date
    districts: tuple[int, ...] = ()
    beats: tuple[str, ...] = ()

    def describe(self) -> str:
        area = []
        if self.districts:
            area.append("districts " + ", ".join(map(str, self.districts)))
        if self.beats:
            area.append("beats " + ", ".join(self.beats))
        where = "; ".join(area) if area else "all of Chicago"
        return f"{self.start:%Y-%m-%d} … {self.end:%Y-%m-%d} · {where}"


def crash_filter(key: str, default_days: int | None = None) -> CrashFilter | None:
    """Date range and area widgets; None (with a message shown) when gold holds no crashes yet.

    `default_days` starts the range that many days before the newest crash (None: everything).
    """
    bounds = queries.date_bounds()
    if bounds is None:
        st.info("Gold holds no crashes yet: run `crashes demo` or start an ingest on the Ingest page.")
        return None
    first, last = bounds
    start_default = first
    if default_days is not None:
        start_default = max(first, date.fromordinal(last.toordinal() - default_days + 1))
    left, middle, right = st.columns([2, 1, 2])
    picked = left.date_input(
        "Period (crash date)", value=(start_default, last), min_value=first, max_value=last, key=f"{key}_period"
    )
    start, end = (picked[0], picked[-1]) if isinstance(picked, tuple | list) and picked else (start_default, last)
    areas = queries.beats()
    districts = middle.multiselect(
        "Police districts", sorted(areas["district"].dropna().astype(int).unique().tolist()), key=f"{key}_districts"
    )
    beat_options = areas if not districts else areas[areas["district"].isin(districts)]
    beats = right.multiselect("Beats", beat_options["beat_of_occurrence"].tolist(), key=f"{key}_beats")
    return CrashFilter(start=start, end=end, districts=tuple(int(d) for d in districts), beats=tuple(beats))
