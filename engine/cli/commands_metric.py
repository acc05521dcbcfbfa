"""Metric subcommands: show, set, trust, calibrate, outputs, threshold."""

from __future__ import annotations

from pathlib import Path

from engine.errors import WorkbenchError

VERDICTS = {"pass-fail": "pass_fail", "scale-1-5": "scale_1_5"}


def register(sub) -> None:
    from engine.cli.main import add_json_flag

    p = sub.add_parser("metric", help="show, set, trust or calibrate the metric")
    msub = p.add_subparsers(dest="metric_command", metavar="ACTION")
    msub.required = True
    s = msub.add_parser("show", help="the metric, its judge's calibration and its files' trust")
    s.add_argument("dir")
    add_json_flag(s)
    s.set_defaults(handler=cmd_metric_show)

    s = msub.add_parser("set", help="set the metric; several kinds at once make an equally weighted composite")
    s.add_argument("dir")
    s.add_argument("--spec", metavar="JSON", help="a full metric spec, e.g. a weighted composite")
    s.add_argument("--exact-match", metavar="FIELD")
    s.add_argument("--field-match", metavar="FIELD,FIELD")
    s.add_argument("--no-lowercase", action="store_true")
    s.add_argument("--strip-punctuation", action="store_true")
    s.add_argument("--judge", metavar="RUBRIC", help="an LLM judge with this rubric (what a good answer does)")
    s.add_argument("--judge-model", metavar="PROFILE", help="the profile that judges (default: the project's model)")
    s.add_argument("--judge-field", action="append", default=[], metavar="FIELD",
                   help="a field the judge sees (repeatable): a program input, a program output it judges, or "
                        "gold:FIELD for an output's gold value; default: every input and every output")
    s.add_argument("--verdict", choices=tuple(VERDICTS), default="pass-fail")
    s.add_argument("--calibration-threshold", type=float, metavar="KAPPA",
                   help="the kappa the judge's calibration must reach (default 0.6)")
    s.add_argument("--python", metavar="FILE:FUNCTION",
                   help="a function (example, prediction, trace=None) -> float in your own file; trusts this version")
    s.add_argument("--token-f1", metavar="FIELD", help="SQuAD-style token overlap on a field")
    s.add_argument("--rouge", metavar="FIELD", help="ROUGE-L F-measure against the gold field (rouge-score)")
    s.add_argument("--edit-similarity", metavar="FIELD", help="1 - normalised edit distance to the gold field (rapidfuzz)")
    s.add_argument("--contains", action="append", default=[], metavar="FIELD=PATTERN",
                   help="the field must contain PATTERN (repeatable; every pattern must appear)")
    s.add_argument("--regex", action="store_true", help="--contains patterns are regular expressions")
    add_json_flag(s)
    s.set_defaults(handler=cmd_metric_set)

    s = msub.add_parser("trust", help="trust the current version of the metric's Python file(s)")
    s.add_argument("dir")
    add_json_flag(s)
    s.set_defaults(handler=cmd_metric_trust)

    s = msub.add_parser("calibrate", help="run the judge on human-labelled outputs and measure its agreement")
    s.add_argument("dir")
    s.add_argument("--labels", metavar="FILE",
                   help="CSV or JSONL: id, one column per judged output field, human (pass/fail, yes/no, 1/0 or "
                        "0..1); stored as the project's labels; default: the project's data/judge_labels.csv")
    s.add_argument("--model", metavar="PROFILE", help="the judge's profile for this calibration (default: the metric's)")
    add_json_flag(s)
    s.set_defaults(handler=cmd_metric_calibrate)

    s = msub.add_parser("outputs", help="write the program's outputs for some examples to a CSV to label")
    s.add_argument("dir")
    s.add_argument("--out", required=True, metavar="FILE", help="the CSV to write (id, outputs, an empty human column)")
    s.add_argument("--split", default="validation", choices=("train", "validation", "test"))
    s.add_argument("--n", type=int, default=30, help="how many examples (default 30)")
    s.add_argument("--run", metavar="RUN_ID", help="a compiled run's program (default: the baseline)")
    add_json_flag(s)
    s.set_defaults(handler=cmd_metric_outputs)

    s = msub.add_parser("threshold", help="set the kappa the judge's calibration must reach")
    s.add_argument("dir")
    s.add_argument("kappa", type=float)
    s.set_defaults(handler=cmd_metric_threshold)


