"""Peak memory of a real compile on the embedded model (goal: under 1 GiB resident).

    python bench/compile_memory.py [--optimizer bootstrap-fewshot] [--limit 20]

Creates the sample project in a temp folder, compiles it in this process on the embedded model
(llama.cpp loaded), and prints the peak resident set size against the 1 GiB goal.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
warnings.filterwarnings("ignore")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--optimizer", default="bootstrap-fewshot")
    parser.add_argument("--limit", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wb-memory-"))
    os.environ["DSPY_WORKBENCH_HOME"] = str(work / "home")
    from engine.jobs.compile import CompileJob, CompileSettings
    from engine.project import Project

    project = Project.create(work / "triage", sample="support-triage")
    record = CompileJob(project, CompileSettings(args.optimizer, dict(project.config.compile.params)
                                                 if args.optimizer == project.config.compile.optimizer else {},
                                                 limit=args.limit)).run()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    print(f"{args.optimizer}, {args.limit} examples per split: {record.status}, {record.lm_calls} LM calls")
    print(f"peak resident {peak_mib:.0f} MiB; ratio to the 1 GiB goal: {peak_mib / 1024:.2f} (goal < 1.00)")


if __name__ == "__main__":
    main()
