"""Health checks that test the real thing: open the gold snapshot, list bronze, fetch /metrics.

The seed dashboard assumed services were up; each check here does the operation a user depends
on and reports what it found or the error it met. The HTTP probes run in parallel with short
timeouts so a dead service costs the page well under a second. An optional service nobody set up
(Prometheus or the docs site at their default address with nothing there, the Evidence site never
built) reads "not configured": a red DOWN is for what was set up and does not answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import requests

from crashes.config import get_settings
from crashes.errors import CrashesError
from crashes.gold import connect
from dashboard.bronze import BronzeListing, list_bronze

HTTP_TIMEOUT_S = 1.0
EVIDENCE_BUILD = Path(__file__).resolve().parent / "evidence" / "build"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    url: str = ""
    seconds: float = 0.0
    unconfigured: bool = False

    @property
    def state(self) -> str:
        return "ok" if self.ok else "not configured" if self.unconfigured else "down"


@dataclass(frozen=True)
class Endpoints:
    """Where the other services answer. The probes run where the dashboard runs (inside
    docker-compose `http://pipeline:8000/metrics`); the links open in the user's browser."""

    metrics: str
    docs: str
    prometheus: str


def endpoints() -> Endpoints:
    s = get_settings()
    return Endpoints(metrics=s.metrics_url, docs=s.docs_url, prometheus=s.prometheus_url)


def _timed(name: str, probe: Callable[[], tuple[bool, str]], url: str = "") -> Check:
    started = time.perf_counter()
    try:
        ok, detail = probe()
    except CrashesError as exc:
        ok, detail = False, str(exc)
    except requests.ConnectionError:
        ok, detail = False, "nothing answers there (connection refused or host unknown)"
    except requests.Timeout:
        ok, detail = False, f"no answer within {HTTP_TIMEOUT_S:g} s"
    except Exception as exc:  # noqa: BLE001 - a failed probe is the answer, not an error
        ok, detail = False, f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
    return Check(name, ok, detail, url, time.perf_counter() - started)


def _gold() -> tuple[bool, str]:
    with connect() as con:
        marts, rows = con.execute(
            "select count(*), coalesce(sum(estimated_size), 0) from duckdb_tables() where schema_name = 'marts'"
        ).fetchone()
    if not marts:
        return False, "opened, but it holds no marts"
    return True, f"opened read-only: {marts} marts, ~{rows:,} rows"


def _bronze(listing: BronzeListing | None) -> tuple[bool, str]:
    listing = listing or list_bronze()
    if not listing.reachable:
        return False, listing.error
    files = listing.files
    found = f"{len(files)} parquet files in {files['load_id'].nunique() if len(files) else 0} loads"
    if get_settings().bronze_is_local:
        found += " · local folder (S3/MinIO not configured)"
    return True, found


def _get(url: str) -> requests.Response:
    """Probe directly: a proxy from the environment must not stand between us and 127.0.0.1."""
    with requests.Session() as session:
        session.trust_env = False
        return session.get(url, timeout=HTTP_TIMEOUT_S)


def _metrics(url: str) -> tuple[bool, str]:
    response = _get(url)
    if response.status_code != 200:
        return False, f"HTTP {response.status_code}"
    families = {line.split()[2] for line in response.text.splitlines() if line.startswith("# TYPE crashes_")}
    if not families:
        return False, "answered, but serves no crashes_* metrics"
    return True, f"HTTP 200, {len(families)} crashes_* metric families"


def _http(url: str) -> tuple[bool, str]:
    response = _get(url)
    return response.ok, f"HTTP {response.status_code}"


def _evidence() -> tuple[bool, str]:
    index = EVIDENCE_BUILD / "index.html"
    if not index.is_file():
        return False, "site not built (`npm run build` in dashboard/evidence, needs internet)"
    built = datetime.fromtimestamp(index.stat().st_mtime, tz=UTC)
    return True, f"built {built:%Y-%m-%d %H:%M} UTC"


def _optional(check: Check, service: str) -> Check:
    """An optional service left at its default address with nothing there is not configured."""
    if check.ok or service in get_settings().urls_set:
        return check
    detail = f"nothing answers at the default address; set CRASHES_{service.upper()}_URL"
    return replace(check, unconfigured=True, detail=detail)


def run_checks(bronze: BronzeListing | None = None) -> list[Check]:
    """Gold, bronze and the metrics endpoint (the pipeline's health), then the docs site and
    Prometheus (so their links can say whether anything answers there), then whether the Evidence
    site is built. Pass a bronze listing the caller already made to avoid listing twice."""
    ends = endpoints()
    prometheus_ready = ends.prometheus.rstrip("/") + "/-/ready"
    with ThreadPoolExecutor(max_workers=5) as pool:
        futures = [
            pool.submit(_timed, "Gold snapshot", _gold, str(get_settings().gold_path)),
            pool.submit(_timed, "Bronze", lambda: _bronze(bronze), get_settings().bronze_url),
            pool.submit(_timed, "Metrics endpoint", lambda: _metrics(ends.metrics), ends.metrics),
            pool.submit(_timed, "dbt docs site", lambda: _http(ends.docs), ends.docs),
            pool.submit(_timed, "Prometheus", lambda: _http(prometheus_ready), ends.prometheus),
        ]
        checks = [f.result() for f in futures]
    checks[3] = _optional(checks[3], "docs")
    checks[4] = _optional(checks[4], "prometheus")
    evidence = _timed("Evidence site", _evidence, str(EVIDENCE_BUILD))
    return [*checks, replace(evidence, unconfigured=not evidence.ok)]
