"""Render the main window on the sample project to PNG files: `python -m desktop.screenshots OUT_DIR`.

One image per pane at 1280x800 (start.png, dataset.png, program.png, ...), after a real compile on
the embedded model so Runs and Review show real figures (`--no-runs` skips it), a MIPROv2 run
mid-search (runs-miprov2-live.png) and the two runs compared (compare-runs.png), the Dataset pane
with a leak (dataset-leakage.png), the import dialog (import-dialog.png) and the add-profile
dialog (models-add-profile.png), a file checked against the program in the import dialog and then in
the Dataset pane (import-data-checks.png, dataset-data-checks.png; `--only-data-checks` renders just
these), the artifact windows on bundles of those runs (artifact-view.png, artifact-prompt.png,
artifact-matrix.png, artifact-diff.png; `--artifacts` renders only these, after two quick compiles),
and the support-resolution sample's judge metric, its Calibrate tab (the judge run on the sample's
labels on the embedded model unless `--no-runs`) and the Runs pane refusing the unchecked judge
(metric-judge.png, metric-calibrate.png, runs-judge-refused.png; `--only-judge` renders just these).
`--dark` renders the same in dark mode. Runs offscreen in throw-away folders: the user's settings,
projects and logs are never touched. Used for the docs and to eyeball layout changes.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

SIZE = (1280, 800)


def _wait(app, condition, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app.processEvents()
        if condition():
            return True
        time.sleep(0.02)
    return False


def _settle(app, window) -> None:
    """Let background work (renders, checks) finish and the layout settle before grabbing."""
    _wait(app, lambda: not any(p.is_busy() for p in window.panes))
    for _ in range(5):
        app.processEvents()
        time.sleep(0.02)


def _grab(app, window, path: Path) -> Path:
    _settle(app, window)
    window.grab().save(str(path))
    print(path)
    return path


def _make_leak(window) -> None:
    from desktop.dataset_commands import EditCell, push

    session = window.session
    frame = session.project.frame
    ids = frame["id"].tolist()
    first, second = ids.index("refund-001"), ids.index("refund-010")
    if frame["split"].iat[first] == frame["split"].iat[second]:
        second = next(i for i in range(len(ids)) if frame["split"].iat[i] != frame["split"].iat[first])
    for field in session.project.program.input_names:
        push(session, EditCell(session, second, field, frame[field].iat[first]))


def _real_runs(app, window, out: Path, suffix: str) -> list[Path]:
    """Compile on the real embedded model so Runs and Review show real figures.

    A small BootstrapFewShot run goes to the end (the Runs history and the Review pane show it);
    then a MIPROv2 run is grabbed mid-search, with its trials and score chart, and cancelled.
    """
    from PySide6.QtWidgets import QTabWidget

    runs, review = window.pane("Runs"), window.pane("Review")
    window.show_pane("Runs")
    runs.select_optimizer("bootstrap-fewshot")
    runs.limit_spin.setValue(12)
    runs.start_compile()
    _wait(app, lambda: not runs.is_busy(), timeout_s=1800)
    run_id = window.session.project.store.list_runs()[0].run_id
    review.show_run(run_id)

    runs.select_optimizer("miprov2")
    for name, value in (("auto", "none"), ("num_candidates", 2), ("num_trials", 8), ("minibatch", False),
                        ("max_bootstrapped_demos", 1), ("max_labeled_demos", 1)):
        runs.set_param(name, value)
    runs.limit_spin.setValue(8)
    runs.start_compile()
    _wait(app, lambda: runs.trials_table.rowCount() >= 3, timeout_s=1800)
    tabs = runs.findChild(QTabWidget)
    tabs.setCurrentIndex(1)
    shot = out / f"runs-miprov2-live{suffix}.png"
    window.grab().save(str(shot))
    print(shot)
    runs.cancel_compile()
    _wait(app, lambda: not runs.is_busy(), timeout_s=120)
    tabs.setCurrentIndex(0)
    return [shot, _compare_runs(app, window, out / f"compare-runs{suffix}.png")]


def _compare_runs(app, window, path: Path) -> Path:
    runs = window.pane("Runs")
    shown = []
    runs.comparison_shown.connect(shown.append)
    runs.select_runs([r.run_id for r in window.session.project.store.list_runs()[:2]])
    runs.compare_selected()
    _wait(app, lambda: bool(shown), timeout_s=120)
    dialog = shown[0]
    dialog.resize(1100, 720)
    _settle(app, window)
    dialog.grab().save(str(path))
    print(path)
    dialog.close()
    return path


def _add_profile_dialog(app, window, path: Path) -> Path:
    window.show_pane("Models")
    dialog = window.pane("Models").add_profile()
    dialog.name_edit.setText("studio")
    dialog.provider_combo.setCurrentIndex(dialog.provider_combo.findData("openai-compatible"))
    dialog.model_edit.setText("qwen2.5-7b-instruct")
    dialog.base_url_edit.setText("http://localhost:1234/v1")
    dialog.price_check.setChecked(True)
    dialog.price_input.setValue(0.2)
    dialog.price_output.setValue(0.6)
    _settle(app, window)
    dialog.grab().save(str(path))
    print(path)
    dialog.reject()
    return path


def _judge_shots(app, window, scratch: Path, out: Path, suffix: str, *, calibrate: bool) -> list[Path]:
    """The support-resolution sample's judge metric (metric-judge.png), its Calibrate tab with the
    sample's labels (metric-calibrate.png; with `calibrate`, after the judge ran on them on the real
    embedded model), and the Runs pane refusing to compile with the judge unchecked
    (runs-judge-refused.png)."""
    from engine.project import Project

    project = Project.create(scratch / "projects" / "support-resolution", sample="support-resolution")
    window.open_project(project.root)
    _wait(app, lambda: window.session.is_open and window.session.project.root == project.root)
    window.resize(*SIZE)
    metric = window.pane("Metric")
    window.show_pane("Metric")
    metric.tabs.setCurrentIndex(0)
    metric.components.setCurrentCell(0, 2)
    rendered = []
    metric.judge_prompt_rendered.connect(lambda: rendered.append(True))
    metric.picker.set_row(2)
    _wait(app, lambda: bool(rendered), timeout_s=60)
    written = [_grab(app, window, out / f"metric-judge{suffix}.png")]

    view = metric.calibrate
    metric.tabs.setCurrentWidget(view)
    if calibrate:
        results = []
        view.calibration_finished.connect(results.append)
        view.run_calibration()
        _wait(app, lambda: bool(results), timeout_s=1800)
    view.table.selectRow(3)
    written.append(_grab(app, window, out / f"metric-calibrate{suffix}.png"))

    runs = window.pane("Runs")
    window.show_pane("Runs")
    runs.limit_spin.setValue(4)
    runs.start_compile()
    _wait(app, lambda: not runs.is_busy(), timeout_s=300)
    written.append(_grab(app, window, out / f"runs-judge-refused{suffix}.png"))
    return written


DATA_CHECKS_CSV = (
    "id,ticket_text,policy_context,urgency,split\n"
    "c-1,My parcel is a week late,Late Delivery Policy: ...,medium,train\n"
    "c-2,Someone used my card!,Fraud Policy: ...,urgent,train\n"
    "c-3,,Account Policy: ...,low,train\n"
    "c-4,Where is my refund,Refund Policy: ...,High,test\n"
    "c-5,where is my refund?,Refund Policy: ...,high,validation\n"
    "c-6,My parcel is a week late,Late Delivery Policy: ...,low,train\n"
    "c-7,How do I change my email address,Account Policy: ...,low,train\n"
    "c-8,How do I change my e-mail adress,Account Policy: ...,low,test\n"
)


def _data_checks_shots(app, window, scratch: Path, out: Path, suffix: str) -> list[Path]:
    """The import dialog checking a file against the program before Import, then the Dataset pane's banner."""
    csv = scratch / "tickets-to-check.csv"
    csv.write_text(DATA_CHECKS_CSV, encoding="utf-8")
    window.show_pane("Dataset")
    dialog = window.pane("Dataset").import_file(str(csv))
    checked = []
    dialog.checked.connect(lambda: checked.append(True))
    _wait(app, lambda: bool(checked))
    dialog.resize(980, 760)
    dialog.show()
    _settle(app, window)
    written = [out / f"import-data-checks{suffix}.png"]
    dialog.grab().save(str(written[-1]))
    print(written[-1])
    imported = []
    dialog.imported.connect(lambda: imported.append(True))
    dialog.start_import()
    _wait(app, lambda: bool(imported))
    _wait(app, lambda: bool(window.leak_watcher.findings))
    written.append(_grab(app, window, out / f"dataset-data-checks{suffix}.png"))
    window.session.undo_stack.undo()
    return written


