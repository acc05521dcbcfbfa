"""Does a profile's `concurrency` turn into calls in flight? (prints ratios, not a timed test)

Against the local fixed-latency OpenAI-compatible server (tests/fakes, 127.0.0.1 only; in its own
process, as a real server is, so it does not share this process's GIL), for each
concurrency c, connect an `openai-compatible` profile with that concurrency and score N examples
through `engine.evaluation.evaluate(..., threads=c)`, the path a compile's evaluations take
(program -> compact adapter -> dspy.LM -> OpenAICompatEngine -> HTTP). The ideal call rate is
c / latency; the ratio achieved / ideal should be >= 0.9. The last line is the minimum ratio.

    .venv/bin/python bench/lm_concurrency.py [--latency 0.2] [--calls-per-slot 10] [--levels 1,2,4,8]
                                             [--in-process]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ["DSPY_WORKBENCH_HOME"] = tempfile.mkdtemp(prefix="wb-bench-")  # never the user's folders


class ServerProcess:
    """The fake server in a child process; stats come from its /_fake/stats endpoint."""

    def __init__(self, latency: float):
        self.latency = latency
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.openai_server", "--latency", str(latency)],
                                     cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.close()
            raise SystemExit("the fake server did not start")

    def _stats(self, method: str = "GET") -> dict:
        import httpx

        return httpx.request(method, self.url.removesuffix("/v1") + "/_fake/stats").json()

    @property
    def chat_calls(self) -> int:
        return self._stats()["chat_calls"]

    @property
    def peak_in_flight(self) -> int:
        return self._stats()["peak_in_flight"]

    @peak_in_flight.setter
    def peak_in_flight(self, value) -> None:
        self._stats("POST")  # resets the peak

    def close(self) -> None:
        try:
            self.proc.stdin.close()  # the server stops when its stdin closes
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def run_level(server, concurrency: int, calls: int) -> dict:
    import dspy

    from engine import metrics
    from engine.evaluation import evaluate
    from engine.lms.connect import connect
    from engine.lms.profiles import ModelProfile

    profile = ModelProfile(name=f"bench-c{concurrency}", provider="openai-compatible", model="gpt-4o-mini",
                           base_url=server.url, concurrency=concurrency, retries=0, timeout_s=30)
    connected = connect(profile)
    program = dspy.Predict("ticket -> urgency: Literal['low', 'medium', 'high']")
    examples = [dspy.Example(ticket=f"ticket number {concurrency}-{i}", urgency="low").with_inputs("ticket")
                for i in range(calls)]
    spec = metrics.parse_metric({"kind": "exact_match", "field": "urgency"})
    before = server.chat_calls
    server.peak_in_flight = 0
    started = time.perf_counter()
    with dspy.context(lm=connected.lm, adapter=connected.adapter):
        result = evaluate(program, examples, spec, split="bench", threads=concurrency)
    elapsed = time.perf_counter() - started
    made = server.chat_calls - before
    assert made == calls, f"expected {calls} real calls, the server saw {made}"
    assert result.errors == 0 and result.parse_failures == 0
    rate = calls / elapsed
    ideal = concurrency / server.latency
    return {"c": concurrency, "calls": calls, "seconds": elapsed, "rate": rate, "ideal": ideal,
            "ratio": rate / ideal, "peak": server.peak_in_flight}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per call at the server")
    parser.add_argument("--calls-per-slot", type=int, default=10, help="N = this many calls per concurrency slot")
    parser.add_argument("--levels", default="1,2,4,8")
    parser.add_argument("--in-process", action="store_true", help="run the fake server in this process")
    args = parser.parse_args(argv)

    import dspy

    from engine.lms.connect import close_engines
    from tests.fakes.openai_server import FakeOpenAI

    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)  # every call reaches the server
    levels = [int(x) for x in args.levels.split(",")]
    rows = []
    with (FakeOpenAI(latency=args.latency) if args.in_process else ServerProcess(args.latency)) as server:
        where = "in this process" if args.in_process else f"in process {server.proc.pid}"
        print(f"fixed-latency OpenAI-compatible server at {server.url} ({where}), {args.latency:g} s per call")
        print(f"{'c':>3} {'calls':>6} {'seconds':>8} {'calls/s':>8} {'ideal':>7} {'ratio':>6} {'peak in flight':>15}")
        for c in levels:
            row = run_level(server, c, args.calls_per_slot * c)
            rows.append(row)
            print(f"{row['c']:>3} {row['calls']:>6} {row['seconds']:>8.2f} {row['rate']:>8.2f} {row['ideal']:>7.2f} "
                  f"{row['ratio']:>6.3f} {row['peak']:>15}")
            if row["peak"] > c:
                print(f"  the bound was broken: {row['peak']} calls in flight for concurrency {c}")
                return 1
        close_engines()
    worst = min(r["ratio"] for r in rows)
    print(f"minimum ratio: {worst:.3f} (goal >= 0.9)")
    return 0 if worst >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
