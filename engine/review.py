"""Approving a run: what must hold before a candidate can be approved or exported.

Both faces ask here: the CLI's `approve` / `reject` and the Review pane's buttons call
`review_run`, and both show `approval_blocker`'s sentence when a run cannot be judged yet.
"""

from __future__ import annotations

from engine.errors import WorkbenchError


def approval_blocker(report: dict) -> str | None:
    """Why the run's candidate cannot be approved or exported yet, or None when it can.

    A run stopped before its evaluations (cancelled, stopped by its budget, killed) keeps a
    candidate that nobody has measured on the test split: promotion is decided on test only.
    """
    test = (report.get("evaluations") or {}).get("test") or {}
    if "candidate" not in test or "baseline" not in test:
        status, run_id = (report.get("status") or "").replace("_", " "), report.get("run_id", "RUN_ID")
        return (f"this run ({status}) has no test evaluation of its kept candidate against the baseline; "
                "evaluate it on validation and test before approving or exporting it (`dspy-workbench runs "
                f"evaluate DIR {run_id}`, or Review's Evaluate the kept candidate)")
    return None


def review_run(project, run_id: str, decision: str, *, note: str = "", reviewer: str = "",
               accept_failed_gates: bool = False):
    """Record `decision` ("approved" / "rejected") for a run; the updated RunRecord.

    Approving needs a test evaluation of the candidate, and a candidate that failed a release
    gate only with `accept_failed_gates` and a note that says why. Rejecting is always allowed.
    """
    from engine.reports import run_report

    record = project.store.get_run(run_id)
    if decision == "approved":
        if record.program_state is None:
            raise WorkbenchError(f"run {run_id} kept no candidate ({record.status.replace('_', ' ')}): there is "
                                 "nothing to approve; compile again")
        report = run_report(project, record)
        blocker = approval_blocker(report)
        if blocker:
            raise WorkbenchError(f"run {run_id} cannot be approved: {blocker.replace(' DIR ', f' {project.root} ')}")
        gates = report["gates"]
        if gates["checked"] and not gates["passed"]:
            if not accept_failed_gates:
                raise WorkbenchError(
                    f"run {run_id} failed its release gates ({'; '.join(gates['failures'])}); approve it "
                    "anyway only with --accept-failed-gates and a --note that says why")
            if not note.strip():
                raise WorkbenchError(f"run {run_id} failed its release gates: say why you approve it anyway "
                                     "with --note")
    return project.store.set_review(run_id, decision, note=note, reviewer=reviewer)
