"""SIMBA's candidates as trials, scored as SIMBA scores them.

SIMBA runs no `dspy.Evaluate` (where the meter catches other optimizers' trials) and has no trial
hook. It scores every program through `dspy.teleprompt.simba.wrap_program(program, metric)`, one
wrapped callable per (program, example) pair, and wraps all pairs of a batch before it runs any
(`[(wrap_program(p, metric), ex) for p in programs for ex in batch]`, then `run_parallel`).
Wrapping that one function is the least fragile hook found in dspy 3.4.1:

- each wrapped call returns SIMBA's own score for the example (after its handling of float and
  `dspy.Prediction` metrics), so trial scores are exactly the numbers SIMBA selects on;
- the wraps counted per program say, before anything runs, how many examples that candidate will
  be scored on, so its trial is reported the moment its last example is scored, and of which
  kind: the whole trainset (SIMBA's final selection: "train") or a `bsize` minibatch;
- a wrapped metric alone sees (example, prediction) but neither which candidate made it nor when
  a candidate is done; SIMBA's log lines are not an API.

SIMBA's trajectory sampling wraps each sampled copy once: with `bsize > 1` a program wrapped once
is such a sample, not a candidate, and is not reported. The replacement is installed once and is
transparent unless the calling thread (the one running `compile`) has an active recorder, so
another SIMBA in the process is untouched. Should DSPy rename the function, SIMBA still runs,
without trials, and tests/engine/test_optimizers.py says so.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

_active = threading.local()  # .recorder: the CandidateScores of the compile running in this thread
_install_lock = threading.Lock()
_installed = False


@dataclass
class _Candidate:
    program: object
    expected: int = 0
    scores: list[float] = field(default_factory=list)


class CandidateScores:
    """Collects the per-example scores of each program SIMBA wraps; reports each finished one."""

    def __init__(self, meter, trainset_size: int, bsize: int):
        self.meter = meter
        self.trainset_size = trainset_size
        self.bsize = bsize
        self._lock = threading.Lock()
        self._pending: dict[int, _Candidate] = {}  # id(program) -> candidate; holds the program, so ids stay unique

    def wrapped(self, program, run_one):
        """`run_one` (SIMBA's wrapped program) reporting its score here. Called at wrap time."""
        with self._lock:
            candidate = self._pending.get(id(program))
            if candidate is None:
                candidate = self._pending[id(program)] = _Candidate(program)
            candidate.expected += 1

        def scored(example):
            result = run_one(example)
            score = result.get("score") if isinstance(result, dict) else None
            self._scored(candidate, score)
            return result

        return scored

    def _scored(self, candidate: _Candidate, score) -> None:
        value = float(score) if isinstance(score, (int, float)) else 0.0  # SIMBA counts a failed metric as 0
        with self._lock:
            candidate.scores.append(value)
            done = len(candidate.scores) == candidate.expected
            if done:
                self._pending.pop(id(candidate.program), None)
        if not done or (candidate.expected == 1 and (self.bsize > 1 or _is_trajectory_sample(candidate.program))):
            return
        kind = "train" if candidate.expected == self.trainset_size else "minibatch"
        self.meter.trial_finished(sum(candidate.scores) / len(candidate.scores), kind, candidate.program)


def _is_trajectory_sample(program) -> bool:
    """SIMBA's trajectory samples are copies whose predictors got their own LM (`set_lm`, a
    temperature-1 copy); the Workbench's candidates never set one. Needed when bsize is 1, where
    a sample and a candidate are both wrapped once."""
    try:
        return any(getattr(p, "lm", None) is not None for p in program.predictors())
    except Exception:
        return False


@contextmanager
def candidate_trials(meter, trainset_size: int, bsize: int):
    """While SIMBA compiles in this thread, report each candidate it scores to `meter`."""
    installed = _install()
    previous = getattr(_active, "recorder", None)
    _active.recorder = CandidateScores(meter, trainset_size, bsize) if installed else None
    try:
        yield _active.recorder
    finally:
        _active.recorder = previous


def _install() -> bool:
    global _installed
    with _install_lock:
        if _installed:
            return True
        from dspy.teleprompt import simba

        original = getattr(simba, "wrap_program", None)
        if original is None:
            log.warning("dspy.teleprompt.simba has no wrap_program: SIMBA runs without live trials")
            return False

        def wrap_program(program, metric):
            run_one = original(program, metric)
            recorder = getattr(_active, "recorder", None)
            return run_one if recorder is None else recorder.wrapped(program, run_one)

        wrap_program.__wrapped__ = original
        simba.wrap_program = wrap_program
        _installed = True
        return True