# -- handlers ---------------------------------------------------------------------------------

def metric_summary(project) -> dict:
    """What `metric show` reports: the metric, its judge's calibration state, its files' trust."""
    from engine import calibration, metrics
    from engine.metric_context import metric_path
    from engine.trust import code_file, is_trusted

    spec = project.metric_spec()
    status = calibration.calibration_status(project)
    files = []
    for python in metrics.python_specs(spec):
        path = metric_path(project.root, python.path)
        try:
            code = code_file(path)
            files.append({"path": python.path, "function": python.function, "sha256": code.sha256,
                          "trusted": is_trusted(path)})
        except WorkbenchError as exc:
            files.append({"path": python.path, "function": python.function, "sha256": None, "trusted": False,
                          "error": str(exc)})
    result = status.calibration
    return {
        "description": metrics.describe(spec),
        "spec": spec.model_dump(mode="json"),
        "calibration": {"state": status.state, "message": status.message,
                        **({"result": {k: v for k, v in result.to_json().items() if k not in ("disagreements", "verdicts")}}
                           if result else {})},
        "files": files,
    }


def cmd_metric_show(args) -> int:
    from engine.cli.main import print_json
    from engine.project import Project

    summary = metric_summary(Project.open(args.dir))
    if args.json:
        print_json(summary)
        return 0
    print(summary["description"])
    if summary["calibration"]["state"] != "none":
        print(f"  judge calibration: {summary['calibration']['state']} ({summary['calibration']['message']})")
    for file in summary["files"]:
        trust = "trusted" if file["trusted"] else "NOT trusted in this version"
        print(f"  metric file: {file['path']} ({file['function']}), {trust}"
              + (f", sha256 {file['sha256'][:12]}" if file["sha256"] else f": {file.get('error', '')}"))
    return 0


def _judge_spec(project, args) -> dict:
    program = project.program
    inputs, gold, outputs = [], [], []
    for name in args.judge_field:
        if name.startswith("gold:"):
            field = name[len("gold:"):]
            if field not in program.output_names:
                raise WorkbenchError(f"--judge-field {name}: {field!r} is not an output field of the program; its "
                                     f"outputs are {', '.join(program.output_names)}")
            gold.append(field)
        elif name in program.input_names:
            inputs.append(name)
        elif name in program.output_names:
            outputs.append(name)
        else:
            raise WorkbenchError(
                f"--judge-field {name!r} is not a field of the program; use an input ({', '.join(program.input_names)}), "
                f"an output ({', '.join(program.output_names)}) or gold:OUTPUT")
    if not args.judge_field:
        inputs, outputs = list(program.input_names), list(program.output_names)
    if not outputs:
        raise WorkbenchError("the judge needs at least one program output to judge; add --judge-field OUTPUT")
    if args.judge_model:
        project.profile(args.judge_model)  # an unknown profile is one sentence now, not at compile time
    data = {"kind": "llm_judge", "rubric": args.judge, "inputs": inputs, "gold": gold, "outputs": outputs,
            "verdict": VERDICTS[args.verdict]}
    if args.judge_model:
        data["model"] = args.judge_model
    if args.calibration_threshold is not None:
        data["calibration_threshold"] = args.calibration_threshold
    return data


def _python_spec(project, text: str) -> tuple[dict, Path]:
    """The python metric's spec and its file. A file inside the project is stored by its relative path
    (the project can move); one outside stays where it is, by its absolute path, because the metric
    is the user's own file: copying it would leave their edits behind (a warning says the project
    then depends on that path)."""
    file, sep, function = text.rpartition(":")
    if not sep or not file or not function:
        raise WorkbenchError(f"--python {text!r} must look like FILE:FUNCTION, e.g. metrics.py:resolution_score")
    path = Path(file).expanduser()
    if not path.is_absolute():
        path = (Path.cwd() / path) if (Path.cwd() / path).exists() else (project.root / path)
    path = path.resolve()
    try:
        stored = str(path.relative_to(project.root))
    except ValueError:
        stored = str(path)
    return {"kind": "python", "path": stored, "function": function}, path


