"""The estimate before a compile against what real runs spend, for all seven optimizers.

    python bench/estimate_accuracy.py [--limit N] [--model PROFILE] [--only KEY ...]

For each optimizer (small settings, `--limit` rows per split of a fresh copy of the sample), prints
the estimate `compile --dry-run` gives (point and range), then runs the real compile on the model
(the embedded one by default) and prints the LM calls it made (logical calls: the project's cache
is fresh, so all are real), whether they fell in the range, and point / made. A benchmark, not a
test: tests/engine/test_estimate.py checks the ranges with a scripted model.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SETTINGS = {
    "labeled-fewshot": {"k": 3},
    "bootstrap-fewshot": {"max_bootstrapped_demos": 2, "max_labeled_demos": 2},
    "bootstrap-rs": {"num_candidate_programs": 2},
    "copro": {"breadth": 2, "depth": 1},
    "miprov2": {"auto": "none", "num_candidates": 3, "num_trials": 4, "minibatch": False},
    "simba": {"bsize": 4, "num_candidates": 2, "max_steps": 1},
    "gepa": {"reflection_model": "embedded", "max_metric_calls": 30},
}


def main() -> int:
    parser = argparse.ArgumentParser(description="estimate vs real LM calls per optimizer")
    parser.add_argument("--limit", type=int, default=12)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--only", nargs="*", default=list(SETTINGS))
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from engine.estimate import estimate_compile
    from engine.jobs.compile import CompileJob, CompileSettings
    from engine.project import Project

    print(f"{'optimizer':<18} {'estimate':>8} {'range':>13} {'made':>6} {'in range':>8} {'point/made':>10} {'seconds':>8}")
    for key in args.only:
        folder = Path(tempfile.mkdtemp(prefix="wb-estimate-")) / "p"
        project = Project.create(folder, sample="support-triage")
        settings = CompileSettings(key, SETTINGS[key], profile=args.model, limit=args.limit)
        estimate = estimate_compile(project, settings)
        started = time.monotonic()
        record = CompileJob(project, settings).run()
        made = record.events_summary.get("logical_lm_calls", record.lm_calls + record.cached_calls)
        low, high = estimate.lm_calls_range
        ratio = estimate.lm_calls / made if made else float("nan")
        print(f"{key:<18} {estimate.lm_calls:>8} {f'{low}-{high}':>13} {made:>6} "
              f"{'yes' if low <= made <= high else 'NO':>8} {ratio:>10.2f} {time.monotonic() - started:>8.0f}"
              + ("" if record.status == "succeeded" else f"  ({record.status}: {record.error})"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
