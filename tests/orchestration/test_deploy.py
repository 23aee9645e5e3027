"""docker-compose.yml, the Prometheus config and the Grafana provisioning, validated by real tools."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.orchestration.monitoring import GRAFANA, PROJECT, alert_queries, dashboard_queries, metric_names

COMPOSE = PROJECT / "docker-compose.yml"
ENV_EXAMPLE = PROJECT / ".env.example"
SERVICES = {"minio", "minio-init", "pipeline", "dashboard", "docs", "api", "prometheus", "grafana", "dagster"}


def _compose_config(env_file: Path, *options: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("docker-compose is not installed (Debian package docker-compose; .ci/run installs it)")
    return subprocess.run(
        [tool, "--env-file", str(env_file), *options, "-f", str(COMPOSE), "config"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT,
    )


def test_compose_file_is_valid_with_the_example_env(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(ENV_EXAMPLE.read_text())
    out = _compose_config(env)
    assert out.returncode == 0, out.stderr
    config = yaml.safe_load(out.stdout)
    services = config["services"]
    assert set(services) == SERVICES
    for name in ("pipeline", "dashboard", "docs", "api"):
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
        assert [str(v) for v in services[name]["volumes"]] == ["crashes-data:/data:rw"]
    for name in SERVICES - {"minio-init"}:
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
        for port in services[name].get("ports", []):
            host_ip = port["host_ip"] if isinstance(port, dict) else str(port).split(":")[0]
            assert host_ip == "127.0.0.1", f"{name} publishes a port on all interfaces"
    pipeline = services["pipeline"]
    assert pipeline["environment"]["CRASHES_BRONZE_URL"] == "s3://crashes/bronze"
    assert pipeline["environment"]["DESTINATION__FILESYSTEM__CREDENTIALS__ENDPOINT_URL"] == "http://minio:9000"
    assert pipeline["command"][:1] == ["scheduler"] and "0.0.0.0" in pipeline["command"]
    assert services["dashboard"]["command"][:3] == ["dashboard", "--host", "0.0.0.0"]
    assert services["docs"]["command"][:2] == ["docs", "--serve"]
    assert services["api"]["command"][:1] == ["api"] and "/healthz" in " ".join(services["api"]["healthcheck"]["test"])
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert pipeline["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"
    assert set(config["volumes"]) >= {"crashes-data", "minio-data", "prometheus-data", "grafana-data"}
    # Every file the compose file mounts is in the repo.
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else str(volume).split(":")[0]
            if source.startswith("/"):
                assert Path(source).exists(), f"mounted {source} is missing"


def test_credentials_come_only_from_env(tmp_path: Path) -> None:
    text = COMPOSE.read_text()
    for key in ("MINIO_ROOT_PASSWORD", "PIPELINE_SECRET_KEY", "GRAFANA_ADMIN_PASSWORD", "AWS_SECRET_ACCESS_KEY"):
        for line in (ln for ln in text.splitlines() if key in ln and ":" in ln):
            value = line.split(":", 1)[1].strip()
            assert value == "" or value.startswith("${") or "$$" in value, f"literal credential: {line.strip()}"
    secrets = {
        k: v for k, v in (ln.split("=", 1) for ln in ENV_EXAMPLE.read_text().splitlines() if "=" in ln)
        if re.search("PASSWORD|SECRET", k)
    }  # fmt: skip
    assert secrets and all("change-me" in v for v in secrets.values()), "the example holds placeholders only"
    # A missing credential stops compose with the variable's name, instead of starting with a blank.
    env = tmp_path / ".env"
    env.write_text("\n".join(ln for ln in ENV_EXAMPLE.read_text().splitlines() if "MINIO_ROOT_PASSWORD" not in ln))
    out = _compose_config(env)
    assert out.returncode != 0 and "set MINIO_ROOT_PASSWORD in .env" in out.stderr


def test_prometheus_config_is_valid() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus; .ci/run installs it)")
    out = subprocess.run(
        [promtool, "check", "config", str(PROJECT / "deploy/prometheus/prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    jobs = {
        j["job_name"]
        for j in yaml.safe_load((PROJECT / "deploy/prometheus/prometheus.yml").read_text())["scrape_configs"]
    }
    assert jobs == {"crashes-pipeline", "crashes-api", "minio"}


def test_grafana_provisioning_is_consistent() -> None:
    (source,) = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())["datasources"]
    assert source["url"] == "http://prometheus:9090"
    dashboard = json.loads((GRAFANA / "dashboards/pipeline.json").read_text())
    assert dashboard["uid"] and dashboard["panels"]
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
    rules = [
        r
        for g in yaml.safe_load((GRAFANA / "provisioning/alerting/crashes-alerts.yml").read_text())["groups"]
        for r in g["rules"]
    ]
    assert {r["title"] for r in rules} == {
        "Pipeline run failed",
        "Pipeline run stuck",
        "Pipeline metrics target down",
        "Crash data is stale",
        "dbt tests failed",
        "Hit-and-run scores drifted",
        "Hit-and-run scores miscalibrated",
    }
    for rule in rules:
        refs = {d["refId"] for d in rule["data"]}
        assert rule["condition"] in refs
        for d in rule["data"]:
            assert d["datasourceUid"] in (source["uid"], "__expr__")
            assert d["model"].get("expression", "A") in refs
    assert len(dashboard_queries()) >= 10 and len(alert_queries()) == 7


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("max by (job_kind) (crashes_last_run_failed)", {"crashes_last_run_failed"}),
        ('time() - max(crashes_x{field="a:b", job=~"c.*"}) / 3600', {"crashes_x"}),
        ("histogram_quantile(0.9, sum by (le, stage) (rate(crashes_h_bucket[1d])))", {"crashes_h_bucket"}),
        ("a_total offset 5m > bool 1e3 and on (x) group_left (y) b", {"a_total", "b"}),
        ("max by (job_kind) (last_over_time(crashes_f[1d]))", {"crashes_f"}),
        ('min(up{job="crashes-pipeline"}) or vector(0)', {"up"}),
    ],
)
def test_promql_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


@pytest.mark.parametrize(
    "service",
    ["pipeline", "dashboard", "docs", "api"],
)
def test_compose_commands_are_valid_crashes_invocations(tmp_path: Path, service: str) -> None:
    """Each Python service's command parses with the real CLI (--help stops before running it)."""
    env = tmp_path / ".env"
    env.write_text(ENV_EXAMPLE.read_text())
    out = _compose_config(env)
    command = yaml.safe_load(out.stdout)["services"][service]["command"]
    parsed = subprocess.run(
        [str(PROJECT / ".venv/bin/crashes"), *command, "--help"], capture_output=True, text=True, timeout=60
    )
    assert parsed.returncode == 0, parsed.stderr


