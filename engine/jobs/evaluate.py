"""An evaluation run: the baseline or a compiled run's program, on one split, with one model."""

from __future__ import annotations

from dataclasses import dataclass

from engine import datasets, stats
from engine.errors import WorkbenchError
from engine.evaluation import context_window, evaluate
from engine.jobs.control import CancelToken
from engine.jobs.events import EventSink, RunFinished, StageStarted, ignore


@dataclass
class EvaluateSettings:
    split: str
    profile: str = "embedded"
    run_id: str | None = None  # None: the uncompiled baseline
    limit: int | None = None
    allow_uncalibrated_judge: bool = False  # run with a judge metric whose calibration is missing, failed or stale


class EvaluateJob:
    def __init__(self, project, settings: EvaluateSettings, *, sink: EventSink = ignore,
                 cancel: CancelToken | None = None):
        self.project = project
        self.settings = settings
        self.sink = sink
        self.cancel = cancel or CancelToken()
        self.metric_context = None  # engine.metric_context.MetricContext, set by prepare()

    def prepare(self):
        from engine.adapters import calibrate_on_training_rows
        from engine.lms.connect import connect
        from engine.programs import build_program

        project, settings = self.project, self.settings
        if settings.split not in datasets.SPLITS:
            raise WorkbenchError(f"unknown split {settings.split!r}; use one of {', '.join(datasets.SPLITS)}")
        profile = project.profile(settings.profile)
        datasets.check_no_leaks(project.frame, project.program.input_names)
        warnings: list[str] = []
        if settings.run_id is None:
            spec, state = project.program, None
        else:
            record = project.store.get_run(settings.run_id)
            if record.program_state is None:
                raise WorkbenchError(
                    f"run {settings.run_id} has no compiled program (status {record.status}); choose a finished run"
                )
            spec, state = project.program_of_run(record), record.program_state
            if record.program_fingerprint != project.program.fingerprint():
                warnings.append(f"run {settings.run_id} was compiled for an earlier version of the program")
        program = build_program(spec)
        if state is not None:
            program.load_state(state)
        examples = project.examples(settings.split, settings.limit)
        if not examples:
            raise WorkbenchError(f"the {settings.split} split is empty; assign examples to it first")
        connected = connect(profile)
        calibrate_on_training_rows(connected.adapter, project)
        from engine.metric_context import prepare_metric_context

        # Trusted metric files, the judge's model and the refusal of an unchecked judge (calibration.py).
        self.metric_context = prepare_metric_context(project, project.metric_spec(), connected=connected,
                                                     allow_uncalibrated_judge=settings.allow_uncalibrated_judge)
        if settings.run_id is not None and record.model_revision != connected.revision.revision:
            warnings.append(
                f"run {settings.run_id} was compiled for {record.model_name} ({record.model_revision[:19]}…); "
                f"this evaluation uses {connected.revision.name} ({connected.revision.revision[:19]}…), so "
                "the score says how the artifact transfers, not how a compile for this model would do"
            )
        return program, examples, connected, warnings

    def run(self) -> dict:
        import dspy

        from engine.jobs.compile import _use_project_cache
        from engine.jobs.control import RunStopped
        from engine.jobs.instrument import RunMeter

        program, examples, connected, warnings = self.prepare()
        _use_project_cache(self.project)
        meter = RunMeter(self.sink, self.cancel)
        meter.price_models(connected)
        self.metric_context.price_on(meter)
        stage = f"evaluate {'baseline' if self.settings.run_id is None else self.settings.run_id} on {self.settings.split}"
        self.sink(StageStarted(stage, len(examples)))
        status = "succeeded"
        result = None
        try:
            with dspy.context(lm=connected.lm, adapter=connected.adapter), meter.context(), \
                    self.metric_context.activated():
                result = evaluate(program, examples, self.project.metric_spec(), split=self.settings.split,
                                  stage=stage, sink=self.sink, threads=connected.profile.concurrency,
                                  context_tokens=context_window(connected))
        except RunStopped as stop:
            status = stop.status
            result = stop.partial  # the rows scored before the stop
            if status == "failed":  # the user's metric failed (metric_context.MetricFailed): say why
                warnings.append(str(stop))
            elif result is not None and result.n < len(examples):
                warnings.append(f"cancelled after {result.n} of {len(examples)} examples: the score and its "
                                "interval cover only those")
        figures = result.to_dict() if result is not None and result.n else {"n": 0, "score": None, "ci95": None, "ci_method": "",
                                                      "per_slice": {}, "parse_failures": 0, "errors": 0}
        if result is not None and result.n and stats.too_small_to_resolve(result.n):
            warnings.append(
                f"{result.n} examples are too few for the 95% interval to separate a 10-point difference"
            )
        self.sink(RunFinished(self.settings.run_id or "baseline", status))
        return {
            "status": status,
            "program": "baseline" if self.settings.run_id is None else self.settings.run_id,
            "split": self.settings.split,
            **figures,
            "model": {"profile": connected.profile.name, "provider": connected.revision.provider,
                      "name": connected.revision.name, "revision": connected.revision.revision},
            "adapter_format": connected.profile.format,
            "lm_calls": meter.real_calls,
            "cached_calls": meter.cached_calls,
            "tokens": meter.tokens,
            "cost_usd": meter.cost_usd,
            "elapsed_s": round(meter.elapsed_s, 3),
            "warnings": warnings,
            # Rows that could not be scored (too long for the context, a rejected prompt...), by id.
            "failed_examples": [{"id": r.example_id, "error": r.error} for r in (result.results if result else [])
                                if r.error not in (None, "parse")],
            **self.metric_context.record(),
            **self.metric_context.counts(),
            "predictions": [
                {"id": r.example_id, "score": r.score, "prediction": r.prediction, "error": r.error}
                for r in (result.results if result else [])
            ],
        }
