"""End to end through the CLI: `compile --model PROFILE` against a local Ollama and a local
OpenAI-compatible server (fakes), then the exported manifest records the exact revision."""

from __future__ import annotations

import io
import json
import sys

import pytest

from engine.artifacts import export_run
from engine.cli.main import main
from tests.fakes.fixtures import fast_backoff, fresh_engines, memory_keyring, no_real_keyring, sample_triage_project  # noqa: F401
from tests.fakes.ollama_server import FakeOllama
from tests.fakes.openai_server import FakeOpenAI

KEY = "sk-int-4Rt8Yp2Lm6Qw0Zx3Vb9Nc1Kd"


@pytest.fixture
def project(sample_triage_project):
    return sample_triage_project


def _compile(capsys, project, profile: str) -> dict:
    code = main(["compile", str(project.root), "--model", profile, "--limit", "4",
                 "--optimizer", "labeled-fewshot", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_compile_with_an_ollama_profile_records_the_digest_in_the_manifest(capsys, project, tmp_path):
    def chooser(schema, messages):  # a model that says "high" for fires, "medium" for the rest
        text = messages[-1]["content"].lower() if messages else ""
        return {"urgency": "high" if "fire" in text else "medium"}

    with FakeOllama(models=["llama3.2:latest"], chooser=chooser) as server:
        assert main(["models", "add", "local", "--provider", "ollama", "--model", "llama3.2",
                     "--base-url", server.url, "--concurrency", "2"]) == 0
        capsys.readouterr()
        report = _compile(capsys, project, "local")
        digest = server.models["llama3.2:latest"].digest
        assert report["status"] == "succeeded"
        assert report["model"]["revision"] == f"sha256:{digest}"
        assert report["lm_calls"] == server.chat_calls > 0  # every real call went to the native /api/chat
        assert all(body["format"]["properties"]["urgency"]["enum"] == ["low", "medium", "high"]
                   for body in server.chat_bodies)

        manifest = export_run(project, report["run_id"], tmp_path / "bundle")
        assert (manifest.model.profile, manifest.model.provider, manifest.model.name) == ("local", "ollama",
                                                                                          "llama3.2:latest")
        assert manifest.model.revision == f"sha256:{digest}"
        assert manifest.model.details["quantization"] == "Q4_K_M" and manifest.model.details["family"] == "llama"

        # The history can be filtered by that exact revision.
        assert main(["runs", "list", str(project.root), "--revision", f"sha256:{digest}", "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert [r["run_id"] for r in rows] == [report["run_id"]]

        # A re-pulled model is another revision: the next compile records it and calls the model again.
        calls_before = server.chat_calls
        new_digest = server.repull("llama3.2")
        again = _compile(capsys, project, "local")
        assert again["model"]["revision"] == f"sha256:{new_digest}"
        assert server.chat_calls - calls_before == again["lm_calls"] > 0


def test_compile_with_an_openai_compatible_profile_records_the_served_model(capsys, project, tmp_path,
                                                                             monkeypatch, memory_keyring):
    with FakeOpenAI(api_key=KEY, served_model="qwen2.5-7b-instruct-q4_k_m-20250101",
                    model="qwen2.5-7b-instruct") as server:
        monkeypatch.setattr(sys, "stdin", io.StringIO(KEY))
        assert main(["models", "add", "lmstudio", "--provider", "openai-compatible",
                     "--model", "qwen2.5-7b-instruct", "--base-url", server.url, "--api-key-stdin"]) == 0
        capsys.readouterr()
        report = _compile(capsys, project, "lmstudio")
        assert report["status"] == "succeeded"
        assert report["model"]["revision"] == "qwen2.5-7b-instruct-q4_k_m-20250101"

        manifest = export_run(project, report["run_id"], tmp_path / "bundle")
        assert manifest.model.provider == "openai-compatible" and manifest.model.name == "qwen2.5-7b-instruct"
        assert manifest.model.revision == "qwen2.5-7b-instruct-q4_k_m-20250101"
        assert manifest.model.details["endpoint"] == server.url
        assert manifest.model.details["system_fingerprint"] == "fp_44709d6fcb"
        assert all(server.auth_seen)
        assert KEY not in (tmp_path / "bundle" / "manifest.json").read_text("utf-8")


def test_compile_with_a_stopped_server_exits_2_before_writing_a_run(capsys, project):
    with FakeOllama() as server:
        url = server.url
    assert main(["models", "add", "local", "--provider", "ollama", "--model", "llama3.2", "--base-url", url]) == 0
    code = main(["compile", str(project.root), "--model", "local", "--limit", "4", "--optimizer", "labeled-fewshot"])
    err = capsys.readouterr().err
    assert code == 2 and err == f"error: Ollama is not reachable at {url}; start it with `ollama serve`\n"
    assert project.store.list_runs() == []


def test_a_server_that_starts_failing_mid_evaluation_fails_the_run_and_keeps_finished_work(
        capsys, project, fast_backoff):
    from engine.jobs.compile import CompileJob, CompileSettings
    from engine.jobs.events import Progress

    with FakeOpenAI() as server:
        project.config.models["local"] = {"provider": "openai-compatible", "model": "gpt-4o-mini",
                                          "base_url": server.url}
        project.save()

        def sink(event):
            if isinstance(event, Progress) and event.stage == "evaluate baseline on validation" and event.done == 2:
                server.fail("500", count=1000)  # the server breaks down and stays down

        record = CompileJob(project, CompileSettings("labeled-fewshot", {"k": 2}, profile="local", limit=4),
                            sink=sink).run()
    assert record.status == "failed"
    assert "500" in record.error or "server" in record.error.lower()
    assert record.scores["validation"]["candidate"] is not None  # finished before the failure: kept
    assert "baseline" not in record.scores.get("validation", {})
    assert project.store.get_run(record.run_id).program_state is not None
