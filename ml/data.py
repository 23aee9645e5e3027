"""Where the model's rows come from: `marts.ml_hit_and_run_features` in gold, and nothing else.

The column list is fixed here (the contract's names), so no user text ever reaches the SQL, and
a mart that lacks a column the model needs fails with one line naming it.
"""

# ruff: noqa: S608 - the selected columns are constants of ml.features, checked against the mart
from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from crashes.errors import CrashesError
from crashes.gold import connect
from ml.features import INPUT_COLUMNS, KEY, LABEL, TIMESTAMP, YEAR

MART_SCHEMA = "marts"
MART_TABLE = "ml_hit_and_run_features"
MART = f"{MART_SCHEMA}.{MART_TABLE}"
TRAINING_COLUMNS = (KEY, TIMESTAMP, YEAR, LABEL, *INPUT_COLUMNS)
SCORING_COLUMNS = (KEY, *INPUT_COLUMNS)


def mart_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?"
        " order by ordinal_position",
        [MART_SCHEMA, MART_TABLE],
    ).fetchall()
    return [r[0] for r in rows]


def check_columns(
    available: list[str] | tuple[str, ...], needed: tuple[str, ...] | list[str], where: str, model: str | None = None
) -> None:
    """Refuse a mart that lacks what the model reads, naming every missing column; for a saved
    `model` (its version), with the hint to retrain it on the mart as it is now."""
    if not available:
        raise CrashesError(f"{where} has no {MART}: run `crashes build` first")
    missing = [c for c in needed if c not in available]
    if missing and model:
        raise CrashesError(
            f"model {model} reads column(s) the feature mart in {where} no longer has: {', '.join(missing)}; "
            "retrain with `crashes train`"
        )
    if missing:
        raise CrashesError(f"{MART} in {where} lacks column(s) the model needs: {', '.join(missing)}")


def select_mart(con: duckdb.DuckDBPyConnection, columns: tuple[str, ...], ordered: bool = True) -> pa.Table:
    """The mart's rows (only `columns`, already checked) on an open gold connection; ordered by
    key when training, so the same mart always gives the same folds and trees."""
    select = ", ".join(f'"{c}"' for c in columns)
    order = f" order by {KEY}" if ordered else ""
    return con.sql(f"select {select} from {MART}{order}").to_arrow_table()


def read_mart_arrow(columns: tuple[str, ...], gold: Path | None = None, ordered: bool = True) -> pa.Table:
    """The mart's rows (only `columns`) from the gold snapshot (or another DuckDB file)."""
    with connect(gold) as con:
        check_columns(mart_columns(con), columns, str(gold or "gold"))
        return select_mart(con, columns, ordered)


def read_mart(columns: tuple[str, ...], gold: Path | None = None, ordered: bool = True) -> pd.DataFrame:
    return read_mart_arrow(columns, gold, ordered).to_pandas()
