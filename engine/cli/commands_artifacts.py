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
    p.add_argument("--sign", action="store_true",
                   help="sign the manifest with your ed25519 key (kept in the OS keyring; created on first use)")
    add_json_flag(p)
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("artifact", help="review exported bundles offline")
    asub = p.add_subparsers(dest="artifact_command", metavar="ACTION")
    asub.required = True
    s = asub.add_parser("show", help="the verdict (integrity and origin), the manifest and its review records")
    s.add_argument("path")
    s.add_argument("--project", metavar="DIR", help="the project that exported it: proves where it came from")
    s.add_argument("--trust-key", action="append", default=[], metavar="KEY",
                   help="a public key (ed25519:..., as `export --sign` prints it) whose signature you trust")
    add_json_flag(s)
    s.set_defaults(handler=cmd_artifact_show)

    s = asub.add_parser("review", help="record your verdict on a bundle beside it (reviews/; hashes stay valid)")
    s.add_argument("path")
    s.add_argument("--verdict", required=True, choices=("approved", "rejected"))
    s.add_argument("--note", default="")
    s.add_argument("--reviewer", default="", help="default: your login name")
    add_json_flag(s)
    s.set_defaults(handler=cmd_artifact_review)

    s = asub.add_parser("matrix", help="which program versions have an artifact for which exact model revisions")
    s.add_argument("paths", nargs="*", metavar="PATH", help="bundles, or folders of bundles")
    s.add_argument("--project", metavar="DIR", help="also the project's artifacts/ folder (the default with no PATH)")
    add_json_flag(s)
    s.set_defaults(handler=cmd_artifact_matrix)

    s = asub.add_parser("find", help="the approved artifact for a program on an exact model revision")
    s.add_argument("paths", nargs="*", metavar="PATH", help="bundles, or folders of bundles")
    s.add_argument("--project", metavar="DIR", help="also the project's artifacts/ folder (the default with no PATH)")
    s.add_argument("--program", required=True, metavar="NAME|FINGERPRINT")
    s.add_argument("--model-revision", required=True, metavar="REV")
    s.add_argument("--any-review", action="store_true", help="unreviewed artifacts count too")
    add_json_flag(s)
    s.set_defaults(handler=cmd_artifact_find)

    s = asub.add_parser("diff", help="two bundles side by side: program, model revision, settings, scores, prompts")
    s.add_argument("a")
    s.add_argument("b")
    add_json_flag(s)
    s.set_defaults(handler=cmd_artifact_diff)


def cmd_export(args) -> int:
    from engine.artifacts import export_run, signing_public_key
    from engine.cli.main import print_json
    from engine.project import Project

    project = Project.open(args.dir)
    manifest = export_run(project, args.run, args.out, sign=args.sign)
    public_key = signing_public_key(create=False) if args.sign else None
    if args.json:
        print_json({"path": str(args.out), "manifest": manifest.model_dump(mode="json"), "public_key": public_key})
    else:
        print(f"exported run {args.run} to {args.out}")
        print(f"  model: {manifest.model.name} {manifest.model.revision}")
        print(f"  review: {manifest.review.status}")
        if public_key:
            print(f"  signed by {public_key}")
            print("  (give this key to whoever checks it: `dspy-workbench artifact show PATH --trust-key KEY`)")
        if manifest.review.status == "unreviewed":
            sys.stderr.write("note: this run is not reviewed; the manifest says so. "
                             f"Approve it with `dspy-workbench approve {args.dir} --run {args.run}`\n")
    return 0


def cmd_artifact_show(args) -> int:
    from engine.artifacts import artifact_verdict, dspy_save_info, read_manifest, read_reviews
    from engine.cli.main import print_json

    project = _project(args.project)
    save = dspy_save_info(args.path)
    if save is not None:
        if args.json:
            print_json({"kind": "dspy-save", "verdict": artifact_verdict(args.path).to_dict(),
                        "files": save.files, "metadata": save.metadata})
        else:
            print_dspy_save(save)
        raise WorkbenchError(f"{args.path} is a DSPy whole-program save (a pickle), which is executable code; "
                             "nothing was loaded: review a state-only bundle instead")
    verdict = artifact_verdict(args.path, project=project, trust_keys=args.trust_key)
    manifest = read_manifest(args.path)
    reviews = read_reviews(args.path)
    if args.json:
        print_json({"kind": "bundle", "verdict": verdict.to_dict(), "manifest": manifest.model_dump(mode="json"),
                    "reviews": [r.model_dump() for r in reviews], "problems": verdict.problems,
                    "intact": verdict.ok})
    else:
        print_artifact(manifest, verdict, reviews)
    if not verdict.ok:
        raise WorkbenchError(f"the bundle at {args.path} is not as exported: " + "; ".join(verdict.problems))
    return 0


def cmd_artifact_review(args) -> int:
    from engine.artifacts import printable, record_review
    from engine.cli.main import print_json

    entry = record_review(args.path, args.verdict, note=args.note, reviewer=args.reviewer)
    if args.json:
        print_json(entry.model_dump())
    else:
        print(f"{printable(entry.verdict)} by {printable(entry.reviewer) or 'unknown'}"
              + (f": {printable(entry.note)}" if entry.note else "") + f" (written to {entry.file})")
    return 0


def _project(directory):
    if not directory:
        return None
    from engine.project import Project

    return Project.open(directory)


def _paths(args) -> list:
    paths = list(args.paths)
    if args.project:
        paths.append(_project(args.project).root / "artifacts")
    if not paths:
        raise WorkbenchError("give bundles or folders of bundles, or --project DIR for the project's artifacts/")
    return paths


