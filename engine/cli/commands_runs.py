"""Run subcommands: compile, evaluate, runs, approve, reject, cache (export and artifact: commands_artifacts)."""

from __future__ import annotations

import contextlib
import sys

from engine.errors import WorkbenchError

ALLOW_UNCALIBRATED_HELP = "use an LLM judge whose calibration is missing, failed or stale (recorded as your choice)"
EXIT_FOR_STATUS = {"succeeded": 0, "failed": 1, "cancelled": 130, "stopped_by_budget": 0}


def register(sub) -> None:
    from engine.cli.main import add_json_flag

    p = sub.add_parser("compile", help="compile the program with a DSPy optimizer")
    p.add_argument("dir")
    p.add_argument("--optimizer", help="default: the project's (see `dspy-workbench optimizers`)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="an optimizer parameter (repeatable); replaces the project's default")
    p.add_argument("--model", help="model profile (default: the project's, usually embedded)")
    p.add_argument("--seed", type=int)
    p.add_argument("--limit", type=int, help="use at most N examples of each split (quick trial runs)")
    p.add_argument("--max-calls", type=int, help="budget: stop after N real LM calls")
    p.add_argument("--max-tokens", type=int, help="budget: stop after N tokens")
    p.add_argument("--max-cost", type=float,
                   help="budget: stop after this many US dollars (every model needs a known price: LiteLLM's "
                        "for hosted providers, $0 for local ones, or the profile's own prices)")
    p.add_argument("--max-seconds", type=float, help="budget: stop after this much wall time")
    p.add_argument("--allow-uncalibrated-judge", action="store_true", help=ALLOW_UNCALIBRATED_HELP)
    p.add_argument("--dry-run", action="store_true",
                   help="call no model: print the run's estimated LM calls, tokens, cost and time, and stop")
    add_json_flag(p)
    p.set_defaults(handler=cmd_compile)

    p = sub.add_parser("evaluate", help="score the baseline or a compiled run on one split")
    p.add_argument("dir")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--baseline", action="store_true", help="the uncompiled program")
    which.add_argument("--run", metavar="RUN_ID", help="a compiled run's program")
    p.add_argument("--split", required=True, choices=("train", "validation", "test"))
    p.add_argument("--model", default=None, help="model profile (default: the project's)")
    p.add_argument("--limit", type=int)
    p.add_argument("--allow-uncalibrated-judge", action="store_true", help=ALLOW_UNCALIBRATED_HELP)
    add_json_flag(p)
    p.set_defaults(handler=cmd_evaluate)

    p = sub.add_parser("runs", help="list or show runs from the project's history")
    rsub = p.add_subparsers(dest="runs_command", metavar="ACTION")
    rsub.required = True
    s = rsub.add_parser("list")
    s.add_argument("dir")
    s.add_argument("--optimizer")
    s.add_argument("--revision", help="only runs against this exact model revision")
    s.add_argument("--status")
    add_json_flag(s)
    s.set_defaults(handler=cmd_runs_list)
    s = rsub.add_parser("show")
    s.add_argument("dir")
    s.add_argument("run_id")
    add_json_flag(s)
    s.set_defaults(handler=cmd_runs_show)
    s = rsub.add_parser("evaluate", help="evaluate a stopped run's kept candidate on validation and test, "
                                         "as a finished run is (then it can be reviewed)")
    s.add_argument("dir")
    s.add_argument("run_id")
    s.add_argument("--allow-uncalibrated-judge", action="store_true", help=ALLOW_UNCALIBRATED_HELP)
    add_json_flag(s)
    s.set_defaults(handler=cmd_runs_evaluate)
    s = rsub.add_parser("compare", help="two runs side by side: settings, scores, chosen prompts")
    s.add_argument("dir")
    s.add_argument("run_a")
    s.add_argument("run_b")
    add_json_flag(s)
    s.set_defaults(handler=cmd_runs_compare)

    p = sub.add_parser("cache", help="the project's LM cache (identical reruns make no LM calls)")
    csub = p.add_subparsers(dest="cache_command", metavar="ACTION")
    csub.required = True
    s = csub.add_parser("info", help="where the LM cache is and how big")
    s.add_argument("dir")
    add_json_flag(s)
    s.set_defaults(handler=cmd_cache_info)
    s = csub.add_parser("clear", help="delete the LM cache: the next identical compile calls the model again")
    s.add_argument("dir")
    add_json_flag(s)
    s.set_defaults(handler=cmd_cache_clear)

    for name, decision in (("approve", "approved"), ("reject", "rejected")):
        p = sub.add_parser(name, help=f"record that you {name} a run's candidate")
        p.add_argument("dir")
        p.add_argument("--run", required=True, metavar="RUN_ID")
        p.add_argument("--note", default="")
        p.add_argument("--reviewer", default="", help="default: your login name")
        if name == "approve":
            p.add_argument("--accept-failed-gates", action="store_true",
                           help="approve a candidate that failed a release gate (needs a --note saying why)")
        add_json_flag(p)
        p.set_defaults(handler=cmd_review, decision=decision)


# -- compile and evaluate -----------------------------------------------------------------------

def cmd_compile(args) -> int:
    from engine.cli.progress import StderrProgress
    from engine.jobs.compile import CompileJob, CompileSettings
    from engine.jobs.control import Budget
    from engine.optimizers import parse_cli_params
    from engine.project import Project

    for flag in ("max_calls", "max_tokens", "max_cost", "max_seconds"):
        value = getattr(args, flag)
        if value is not None and not value > 0:  # also catches NaN
            raise WorkbenchError(f"--{flag.replace('_', '-')} must be more than 0, not {value}; "
                                 "leave it out for no cap")
    project = Project.open(args.dir)
    defaults = project.config.compile
    optimizer = args.optimizer or defaults.optimizer
    params = dict(defaults.params) if optimizer == defaults.optimizer else {}
    params.update(parse_cli_params(args.param))
    settings = CompileSettings(
        optimizer=optimizer, params=params, profile=args.model or defaults.model,
        seed=defaults.seed if args.seed is None else args.seed, limit=args.limit,
        allow_uncalibrated_judge=args.allow_uncalibrated_judge,
        budget=Budget(max_calls=args.max_calls, max_tokens=args.max_tokens,
                      max_cost_usd=args.max_cost, max_seconds=args.max_seconds),
    )
    if args.limit is not None and args.limit < 1:
        raise WorkbenchError(f"--limit must be at least 1, not {args.limit}; leave it out to use every example")
    if args.dry_run:
        return _print_estimate(project, settings, args.json)
    job = CompileJob(project, settings, sink=StderrProgress())
    record = _run_and_report(project, job, args.json)
    return EXIT_FOR_STATUS.get(record.status, 1)


def _run_and_report(project, job, as_json: bool):
    """Prepare (user errors exit 2 here, before anything is written), run with Ctrl-C as Cancel,
    print the run's report; the finished RunRecord."""
    from engine.cli.main import print_json
    from engine.cli.progress import run_cancellable
    from engine.reports import run_report

    job.prepare()
    with _stdout_to_stderr():
        record = run_cancellable(job.run, job.cancel)
    report = run_report(project, record)
    if as_json:
        print_json(report)
    else:
        print_run(report)
    return record


def _print_estimate(project, settings, as_json: bool) -> int:
    from engine.cli.main import print_json
    from engine.estimate import estimate_compile

    estimate = estimate_compile(project, settings)
    if as_json:
        print_json({"dry_run": True, "estimate": estimate.to_json()})
        return 0
    print(f"{estimate.optimizer}: {estimate.summary()} (estimated; no model was called)")
    for name, calls in estimate.phases.items():
        spread = f"{calls['low']:,}–{calls['high']:,}" if calls["low"] != calls["high"] else f"{calls['point']:,}"
        print(f"  {name}: {spread} calls")
    for line in estimate.basis:
        print(f"  ({line})")
    for warning in estimate.warnings:
        print(f"warning: {warning}")
    return 0


def cmd_evaluate(args) -> int:
    from engine.cli.main import print_json
    from engine.cli.progress import StderrProgress, run_cancellable
    from engine.jobs.evaluate import EvaluateJob, EvaluateSettings
    from engine.project import Project

    if args.limit is not None and args.limit < 1:
        raise WorkbenchError(f"--limit must be at least 1, not {args.limit}; leave it out to use every example")
    project = Project.open(args.dir)
    settings = EvaluateSettings(split=args.split, profile=args.model or project.config.compile.model,
                                run_id=args.run, limit=args.limit,
                                allow_uncalibrated_judge=args.allow_uncalibrated_judge)
    job = EvaluateJob(project, settings, sink=StderrProgress())
    job.prepare()
    with _stdout_to_stderr():
        result = run_cancellable(job.run, job.cancel)
    if args.json:
        print_json({k: v for k, v in result.items() if k != "predictions"})
    else:
        print_evaluation(result)
    return EXIT_FOR_STATUS.get(result["status"], 1)


@contextlib.contextmanager
def _stdout_to_stderr():
    """Optimizers print progress bars to stdout; `--json` output must stay the only thing there."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


# -- history and review ---------------------------------------------------------------------------

def cmd_runs_list(args) -> int:
    from engine.cli.main import print_json
    from engine.lms.pricing import cost_text
    from engine.project import Project

    project = Project.open(args.dir)
    runs = project.store.list_runs(optimizer=args.optimizer, model_revision=args.revision, status=args.status)
    rows = [{"run_id": r.run_id, "created_at": r.created_at, "status": r.status, "optimizer": r.optimizer,
             "model": r.model_name, "revision": r.model_revision, "scores": r.scores,
             "lm_calls": r.lm_calls, "tokens": r.tokens, "cost_usd": r.cost_usd,
             "review": r.review.decision if r.review else None} for r in runs]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("no runs yet; start one with `dspy-workbench compile DIR`")
    for row in rows:
        test = row["scores"].get("test", {})
        score = (f"test {test.get('baseline', float('nan')):.3f} -> {test.get('candidate', float('nan')):.3f}"
                 if test else "no test scores")
        print(f"{row['run_id']}  {row['status']:<17} {row['optimizer']:<18} {score}  "
              f"{row['model']} {row['revision'][:19]}  {row['lm_calls']} calls, cost {cost_text(row['cost_usd'])}  "
              f"{row['review'] or 'unreviewed'}")
    return 0


def cmd_runs_evaluate(args) -> int:
    from engine.cli.progress import StderrProgress
    from engine.jobs.kept_candidate import KeptCandidateJob
    from engine.project import Project

    project = Project.open(args.dir)
    job = KeptCandidateJob(project, args.run_id, sink=StderrProgress(),
                           allow_uncalibrated_judge=args.allow_uncalibrated_judge)
    _run_and_report(project, job, args.json)
    return 0 if not job.missing() else 130


def cmd_runs_show(args) -> int:
    from engine.cli.main import print_json
    from engine.project import Project
    from engine.reports import run_report

    project = Project.open(args.dir)
    record = project.store.get_run(args.run_id)
    report = run_report(project, record)
    if args.json:
        from engine.artifacts import chosen_state

        print_json({**report, "chosen": chosen_state(record.program_state or {}),
                    "trials": [t.model_dump() for t in project.store.trials(record.run_id)]})
    else:
        print_run(report)
        if record.program_state:
            print_chosen(record.program_state)
    return 0


def cmd_runs_compare(args) -> int:
    from engine.cli.main import print_json
    from engine.comparison import compare_runs
    from engine.project import Project

    project = Project.open(args.dir)
    comparison = compare_runs(project, args.run_a, args.run_b)
    if args.json:
        print_json(comparison)
    else:
        print_comparison(comparison)
    return 0


def cmd_cache_info(args) -> int:
    from engine.cache import cache_size, human_size
    from engine.cli.main import print_json
    from engine.project import Project

    project = Project.open(args.dir)
    size = cache_size(project)
    if args.json:
        print_json({"path": str(project.lm_cache_dir), "bytes": size})
    else:
        print(f"LM cache: {project.lm_cache_dir}  {human_size(size)}")
        print("  identical reruns are answered from it (0 LM calls); "
              f"`dspy-workbench cache clear {args.dir}` empties it")
    return 0


def cmd_cache_clear(args) -> int:
    from engine.cache import clear_cache, human_size
    from engine.cli.main import print_json
    from engine.project import Project

    project = Project.open(args.dir)
    freed = clear_cache(project)
    if args.json:
        print_json({"path": str(project.lm_cache_dir), "freed_bytes": freed})
    else:
        print(f"cleared the LM cache at {project.lm_cache_dir}: {human_size(freed)} freed; "
              "the next compile calls the model again")
    return 0


def cmd_review(args) -> int:
    from engine.cli.main import print_json
    from engine.project import Project

    project = Project.open(args.dir)
    from engine.review import review_run

    reviewer = args.reviewer or _login()
    record = review_run(project, args.run, args.decision, note=args.note, reviewer=reviewer,
                        accept_failed_gates=getattr(args, "accept_failed_gates", False))
    if args.json:
        print_json({"run_id": record.run_id, "review": record.review.model_dump()})
    else:
        print(f"run {record.run_id} {args.decision} by {reviewer}" + (f": {args.note}" if args.note else ""))
    return 0


def _login() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return ""


# -- plain output -------------------------------------------------------------------------------

def print_run(report: dict) -> None:
    from engine.cli.main import terminal_print as print  # text from the project, escaped

    from engine.lms.pricing import cost_text

    print(f"run {report['run_id']}: {report['status']}" + (f" ({report['error']})" if report["error"] else ""))
    print(f"  optimizer: {report['optimizer']['name']} {report['optimizer']['params']} seed {report['optimizer']['seed']}")
    model = report["model"]
    print(f"  model: {model['profile']} = {model['name']} {model['revision']}  "
          f"[{report['adapter_format']} format, answers: {report['answers']}]")
    for split in ("validation", "test"):
        figures = report["evaluations"].get(split)
        if not figures:
            continue
        print(f"  {split}:")
        for which in ("baseline", "candidate"):
            if which in figures:
                f = figures[which]
                print(f"    {which:<9} {f['score']:.3f}  [{f['ci95'][0]:.3f}, {f['ci95'][1]:.3f}]  "
                      f"n={f['n']}  parse failures {f['parse_failures']}")
        if "difference" in figures:
            d = figures["difference"]
            verdict = "significant" if d["significant"] else "not significant"
            print(f"    difference {d['candidate_minus_baseline']:+.3f}  [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]  {verdict}")
        candidate = figures.get("candidate") or {}
        baseline = figures.get("baseline") or {}
        for tag in sorted(set(candidate.get("per_slice", {})) | set(baseline.get("per_slice", {}))):
            b = baseline.get("per_slice", {}).get(tag, {})
            c = candidate.get("per_slice", {}).get(tag, {})
            print(f"      {tag:<16} {b.get('score', float('nan')):.3f} -> {c.get('score', float('nan')):.3f}  (n={c.get('n', b.get('n', 0))})")
    gates = report["gates"]
    if gates["checked"]:
        print("  gates: " + ("passed" if gates["passed"] else "FAILED: " + "; ".join(gates["failures"])))
    for warning in report["warnings"]:
        print(f"  warning: {warning}")
    if report["trials"]:
        failed = f" ({report['failed_trials']} failed)" if report["failed_trials"] else ""
        best = report["best_trial"]
        print(f"  trials: {report['trials']}{failed}"
              + (f", best {best['score']:.3f} on {best['kind']}" if best else ""))
    from engine.calibration import judge_record_lines

    for line in judge_record_lines(report):
        print(f"  {line}")
    print(f"  {report['lm_calls']} LM calls ({report['cached_calls']} cached), "
          f"{report['tokens']['prompt']:,} prompt + {report['tokens']['completion']:,} completion tokens, "
          f"cost {cost_text(report['cost_usd'])}, {report['elapsed_s']:.1f}s")


def print_chosen(state: dict) -> None:
    from engine.cli.main import terminal_print as print  # text from the project, escaped

    from engine.artifacts import chosen_state
    from engine.comparison import demo_fields

    for name, chosen in chosen_state(state).items():
        print(f"  {name}:")
        print(f"    instructions: {chosen['instructions']}")
        for i, demo in enumerate(chosen["demos"], start=1):
            shown = {k: (v if len(str(v)) < 80 else str(v)[:77] + "...") for k, v in demo_fields(demo).items()}
            print(f"    demo {i}: {shown}")


def print_evaluation(result: dict) -> None:
    from engine.cli.main import terminal_print as print  # text from the project, escaped

    from engine.lms.pricing import cost_text

    if result["n"]:
        print(f"{result['program']} on {result['split']} with {result['model']['name']}: "
              f"{result['score']:.3f}  [{result['ci95'][0]:.3f}, {result['ci95'][1]:.3f}] ({result['ci_method']})  "
              f"n={result['n']}  parse failures {result['parse_failures']}, errors {result['errors']}")
    else:
        print(f"{result['program']} on {result['split']} with {result['model']['name']}: {result['status']} "
              "before any example was scored")
    print(f"  {'slice':<18}{'n':>5}  {'score':>6}  95% interval")
    for tag, figures in result["per_slice"].items():
        print(f"  {tag:<18}{figures['n']:>5}  {figures['score']:>6.3f}  [{figures['ci95'][0]:.3f}, {figures['ci95'][1]:.3f}]")
    for warning in result["warnings"]:
        print(f"  warning: {warning}")
    failed = result.get("failed_examples", [])
    for row in failed[:5]:
        print(f"  example {row['id']} failed: {row['error']}")
    if len(failed) > 5:
        print(f"  ... and {len(failed) - 5} more failed examples (--json lists them all)")
    from engine.calibration import judge_record_lines

    for line in judge_record_lines(result):
        print(f"  {line}")
    print(f"  {result['lm_calls']} LM calls ({result['cached_calls']} cached), "
          f"{result['tokens']['prompt']:,} + {result['tokens']['completion']:,} tokens, "
          f"cost {cost_text(result['cost_usd'])}, {result['elapsed_s']:.1f}s")


def print_comparison(c: dict) -> None:
    from engine.comparison import diff_text

    a, b = c["run_a"], c["run_b"]
    width = 34

    def cell(text: str) -> str:
        text = str(text)
        return text if len(text) <= width else text[: width - 1] + "…"

    print(f"  {'setting':<22} {cell(a):<{width}} {cell(b):<{width}}")
    for row in c["settings"]:
        mark = "*" if row["differs"] else " "
        print(f"{mark} {row['label']:<22} {cell(row['a']):<{width}} {cell(row['b']):<{width}}")
    print("  (* = differs)")
    print()

    def pair(side: dict) -> str:
        if not side:
            return "—"
        b_ = side.get("baseline")
        c_ = side.get("candidate")
        text = " -> ".join("?" if v is None else f"{v:.3f}" for v in (b_, c_))
        return f"{text} (n={side.get('n')})"

    print(f"  {'scores (baseline -> candidate)':<30} {cell(a):<{width}} {cell(b):<{width}}")
    for row in c["scores"]:
        label = row["split"] if row["slice"] is None else f"  {row['slice']}"
        print(f"  {label:<30} {pair(row['a']):<{width}} {pair(row['b']):<{width}}")
    print()
    print(diff_text(c))
    for warning in c["warnings"]:
        print(f"warning: {warning}")
