"""The dbt docs site: generated offline into CRASHES_HOME/dbt/target, served on 127.0.0.1."""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from crashes.config import get_settings
from crashes.errors import CrashesError
from transform.dbt import DbtPaths, run_dbt

# What the site needs; the rest of target/ (compiled SQL, run results) is not served.
SITE_FILES = ("index.html", "static_index.html", "manifest.json", "catalog.json")


class _SiteHandler(SimpleHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        name = self.path.split("?", 1)[0].lstrip("/") or "index.html"
        if name not in SITE_FILES:
            self.send_error(404, "not part of the docs site")
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature from http.server
        pass


def generate() -> Path:
    """`dbt docs generate` (plus the single-file static page); returns the site folder."""
    settings = get_settings().ensure()
    run = run_dbt(["docs", "generate", "--static"], settings)
    site = DbtPaths.for_settings(settings).target
    if not run.success or not (site / "index.html").exists():
        raise CrashesError(f"dbt docs generate failed: {run.error or 'see ' + str(site.parent / 'logs')}")
    return site


def make_server(site: Path, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A static server for the site folder; bound but not yet serving (the caller decides how)."""
    handler = functools.partial(_SiteHandler, directory=str(site))
    try:
        return ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise CrashesError(f"cannot serve docs on {host}:{port}: {exc.strerror or exc}") from None


def docs(
    serve: bool = False,
    port: int | None = None,
    host: str = "127.0.0.1",
    guard: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> Path:
    """Generate the docs site; with `serve`, serve it until interrupted. `guard` is held while
    generating only (the CLI passes the pipeline lock, since dbt opens the warehouse); serving
    reads just the site files."""
    with guard():
        site = generate()
    print(f"dbt docs generated: {site / 'index.html'} (single file: {site / 'static_index.html'})")
    if serve:
        server = make_server(site, port or get_settings().docs_port, host)
        print(f"serving dbt docs on http://{host}:{server.server_address[1]}/ (Ctrl-C to stop)")
        try:
            server.serve_forever()
        finally:
            server.server_close()
    return site
