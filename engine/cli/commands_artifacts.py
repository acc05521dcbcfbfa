"""Artifact subcommands: export a run as a bundle, and review bundles offline (`artifact ...`)."""

from __future__ import annotations

import sys

from engine.errors import WorkbenchError


def register(sub) -> None:
    from engine.cli.main import add_json_flag

    p = sub.add_parser("export", help="export a run as a state-only artifact bundle")
    p.add_argument("dir")
    p.add_argument("--run", required=True, metavar="RUN_ID")
    p.add_argument("--out", required=True, metavar="PATH", help="a new folder for the bundle")
    add_json_flag(p)
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("artifact", help="review an exported bundle offline")
    asub = p.add_subparsers(dest="artifact_command", metavar="ACTION")
    asub.required = True
    s = asub.add_parser("show", help="print the manifest and check every file's hash")
    s.add_argument("path")
    add_json_flag(s)
    s.set_defaults(handler=cmd_artifact_show)


def cmd_export(args) -> int:
    from engine.artifacts import export_run
    from engine.cli.main import print_json
    from engine.project import Project

    project = Project.open(args.dir)
    manifest = export_run(project, args.run, args.out)
    if args.json:
        print_json({"path": str(args.out), "manifest": manifest.model_dump(mode="json")})
    else:
        print(f"exported run {args.run} to {args.out}")
        print(f"  model: {manifest.model.name} {manifest.model.revision}")
        print(f"  review: {manifest.review.status}")
        if manifest.review.status == "unreviewed":
            sys.stderr.write("note: this run is not reviewed; the manifest says so. "
                             f"Approve it with `dspy-workbench approve {args.dir} --run {args.run}`\n")
    return 0


def cmd_artifact_show(args) -> int:
    from engine.adapters import SCORED_CHOICES
    from engine.artifacts import verify_bundle
    from engine.cli.main import print_json

    manifest, problems = verify_bundle(args.path)
    if args.json:
        print_json({"manifest": manifest.model_dump(mode="json"), "problems": problems, "intact": not problems})
    else:
        print(f"artifact for run {manifest.run_id} of project {manifest.project}")
        print(f"  program: {manifest.program['name']} {manifest.program['fingerprint']}")
        print(f"  model: {manifest.model.provider} {manifest.model.name} {manifest.model.revision}")
        print(f"  optimizer: {manifest.optimizer['name']} {manifest.optimizer['params']}")
        print(f"  scores: {manifest.scores}")
        print(f"  answers: {manifest.answers}" + (
            " by the Workbench's embedded engine; plain DSPy running program.py generates them from the "
            "same prompt, so its answers can differ" if manifest.answers == SCORED_CHOICES else ""))
        print(f"  review: {manifest.review.status} {manifest.review.note}")
        print("  integrity: " + ("all files match the manifest" if not problems else "; ".join(problems)))
    if problems:
        raise WorkbenchError(f"the bundle at {args.path} does not match its manifest: " + "; ".join(problems))
    return 0
