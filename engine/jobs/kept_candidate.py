"""Evaluate a stopped run's kept candidate, as a finished run is evaluated.

A compile cancelled, stopped by its budget or killed keeps its best candidate but may never have
scored it on validation and test, so nobody can judge it (engine.review.approval_blocker). This
job runs the evaluations the compile did not reach (candidate and baseline, on validation and
test, in the compile's order), with the run's own model, examples and metric, and adds them to the
run: its record then reads as a finished run's, and Review can approve or reject it.

It refuses what would make the figures mean something else: another program version, another
model revision, or changed splits.
"""

from __future__ import annotations

import logging

from engine import datasets
from engine.errors import WorkbenchError
from engine.jobs.compile import EVALUATION_ORDER, CompileJob, CompileSettings
from engine.jobs.control import CancelToken, RunStopped
from engine.jobs.events import EventSink, RunFinished, ignore

log = logging.getLogger(__name__)


class KeptCandidateJob(CompileJob):
    """`prepare()` checks, `run()` evaluates what is missing and returns the updated RunRecord."""

    def __init__(self, project, run_id: str, *, sink: EventSink = ignore, cancel: CancelToken | None = None,
                 allow_uncalibrated_judge: bool = False):
        record = project.store.get_run(run_id)
        params = {k: v for k, v in record.params.items() if k != "limit"}
        settings = CompileSettings(optimizer=record.optimizer, params=params, profile=record.profile,
                                   seed=record.seed, limit=record.params.get("limit"),
                                   allow_uncalibrated_judge=allow_uncalibrated_judge)
        super().__init__(project, settings, sink=sink, cancel=cancel)
        self.run_id = run_id
        self.record = record

    def missing(self) -> list[tuple[str, str]]:
        done = {(e.split, e.which) for e in self.project.store.evaluations(self.run_id)}
        return [stage for stage in EVALUATION_ORDER if stage not in done]

    def prepare(self):
        record, project = self.record, self.project
        if record.program_state is None:
            raise WorkbenchError(f"run {record.run_id} kept no candidate ({record.status}); there is nothing to evaluate")
        if not self.missing():
            raise WorkbenchError(f"run {record.run_id} is already evaluated on validation and test")
        if record.program_fingerprint != project.program.fingerprint():
            raise WorkbenchError(f"run {record.run_id} was compiled for an earlier version of the program; "
                                 "its candidate cannot be evaluated against the current one")
        fields = project.field_names
        changed = [split for split, digest in record.split_hashes.items()
                   if datasets.split_hash(project.frame, split, fields) != digest]
        if changed:
            raise WorkbenchError(f"the {', '.join(changed)} split(s) changed since run {record.run_id}: its "
                                 "candidate was selected on other data; compile again")
        prepared = super().prepare()
        served = prepared.connected.revision.revision
        if served != record.model_revision:
            raise WorkbenchError(f"run {record.run_id} was compiled for model revision {record.model_revision[:19]}…, "
                                 f"and {record.profile} now serves {served[:19]}…: evaluate it on the same revision")
        return prepared

    def run(self):
        import dspy

        from engine.jobs.compile import _use_project_cache
        from engine.jobs.instrument import RunMeter
        from engine.programs import build_program

        prepared = self.prepared or self.prepare()
        project, record = self.project, self.record
        _use_project_cache(project)
        meter = RunMeter(self.sink, self.cancel)
        meter.price_models(prepared.connected)
        prepared.metric_context.price_on(meter)
        conn = prepared.connected
        candidate = build_program(project.program)
        candidate.load_state(record.program_state)
        programs = {"baseline": build_program(project.program), "candidate": candidate}
        status, stages = "succeeded", []
        try:
            with dspy.context(lm=conn.lm, adapter=conn.adapter), meter.context(), prepared.metric_context.activated():
                for split, which in self.missing():
                    stages.append(self._evaluate_stage(prepared, programs[which], split, which))
        except RunStopped as stop:
            status = stop.status
        meter.wait_for_calls_in_flight(conn.profile.timeout_s)
        spent = meter.figures()
        current = project.store.get_run(record.run_id)
        scores = {split: dict(v) for split, v in (current.scores or {}).items()}
        for split, values in self.scores().items():
            scores.setdefault(split, {}).update(values)
        tokens = {k: int(current.tokens.get(k, 0)) + int(spent["tokens"].get(k, 0)) for k in ("prompt", "completion")}
        cost = None if current.cost_usd is None or spent["cost_usd"] is None else current.cost_usd + spent["cost_usd"]
        summary = dict(current.events_summary)
        summary["stages_done"] = [*summary.get("stages_done", []), *stages]
        summary["evaluated_after_stop"] = True
        updated = project.store.update_run(
            record.run_id, scores=scores, lm_calls=current.lm_calls + spent["lm_calls"],
            cached_calls=current.cached_calls + spent["cached_calls"], tokens=tokens, cost_usd=cost,
            events_summary=summary)
        self.sink(RunFinished(record.run_id, status, "" if status == "succeeded" else "evaluation cancelled"))
        return updated
