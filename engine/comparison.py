"""Two runs side by side: what was different about them, how they scored, what they chose.

`compare_runs(project, run_a, run_b)` is the one function behind `dspy-workbench runs compare`
and the desktop's Compare dialog. It returns plain JSON-able data:

    run_a, run_b      the two run ids (as given: "a" is the left/older side by convention)
    settings          rows {key, label, a, b, differs} — optimizer, params, seed, model profile,
                      model name and revision, prompt format, program fingerprint, metric, data
    scores            rows {split, slice, a: {baseline, candidate, n}, b: {...}}; slice None is
                      the whole split (from `engine.reports.run_report`)
    predictors        per predictor name: instructions and demos of both runs (from
                      `engine.artifacts.chosen_state`), `instructions_differ`, `demos_differ`, and
                      unified diffs (`difflib`) of the instructions and of the demo lists
    warnings          sentences: different model revisions, program versions, data, metrics...
"""

from __future__ import annotations

import difflib
import json

from engine.artifacts import chosen_state
from engine.reports import run_report


def compare_runs(project, run_a: str, run_b: str) -> dict:
    a = project.store.get_run(run_a)
    b = project.store.get_run(run_b)
    return compare_records(a, b, run_report(project, a), run_report(project, b))


def compare_records(a, b, report_a: dict, report_b: dict) -> dict:
    """The comparison of two run-like records (RunRecord fields: optimizer, params, seed, profile,
    provider, model_name, model_revision, adapter_format, adapter_revision, program_fingerprint,
    metric, split_hashes, status, run_id, program_state, usage) with their reports' `evaluations`.
    `engine.artifacts.diff` passes two bundles' manifests this way."""
    chosen_a = chosen_state(a.program_state or {})
    chosen_b = chosen_state(b.program_state or {})
    scores = _scores(report_a, report_b)
    return {
        "run_a": a.run_id,
        "run_b": b.run_id,
        "status": {"a": a.status, "b": b.status},
        "settings": _settings(a, b),
        "scores": scores,
        "predictors": _predictors(chosen_a, chosen_b, a.run_id, b.run_id,
                                  has_a=a.program_state is not None, has_b=b.program_state is not None),
        "warnings": _warnings(a, b) + _baseline_warnings(a, b, scores),
        "usage": {side: {"lm_calls": r.lm_calls, "cached_calls": r.cached_calls,
                         "tokens": int(r.tokens.get("prompt", 0)) + int(r.tokens.get("completion", 0)),
                         "cost_usd": r.cost_usd, "elapsed_s": r.elapsed_s} for side, r in (("a", a), ("b", b))},
    }


# -- settings -----------------------------------------------------------------------------------------

