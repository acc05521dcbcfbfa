"""An exported program.py guards its model revision (#18.5): it loads by file path from anywhere with
plain DSPy, and check_model(lm) refuses any revision but the manifest's."""

import hashlib
import importlib.util
import json
import subprocess
import sys
import uuid

import pytest

from engine.artifacts import export_run
from engine.jobs.compile import CompileJob, CompileSettings
from tests.fakes.fixtures import fake_ollama, fake_openai, no_real_keyring  # noqa: F401
from tests.fakes.ollama_server import fake_digest
from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture
def compiled(sample_project, scripted_connect):
    scripted_connect(rules={"refund": {"urgency": "medium"}}, default={"urgency": "low"})
    record = CompileJob(sample_project, CompileSettings("labeled-fewshot", {"k": 3}, limit=6)).run()
    return sample_project, record


def _bundle_for(project, record, out, **model):
    """A bundle whose run recorded this model (as a run on that provider records it)."""
    project.store.update_run(record.run_id, **model)
    export_run(project, record.run_id, out)
    return out


def _import(path):
    spec = importlib.util.spec_from_file_location(f"bundle_{uuid.uuid4().hex}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SERVE_WITH_PLAIN_DSPY = r"""
import importlib.util, json, sys
import dspy

spec = importlib.util.spec_from_file_location("exported_program", sys.argv[1])
program = importlib.util.module_from_spec(spec)
spec.loader.exec_module(program)
lm = dspy.LM("ollama_chat/llama3.2", api_base=sys.argv[2])
out = {"engine_imported": any(m == "engine" or m.startswith("engine.") for m in sys.modules)}
try:
    program.check_model(lm)
    out["check"] = "ok"
except ValueError as exc:
    out["check"] = str(exc)
try:
    program.load_program(lm=lm)
    out["load"] = "ok"
except ValueError as exc:
    out["load"] = "refused"
loaded = program.load_program(lm=lm, check_model=False)
out["predictors"] = [name for name, _ in loaded.named_predictors()]
out["adapter"] = type(program.make_adapter()).__name__  # compact_adapter.py, found beside program.py
print(json.dumps(out))
"""


def test_plain_dspy_loads_a_bundle_by_path_from_elsewhere_and_check_model_follows_the_ollama_digest(
        compiled, tmp_path, fake_ollama):
    project, record = compiled
    first = "sha256:" + fake_digest("llama3.2:latest")
    bundle = _bundle_for(project, record, tmp_path / "bundle", provider="ollama", model_name="llama3.2:latest",
                         model_revision=first)
    script = tmp_path / "serve.py"
    script.write_text(SERVE_WITH_PLAIN_DSPY)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def serve() -> dict:
        # -I: no PYTHONPATH, no cwd or script folder on sys.path; the Workbench is not importable from here
        done = subprocess.run([sys.executable, "-I", str(script), str(bundle / "program.py"), fake_ollama.url],
                              cwd=elsewhere, capture_output=True, text=True, timeout=300,
                              env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    same = serve()
    assert same == {"engine_imported": False, "check": "ok", "load": "ok", "predictors": ["triage"],
                    "adapter": "CompactAdapter"}
    second = "sha256:" + fake_ollama.repull("llama3.2:latest")
    moved = serve()
    assert moved["check"] == (f"this program was compiled and evaluated for llama3.2:latest revision {first}, but the "
                              f"LM 'ollama_chat/llama3.2' is revision {second}: compile and evaluate it for that "
                              "revision, or pass check_model=False to serve it anyway")
    assert moved["load"] == "refused" and moved["predictors"] == ["triage"]  # check_model=False: the explicit override


def test_check_model_compares_the_served_model_id_of_an_openai_compatible_server(compiled, tmp_path):
    import dspy

    project, record = compiled
    with FakeOpenAI(model="qwen2.5-7b-instruct", served_model="qwen2.5-7b-instruct-q4_k_m") as server:
        bundle = _bundle_for(project, record, tmp_path / "b", provider="openai-compatible",
                             model_name="qwen2.5-7b-instruct", model_revision="qwen2.5-7b-instruct-q4_k_m")
        program = _import(bundle / "program.py")
        lm = dspy.LM("openai/qwen2.5-7b-instruct", api_base=server.url, api_key="none", cache=False)
        program.check_model(lm)
        server.serve_as("qwen2.5-7b-instruct", "qwen2.5-7b-instruct-q8_0")
        with pytest.raises(ValueError, match="revision qwen2.5-7b-instruct-q4_k_m, but the LM .* is revision "
                                             "qwen2.5-7b-instruct-q8_0"):
            program.check_model(lm)


def test_check_model_hashes_the_gguf_file_a_llama_cpp_server_serves(compiled, tmp_path):
    import dspy

    project, record = compiled
    weights = tmp_path / "model.gguf"
    weights.write_bytes(b"GGUF" + bytes(1000))
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF" + bytes(999))
    revision = "sha256:" + hashlib.sha256(weights.read_bytes()).hexdigest()
    bundle = _bundle_for(project, record, tmp_path / "b", provider="embedded", model_name="model",
                         model_revision=revision)
    program = _import(bundle / "program.py")
    with FakeOpenAI(model=str(weights), served_model=None) as server:  # llama.cpp lists the file it serves
        program.check_model(dspy.LM("openai/" + str(weights), api_base=server.url, api_key="none"))
    with FakeOpenAI(model=str(other), served_model=None) as server:
        with pytest.raises(ValueError, match=f"revision {revision}, but the LM .* is revision sha256:"):
            program.check_model(dspy.LM("openai/" + str(other), api_base=server.url, api_key="none"))
    program.check_model(object(), model_file=weights)
    with pytest.raises(ValueError, match="not reachable from here; pass model_file=PATH"):
        program.check_model(dspy.LM("openai/remote", api_base="http://127.0.0.1:9/v1", api_key="none"), timeout_s=1)
