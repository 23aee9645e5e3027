"""Headless Chromium driven over the DevTools protocol: open a page, wait until its text shows
something, read the text. Streamlit draws the page from a websocket after load, which
`--dump-dom` with a virtual-time budget does not wait for; polling the live DOM does."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from websockets.sync.client import connect as ws_connect

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-port=0", "--remote-allow-origins=*",
)  # fmt: skip


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def stop(proc: subprocess.Popen) -> None:
    """End a process we started, and its children (started in their own session): politely, then
    for sure."""
    try:
        own_group = os.getpgid(proc.pid) == proc.pid
    except ProcessLookupError:
        own_group = False
    if own_group:
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if own_group:
        with contextlib.suppress(ProcessLookupError):  # renderer/zygote children that outlived the browser
            os.killpg(proc.pid, signal.SIGKILL)


class Page:
    def __init__(self, ws_url: str) -> None:
        self._ws = ws_connect(ws_url, max_size=None, open_timeout=10)
        self._ids = itertools.count(1)

    def call(self, method: str, **params: object) -> dict:
        msg_id = next(self._ids)
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self._ws.recv(timeout=30))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def text(self) -> str:
        result = self.call("Runtime.evaluate", expression="document.body ? document.body.innerText : ''")
        return str(result.get("result", {}).get("value", ""))

    def wait_for(self, ready: Callable[[str], bool], timeout: float = 60) -> str:
        deadline, text = time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            text = self.text()
            if ready(text):
                return text
            time.sleep(0.5)
        raise TimeoutError(f"page not ready within {timeout:.0f} s; it showed:\n{text[:2000]}")

    def screenshot(self, path: Path) -> None:
        import base64

        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))

    def close(self) -> None:
        self._ws.close()


@contextmanager
def open_page(url: str, width: int = 1400, height: int = 1800, flags: tuple[str, ...] = ()) -> Iterator[Page]:
    """`flags` adds Chromium switches (`--disable-3d-apis`: a browser without WebGL)."""
    binary = chromium()
    if binary is None:
        raise FileNotFoundError("chromium is not installed")
    # Chromium's helpers may still flush into the profile as they exit: don't fail on its removal.
    with tempfile.TemporaryDirectory(prefix="crashes-chromium-", ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen(
            [binary, *FLAGS, *flags, f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 30
            while not port_file.exists() or not port_file.read_text().strip():
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("chromium did not start its DevTools endpoint")
                time.sleep(0.2)
            port = int(port_file.read_text().split()[0])
            targets = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
            target = next(t for t in targets if t.get("type") == "page")
            page = Page(target["webSocketDebuggerUrl"])
            try:
                page.call("Page.enable")
                page.call("Page.navigate", url=url)
                yield page
            finally:
                page.close()
        finally:
            stop(proc)
