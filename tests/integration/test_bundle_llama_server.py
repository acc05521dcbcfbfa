"""A bundle compiled for the embedded GGUF, served by llama-cpp-python's own OpenAI-compatible server:
plain DSPy in a clean interpreter checks the served file's sha256 (#18.5).

(Answering through that server with the compact adapter is not tested here: llama-cpp-python's
server refuses OpenAI's `response_format: json_schema`, which compact_adapter.py sends.)"""

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from engine.artifacts import export_run
from engine.jobs.compile import CompileJob, CompileSettings

pytestmark = pytest.mark.slow

SERVE = r"""
import importlib.util, json, sys
import dspy

spec = importlib.util.spec_from_file_location("exported_program", sys.argv[1])
program = importlib.util.module_from_spec(spec)
spec.loader.exec_module(program)
lm = dspy.LM("openai/" + sys.argv[3], api_base=sys.argv[2], api_key="none", max_tokens=20, cache=False)
out = {}
try:
    program.check_model(lm)
    out["check"] = "ok"
except ValueError as exc:
    out["check"] = str(exc)
print(json.dumps(out))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def llama_server(tmp_path):
    from engine.lms.embedded import model_path

    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(model_path()),
                                "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1"],
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url + "/models", timeout=2) as response:
                    served = json.loads(response.read())["data"][0]["id"]
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("llama_cpp.server did not start: " + (tmp_path / "server.log").read_text())
                time.sleep(0.5)
        yield url, served
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_a_gguf_bundle_checks_the_file_llama_cpp_serves_and_answers_through_it(
        sample_project, scripted_connect, tmp_path, llama_server):
    from engine.lms.embedded import file_sha256, model_path

    scripted_connect(default={"urgency": "low"})
    record = CompileJob(sample_project, CompileSettings("labeled-fewshot", {"k": 2}, limit=4)).run()
    # as a compile on the embedded model records it: the GGUF file's sha256
    sample_project.store.update_run(record.run_id, provider="embedded", model_name=model_path().stem,
                                    model_revision="sha256:" + file_sha256(model_path()))
    export_run(sample_project, record.run_id, tmp_path / "bundle")
    sample_project.store.update_run(record.run_id, model_revision="sha256:" + "0" * 64)  # another GGUF file
    export_run(sample_project, record.run_id, tmp_path / "other")
    url, served = llama_server
    script = tmp_path / "serve.py"
    script.write_text(SERVE)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def check(bundle) -> str:
        done = subprocess.run([sys.executable, "-I", str(script), str(bundle / "program.py"), url, served],
                              cwd=elsewhere, capture_output=True, text=True, timeout=600,
                              env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                                   "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])["check"]

    assert check(tmp_path / "bundle") == "ok"
    refused = check(tmp_path / "other")
    assert refused.startswith(f"this program was compiled and evaluated for {model_path().stem} revision sha256:000")
    assert refused.endswith("is revision sha256:" + file_sha256(model_path()) + ": compile and evaluate it for that "
                            "revision, or pass check_model=False to serve it anyway")
