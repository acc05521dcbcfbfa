"""The Review pane: decide whether a compiled candidate is worth promoting, and export it.

For one run it shows what `engine.reports.run_report` says: baseline and candidate on validation
and on test with 95% intervals, the paired difference and whether it is significant, the scores
per slice (slices failing a release gate highlighted), the gates' verdict and the small-sample
warnings. It shows what the optimizer chose per predictor (instructions and demos), a readable
diff of that against the uncompiled baseline, and the exact prompt for any example rendered
offline with the run's state and prompt format. Approve / Reject record a review with a note;
Export writes the state-only artifact bundle (`engine.artifacts.export_run`), asking first when
the run is not reviewed (the manifest then says "unreviewed").

Everything that reads the history or writes files runs on a background thread.
"""

from __future__ import annotations

import difflib
import getpass
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QSyntaxHighlighter, QTextCharFormat, QUndoCommand
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QGroupBox, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QPlainTextEdit,
                               QPushButton, QTableWidget, QTableWidgetItem, QTabWidget,
                               QVBoxLayout, QWidget)

from desktop.panes.base import Pane
from desktop.panes.common import (ExamplePicker, MessageBanner, bad_color, fit_table_height, good_color, heading,
                                  monospace_font, muted, short_revision, tint, warn_color)
from desktop.worker import WorkerSet
from engine.gates import ALL_SLICE

REVIEWABLE = ("succeeded", "cancelled", "stopped_by_budget")


def login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return ""


def load_run(project, run_id: str) -> dict:
    """Everything the pane shows for a run (background thread: reads the history, imports DSPy)."""
    from engine.artifacts import chosen_state
    from engine.errors import WorkbenchError
    from engine.programs import build_program, load_program_spec
    from engine.reports import run_report

    record = project.store.get_run(run_id)
    report = run_report(project, record)
    chosen = chosen_state(record.program_state or {})
    try:
        spec = project.program_of_run(record)
        baseline = chosen_state(build_program(spec).dump_state())
    except WorkbenchError:  # a module program not trusted in this version: none of its code runs
        spec, baseline = load_program_spec(record.program_spec, project.root), {}
    return {"project": project, "record": record, "report": report, "chosen": chosen,
            "baseline": baseline, "diff": state_diff(baseline, chosen), "spec": spec}


def _predictor_lines(entry: dict | None) -> list[str]:
    from engine.comparison import demo_fields

    if not entry:
        return []
    lines = ["Instructions:"]
    lines += [f"  {line}" for line in (entry.get("instructions") or "").splitlines()] or ["  (none)"]
    demos = entry.get("demos") or []
    lines.append(f"Demos: {len(demos)}")
    for i, demo in enumerate(demos, start=1):
        lines.append(f"  Demo {i}:")
        for key, value in demo_fields(demo).items():
            text = str(value).replace("\n", " ")
            lines.append(f"    {key}: {text}")
    return lines


def state_diff(baseline: dict, candidate: dict) -> str:
    """A unified diff, per predictor, of the candidate's instructions and demos against the baseline."""
    blocks = []
    for name in list(dict.fromkeys([*baseline, *candidate])):
        before, after = _predictor_lines(baseline.get(name)), _predictor_lines(candidate.get(name))
        diff = list(difflib.unified_diff(before, after, f"baseline  {name}", f"candidate {name}", lineterm="", n=2))
        blocks.append("\n".join(diff) if diff else f"=== {name}: no change from the baseline")
    return "\n\n".join(blocks) if blocks else "The run has no compiled program."


class DiffHighlighter(QSyntaxHighlighter):
    """Colours a unified diff: additions, removals and hunk headers."""

    def __init__(self, document, widget: QWidget):
        super().__init__(document)
        self._formats = {}
        for prefix, color in (("+", good_color(widget)), ("-", bad_color(widget)), ("@", warn_color(widget))):
            fmt = QTextCharFormat()
            fmt.setForeground(color)
            self._formats[prefix] = fmt

    def highlightBlock(self, text: str) -> None:  # noqa: N802 - Qt's name
        if text.startswith(("+++", "---")):
            fmt = QTextCharFormat()
            fmt.setFontWeight(700)
            self.setFormat(0, len(text), fmt)
        elif text[:1] in self._formats:
            self.setFormat(0, len(text), self._formats[text[:1]])


