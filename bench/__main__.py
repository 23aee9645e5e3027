"""`make bench`: every bench/*_bench.py at real scale, each in its own process (so RSS and timings
are its own), printed and written to bench/results/<time>.json.

`python -m bench ingest dbt` runs only those.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["devserver", "ingest", "dbt", "ml", "dashboard", "browser", "orchestration"]


def _benches(selected: list[str]) -> list[str]:
    found = {p.stem.removesuffix("_bench") for p in HERE.glob("*_bench.py")}
    names = [n for n in ORDER if n in found] + sorted(found - set(ORDER))
    return [n for n in names if not selected or n in selected]


def _last_json(stdout: str) -> dict:
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return {"error": "no JSON result printed", "tail": stdout[-500:]}


def main(argv: list[str]) -> int:
    results: dict[str, dict] = {}
    failed = False
    for name in _benches(argv):
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", f"bench.{name}_bench"], cwd=HERE.parent, capture_output=True, text=True
        )
        result = _last_json(proc.stdout)
        if proc.returncode != 0:
            failed = True
            result = {"error": f"exit {proc.returncode}", "stderr": proc.stderr[-1500:]}
        result["wall_seconds"] = round(time.perf_counter() - started, 1)
        results[name] = result
        print(json.dumps(result, indent=2), flush=True)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    path = out / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"results written to {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
