"""How fast does Cancel stop a run, for each optimizer? (goal: at most L + 0.5 s)

    python bench/cancel_latency.py [--latency 0.3]
    python bench/cancel_latency.py --embedded [--repeats 3]   # the embedded model (goal: about 1 s)

With --embedded: an evaluation of the sample project's validation split on the embedded model,
cancelled at given moments after the first scored call took the model: 0.5 s (inside the
choice-scoring prior, which takes many seconds on the sample's long tickets) and later.

A local OpenAI-compatible server answers each call after L seconds (in its own process). For
each optimizer, a compile starts on the sample project; once it has made a few real LM calls
(mid-search), Cancel is pressed. Printed: the time from Cancel to the end of the run, per
optimizer, and the worst one against the goal.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
warnings.filterwarnings("ignore")

SETTINGS = {
    "labeled-fewshot": {"k": 2},  # no calls while compiling: cancelled during evaluation
    "bootstrap-fewshot": {"max_bootstrapped_demos": 2, "max_labeled_demos": 2},
    "bootstrap-rs": {"num_candidate_programs": 3},
    "copro": {"breadth": 2, "depth": 1},
    "miprov2": {"auto": "none", "num_candidates": 2, "num_trials": 4, "minibatch": False},
    "simba": {"bsize": 4, "num_candidates": 2, "max_steps": 2},
    "gepa": {"reflection_model": "bench", "max_metric_calls": 60},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--after-calls", type=int, default=6, help="cancel once this many calls finished")
    parser.add_argument("--embedded", action="store_true", help="cancel evaluations on the embedded model instead")
    parser.add_argument("--repeats", type=int, default=3, help="with --embedded: cancels per moment")
    args = parser.parse_args()
    if args.embedded:
        embedded(args.repeats)
        return
    import logging

    logging.disable(logging.WARNING)
    from engine.jobs.compile import CompileJob, CompileSettings
    from engine.jobs.control import CancelToken
    from engine.jobs.events import LMCallFinished
    from engine.project import Project

    work = Path(tempfile.mkdtemp(prefix="wb-cancel-"))
    os.environ["DSPY_WORKBENCH_HOME"] = str(work / "home")
    server = subprocess.Popen([sys.executable, "-m", "tests.fakes.openai_server", "--latency", str(args.latency)],
                              cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    worst = 0.0
    try:
        url = server.stdout.readline().strip()
        print(f"server {url}, L = {args.latency:.2f} s per call; cancel after {args.after_calls} calls")
        for key, params in SETTINGS.items():
            project = Project.create(work / key, sample="support-triage")
            project.config.models["bench"] = {"provider": "openai-compatible", "model": "gpt-4o-mini",
                                              "base_url": url, "format": "compact", "max_tokens": 64,
                                              "concurrency": 4}
            project.save()
            project = Project.open(work / key)
            cancel = CancelToken()
            pressed: dict = {}

            def press(cancel=cancel, pressed=pressed):
                pressed["at"] = time.perf_counter()
                cancel.cancel()

            def sink(event, pressed=pressed, press=press):
                # Press Cancel halfway through the next call, as a user would: mid-flight.
                if isinstance(event, LMCallFinished) and event.total_calls >= args.after_calls and "timer" not in pressed:
                    pressed["timer"] = threading.Timer(args.latency / 2, press)
                    pressed["timer"].start()

            job = CompileJob(project, CompileSettings(key, params, profile="bench", limit=12), sink=sink, cancel=cancel)
            job.prepare()
            result: dict = {}
            runner = threading.Thread(target=lambda job=job, result=result: result.setdefault("record", job.run()))
            runner.start()
            runner.join(timeout=300)
            ended = time.perf_counter()
            record = result.get("record")
            if "at" not in pressed or record is None:
                print(f"{key:<18} did not reach {args.after_calls} calls (status {record and record.status})")
                continue
            latency = ended - pressed["at"]
            worst = max(worst, latency)
            time.sleep(args.latency + 0.2)  # a call that was in flight finishes and is thrown away
            leftover = [t.name for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()
                        and not t.daemon]
            print(f"{key:<18} {record.status:<10} cancel -> end {latency:5.2f}s  "
                  f"(goal <= {args.latency + 0.5:.2f}s)  non-daemon threads left: {len(leftover)}", flush=True)
        print(f"worst cancel latency {worst:.2f}s vs goal {args.latency + 0.5:.2f}s: "
              f"ratio {worst / (args.latency + 0.5):.2f} (goal <= 1.00)")
    finally:
        server.stdin.close()
        server.wait(timeout=10)


def embedded(repeats: int) -> None:
    import logging

    logging.disable(logging.WARNING)
    from engine.jobs.control import CancelToken
    from engine.jobs.evaluate import EvaluateJob, EvaluateSettings
    from engine.lms.embedded import model_path, shared_engine
    from engine.lms.profiles import embedded_profile
    from engine.project import Project

    work = Path(tempfile.mkdtemp(prefix="wb-cancel-embedded-"))
    os.environ["DSPY_WORKBENCH_HOME"] = str(work / "home")
    engine = shared_engine(model_path(), embedded_profile().context_tokens)
    worst = 0.0
    for moment in (0.5, 3.0, 8.0):
        for repeat in range(repeats):
            project = Project.create(work / f"p{moment}-{repeat}", sample="support-triage")  # an empty LM cache
            if engine._scorer is not None:
                engine._scorer._priors.clear()
            cancel = CancelToken()
            result: dict = {}
            job = EvaluateJob(project, EvaluateSettings(split="validation"), cancel=cancel)
            runner = threading.Thread(target=lambda job=job, result=result: result.update(job.run()), daemon=True)
            runner.start()
            while not (engine._lock.locked() and engine._scorer is not None):
                time.sleep(0.01)
            time.sleep(moment)
            in_prior = not engine._scorer._priors
            pressed = time.perf_counter()
            cancel.cancel()
            runner.join(timeout=600)
            latency = time.perf_counter() - pressed
            worst = max(worst, latency)
            print(f"embedded, cancel {moment:.1f} s into the first scored call "
                  f"({'inside the prior' if in_prior else 'after the prior'}): {result.get('status')}, "
                  f"cancel -> end {latency:.2f} s", flush=True)
    print(f"embedded: worst cancel latency {worst:.2f} s (goal: about 1 s; was 268 s on a busy machine)")


if __name__ == "__main__":
    main()
