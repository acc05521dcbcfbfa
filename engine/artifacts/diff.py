"""Two bundles side by side: `artifact diff A B` and the window's compare view.

The same comparison as two runs' (engine/comparison.py: settings, scores per split and slice,
instruction and demo diffs, warnings), read from each bundle's manifest and state.json, plus the
program names and whether each bundle is intact.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from engine.artifacts.names import STATE


def _side(folder: Path):
    from engine.artifacts.bundle import verify_bundle

    manifest, problems = verify_bundle(folder)
    try:
        state = json.loads((folder / STATE).read_text("utf-8"))
    except (OSError, ValueError):
        state = None
    record = SimpleNamespace(
        run_id=manifest.run_id, optimizer=manifest.optimizer.get("name", ""),
        params=manifest.optimizer.get("params", {}), seed=manifest.optimizer.get("seed"),
        profile=manifest.model.profile, provider=manifest.model.provider, model_name=manifest.model.name,
        model_revision=manifest.model.revision, adapter_format=manifest.adapter_format,
        adapter_revision=manifest.adapter_revision, program_fingerprint=manifest.program.get("fingerprint", ""),
        metric=manifest.metric.get("spec"), split_hashes={k: v.get("sha256") for k, v in manifest.splits.items()},
        status=manifest.run_status, program_state=state if isinstance(state, dict) else None,
        lm_calls=manifest.lm_calls, cached_calls=manifest.cached_calls, tokens=manifest.tokens,
        cost_usd=manifest.cost_usd, elapsed_s=manifest.elapsed_s)
    return manifest, problems, record


def diff_artifacts(a: str | Path, b: str | Path) -> dict:
    from engine.comparison import compare_records

    folder_a, folder_b = Path(a).expanduser(), Path(b).expanduser()
    manifest_a, problems_a, record_a = _side(folder_a)
    manifest_b, problems_b, record_b = _side(folder_b)
    result = compare_records(record_a, record_b, {"evaluations": manifest_a.evaluations},
                             {"evaluations": manifest_b.evaluations})
    name_a, name_b = manifest_a.program.get("name", ""), manifest_b.program.get("name", "")
    result["settings"].insert(0, {"key": "program_name", "label": "Program", "a": name_a, "b": name_b,
                                  "differs": name_a != name_b})
    result["settings"].append({"key": "answers", "label": "Answers", "a": manifest_a.answers,
                               "b": manifest_b.answers, "differs": manifest_a.answers != manifest_b.answers})
    result["paths"] = {"a": str(folder_a), "b": str(folder_b)}
    result["intact"] = {"a": not problems_a, "b": not problems_b}
    for side, problems in (("A", problems_a), ("B", problems_b)):
        if problems:
            result["warnings"].append(f"bundle {side} does not match its manifest: " + "; ".join(problems))
    if record_a.run_id == record_b.run_id and folder_a.resolve() != folder_b.resolve():
        result["warnings"] = [w for w in result["warnings"] if w != "both sides are the same run"]
        result["warnings"].append("both bundles were exported from the same run")
    return result
