"""Ollama through its documented API (a local fake server): manage, pull, generate, revisions."""

from __future__ import annotations

import json
import threading
import time

import dspy
import pytest

from engine.errors import ModelError
from engine.jobs.control import CancelToken
from engine.lms import manage
from engine.lms.connect import connect, test_connection
from engine.lms.ollama_api import OllamaAdmin, ollama_url
from engine.lms.profiles import ModelProfile
from engine.lms.revision_watch import RevisionWatch
from tests.fakes.base import count_tokens
from tests.fakes.fixtures import fake_ollama, fast_backoff, fresh_engines, lm_cache, no_real_keyring  # noqa: F401
from tests.fakes.ollama_server import FakeOllama

pytestmark = pytest.mark.usefixtures("lm_cache")  # a fresh DSPy cache for every test

SIGNATURE = "ticket -> urgency: Literal['low', 'medium', 'high']"


def _profile(server, **extra) -> ModelProfile:
    return ModelProfile(name="local", provider="ollama", model="llama3.2", base_url=server.url, **extra)


def _dead_url() -> str:
    with FakeOllama() as server:
        return server.url  # stopped at once: nothing listens there any more


# -- management ------------------------------------------------------------------------------------

def test_lists_installed_models_with_size_family_parameters_quantization_and_digest(fake_ollama):
    [model] = manage.ollama_models(base_url=fake_ollama.url)
    expected = fake_ollama.models["llama3.2:latest"]
    assert (model.name, model.size, model.family, model.parameter_size, model.quantization, model.digest) == (
        "llama3.2:latest", expected.size, "llama", "3.2B", "Q4_K_M", expected.digest)
    assert ("GET", "/api/tags") in fake_ollama.requests


def test_show_gives_details_capabilities_and_context_length(fake_ollama):
    shown = OllamaAdmin(fake_ollama.url).show("llama3.2")
    assert shown["family"] == "llama" and shown["quantization"] == "Q4_K_M"
    assert "completion" in shown["capabilities"] and shown["context_length"] == 131072


def test_ollama_not_running_says_start_it_with_ollama_serve():
    url = _dead_url()
    with pytest.raises(ModelError, match=rf"Ollama is not reachable at {url}; start it with `ollama serve`"):
        manage.ollama_models(base_url=url)
    report = test_connection(ModelProfile(name="local", provider="ollama", model="llama3.2", base_url=url))
    assert not report.ok and report.kind == "unreachable" and "ollama serve" in report.diagnosis


def test_a_model_that_is_not_installed_says_how_to_pull_it(fake_ollama):
    profile = ModelProfile(name="local", provider="ollama", model="mistral", base_url=fake_ollama.url)
    message = (rf"model mistral is not installed in Ollama at {fake_ollama.url}; "
               r"pull it with `dspy-workbench models pull mistral`")
    with pytest.raises(ModelError, match=message):
        connect(profile)
    with pytest.raises(ModelError, match=message):
        OllamaAdmin(fake_ollama.url).show("mistral")
    assert test_connection(profile).kind == "not_found"


