"""Against llama-cpp-python's real OpenAI-compatible server (issue #21), with default profiles.

The server is started once per session (tests/servers/llama_server.py) with the embedded GGUF;
every profile here is what `models add NAME --provider openai-compatible --base-url URL` makes,
with no --model and no --json-mode.
"""

from __future__ import annotations

import json

import dspy
import pytest

from engine.cli.main import main
from engine.lms import json_modes, manage
from engine.lms.connect import close_engines, connect
from engine.project import Project
from tests.fakes.fixtures import fast_backoff, fresh_engines, memory_keyring, no_real_keyring  # noqa: F401
from tests.servers.llama_server import ALIAS, keyed_llama_server, llama_server  # noqa: F401

pytestmark = pytest.mark.slow

SIGNATURE = "ticket -> urgency: Literal['low', 'medium', 'high']"


@pytest.fixture
def project(tmp_path):
    """The support-triage sample; DSPy's process-wide cache is put back afterwards (a run points it
    at the project's folder)."""
    from engine.jobs import compile as compile_module

    previous = vars(dspy).get("cache")
    yield Project.create(tmp_path / "triage", sample="support-triage")
    if previous is None:
        vars(dspy).pop("cache", None)
    else:
        dspy.cache = previous
    compile_module._active_cache = None


