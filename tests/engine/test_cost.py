"""What runs cost: each real LM call priced by the model that made it (LiteLLM's price map for
hosted providers, $0 for local models, the profile's own prices, else unknown), cost budgets, and
the cost in the record, the CLI's --json and the manifest.

Hosted providers cannot be called here: a hosted `openai/gpt-4o-mini` profile points LiteLLM at
the local fake OpenAI server, which answers with `usage` (prompt/completion tokens) as the real
API does; LiteLLM then prices it from its bundled map, as it would the real response.
"""

from __future__ import annotations

import json
import threading

import dspy
import pytest

from engine.cli.main import main
from engine.errors import ModelError, WorkbenchError
from engine.jobs.compile import CompileJob, CompileSettings
from engine.jobs.control import Budget
from engine.jobs.events import LMCallFinished, RunFinished
from engine.jobs.instrument import RunMeter
from engine.lms import manage
from engine.lms.connect import PROBE_PROMPT
from engine.lms.pricing import LITELLM, LOCAL, PROFILE, UNKNOWN, Price, cost_text, price_for
from engine.lms.profiles import ModelProfile, parse_profile
from tests.fakes.fixtures import (fast_backoff, fresh_engines, lm_cache, memory_keyring,  # noqa: F401
                                  no_real_keyring, sample_triage_project)
from tests.fakes.ollama_server import FakeOllama
from tests.fakes.openai_server import FakeOpenAI

KEY = "sk-cost-7Yh2Qp9Lm4Rt8Wx1Zc6Vb3Nd"


@pytest.fixture
def project(sample_triage_project):
    return sample_triage_project


def _calls(server) -> list[dict]:
    """The completions the run made: every answered call but the connection probe."""
    return [u for u in server.usages if u["messages"] != [{"role": "user", "content": PROBE_PROMPT}]]


def _priced(calls: list[dict], usd_per_input_token: float, usd_per_output_token: float) -> float:
    return sum(c["prompt_tokens"] * usd_per_input_token + c["completion_tokens"] * usd_per_output_token for c in calls)


