"""The Grafana alert rules evaluated over time by Prometheus's own rule engine (`promtool test
rules`): a stuck (or dead) run, the scrape target down, and a failure that holds through a scrape
gap until the next success instead of resolving and firing again."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.orchestration.monitoring import prometheus_rules

TARGET = {"job": "crashes-pipeline", "instance": "pipeline:8000"}


def _series(name: str, values: list[str], **labels: str) -> dict[str, str]:
    inner = ", ".join(f'{k}="{v}"' for k, v in {**TARGET, **labels}.items())
    return {"series": f"{name}{{{inner}}}", "values": " ".join(values)}


def _alerts(name: str, at: dict[str, list[dict[str, str]]]) -> list[dict[str, object]]:
    return [
        {"alertname": name, "eval_time": t, "exp_alerts": [{"exp_labels": labels} for labels in firing]}
        for t, firing in at.items()
    ]


# One value a minute. The failure: fine for 5 min, failed for 5, then the target is down for 16
# (a staleness marker, then nothing), back still failed for 5, then a run succeeds.
FAILED = ["0"] * 5 + ["1"] * 5 + ["stale"] + ["_"] * 15 + ["1"] * 5 + ["0"] * 5
# A backfill left running: its age grows a minute a minute; an incremental run is idle throughout.
STUCK_AGE = ["0+60x180"]
# The scrape target: up for 20 min, down for 10, up again.
UP = ["1x19", "0x9", "1x10"]

FAILED_ALERT = {"job_kind": "incremental", "severity": "critical"}
CASES = {
    "interval": "1m",
    "input_series": [
        _series("crashes_last_run_failed", FAILED, job_kind="incremental"),
        _series("crashes_run_oldest_age_seconds", STUCK_AGE, job_kind="backfill"),
        _series("crashes_run_oldest_age_seconds", ["0x180"], job_kind="incremental"),
        {"series": 'up{job="crashes-pipeline", instance="pipeline:8000"}', "values": " ".join(UP)},
    ],
    "alert_rule_test": [
        *_alerts(
            "crashes-run-failed",
            {
                "3m": [],
                "7m": [FAILED_ALERT],
                "12m": [FAILED_ALERT],
                "24m": [FAILED_ALERT],
                "28m": [FAILED_ALERT],
                "33m": [],
            },
        ),  # fmt: skip
        *_alerts(
            "crashes-run-stuck",
            {"60m": [], "119m": [], "125m": [{"job_kind": "backfill", "severity": "warning"}]},
        ),
        # Down from minute 20: pending for the rule's 2 minutes, then firing; resolved once back.
        *_alerts("crashes-target-down", {"19m": [], "21m": [], "23m": [{"severity": "critical"}], "31m": []}),
    ],
}
# Prometheus has no series for the target at all (never scraped, or dropped from the config).
NO_TARGET = {
    "interval": "1m",
    "input_series": [_series("crashes_run_oldest_age_seconds", ["0x10"], job_kind="incremental")],
    "alert_rule_test": [
        *_alerts("crashes-target-down", {"1m": [], "5m": [{"severity": "critical"}]}),
        *_alerts("crashes-run-failed", {"5m": []}),
        *_alerts("crashes-run-stuck", {"5m": []}),
    ],
}


@pytest.fixture
def promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool is not installed (Debian package prometheus; .ci/run installs it)")
    return binary


def test_alert_rules_fire_hold_and_resolve_over_time(promtool: str, tmp_path: Path) -> None:
    rules = prometheus_rules()
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    checked = subprocess.run([promtool, "check", "rules", "rules.yml"], capture_output=True, text=True, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tests = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [CASES, NO_TARGET]}
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    out = subprocess.run(
        [promtool, "test", "rules", "tests.yml"], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    names = {r["alert"] for r in rules["groups"][0]["rules"]}
    assert {"crashes-run-failed", "crashes-run-stuck", "crashes-target-down"} <= names


# The model's monitoring gauges, a minute apart: score PSI 0.05 for 10 min, then 0.25; calibration
# error 1.5× the test year's for 15 min, then 2.5×. Before any scoring all three are 0.
MODEL = {
    "interval": "1m",
    "input_series": [
        _series("crashes_model_score_psi", ["0.05x9", "0.25x10"]),
        _series("crashes_model_calibration_error", ["0.015x14", "0.025x5"]),
        _series("crashes_model_calibration_error_reference", ["0.01x19"]),
    ],
    "alert_rule_test": [
        *_alerts("crashes-model-drift", {"5m": [], "12m": [{"severity": "warning"}]}),
        *_alerts("crashes-model-miscalibrated", {"12m": [], "17m": [{"severity": "warning"}]}),
    ],
}
NOT_SCORED = {
    "interval": "1m",
    "input_series": [
        _series(name, ["0x10"])
        for name in (
            "crashes_model_score_psi",
            "crashes_model_calibration_error",
            "crashes_model_calibration_error_reference",
        )
    ],
    "alert_rule_test": [
        *_alerts("crashes-model-drift", {"5m": []}),
        *_alerts("crashes-model-miscalibrated", {"5m": []}),
    ],
}


def test_model_alerts_fire_on_score_drift_and_doubled_calibration_error(promtool: str, tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(prometheus_rules()))
    tests = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [MODEL, NOT_SCORED]}
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    out = subprocess.run(
        [promtool, "test", "rules", "tests.yml"], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
