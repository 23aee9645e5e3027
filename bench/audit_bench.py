"""The late-amendment audit at real scale: every real crash record (906,642, with the 1,926
repeats paging without `$order` delivered) replayed through the real `ingest()` into bronze, the
two audit models built from it (the real figures: repeats, and no change among them), then a
second replay of real records with amendments planted the way the portal makes them — a
hit-and-run label set days after the crash, injuries grown weeks later — plus unchanged copies,
built incrementally (the planted figures), and a full refresh that must equal it.

Which figures are real and which planted is said in the output: `real` is what the portal
delivered, `planted` is this script's second load.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from bench.real_data import REAL_CRASHES

AUDIT = ["audit_record_versions", "audit_field_changes"]
LABEL_SET = 2_000  # crashes without a label that become hit-and-runs 1–30 days after the crash
INJURIES_GROWN = 3_000  # crashes whose injuries_total and injuries_non_incapacitating grow by one, 1–90 days after
REPEATED = 5_000  # real records delivered again unchanged
TARGETS = {"full_seconds": 30.0, "incremental_seconds": 10.0}


def _plant(folder: Path, out: Path) -> dict[str, int]:
    """The second load: real records as delivered (each line's JSON, so an unchanged copy is the
    same text), amended ones patched with new values and a `:updated_at` of crash_date + lag."""
    updated = (
        "strftime(try_cast(r.crash_date as timestamp) "
        "+ to_days((1 + hash(r.crash_record_id || 'lag') % {days})::integer), '%Y-%m-%dT%H:%M:%S.000Z')"
    )
    with duckdb.connect() as con:
        con.execute(
            "create table real as select json, json->>'crash_record_id' as crash_record_id, "
            "json->>'crash_date' as crash_date, json->>'hit_and_run_i' as hit_and_run_i, "
            "coalesce(try_cast(json->>'injuries_total' as integer), 0) as injuries_total, "
            "coalesce(try_cast(json->>'injuries_non_incapacitating' as integer), 0) as injuries_non_incapacitating "
            "from read_json_objects(?, format = 'newline_delimited') "
            "qualify row_number() over (partition by json->>'crash_record_id') = 1",
            [str(folder / "*.jsonl.gz")],
        )
        con.execute(
            f"""
            create table planted as
            with labelled as (
                select r.crash_record_id, json_merge_patch(r.json, json_object(
                    'hit_and_run_i', 'Y', ':updated_at', {updated.format(days=30)})) as json
                from real as r where r.hit_and_run_i is null
                order by hash(r.crash_record_id) limit {LABEL_SET}
            ),
            injured as (
                select r.crash_record_id, json_merge_patch(r.json, json_object(
                    'injuries_total', (r.injuries_total + 1)::varchar,
                    'injuries_non_incapacitating', (r.injuries_non_incapacitating + 1)::varchar,
                    ':updated_at', {updated.format(days=90)})) as json
                from real as r where r.crash_record_id not in (select crash_record_id from labelled)
                order by hash(r.crash_record_id) desc limit {INJURIES_GROWN}
            ),
            again as (
                select r.crash_record_id, r.json from real as r
                where r.crash_record_id not in (
                    select crash_record_id from labelled union all select crash_record_id from injured
                )
                order by hash(r.crash_record_id || 'again') limit {REPEATED}
            )
            select * from labelled union all select * from injured union all select * from again
            """  # noqa: S608
        )
        lines = [row[0] for row in con.execute("select json::varchar from planted").fetchall()]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"rows": len(lines)}


def _figures(home: Path) -> dict[str, object]:
    with duckdb.connect(str(home / "gold_build.duckdb"), read_only=True) as con:
        versions, records, repeats, amended = con.execute(
            "select count(*), count(distinct (dataset, record_key)), count(*) filter (where is_repeat), "
            "count(*) filter (where version > 1 and not is_repeat) from marts.audit_record_versions"
        ).fetchall()[0]
        by_field = dict(
            con.execute(
                "select field, count(*) from marts.audit_field_changes group by field order by 2 desc"
            ).fetchall()
        )
        label = con.execute(
            "select count(distinct record_key), count(*) filter (where old_value is null and new_value = 'Y'), "
            "median(date_diff('day', crash_date, updated_at)) "
            "from marts.audit_field_changes where field = 'hit_and_run_i'"
        ).fetchall()[0]
    return {
        "versions": versions,
        "records": records,
        "repeats": repeats,
        "amended_versions": amended,
        "field_changes": sum(by_field.values()),
        "field_changes_by_field": by_field,
        "label_changed_crashes": label[0],
        "label_set_later": label[1],
        "label_share_of_crashes": round(label[0] / records, 5) if records else 0.0,
        "label_median_lag_days": label[2],
    }


def main() -> None:
    from ingestion.pipeline import ingest
    from transform.dbt import run_dbt

    with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
        home = Path(tmp) / "home"
        os.environ["CRASHES_HOME"] = str(home)
        os.environ.pop("CRASHES_BRONZE_URL", None)
        result: dict[str, object] = {"targets": TARGETS}

        started = time.perf_counter()
        delivered = ingest(source="replay", path=REAL_CRASHES)
        result["ingest_real_seconds"] = round(time.perf_counter() - started, 1)
        result["real_delivered"] = delivered.rows.get("crashes", 0)
        full = run_dbt(["build", "--select", *AUDIT])
        if not full.success:
            raise SystemExit(f"audit build failed: {full.error}")
        result["full_seconds"] = round(full.seconds, 1)
        result["real"] = _figures(home)
        print(json.dumps({"progress": result}, default=str), file=sys.stderr, flush=True)

        planted_file = Path(tmp) / "planted_crashes.jsonl"
        result["planted_load"] = _plant(REAL_CRASHES, planted_file) | {
            "label_set": LABEL_SET,
            "injuries_grown": INJURIES_GROWN,
            "repeated": REPEATED,
        }
        ingest(source="replay", path=planted_file)
        incremental = run_dbt(["build", "--select", *AUDIT])
        if not incremental.success:
            raise SystemExit(f"incremental audit build failed: {incremental.error}")
        result["incremental_seconds"] = round(incremental.seconds, 1)
        result["real_plus_planted"] = _figures(home)
        print(json.dumps({"progress": result}, default=str), file=sys.stderr, flush=True)
        snapshot = Path(tmp) / "incremental.duckdb"
        snapshot.write_bytes((home / "gold_build.duckdb").read_bytes())

        refresh = run_dbt(["build", "--select", *AUDIT, "--full-refresh"])
        if not refresh.success:
            raise SystemExit(f"full-refresh audit build failed: {refresh.error}")
        result["full_refresh_seconds"] = round(refresh.seconds, 1)
        with duckdb.connect() as con:
            con.execute("attach ? as inc (read_only)", [str(snapshot)])
            con.execute("attach ? as refreshed (read_only)", [str(home / "gold_build.duckdb")])
            result["incremental_minus_full_refresh_rows"] = {
                t: con.execute(
                    f"select count(*) from ((select * from inc.marts.{t} except all select * from refreshed.marts.{t}) "  # noqa: S608
                    f"union all (select * from refreshed.marts.{t} except all select * from inc.marts.{t}))"
                ).fetchall()[0][0]
                for t in AUDIT
            }
        print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
