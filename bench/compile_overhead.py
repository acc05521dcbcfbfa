"""What does the Workbench add to a compile? (goal: at most 1.03x a plain DSPy script)

    python bench/compile_overhead.py [--latency 0.05] [--limit 30]

One local OpenAI-compatible server answers every call after a fixed latency (it runs in its own
process). The same compile (the sample program, the same rows, BootstrapFewShot with the same
settings and seed, then baseline and candidate scored on validation and test) is done:
1. by the Workbench engine (CompileJob, with its history, events and meter), and
2. by a plain DSPy script (the exported program.py's program, dspy.LM through LiteLLM,
   dspy.Evaluate), each with a fresh cache.
The last line prints the ratio of wall times. Then the Workbench compile runs again, unchanged:
DSPy's cache, kept per project, answers every call, so it makes zero new LM calls.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
warnings.filterwarnings("ignore")

PARAMS = {"max_bootstrapped_demos": 2, "max_labeled_demos": 2}
SEED = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--limit", type=int, default=30, help="examples per split")
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="wb-overhead-"))
    os.environ["DSPY_WORKBENCH_HOME"] = str(work / "home")
    server = subprocess.Popen([sys.executable, "-m", "tests.fakes.openai_server", "--latency", str(args.latency)],
                              cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()
        print(f"server {url}, {args.latency * 1000:.0f} ms per call; {args.limit} examples per split")
        workbench_s, calls, project = run_workbench(work / "project", url, args.limit)
        print(f"workbench engine: {workbench_s:.2f}s, {calls} LM calls")
        plain_s, plain_calls = run_plain_dspy(project, url, args.limit, work / "plain-cache")
        print(f"plain DSPy:       {plain_s:.2f}s, {plain_calls} LM calls")
        again_s, again_calls, _ = run_workbench(work / "project", url, args.limit, reuse=project)
        print(f"identical compile again: {again_s:.2f}s, {again_calls} new LM calls (cache per project)")
        print(f"ratio workbench/plain: {workbench_s / plain_s:.3f} (goal <= 1.03)")
    finally:
        server.stdin.close()
        server.wait(timeout=10)


def run_workbench(folder: Path, url: str, limit: int, reuse=None):
    from engine.jobs.compile import CompileJob, CompileSettings
    from engine.project import Project

    project = reuse
    if project is None:
        project = Project.create(folder, sample="support-triage")
        project.config.models["bench"] = {"provider": "openai-compatible", "model": "gpt-4o-mini",
                                          "base_url": url, "format": "compact", "max_tokens": 64}
        project.save()
        project = Project.open(folder)
    job = CompileJob(project, CompileSettings("bootstrap-fewshot", PARAMS, profile="bench", seed=SEED, limit=limit))
    job.prepare()
    started = time.perf_counter()
    record = job.run()
    elapsed = time.perf_counter() - started
    assert record.status == "succeeded", record.error
    return elapsed, record.lm_calls, project


def run_plain_dspy(project, url: str, limit: int, cache_dir: Path):
    """The same compile as a practitioner would script it with plain DSPy."""
    import dspy

    from engine.adapters.compact import CompactAdapter
    from engine.artifacts.program_source import program_source

    dspy.configure_cache(enable_disk_cache=True, enable_memory_cache=True, disk_cache_dir=str(cache_dir))
    namespace = {"__file__": str(cache_dir / "program.py")}
    exec(compile(program_source(project.program), "program.py", "exec", dont_inherit=True), namespace)  # not this file's __future__ flags
    # the same rows the Workbench used, as plain dspy.Examples
    splits = {}
    for split in ("train", "validation", "test"):
        splits[split] = [dspy.Example(ticket_text=e.ticket_text, policy_context=e.policy_context,
                                      urgency=e.urgency).with_inputs("ticket_text", "policy_context")
                         for e in project.examples(split, limit)]

    def metric(example, prediction, trace=None):
        match = str(prediction.urgency).strip().lower() == example.urgency.strip().lower()
        return match if trace is not None else float(match)

    # engine="litellm": DSPy's LiteLLM path passes the adapter's JSON-schema response_format through.
    lm = dspy.LM("openai/gpt-4o-mini", api_base=url, api_key="not-needed", temperature=0.0, max_tokens=64,
                 num_retries=0, engine="litellm")
    started = time.perf_counter()
    with dspy.context(lm=lm, adapter=CompactAdapter()):
        baseline = namespace["build_program"]()
        candidate = dspy.BootstrapFewShot(metric=metric, **PARAMS).compile(baseline.deepcopy(), trainset=splits["train"])
        for split in ("validation", "test"):
            for program in (candidate, baseline):
                dspy.Evaluate(devset=splits[split], metric=metric, num_threads=1, display_progress=False)(program)
    elapsed = time.perf_counter() - started
    calls = sum(1 for entry in lm.history if entry.get("usage"))
    return elapsed, calls


if __name__ == "__main__":
    main()
