"""The server's data: one in-process DuckDB table per dataset, queried set-based.

Each table holds the dataset's fields as VARCHAR (as Socrata delivers them) plus the system fields
`__id`, `__created_at`, `__updated_at`. Records without Socrata's system fields (files, generated
data) get a deterministic `:updated_at`: crash_date plus a delay of hours to days drawn from the
key's hash, and for ~5 % a later amendment, so an incremental cursor has something to catch.
Rows are inserted in the paging order clients use (`:updated_at, :id`; upserts append later
stamps), so their rowids follow it. A request first finds the rowids of its page (a query's
ordered rowids are cached until the data changes, so offset paging costs one sort; a first or
keyset page is DuckDB's top-N of the query, uncached), then DuckDB
serialises just those rows to JSON (one string per row, nulls omitted); a page in the usual order
is a contiguous rowid range, read without scanning the table.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crashes.sql import ident, literal
from ingestion.datasets import DATASETS, DatasetSpec
from ingestion.devserver.sampling import load_stats
from ingestion.devserver.soql import Columns, Query
from ingestion.exports import dataset_for_file

CACHED_ORDERS = 16  # ordered position lists kept per store (8 bytes a row each)
_SYSTEM = {":id": "__id", ":created_at": "__created_at", ":updated_at": "__updated_at"}


def files_by_dataset(data: Path) -> dict[str, list[Path]]:
    """The data files of a folder (or one file) by dataset; a clear error when there are none."""
    if not data.exists():
        raise FileNotFoundError(f"data not found: {data}")
    found: dict[str, list[Path]] = {}
    for path in sorted(data.iterdir()) if data.is_dir() else [data]:
        name = dataset_for_file(path) if path.is_file() else None
        if name:
            found.setdefault(name, []).append(path)
    if not found:
        raise ValueError(
            f"no crashes/vehicles/people files (.parquet, .json, .jsonl, .ndjson, .csv, optionally .gz) in {data}"
        )
    return found


def _utc_now_ms() -> datetime:
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _row_id(h: str) -> str:
    """Socrata-like `row-xxxx-xxxx-xxxx` from a 64-bit hash expression."""
    x = f"lpad(lower(hex({h})), 16, '0')"
    return f"'row-' || substr({x}, 1, 4) || '-' || substr({x}, 5, 4) || '-' || substr({x}, 9, 4)"


class Store:
    """Thread-safe: every query runs on its own cursor; writes are serialised and transactional."""

    def __init__(self) -> None:
        self.con = duckdb.connect(config={"threads": 2})
        self.write_lock = threading.Lock()
        self.columns: dict[str, Columns] = {}
        self.last_updated = datetime(1970, 1, 1)
        self.loaded_at = _utc_now_ms()
        self.version: dict[str, int] = {}
        self._orders: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._orders_lock = threading.Lock()
        self._types: dict[str, dict[str, str]] = load_stats()["types"]
        for spec in DATASETS.values():
            self._create(spec, list(spec.columns))

    # ------------------------------------------------------------------ schema
    def _create(self, spec: DatasetSpec, names: list[str]) -> None:
        cols = ", ".join(f"{ident(c)} VARCHAR" for c in names)
        self.con.execute(
            f"CREATE OR REPLACE TABLE {ident('ds_' + spec.name)} ({cols}, __id VARCHAR, "
            "__created_at TIMESTAMP, __updated_at TIMESTAMP)"
        )
        self.version[spec.name] = 0
        self.columns[spec.name] = Columns(names, self._types.get(spec.name, {}))

    def _add_columns(self, cur: duckdb.DuckDBPyConnection, name: str, incoming: list[str]) -> None:
        """New fields in incoming data become new VARCHAR columns (Socrata adds columns over time)."""
        known = self.columns[name].names
        new = [c for c in incoming if c not in known and c not in _SYSTEM and not c.startswith("__")]
        for c in new:
            cur.execute(f"ALTER TABLE {ident('ds_' + name)} ADD COLUMN {ident(c)} VARCHAR")
        if new:
            self.columns[name] = Columns(known + new, self._types.get(name, {}))

    # ------------------------------------------------------------------ loading
    def _normalised_select(self, spec: DatasetSpec, relation: str, schema: list[tuple[str, str]]) -> str:
        """Every incoming field as VARCHAR under its API name: objects → JSON text, WKT → GeoJSON."""
        exprs = []
        for raw, dtype in schema:
            name = spec.field_for_header(raw) if raw not in _SYSTEM else raw
            col = ident(raw)
            if dtype.startswith(("STRUCT", "MAP", "JSON")) or dtype.endswith("[]"):
                value = f"to_json({col})::VARCHAR"
            elif dtype != "VARCHAR":
                value = f"CAST({col} AS VARCHAR)"
            else:
                value = col
            if name == "location":
                value = (
                    f"regexp_replace({value}, '^POINT \\(([-0-9.eE]+) ([-0-9.eE]+)\\)$', "
                    '\'{"type":"Point","coordinates":[\\1,\\2]}\')'
                )
            exprs.append(f"{value} AS {ident(name)}")
        return f"SELECT {', '.join(exprs)} FROM {relation}"  # noqa: S608 - names quoted, from data

    def _system_fields(self, spec: DatasetSpec, names: list[str]) -> str:
        """SQL for __id/__created_at/__updated_at over `__h` (a hash of the key): given ones are
        parsed, missing ones derived. DuckDB's hash is fast and fixed for the pinned version."""
        h = "__h"
        base = (
            f"coalesce(TRY_CAST({ident(spec.date_field)} AS TIMESTAMP), TIMESTAMP '2015-01-01')"
            if spec.date_field in names
            else "TIMESTAMP '2015-01-01'"
        )
        # hours to days after the crash (exponential, mean 30 h); 5 % amended 1-90 days later
        created = f"({base} + to_milliseconds((-ln(1 - (({h} % 1000003) / 1000003.0)) * 108000000)::BIGINT))"
        amend = (
            f"to_milliseconds(CASE WHEN ({h} // 1000003) % 20 = 0 THEN (({h} // 7) % 7776000000 + 86400000) ELSE 0 END)"
        )
        cap = f"TIMESTAMP '{self.loaded_at.isoformat(sep=' ')}'"

        def given(field: str) -> str | None:
            # milliseconds, as served: a keyset `:updated_at = '…'` must match what a client saw
            cast = f"date_trunc('millisecond', TRY_CAST(replace({ident(field)}, 'Z', '') AS TIMESTAMP))"
            return cast if field in names else None

        created_expr = given(":created_at") or f"least(date_trunc('millisecond', {created}), {cap})"
        updated_expr = given(":updated_at") or f"least(date_trunc('millisecond', {created} + {amend}), {cap})"
        id_expr = ident(":id") if ":id" in names else _row_id(h)
        return f"{id_expr} AS __id, {created_expr} AS __created_at, {updated_expr} AS __updated_at"

    def _insert(self, cur: duckdb.DuckDBPyConnection, spec: DatasetSpec, relation: str) -> int:
        """Normalise, dedupe on the key (a real dataset has each key once) and insert."""
        schema = [(r[0], r[1]) for r in cur.execute(f"DESCRIBE {relation}").fetchall()]  # noqa: S608
        names = [spec.field_for_header(c) if c not in _SYSTEM else c for c, _ in schema]
        self._add_columns(cur, spec.name, names)
        cur.execute(f"CREATE OR REPLACE TEMP VIEW __norm AS {self._normalised_select(spec, relation, schema)}")
        data_cols = [c for c in names if c not in _SYSTEM]
        key = ident(spec.key)
        # a record without its key (bad input) still gets a stable id, from its content
        record_key = f"CASE WHEN {key} IS NULL THEN md5(to_json(src)::VARCHAR) ELSE {key} END"
        # Dedupe only the few repeated keys (unordered paging repeats some): a window over every
        # row would drag the whole table through a sort.
        cur.execute(
            f"CREATE OR REPLACE TEMP TABLE __dups AS SELECT {key} FROM __norm "  # noqa: S608
            f"WHERE {key} IS NOT NULL GROUP BY ALL HAVING count(*) > 1"
        )
        unique = (
            f"SELECT * FROM __norm WHERE {key} IS NULL OR {key} NOT IN (SELECT {key} FROM __dups) "  # noqa: S608
            f"UNION ALL SELECT * FROM (SELECT * FROM __norm WHERE {key} IN (SELECT {key} FROM __dups) "
            f"QUALIFY row_number() OVER (PARTITION BY {key}) = 1)"
        )
        rows = (
            f"SELECT {', '.join(ident(c) for c in data_cols)}, "  # noqa: S608
            f"{self._system_fields(spec, names)} FROM (SELECT *, hash({record_key}) AS __h FROM ({unique}) AS src)"
        )
        try:
            return self._append(cur, spec, rows)
        finally:
            cur.execute("DROP TABLE IF EXISTS __dups")

    def _append(self, cur: duckdb.DuckDBPyConnection, spec: DatasetSpec, rows: str, params: list | None = None) -> int:
        """Insert rows (a SELECT with data and system fields) in paging order, so rowids follow it."""
        target, key = ident("ds_" + spec.name), ident(spec.key)
        cur.execute(
            f"INSERT INTO {target} BY NAME SELECT * FROM ({rows}) ORDER BY __updated_at, __id, {key}",  # noqa: S608
            params or [],
        )
        count = int(cur.fetchall()[0][0])
        latest = cur.execute(f"SELECT max(__updated_at) FROM {target}").fetchall()[0][0]  # noqa: S608
        if latest and latest > self.last_updated:
            self.last_updated = latest
        self.version[spec.name] += 1
        return count

    def load_arrow(self, name: str, table: pa.Table) -> int:
        spec = DATASETS[name]
        with self.write_lock:
            cur = self.con.cursor()
            cur.register("__incoming", table)
            try:
                return self._insert(cur, spec, "__incoming")
            finally:
                cur.unregister("__incoming")

    def load_files(self, name: str, files: list[Path]) -> int:
        """Parquet, JSON (array or lines), CSV (all text), optionally gzipped; one dataset at a time."""
        spec = DATASETS[name]
        paths = [str(f) for f in files]
        kinds = {f.name.lower().removesuffix(".gz").rsplit(".", 1)[-1] for f in files}
        if len(kinds) != 1:
            raise ValueError(f"{name}: mixed file types in {', '.join(f.name for f in files)}")
        kind = kinds.pop()
        reader = {
            "parquet": "read_parquet(?, union_by_name=true)",
            "csv": "read_csv(?, all_varchar=true, union_by_name=true)",
        }.get(kind, "read_json_auto(?, union_by_name=true, sample_size=-1)")
        with self.write_lock:
            cur = self.con.cursor()
            cur.execute(f"CREATE OR REPLACE TEMP TABLE __files AS SELECT * FROM {reader}", [paths])  # noqa: S608
            try:
                return self._insert(cur, spec, "__files")
            finally:
                cur.execute("DROP TABLE IF EXISTS __files")

    # ------------------------------------------------------------------ changes
    def upsert(self, name: str, table: pa.Table) -> int:
        """Insert or replace records by key, stamping :updated_at = now (later than anything before)."""
        spec = DATASETS[name]
        with self.write_lock:
            now = max(_utc_now_ms(), self.last_updated + timedelta(milliseconds=1))
            cur = self.con.cursor()
            cur.register("__incoming", table)
            target, key = ident("ds_" + spec.name), ident(spec.key)
            try:
                cur.execute("BEGIN")
                schema = [(r[0], r[1]) for r in cur.execute("DESCRIBE __incoming").fetchall()]
                names = [spec.field_for_header(c) for c, _ in schema if c not in _SYSTEM]
                if spec.key not in names:
                    raise ValueError(f"{name}: upserted records need the key {spec.key}")
                self._add_columns(cur, name, names)
                cur.execute(
                    # a key given twice in one batch: the last one wins
                    f"CREATE OR REPLACE TEMP TABLE __up AS SELECT * EXCLUDE (__n) FROM (SELECT *, "  # noqa: S608
                    f"row_number() OVER () AS __n FROM "
                    f"({self._normalised_select(spec, '__incoming', [s for s in schema if s[0] not in _SYSTEM])})) "
                    f"WHERE {key} IS NOT NULL QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY __n DESC) = 1"
                )
                cur.execute(
                    f"CREATE OR REPLACE TEMP TABLE __prev AS SELECT {key}, __id, __created_at FROM {target} "  # noqa: S608
                    f"WHERE {key} IN (SELECT {key} FROM __up)"
                )
                cur.execute(f"DELETE FROM {target} WHERE {key} IN (SELECT {key} FROM __up)")  # noqa: S608
                record_key = f"__up.{key}"
                count = self._append(
                    cur,
                    spec,
                    f"SELECT __up.*, coalesce(__prev.__id, {_row_id(f'hash({record_key})')}) AS __id, "  # noqa: S608
                    f"coalesce(__prev.__created_at, ?::TIMESTAMP) AS __created_at, ?::TIMESTAMP AS __updated_at "
                    f"FROM __up LEFT JOIN __prev USING ({key})",
                    [now, now],
                )
                cur.execute("COMMIT")
            except Exception:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.unregister("__incoming")
            self.last_updated = now
            return int(count)

    def amend(self, name: str, positions: np.ndarray, field: str) -> list[str]:
        """Amend these rows as the portal does while a client pages: `field` changes (a number
        gets one more, Y/N flips, other text is marked) and `:updated_at` becomes now, which
        moves the records to the end of the `:updated_at` order. Returns their keys."""
        spec = DATASETS[name]
        if field not in self.columns[name].names:
            raise ValueError(f"{name} has no field {field!r} to amend")
        col = ident(field)
        changed = (
            f"CASE WHEN {col} IS NULL OR TRY_CAST({col} AS BIGINT) IS NOT NULL "
            f"THEN CAST(coalesce(TRY_CAST({col} AS BIGINT), 0) + 1 AS VARCHAR) "
            f"WHEN {col} = 'Y' THEN 'N' WHEN {col} = 'N' THEN 'Y' ELSE {col} || ' (amended)' END"
        )
        cur = self.con.cursor()
        rows = cur.sql(
            f"SELECT * EXCLUDE (__id, __created_at, __updated_at) REPLACE ({changed} AS {col}) "  # noqa: S608
            f"FROM {ident('ds_' + name)} WHERE rowid IN (SELECT unnest(?::BIGINT[])) "
            f"AND {ident(spec.key)} IS NOT NULL",
            params=[[int(p) for p in positions]],
        ).to_arrow_table()
        if rows.num_rows:
            self.upsert(name, rows)
        return [str(k) for k in rows.column(spec.key).to_pylist()]

    # ------------------------------------------------------------------ reading
    def count(self, name: str) -> int:
        cur = self.con.cursor()
        return int(cur.execute(f"SELECT count(*) FROM {ident('ds_' + name)}").fetchall()[0][0])  # noqa: S608

    def table(self, name: str) -> pa.Table:
        """The dataset as served (for tests and demos)."""
        cur = self.con.cursor()
        return cur.sql(f"SELECT * FROM {ident('ds_' + name)} ORDER BY rowid").to_arrow_table()  # noqa: S608

    def _json_fields(self, columns: Columns, fields: list[str]) -> str:
        """One JSON object per row: `"k":value` pieces joined by concat_ws, which skips nulls."""
        pieces = []
        for f in fields:
            key = literal(json.dumps(f) + ":")
            col = ident(_SYSTEM.get(f, f))
            if f in (":created_at", ":updated_at"):
                value = f"'\"' || strftime({col}, '%Y-%m-%dT%H:%M:%S.%g') || 'Z\"'"
            elif f == "location":
                value = f"CASE WHEN json_valid({col}) THEN {col} ELSE to_json({col}) END"
            else:
                value = f"to_json({col})"
            pieces.append(f"{key} || {value}")
        return "'{' || concat_ws(',', " + ", ".join(pieces) + ") || '}'"

    @staticmethod
    def _order_sql(q: Query) -> str:
        return ", ".join(f"{expr} {direction}" for expr, direction in q.order)

    def _cache_key(self, name: str, q: Query) -> tuple:
        return (name, self.version[name], q.where, repr(q.params), self._order_sql(q))

    def _positions(self, name: str, q: Query) -> np.ndarray:
        """Positions of every matching row in the query's order; cached until the data changes."""
        order_sql = self._order_sql(q)
        key = self._cache_key(name, q)
        with self._orders_lock:
            if key in self._orders:
                self._orders.move_to_end(key)
                return self._orders[key]
        cur = self.con.cursor()
        sql = f"SELECT rowid AS pos FROM {ident('ds_' + name)} WHERE {q.where} ORDER BY {order_sql}, rowid"  # noqa: S608
        positions = cur.execute(sql, q.params).fetchnumpy()["pos"]
        positions = np.asarray(positions, dtype=np.int64)
        with self._orders_lock:
            self._orders[key] = positions
            while len(self._orders) > CACHED_ORDERS:
                self._orders.popitem(last=False)
        return positions

    def page(self, name: str, q: Query) -> np.ndarray:
        """Positions of a request's page, in its order. A first page (or a keyset page, whose
        `$where` names the last row seen, so that each one is a first page) asks DuckDB for its top
        rows only; offset paging sorts once and slices the cached order."""
        if q.offset == 0 and self._cache_key(name, q) not in self._orders:
            cur = self.con.cursor()
            sql = (
                f"SELECT rowid AS pos FROM {ident('ds_' + name)} WHERE {q.where} "  # noqa: S608
                f"ORDER BY {self._order_sql(q)}, rowid LIMIT {int(q.limit)}"
            )
            return np.asarray(cur.execute(sql, q.params).fetchnumpy()["pos"], dtype=np.int64)
        return self._positions(name, q)[q.offset : q.offset + q.limit]

    def query(self, name: str, q: Query) -> tuple[bytes, int]:
        """A page as a JSON array (bytes) and its row count."""
        return self.render(name, self.page(name, q), q.fields)

    def render(self, name: str, page: np.ndarray, fields: list[str]) -> tuple[bytes, int]:
        """These rows as a JSON array in the given order (rows gone since are left out)."""
        if len(page) == 0:
            return b"[]", 0
        cur = self.con.cursor()
        sql = (
            f"SELECT rowid AS pos, {self._json_fields(self.columns[name], fields)} AS js "  # noqa: S608
            f"FROM {ident('ds_' + name)} WHERE rowid BETWEEN ? AND ? AND rowid IN (SELECT unnest(?::BIGINT[]))"
        )
        found = cur.sql(sql, params=[int(page.min()), int(page.max()), page.tolist()]).to_arrow_table()
        # back into the page's order (the scan returns table order)
        got = found.column("pos").to_numpy()
        page = page[np.isin(page, got)]  # rows replaced by an upsert since the positions were cached
        sorter = np.argsort(got)
        index = sorter[np.searchsorted(got, page, sorter=sorter)]
        rows = found.column("js").take(pa.array(index)).combine_chunks()
        joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(rows)], pa.int32()), rows), ",\n")
        return b"".join((b"[", memoryview(joined[0].as_buffer()), b"]\n")), len(rows)
