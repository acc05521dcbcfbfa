"""OpenAI-compatible servers and hosted providers (a local fake server): calls, diagnoses,
retries, the concurrency bound, cache keys and revisions."""

from __future__ import annotations

import threading
import time

import dspy
import pytest

from engine.errors import ModelError
from engine.lms import keys
from engine.lms.connect import ConnectedLM, ModelRevision, connect, test_connection
from engine.lms.profiles import ModelProfile
from engine.lms.revision_watch import RevisionWatch
from tests.fakes.fixtures import fake_openai, fast_backoff, fresh_engines, lm_cache, memory_keyring, no_real_keyring  # noqa: F401
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.usefixtures("lm_cache")  # a fresh DSPy cache for every test

SIGNATURE = "ticket -> urgency: Literal['low', 'medium', 'high']"
KEY = "sk-test-51Hq2vN8rT0pL6mX9wK3yB7c"


def _profile(server, name="srv", **extra) -> ModelProfile:
    return ModelProfile(name=name, provider="openai-compatible", model="gpt-4o-mini", base_url=server.url, **extra)


def _ask(connected, text="my parcel is late"):
    with dspy.context(lm=connected.lm, adapter=connected.adapter):
        return dspy.Predict(SIGNATURE)(ticket=text)


def _dead_url() -> str:
    with FakeOpenAI() as server:
        return server.url


# -- calls --------------------------------------------------------------------------------------------

def test_generation_sends_openai_json_schema_and_records_the_served_model(fake_openai, lm_cache):
    connected = connect(_profile(fake_openai, temperature=0.4, seed=3, max_tokens=40))
    assert _ask(connected).urgency == "low"
    body = fake_openai.bodies[-1]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["properties"]["urgency"]["enum"] == ["low", "medium", "high"]
    assert (body["temperature"], body["seed"], body["max_tokens"], body["stream"]) == (0.4, 3, 40, False)
    assert connected.revision.revision == "gpt-4o-mini-2024-07-18"
    assert connected.revision.details["system_fingerprint"] == "fp_44709d6fcb"
    assert connected.lm.history[-1]["response_model"] == "gpt-4o-mini-2024-07-18"


def test_json_object_mode_sends_llama_cpp_shape(fake_openai):
    _ask(connect(_profile(fake_openai, json_mode="json_object")))
    fmt = fake_openai.bodies[-1]["response_format"]
    assert fmt["type"] == "json_object" and fmt["schema"]["required"] == ["urgency"]


def test_auto_mode_falls_back_to_json_object_when_the_server_rejects_json_schema():
    with FakeOpenAI(accept=("json_object",)) as server:  # like llama.cpp's server
        connected = connect(_profile(server))
        assert _ask(connected).urgency == "low"
        assert connected.engine.json_mode == "json_object"
        assert server.bodies[-1]["response_format"]["type"] == "json_object"


@pytest.mark.parametrize("status", [400, 422, 500])
def test_auto_mode_falls_back_at_once_on_a_400_422_or_500_naming_the_response_format(status):
    with FakeOpenAI(accept=("json_object",), reject_status=status) as server:
        connected = connect(_profile(server), probe=False)
        assert _ask(connected).urgency == "low"
        assert connected.engine.json_mode == "json_object"
        kinds = [(b.get("response_format") or {}).get("type") for b in server.bodies]
        assert kinds == ["json_object"] and server.requests.count(("POST", "/v1/chat/completions")) == 2


def test_a_500_that_does_not_name_the_response_format_is_retried_not_a_fallback(fake_openai):
    connected = connect(_profile(fake_openai), probe=False)
    fake_openai.fail("500", count=1)
    assert _ask(connected).urgency == "low"
    assert connected.engine.json_mode == "json_schema"


def test_the_mode_that_worked_is_remembered_for_the_next_engine_of_that_profile_and_server():
    from engine.lms.connect import close_engines

    with FakeOpenAI(accept=("json_object",), reject_status=500) as server:
        _ask(connect(_profile(server), probe=False))
        close_engines()  # a later run: a new engine
        connected = connect(_profile(server), probe=False)
        assert connected.engine.json_mode == "json_object"
        _ask(connected, "the app crashes")
        assert server.requests.count(("POST", "/v1/chat/completions")) == 3  # one refusal in all
        other = connect(_profile(server, name="other"), probe=False)  # another profile learns for itself
        assert other.engine.json_mode == "json_schema"


