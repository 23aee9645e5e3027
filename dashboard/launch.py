"""`crashes dashboard`: serve the Streamlit app (dashboard/app.py) on 127.0.0.1.

Streamlit owns its server loop and signal handling, so it runs as `python -m streamlit run` in a
child process with everything set on the command line: headless, no file watcher, no usage
statistics, bound to the given interface.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from crashes.config import get_settings
from crashes.errors import CrashesError

APP = Path(__file__).resolve().parent / "app.py"


def streamlit_command(port: int, host: str = "127.0.0.1") -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.headless",
        "true",
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--global.developmentMode",
        "false",
    ]


def serve_dashboard(port: int | None = None, host: str = "127.0.0.1") -> None:
    """Serve until interrupted; a server that cannot start is one line, not a traceback."""
    port = port or get_settings().dashboard_port
    print(f"serving the dashboard on http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    try:
        code = subprocess.call(streamlit_command(port, host))
    except KeyboardInterrupt:
        return
    if code not in (0, -2, 130):
        raise CrashesError(f"the dashboard server exited with status {code} (is port {port} free?)")
