"""The late-amendment audit's SQL for the dashboard ("What changed" page, the Model page's label
line): read from gold's `audit_record_versions` / `audit_field_changes`, bound parameters only.

Kept beside `queries.py` (same `frame`, same per-snapshot cache) so the audit's statements live in
one file of their own.
"""

# ruff: noqa: S608 - statements are constants of this module; values are bound
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from dashboard.queries import SCHEMA, frame, marts
from dashboard.snapshot import per_snapshot

VERSIONS = f"{SCHEMA}.audit_record_versions"
CHANGES = f"{SCHEMA}.audit_field_changes"
LABEL = "hit_and_run_i"
# Lag of an amendment after the crash: the portal's `:updated_at` when it has one (replayed files
# have none, so the load's time stands in).
LAG_DAYS = "date_diff('day', crash_date, coalesce(updated_at, loaded_at::timestamp))"
LAG_BUCKETS = ((0, 1, "< 1 day"), (1, 7, "1–6 days"), (7, 30, "7–29 days"), (30, 90, "30–89 days"),
               (90, 365, "90–364 days"), (365, None, "≥ 1 year"))  # fmt: skip


@dataclass(frozen=True)
class Summary:
    records: int
    versions: int
    repeats: int
    amended_versions: int
    amended_records: int
    field_changes: int


@per_snapshot
def available() -> bool:
    """Gold holds the audit (a snapshot published before it existed does not)."""
    return {"audit_record_versions", "audit_field_changes"} <= set(marts()["mart"])


@per_snapshot
def summary() -> Summary:
    row = frame(
        f"""
        select
            count(distinct (dataset, record_key)) as records,
            count(*) as versions,
            count(*) filter (where is_repeat) as repeats,
            count(*) filter (where version > 1 and not is_repeat) as amended_versions,
            count(distinct (dataset, record_key)) filter (where version > 1 and not is_repeat) as amended_records,
            (select count(*) from {CHANGES}) as field_changes
        from {VERSIONS}
        """
    ).iloc[0]
    return Summary(**{k: int(row[k]) for k in Summary.__dataclass_fields__})


@per_snapshot
def most_amended_fields(limit: int = 20) -> pd.DataFrame:
    return frame(
        f"""
        select dataset, field, count(*) as changes, count(distinct record_key) as records
        from {CHANGES}
        group by dataset, field
        order by changes desc, dataset, field
        limit $limit
        """,
        {"limit": limit},
    )


@per_snapshot
def by_lag() -> pd.DataFrame:
    """Field changes per lag bucket after the crash (changes of records without a crash date: none)."""
    cases = " ".join(
        f"when lag_days >= {low}" + (f" and lag_days < {high}" if high is not None else "") + f" then {i}"
        for i, (low, high, _) in enumerate(LAG_BUCKETS)
    )
    counted = frame(
        f"""
        with lagged as (select *, {LAG_DAYS} as lag_days from {CHANGES} where crash_date is not null)
        select case {cases} end as bucket, count(*) as changes, count(*) filter (where field = $label) as label_changes
        from lagged
        where lag_days >= 0
        group by bucket
        """,
        {"label": LABEL},
    )
    buckets = pd.DataFrame({"bucket": range(len(LAG_BUCKETS)), "lag": [b[2] for b in LAG_BUCKETS]})
    out = buckets.merge(counted, on="bucket", how="left").fillna({"changes": 0, "label_changes": 0})
    return out.astype({"changes": "int64", "label_changes": "int64"}).drop(columns="bucket")


@per_snapshot
def crash_history(crash_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One crash's versions (its own, its units' and its people's) and every change among them."""
    versions = frame(
        f"""
        select dataset, record_key, version, loaded_at, updated_at, is_repeat
        from {VERSIONS}
        where crash_record_id = $crash
        order by loaded_at, dataset, record_key, version
        """,
        {"crash": crash_id},
    )
    changes = frame(
        f"""
        select dataset, record_key, version, field, old_value, new_value, loaded_at, updated_at
        from {CHANGES}
        where crash_record_id = $crash
        order by loaded_at, dataset, record_key, version, field
        """,
        {"crash": crash_id},
    )
    return versions, changes


@dataclass(frozen=True)
class LabelChanges:
    crashes: int  # crashes in the audit
    changed: int  # of them, crashes whose hit_and_run_i changed after their first load
    to_yes: int  # of them, ending in Y (the label set later)

    @property
    def share(self) -> float:
        return self.changed / self.crashes if self.crashes else 0.0

    def sentence(self) -> str:
        return (
            f"Label delay: the portal changed `{LABEL}` after the first load for {self.changed:,} of "
            f"{self.crashes:,} crashes ({self.share:.2%}); {self.to_yes:,} of them became hit-and-runs."
        )


@per_snapshot
def label_changes() -> LabelChanges:
    row = frame(
        f"""
        with last_label as (
            select record_key, arg_max(new_value, version) as label
            from {CHANGES}
            where dataset = 'crashes' and field = $label
            group by record_key
        )
        select
            (select count(distinct record_key) from {VERSIONS} where dataset = 'crashes') as crashes,
            count(*) as changed,
            count(*) filter (where label = 'Y') as to_yes
        from last_label
        """,
        {"label": LABEL},
    ).iloc[0]
    return LabelChanges(int(row["crashes"]), int(row["changed"]), int(row["to_yes"]))


def label_delay_note() -> str | None:
    """The Model page's line on label delay; None while gold has no audit."""
    return label_changes().sentence() if available() else None
