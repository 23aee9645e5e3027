"""Helpers for the monitoring tests: PromQL metric names, the Grafana files' queries, free ports."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import yaml

PROJECT = Path(__file__).resolve().parents[2]
GRAFANA = PROJECT / "deploy" / "grafana"

_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool",
    "inf", "nan", "atan2",
}  # fmt: skip
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression reads: identifiers that are not functions, keywords,
    label names, grouping labels, durations or strings."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for m in _IDENT.finditer(text):
        word = m.group(0)
        after = text[m.end() :].lstrip()
        if word.lower() in _KEYWORDS or after.startswith("("):
            continue
        if m.start() > 0 and (text[m.start() - 1].isdigit() or text[m.start() - 1] == "."):
            continue  # the exponent or unit of a number, e.g. 1e3
        names.add(word)
    return names


def dashboard_queries() -> list[str]:
    queries = []
    for path in sorted((GRAFANA / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            queries += [t["expr"] for t in panel.get("targets", []) if t.get("expr")]
    return queries


def grafana_rules() -> list[dict[str, Any]]:
    rules = []
    for path in sorted((GRAFANA / "provisioning" / "alerting").glob("*.y*ml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules += group["rules"]
    return rules


def alert_queries() -> list[str]:
    queries = []
    for rule in grafana_rules():
        queries += [d["model"]["expr"] for d in rule["data"] if "expr" in d.get("model", {})]
    return queries


def alert_query(uid: str) -> str:
    """Query A of one Grafana rule."""
    (rule,) = [r for r in grafana_rules() if r["uid"] == uid]
    (query,) = [d["model"]["expr"] for d in rule["data"] if d["refId"] == "A"]
    return str(query)


_COMPARE = {"gt": ">", "lt": "<"}


def prometheus_rules() -> dict[str, Any]:
    """The Grafana-managed rules as one Prometheus rule group, so `promtool test rules` evaluates
    them over time. Each rule here is query A (instant), B = last value of A (what an instant
    query already is), C = a threshold on B, and `for`: in PromQL, `(A) > threshold` with the same
    `for`. Annotations are left out: they use Grafana's template variables ($values)."""
    alerts = []
    for rule in grafana_rules():
        steps = {d["refId"]: d for d in rule["data"]}
        query, reduce, threshold = steps["A"]["model"], steps["B"]["model"], steps["C"]["model"]
        assert query.get("instant") and reduce["type"] == "reduce" and reduce["reducer"] == "last", rule["uid"]
        assert threshold["type"] == "threshold" and rule["condition"] == "C", rule["uid"]
        (condition,) = threshold["conditions"]
        op, (limit,) = _COMPARE[condition["evaluator"]["type"]], condition["evaluator"]["params"]
        alerts.append(
            {
                "alert": rule["uid"],
                "expr": f"({query['expr']}) {op} {limit}",
                "for": rule["for"],
                "labels": rule["labels"],
            }
        )
    return {"groups": [{"name": "crashes-pipeline", "rules": alerts}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
