"""The evaluate job: what a cancel keeps, and rows that cannot fit in the model's context."""

import pytest

from engine.jobs.control import CancelToken
from engine.jobs.evaluate import EvaluateJob, EvaluateSettings
from engine.jobs.events import Progress


@pytest.mark.parametrize("concurrency", [1, 3])
def test_a_cancelled_evaluate_reports_the_rows_that_finished(sample_project, scripted_connect, concurrency):
    scripted = scripted_connect(rules={"refund": {"urgency": "medium"}}, default={"urgency": "low"}, delay=0.02)
    sample_project.config.models["threads"] = {"provider": "embedded", "concurrency": concurrency}
    cancel = CancelToken()

    def sink(event):
        if isinstance(event, Progress) and event.done == 6:
            cancel.cancel()

    job = EvaluateJob(sample_project, EvaluateSettings(split="test", profile="threads", limit=30),
                      sink=sink, cancel=cancel)
    result = job.run()
    assert result["status"] == "cancelled"
    assert 6 <= result["n"] < 30 and result["n"] <= scripted.calls
    scores = [p["score"] for p in result["predictions"]]
    assert len(scores) == result["n"] and all(p["prediction"] for p in result["predictions"])
    assert result["score"] == pytest.approx(sum(scores) / len(scores))
    low, high = result["ci95"]
    assert low <= result["score"] <= high and (low, high) != (0.0, 1.0)
    assert sum(f["n"] for f in result["per_slice"].values()) >= result["n"]  # a row may be in several slices
    assert any(f"cancelled after {result['n']} of 30 examples" in w for w in result["warnings"])


def test_an_evaluate_cancelled_before_any_row_says_so_instead_of_scoring_zero(sample_project, scripted_connect):
    scripted_connect()
    cancel = CancelToken()
    cancel.cancel()
    result = EvaluateJob(sample_project, EvaluateSettings(split="test", limit=5), cancel=cancel).run()
    assert result["status"] == "cancelled" and result["n"] == 0
    assert result["score"] is None and result["ci95"] is None


def test_a_row_too_long_for_the_context_is_a_per_row_error_and_is_never_sent(sample_project, scripted_connect):
    scripted = scripted_connect(default={"urgency": "low"})
    longest = []
    engine = scripted.lm._engine_spec
    complete = engine._complete_messages

    def measured(messages):
        longest.append(sum(len(str(m.get("content", ""))) for m in messages))
        return complete(messages)

    engine._complete_messages = measured
    huge_id = sample_project.examples("test", 10)[3].example_id
    frame = sample_project.frame
    frame.loc[frame["id"] == huge_id, "ticket_text"] = "My parcel is late again. " * 200_000  # 5 MB
    result = EvaluateJob(sample_project, EvaluateSettings(split="test", limit=10)).run()
    assert result["status"] == "succeeded" and result["n"] == 10 and result["errors"] == 1
    [refused] = [p for p in result["predictions"] if p["error"]]
    assert refused["id"] == huge_id and refused["score"] == 0.0
    assert result["failed_examples"] == [{"id": huge_id, "error": refused["error"]}]
    assert "context holds 4,096" in refused["error"] and "characters" in refused["error"]
    assert len(longest) == 9 and max(longest) < 10_000  # the other rows were scored; the huge one never sent


def test_the_fewest_tokens_bound_stays_under_a_real_tokenizers_count():
    from engine.evaluation import fewest_tokens

    # Counts from SmolLM2-135M's own tokenizer (llama.cpp, add_bos=False) for 100,000 characters each.
    measured = {"My parcel is late again. ": 24_001, "a": 25_000, " ": 1_563, "-": 1_563,
                "1234567890": 100_000, '{"key": "value", "n": 1}, ': 46_154,
                "Überweisung fehlgeschlagen, bitte prüfen. ": 45_238, "漢字かなカナ": 200_000}
    for unit, tokens in measured.items():
        text = (unit * (100_000 // len(unit) + 1))[:100_000]
        assert fewest_tokens(text) <= tokens
    assert fewest_tokens("x" * 50_000_000) > 4096  # a 50 MB cell is refused whatever it holds


def test_the_cli_names_the_row_that_could_not_fit_and_still_scores_the_others(sample_project, scripted_connect,
                                                                             capsys):
    from engine.cli.main import main

    scripted_connect(default={"urgency": "low"})
    huge_id = sample_project.examples("test", 10)[0].example_id
    frame = sample_project.frame
    frame.loc[frame["id"] == huge_id, "policy_context"] = "Refunds within 30 days. " * 100_000
    sample_project.save_frame()
    assert main(["evaluate", str(sample_project.root), "--baseline", "--split", "test", "--limit", "10"]) == 0
    out, err = capsys.readouterr()
    assert f"example {huge_id} failed: its inputs" in out and "n=10" in out and "errors 1" in out
    assert f"example {huge_id} was not sent" in err