def cmd_artifact_matrix(args) -> int:
    from engine.artifacts import compilation_matrix
    from engine.cli.main import print_json

    matrix = compilation_matrix(_paths(args))
    if args.json:
        print_json(matrix.to_json())
    else:
        print_matrix(matrix)
    return 0


def cmd_artifact_find(args) -> int:
    from engine.artifacts import find_artifact, printable
    from engine.cli.main import print_json

    entry = find_artifact(_paths(args), args.program, args.model_revision, any_review=args.any_review)
    if args.json:
        print_json(entry)
    else:
        print(printable(entry["path"]))
        print(f"  {printable(entry['program']['name'])} {entry['program']['fingerprint']} on "
              f"{printable(entry['model']['name'])} {printable(entry['model']['revision'])}  "
              f"review: {printable(entry['review'])}  test: {_score(entry['test'])}")
    return 0


def cmd_artifact_diff(args) -> int:
    from engine.artifacts import diff_artifacts
    from engine.cli.commands_runs import print_comparison
    from engine.cli.main import print_json

    result = diff_artifacts(args.a, args.b)
    if args.json:
        print_json(result)
    else:
        print(f"A: {args.a}\nB: {args.b}\n")
        print_comparison(_printable_tree(result))
    return 0


# -- plain output (every value from a bundle goes through printable(): it may come from anyone) ----------

def _printable_tree(value):
    from engine.artifacts import printable

    if isinstance(value, dict):
        return {k: _printable_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable_tree(v) for v in value]
    if isinstance(value, str):
        return "\n".join(printable(line) for line in value.split("\n"))  # diffs keep their lines
    return value


def _score(test) -> str:
    from engine.artifacts import printable

    if not test:
        return "not scored on test"
    try:  # a manifest is anyone's JSON: a figure that is not a number is shown as text
        low, high = (float(v) for v in (test.get("ci95") or [float("nan")] * 2)[:2])
        return f"{float(test['score']):.3f} [{low:.3f}, {high:.3f}] n={printable(test.get('n'))}"
    except (TypeError, ValueError, KeyError, AttributeError):
        return printable(test)


def print_dspy_save(save) -> None:
    from engine.artifacts import printable

    print(f"verdict: {save.warning}")
    print(f"  files: {', '.join(printable(f) for f in save.files)}")
    for key, value in sorted(save.metadata.items()):
        print(f"  {printable(key)}: {printable(value)}")


def print_artifact(manifest, verdict, reviews) -> None:
    from engine.adapters import SCORED_CHOICES
    from engine.artifacts import printable as p

    print(f"verdict: {p(verdict.text)}")
    for note in verdict.notes:
        print(f"  note: {p(note)}")
    print(f"artifact for run {p(manifest.run_id)} of project {p(manifest.project)}, exported {p(manifest.created_at)}")
    print(f"  program: {p(manifest.program.get('name', ''))} {p(manifest.program.get('fingerprint', ''))}")
    print(f"  model: {p(manifest.model.provider)} {p(manifest.model.name)} {p(manifest.model.revision)}")
    print(f"  prompt format: {p(manifest.adapter_format)}; answers: {p(manifest.answers)}" + (
        " by the Workbench's embedded engine; plain DSPy running program.py generates them from the "
        "same prompt, so its answers can differ" if manifest.answers == SCORED_CHOICES else ""))
    print(f"  optimizer: {p(manifest.optimizer.get('name', ''))} {p(manifest.optimizer.get('params', {}))} "
          f"seed {p(manifest.optimizer.get('seed'))}")
    for split in ("validation", "test"):
        figures = manifest.evaluations.get(split)
        for which in ("baseline", "candidate") if isinstance(figures, dict) else ():
            if isinstance(figures.get(which), dict):
                print(f"  {split} {which}: {_score(figures[which])}")
    gates = manifest.gates if isinstance(manifest.gates, dict) else {}
    if gates.get("checked"):
        print("  gates: " + ("passed" if gates.get("passed") else "FAILED: " + p("; ".join(gates.get("failures", [])))))
    for split, info in sorted(manifest.splits.items()):
        info = info if isinstance(info, dict) else {}
        print(f"  data {p(split)}: n={p(info.get('n'))} sha256 {p(info.get('sha256'))}")
    review = manifest.review
    print(f"  review at export: {p(review.status)}" + (f" by {p(review.reviewer)}" if review.reviewer else "")
          + (f" at {p(review.at)}" if review.at else "") + (f": {p(review.note)}" if review.note else ""))
    for entry in reviews:
        print(f"  review record: {p(entry.verdict)} by {p(entry.reviewer) or 'unknown'} at {p(entry.at)}"
              + (f": {p(entry.note)}" if entry.note else "")
              + ("" if entry.current else " (made for an earlier manifest)"))
    print(f"  files: {', '.join(p(name) for name in manifest.files)}")


def print_matrix(matrix) -> None:
    from engine.artifacts import printable as p

    if not matrix.entries:
        print("no artifact bundles found")
    for program in matrix.programs:
        name, fingerprint = program
        print(f"{p(name)} {p(fingerprint)[:19]}")
        for revision in matrix.revisions:
            for entry in matrix.cell(program, revision):
                flag = "" if entry["intact"] else "  (does NOT match its manifest)"
                print(f"  {p(entry['model']['name'])} {p(revision)}: {p(entry['review'])}, test {_score(entry['test'])}"
                      f"  {p(entry['path'])}{flag}")
    for skipped in matrix.skipped:
        print(f"skipped {p(skipped['path'])}: {p(skipped['why'])}")