def _compile_json(capsys, project, *args) -> tuple[int, dict]:
    code = main(["compile", str(project.root), "--limit", "4", "--optimizer", "labeled-fewshot", "--json", *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else {"stderr": err})


# -- prices -----------------------------------------------------------------------------------------

def test_each_kind_of_profile_has_its_price():
    assert price_for(ModelProfile(name="e")).source == LOCAL
    assert price_for(ModelProfile(name="o", provider="ollama", model="llama3.2")).source == LOCAL
    compat = ModelProfile(name="c", provider="openai-compatible", model="m", base_url="http://10.0.0.7:8000/v1")
    assert price_for(compat).source == UNKNOWN and price_for(compat).cost({"prompt_tokens": 9}) is None
    for here in ("http://127.0.0.1:1/v1", "http://localhost:8080/v1", "http://[::1]:1234/v1", "http://127.3.0.1/v1"):
        assert price_for(compat.model_copy(update={"base_url": here})).source == LOCAL, here
    for elsewhere in ("http://192.168.1.5:1234/v1", "https://api.example.com/v1", "http://localhost.example.com/v1"):
        assert price_for(compat.model_copy(update={"base_url": elsewhere})).source == UNKNOWN, elsewhere
    hosted = price_for(ModelProfile(name="g", provider="openai", model="gpt-4o-mini"), "gpt-4o-mini-2024-07-18")
    assert (hosted.source, hosted.litellm_model) == (LITELLM, "openai/gpt-4o-mini-2024-07-18")
    assert price_for(ModelProfile(name="x", provider="openai", model="no-such-model-anywhere")).source == UNKNOWN
    priced = price_for(compat.model_copy(update={"usd_per_million_input_tokens": 2.0,
                                                 "usd_per_million_output_tokens": 8.0}))
    assert priced.source == PROFILE
    assert priced.cost({"prompt_tokens": 1_000, "completion_tokens": 500}) == pytest.approx(0.002 + 0.004)


def test_a_cost_the_provider_reports_wins_over_any_price():
    assert Price(LOCAL).cost({"prompt_tokens": 10, "cost": 0.25}) == 0.25
    assert Price(UNKNOWN).cost({"prompt_tokens": 10, "cost": 0.0}) == 0.0


def test_profile_prices_come_in_pairs_are_not_negative_and_are_saved():
    with pytest.raises(ModelError, match="set both usd_per_million_input_tokens and usd_per_million_output_tokens"):
        parse_profile("p", {"provider": "ollama", "model": "m", "usd_per_million_input_tokens": 1.0})
    with pytest.raises(ModelError, match="usd_per_million_output_tokens"):
        parse_profile("p", {"provider": "ollama", "model": "m", "usd_per_million_input_tokens": 1.0,
                            "usd_per_million_output_tokens": -2})
    profile = manage.add_profile("gw", provider="openai-compatible", model="m", base_url="http://127.0.0.1:9/v1",
                                 usd_per_million_input_tokens=0.5, usd_per_million_output_tokens=1.5)
    saved = manage.get_profile("gw")
    assert (saved.usd_per_million_input_tokens, saved.usd_per_million_output_tokens) == (0.5, 1.5)
    assert saved == profile


def test_costs_read_as_people_read_them():
    assert [cost_text(v) for v in (None, 0.0, 0.00042, 1234.5)] == ["unknown", "$0.00", "$0.0004", "$1,234.50"]


# -- the meter, with a DummyLM reporting tokens -------------------------------------------------------

class _CountingEngine:
    """Wraps a DummyLM's engine: each answer reports prompt/completion tokens (words), recorded here."""

    def __init__(self, lm):
        from dspy.lm15 import Usage

        self.reported: list[tuple[int, int]] = []
        lock = threading.Lock()
        engine = lm._engine_spec
        original = engine._complete_messages

        def complete_messages(messages):
            response = original(messages)
            prompt = sum(len(m["content"].split()) for m in messages)
            completion = len(response.message.text.split())
            with lock:
                self.reported.append((prompt, completion))
            return type(response)(id=response.id, model=response.model, message=response.message,
                                  finish_reason=response.finish_reason,
                                  usage=Usage(input_tokens=prompt, output_tokens=completion))

        engine._complete_messages = complete_messages


def test_calls_from_pool_threads_are_priced_once_and_cache_hits_cost_nothing(lm_cache):
    from dspy.utils import DummyLM

    lm = DummyLM(answers={"": {"answer": "forty two"}}, adapter=dspy.JSONAdapter())
    lm._cache_responses = True  # DummyLM opts out of DSPy's cache; a real LM does not
    engine = _CountingEngine(lm)
    meter = RunMeter()
    meter.price_model(lm.model, Price(PROFILE, 1e-6, 3e-6))
    examples = [dspy.Example(question=f"question number {i}").with_inputs("question") for i in range(12)]
    program = dspy.Predict("question -> answer")
    parallel = dspy.Parallel(num_threads=4, disable_progress_bar=True)
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()), meter.context():
        parallel([(program, ex) for ex in examples])
        after_first = meter.cost_usd
        parallel([(program, ex) for ex in examples])  # the same prompts again: all cache hits
    assert len(engine.reported) == meter.real_calls == 12
    assert after_first == pytest.approx(sum(p * 1e-6 + c * 3e-6 for p, c in engine.reported)) and after_first > 0
    assert meter.cost_usd == after_first and meter.logical_calls == 24


def test_a_model_without_a_price_makes_the_cost_unknown_not_zero():
    meter = RunMeter(sink=(events := []).append)
    meter.price_model("priced", Price(PROFILE, 1e-6, 1e-6))
    meter.add_usage("priced", {"prompt_tokens": 100, "completion_tokens": 10})
    assert meter.cost_usd == pytest.approx(110e-6)
    meter.add_usage("somebody-elses-lm", {"prompt_tokens": 100, "completion_tokens": 10})
    assert meter.cost_usd is None and meter.known_cost_usd == pytest.approx(110e-6)
    assert [(e.cost_usd, e.total_cost_usd) for e in events] == [(pytest.approx(110e-6), pytest.approx(110e-6)),
                                                                (None, None)]


# -- through the job and the CLI, on the fake servers ---------------------------------------------

