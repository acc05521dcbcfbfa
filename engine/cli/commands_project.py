"""Project subcommands: init, show, app, import, split, program, optimizers (metric: commands_metric)."""

from __future__ import annotations

import sys

from engine.errors import WorkbenchError


def register(sub) -> None:
    from engine.cli.main import add_json_flag

    p = sub.add_parser("init", help="create a project folder (empty, or from a sample)")
    p.add_argument("dir")
    p.add_argument("--sample", help="start from a bundled sample, e.g. support-triage")
    p.add_argument("--name", help="project name (default: the folder's name)")
    add_json_flag(p)
    p.set_defaults(handler=cmd_init)

    p = sub.add_parser("show", help="summarize a project: program, metric, data, splits, runs")
    p.add_argument("dir")
    add_json_flag(p)
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("app", help="open the DSPy Workbench window on a project, an artifact or a sample")
    p.add_argument("dir", nargs="?", help="a project folder, or an exported artifact folder")
    p.add_argument("--sample", help="open (creating on first use) your copy of a bundled sample")
    p.add_argument("--artifact", metavar="PATH", help="open an exported bundle for review (no project needed)")
    p.set_defaults(handler=cmd_app)

    p = sub.add_parser("import", help="import a CSV / JSONL / Parquet file as the project's examples")
    p.add_argument("dir")
    p.add_argument("file")
    p.add_argument("--id-column", help="default: a column named id")
    p.add_argument("--split-column", help="default: a column named split")
    slices = p.add_mutually_exclusive_group()
    slices.add_argument("--slice-column", action="append", default=[],
                        help="repeatable; default: a column named slices, slice, tags or tag")
    slices.add_argument("--no-slice-column", action="store_true",
                        help="import no slice tags, even from a column named slices, slice, tags or tag")
    p.add_argument("--map", action="append", default=[], metavar="COLUMN=FIELD",
                   help="map a column to a program field (repeatable)")
    p.add_argument("--append", action="store_true", help="add to the examples instead of replacing them")
    add_json_flag(p)
    p.set_defaults(handler=cmd_import)

    p = sub.add_parser("split", help="assign train / validation / test splits (seeded)")
    p.add_argument("dir")
    p.add_argument("--train", type=float, default=0.6)
    p.add_argument("--val", type=float, default=0.2)
    p.add_argument("--test", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stratify", metavar="FIELD", help="keep each value's proportions in every split")
    p.add_argument("--only-unassigned", action="store_true", help="keep rows that already have a split")
    add_json_flag(p)
    p.set_defaults(handler=cmd_split)

    p = sub.add_parser("program", help="show or set the program")
    psub = p.add_subparsers(dest="program_command", metavar="ACTION")
    psub.required = True
    s = psub.add_parser("show", help="print the program")
    s.add_argument("dir")
    add_json_flag(s)
    s.set_defaults(handler=cmd_program_show)
    s = psub.add_parser("set", help="set a one-stage program from DSPy's signature syntax, "
                                    "or your own dspy.Module from a Python file")
    s.add_argument("dir")
    source = s.add_mutually_exclusive_group(required=True)
    source.add_argument("--signature", help="e.g. \"text -> label: Literal['a', 'b']\"")
    source.add_argument("--python", metavar="FILE:NAME",
                        help="a dspy.Module subclass (built with no arguments) or a function returning "
                             "one; running it trusts this version of the file")
    s.add_argument("--outputs", metavar="F,...",
                   help="with --python: the output fields to score (default: those its forward returns)")
    s.add_argument("--instructions", default="")
    s.add_argument("--module", choices=("predict", "cot"), default="predict")
    s.add_argument("--stage", default="predict", help="the stage's name (default: predict)")
    add_json_flag(s)
    s.set_defaults(handler=cmd_program_set)
    s = psub.add_parser("trust", help="trust the program module's current source and read its fields again")
    s.add_argument("dir")
    add_json_flag(s)
    s.set_defaults(handler=cmd_program_trust)

    p = sub.add_parser("optimizers", help="list the optimizers and their parameters")
    add_json_flag(p)
    p.set_defaults(handler=cmd_optimizers)


# -- handlers ---------------------------------------------------------------------------------

def cmd_init(args) -> int:
    from engine.cli.main import print_json
    from engine.project import Project

    project = Project.create(args.dir, sample=args.sample, name=args.name)
    summary = project_summary(project)
    if args.json:
        print_json(summary)
    else:
        print(f"created {project.root}" + (f" from the {args.sample} sample" if args.sample else ""))
        print_summary(summary)
    return 0


def cmd_show(args) -> int:
    from engine.cli.main import print_json
    from engine.project import Project

    summary = project_summary(Project.open(args.dir))
    print_json(summary) if args.json else print_summary(summary)
    return 0


def cmd_app(args) -> int:
    """Open the window; without a display or the desktop package, print the project's summary."""
    from engine.project import Project

    if args.artifact:
        return _app_artifact(args.artifact)
    from pathlib import Path

    bundle = None
    if args.sample:
        project = sample_project(args.sample)
    elif args.dir and _is_bundle(Path(args.dir).expanduser()):
        project, bundle = None, str(Path(args.dir).expanduser().resolve())
    elif args.dir:
        project = Project.open(args.dir)
    else:
        project = None
    try:
        from desktop.app import main as desktop_main
    except ImportError:
        desktop_main = None
    if desktop_main is not None:
        return desktop_main([bundle] if bundle else [str(project.root)] if project else [])
    if bundle is not None:
        raise WorkbenchError(f"the window is not installed here; review the artifact with "
                             f"`dspy-workbench artifact show {bundle}`")
    if project is None:
        raise WorkbenchError("name a project folder, or use --sample support-triage")
    print_summary(project_summary(project))
    return 0


def _is_bundle(path) -> bool:
    """An exported artifact folder (or its manifest.json), not a project."""
    folder = path.parent if path.name == "manifest.json" else path
    return (folder / "manifest.json").is_file() and not (folder / "project.toml").is_file()


def _app_artifact(path: str) -> int:
    from pathlib import Path

    if not Path(path).expanduser().exists():
        raise WorkbenchError(f"{path} does not exist; give the folder of an exported bundle")
    try:
        from desktop.artifacts.launch import main as artifact_main
    except ImportError:
        raise WorkbenchError("the window is not installed here; review the bundle with "
                             f"`dspy-workbench artifact show {path}`") from None
    return artifact_main(path)


def sample_project(name: str):
    """The user's own copy of a sample, created on first use in the app's data folder."""
    from engine.paths import data_dir
    from engine.project import PROJECT_FILE, Project, sample_folder

    sample_folder(name)  # a sample's name, never a path out of the data folder
    folder = data_dir() / "projects" / name
    if (folder / PROJECT_FILE).is_file():
        return Project.open(folder)
    return Project.create(folder, sample=name)


def cmd_import(args) -> int:
    """Import a data file. Ctrl-C (or SIGTERM) before the new table is in place leaves the project
    exactly as it was (exit 130/143); one after it finishes the command, which says so."""
    from engine import datasets
    from engine.cli.main import interrupted_exit_code, print_json
    from engine.cli.progress import CommitGate, interrupts_cancel, run_cancellable
    from engine.jobs.control import CancelToken, RunCancelled
    from engine.project import Project

    project = Project.open(args.dir)
    explicit = {}
    for pair in args.map:
        column, sep, field = pair.partition("=")
        if not sep:
            raise WorkbenchError(f"--map {pair!r} must look like COLUMN=FIELD")
        explicit[column.strip()] = field.strip()
    cancel = CancelToken()
    gate = CommitGate(cancel)
    with interrupts_cancel(cancel, cancelling="cancelling the import; the project stays as it was", gate=gate):
        try:
            result, leaks, frame = run_cancellable(lambda: _import(project, args, explicit, cancel, gate), cancel)
        except RunCancelled:
            sys.stderr.write("import cancelled; the project is exactly as it was\n")
            return interrupted_exit_code()
        if args.json:
            print_json(result)
        else:
            print(f"imported {result['imported']} rows from {args.file}; the project now has {result['rows']} examples")
            print("columns -> fields: " + ", ".join(f"{c} -> {f}" for f, c in result["mapping"].items()))
            print(f"id column: {result['id_column'] or '(none: ids from the content)'}; "
                  f"split column: {result['split_column'] or '(none)'}; "
                  f"slice columns: {', '.join(result['slice_columns']) or '(none)'}")
            print("splits: " + _split_text(result["split_counts"]))
            for warning in result["warnings"]:
                sys.stderr.write(f"warning: {warning}\n")
        if leaks:
            try:
                datasets.check_no_leaks(frame, project.program.input_names)
            except WorkbenchError as exc:
                sys.stderr.write(f"warning: {exc}\n")
        if cancel.cancelled:
            sys.stderr.write("the import had already been saved when it was interrupted: it is complete\n")
    return 0


def _import(project, args, explicit: dict, cancel, gate) -> tuple[dict, list, object]:
    """Read, map and check the file (cancellable at each step), then save it: the one write."""
    from engine import data_checks, datasets
    from engine.jobs.control import RunCancelled

    def check_cancel():
        if cancel.cancelled:
            raise RunCancelled()

    raw = datasets.read_table(args.file)
    check_cancel()
    mapping = datasets.infer_mapping(
        list(raw.columns), project.field_names, id_column=args.id_column,
        split_column=args.split_column, slice_columns=tuple(args.slice_column),
        infer_slices=not args.no_slice_column, explicit=explicit,
    )
    frame = datasets.to_canonical(raw, mapping, source=str(args.file))
    check_cancel()
    if args.append:
        frame = datasets.append(project.frame, frame)
    leaks = datasets.find_leaks(frame, project.program.input_names)
    model, context_tokens = _context_of_default_model(project)
    findings = data_checks.check_table(frame, project.program)
    warnings = datasets.oversized_cells(frame, project.field_names, context_tokens, model=model)
    warnings += [finding.message for finding in findings]
    result = {"rows": len(frame), "imported": len(raw), "mapping": mapping.fields,
              "id_column": mapping.id_column, "split_column": mapping.split_column,
              "slice_columns": list(mapping.slice_columns),
              "split_counts": _split_totals(frame), "leaks": len(leaks), "warnings": warnings,
              "findings": [finding.to_json() for finding in findings]}
    committed = False
    try:
        datasets.save_frame(frame, project.data_path, before_replace=gate.enter)
        committed = True
    finally:
        gate.leave(committed=committed)
    project.replace_frame(frame, save=False)
    return result, leaks, frame


def _context_of_default_model(project) -> tuple[str, int]:
    """The project's compile model and its context size, for the long-cell warning."""
    from engine.lms.profiles import EMBEDDED, ModelProfile

    name = project.config.compile.model
    try:
        return name, project.profile(name).context_tokens
    except WorkbenchError:  # an unknown profile is reported when it is used, not here
        return EMBEDDED, ModelProfile.model_fields["context_tokens"].default


def cmd_split(args) -> int:
    from engine import datasets
    from engine.cli.main import print_json
    from engine.project import Project

    project = Project.open(args.dir)
    stratify = args.stratify
    if stratify and stratify != "slices" and stratify not in project.field_names:
        raise WorkbenchError(
            f"--stratify {stratify}: not a field of the program; use one of {', '.join(project.field_names)} or slices"
        )
    frame = datasets.assign_splits(project.frame, (args.train, args.val, args.test), seed=args.seed,
                                   stratify=stratify, only_unassigned=args.only_unassigned)
    project.replace_frame(frame)
    counts = _split_totals(frame)
    print_json(counts) if args.json else print("splits: " + _split_text(counts))
    return 0


def cmd_program_show(args) -> int:
    from engine.cli.main import print_json
    from engine.project import Project

    project = Project.open(args.dir)
    if args.json:
        print_json({"fingerprint": project.program.fingerprint(), **project.program.model_dump(mode="json")})
    else:
        from engine.cli.main import terminal_print

        terminal_print(describe_program(project.program))
    return 0


def cmd_program_set(args) -> int:
    from engine.programs import ProgramSpec, stage_from_signature
    from engine.project import Project

    project = Project.open(args.dir)
    if args.python:
        from engine.user_module import parse_target, use_module

        path, name = parse_target(args.python)
        outputs = [o.strip() for o in args.outputs.split(",") if o.strip()] if args.outputs else None
        change = use_module(project, path, name, outputs=outputs)
    else:
        if args.outputs:
            raise WorkbenchError("--outputs goes with --python; a --signature names its outputs itself")
        stage = stage_from_signature(args.signature, name=args.stage, instructions=args.instructions,
                                     module=args.module)
        change = project.set_program(ProgramSpec(name=project.program.name, stages=[stage]))
    return _saved_program_change(project, change, args)


def cmd_program_trust(args) -> int:
    from engine.project import Project
    from engine.user_module import trust_program

    project = Project.open(args.dir)
    change = trust_program(project)
    print(f"trusted {project.program.source_path} (sha256 {project.program.sha256[:12]})", file=sys.stderr)
    return _saved_program_change(project, change, args)


def _saved_program_change(project, change, args) -> int:
    from engine.cli.main import print_json

    project.save()
    if project._frame is not None:
        project.save_frame()
    spec = project.program
    if args.json:
        print_json({"fingerprint": spec.fingerprint(), **spec.model_dump(mode="json"),
                    "columns_added": change.columns_added, "metric_reset": change.metric_reset,
                    "notes": change.messages()})
    else:
        print(describe_program(spec))
        for message in change.messages():
            print(f"note: {message}", file=sys.stderr)
    return 0


def cmd_optimizers(args) -> int:
    from engine.cli.main import print_json
    from engine.optimizers import CATALOGUE

    if args.json:
        print_json({
            key: {"dspy_name": info.dspy_name, "summary": info.summary, "uses_valset": info.uses_valset,
                  "params": [{"name": p.name, "type": p.kind, "default": p.default, "min": p.minimum,
                              "max": p.maximum, "choices": list(p.choices), "help": p.help,
                              "optional": p.optional} for p in info.params]}
            for key, info in CATALOGUE.items()
        })
        return 0
    for key, info in CATALOGUE.items():
        print(f"{key}  ({info.dspy_name})\n    {info.summary}")
        for p in info.params:
            print(f"    --param {p.name}=...  {p.help}{_default_text(p)}")
    return 0


def _default_text(param) -> str:
    if "(default" in param.help:  # the help already says what an unset value means
        return ""
    return " (optional)" if param.default is None else f" (default {param.default})"


# -- summaries ----------------------------------------------------------------------------------

def project_summary(project) -> dict:
    from engine import data_checks, datasets, metrics

    frame = project.frame
    leaks = datasets.find_leaks(frame, project.program.input_names)
    findings = data_checks.check_table(frame, project.program)
    runs = project.store.list_runs(limit=5)
    return {
        "project": project.name,
        "path": str(project.root),
        "description": project.config.description,
        "program": {"fingerprint": project.program.fingerprint(),
                    "stages": [s.name for s in project.program.stages],
                    "inputs": project.program.input_names, "outputs": project.program.output_names},
        "metric": metrics.describe(project.metric_spec()),
        "examples": len(frame),
        "split_counts": _split_totals(frame),
        "slices": sorted({t for cell in frame["slices"] for t in str(cell).split(";") if t}),
        "leaks": len(leaks),
        "findings": [finding.to_json() for finding in findings],
        "models": list(project.profiles),
        "judge_calibration": _judge_state(project),
        "recent_runs": [{"run_id": r.run_id, "status": r.status, "optimizer": r.optimizer,
                         "scores": r.scores} for r in runs],
    }


def print_summary(summary: dict) -> None:
    from engine.cli.main import terminal_print as print  # text from the project, escaped

    print(f"{summary['project']}  ({summary['path']})")
    if summary["description"]:
        print(f"  {summary['description']}")
    program = summary["program"]
    print(f"  program: {' -> '.join(program['stages'])}: {', '.join(program['inputs'])} -> "
          f"{', '.join(program['outputs'])}")
    print(f"  metric: {summary['metric']}")
    print(f"  examples: {summary['examples']} ({_split_text(summary['split_counts'])})")
    if summary["slices"]:
        print(f"  slices: {', '.join(summary['slices'])}")
    if summary["leaks"]:
        print(f"  LEAKAGE: {summary['leaks']} examples appear in two splits; fix before compiling")
    for finding in summary["findings"]:
        print(f"  data check: {finding['message']}")
    print(f"  models: {', '.join(summary['models'])}")
    for run in summary["recent_runs"]:
        print(f"  run {run['run_id']}: {run['status']} ({run['optimizer']})")
    judge = summary.get("judge_calibration") or {}
    if judge.get("state") not in (None, "none", "passed"):
        print(f"  judge: {judge['message']}")
        # A compile would refuse this judge: the first step is the calibration.
        print(f"\nnext: dspy-workbench metric calibrate {summary['path']}")
        return
    print(f"\nnext: dspy-workbench compile {summary['path']} --optimizer bootstrap-fewshot --model embedded")


def _judge_state(project) -> dict:
    """The metric's judge calibration as `show` reports it (offline: no model is connected)."""
    from engine.calibration import calibration_status

    status = calibration_status(project)
    return {"state": status.state, "message": status.message}


def describe_program(spec) -> str:
    lines = [f"program {spec.name}  ({spec.fingerprint()[:19]}...)"]
    if getattr(spec, "kind", None) == "python":
        lines[0] = f"program {spec.name} from {spec.source}  ({spec.fingerprint()[:19]}...)"
        lines.append(f"  inputs (forward's parameters): {', '.join(spec.input_names)}")
        lines.append(f"  outputs: {', '.join(f'{f.name}: {f.type_label()}' for f in spec.output_fields)}"
                     + ("" if spec.outputs_override else " (inferred; choose with --outputs)"))
        from engine.user_module import untrusted_reason

        if untrusted_reason(spec) is not None:
            lines.append(f"  not trusted in this version: read {spec.source}, then `{spec.trust_hint()}`")
    for stage in spec.stages:
        kind = "ChainOfThought" if stage.module == "cot" else "Predict"
        ins = ", ".join(f"{f.name}: {f.type_label()}" for f in stage.inputs)
        outs = ", ".join(f"{f.name}: {f.type_label()}" for f in stage.outputs)
        lines.append(f"  {stage.name} ({kind}): {ins} -> {outs}")
        if stage.instructions:
            lines.append(f"    instructions: {stage.instructions}")
    return "\n".join(lines)


def _split_totals(frame) -> dict:
    counts = frame["split"].value_counts()
    return {"train": int(counts.get("train", 0)), "validation": int(counts.get("validation", 0)),
            "test": int(counts.get("test", 0)), "unassigned": int(counts.get("", 0))}


def _split_text(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())
