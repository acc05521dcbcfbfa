"""`dspy-workbench gates show|set`: the project's release gates (per-slice minimum test scores)."""

from __future__ import annotations


def register(sub) -> None:
    from engine.cli.main import add_json_flag

    p = sub.add_parser("gates", help="show or set the release gates (minimum test score per slice)")
    gsub = p.add_subparsers(dest="gates_command", metavar="ACTION")
    gsub.required = True
    s = gsub.add_parser("show", help="print the gates")
    s.add_argument("dir")
    add_json_flag(s)
    s.set_defaults(handler=cmd_gates_show)
    s = gsub.add_parser("set", help="set or remove the gate on the whole test split or on one slice")
    s.add_argument("dir")
    where = s.add_mutually_exclusive_group(required=True)
    where.add_argument("--overall", action="store_true", help="the gate on the whole test split")
    where.add_argument("--slice", metavar="NAME", help="the gate on one slice")
    value = s.add_mutually_exclusive_group(required=True)
    value.add_argument("--min", type=float, metavar="X", help="the minimum test score, from 0 to 1")
    value.add_argument("--remove", action="store_true", help="remove that gate")
    add_json_flag(s)
    s.set_defaults(handler=cmd_gates_set)


def _gates_json(project) -> dict:
    return {"gates": [{"slice": g.slice, "min_score": g.min_score} for g in project.config.gates]}


def _print_gates(project) -> None:
    if not project.config.gates:
        print("no release gates: any candidate can be promoted on its scores alone")
        return
    for gate in project.config.gates:
        print(f"{gate.slice}: at least {gate.min_score:g} on test")


def cmd_gates_show(args) -> int:
    from engine.cli.main import print_json
    from engine.project import Project

    project = Project.open(args.dir)
    if args.json:
        print_json(_gates_json(project))
    else:
        _print_gates(project)
    return 0


def cmd_gates_set(args) -> int:
    from engine.cli.main import print_json
    from engine.gates import ALL_SLICE, set_gate
    from engine.project import Project

    project = Project.open(args.dir)
    set_gate(project, ALL_SLICE if args.overall else args.slice, None if args.remove else args.min)
    project.save()
    if args.json:
        print_json(_gates_json(project))
    else:
        _print_gates(project)
    return 0