def cmd_metric_set(args) -> int:
    import json
    import sys

    from engine import metrics
    from engine.cli.main import print_json
    from engine.project import Project

    project = Project.open(args.dir)
    normalize = {"lowercase": not args.no_lowercase, "strip_punctuation": args.strip_punctuation}
    components: list[dict] = []
    python_file = None
    if args.exact_match:
        components.append({"kind": "exact_match", "field": args.exact_match, "normalize": normalize})
    if args.field_match:
        fields = [f.strip() for f in args.field_match.split(",") if f.strip()]
        components.append({"kind": "field_match", "fields": fields, "normalize": normalize})
    if args.judge is not None:
        components.append(_judge_spec(project, args))
    if args.token_f1:
        components.append({"kind": "token_f1", "field": args.token_f1})
    if args.rouge:
        components.append({"kind": "rouge", "field": args.rouge})
    if args.edit_similarity:
        components.append({"kind": "edit_similarity", "field": args.edit_similarity, "normalize": normalize})
    by_field: dict[str, list[str]] = {}
    for item in args.contains:
        field, sep, pattern = item.partition("=")
        if not sep or not field or not pattern:
            raise WorkbenchError(f"--contains {item!r} must look like FIELD=PATTERN, e.g. resolution=RP-")
        by_field.setdefault(field.strip(), []).append(pattern)
    for field, patterns in by_field.items():
        components.append({"kind": "contains", "field": field, "patterns": patterns, "regex": args.regex})
    if args.python:
        spec, python_file = _python_spec(project, args.python)
        components.append(spec)
    if args.spec:
        if components:
            raise WorkbenchError("--spec is a whole metric; give it alone, or build the metric from the other options")
        try:
            data = json.loads(args.spec)
        except ValueError as exc:
            raise WorkbenchError(f"--spec is not valid JSON ({exc})") from None
    elif not components:
        raise WorkbenchError("say which metric: --exact-match, --field-match, --judge, --token-f1, --rouge, "
                             "--edit-similarity, --contains, --python or --spec")
    else:
        data = components[0] if len(components) == 1 else {
            "kind": "composite", "components": [{"weight": 1.0, "metric": c} for c in components]}
    spec = metrics.parse_metric(data)
    metrics.validate_metric(spec, project.program.output_names, project.program.input_names)
    if python_file is not None:
        from engine.metric_context import load_python_metric
        from engine.trust import trust_file

        trust_file(python_file)  # setting the metric trusts the version chosen
        load_python_metric(project.root, metrics.python_specs(spec)[0])  # the function must exist
        if not python_file.is_relative_to(project.root):
            sys.stderr.write(f"warning: the metric file {python_file} is outside the project, so the project "
                             "needs it at that path; move it into the project folder to share the project\n")
    project.set_metric(data)
    project.save()
    spec = project.metric_spec()
    if args.json:
        print_json({"description": metrics.describe(spec), "spec": spec.model_dump(mode="json")})
    else:
        print("metric: " + metrics.describe(spec))
    return 0


def cmd_metric_trust(args) -> int:
    from engine import metrics
    from engine.cli.main import print_json
    from engine.metric_context import metric_path
    from engine.project import Project
    from engine.trust import trust_file

    project = Project.open(args.dir)
    pythons = metrics.python_specs(project.metric_spec())
    if not pythons:
        raise WorkbenchError(f"the metric of {project.root} runs no Python file, so there is nothing to trust")
    trusted = []
    for python in pythons:
        code = trust_file(metric_path(project.root, python.path))
        trusted.append({"path": str(code.path), "sha256": code.sha256})
    if args.json:
        print_json({"trusted": trusted})
    else:
        for item in trusted:
            print(f"trusted {item['path']} (sha256 {item['sha256'][:12]})")
    return 0


