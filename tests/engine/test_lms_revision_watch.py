"""RevisionWatch beyond the happy path: a removed Ollama model, a swapped GGUF file, a server that
is briefly down (claims nothing)."""

from __future__ import annotations

import os

from engine.lms.connect import connect
from engine.lms.profiles import ModelProfile, embedded_profile
from engine.lms.revision_watch import RevisionWatch
from tests.fakes.fixtures import fast_backoff, fresh_engines, no_real_keyring  # noqa: F401
from tests.fakes.ollama_server import FakeOllama


def test_a_model_removed_from_ollama_mid_run_is_reported():
    with FakeOllama() as server:
        watch = RevisionWatch(connect(ModelProfile(name="l", provider="ollama", model="llama3.2", base_url=server.url)),
                              min_poll_interval_s=0)
        server.remove("llama3.2")
        note = watch.changed()
    assert note and "was removed from Ollama" in note


def test_an_unreachable_ollama_during_the_run_is_not_called_a_change():
    server = FakeOllama().start()
    watch = RevisionWatch(connect(ModelProfile(name="l", provider="ollama", model="llama3.2", base_url=server.url)),
                          min_poll_interval_s=0)
    server.stop()
    assert watch.changed() is None and watch.current() == watch.start


def test_a_swapped_embedded_model_file_is_reported(tmp_path, monkeypatch):
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 64)
    monkeypatch.setenv("DSPY_WORKBENCH_GGUF", str(gguf))
    connected = connect(embedded_profile())  # hashes the file; llama.cpp loads it only on the first call
    watch = RevisionWatch(connected)
    assert watch.changed() is None
    gguf.write_bytes(b"GGUF" + b"\1" * 80)
    os.utime(gguf, ns=(1, 2))
    note = watch.changed()
    assert note and "embedded model file changed" in note
    assert watch.current().revision != connected.revision.revision