def test_the_dagster_profile_runs_the_schedules_instead_of_the_scheduler(tmp_path: Path) -> None:
    """`--profile dagster` with PIPELINE_COMMAND=metrics: Dagster runs the pipeline, the pipeline
    service only serves /metrics, and both commands parse with the real CLIs."""
    env = tmp_path / ".env"
    env.write_text(ENV_EXAMPLE.read_text().replace("PIPELINE_COMMAND=scheduler", "PIPELINE_COMMAND=metrics"))
    out = _compose_config(env, "--profile", "dagster")
    assert out.returncode == 0, out.stderr
    services = yaml.safe_load(out.stdout)["services"]
    dagster = services["dagster"]
    assert dagster["profiles"] == ["dagster"] and dagster["build"]["args"]["EXTRAS"] == "[dagster]"
    assert dagster["entrypoint"] == ["dagster"] and dagster["command"][:3] == [
        "dev",
        "-m",
        "orchestration.dagster_defs",
    ]
    assert dagster["environment"]["DAGSTER_HOME"].startswith("/data/")
    assert services["pipeline"]["command"][:1] == ["metrics"]
    for command in (["dagster", *dagster["command"]], [".venv/bin/crashes", *services["pipeline"]["command"]]):
        tool = PROJECT / ".venv/bin" / Path(command[0]).name
        parsed = subprocess.run([str(tool), *command[1:], "--help"], capture_output=True, text=True, timeout=120)
        assert parsed.returncode == 0, parsed.stderr


def test_image_listens_on_loopback_unless_compose_says_otherwise() -> None:
    lines = (PROJECT / "deploy/Dockerfile").read_text().splitlines()
    (cmd,) = [json.loads(ln.removeprefix("CMD ")) for ln in lines if ln.startswith("CMD ")]
    assert cmd[:1] == ["scheduler"] and cmd[cmd.index("--host") + 1] == "127.0.0.1", cmd
    assert not any("0.0.0.0" in ln for ln in lines if ln.startswith(("CMD", "ENTRYPOINT", "ENV")))
    # Compose's Python services each name their interface, so none relies on the image's default.
    compose = yaml.safe_load(COMPOSE.read_text())
    for name in ("pipeline", "dashboard", "docs", "api", "dagster"):
        command = compose["services"][name]["command"]
        assert command[command.index("--host") + 1] == "0.0.0.0", name


def test_the_pipeline_gets_the_time_a_stopped_run_needs() -> None:
    """docker stop waits stop_grace_period after SIGTERM before SIGKILL: at least what the kill
    test allows a run to take to record itself interrupted and exit."""
    from tests.orchestration.test_kill import EXIT_WITHIN_S

    grace = yaml.safe_load(COMPOSE.read_text())["services"]["pipeline"].get("stop_grace_period", "10s")
    amount, unit = re.fullmatch(r"(\d+)(s|m)", grace).groups()  # type: ignore[union-attr]
    seconds = int(amount) * (60 if unit == "m" else 1)
    assert seconds >= EXIT_WITHIN_S, f"stop_grace_period {grace} is shorter than a stop may take"
