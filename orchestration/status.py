"""`crashes status`: last runs, data freshness, rows per layer and the current model.

Never fails because the warehouse is busy: raw is read only when no run holds the pipeline lock
(and we hold it for that moment, so a run cannot start writing under us); otherwise, or if
another writer has the file, freshness comes from gold and from what the last ingest recorded.
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

from crashes.config import get_settings
from crashes.errors import CrashesError
from crashes.gold import GoldLocked
from orchestration import runs
from orchestration.layers import LayerFacts, bronze_facts, gold_facts, parse_timestamp, raw_facts
from orchestration.lock import lock_if_idle
from orchestration.model_info import current_model


def _ago(newest: dict[str, str], field: str, now: datetime) -> str:
    """The newest value of `field` and how long ago it was."""
    text = newest.get(field)
    if not text:
        return "unknown"
    value = parse_timestamp(text, field)
    if value is None:
        return text
    days = (now - value).total_seconds() / 86400
    return f"{text[:19]} ({days:,.1f} days ago)" if days >= 1 else f"{text[:19]} ({days * 24:,.1f} hours ago)"


def _runs_section(n: int = 5) -> list[str]:
    recent = runs.recent_runs(n)
    if not recent:
        return ["Last runs: none yet (`crashes run` or `crashes demo`)"]
    lines = ["Last runs:"]
    for r in recent:
        took = f"{r.duration_s:,.0f}s" if r.duration_s is not None else "-"
        lines.append(f"  #{r.id:<4} {r.job:<11} {r.trigger:<9} {r.status:<11} {r.started[:19]}Z  {took:>7}")
        if r.status != "succeeded":
            for s in runs.stages_for(r.id):
                if s.status in ("failed", "interrupted", "running"):
                    lines.append(f"        {s.name}: {s.status}" + (f" — {s.error}" if s.error else ""))
    return lines


def _raw_or_fallback() -> tuple[LayerFacts | None, str]:
    with lock_if_idle() as idle:
        if not idle:
            return None, "a pipeline run is writing the warehouse"
        try:
            return raw_facts(), ""
        except duckdb.Error as exc:
            return None, f"warehouse busy ({str(exc).splitlines()[0][:80]})"


def _freshness_section(raw: LayerFacts | None, why: str, gold: LayerFacts, now: datetime) -> list[str]:
    lines = ["Data freshness (newest record vs now):"]
    if raw is not None:
        lines.append(f"  raw crash_date          {_ago(raw.newest, 'crash_date', now)}")
        lines.append(f"  raw :updated_at         {_ago(raw.newest, 'socrata_updated_at', now)}")
    else:
        ingest = runs.last_stage("ingest")
        recorded = ingest.detail.get("raw", {}).get("newest", {}) if ingest else {}
        lines.append(f"  ({why}: showing gold and the last ingest's record)")
        lines.append(f"  last ingest crash_date  {_ago(recorded, 'crash_date', now)}")
        lines.append(f"  last ingest :updated_at {_ago(recorded, 'socrata_updated_at', now)}")
    lines.append(f"  gold crash_date         {_ago(gold.newest, 'crash_date', now)}")
    return lines


def _rows_section(bronze: LayerFacts, raw: LayerFacts | None, gold: LayerFacts) -> list[str]:
    settings = get_settings()
    lines = ["Rows per layer:"]
    parts = [f"{d} {n:,} rows / {bronze.files.get(d, 0)} files" for d, n in sorted(bronze.rows.items())]
    lines.append(f"  bronze ({settings.bronze_url}): " + (bronze.error or "; ".join(parts) or "empty"))
    if raw is not None:
        lines.append(
            f"  raw ({settings.warehouse_path}): " + (", ".join(f"{t} {n:,}" for t, n in raw.rows.items()) or "empty")
        )
    else:
        lines.append("  raw: not read while the warehouse is busy")
    lines.append(
        f"  gold ({settings.gold_path}): "
        + (gold.error or ", ".join(f"{t} {n:,}" for t, n in gold.rows.items()) or "not published yet")
    )
    return lines


def status_report() -> str:
    home = get_settings().home
    if not home.is_dir():  # a mistyped CRASHES_HOME: say so rather than create an empty warehouse there
        raise CrashesError(
            f"CRASHES_HOME {home} does not exist: check the variable (`crashes ingest` or `crashes demo` starts one)"
        )
    now = datetime.now(UTC)
    raw, why = _raw_or_fallback()
    try:
        gold = gold_facts()
    except (duckdb.Error, GoldLocked) as exc:  # status never fails: an analyst holding gold is a fact to show
        gold = LayerFacts(source="gold", error=f"unreadable: {exc}")
    try:
        bronze = bronze_facts()
    except (OSError, ValueError) as exc:
        bronze = LayerFacts(source="bronze", error=f"unreadable: {exc}")
    model = current_model()
    lines = [f"CRASHES_HOME {get_settings().home}", ""]
    lines += _runs_section()
    lines += [""] + _freshness_section(raw, why, gold, now)
    lines += [""] + _rows_section(bronze, raw, gold)
    lines += ["", f"Current model: {model.describe() if model else 'none (the next run trains one)'}"]
    return "\n".join(lines)