def _artifact_shots(app, window, project, out: Path, suffix: str) -> list[Path]:
    """The artifact windows (#18) on bundles exported from this project's runs: one artifact opened
    (artifact-view.png, its prompt tab artifact-prompt.png), the compilation matrix
    (artifact-matrix.png) and the diff of two bundles (artifact-diff.png)."""
    from engine.artifacts import export_run, record_review
    from engine.errors import WorkbenchError

    folder = project.root / "artifacts"
    bundles = sorted(p for p in folder.iterdir() if (p / "manifest.json").is_file()) if folder.is_dir() else []
    for record in project.store.list_runs(status="succeeded")[:2] if not bundles else []:
        target = folder / f"{project.name}-{record.run_id}"
        try:
            export_run(project, record.run_id, target)
            bundles.append(target)
        except WorkbenchError as exc:  # a run without a program: nothing to show for it
            print(f"not exported: {exc}")
    if not bundles:
        return []
    record_review(bundles[0], "approved", note="adversarial slice read through; gates as agreed",
                  reviewer="ana")
    written = []
    view = window.open_artifact(bundles[0])
    view.resize(1180, 780)
    _wait(app, lambda: view.data is not None and not view._rendering, timeout_s=120)
    written.append(_grab_widget(app, view, out / f"artifact-view{suffix}.png"))
    view.tabs.setCurrentIndex(3)
    view.set_inputs({name: text for name, text in zip(view.input_edits, (
        "My parcel was due two weeks ago and still has not arrived.",
        "Late Delivery Policy: a parcel more than 10 days late is refunded in full."))})
    _wait(app, lambda: view.prompt_view.toPlainText().count("two weeks ago") > 0 and not view._rendering,
          timeout_s=120)
    written.append(_grab_widget(app, view, out / f"artifact-prompt{suffix}.png"))
    view.close()
    matrix = window.show_artifacts()
    matrix.resize(1100, 460)
    _wait(app, lambda: matrix.matrix is not None and not matrix._loading, timeout_s=120)
    written.append(_grab_widget(app, matrix, out / f"artifact-matrix{suffix}.png"))
    if len(bundles) >= 2:
        shown = []
        matrix.diff_shown.connect(shown.append)
        matrix.table.selectAll()  # the first two artifacts of the matrix
        matrix.diff_selected()
        _wait(app, lambda: bool(shown), timeout_s=120)
        shown[0].resize(1100, 720)
        written.append(_grab_widget(app, shown[0], out / f"artifact-diff{suffix}.png"))
        shown[0].close()
    matrix.close()
    return written


