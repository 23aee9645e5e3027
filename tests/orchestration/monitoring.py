"""Helpers for the monitoring tests: PromQL metric names, the Grafana files' queries, free ports."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

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


def alert_queries() -> list[str]:
    queries = []
    for path in sorted((GRAFANA / "provisioning" / "alerting").glob("*.y*ml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                queries += [d["model"]["expr"] for d in rule["data"] if "expr" in d.get("model", {})]
    return queries


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