def test_auto_mode_sends_no_response_format_to_a_server_that_takes_none():
    with FakeOpenAI(accept=()) as server:
        connected = connect(_profile(server))
        from dspy.utils.exceptions import AdapterParseError

        with pytest.raises(AdapterParseError):  # unconstrained, the fake answers plain text
            _ask(connected)
        assert connected.engine.json_mode == "none" and "response_format" not in server.bodies[-1]


def test_a_fixed_json_mode_does_not_fall_back():
    with FakeOpenAI(accept=("json_object",)) as server:
        connected = connect(_profile(server, json_mode="json_schema"))
        with pytest.raises(ModelError, match=r"does not take that response format \(HTTP 400: response_format type 'json_schema'.*json_mode = \"auto\""):
            _ask(connected)


def test_endpoint_and_served_model_are_part_of_the_cache_key(lm_cache):
    with FakeOpenAI() as first, FakeOpenAI() as second:
        # (each connect makes one probe call to learn the served model id)
        _ask(connect(_profile(first)))
        _ask(connect(_profile(second)))  # same model id, another endpoint: not answered from the cache
        assert (first.chat_calls, second.chat_calls) == (1 + 1, 1 + 1)
        _ask(connect(_profile(first)))
        assert first.chat_calls == 2 + 1  # same endpoint and revision: the answer is a cache hit
        first.serve_as("gpt-4o-mini", "gpt-4o-mini-2025-02-01")  # the alias moves on the server
        connected = connect(_profile(first))
        assert "gpt-4o-mini-2025-02-01" in connected.lm.model
        _ask(connected)
        assert first.chat_calls == 3 + 2  # a new revision: a real call


# -- the connection test's diagnoses --------------------------------------------------------------

def test_connection_test_reports_latency_and_the_revision(fake_openai):
    report = test_connection(_profile(fake_openai))
    assert report.ok and report.latency_s > 0 and report.reply == "OK"
    assert report.revision.revision == "gpt-4o-mini-2024-07-18"


def test_connection_test_diagnoses_an_unreachable_server():
    url = _dead_url()
    report = test_connection(ModelProfile(name="srv", provider="openai-compatible", model="m", base_url=url))
    assert (report.ok, report.kind) == (False, "unreachable")
    assert report.diagnosis.startswith(f"the server at {url} is not reachable")


def test_connection_test_diagnoses_a_bad_key_and_a_missing_key(memory_keyring):
    with FakeOpenAI(api_key=KEY) as server:
        missing = test_connection(_profile(server))
        assert missing.kind == "auth" and "wants an API key and profile 'srv' has none" in missing.diagnosis
        keys.store_key("srv", "sk-wrong-0000000000000")
        bad = test_connection(_profile(server))
        assert bad.kind == "auth" and "rejected the API key of profile 'srv' (HTTP 401" in bad.diagnosis
        assert "sk-wrong" not in bad.diagnosis and "models key srv" in bad.diagnosis
        keys.store_key("srv", KEY)
        assert test_connection(_profile(server)).ok


def test_connection_test_diagnoses_an_unknown_model_and_lists_what_is_served():
    with FakeOpenAI(models=["qwen2.5-7b-instruct", "llama-3.1-8b"]) as server:
        report = test_connection(_profile(server))
        assert report.kind == "not_found"
        assert "does not serve model 'gpt-4o-mini' (HTTP 404" in report.diagnosis
        assert report.diagnosis.endswith("it serves: qwen2.5-7b-instruct, llama-3.1-8b")


def test_connection_test_diagnoses_a_rate_limit_without_retrying(fake_openai):
    fake_openai.fail("429")
    report = test_connection(_profile(fake_openai, retries=3))
    assert report.kind == "rate_limit" and "HTTP 429" in report.diagnosis
    assert fake_openai.requests.count(("POST", "/v1/chat/completions")) == 1