def _score_cell(figures: dict | None) -> str:
    if not figures:
        return "—"
    low, high = figures["ci95"]
    return f"{figures['score']:.3f}  [{low:.2f}, {high:.2f}]"


class ReviewPane(Pane):
    """Scores, choices, diff and prompt of one run; approve, reject, export.

    Signals:
        run_loaded(str)        a run's details are shown (its id)
        review_saved(str)      a review was recorded ("approved" or "rejected")
        exported(str)          a bundle was written (its folder)
        prompt_rendered()      the example prompt finished rendering
        failed(str)            an action failed (the message is shown in the pane)
        kept_candidate_evaluated(str)  a stopped run's candidate was evaluated on validation and test
    """

    title = "Review"
    icon_name = "review"
    run_loaded = Signal(str)
    review_saved = Signal(str)
    exported = Signal(str)
    prompt_rendered = Signal()
    failed = Signal(str)
    kept_candidate_evaluated = Signal(str)

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(session, parent)
        self._workers = WorkerSet(self)
        self._data: dict | None = None
        self._wanted: str | None = None
        self._list_pending = False
        self._build()
        self._prompt_timer = QTimer(self)
        self._prompt_timer.setSingleShot(True)
        self._prompt_timer.setInterval(150)
        self._prompt_timer.timeout.connect(self._render_prompt)
        session.opened.connect(self._reload)
        session.closed.connect(self._reload)
        session.runs_changed.connect(self._refresh_list)
        session.dataset_changed.connect(self.picker.refresh)
        self._reload()

    # -- layout -----------------------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(heading("Review"))
        top.addSpacing(12)
        top.addWidget(QLabel("Run"))
        self.run_combo = QComboBox()
        self.run_combo.setMinimumContentsLength(40)
        self.run_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.run_combo.activated.connect(lambda _i: self._load_selected())
        top.addWidget(self.run_combo, 1)
        outer.addLayout(top)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        outer.addWidget(self.summary)
        self.judge_record = MessageBanner()  # the run's judge calibration, its calls, metric files (#17)
        outer.addWidget(self.judge_record)
        self.banner = MessageBanner()
        outer.addWidget(self.banner)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_scores(), "Scores")
        self.chosen_view = self._text_view("The instructions and demos the optimizer chose appear here.")
        self.tabs.addTab(self.chosen_view, "Chosen instructions && demos")
        self.diff_view = self._text_view("What changed from the baseline appears here.")
        self._highlighter = DiffHighlighter(self.diff_view.document(), self)
        self.tabs.addTab(self.diff_view, "Diff vs baseline")
        self.tabs.addTab(self._build_prompt(), "Prompt")
        outer.addWidget(self.tabs, 1)
        self.empty = muted("No runs to review yet. Compile the program in the Runs pane; each finished "
                           "run appears here with its scores, choices and exact prompts.")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        outer.addWidget(self.empty, 1)
        outer.addWidget(self._build_actions())

    @staticmethod
    def _text_view(placeholder: str) -> QPlainTextEdit:
        view = QPlainTextEdit()
        view.setReadOnly(True)
        view.setFont(monospace_font())
        view.setPlaceholderText(placeholder)
        return view

    def _build_scores(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.overall = QTableWidget(0, 6)
        self.overall.setHorizontalHeaderLabels(["Split", "n", "Baseline [95% CI]", "Candidate [95% CI]",
                                                "Difference [95% CI]", "Verdict"])
        self._table_style(self.overall)
        layout.addWidget(self.overall)
        self.gates_label = QLabel()
        self.gates_label.setWordWrap(True)
        gates_row = QHBoxLayout()
        gates_row.addWidget(self.gates_label, 1)
        self.edit_gates_btn = QPushButton("Edit gates…")
        self.edit_gates_btn.setToolTip("Set the minimum test score for the whole split and for any slice")
        self.edit_gates_btn.clicked.connect(lambda: self.edit_gates())
        gates_row.addWidget(self.edit_gates_btn)
        layout.addLayout(gates_row)
        self.warnings = MessageBanner()
        layout.addWidget(self.warnings)
        row = QHBoxLayout()
        row.addWidget(QLabel("Per slice on"))
        self.slice_split = QComboBox()
        self.slice_split.addItems(["test", "validation"])
        self.slice_split.currentIndexChanged.connect(lambda _i: self._fill_slices())
        row.addWidget(self.slice_split)
        row.addStretch(1)
        layout.addLayout(row)
        self.slices = QTableWidget(0, 6)
        self.slices.setHorizontalHeaderLabels(["Slice", "n", "Baseline", "Candidate", "Delta", "Gate"])
        self._table_style(self.slices)
        layout.addWidget(self.slices, 1)
        return page

    @staticmethod
    def _table_style(table: QTableWidget) -> None:
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setWordWrap(False)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

    def _build_prompt(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.picker = ExamplePicker(self.session)
        self.picker.changed.connect(self._schedule_prompt)
        layout.addWidget(self.picker)
        self.prompt_status = muted()
        layout.addWidget(self.prompt_status)
        self.prompt_view = self._text_view("The exact messages this run's program sends for the example.")
        layout.addWidget(self.prompt_view, 1)
        return page

    def _build_actions(self) -> QWidget:
        box = QGroupBox("Decision")
        layout = QVBoxLayout(box)
        self.review_state = QLabel()
        self.review_state.setWordWrap(True)
        layout.addWidget(self.review_state)
        row = QHBoxLayout()
        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText("Note for the record (why you approve or reject)")
        row.addWidget(self.note_edit, 1)
        self.approve_btn = QPushButton("Approve")
        self.reject_btn = QPushButton("Reject")
        self.export_btn = QPushButton("Export…")
        self.export_btn.setToolTip("Write the state-only artifact bundle (state.json, program.py, manifest.json)")
        for b in (self.approve_btn, self.reject_btn, self.export_btn):
            row.addWidget(b)
        layout.addLayout(row)
        # A stopped run's kept candidate, measured as a finished run is (engine.jobs.kept_candidate).
        evaluate_row = QHBoxLayout()
        self.evaluate_btn = QPushButton("Evaluate the kept candidate")
        self.evaluate_btn.setToolTip("Score the candidate and the baseline on validation and test with the "
                                     "run's model, as a finished run is; then it can be approved or rejected")
        self.evaluate_btn.setVisible(False)
        self.evaluate_btn.clicked.connect(lambda: self.evaluate_kept_candidate())
        self.evaluate_status = QLabel()
        evaluate_row.addWidget(self.evaluate_btn)
        evaluate_row.addWidget(self.evaluate_status, 1)
        layout.addLayout(evaluate_row)
        self.approve_btn.clicked.connect(lambda: self.review("approved"))
        self.reject_btn.clicked.connect(lambda: self.review("rejected"))
        self.export_btn.clicked.connect(self.export)
        self.actions_box = box
        return box

    # -- Pane contract ----------------------------------------------------------------------------------

    def is_busy(self) -> bool:
        """True while an export or a review is being written (reads and renders do not count:
        they lose nothing, and `shutdown` waits for them)."""
        return self._workers.busy("export") or self._workers.busy("review") or self._workers.busy("evaluate")

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        self._prompt_timer.stop()
        self._workers.shutdown(timeout_ms)

    # -- choosing a run -----------------------------------------------------------------------------------

    def _reload(self) -> None:
        self._data = None
        self.run_combo.clear()
        self._show_empty(True)
        self.picker.refresh()
        self._refresh_list()

    def _show_empty(self, empty: bool) -> None:
        self.tabs.setVisible(not empty)
        self.actions_box.setVisible(not empty)
        self.summary.setVisible(not empty)
        self.empty.setVisible(empty)
        if empty:
            self.banner.clear_message()
            self.judge_record.clear_message()

    def edit_gates(self, gates: list[tuple[str, float]] | None = None) -> bool:
        """Edit the release gates (asks with a dialog when `gates` is None); one undoable step."""
        from desktop import messages
        from engine.errors import WorkbenchError
        from engine.gates import gate_slices, set_gate

        project = self.session.project
        if project is None:
            return False
        before = [(g.slice, g.min_score) for g in project.config.gates]
        if gates is None:
            from desktop.dialogs.gates_dialog import GatesDialog

            dialog = GatesDialog(gate_slices(project), before, self)
            if not dialog.exec():
                return False
            gates = dialog.gates()
        old_config = list(project.config.gates)
        try:
            project.config.gates = []
            for slice_name, minimum in gates:
                set_gate(project, slice_name, minimum)
        except WorkbenchError as exc:
            project.config.gates = old_config
            messages.error(self, "Release gates", str(exc))
            return False
        after = [(g.slice, g.min_score) for g in project.config.gates]
        project.config.gates = old_config
        if after == before:
            return False
        self.session.undo_stack.push(_SetGatesCommand(self, before, after))
        return True

    def _gates_applied(self) -> None:
        self.session.notify_changed()
        if self._data is not None:
            self._load(self._data["record"].run_id)

    def show_run(self, run_id: str) -> None:
        """Show this run (the Runs pane calls this on a double-click)."""
        self._wanted = run_id
        index = self.run_combo.findData(run_id)
        if index >= 0:
            self.run_combo.setCurrentIndex(index)
            self._load(run_id)
        else:
            self._refresh_list()

    def _refresh_list(self, *_args) -> None:
        project = self.session.project
        if project is None:
            return
        if self._workers.busy("list"):
            self._list_pending = True
            return
        self._workers.spawn("list", lambda: (project, project.store.list_runs(limit=1000)),
                            on_result=self._list_read, on_error=self._show_error)

    def _list_read(self, result) -> None:
        project, runs = result
        if project is not self.session.project:
            return
        current = self._wanted or self.run_combo.currentData()
        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        for r in runs:
            review = r.review.decision if r.review else "unreviewed"
            test = (r.scores or {}).get("test", {})
            score = f" · test {test['baseline']:.2f} → {test['candidate']:.2f}" if {"baseline", "candidate"} <= set(test) else ""
            self.run_combo.addItem(f"{r.run_id} · {r.optimizer} · {r.status.replace('_', ' ')} · {review}{score}", r.run_id)
        self.run_combo.blockSignals(False)
        if self._list_pending:
            self._list_pending = False
            QTimer.singleShot(0, self._refresh_list)
        if not runs:
            self._show_empty(True)
            return
        index = self.run_combo.findData(current) if current else -1
        self.run_combo.setCurrentIndex(index if index >= 0 else 0)
        chosen = self.run_combo.currentData()
        loaded = self._data["record"] if self._data else None
        summary = next(r for r in runs if r.run_id == chosen)
        stale = (loaded is None or loaded.run_id != chosen or loaded.status != summary.status
                 or (loaded.review != summary.review))
        if stale:
            self._load(chosen)

    def _load_selected(self) -> None:
        run_id = self.run_combo.currentData()
        if run_id:
            self._wanted = run_id
            self._load(run_id)

    def _load(self, run_id: str) -> None:
        project = self.session.project
        if project is None:
            return
        self._wanted = run_id
        self.banner.show_info(f"Loading run {run_id}…")
        self._workers.spawn("load", lambda: load_run(project, run_id), on_result=self._loaded,
                            on_error=self._show_error)

    def _show_error(self, message: str) -> None:
        self.banner.show_error(message)
        self.failed.emit(message)

    # -- showing a run -----------------------------------------------------------------------------------

    def _loaded(self, data: dict) -> None:
        if data["project"] is not self.session.project or data["record"].run_id != self._wanted:
            return  # an older request finished after a newer one was made
        self._data = data
        self._show_empty(False)
        self.banner.clear_message()
        record, report = data["record"], data["report"]
        model = report["model"]
        params = ", ".join(f"{k}={v}" for k, v in report["optimizer"]["params"].items() if v is not None)
        status = record.status.replace("_", " ")
        error = f" ({report['error']})" if report["error"] else ""  # with what an interrupted run kept
        self.summary.setText(
            f"<b>{status}</b>{_html(error)} · {record.optimizer} ({_html(params) or 'defaults'}), seed {record.seed}"
            f" · model {_html(model['profile'])} = {_html(model['name'])} "
            f"<span title='{_html(model['revision'])}'>{short_revision(model['revision'], 16)}</span>"
            f" · {report['adapter_format']} format, answers: {report['answers']} · {report['lm_calls']:,} LM calls "
            f"({report['cached_calls']:,} cached) · {report['elapsed_s']:.1f} s"
        )
        from engine.calibration import judge_record_lines

        judge_lines, judge = judge_record_lines(report), report.get("judge") or {}
        if judge and not judge.get("calibrated"):
            self.judge_record.show_warning("\n".join(judge_lines))
        else:
            self.judge_record.show_info("\n".join(judge_lines))
        current_fp = self.session.project.program.fingerprint()
        if record.program_fingerprint != current_fp:
            self.banner.show_warning("This run was compiled for an earlier version of the program; "
                                     "its prompt and diff show that version.")
        self._fill_overall()
        self._fill_slices()
        self._fill_chosen()
        self.diff_view.setPlainText(data["diff"])
        self._fill_review()
        self._schedule_prompt()
        self.run_loaded.emit(record.run_id)

    def _fill_overall(self) -> None:
        report = self._data["report"]
        evaluations = report["evaluations"]
        splits = [s for s in ("validation", "test") if s in evaluations]
        self.overall.setRowCount(len(splits))
        fails_all = self._failing_slices()
        for r, split in enumerate(splits):
            figures = evaluations[split]
            base, cand, diff = figures.get("baseline"), figures.get("candidate"), figures.get("difference")
            n = (cand or base or {}).get("n", 0)
            if diff:
                d_text = (f"{diff['candidate_minus_baseline']:+.3f}  "
                          f"[{diff['ci95'][0]:+.2f}, {diff['ci95'][1]:+.2f}]")
                verdict = "significant" if diff["significant"] else "not significant"
            else:
                d_text, verdict = "—", "incomplete"
            cells = [split, str(n), _score_cell(base), _score_cell(cand), d_text, verdict]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 5 and diff:
                    better = diff["candidate_minus_baseline"] > 0
                    item.setForeground(good_color(self) if diff["significant"] and better
                                       else bad_color(self) if diff["significant"] else warn_color(self))
                if split == "test" and c == 3 and ALL_SLICE in fails_all:
                    item.setBackground(tint(bad_color(self)))
                self.overall.setItem(r, c, item)
        fit_table_height(self.overall, 2)
        gates = report["gates"]
        if not gates["checked"]:
            self.gates_label.setText("No release gates are set for this project.")
            self.gates_label.setStyleSheet("")
        elif gates["passed"]:
            mins = ", ".join(f"{g['slice']} ≥ {g['min_score']:.2f}" for g in gates["checked"])
            self.gates_label.setText(f"✔ Release gates passed on test ({mins}).")
            self.gates_label.setStyleSheet(f"color: {good_color(self).name()}")
        else:
            self.gates_label.setText("✖ Release gates failed: " + "; ".join(gates["failures"])
                                     + ". Do not promote this candidate.")
            self.gates_label.setStyleSheet(f"color: {bad_color(self).name()}; font-weight: bold")
        warnings = list(report["warnings"])
        if warnings:
            self.warnings.show_warning("\n".join(f"⚠ {w}" for w in warnings))
        else:
            self.warnings.clear_message()

    def _gates(self) -> dict[str, float]:
        return {g["slice"]: g["min_score"] for g in self._data["report"]["gates"]["checked"]}

    def _failing_slices(self) -> set[str]:
        evaluations = self._data["report"]["evaluations"]
        cand = (evaluations.get("test") or {}).get("candidate")
        failing = set()
        for tag, minimum in self._gates().items():
            if cand is None:
                failing.add(tag)
            elif tag == ALL_SLICE:
                if cand["score"] < minimum - 1e-9:
                    failing.add(tag)
            else:
                figures = cand["per_slice"].get(tag)
                if figures is None or figures["n"] == 0 or figures["score"] < minimum - 1e-9:
                    failing.add(tag)
        return failing

    def _fill_slices(self) -> None:
        if self._data is None:
            return
        split = self.slice_split.currentText()
        figures = self._data["report"]["evaluations"].get(split) or {}
        base = (figures.get("baseline") or {}).get("per_slice", {})
        cand = (figures.get("candidate") or {}).get("per_slice", {})
        gates = self._gates()
        failing = self._failing_slices() if split == "test" else set()
        tags = sorted(set(base) | set(cand) | ({t for t in gates if t != ALL_SLICE} if split == "test" else set()))
        self.slices.setRowCount(len(tags))
        for r, tag in enumerate(tags):
            b, c = base.get(tag), cand.get(tag)
            n = (c or b or {}).get("n", 0)
            delta = f"{c['score'] - b['score']:+.3f}" if b and c else "—"
            gate = ""
            if tag in gates and split == "test":
                gate = f"≥ {gates[tag]:.2f}  " + ("FAILS" if tag in failing else "passes")
            cells = [tag, str(n), f"{b['score']:.3f}" if b else "—", f"{c['score']:.3f}" if c else "—", delta, gate]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if tag in failing:
                    item.setBackground(tint(bad_color(self)))
                    if col == 5:
                        item.setForeground(bad_color(self))
                if c and b and col == 4:
                    item.setForeground(good_color(self) if c["score"] > b["score"] else
                                       bad_color(self) if c["score"] < b["score"] else item.foreground())
                self.slices.setItem(r, col, item)

    def _fill_chosen(self) -> None:
        chosen = self._data["chosen"]
        if not chosen:
            status = self._data["record"].status
            self.chosen_view.setPlainText(
                "This run is still compiling; its choices appear when the optimizer finishes."
                if status == "running" else "This run ended before the optimizer produced a program.")
            return
        blocks = []
        for name, entry in chosen.items():
            lines = [f"━━ predictor {name} ━━", *_predictor_lines(entry)]
            blocks.append("\n".join(lines))
        self.chosen_view.setPlainText("\n\n".join(blocks))

    def _fill_review(self) -> None:
        record = self._data["record"]
        review = record.review
        if review is None:
            self.review_state.setText("Not reviewed yet. Approve or reject with a note; an export "
                                      "of an unreviewed run says so in its manifest.")
            self.review_state.setStyleSheet(f"color: {warn_color(self).name()}")
        else:
            color = good_color(self) if review.decision == "approved" else bad_color(self)
            note = f": “{review.note}”" if review.note else ""
            self.review_state.setText(f"{review.decision.capitalize()} by {review.reviewer or 'someone'} "
                                      f"on {review.at[:16].replace('T', ' ')} UTC{note}")
            self.review_state.setStyleSheet(f"color: {color.name()}")
        from engine.review import approval_blocker

        reviewable = record.status in REVIEWABLE and record.program_state is not None
        why = "" if reviewable else f"Only a run with a program can be reviewed (this one is {record.status})."
        blocker = approval_blocker(self._data["report"]) if reviewable else None
        self.reject_btn.setEnabled(reviewable)
        self.reject_btn.setToolTip(why)
        self.approve_btn.setEnabled(reviewable and blocker is None)
        self.approve_btn.setToolTip(why or (blocker[:1].upper() + blocker[1:] + "." if blocker else ""))
        self.evaluate_btn.setVisible(bool(blocker))
        self.evaluate_btn.setEnabled(bool(blocker) and not self._workers.busy("evaluate"))
        if blocker:
            self.review_state.setText(f"Cannot be approved or exported yet: {blocker}.")
            self.review_state.setStyleSheet(f"color: {warn_color(self).name()}")
        outdated = self._data["report"]["adapter_outdated"]
        exportable = reviewable and blocker is None and not (review and review.decision == "rejected") and not outdated
        self.export_btn.setEnabled(exportable)
        if review and review.decision == "rejected":
            self.export_btn.setToolTip("A rejected run cannot be exported; approve it first.")
        elif blocker:
            self.export_btn.setToolTip(blocker[:1].upper() + blocker[1:] + ".")
        elif outdated:
            self.export_btn.setToolTip("Compiled with another version of the prompt format; "
                                       "compile it again to export it.")
        elif not reviewable:
            self.export_btn.setToolTip(why)
        else:
            self.export_btn.setToolTip("Write the state-only artifact bundle (state.json, program.py, manifest.json)")

    # -- the exact prompt ----------------------------------------------------------------------------------

    def _schedule_prompt(self) -> None:
        if self._data is not None:
            self._prompt_timer.start()

    def _render_prompt(self) -> None:
        if self._data is None:
            return
        if self._workers.busy("prompt"):
            self._prompt_timer.start()
            return
        record, spec = self._data["record"], self._data["spec"]
        inputs = self.picker.values(spec.input_names) or {n: f"<{n}>" for n in spec.input_names}
        state, fmt = record.program_state, record.adapter_format
        self.prompt_status.setText("Rendering…")

        def render():
            from engine.prompts import messages_text, render_program_prompts

            rendered = render_program_prompts(spec, inputs, state=state, prompt_format=fmt)
            return "\n\n".join((f"━━ predictor {p.predictor} ━━\n" if len(rendered) > 1 else "")
                               + messages_text(p.messages) for p in rendered)

        self._workers.spawn("prompt", render, on_result=self._prompt_done, on_error=self._prompt_failed)

    def _prompt_done(self, text: str) -> None:
        self.prompt_view.setPlainText(text)
        example = self.picker.example_id()
        record = self._data["record"]
        outdated = " (as this Workbench renders it: the run was scored with another version)" \
            if self._data["report"]["adapter_outdated"] else ""
        self.prompt_status.setText(f"{record.adapter_format} format{outdated} with this run's state"
                                   + (f" · example {example}" if example else "") + " · rendered offline")
        self.prompt_rendered.emit()

    def _prompt_failed(self, message: str) -> None:
        self.prompt_status.setText(f"Could not render the prompt: {message}")
        self.prompt_rendered.emit()

    # -- evaluating a stopped run's candidate -------------------------------------------------------------

    def evaluate_kept_candidate(self) -> None:
        """Run the evaluations a stopped run did not reach, in the background; then show the run again."""
        from engine.jobs.kept_candidate import KeptCandidateJob

        if self._data is None or self._workers.busy("evaluate"):
            return
        project, run_id = self.session.project, self._data["record"].run_id
        self.evaluate_btn.setEnabled(False)
        self.evaluate_status.setText("Evaluating on validation and test…")

        def work():
            job = KeptCandidateJob(project, run_id)
            job.prepare()
            return job.run()

        self._workers.spawn("evaluate", work, on_result=lambda _record: self._kept_evaluated(run_id),
                            on_error=self._kept_failed)

    def _kept_evaluated(self, run_id: str) -> None:
        self.evaluate_status.setText("Evaluated.")
        self.kept_candidate_evaluated.emit(run_id)
        self.session.runs_changed.emit()
        self._load(run_id)

    def _kept_failed(self, message: str) -> None:
        self.evaluate_status.setText("")
        self.evaluate_btn.setEnabled(True)
        self._show_error(message)

    # -- decisions --------------------------------------------------------------------------------------------

    def review(self, decision: str) -> None:
        """Record `decision` ("approved" or "rejected") with the note, as the login user."""
        if self._data is None:
            return
        from desktop import messages
        from engine.review import review_run

        project, run_id = self.session.project, self._data["record"].run_id
        note, reviewer = self.note_edit.text().strip(), login_name()
        gates = self._data["report"]["gates"]
        failed_gates = decision == "approved" and gates["checked"] and not gates["passed"]
        if failed_gates:
            if not note:
                messages.error(self, "Approve a candidate that failed its gates",
                               "This candidate failed its release gates (" + "; ".join(gates["failures"])
                               + "). Write in the note why you approve it anyway, then approve again.")
                return
            if not messages.confirm(self, "Approve a candidate that failed its gates",
                                    "This candidate failed its release gates (" + "; ".join(gates["failures"])
                                    + f"). Approve it anyway, with the note “{note}”?",
                                    yes="Approve anyway", no="Cancel"):
                return
        for b in (self.approve_btn, self.reject_btn):
            b.setEnabled(False)

        def save():
            review_run(project, run_id, decision, note=note, reviewer=reviewer, accept_failed_gates=failed_gates)
            return decision

        self._workers.spawn("review", save, on_result=self._reviewed, on_error=self._review_failed)

    def _reviewed(self, decision: str) -> None:
        self.note_edit.clear()
        self.review_saved.emit(decision)
        self.session.runs_changed.emit()  # reloads the list and this run

    def _review_failed(self, message: str) -> None:
        self._fill_review()
        self._show_error(message)

    def _confirm_unreviewed(self) -> bool:
        from desktop import messages

        return messages.confirm(self, "Export an unreviewed run",
                                "This run is not reviewed. Export it marked as unreviewed?",
                                yes="Export unreviewed", no="Cancel")

    def _ask_export_folder(self) -> str:
        from desktop import messages

        project = self.session.project
        return messages.choose_folder(self, "Export the artifact into a folder",
                                      str(project.artifacts_dir if project else Path.home()))

    def export(self) -> None:
        """Ask for a folder and write the run's artifact bundle there (in the background)."""
        if self._data is None or self._workers.busy("export"):
            return
        record = self._data["record"]
        if record.review is None and not self._confirm_unreviewed():
            return
        folder = self._ask_export_folder()
        if not folder:
            return
        target = Path(folder)
        if target.exists() and any(target.iterdir()):
            target = target / f"{self.session.project.name}-{record.run_id}"
        project, run_id = self.session.project, record.run_id
        self.export_btn.setEnabled(False)
        self.banner.show_info(f"Exporting run {run_id} to {target}…")

        def write():
            from engine.artifacts import export_run

            manifest = export_run(project, run_id, target)
            return str(target), manifest.review.status

        self._workers.spawn("export", write, on_result=self._exported, on_error=self._export_failed)

    def _exported(self, result) -> None:
        path, review = result
        self.banner.show_info(f"Exported to {path} (review: {review}).")
        self._fill_review()
        self.exported.emit(path)

    def _export_failed(self, message: str) -> None:
        self._fill_review()
        self._show_error(f"Export failed: {message}")


def _html(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _SetGatesCommand(QUndoCommand):
    """Replace the project's gates (engine.gates.set_gate checked them); undo puts the old ones back."""

    def __init__(self, pane: ReviewPane, before: list[tuple[str, float]], after: list[tuple[str, float]]):
        super().__init__("Edit release gates")
        self._pane, self._before, self._after = pane, before, after

    def _apply(self, gates) -> None:
        from engine.project import Gate

        self._pane.session.project.config.gates = [Gate(slice=s, min_score=m) for s, m in gates]
        self._pane._gates_applied()

    def redo(self) -> None:
        self._apply(self._after)

    def undo(self) -> None:
        self._apply(self._before)
