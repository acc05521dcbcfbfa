"""Pytest fixtures over the fakes. Import the ones a test module needs:

    from tests.fakes.fixtures import fake_ollama, fake_openai, memory_keyring, no_real_keyring  # noqa: F401

`no_real_keyring` is autouse: importing it makes every test of that module run on an in-memory
keyring, so no test ever reads or writes the developer's real one.
"""

from __future__ import annotations

import pytest

from tests.fakes.keyring_backend import MemoryKeyring, use_keyring
from tests.fakes.ollama_server import FakeOllama
from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture(autouse=True)
def no_real_keyring(monkeypatch):
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    with use_keyring(MemoryKeyring()) as backend:
        yield backend


@pytest.fixture
def memory_keyring(no_real_keyring):
    return no_real_keyring


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    """Retries back off in milliseconds in tests (the policy is the same, only the base is smaller)."""
    from engine.lms import reliability

    monkeypatch.setattr(reliability, "BACKOFF_BASE_S", 0.01)
    monkeypatch.setattr(reliability, "BACKOFF_MAX_S", 0.05)


@pytest.fixture(autouse=True)
def fresh_engines(monkeypatch):
    """No environment leaks in from the developer's shell; engines are closed after each test."""
    for name in ("OLLAMA_HOST", "OPENAI_API_KEY", "OLLAMA_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    yield
    from engine.lms.connect import close_engines

    close_engines()


@pytest.fixture
def fake_ollama():
    with FakeOllama(models=["llama3.2:latest"], library=["qwen2.5:0.5b"]) as server:
        yield server


@pytest.fixture
def fake_openai():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def lm_cache():
    """A fresh, memory-only DSPy cache for the test (a disk cache takes ~1 s to open); restored afterwards."""
    import dspy

    previous = vars(dspy).get("cache")  # reading dspy.cache would build the default one in ~/.dspy_cache
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=True)
    yield dspy.cache
    if previous is None:
        vars(dspy).pop("cache", None)
    else:
        dspy.cache = previous
    from engine.jobs import compile as compile_module

    compile_module._active_cache = None


@pytest.fixture
def sample_triage_project(tmp_path):
    """A fresh copy of the support-triage sample; afterwards DSPy's process-wide cache is put back
    (a compile points it at the project's folder)."""
    import dspy

    from engine.jobs import compile as compile_module
    from engine.project import Project

    previous = vars(dspy).get("cache")
    yield Project.create(tmp_path / "triage", sample="support-triage")
    if previous is None:
        vars(dspy).pop("cache", None)
    else:
        dspy.cache = previous
    compile_module._active_cache = None