def test_connection_test_diagnoses_a_timeout(fake_openai):
    fake_openai.fail("hang")
    started = time.monotonic()
    report = test_connection(_profile(fake_openai, timeout_s=0.5))
    assert report.kind == "timeout" and "did not answer within 0.5 s" in report.diagnosis
    assert time.monotonic() - started < 3


def test_connection_test_diagnoses_garbage(fake_openai):
    fake_openai.fail("garbage")
    report = test_connection(_profile(fake_openai))
    assert report.kind == "garbage" and "not a chat completion" in report.diagnosis


def test_connect_fails_before_anything_is_written_when_the_server_is_down():
    with pytest.raises(ModelError, match="is not reachable"):
        connect(ModelProfile(name="srv", provider="openai-compatible", model="m", base_url=_dead_url(), retries=1))


# -- reliability ----------------------------------------------------------------------------------

def test_429_and_500_are_retried_with_backoff_then_succeed(fake_openai):
    connected = connect(_profile(fake_openai, retries=3))
    fake_openai.fail("429", count=2)
    assert _ask(connected, "a").urgency == "low"
    fake_openai.fail("500", count=3)
    assert _ask(connected, "b").urgency == "low"
    assert fake_openai.requests.count(("POST", "/v1/chat/completions")) == 1 + 3 + 4


def test_retries_are_bounded_and_the_error_says_how_many(fake_openai):
    connected = connect(_profile(fake_openai, retries=2))
    before = fake_openai.requests.count(("POST", "/v1/chat/completions"))
    fake_openai.fail("502")
    with pytest.raises(ModelError, match=r"failed with HTTP 502 .* after 2 retries"):
        _ask(connected)
    assert fake_openai.requests.count(("POST", "/v1/chat/completions")) - before == 3


def test_backoff_grows_and_honours_retry_after(monkeypatch):
    from engine.lms import reliability

    monkeypatch.setattr(reliability, "BACKOFF_BASE_S", 0.5)
    monkeypatch.setattr(reliability, "BACKOFF_MAX_S", 8.0)
    delays = [reliability.backoff_delay(a) for a in range(6)]
    assert 0.25 <= delays[0] <= 0.5 and 4.0 <= delays[5] <= 8.0
    assert reliability.backoff_delay(0, retry_after=3) == 3 and reliability.backoff_delay(0, retry_after=99) == 8.0


def test_a_timeout_is_not_retried(fake_openai):
    connected = connect(_profile(fake_openai, timeout_s=0.4, retries=3))
    fake_openai.fail("hang")
    def chat_requests():
        return sum(1 for _, path in fake_openai.requests if path.endswith("/chat/completions"))

    before = chat_requests()
    with pytest.raises(ModelError, match="did not answer within 0.4 s"):
        _ask(connected)
    assert chat_requests() == before + 1  # one attempt, no retry


def test_a_server_that_dies_mid_call_is_a_clear_failure(fake_openai):
    connected = connect(_profile(fake_openai, retries=1))
    fake_openai.fail("close")
    with pytest.raises(ModelError, match=r"connection to .* broke during a call .* after 1 retry"):
        _ask(connected)


