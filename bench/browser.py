"""Headless Chromium driven over the DevTools protocol, and a `crashes dashboard` server for it:
used by the browser benchmark (bench/browser_bench.py) and the browser smoke test.

Streamlit draws the page from a websocket after load, which `--dump-dom` with a virtual-time
budget does not wait for; polling the live DOM does. `IDLE` is what "the page is ready, as a
person sees it" means here: the script is not running, nothing is stale or spinning, every
Plotly chart has drawn its svg layers and every map subplot (MapLibre) has rendered.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
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


# Why the page is not ready yet ('' when it is): Streamlit 1.67's own markers (DESIGN.md).
IDLE = """(() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app) return 'no app';
  if (app.getAttribute('data-test-script-state') !== 'notRunning') return 'script running';
  if (document.querySelector('[data-stale="true"]')) return 'stale elements';
  if (document.querySelector('[data-testid="stSpinner"], [data-testid="stSkeleton"]')) return 'spinner';
  for (const chart of document.querySelectorAll('[data-testid="stPlotlyChart"]')) {
    const plot = chart.querySelector('.js-plotly-plot');
    if (!plot || !plot.querySelector('.main-svg')) return 'chart not drawn';
    // A map subplot (MapLibre, WebGL) draws after the svg layers: wait for its render.
    const layout = plot._fullLayout || {};
    for (const id of (layout._subplots && layout._subplots.map) || []) {
      const map = layout[id] && layout[id]._subplot && layout[id]._subplot.map;
      if (!map || !map.loaded()) return 'map not drawn';
    }
  }
  return '';
})()"""


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

    def evaluate(self, expression: str) -> object:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails'].get('text')}")
        return result.get("result", {}).get("value")

    def text(self) -> str:
        return str(self.evaluate("document.body ? document.body.innerText : ''") or "")

    def wait_idle(self, ready: str, timeout: float = 120, poll: float = 0.05) -> float:
        """The time (monotonic clock) at which the page first was idle (`IDLE`) with the JS
        expression `ready` true, on two polls in a row; the caller subtracts its own start."""
        deadline, first, why = time.monotonic() + timeout, None, ""
        while time.monotonic() < deadline:
            now = time.monotonic()
            why = str(self.evaluate(IDLE)) or ("" if self.evaluate(f"!!({ready})") else f"not ready: {ready}")
            if not why:
                if first is not None:
                    return first
                first = now
            else:
                first = None
            time.sleep(poll)
        raise TimeoutError(f"page not idle within {timeout:.0f} s ({why}); it showed:\n{self.text()[:2000]}")

    def arm(self) -> None:
        """Before an action: from now on `window.__ran` turns true once Streamlit starts a run, so
        a wait after the action cannot mistake the page before the rerun for its result."""
        self.evaluate(
            """(() => {
              window.__ran = false;
              const app = document.querySelector('[data-testid="stApp"]');
              if (window.__watch) window.__watch.disconnect();
              window.__watch = new MutationObserver(() => {
                if (app.getAttribute('data-test-script-state') === 'running') window.__ran = true;
              });
              window.__watch.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
            })()"""
        )

    def click(self, selector: str, text: str | None = None) -> None:
        """A real mouse click (press and release) at the middle of the first element matching
        `selector` whose text (its last line: icons come first) is `text`, as React's widgets need."""
        box = self.evaluate(
            f"""(() => {{
              const els = [...document.querySelectorAll({json.dumps(selector)})]
                .filter(e => {json.dumps(text)} === null
                  || e.innerText.trim().split('\\n').pop().trim() === {json.dumps(text)});
              if (!els.length) return null;
              els[0].scrollIntoView({{block: 'center'}});
              const r = els[0].getBoundingClientRect();
              return [r.left + r.width / 2, r.top + r.height / 2];
            }})()"""
        )
        if not box:
            raise LookupError(f"nothing matches {selector!r}" + (f" with text {text!r}" if text else ""))
        x, y = box
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def type_text(self, value: str) -> None:
        self.call("Input.insertText", text=value)

    def press(self, key: str = "Enter") -> None:
        codes = {"Enter": 13, "Escape": 27, "Backspace": 8}
        for kind in ("keyDown", "keyUp"):
            self.call(
                "Input.dispatchKeyEvent", type=kind, key=key, code=key, windowsVirtualKeyCode=codes[key],
                **({"text": "\r"} if key == "Enter" and kind == "keyDown" else {}),
            )  # fmt: skip

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", url=url)

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def dashboard_server(env: dict[str, str], port: int | None = None, timeout: float = 90) -> Iterator[str]:
    """`crashes dashboard` as a user starts it (the CLI execs `streamlit run`), on 127.0.0.1;
    yields its URL once `/_stcore/health` answers, and stops it afterwards."""
    import sys

    port = port or free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "dashboard", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).text == "ok":
                    break
            except requests.ConnectionError:
                pass
            if server.poll() is not None:
                raise RuntimeError(server.stdout.read().decode() if server.stdout else "the server exited")
            if time.monotonic() > deadline:
                raise TimeoutError(f"streamlit did not answer /_stcore/health within {timeout:.0f} s")
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop(server)


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
