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
