"""A Socrata-compatible HTTP server on 127.0.0.1 for offline runs and tests.

It answers `GET /resource/<id>.json` for the three crash datasets the way the portal does for the
subset the pipeline uses ($select, $where, $order, $limit, $offset, X-App-Token): every value a
JSON string, nulls omitted, `location` a GeoJSON object, system fields only with `:*`. Errors are
Socrata-shaped JSON bodies. Every record has a stable `:id` (kept by amendments), and
`$order=:updated_at, :id` with a keyset `$where` pages without `$offset`. Control endpoints for
tests in another process: `POST/GET/DELETE /_faults`, `GET /_requests` (counts),
`POST /_upsert/<dataset>` (JSON array of records).

    with SocrataServer(data_dir=folder) as srv:
        requests.get(f"{srv.url}/resource/85ca-t3if.json", params={"$limit": 10})
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pyarrow as pa
from requests.structures import CaseInsensitiveDict

from ingestion.datasets import DATASETS
from ingestion.devserver.faults import AMEND_FIELDS, Fault, Faults
from ingestion.devserver.soql import SoqlError, compile_query
from ingestion.devserver.store import Store, files_by_dataset

BY_RESOURCE_ID = {spec.resource_id: name for name, spec in DATASETS.items()}
DEMO_START, DEMO_END, DEMO_PER_DAY, DEMO_SEED = date(2024, 1, 1), date(2024, 4, 1), 300, 42


@dataclass
class RequestRecord:
    """One request as the server saw it (headers case-insensitive, like HTTP's)."""

    method: str
    path: str
    params: dict[str, str]
    headers: CaseInsensitiveDict[str]
    status: int = 0
    rows: int | None = None
    seconds: float = 0.0
    fault: str | None = None
    amended: list[str] = field(default_factory=list)  # keys an `amend` fault changed after serving

    @property
    def token(self) -> str | None:
        return self.headers.get("X-App-Token") or self.params.get("$$app_token") or None


@dataclass
class _State:
    store: Store
    faults: Faults
    require_token: bool
    app_tokens: set[str] | None
    requests: list[RequestRecord] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)