def test_ollama_host_is_honoured_when_no_base_url_is_given(fake_ollama, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{fake_ollama.port}")
    assert ollama_url() == fake_ollama.url
    profile = ModelProfile(name="local", provider="ollama", model="llama3.2")
    assert connect(profile).revision.details["base_url"] == fake_ollama.url
    monkeypatch.delenv("OLLAMA_HOST")
    assert ollama_url() == "http://localhost:11434"


def test_pull_reports_live_progress_and_installs_the_model(fake_ollama):
    seen = []
    result = manage.pull_model("qwen2.5:0.5b", base_url=fake_ollama.url, progress=seen.append)
    statuses = [p.status for p in seen]
    assert statuses[0] == "pulling manifest" and statuses[-3:] == [
        "verifying sha256 digest", "writing manifest", "success"]
    layer = [p for p in seen if p.status.startswith("pulling ") and p.total]
    assert layer and layer[-1].completed == layer[-1].total and 0 < layer[1].fraction < 1
    assert result.status == "success"
    assert result.digest == fake_ollama.models["qwen2.5:0.5b"].digest


def test_pull_of_an_unknown_model_is_a_clear_error(fake_ollama):
    with pytest.raises(ModelError, match=r"could not pull nosuchmodel: pull model manifest: file does not exist"):
        manage.pull_model("nosuchmodel", base_url=fake_ollama.url)


def test_cancel_stops_a_pull_at_once_and_closes_the_stream():
    with FakeOllama(library=["qwen2.5:0.5b"], pull_step_delay=0.3) as server:
        cancel = CancelToken()
        seen = []

        def progress(item):
            seen.append(item)
            cancel.cancel()  # the user presses Cancel after the first status

        result = manage.pull_model("qwen2.5:0.5b", base_url=server.url, progress=progress, cancel=cancel)
        # "at once": no status after the first one was read (no wall-clock bound: see bench/)
        assert result.status == "cancelled"
        assert [p.status for p in seen] == ["pulling manifest"]
        deadline = time.monotonic() + 3
        while server.pulls_closed_early == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.pulls_closed_early == 1  # the server saw the stream closed mid-pull
        assert "qwen2.5:0.5b" not in server.models


# -- generation ------------------------------------------------------------------------------------

def test_generation_posts_the_schema_as_format_to_native_api_chat(fake_ollama, lm_cache):
    connected = connect(_profile(fake_ollama, temperature=0.2, seed=7, max_tokens=33, context_tokens=2048))
    with dspy.context(lm=connected.lm, adapter=connected.adapter):
        prediction = dspy.Predict(SIGNATURE)(ticket="my parcel is late")
    assert prediction.urgency == "low"  # the fake answers the first enum value of the schema
    assert [m["name"] for m in OllamaAdmin(fake_ollama.url).running()] == ["llama3.2:latest"]  # /api/ps
    body = fake_ollama.chat_bodies[-1]
    assert ("POST", "/api/chat") in fake_ollama.requests
    assert not any(path.startswith("/v1") for _, path in fake_ollama.requests)
    assert body["stream"] is False and body["model"] == "llama3.2"
    assert body["format"]["properties"]["urgency"]["enum"] == ["low", "medium", "high"]
    assert body["options"] == {"temperature": 0.2, "seed": 7, "num_predict": 33, "num_ctx": 2048}
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    usage = connected.lm.history[-1]["usage"]
    # prompt_eval_count and eval_count, as the server counted them ('{"urgency": "low"}' is two "tokens")
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (count_tokens(body["messages"]), 2)


def test_the_model_string_carries_the_digest(fake_ollama):
    connected = connect(_profile(fake_ollama))
    digest = fake_ollama.models["llama3.2:latest"].digest
    assert connected.lm.model == f"ollama/llama3.2:latest@sha256:{digest[:16]}"
    assert connected.revision.revision == f"sha256:{digest}"
    assert connected.revision.details["quantization"] == "Q4_K_M"


def test_a_repulled_model_makes_new_calls_instead_of_cache_hits(fake_ollama, lm_cache):
    def ask():
        connected = connect(_profile(fake_ollama))
        with dspy.context(lm=connected.lm, adapter=connected.adapter):
            dspy.Predict(SIGNATURE)(ticket="the stove is on fire")

    ask()
    ask()
    assert fake_ollama.chat_calls == 1  # the same digest: the second answer came from DSPy's cache
    fake_ollama.repull("llama3.2")
    ask()
    assert fake_ollama.chat_calls == 2  # a new digest: a new cache key, a real call


def test_server_errors_are_retried_with_backoff_and_then_fail_with_a_reason(fake_ollama):
    connected = connect(_profile(fake_ollama, retries=2))
    fake_ollama.fail("500")
    with dspy.context(lm=connected.lm, adapter=connected.adapter):
        with pytest.raises(ModelError, match=r"failed with HTTP 500 .*llama runner.* after 2 retries"):
            dspy.Predict(SIGNATURE)(ticket="a")
    assert fake_ollama.requests.count(("POST", "/api/chat")) == 3


def test_a_flaky_server_recovers_within_the_retries(fake_ollama):
    connected = connect(_profile(fake_ollama, retries=3))
    fake_ollama.fail("503", count=2)
    with dspy.context(lm=connected.lm, adapter=connected.adapter):
        assert dspy.Predict(SIGNATURE)(ticket="b").urgency == "low"


def test_garbage_and_a_hang_are_clear_failures(fake_ollama):
    connected = connect(_profile(fake_ollama, timeout_s=0.5, retries=0))
    fake_ollama.fail("garbage", count=1)
    with dspy.context(lm=connected.lm, adapter=connected.adapter):
        with pytest.raises(ModelError, match="not a chat response"):
            dspy.Predict(SIGNATURE)(ticket="c")
        fake_ollama.fail("hang", count=1)
        started = time.monotonic()
        with pytest.raises(ModelError, match=r"did not answer within 0.5 s"):
            dspy.Predict(SIGNATURE)(ticket="d")
        assert time.monotonic() - started < 3


def test_streaming_chat_answers_as_ndjson(fake_ollama):
    import ollama

    parts = list(ollama.Client(host=fake_ollama.url).chat(
        model="llama3.2", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert "".join(p.message.content for p in parts) == "OK"
    assert parts[-1].done and parts[-1].eval_count == 1


def test_the_openai_compatible_face_of_ollama_answers_too(fake_ollama):
    from engine.lms.connect import connect as connect_profile

    profile = ModelProfile(name="ollama-v1", provider="openai-compatible", model="llama3.2:latest",
                           base_url=f"{fake_ollama.url}/v1")
    connected = connect_profile(profile)
    assert connected.revision.details["system_fingerprint"] == "fp_ollama"
    with dspy.context(lm=connected.lm, adapter=connected.adapter):
        assert dspy.Predict(SIGNATURE)(ticket="e").urgency == "low"
    assert json.loads(json.dumps(fake_ollama.chat_bodies[-1]["response_format"]))["type"] == "json_schema"


# -- the revision during a run ------------------------------------------------------------------

def test_revision_watch_notices_a_model_repulled_mid_run(fake_ollama):
    connected = connect(_profile(fake_ollama))
    watch = RevisionWatch(connected, min_poll_interval_s=0)
    assert watch.changed() is None and watch.current() == connected.revision
    new = fake_ollama.repull("llama3.2")
    note = watch.changed()
    assert note and "re-pulled" in note and new[:12] in note
    assert watch.current().revision == f"sha256:{new}"


def test_revision_watch_polls_ollama_at_most_once_per_interval(fake_ollama):
    watch = RevisionWatch(connect(_profile(fake_ollama)), min_poll_interval_s=60)
    before = fake_ollama.requests.count(("GET", "/api/tags"))
    for _ in range(5):
        watch.changed()
    assert fake_ollama.requests.count(("GET", "/api/tags")) - before == 1


def test_concurrent_calls_never_exceed_the_profile_bound():
    with FakeOllama(latency=0.1) as server:
        connected = connect(_profile(server, concurrency=2))
        engine = connected.engine

        def call(i):
            with dspy.context(lm=connected.lm, adapter=connected.adapter):
                dspy.Predict(SIGNATURE)(ticket=f"ticket {i}")

        threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert server.peak_in_flight <= 2 and engine.in_flight.peak == 2