def test_the_concurrency_bound_holds_however_many_threads_call(lm_cache):
    with FakeOpenAI(latency=0.1) as server:
        connected = connect(_profile(server, concurrency=2))
        threads = [threading.Thread(target=_ask, args=(connected, f"ticket {i}")) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert server.chat_calls == 11  # the probe and ten answers
        assert server.peak_in_flight == 2 and connected.engine.in_flight.peak == 2


def test_a_failing_server_fails_the_compile_run_with_the_reason(sample_project, fake_openai, lm_cache):
    from engine.jobs.compile import CompileJob, CompileSettings
    from engine.lms.manage import add_profile

    add_profile("srv", provider="openai-compatible", model="gpt-4o-mini", base_url=fake_openai.url, retries=1)
    job = CompileJob(sample_project, CompileSettings("bootstrap-fewshot", {"max_errors": 1}, profile="srv", limit=4))
    job.prepare()
    fake_openai.fail("500")
    record = job.run()
    assert record.status == "failed"
    assert "failed with HTTP 500" in record.error and "after 1 retry" in record.error
    assert sample_project.store.get_run(record.run_id).status == "failed"


# -- hosted providers through LiteLLM ----------------------------------------------------------------

def test_hosted_profile_calls_through_litellm_with_the_keyring_key(memory_keyring, lm_cache):
    with FakeOpenAI(api_key=KEY) as server:
        keys.store_key("gpt", KEY)
        profile = ModelProfile(name="gpt", provider="openai", model="gpt-4o-mini", base_url=server.url)
        connected = connect(profile)
        assert type(connected.lm).__name__ == "HostedLM" and connected.lm.model == "openai/gpt-4o-mini"
        assert connected.revision.revision == "gpt-4o-mini-2024-07-18"
        assert _ask(connected).urgency == "low"
        assert all(server.auth_seen)
        entry = connected.lm.history[-1]
        assert "api_key" not in str(entry["kwargs"]) and KEY not in str(connected.lm.dump_state())


def test_hosted_cache_key_changes_when_the_alias_moves(memory_keyring, lm_cache):
    with FakeOpenAI(api_key=KEY) as server:
        keys.store_key("gpt", KEY)
        profile = ModelProfile(name="gpt", provider="openai", model="gpt-4o-mini", base_url=server.url)
        _ask(connect(profile))
        _ask(connect(profile))
        assert server.chat_calls == 2 + 1  # two probes, one answer, one cache hit
        server.serve_as("gpt-4o-mini", "gpt-4o-mini-2025-02-01")
        _ask(connect(profile))
        assert server.chat_calls == 3 + 2  # a third probe and a real call for the new revision


def test_hosted_diagnoses_a_rate_limit_and_an_unknown_model(memory_keyring):
    with FakeOpenAI(api_key=KEY, models=["gpt-4o"]) as server:
        keys.store_key("gpt", KEY)
        profile = ModelProfile(name="gpt", provider="openai", model="gpt-4o-mini", base_url=server.url)
        assert test_connection(profile).kind == "not_found"
        server.models.append("gpt-4o-mini")
        server.fail("429")
        report = test_connection(profile)
        assert report.kind == "rate_limit" and "HTTP 429" in report.diagnosis


def test_hosted_calls_in_flight_are_bounded_per_profile(memory_keyring, lm_cache):
    with FakeOpenAI(api_key=KEY, latency=0.1) as server:
        keys.store_key("gpt", KEY)
        connected = connect(ModelProfile(name="gpt", provider="openai", model="gpt-4o-mini", base_url=server.url,
                                         concurrency=1))
        threads = [threading.Thread(target=_ask, args=(connected, f"t{i}")) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert server.peak_in_flight == 1 and connected.lm._wb_in_flight.peak == 1


# -- the revision during a run ---------------------------------------------------------------------

def test_revision_watch_notices_an_alias_that_moves_mid_run(fake_openai):
    connected = connect(_profile(fake_openai))
    watch = RevisionWatch(connected)
    _ask(connected, "one")
    assert watch.changed() is None
    fake_openai.serve_as("gpt-4o-mini", "gpt-4o-mini-2025-02-01")
    _ask(connected, "two")
    note = watch.changed()
    assert note and "gpt-4o-mini-2024-07-18" in note and "gpt-4o-mini-2025-02-01 (1 of 2 calls)" in note
    assert watch.current().revision == "gpt-4o-mini-2025-02-01"


def test_revision_watch_reads_the_history_of_an_lm_without_an_observer():
    from dspy.utils import DummyLM

    lm = DummyLM([{"urgency": "low"}, {"urgency": "low"}])  # its responses report the model "dummy"
    connected = ConnectedLM(profile=ModelProfile(name="x", provider="openai", model="dummy"), lm=lm,
                            adapter=dspy.ChatAdapter(), revision=ModelRevision("openai", "dummy", "dummy-v1"))
    watch = RevisionWatch(connected)
    assert watch.changed() is None
    with dspy.context(lm=lm, adapter=dspy.ChatAdapter()):
        dspy.Predict(SIGNATURE)(ticket="x")
    assert "answered as dummy (1 of 1 calls)" in watch.changed()
    assert watch.current().revision == "dummy"