def run(capsys, *argv, stdin=None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        import io

        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _add(capsys, name, url, *extra, **kw) -> None:
    code, out, err = run(capsys, "models", "add", name, "--provider", "openai-compatible", "--base-url", url,
                         *extra, **kw)
    assert code == 0, err


def _evaluate(capsys, project, name, *extra) -> dict:
    code, out, err = run(capsys, "evaluate", str(project.root), "--baseline", "--split", "validation",
                         "--model", name, "--json", *extra)
    assert code == 0, err
    return json.loads(out)


def test_models_add_without_a_model_takes_the_served_one_and_show_and_test_work(capsys, llama_server):
    code, out, err = run(capsys, "models", "add", "local", "--provider", "openai-compatible",
                         "--base-url", llama_server.url)
    assert code == 0, err
    assert f"model '{ALIAS}': the one model {llama_server.url} lists" in out
    assert manage.get_profile("local").model == ALIAS

    code, out, err = run(capsys, "models", "show", "local")
    assert code == 0 and f"{llama_server.url} serves: {ALIAS}" in out

    code, out, err = run(capsys, "models", "test", "local", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"], report
    assert report["revision"]["revision"] == ALIAS and report["latency_s"] > 0


def test_evaluate_with_a_default_profile_falls_back_once_to_json_object_and_costs_nothing(capsys, llama_server,
                                                                                          project):
    _add(capsys, "local", llama_server.url)
    refused_before = llama_server.status_count(500)
    result = _evaluate(capsys, project, "local", "--limit", "4")
    assert result["status"] == "succeeded" and result["n"] == 4
    assert result["parse_failures"] == 0 and result["errors"] == 0  # schema-constrained by the server's grammar
    assert result["lm_calls"] == 4 and result["cost_usd"] == 0.0  # loopback: it runs on this machine
    # llama-cpp-python answers json_schema with a 500 (a validation body naming response_format):
    # one refused request, not retried, then json_object with the schema inline for every call.
    assert llama_server.status_count(500) - refused_before == 1
    assert json_modes.remembered(manage.get_profile("local")) == "json_object"

    close_engines()  # the next run (a new engine) starts with the mode it learned
    result = _evaluate(capsys, project, "local", "--limit", "5")
    assert result["lm_calls"] == 1 and result["cached_calls"] == 4 and result["parse_failures"] == 0
    assert llama_server.status_count(500) - refused_before == 1


def test_a_fixed_json_schema_mode_fails_in_one_sentence_that_says_what_to_set(capsys, llama_server):
    _add(capsys, "strict", llama_server.url, "--json-mode", "json_schema")
    connected = connect(manage.get_profile("strict"), probe=False)
    with dspy.context(lm=connected.lm, adapter=connected.adapter), pytest.raises(Exception) as err:
        dspy.Predict(SIGNATURE)(ticket="my parcel is late")
    message = str(err.value)
    assert "does not take that response format (HTTP 500" in message and 'json_mode = "auto"' in message
    assert "retries" not in message


def test_a_short_compile_runs_against_the_server(capsys, llama_server, project):
    _add(capsys, "local", llama_server.url)
    code, out, err = run(capsys, "compile", str(project.root), "--model", "local", "--optimizer",
                         "bootstrap-fewshot", "--param", "max_bootstrapped_demos=1", "--param", "max_labeled_demos=1",
                         "--limit", "3", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["status"] == "succeeded", report
    assert report["lm_calls"] > 0 and report["cost_usd"] == 0.0
    assert report["model"]["revision"] == ALIAS


def test_an_answer_that_did_not_parse_is_asked_again_on_the_next_run(capsys, llama_server, project):
    # Unconstrained (json_mode none), SmolLM2 often answers prose the adapter cannot parse; those
    # replies must not be cached. The same profile, constrained, then asks again for exactly them.
    # max_tokens is part of the cache key: both profiles keep the same (short) one.
    _add(capsys, "local", llama_server.url, "--json-mode", "none", "--max-tokens", "40")
    loose = _evaluate(capsys, project, "local", "--limit", "4")
    assert loose["parse_failures"] > 0, loose
    _add(capsys, "local", llama_server.url, "--json-mode", "json_object", "--max-tokens", "40", "--replace")
    close_engines()
    strict = _evaluate(capsys, project, "local", "--limit", "4")
    assert strict["lm_calls"] == loose["parse_failures"]  # the parsed ones came from the cache
    assert strict["parse_failures"] == 0


def test_a_keyed_server_works_with_the_stored_key_and_a_wrong_key_is_one_sentence(capsys, monkeypatch,
                                                                                 keyed_llama_server, project,
                                                                                 memory_keyring, isolated_home):
    key = keyed_llama_server.api_key
    code, out, err = run(capsys, "models", "add", "keyed", "--provider", "openai-compatible", "--base-url",
                         keyed_llama_server.url, "--api-key-stdin", stdin=key + "\n", monkeypatch=monkeypatch)
    assert code == 0, err
    seen = out + err
    assert manage.get_profile("keyed").model == ALIAS  # /v1/models was asked with the key
    code, out, err = run(capsys, "models", "test", "keyed")
    seen += out + err
    assert code == 0 and "OK in" in out
    result = _evaluate(capsys, project, "keyed", "--limit", "3")
    assert result["n"] == 3 and result["parse_failures"] == 0

    code, out, err = run(capsys, "models", "key", "keyed", stdin="sk-wrong-0123456789abcdef\n",
                         monkeypatch=monkeypatch)
    assert code == 0
    close_engines()
    code, out, err = run(capsys, "models", "test", "keyed")
    seen += out + err
    assert code == 2 and err.count("\n") == 1
    assert "rejected the API key of profile 'keyed' (HTTP 401: Invalid API key)" in err
    assert "`dspy-workbench models key keyed` (it reads the key from stdin)" in err

    assert key not in seen and "sk-wrong-0123456789abcdef" not in seen
    for root in (isolated_home, project.root):
        leaked = [p for p in root.rglob("*") if p.is_file() and key.encode() in p.read_bytes()]
        assert leaked == []


def test_the_keyed_server_without_a_key_says_it_wants_one(capsys, keyed_llama_server):
    _add(capsys, "nokey", keyed_llama_server.url, "--model", ALIAS)
    code, out, err = run(capsys, "models", "test", "nokey")
    assert code == 2 and "wants an API key and profile 'nokey' has none (HTTP 401" in err
