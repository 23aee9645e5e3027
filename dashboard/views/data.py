"""Data: browse gold (every mart, its dbt description, columns, rows, a filtered preview),
bronze (datasets, loads, files and sizes), and what gold leaves out or lacks (data quality)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import queries
from dashboard.bronze import list_bronze
from dashboard.ui import gold_missing, missing_note, page_title, size

page_title("Data")
gold_tab, bronze_tab, quality_tab = st.tabs(["Gold marts", "Bronze files", "Data quality"])


def gold_browser() -> None:
    marts = queries.marts()
    rows = queries.mart_rows()
    marts["rows"] = marts["mart"].map(rows)
    st.dataframe(marts[["mart", "rows", "columns", "description"]], hide_index=True)
    mart = st.selectbox(
        "Mart",
        marts["mart"].tolist(),
        index=marts["mart"].tolist().index("fct_crashes") if "fct_crashes" in set(marts["mart"]) else 0,
    )
    info = marts.set_index("mart").loc[mart]
    st.markdown(f"### `marts.{mart}` — {rows.get(mart, 0):,} rows")
    st.markdown(info["description"] or "_no description in the dbt docs_")
    catalog = queries.columns(mart)
    with st.expander(f"{len(catalog)} columns", expanded=False):
        st.dataframe(catalog, hide_index=True)

    st.markdown("**Preview** — filters apply together (AND); values are compared as the column's type.")
    filters = []
    for i in range(2):
        c1, c2, c3 = st.columns([2, 1, 2])
        column = c1.selectbox(f"Filter {i + 1}: column", ["(none)", *catalog["column"]], key=f"data_col_{mart}_{i}")
        op = c2.selectbox("operator", queries.OPERATORS, key=f"data_op_{mart}_{i}")
        value = c3.text_input("value", key=f"data_val_{mart}_{i}")
        if column != "(none)" and (value or op.startswith("is ")):
            filters.append(queries.ColumnFilter(column, op, value))
    limit = st.select_slider("Rows to show", [20, 100, 500, 1000], value=100)
    try:
        preview, matched = queries.preview(mart, tuple(filters), limit)
    except ValueError as exc:
        st.error(str(exc))
    else:
        st.caption(f"{matched:,} of {rows.get(mart, 0):,} rows match; showing {len(preview):,}.")
        st.dataframe(preview, hide_index=True)


with gold_tab:
    if not gold_missing():
        gold_browser()

with bronze_tab:
    listing = list_bronze()
    st.caption(f"Bronze: `{listing.url}` (parquet as delivered, one folder per dataset, files named by load)")
    if not listing.reachable:
        st.error(f"Bronze is not reachable: {listing.error}")
    elif listing.files.empty:
        st.info("Bronze is empty: nothing has been ingested yet.")
    else:
        datasets = listing.datasets()
        cols = st.columns(len(datasets) + 1)
        cols[0].metric("Total size", size(float(listing.files["bytes"].sum())))
        for col, row in zip(cols[1:], datasets.itertuples(), strict=True):
            col.metric(
                row.table,
                f"{int(row.rows or 0):,} rows",
                f"{row.files} files · {size(row.bytes)}",
                delta_color="off",
                delta_arrow="off",
            )
        st.markdown("**Loads**")
        loads = listing.loads()
        st.dataframe(loads, hide_index=True)
        st.markdown("**Files**")
        table = st.selectbox("Dataset", ["(all)", *datasets["table"]])
        files = listing.files if table == "(all)" else listing.files[listing.files["table"] == table]
        shown = files.assign(size=files["bytes"].map(lambda b: size(float(b))))
        st.dataframe(
            pd.DataFrame(shown[["table", "load_id", "loaded_at", "complete", "rows", "size", "path"]]), hide_index=True
        )

with quality_tab:
    if not gold_missing():
        if note := missing_note(queries.missing_datasets()):
            st.info(note)
        rejected, total = queries.dq_rejected()
        st.markdown(
            f"**Rejected records: {total:,}** — rows kept in raw (or, without a key, in raw.rejected_rows) "
            "but left out of gold, because a value they need is missing or cannot be typed."
        )
        if total:
            st.caption(f"Showing {len(rejected):,} of {total:,} (`marts.dq_rejected_records`), newest load first.")
            st.dataframe(rejected, hide_index=True)