def test_a_hosted_profile_is_priced_from_litellms_map_and_a_rerun_from_cache_costs_nothing(
        project, capsys, memory_keyring, tmp_path):
    import litellm

    with FakeOpenAI() as server:
        manage.add_profile("gpt", provider="openai", model="gpt-4o-mini", base_url=server.url, api_key=KEY)
        code, report = _compile_json(capsys, project, "--model", "gpt")
        assert code == 0, report
        rates = litellm.model_cost["gpt-4o-mini-2024-07-18"]  # the served, dated model LiteLLM prices
        calls = _calls(server)
        expected = _priced(calls, rates["input_cost_per_token"], rates["output_cost_per_token"])
        assert report["lm_calls"] == len(calls) > 0
        assert report["cost_usd"] == pytest.approx(expected) and expected > 0
        assert project.store.get_run(report["run_id"]).cost_usd == pytest.approx(expected)

        code, again = _compile_json(capsys, project, "--model", "gpt")
        assert again["lm_calls"] == 0 and again["cached_calls"] > 0
        assert again["cost_usd"] == 0.0  # known and zero: cache hits cost nothing new

    assert main(["runs", "list", str(project.root), "--json"]) == 0
    rows = {r["run_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[report["run_id"]]["cost_usd"] == pytest.approx(expected) and rows[again["run_id"]]["cost_usd"] == 0.0
    assert main(["runs", "show", str(project.root), report["run_id"]]) == 0
    assert f"cost {cost_text(expected)}" in capsys.readouterr().out
    assert main(["export", str(project.root), "--run", report["run_id"], "--out", str(tmp_path / "bundle")]) == 0
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert manifest["cost_usd"] == pytest.approx(expected)


def test_a_local_model_costs_zero(project, capsys):
    with FakeOllama(models=["llama3.2:latest"]) as server:
        manage.add_profile("local", provider="ollama", model="llama3.2", base_url=server.url)
        code, report = _compile_json(capsys, project, "--model", "local")
    assert code == 0 and report["lm_calls"] > 0 and report["tokens"]["prompt"] > 0
    assert report["cost_usd"] == 0.0


def test_an_unpriced_loopback_openai_compatible_server_costs_zero(project, capsys):
    with FakeOpenAI() as server:  # on 127.0.0.1: it runs on this machine
        manage.add_profile("here", provider="openai-compatible", model="gpt-4o-mini", base_url=server.url)
        code, report = _compile_json(capsys, project, "--model", "here")
    assert code == 0 and report["lm_calls"] > 0 and report["cost_usd"] == 0.0


def test_an_unpriced_openai_compatible_server_is_unknown_and_cannot_be_cost_capped(project, capsys, monkeypatch):
    from engine.lms import pricing

    # Servers started here listen on loopback only: this one stands for a server on another machine.
    monkeypatch.setattr(pricing, "is_loopback", lambda url: False)
    with FakeOpenAI() as server:
        manage.add_profile("lab", provider="openai-compatible", model="gpt-4o-mini", base_url=server.url)
        code, report = _compile_json(capsys, project, "--model", "lab")
        assert code == 0 and report["lm_calls"] > 0
        assert report["cost_usd"] is None
        assert main(["runs", "show", str(project.root), report["run_id"]]) == 0
        assert "cost unknown" in capsys.readouterr().out
        runs_before = len(project.store.list_runs())
        code, refused = _compile_json(capsys, project, "--model", "lab", "--max-cost", "0.01")
        assert code == 2 and "a cost budget needs a known price" in refused["stderr"]
        assert "usd_per_million_input_tokens" in refused["stderr"]
        assert len(project.store.list_runs()) == runs_before  # refused before anything was written


def test_evaluate_json_carries_the_cost_of_a_priced_profile(project, capsys):
    with FakeOpenAI() as server:
        manage.add_profile("gw", provider="openai-compatible", model="gpt-4o-mini", base_url=server.url,
                           usd_per_million_input_tokens=3.0, usd_per_million_output_tokens=15.0)
        assert main(["evaluate", str(project.root), "--baseline", "--split", "validation", "--limit", "5",
                     "--model", "gw", "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        calls = _calls(server)
    assert result["lm_calls"] == len(calls) == 5
    assert result["cost_usd"] == pytest.approx(_priced(calls, 3e-6, 15e-6))


def test_calls_on_another_profile_are_priced_by_that_profiles_model(project, capsys):
    # COPRO's prompt model on its own (dearer) endpoint: each call is priced by the model that made it.
    with FakeOpenAI() as task, FakeOpenAI() as proposer:
        manage.add_profile("cheap", provider="openai-compatible", model="gpt-4o-mini", base_url=task.url,
                           usd_per_million_input_tokens=1.0, usd_per_million_output_tokens=2.0)
        manage.add_profile("dear", provider="openai-compatible", model="gpt-4o-mini", base_url=proposer.url,
                           usd_per_million_input_tokens=10.0, usd_per_million_output_tokens=40.0)
        record = CompileJob(project, CompileSettings("copro", {"breadth": 2, "depth": 1, "prompt_model": "dear"},
                                                     profile="cheap", limit=4)).run()
        task_calls, proposer_calls = _calls(task), _calls(proposer)
    assert record.status == "succeeded", record.error
    assert task_calls and proposer_calls
    assert record.lm_calls == len(task_calls) + len(proposer_calls)
    assert record.cost_usd == pytest.approx(_priced(task_calls, 1e-6, 2e-6) + _priced(proposer_calls, 10e-6, 40e-6))


def test_a_cost_budget_stops_the_run_as_stopped_by_budget_at_the_call_that_reached_it(project):
    with FakeOpenAI() as server:
        manage.add_profile("gw", provider="openai-compatible", model="gpt-4o-mini", base_url=server.url,
                           usd_per_million_input_tokens=10.0, usd_per_million_output_tokens=10.0)
        events = []
        cap = 0.005  # one call in flight at a time (concurrency 1): only that call may pass the cap
        record = CompileJob(project, CompileSettings("labeled-fewshot", {"k": 2}, profile="gw", limit=10,
                                                     budget=Budget(max_cost_usd=cap)), sink=events.append).run()
        made = _calls(server)
    costs = [e.cost_usd for e in events if isinstance(e, LMCallFinished)]
    assert record.status == "stopped_by_budget" and "cost budget" in record.error
    assert 1 < len(made) == record.lm_calls == len(costs) < 40  # 40 calls without the cap
    assert sum(costs[:-1]) < cap <= sum(costs)  # it stopped at the first call that reached the cap
    assert record.cost_usd == pytest.approx(sum(costs))
    assert record.cost_usd == pytest.approx(_priced(made, 10e-6, 10e-6))
    assert project.store.get_run(record.run_id).program_state is not None  # the compiled program is kept


def test_a_cost_budget_refuses_another_profile_without_a_price(project, scripted_connect):
    scripted_connect()
    manage.add_profile("lab", provider="openai-compatible", model="m", base_url="http://10.0.0.9:9/v1")
    settings = CompileSettings("copro", {"breadth": 2, "depth": 1, "prompt_model": "lab"},
                               budget=Budget(max_cost_usd=1.0))
    with pytest.raises(WorkbenchError, match="profile 'lab' .* has none"):
        CompileJob(project, settings).prepare()


def test_a_stopped_run_counts_and_prices_the_calls_other_threads_had_in_flight(project):
    # DSPy's pools shut down without waiting: with 4 threads, calls already sent when the budget
    # stops the run still finish and are paid for, so the record must wait for and count them.
    with FakeOpenAI(latency=0.3) as server:
        manage.add_profile("gw", provider="openai-compatible", model="gpt-4o-mini", base_url=server.url,
                           concurrency=4, usd_per_million_input_tokens=10.0, usd_per_million_output_tokens=10.0)
        events = []
        settings = CompileSettings("bootstrap-rs", {"num_candidate_programs": 2, "max_bootstrapped_demos": 1},
                                   profile="gw", limit=12, budget=Budget(max_calls=6))
        record = CompileJob(project, settings, sink=events.append).run()
        made = _calls(server)
    assert record.status == "stopped_by_budget"
    assert len(made) > 6  # the other threads' calls did go out after the cap was reached ...
    assert record.lm_calls == len(made)  # ... and the record counts every one of them
    assert record.cost_usd == pytest.approx(_priced(made, 10e-6, 10e-6))
    finished = next(i for i, e in enumerate(events) if isinstance(e, RunFinished))
    assert not any(isinstance(e, LMCallFinished) for e in events[finished:])  # nothing arrives late
