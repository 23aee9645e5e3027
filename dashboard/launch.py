"""`crashes dashboard`: serve the Streamlit app (dashboard/app.py) on 127.0.0.1.

Streamlit owns its server loop and signal handling, so this process becomes `python -m streamlit
run` (exec, not a child: a SIGTERM from docker or a supervisor reaches Streamlit itself) with
everything set on the command line: headless, no file watcher, no usage statistics, the viewer's
toolbar, bound to the given interface.
"""

from __future__ import annotations

import os
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
        # Viewer toolbar only: Streamlit's "Deploy" button means nothing for a self-hosted app.
        "--client.toolbarMode",
        "viewer",
    ]


def serve_dashboard(port: int | None = None, host: str = "127.0.0.1") -> None:
    """Replace this process with the Streamlit server; it serves until stopped."""
    port = port or get_settings().dashboard_port
    if not APP.is_file():
        raise CrashesError(f"the dashboard app is missing at {APP}")
    print(f"serving the dashboard on http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    command = streamlit_command(port, host)
    os.execv(command[0], command)
