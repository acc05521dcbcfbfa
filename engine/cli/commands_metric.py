"""Metric subcommands: show, set."""

from __future__ import annotations

from engine.errors import WorkbenchError


def register(sub) -> None:
    from engine.cli.main import add_json_flag

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


# -- handlers ---------------------------------------------------------------------------------

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