def cmd_metric_calibrate(args) -> int:
    from engine import calibration
    from engine.cli.main import print_json
    from engine.cli.progress import StderrProgress, run_cancellable
    from engine.cli.commands_runs import EXIT_FOR_STATUS
    from engine.jobs.control import CancelToken
    from engine.project import Project

    project = Project.open(args.dir)
    if args.labels:
        labels = calibration.read_label_file(project, args.labels)  # a bad file stops here; nothing stored
    else:
        labels = calibration.load_labels(project)
        if not labels:
            raise WorkbenchError(
                f"{project.root} has no labels yet ({calibration.LABELS_FILE}); pass --labels FILE, or write outputs "
                f"to label with `dspy-workbench metric outputs {project.root} --out labels.csv`")
    if args.model:
        project.profile(args.model)
    cancel = CancelToken()
    result = run_cancellable(
        lambda: calibration.run_calibration(project, labels, model=args.model, sink=StderrProgress(), cancel=cancel),
        cancel)
    if args.json:
        print_json(result.to_json())
    else:
        print_calibration(result)
    from engine.judge import judge_profile_name

    judge_profile = judge_profile_name(project, calibration.project_judge(project))
    if args.model and args.model != judge_profile:
        import sys

        sys.stderr.write(f"note: the metric's judge uses {judge_profile!r}, so runs still need its own calibration; "
                         f"to judge with {args.model!r}, set model = \"{args.model}\" in the judge's table of "
                         f"project.toml (or `metric set ... --judge-model {args.model}`) and calibrate again\n")
    return EXIT_FOR_STATUS.get(result.status, 1)


def print_calibration(result) -> None:
    def pct(value):
        return "n/a" if value is None else f"{value:.2f}"

    verdict = "PASSED" if result.passed else "FAILED"
    kappa = "undefined" if result.kappa is None else f"{result.kappa:.2f}"
    interval = (f" (95% CI {result.kappa_ci95[0]:.2f} to {result.kappa_ci95[1]:.2f}, {result.ci_method})"
                if result.kappa_ci95 else "")
    print(f"calibration {verdict}: kappa {kappa}{interval}, threshold {result.threshold:g}")
    print(f"  n={result.n}  agreement {pct(result.agreement)}  TPR {pct(result.tpr)}  TNR {pct(result.tnr)}")
    c = result.confusion
    print("                 judge pass  judge fail")
    print(f"  human pass     {c['tp']:>10}  {c['fn']:>10}")
    print(f"  human fail     {c['fp']:>10}  {c['tn']:>10}")
    print(f"  judge: {result.judge['profile']} = {result.judge['name']} {result.judge['revision']}")
    for warning in result.warnings:
        print(f"  warning: {warning}")
    for item in result.disagreements[:10]:
        shown = "; ".join(f"{k}: {str(v)[:100]}" for k, v in item["outputs"].items())
        print(f"  disagrees on {item['example_id']}: human {item['human']:g}, judge {item['judge']:g}  ({shown})")
    if len(result.disagreements) > 10:
        print(f"  ... and {len(result.disagreements) - 10} more disagreements (see --json)")


def cmd_metric_outputs(args) -> int:
    import io

    import pandas as pd

    from engine import calibration
    from engine.atomic import atomic_write_text
    from engine.cli.main import print_json
    from engine.cli.progress import StderrProgress, run_cancellable
    from engine.jobs.control import CancelToken
    from engine.project import Project

    project = Project.open(args.dir)
    spec = calibration.project_judge(project)
    if args.n <= 0:
        raise WorkbenchError(f"--n must be more than 0, not {args.n}")
    ids = [e.example_id for e in project.examples(args.split, args.n)]
    if not ids:
        raise WorkbenchError(f"the {args.split} split is empty; assign examples to it first")
    cancel = CancelToken()
    outputs = run_cancellable(
        lambda: calibration.generate_outputs(project, ids, run_id=args.run, sink=StderrProgress(), cancel=cancel),
        cancel)
    rows = [{"id": i, **{n: outputs[i].get(n, "") for n in spec.outputs}, "human": ""} for i in ids if i in outputs]
    buffer = io.StringIO()
    pd.DataFrame(rows, columns=["id", *spec.outputs, "human"]).to_csv(buffer, index=False)
    out = Path(args.out).expanduser()
    atomic_write_text(out, buffer.getvalue())
    if args.json:
        print_json({"path": str(out.resolve()), "rows": len(rows), "missing": [i for i in ids if i not in outputs]})
    else:
        print(f"wrote {len(rows)} outputs to {out}; fill in the human column (pass or fail), then run "
              f"`dspy-workbench metric calibrate {project.root} --labels {out}`")
    return 0


def cmd_metric_threshold(args) -> int:
    from engine import calibration
    from engine.project import Project

    project = Project.open(args.dir)
    calibration.set_threshold(project, args.kappa)
    print(f"the judge's calibration must now reach kappa {args.kappa:g}; "
          f"{calibration.calibration_status(project).message}")
    return 0
