"""A compile run: optimize on train (selecting on validation), then score baseline and candidate
on validation and test, and record everything in the project's history.

`CompileJob.prepare()` checks everything a user can get wrong (leaks, empty splits, the
optimizer and its parameters, the model profile and its file) before anything is written.
`run()` then works in any thread, reports through `sink`, stops at the next LM call once the
cancel token is set or a budget is used up, and always leaves a finished record behind: what
completed before a cancel, a budget stop or a failure is kept. The record is written as the run
goes (engine/jobs/journal.py), so a process killed outright keeps its trials, calls and best
candidate too.
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from dataclasses import dataclass, field

from engine import datasets, metrics, optimizers
from engine.adapters import calibrate_on_training_rows, format_revision
from engine.errors import WorkbenchError
from engine.evaluation import Evaluation, context_window, evaluate
from engine.jobs.control import Budget, CancelToken, RunStopped
from engine.jobs.events import EventSink, LogLine, RunFinished, StageStarted, ignore
from engine.jobs.journal import RunJournal
from engine.project import Project

log = logging.getLogger(__name__)

EVALUATION_ORDER = (("validation", "candidate"), ("validation", "baseline"),
                    ("test", "candidate"), ("test", "baseline"))


@dataclass
class CompileSettings:
    optimizer: str
    params: dict = field(default_factory=dict)
    profile: str = "embedded"
    seed: int = 0
    budget: Budget = field(default_factory=Budget)
    limit: int | None = None  # at most this many examples per split (quick runs, tests)
    allow_uncalibrated_judge: bool = False  # run with a judge metric whose calibration is missing, failed or stale


@dataclass
class PreparedCompile:
    info: optimizers.OptimizerInfo
    params: dict
    metric_spec: object
    examples: dict[str, list]
    connected: object  # engine.lms.connect.ConnectedLM
    split_hashes: dict[str, str]
    metric_context: object = None  # engine.metric_context.MetricContext: the judge, trusted metric files


class CompileJob:
    def __init__(self, project: Project, settings: CompileSettings, *, sink: EventSink = ignore,
                 cancel: CancelToken | None = None):
        self.project = project
        self.settings = settings
        self.sink = sink
        self.cancel = cancel or CancelToken()
        self.prepared: PreparedCompile | None = None
        self.run_id: str | None = None
        self.evaluations: dict[tuple[str, str], Evaluation] = {}

    # -- before anything is written ---------------------------------------------------------------

    def prepare(self) -> PreparedCompile:
        project, settings = self.project, self.settings
        info = optimizers.get(settings.optimizer)
        params = optimizers.validate(info.key, settings.params, profiles=project.profiles)
        profile = project.profile(settings.profile)
        project.check_ready_to_compile()
        metric_spec = project.metric_spec()
        examples = {split: project.examples(split, settings.limit) for split in datasets.SPLITS}
        if info.key == "simba" and len(examples["train"]) < params["bsize"]:
            raise WorkbenchError(
                f"simba needs at least bsize={params['bsize']} train examples and the train split has "
                f"{len(examples['train'])}; lower bsize with --param bsize=N"
            )
        from engine.lms.connect import connect

        capped = settings.budget.max_cost_usd is not None
        if capped:  # before connecting: the answer needs no network, except a hosted model's served id
            _check_prices_known([project.profile(params[p.name]) for p in info.params
                                 if p.kind == "profile" and params.get(p.name)]
                                + ([profile] if profile.kind != "hosted" else []))
        connected = connect(profile)
        calibrate_on_training_rows(connected.adapter, project)
        if capped and profile.kind == "hosted":
            _check_prices_known([profile], served_model=connected.revision.revision)
        from engine.metric_context import prepare_metric_context

        # Trusted metric files, the judge's model and the refusal of an unchecked judge (calibration.py).
        metric_context = prepare_metric_context(project, metric_spec, connected=connected,
                                                allow_uncalibrated_judge=settings.allow_uncalibrated_judge)
        fields = project.field_names
        hashes = {split: datasets.split_hash(project.frame, split, fields) for split in datasets.SPLITS}
        self.prepared = PreparedCompile(info, params, metric_spec, examples, connected, hashes, metric_context)
        return self.prepared

    # -- the run -----------------------------------------------------------------------------------

    def run(self):
        """Run to the end (or to a stop) and return the finished RunRecord."""
        import dspy

        from engine.jobs.instrument import RunMeter
        from engine.programs import build_program

        prepared = self.prepared or self.prepare()
        project, settings = self.project, self.settings
        store = project.store
        _use_project_cache(project)
        record = self._new_record(prepared)
        store.create_run(record)
        self.run_id = record.run_id
        status, error, candidate_state = "succeeded", None, None
        stages_done: list[str] = []
        meter = RunMeter(cancel=self.cancel, budget=settings.budget)
        owner = record.events_summary["owner"]
        # Trials, counts and the best candidate reach the history as they happen (a kill -9 keeps them).
        journal = meter.sink = RunJournal(store, record.run_id, meter,
                                          lambda: {"owner": owner, **self._summary(meter, stages_done)},
                                          sink=self.sink)
        meter.price_models(prepared.connected)
        prepared.metric_context.price_on(meter)
        journal.save()  # a run killed before its first call still says what it cost ($0 on a free model)
        conn = prepared.connected
        log_handler = _EventLogHandler(self.sink)
        logging.getLogger("dspy").addHandler(log_handler)
        from engine.lms.revision_watch import RevisionWatch

        watch = RevisionWatch(conn)
        try:
            with dspy.context(lm=conn.lm, adapter=conn.adapter), meter.context(), prepared.metric_context.activated():
                baseline = build_program(project.program)
                candidate = self._compile(prepared, baseline, meter)
                candidate_state = candidate.dump_state()
                stages_done.append("compile")
                journal.save(program_state=candidate_state, final_program=True)
                programs = {"baseline": baseline, "candidate": candidate}
                for split, which in EVALUATION_ORDER:
                    stages_done.append(self._evaluate_stage(prepared, programs[which], split, which))
                    journal.save(scores=self.scores())
        except RunStopped as stop:
            status = stop.status
            error = {"stopped_by_budget": meter.stop_reason, "failed": str(stop)}.get(status, "cancelled by the user")
        except WorkbenchError as exc:
            status, error = "failed", str(exc)
        except Exception as exc:  # a bug or a provider failure: keep the record, log the detail
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            log.error("compile %s failed:\n%s", record.run_id, traceback.format_exc())
        finally:
            logging.getLogger("dspy").removeHandler(log_handler)
        if candidate_state is None and meter.best_state is not None:
            # Stopped or failed mid-search: keep the best candidate the optimizer had scored (RunMeter._rank).
            candidate_state = meter.best_state
            error = (error or "") + f"; kept the best candidate so far ({meter.best_kind} {meter.best_score:.3f})"
        if not meter.wait_for_calls_in_flight(conn.profile.timeout_s):
            log.warning("run %s: LM calls still running %.0f s after the run ended are not counted",
                        record.run_id, conn.profile.timeout_s)
        summary = {**self._summary(meter, stages_done), **prepared.metric_context.record(),
                   **prepared.metric_context.counts()}
        revision_change = _revision_change(watch)
        if revision_change:
            # A model re-pulled or an alias moved mid-run: the scores mix two models. Say so.
            summary["revision_changed"] = revision_change
            self.sink(LogLine(revision_change, "warning"))
        journal.record_missing_trials()
        finished = store.update_run(
            record.run_id,
            status=status,
            finished_at=_now(),
            error=error,
            scores=self.scores(),
            **meter.figures(),
            events_summary=summary,
            **({"program_state": candidate_state} if candidate_state is not None else {}),
        )
        self.sink(RunFinished(record.run_id, status, error or ""))
        return finished

    def _compile(self, prepared: PreparedCompile, student, meter):
        import dspy  # noqa: F401  (the optimizer is built inside the run's dspy.context)

        from engine.jobs import simba_trials
        from engine.jobs.instrument import ROOT_MARK
        from engine.lms.connect import connect
        from engine.optimizers import BuildContext

        setattr(student, ROOT_MARK, True)
        train, val = prepared.examples["train"], prepared.examples["validation"]
        project = self.project

        def lm_for_profile(name: str):
            connected = connect(project.profile(name))
            meter.price_models(connected)  # GEPA's reflection model, MIPROv2's prompt model: their own prices
            return connected.lm

        context = BuildContext(
            metric=metrics.build_metric(prepared.metric_spec),
            feedback_metric=metrics.build_feedback_metric(prepared.metric_spec),
            seed=self.settings.seed,
            threads=prepared.connected.profile.concurrency,
            lm_for_profile=lm_for_profile,
        )
        self.sink(StageStarted("compile", len(train)))
        meter.track_root_calls("compile", len(train))
        # An optimizer without a valset never scores on it (so a validation split of the train
        # split's size is not mistaken for it); with one, a same-sized set is the validation split.
        uses_valset = prepared.info.uses_valset
        meter.name_splits({"train": len(train), **({"validation": len(val)} if uses_valset else {})},
                          selects_on="validation" if uses_valset else "train")
        # MIPROv2 and SIMBA copy dspy.settings.lm in __init__: build inside the context.
        optimizer, compile_kwargs = prepared.info.build(prepared.params, context)
        kwargs = {"trainset": train, **compile_kwargs}
        if uses_valset:
            kwargs["valset"] = val
        # SIMBA runs no dspy.Evaluate, where the meter sees other optimizers' trials.
        trials = (simba_trials.candidate_trials(meter, len(train), prepared.params["bsize"])
                  if prepared.info.key == "simba" else contextlib.nullcontext())
        try:
            with trials:
                candidate = optimizer.compile(student.deepcopy(), **kwargs)
        finally:
            meter.stop_tracking_root_calls()
        setattr(candidate, ROOT_MARK, False)
        setattr(student, ROOT_MARK, False)
        return candidate

    # -- what gets recorded --------------------------------------------------------------------

    def _new_record(self, prepared: PreparedCompile):
        from engine.store import RunRecord, run_owner

        conn, project, settings = prepared.connected, self.project, self.settings
        return RunRecord(
            run_id=project.store.new_run_id(),
            created_at=_now(),
            finished_at=None,
            status="running",
            optimizer=prepared.info.key,
            params={**prepared.params, **({"limit": settings.limit} if settings.limit else {})},
            seed=settings.seed,
            profile=conn.profile.name,
            provider=conn.revision.provider,
            model_name=conn.revision.name,
            model_revision=conn.revision.revision,
            model_details={**conn.revision.details, "profile": conn.profile.model_dump(mode="json")},
            adapter_format=conn.profile.format,
            adapter_revision=format_revision(conn.profile.format),
            program_fingerprint=project.program.fingerprint(),
            program_spec=project.program.model_dump(mode="json"),
            metric=prepared.metric_spec.model_dump(mode="json"),
            split_hashes=prepared.split_hashes,
            library_versions=library_versions(),
            events_summary={"owner": run_owner(), **prepared.metric_context.record()},
        )

    def _evaluate_stage(self, prepared: PreparedCompile, program, split: str, which: str) -> str:
        """Score `program` ("baseline" or "candidate") on one split and store it with the run."""
        stage = f"evaluate {which} on {split}"
        conn = prepared.connected
        self.sink(StageStarted(stage, len(prepared.examples[split])))
        result = evaluate(program, prepared.examples[split], prepared.metric_spec, split=split, stage=stage,
                          sink=self.sink, threads=conn.profile.concurrency, context_tokens=context_window(conn))
        self.evaluations[(split, which)] = result
        self._save_evaluation(which, result)
        return stage

    def _save_evaluation(self, which: str, result: Evaluation) -> None:
        from engine.store import EvaluationRecord

        figures = result.to_dict()
        self.project.store.add_evaluation(EvaluationRecord(
            run_id=self.run_id, which=which, split=result.split, n=figures["n"], score=figures["score"],
            ci95=tuple(figures["ci95"]), per_slice=figures["per_slice"],
            parse_failures=figures["parse_failures"],
            details={
                "ci_method": figures["ci_method"], "errors": figures["errors"],
                "examples": [
                    {"id": r.example_id, "score": r.score, "prediction": r.prediction, "error": r.error}
                    for r in result.results
                ],
            },
        ))

    def scores(self) -> dict:
        """{split: {which: score}} for what finished."""
        out: dict = {}
        for (split, which), result in self.evaluations.items():
            out.setdefault(split, {})[which] = result.summary().score
        return out

    def _summary(self, meter, stages_done: list[str]) -> dict:
        summary = {
            "stages_done": stages_done,
            "trials": len(meter.trials),
            "failed_trials": sum(1 for t in meter.trials if t.score is None),
            "best_trial_score": meter.best_score,
            "best_trial_kind": meter.best_kind,
            "logical_lm_calls": meter.logical_calls,
        }
        if meter.unpriced_calls:
            # The cost is unknown, not zero; what was priced is kept so a partial figure is not lost.
            summary["unpriced_lm_calls"] = meter.unpriced_calls
            summary["priced_cost_usd"] = meter.known_cost_usd
        return summary


def _check_prices_known(profiles, served_model: str | None = None) -> None:
    """A cost budget is only a cap when every model the run calls has a known price."""
    from engine.lms.pricing import price_for

    for profile in profiles:
        if not price_for(profile, served_model).known:
            raise WorkbenchError(
                f"a cost budget needs a known price for every model, and profile {profile.name!r} ({profile.provider} "
                f"{profile.model}) has none; give it prices (usd_per_million_input_tokens and "
                f"usd_per_million_output_tokens in [models.{profile.name}]) or cap LM calls or tokens instead"
            )


def _revision_change(watch) -> str | None:
    try:
        return watch.changed()
    except Exception as exc:  # the server may be gone by now; the run's own outcome says so
        log.warning("could not re-check the model revision: %s", exc)
        return None


def _now() -> str:
    from engine.store import utc_now

    return utc_now()


_active_cache: tuple[str, object] | None = None  # (folder, the dspy.cache object made for it)


def _use_project_cache(project: Project) -> None:
    """DSPy's cache is one object per process: point it at this project's folder.

    Checked against the object DSPy actually holds, so a cache someone else configured in this
    process (a script, a test) is never mistaken for the project's.
    """
    global _active_cache
    import dspy

    import sqlite3

    folder = str(project.lm_cache_dir)
    if _active_cache is None or _active_cache[0] != folder or dspy.cache is not _active_cache[1]:
        try:
            project.lm_cache_dir.mkdir(parents=True, exist_ok=True)
            dspy.configure_cache(enable_disk_cache=True, enable_memory_cache=True, disk_cache_dir=folder)
        except (OSError, sqlite3.Error) as exc:
            raise WorkbenchError(
                f"cannot open the LM cache in {project.lm_cache_dir} ({getattr(exc, 'strerror', None) or exc}): "
                "a run needs to write in the project's folder; copy the project somewhere writable, or check "
                "that folder's permissions") from None
        _active_cache = (folder, dspy.cache)


def library_versions() -> dict[str, str]:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("dspy", "litellm", "llama-cpp-python", "optuna", "pandas", "dspy-workbench"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


# MIPROv2's and COPRO's proposer programs pass extra inputs to their own predictors on every call.
# The Workbench's programs never do (they are built from the signature), so the warning is noise.
_PROPOSER_NOISE = "Input contains fields not in signature"


class _EventLogHandler(logging.Handler):
    """DSPy's warnings during a run become LogLine events (the GUI's log, the CLI's stderr)."""

    def __init__(self, sink: EventSink):
        super().__init__(level=logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.name == "dspy.predict.predict" and message.startswith(_PROPOSER_NOISE):
                return  # DSPy's own proposer modules, not the user's program: nothing to act on
            self.sink(LogLine(message, record.levelname.lower()))
        except Exception:  # a log line must never break a run
            pass
