"""Project subcommands: init, show, app, import, split, program, metric, optimizers."""

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

    p = sub.add_parser("app", help="open the DSPy Workbench window on a project or a sample")
    p.add_argument("dir", nargs="?")
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
    s = psub.add_parser("set", help="set a one-stage program from DSPy's signature syntax")
    s.add_argument("dir")
    s.add_argument("--signature", required=True, help="e.g. \"text -> label: Literal['a', 'b']\"")
    s.add_argument("--instructions", default="")
    s.add_argument("--module", choices=("predict", "cot"), default="predict")
    s.add_argument("--stage", default="predict", help="the stage's name (default: predict)")
    add_json_flag(s)
    s.set_defaults(handler=cmd_program_set)

    p = sub.add_parser("metric", help="show or set the metric")
    msub = p.add_subparsers(dest="metric_command", metavar="ACTION")
    msub.required = True
    s = msub.add_parser("show")
    s.add_argument("dir")
    add_json_flag(s)
    s.set_defaults(handler=cmd_metric_show)
    s = msub.add_parser("set")
    s.add_argument("dir")
    group = s.add_mutually_exclusive_group(required=True)
    group.add_argument("--exact-match", metavar="FIELD")
    group.add_argument("--field-match", metavar="FIELD,FIELD")
    group.add_argument("--spec", metavar="JSON", help="a full metric spec, e.g. a weighted composite")
    s.add_argument("--no-lowercase", action="store_true")
    s.add_argument("--strip-punctuation", action="store_true")
    add_json_flag(s)
    s.set_defaults(handler=cmd_metric_set)

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
    if args.sample:
        project = sample_project(args.sample)
    elif args.dir:
        project = Project.open(args.dir)
    else:
        project = None
    try:
        from desktop.app import main as desktop_main
    except ImportError:
        desktop_main = None
    if desktop_main is not None:
        return desktop_main([str(project.root)] if project else [])
    if project is None:
        raise WorkbenchError("name a project folder, or use --sample support-triage")
    print_summary(project_summary(project))
    return 0


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
    from engine.project import PROJECT_FILE, Project

    folder = data_dir() / "projects" / name
    if (folder / PROJECT_FILE).is_file():
        return Project.open(folder)
    return Project.create(folder, sample=name)


def cmd_import(args) -> int:
    from engine import datasets
    from engine.cli.main import print_json
    from engine.project import Project

    project = Project.open(args.dir)
    explicit = {}
    for pair in args.map:
        column, sep, field = pair.partition("=")
        if not sep:
            raise WorkbenchError(f"--map {pair!r} must look like COLUMN=FIELD")
        explicit[column.strip()] = field.strip()
    raw = datasets.read_table(args.file)
    mapping = datasets.infer_mapping(
        list(raw.columns), project.field_names, id_column=args.id_column,
        split_column=args.split_column, slice_columns=tuple(args.slice_column),
        infer_slices=not args.no_slice_column, explicit=explicit,
    )
    frame = datasets.to_canonical(raw, mapping, source=str(args.file))
    if args.append:
        frame = datasets.append(project.frame, frame)
    project.replace_frame(frame)
    leaks = datasets.find_leaks(frame, project.program.input_names)
    result = {"rows": len(frame), "imported": len(raw), "mapping": mapping.fields,
              "id_column": mapping.id_column, "split_column": mapping.split_column,
              "slice_columns": list(mapping.slice_columns),
              "split_counts": _split_totals(frame), "leaks": len(leaks)}
    if args.json:
        print_json(result)
    else:
        print(f"imported {len(raw)} rows from {args.file}; the project now has {len(frame)} examples")
        print("columns -> fields: " + ", ".join(f"{c} -> {f}" for f, c in mapping.fields.items()))
        print(f"id column: {mapping.id_column or '(none: ids from the content)'}; "
              f"split column: {mapping.split_column or '(none)'}; "
              f"slice columns: {', '.join(mapping.slice_columns) or '(none)'}")
        print("splits: " + _split_text(result["split_counts"]))
    if leaks:
        try:
            datasets.check_no_leaks(frame, project.program.input_names)
        except WorkbenchError as exc:
            sys.stderr.write(f"warning: {exc}\n")
    return 0


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
        print(describe_program(project.program))
    return 0


def cmd_program_set(args) -> int:
    from engine.cli.main import print_json
    from engine.programs import ProgramSpec, stage_from_signature
    from engine.project import Project

    project = Project.open(args.dir)
    stage = stage_from_signature(args.signature, name=args.stage, instructions=args.instructions,
                                 module=args.module)
    spec = ProgramSpec(name=project.program.name, stages=[stage])
    project.set_program(spec)
    # A metric on fields the new program no longer has would fail later: reset it to the default.
    from engine import metrics

    try:
        project.metric_spec()
    except WorkbenchError:
        project.config.metric = metrics.default_metric_for(spec.output_names).model_dump(mode="json")
    project.save()
    if project._frame is not None:
        project.save_frame()
    if args.json:
        print_json({"fingerprint": spec.fingerprint(), **spec.model_dump(mode="json")})
    else:
        print(describe_program(spec))
    return 0


def cmd_metric_show(args) -> int:
    from engine import metrics
    from engine.cli.main import print_json
    from engine.project import Project

    spec = Project.open(args.dir).metric_spec()
    if args.json:
        print_json({"description": metrics.describe(spec), "spec": spec.model_dump(mode="json")})
    else:
        print(metrics.describe(spec))
    return 0


def cmd_metric_set(args) -> int:
    import json

    from engine import metrics
    from engine.cli.main import print_json
    from engine.project import Project

    project = Project.open(args.dir)
    normalize = {"lowercase": not args.no_lowercase, "strip_punctuation": args.strip_punctuation}
    if args.spec:
        try:
            data = json.loads(args.spec)
        except ValueError as exc:
            raise WorkbenchError(f"--spec is not valid JSON ({exc})") from None
    elif args.exact_match:
        data = {"kind": "exact_match", "field": args.exact_match, "normalize": normalize}
    else:
        fields = [f.strip() for f in args.field_match.split(",") if f.strip()]
        data = {"kind": "field_match", "fields": fields, "normalize": normalize}
    project.set_metric(data)
    project.save()
    spec = project.metric_spec()
    if args.json:
        print_json({"description": metrics.describe(spec), "spec": spec.model_dump(mode="json")})
    else:
        print("metric: " + metrics.describe(spec))
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
    from engine import datasets, metrics

    frame = project.frame
    leaks = datasets.find_leaks(frame, project.program.input_names)
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
        "models": list(project.profiles),
        "recent_runs": [{"run_id": r.run_id, "status": r.status, "optimizer": r.optimizer,
                         "scores": r.scores} for r in runs],
    }


def print_summary(summary: dict) -> None:
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
    print(f"  models: {', '.join(summary['models'])}")
    for run in summary["recent_runs"]:
        print(f"  run {run['run_id']}: {run['status']} ({run['optimizer']})")
    print(f"\nnext: dspy-workbench compile {summary['path']} --optimizer bootstrap-fewshot --model embedded")


def describe_program(spec) -> str:
    lines = [f"program {spec.name}  ({spec.fingerprint()[:19]}...)"]
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
