"""A run as figures people decide on: scores with intervals, per slice, differences, gates, warnings.

One function serves the CLI's `--json`, `runs show`, the GUI's Review pane and the manifest.
"""

from __future__ import annotations

from engine import stats
from engine.adapters import answer_mode, format_outdated
from engine.gates import SliceGate, check_gates
from engine.programs import load_program_spec

JUDGE_USAGE_KEYS = ("judge_calls", "judge_cached_calls", "judge_tokens", "judge_cost_usd")


def run_report(project, record) -> dict:
    evaluations = _evaluations(project, record.run_id)
    gates = _gates(project, evaluations.get("test", {}).get("candidate"))
    adapter_outdated = format_outdated(record.adapter_format, record.adapter_revision)
    return {
        "run_id": record.run_id,
        "status": record.status,
        "error": run_outcome(record),
        "created_at": record.created_at,
        "finished_at": record.finished_at,
        "optimizer": {"name": record.optimizer, "params": record.params, "seed": record.seed},
        "model": {"profile": record.profile, "provider": record.provider, "name": record.model_name,
                  "revision": record.model_revision},
        "adapter_format": record.adapter_format,
        # a run from another version of the compact format may predate scoring: it cannot tell
        "answers": "not known (another version of the format)" if adapter_outdated
        else answer_mode(record.provider, record.adapter_format, load_program_spec(record.program_spec)),
        "program_fingerprint": record.program_fingerprint,
        "scores": _numbers(record.scores),
        "evaluations": evaluations,
        "gates": gates,
        "adapter_revision": record.adapter_revision,
        "adapter_outdated": adapter_outdated,
        "warnings": _warnings(evaluations) + _run_warnings(record, adapter_outdated),
        "lm_calls": record.lm_calls,
        "cached_calls": record.cached_calls,
        "tokens": {"prompt": int(record.tokens.get("prompt", 0)),
                   "completion": int(record.tokens.get("completion", 0))},
        "cost_usd": record.cost_usd,
        "elapsed_s": record.elapsed_s,
        "trials": record.events_summary.get("trials", 0),
        "failed_trials": record.events_summary.get("failed_trials", 0),
        "best_trial": ({"score": record.events_summary["best_trial_score"],
                        "kind": record.events_summary.get("best_trial_kind")}
                       if record.events_summary.get("best_trial_score") is not None else None),
        # the judge's calibration (or "used uncalibrated by the user's choice"), its calls, metric files' sha256
        "judge": record.events_summary.get("judge"),
        "judge_usage": {k: record.events_summary[k] for k in JUDGE_USAGE_KEYS if k in record.events_summary},
        "metric_files": record.events_summary.get("metric_files", []),
        "review": record.review.model_dump() if record.review else None,
    }


def run_outcome(record) -> str | None:
    """Why the run ended as it did, in a sentence; for a run whose process died, what it kept.

    A run killed mid-compile (kill -9, a crash) never wrote its own ending: the history marks it
    interrupted when the project is next opened, and its record holds what was written as it ran.
    """
    if record.status != "interrupted" or record.error:
        return record.error
    summary = record.events_summary
    text = ("its process ended before the run did: killed, crashed or shut down; "
            f"kept what it recorded by then: {summary.get('trials', 0)} trials")
    if summary.get("best_trial_score") is not None:
        text += (f", the best candidate so far, {summary['best_trial_score']:.3f} on "
                 f"{summary.get('best_trial_kind') or 'its scoring set'}")
    done = summary.get("stages_done") or []
    return text + (f", finished stages: {', '.join(done)}" if done else "")


def _numbers(scores: dict) -> dict:
    return {split: {which: float(value) for which, value in by_which.items()}
            for split, by_which in scores.items()}


def _evaluations(project, run_id: str) -> dict:
    """{split: {baseline: figures, candidate: figures, difference: {...}}}."""
    out: dict = {}
    details: dict = {}
    for ev in project.store.evaluations(run_id):
        out.setdefault(ev.split, {})[ev.which] = {
            "n": ev.n, "score": ev.score, "ci95": list(ev.ci95),
            "ci_method": ev.details.get("ci_method", ""), "per_slice": ev.per_slice,
            "parse_failures": ev.parse_failures,
        }
        details.setdefault(ev.split, {})[ev.which] = {
            e["id"]: e["score"] for e in ev.details.get("examples", [])
        }
    for split, pair in details.items():
        if "baseline" in pair and "candidate" in pair:
            ids = [i for i in pair["baseline"] if i in pair["candidate"]]
            diff, interval = stats.paired_difference(
                [pair["baseline"][i] for i in ids], [pair["candidate"][i] for i in ids]
            )
            out[split]["difference"] = {
                "candidate_minus_baseline": diff,
                "ci95": [interval.low, interval.high],
                "ci_method": "paired bootstrap",
                "significant": not (interval.low <= 0.0 <= interval.high),
            }
    return out


def _gates(project, test_candidate: dict | None) -> dict:
    gates = [SliceGate(slice=g.slice, min_score=g.min_score) for g in project.config.gates]
    if not gates:
        return {"passed": True, "failures": [], "checked": []}
    if test_candidate is None:
        return {"passed": False, "failures": ["the candidate was not scored on test"],
                "checked": [g.model_dump() for g in gates]}
    per_slice = {tag: figures["score"] for tag, figures in test_candidate["per_slice"].items()}
    failures = check_gates(gates, per_slice, test_candidate["score"])
    return {"passed": not failures, "failures": failures, "checked": [g.model_dump() for g in gates]}


def _run_warnings(record, adapter_outdated: bool) -> list[str]:
    warnings = [record.events_summary["revision_changed"]] if record.events_summary.get("revision_changed") else []
    if adapter_outdated:
        warnings.append(
            f"this run was compiled with another version of the {record.adapter_format} prompt format: "
            "the prompts shown for it are how this Workbench would send them, which may differ from the "
            "ones it was scored with, and it cannot be exported; compile it again to export it")
    return warnings


def _warnings(evaluations: dict) -> list[str]:
    warnings = []
    for split in ("validation", "test"):
        figures = evaluations.get(split, {}).get("baseline") or evaluations.get(split, {}).get("candidate")
        if figures and stats.too_small_to_resolve(figures["n"]):
            warnings.append(
                f"the {split} split has {figures['n']} examples: too few for its 95% interval to "
                "separate a 10-point difference; treat differences as noise unless the interval says otherwise"
            )
    return warnings