def _error(status: int, message: str, code: str) -> tuple[int, bytes]:
    return status, json.dumps({"code": code, "error": True, "message": message}).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the portal's clients expect
    server_version = "SocrataDevServer/1.0"
    state: _State  # set on the subclass per server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: the request log is `server.requests`."""

    # ------------------------------------------------------------------ plumbing
    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _send_truncated(self, body: bytes, mode: str) -> None:
        """Half a body, then a closed connection: a Content-Length mismatch or an unterminated array."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        if mode == "length":
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body[: max(1, len(body) // 2)])
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _record(self, method: str) -> tuple[RequestRecord, str, dict[str, str]]:
        parts = urlsplit(self.path)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        record = RequestRecord(method, parts.path, params, CaseInsensitiveDict(self.headers.items()))
        with self.state.lock:
            self.state.requests.append(record)
        return record, parts.path, params

    def _body_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw or b"null")

    # ------------------------------------------------------------------ verbs
    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        started = time.perf_counter()
        record, path, params = self._record("GET")
        try:
            if path == "/_faults":
                status, body = 200, json.dumps(self.state.faults.pending()).encode()
            elif path == "/_requests":
                status, body = 200, json.dumps(_counts(self.state)).encode()
            elif path.startswith("/resource/"):
                self._resource(record, path, params)
                return
            else:
                status, body = _error(404, f"Not found: {path}", "not_found")
            record.status = status
            self._send(status, body)
        finally:
            record.seconds = time.perf_counter() - started

    def do_POST(self) -> None:  # noqa: N802
        record, path, _ = self._record("POST")
        try:
            payload = self._body_json()
            if path == "/_faults":
                opts = dict(payload or {})
                fault = self.state.faults.add(opts.pop("kind"), **opts)
                status, body = 201, json.dumps(fault.__dict__).encode()
            elif path.startswith("/_upsert/"):
                name = path.removeprefix("/_upsert/")
                if name not in DATASETS or not isinstance(payload, list):
                    raise ValueError(f"POST /_upsert/<{'|'.join(DATASETS)}> with a JSON array of records")
                table = _records_to_table(payload)
                status, body = 200, json.dumps({"upserted": self.state.store.upsert(name, table)}).encode()
            else:
                status, body = _error(404, f"Not found: {path}", "not_found")
        except (ValueError, KeyError, TypeError) as exc:
            status, body = _error(400, f"{type(exc).__name__}: {exc}", "bad_request")
        record.status = status
        self._send(status, body)

    def do_DELETE(self) -> None:  # noqa: N802
        record, path, _ = self._record("DELETE")
        if path == "/_faults":
            self.state.faults.clear()
            status, body = 200, b"[]"
        else:
            status, body = _error(404, f"Not found: {path}", "not_found")
        record.status = status
        self._send(status, body)

    # ------------------------------------------------------------------ data
    def _resource(self, record: RequestRecord, path: str, params: dict[str, str]) -> None:
        resource = path.removeprefix("/resource/")
        resource_id = resource.removesuffix(".json")
        name = BY_RESOURCE_ID.get(resource_id)
        if name is None or not resource.endswith(".json"):
            record.status, body = _error(404, f"Dataset {resource_id!r} not found", "not_found")
            self._send(record.status, body)
            return
        token = record.token
        params = {k: v for k, v in params.items() if k != "$$app_token"}
        st = self.state
        if (st.require_token and not token) or (token and st.app_tokens is not None and token not in st.app_tokens):
            message = "Invalid app_token specified" if token else "An app token is required"
            record.status, body = _error(403, message, "forbidden")
            self._send(record.status, body)
            return
        fault = st.faults.take(name, resource_id)
        if fault is not None:
            record.fault = fault.kind
            if self._apply_fault(record, fault):
                return
        try:
            query = compile_query(params, st.store.columns[name])
            page = st.store.page(name, query)
            body, rows = st.store.render(name, page, query.fields)
        except SoqlError as exc:
            record.status, body = _error(400, str(exc), exc.code)
            self._send(record.status, body)
            return
        record.rows = rows
        if fault is not None and fault.kind == "amend":
            # The body is the page as it was; the store changes before the client can ask again.
            record.amended = st.store.amend(name, page[: fault.rows], fault.field or AMEND_FIELDS[name])
        if fault is not None and fault.kind == "truncated":
            record.status = 200
            self._send_truncated(body, fault.mode)
            return
        record.status = 200
        fields = json.dumps(query.fields)
        self._send(200, body, {"X-SODA2-Fields": fields, "Last-Modified": _http_date(st.store.last_updated)})

    def _apply_fault(self, record: RequestRecord, fault: Fault) -> bool:
        """Answer with the fault; True when the request is finished (slow/truncated continue)."""
        if fault.kind == "slow":
            self.state.stopping.wait(fault.seconds)
            return False
        if fault.kind in ("truncated", "amend"):
            return False
        status = int(fault.kind)
        headers = {"Retry-After": str(fault.retry_after)} if status in (429, 503) else {}
        message = {429: "Too many requests", 500: "Internal error", 503: "Service unavailable"}[status]
        record.status, body = _error(status, message, {429: "too_many_requests"}.get(status, "internal_error"))
        self._send(status, body, headers)
        return True


def _http_date(value: datetime) -> str:
    return format_datetime(value.replace(tzinfo=UTC), usegmt=True)


def _counts(state: _State) -> dict[str, Any]:
    with state.lock:
        data = [r for r in state.requests if r.path.startswith("/resource/")]
    return {
        "resource_requests": len(data),
        "with_token": sum(1 for r in data if r.token),
        "without_token": sum(1 for r in data if not r.token),
        "by_status": {str(s): sum(1 for r in data if r.status == s) for s in sorted({r.status for r in data})},
    }


def _records_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """JSON records → an all-string table (objects such as `location` kept as JSON text)."""
    names: list[str] = []
    for row in rows:
        names.extend(k for k in row if k not in names)

    def text(v: Any) -> str | None:
        if v is None:
            return None
        return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))

    return pa.table({n: pa.array([text(r.get(n)) for r in rows], pa.string()) for n in names})


class _QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (timeouts, truncation tests) is normal here; anything else is not."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, ConnectionError):
            super().handle_error(request, client_address)


class SocrataServer:
    """The local Socrata API over given Arrow tables or a folder of files, on a background thread.

    `tables`/`data_dir` supply the datasets by name (crashes, vehicles, people); missing ones are
    empty unless `generate_units` asks for vehicles and people generated for the crashes.
    """

    def __init__(
        self,
        tables: dict[str, pa.Table] | None = None,
        data_dir: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        require_token: bool = False,
        app_tokens: set[str] | None = None,
        generate_units: bool = False,
    ) -> None:
        self.store = Store()
        self.faults = Faults()
        for name, table in (tables or {}).items():
            if name not in DATASETS:
                raise ValueError(f"unknown dataset {name!r}: choose from {', '.join(DATASETS)}")
            self.store.load_arrow(name, table)
        if data_dir is not None:
            found = files_by_dataset(Path(data_dir))
            for name, files in found.items():
                self.store.load_files(name, files)
        if generate_units and self.store.count("crashes") and not (self.count("vehicles") or self.count("people")):
            from ingestion.devserver.generator import generate_units as make_units

            crashes = self.store.table("crashes").select(list(DATASETS["crashes"].columns))
            vehicles, people = make_units(crashes, seed=DEMO_SEED)
            self.store.load_arrow("vehicles", vehicles)
            self.store.load_arrow("people", people)
        self._state = _State(self.store, self.faults, require_token, app_tokens)
        handler = type("Handler", (_Handler,), {"state": self._state})
        self.httpd = _QuietHTTPServer((host, port), handler)
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def host(self) -> str:
        return str(self.httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SocrataServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self.httpd.serve_forever, name="socrata-devserver", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._state.stopping.set()
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> SocrataServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ for tests and demos
    def resource_url(self, name: str) -> str:
        return f"{self.url}/resource/{DATASETS[name].resource_id}.json"

    def count(self, name: str) -> int:
        return self.store.count(name)

    def upsert(self, dataset_name: str, table_or_rows: pa.Table | list[dict[str, Any]]) -> int:
        """New or amended records, stamped with :updated_at = now (later than anything served so far)."""
        table = table_or_rows if isinstance(table_or_rows, pa.Table) else _records_to_table(table_or_rows)
        return self.store.upsert(dataset_name, table)

    @property
    def requests(self) -> list[RequestRecord]:
        """The live request log (tests may `.clear()` it between steps)."""
        return self._state.requests

    def data_requests(self, name: str | None = None) -> list[RequestRecord]:
        """Requests to /resource/ (optionally one dataset's)."""
        prefix = f"/resource/{DATASETS[name].resource_id}" if name else "/resource/"
        return [r for r in self.requests if r.path.startswith(prefix)]

    @property
    def token_counts(self) -> dict[str, int]:
        counts = _counts(self._state)
        return {"with": counts["with_token"], "without": counts["without_token"]}


def serve(port: int, data_dir: Path | None, host: str = "127.0.0.1") -> None:
    """Blocking server for `crashes serve-socrata`; without data it serves generated demo months."""
    tables = None
    if data_dir is None:
        from ingestion.devserver.generator import generate_tables

        tables = generate_tables(DEMO_START, DEMO_END, DEMO_PER_DAY, DEMO_SEED)
    server = SocrataServer(tables=tables, data_dir=data_dir, host=host, port=port, generate_units=True)
    source = str(data_dir) if data_dir else f"generated demo data {DEMO_START} … {DEMO_END} (seed {DEMO_SEED})"
    print(f"Socrata-compatible server on {server.url} serving {source}")
    for name, spec in DATASETS.items():
        print(f"  {server.url}/resource/{spec.resource_id}.json  {name}: {server.count(name):,} rows")
    print("Ctrl-C to stop.", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.httpd.server_close()