def _text(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _settings(a, b) -> list[dict]:
    rows: list[tuple[str, str, object, object]] = [
        ("optimizer", "Optimizer", a.optimizer, b.optimizer),
    ]
    for name in sorted(set(a.params) | set(b.params)):
        rows.append((f"params.{name}", f"  {name}", a.params.get(name), b.params.get(name)))
    rows += [
        ("seed", "Seed", a.seed, b.seed),
        ("profile", "Model profile", a.profile, b.profile),
        ("model", "Model", f"{a.provider}: {a.model_name}", f"{b.provider}: {b.model_name}"),
        ("revision", "Model revision", a.model_revision, b.model_revision),
        ("adapter_format", "Prompt format", a.adapter_format, b.adapter_format),
        ("program_fingerprint", "Program fingerprint", a.program_fingerprint, b.program_fingerprint),
        ("metric", "Metric", a.metric, b.metric),
    ]
    for split in sorted(set(a.split_hashes) | set(b.split_hashes)):
        rows.append((f"split_hash.{split}", f"Data: {split} hash",
                     a.split_hashes.get(split), b.split_hashes.get(split)))
    rows.append(("status", "Status", a.status, b.status))
    return [{"key": key, "label": label, "a": _text(va), "b": _text(vb), "differs": va != vb}
            for key, label, va, vb in rows]


# -- scores --------------------------------------------------------------------------------------------

def _side(evaluation: dict, tag: str | None) -> dict:
    out: dict = {}
    for which in ("baseline", "candidate"):
        figures = evaluation.get(which)
        if not figures:
            continue
        if tag is not None:
            figures = figures.get("per_slice", {}).get(tag)
            if not figures:
                continue
        out[which] = figures.get("score")
        out["n"] = figures.get("n")
    return out


def _scores(report_a: dict, report_b: dict) -> list[dict]:
    rows = []
    ev_a, ev_b = report_a["evaluations"], report_b["evaluations"]
    splits = [s for s in ("train", "validation", "test") if s in ev_a or s in ev_b]
    splits += sorted((set(ev_a) | set(ev_b)) - set(splits))
    for split in splits:
        sa, sb = ev_a.get(split, {}), ev_b.get(split, {})
        rows.append({"split": split, "slice": None, "a": _side(sa, None), "b": _side(sb, None)})
        tags = set()
        for ev in (sa, sb):
            for which in ("baseline", "candidate"):
                tags |= set((ev.get(which) or {}).get("per_slice", {}))
        for tag in sorted(tags):
            rows.append({"split": split, "slice": tag, "a": _side(sa, tag), "b": _side(sb, tag)})
    return rows


# -- chosen instructions and demos ---------------------------------------------------------------------

# What a demo carries besides the program's fields: DSPy's bootstrap flag and the Workbench's own
# bookkeeping (which example it came from, its slices). A reader of the prompt sees neither.
_DEMO_BOOKKEEPING = frozenset({"example_id", "slices"})


def demo_fields(demo: dict) -> dict:
    """The fields of a demo as the prompt shows them, without internal bookkeeping."""
    return {key: value for key, value in demo.items()
            if not key.startswith("augmented") and key not in _DEMO_BOOKKEEPING}


def _demo_lines(demos: list) -> list[str]:
    lines = []
    for i, demo in enumerate(demos, start=1):
        lines.append(f"demo {i}:")
        for key, value in demo_fields(demo).items():
            text = str(value).replace("\n", " ")
            lines.append(f"  {key}: {text}")
    return lines


def _unified(left: list[str], right: list[str], name_a: str, name_b: str) -> str:
    return "\n".join(difflib.unified_diff(left, right, fromfile=name_a, tofile=name_b, lineterm=""))


def _predictors(chosen_a: dict, chosen_b: dict, id_a: str, id_b: str, *, has_a: bool, has_b: bool) -> dict:
    out = {}
    names = list(chosen_a) + [n for n in chosen_b if n not in chosen_a]
    for name in names:
        pa = chosen_a.get(name, {"instructions": "", "demos": []})
        pb = chosen_b.get(name, {"instructions": "", "demos": []})
        inst_a, inst_b = pa["instructions"] or "", pb["instructions"] or ""
        out[name] = {
            "a": pa, "b": pb,
            "instructions_differ": inst_a != inst_b,
            "demos_differ": pa["demos"] != pb["demos"],
            "instructions_diff": _unified(inst_a.splitlines(), inst_b.splitlines(),
                                          f"A {id_a} instructions", f"B {id_b} instructions"),
            "demos_diff": _unified(_demo_lines(pa["demos"]), _demo_lines(pb["demos"]),
                                   f"A {id_a} demos", f"B {id_b} demos"),
        }
    if not has_a or not has_b:
        missing = [rid for rid, has in ((id_a, has_a), (id_b, has_b)) if not has]
        for entry in out.values():
            entry["note"] = "no compiled program for " + ", ".join(missing)
    return out


def diff_text(comparison: dict) -> str:
    """All predictors' instruction and demo diffs as one readable text (for a monospace view)."""
    parts = []
    for name, entry in comparison["predictors"].items():
        parts.append(f"=== predictor {name} ===")
        if entry.get("note"):
            parts.append(f"({entry['note']})")
        parts.append("")
        parts.append("## instructions: " + ("differ" if entry["instructions_differ"] else "the same in both runs"))
        if entry["instructions_differ"]:
            parts.append(entry["instructions_diff"])
        else:
            parts.append("  " + (entry["a"]["instructions"] or "(none)"))
        parts.append("")
        parts.append(f"## demos: A has {len(entry['a']['demos'])}, B has {len(entry['b']['demos'])}; "
                     + ("they differ" if entry["demos_differ"] else "the same in both runs"))
        if entry["demos_differ"]:
            parts.append(entry["demos_diff"])
        elif entry["a"]["demos"]:
            parts.extend("  " + line for line in _demo_lines(entry["a"]["demos"]))
        parts.append("")
    if not comparison["predictors"]:
        parts.append("Neither run has a compiled program to compare.")
    return "\n".join(parts)


# -- warnings ------------------------------------------------------------------------------------------

def _warnings(a, b) -> list[str]:
    warnings = []
    if a.model_revision != b.model_revision:
        if a.model_name == b.model_name:
            warnings.append(f"the runs used different model revisions of {a.model_name} "
                            f"({a.model_revision} vs {b.model_revision}): score differences may come from the model")
        else:
            warnings.append(f"the runs used different models ({a.model_name} vs {b.model_name}) "
                            "and so different model revisions")
    if a.program_fingerprint != b.program_fingerprint:
        warnings.append("the runs compiled different program versions (program fingerprints differ)")
    if a.split_hashes != b.split_hashes:
        splits = sorted(s for s in set(a.split_hashes) | set(b.split_hashes)
                        if a.split_hashes.get(s) != b.split_hashes.get(s))
        warnings.append("the runs used different data (split hashes differ: " + ", ".join(splits) + ")"
                        "; scores are not measured on the same examples")
    if a.metric != b.metric:
        warnings.append("the runs used different metrics; their scores are not on the same scale")
    if a.adapter_format != b.adapter_format:
        warnings.append(f"the runs used different prompt formats ({a.adapter_format} vs {b.adapter_format})")
    elif a.adapter_revision and b.adapter_revision and a.adapter_revision != b.adapter_revision:
        warnings.append(f"the runs used different versions of the {a.adapter_format} prompt format "
                        f"({a.adapter_revision[:12]} vs {b.adapter_revision[:12]}); their prompts may differ")
    for record in (a, b):
        if record.status != "succeeded":
            warnings.append(f"run {record.run_id} did not succeed ({record.status.replace('_', ' ')})")
    if a.run_id == b.run_id:
        warnings.append("both sides are the same run")
    return warnings


def _baseline_warnings(a, b, scores: list[dict]) -> list[str]:
    """Same program, data and model revision should give the same baseline; say so when it did not."""
    if (a.model_revision, a.program_fingerprint, a.split_hashes) != (b.model_revision, b.program_fingerprint,
                                                                      b.split_hashes):
        return []  # already explained by the warnings above
    out = []
    for row in scores:
        if row["slice"] is not None:
            continue
        ba, bb = row["a"].get("baseline"), row["b"].get("baseline")
        if ba is not None and bb is not None and row["a"].get("n") == row["b"].get("n") and abs(ba - bb) > 1e-9:
            out.append(f"the baseline scored {ba:.3f} vs {bb:.3f} on {row['split']} with the same program, data and "
                       "model revision: the model's answers vary between runs (sampling, or a cleared cache), "
                       "so part of any difference is noise")
    return out
