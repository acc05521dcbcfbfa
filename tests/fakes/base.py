"""What both fake servers share: a threaded HTTP server on 127.0.0.1 and schema-shaped answers."""

from __future__ import annotations

import atexit
import json
import threading
import weakref
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HANG_LIMIT_S = 30.0  # a "hung" request gives up after this long even if nobody stops the server
_running: weakref.WeakSet = weakref.WeakSet()


def _stop_all() -> None:
    for server in list(_running):
        server.stop()


atexit.register(_stop_all)


class FakeServer:
    """Start/stop and the plumbing; subclasses implement `handle(handler, method, path, body)`."""

    def __init__(self, *, latency: float = 0.0):
        self.latency = latency
        self.failure: str | None = None  # "500", "hang", "garbage", "429", "close"
        self.failure_count: int | None = None  # fail this many requests, then recover (None: always)
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self.in_flight = 0
        self.peak_in_flight = 0
        self.stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "start the server first"
        return self._server.server_address[1]

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        owner = self

        class Handler(_Handler):
            server_owner = owner

        self.stopping.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{type(self).__name__}-{self.port}", daemon=True)
        self._thread.start()
        _running.add(self)
        return self

    def stop(self) -> None:
        self.stopping.set()  # releases hung handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        _running.discard(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- failure modes -------------------------------------------------------------------------------

    def fail(self, mode: str | None, count: int | None = None) -> None:
        """Fail the next `count` requests (None: every request) with `mode`; mode None recovers."""
        with self.lock:
            self.failure, self.failure_count = mode, count

    def take_failure(self) -> str | None:
        with self.lock:
            if self.failure is None:
                return None
            mode = self.failure
            if self.failure_count is not None:
                self.failure_count -= 1
                if self.failure_count <= 0:
                    self.failure, self.failure_count = None, None
            return mode

    def wait_latency(self) -> None:
        if self.latency:
            self.stopping.wait(self.latency)

    def hang(self) -> None:
        self.stopping.wait(HANG_LIMIT_S)

    def handle(self, h: _Handler, method: str, path: str, body: dict | None) -> None:  # pragma: no cover
        raise NotImplementedError


class _Handler(BaseHTTPRequestHandler):
    server_owner: FakeServer
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Answer without Nagle's delay, as real servers do (Go's net/http, uvicorn): headers and body
        # go out in separate writes, and the client's delayed ACK would add ~40 ms to each call.
        import socket

        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        owner = self.server_owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = "invalid"
        path = self.path.split("?", 1)[0]
        with owner.lock:
            owner.requests.append((method, path))
            owner.in_flight += 1
            owner.peak_in_flight = max(owner.peak_in_flight, owner.in_flight)
        try:
            owner.handle(self, method, path, body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with owner.lock:
                owner.in_flight -= 1

    # -- writing answers ---------------------------------------------------------------------------

    def send_json(self, status: int, data, headers: dict | None = None) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def send_text(self, status: int, text: str, content_type: str = "text/html") -> None:
        payload = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def start_ndjson(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def send_line(self, data) -> None:
        line = (json.dumps(data) + "\n").encode()
        self.wfile.write(f"{len(line):X}\r\n".encode() + line + b"\r\n")
        self.wfile.flush()

    def end_ndjson(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def drop(self) -> None:
        """Close the connection without an answer (a server that dies mid-request)."""
        self.close_connection = True
        try:
            import socket

            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


# -- answers shaped by a JSON schema ---------------------------------------------------------------

def answer_for(schema: dict | None, chooser=None, messages: list | None = None):
    """A valid instance of `schema` (deterministic): the chooser's pick, else the first enum value,
    a fixed string, 0, true, [] — recursively for objects."""
    if chooser is not None:
        picked = chooser(schema, messages or [])
        if picked is not None:
            return picked
    return _instance(schema or {"type": "object", "properties": {"answer": {"type": "string"}}})


def _instance(schema: dict):
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        return {name: _instance(sub) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return []
    if kind == "integer":
        return 0
    if kind == "number":
        return 0.0
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "ok"


def count_tokens(messages: list | None) -> int:
    return sum(len(str(m.get("content", "")).split()) for m in (messages or []) if isinstance(m, dict)) or 1
