"""A known fake key is used for real calls and then found in no file the app wrote: not in the
project (project.toml, runs.sqlite, DSPy's cache, the exported artifact), not in the user's
config, cache or data folders, not in the logs, not in any event."""

from __future__ import annotations

import io
import secrets
import sys
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.jobs.compile import CompileJob, CompileSettings
from engine.paths import cache_dir, config_dir, data_dir, log_dir
from engine.project import Project
from tests.fakes.fixtures import fast_backoff, fresh_engines, memory_keyring, no_real_keyring  # noqa: F401
from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture
def key():
    return "sk-scan-" + secrets.token_hex(16)


@pytest.fixture
def restore_dspy_cache():
    import dspy

    from engine.jobs import compile as compile_module

    previous = vars(dspy).get("cache")
    yield
    if previous is None:
        vars(dspy).pop("cache", None)
    else:
        dspy.cache = previous
    compile_module._active_cache = None


def _files_holding(needle: str, folders: list[Path]) -> list[Path]:
    found = []
    for folder in folders:
        for path in Path(folder).rglob("*"):
            if path.is_file() and needle.encode() in path.read_bytes():
                found.append(path)
    return found


def _add_profile_from_stdin(monkeypatch, key: str, *args: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(key + "\n"))
    assert main(["models", "add", *args, "--api-key-stdin"]) == 0


def test_compile_against_a_keyed_openai_compatible_server_leaves_the_key_in_no_file(
        tmp_path, key, monkeypatch, memory_keyring, restore_dspy_cache, capsys):
    events = []
    with FakeOpenAI(api_key=key) as server:
        _add_profile_from_stdin(monkeypatch, key, "remote", "--provider", "openai-compatible",
                                "--model", "gpt-4o-mini", "--base-url", server.url, "--retries", "1")
        assert memory_keyring.get_password("dspy-workbench", "remote") == key
        project = Project.create(tmp_path / "proj", sample="support-triage")

        job = CompileJob(project, CompileSettings("labeled-fewshot", profile="remote", limit=4), sink=events.append)
        record = job.run()
        assert record.status == "succeeded" and record.lm_calls > 0
        assert record.model_revision == "gpt-4o-mini-2024-07-18"

        # A careless server echoes the token in its errors: a failed run, a failed test, a CLI error.
        failing = CompileJob(project, CompileSettings("bootstrap-fewshot", {"max_errors": 1}, profile="remote",
                                                      limit=4), sink=events.append)
        failing.prepare()
        server.fail("echo")
        failed = failing.run()
        assert failed.status == "failed" and "token [redacted]" in failed.error
        assert main(["models", "test", "remote"]) == 2
        assert main(["compile", str(project.root), "--model", "remote", "--limit", "4",
                     "--optimizer", "labeled-fewshot"]) == 2
        server.fail(None)

        assert main(["export", str(project.root), "--run", record.run_id, "--out",
                     str(project.root / "artifacts" / "bundle")]) == 0
        assert main(["runs", "list", str(project.root), "--json"]) == 0
        assert server.auth_seen and all(server.auth_seen)  # the key really was sent

    out = capsys.readouterr()
    assert key not in out.out and key not in out.err and "[redacted]" in out.err
    assert all(key not in repr(e) for e in events)
    folders = [project.root, config_dir(), cache_dir(), data_dir(), log_dir()]
    assert (log_dir() / "cli.log").is_file()
    assert _files_holding(key, folders) == []
    assert (project.root / "artifacts" / "bundle" / "manifest.json").is_file()


def test_compile_against_a_hosted_provider_via_litellm_leaves_the_key_in_no_file(
        tmp_path, key, monkeypatch, memory_keyring, restore_dspy_cache):
    with FakeOpenAI(api_key=key) as server:
        _add_profile_from_stdin(monkeypatch, key, "gpt", "--provider", "openai", "--model", "gpt-4o-mini",
                                "--base-url", server.url)
        project = Project.create(tmp_path / "proj", sample="support-triage")
        record = CompileJob(project, CompileSettings("labeled-fewshot", profile="gpt", limit=4)).run()
        assert record.status == "succeeded" and record.model_revision == "gpt-4o-mini-2024-07-18"
        assert main(["export", str(project.root), "--run", record.run_id, "--out", str(tmp_path / "bundle")]) == 0
        assert all(server.auth_seen)
    cache_files = list((project.root / ".cache").rglob("*"))
    assert cache_files  # DSPy's disk cache holds LiteLLM's responses...
    assert _files_holding(key, [project.root, tmp_path / "bundle", config_dir(), cache_dir(), data_dir(),
                                log_dir()]) == []  # ...and not the key