def _grab_widget(app, widget, path: Path) -> Path:
    for _ in range(10):
        app.processEvents()
        time.sleep(0.02)
    widget.grab().save(str(path))
    print(path)
    return path


def _quick_runs(project) -> None:
    """Two small compiles on the embedded model, for the artifact screenshots alone (--artifacts)."""
    from engine.jobs.compile import CompileJob, CompileSettings

    for k in (2, 4):
        CompileJob(project, CompileSettings("labeled-fewshot", {"k": k}, limit=6)).run()


def render(out_dir: str | Path, *, dark: bool = False, with_runs: bool = True,
           only_judge: bool = False, only_data_checks: bool = False, artifacts_only: bool = False) -> list[Path]:
    """Write the screenshots to `out_dir`; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="dspy-workbench-shots-"))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["DSPY_WORKBENCH_HOME"] = str(scratch / "home")
    if dark:
        os.environ["DSPY_WORKBENCH_THEME"] = "dark"

    from PySide6.QtCore import QSettings

    for kind in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(kind, QSettings.Scope.UserScope, str(scratch / "settings"))

    from desktop import app as desktop_app
    from desktop.main_window import MainWindow
    from engine.project import Project

    application = desktop_app.make_application()
    suffix = "-dark" if dark else ""
    written = []

    window = MainWindow()
    window.resize(*SIZE)
    window.show()
    if only_judge:
        written += _judge_shots(application, window, scratch, out, suffix, calibrate=with_runs)
        window.close()
        return written
    if artifacts_only:
        project = Project.create(scratch / "projects" / "support-triage", sample="support-triage")
        _quick_runs(project)
        window.open_project(project.root)
        _wait(application, lambda: window.session.is_open)
        written += _artifact_shots(application, window, window.session.project, out, suffix)
        window.close()
        return written
    written.append(_grab(application, window, out / f"start-empty{suffix}.png"))

    project = Project.create(scratch / "projects" / "support-triage", sample="support-triage")
    window.open_project(project.root)
    _wait(application, lambda: window.session.is_open)
    window.resize(*SIZE)
    if only_data_checks:
        written += _data_checks_shots(application, window, scratch, out, suffix)
        window.close()
        return written
    if with_runs:
        written += _real_runs(application, window, out, suffix)
    for pane in window.panes:
        window.show_pane(pane.title)
        written.append(_grab(application, window, out / f"{pane.title.lower()}{suffix}.png"))

    window.show_pane("Dataset")
    _make_leak(window)
    _wait(application, lambda: bool(window.session.leaks))
    written.append(_grab(application, window, out / f"dataset-leakage{suffix}.png"))
    window.pane("Dataset").show_leak_rows()
    written.append(_grab(application, window, out / f"dataset-leak-rows{suffix}.png"))
    window.session.undo_stack.undo()
    window.session.undo_stack.undo()
    window.pane("Dataset").clear_filter()

    csv = scratch / "new-tickets.csv"
    csv.write_text("ticket id,Ticket_Text,policy_context,urgency,split,tags\n"
                   "t-1,My parcel is a week late,Late Delivery Policy: ...,medium,train,late_delivery\n"
                   "t-2,Someone used my card,Fraud Policy: ...,high,test,account\n"
                   "t-3,How do I change my email?,Account Policy: ...,low,,account\n", encoding="utf-8")
    dialog = window.pane("Dataset").import_file(str(csv))
    _wait(application, lambda: dialog.raw is not None)
    dialog.resize(820, 620)
    _settle(application, window)
    dialog.grab().save(str(out / f"import-dialog{suffix}.png"))
    written.append(out / f"import-dialog{suffix}.png")
    print(written[-1])
    dialog.reject()
    written += _data_checks_shots(application, window, scratch, out, suffix)

    written.append(_add_profile_dialog(application, window, out / f"models-add-profile{suffix}.png"))
    if with_runs:
        written += _artifact_shots(application, window, window.session.project, out, suffix)
    written += _judge_shots(application, window, scratch, out, suffix, calibrate=with_runs)
    window.close()
    return written


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m desktop.screenshots OUT_DIR [--dark] [--no-runs | --artifacts] [--only-judge] "
              "[--only-data-checks]")
        return 2
    render(args[0], dark="--dark" in args, with_runs="--no-runs" not in args, only_judge="--only-judge" in args,
           only_data_checks="--only-data-checks" in args, artifacts_only="--artifacts" in args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
