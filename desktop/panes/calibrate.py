"""The Metric pane's Calibrate tab: label the program's outputs, then check the judge against you.

1. Pick N examples of a split (validation by default) and generate the program's outputs for them,
   from the baseline or any finished run (`engine.calibration.generate_outputs`, in a JobWorker:
   progress and Cancel). Or import labels from a CSV/JSONL file (`read_label_file`).
2. Label each output with the keyboard (`LabelTable`): P, Y or 1 = pass; F, N or 0 = fail; on a
   1-5 verdict the digits 1-5 are the score; J/K or the arrows move, Backspace clears. The row
   advances after a label. Every label is saved to the project's label file through the engine
   (`save_labels`, on a background thread, a moment after the last key).
3. Run the judge on exactly those labelled outputs (`run_calibration`, JobWorker: progress and
   Cancel) and read agreement, Cohen's kappa with its 95% interval, TPR, TNR, the confusion
   matrix, pass/fail against the threshold, the engine's warnings, and the disagreements one by
   one with the judge's exact prompt.

Nothing here decides whether a judge may be used: `calibration_status` (shown at the top) and the
refusal in compile/evaluate are the engine's.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDoubleSpinBox, QGroupBox, QHBoxLayout,
                               QHeaderView, QLabel, QPlainTextEdit, QProgressBar, QPushButton, QSpinBox,
                               QSplitter, QTableView, QTableWidget, QTableWidgetItem, QTextBrowser,
                               QVBoxLayout,
                               QWidget)

from desktop import background, messages
from desktop.judge_labels_model import (PASS_FAIL, SCALE_1_5, JudgeLabelsModel, LabelRow, label_text,
                                        score_to_value)
from desktop.panes.common import (MessageBanner, bad_color, good_color, monospace_font, muted,
                                  short_revision)
from desktop.worker import JobWorker
from engine.errors import WorkbenchError

LABEL_FILES = "Label files (*.csv *.jsonl *.ndjson);;All files (*)"
PASS_KEYS = {Qt.Key.Key_P, Qt.Key.Key_Y}
FAIL_KEYS = {Qt.Key.Key_F, Qt.Key.Key_N}
SCORE_KEYS = {Qt.Key.Key_1: 1, Qt.Key.Key_2: 2, Qt.Key.Key_3: 3, Qt.Key.Key_4: 4, Qt.Key.Key_5: 5}
SAVE_DELAY_MS = 300


class LabelTable(QTableView):
    """The labels table (over a JudgeLabelsModel), labelled from the keyboard.

    Signals:
        label_pressed(int, object)   row int got a label from the keyboard: a value in [0, 1], or
                                     None (cleared); the model has it already
    """

    label_pressed = Signal(int, object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setWordWrap(False)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)

    def _value_for(self, event: QKeyEvent):
        key = event.key()
        model = self.model()
        scale = getattr(model, "verdict", PASS_FAIL) == SCALE_1_5
        if key in PASS_KEYS:
            return 1.0
        if key in FAIL_KEYS:
            return 0.0
        if scale and key in SCORE_KEYS:
            return score_to_value(SCORE_KEYS[key])
        if not scale and key == Qt.Key.Key_1:
            return 1.0
        if not scale and key == Qt.Key.Key_0:
            return 0.0
        return ...

    def move(self, delta: int) -> None:
        model = self.model()
        if model is None or model.rowCount() == 0:
            return
        row = self.currentIndex().row()
        row = 0 if row < 0 else max(0, min(model.rowCount() - 1, row + delta))
        self.selectRow(row)
        self.setCurrentIndex(model.index(row, max(0, self.currentIndex().column())))

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        if event.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
                                | Qt.KeyboardModifier.MetaModifier):
            super().keyPressEvent(event)
            return
        key = event.key()
        if key == Qt.Key.Key_J:
            self.move(1)
            return
        if key == Qt.Key.Key_K:
            self.move(-1)
            return
        row = self.currentIndex().row()
        if key in (Qt.Key.Key_Backspace, Qt.Key.Key_Delete):
            if row >= 0:
                self.model().set_label(row, None)
                self.label_pressed.emit(row, None)
            return
        value = self._value_for(event)
        if value is not ... and row >= 0:
            self.model().set_label(row, value)
            self.label_pressed.emit(row, value)
            self.move(1)
            return
        super().keyPressEvent(event)


class CalibrateView(QWidget):
    """Label outputs and calibrate the judge (see the module docstring).

    Signals:
        outputs_generated()       generated outputs were put in the table (or generation ended)
        labels_saved()            the labels were written to the project's label file
        calibration_finished(object)   a CalibrationResult (None when the run failed or was cancelled)
    """

    outputs_generated = Signal()
    labels_saved = Signal()
    calibration_finished = Signal(object)

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self._gen_worker: JobWorker | None = None
        self._judge_worker: JobWorker | None = None
        self._saving = False
        self._save_again = False
        self.result = None
        self._disagreement = 0
        self._build()
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self.save_labels)
        session.opened.connect(self.reload)
        session.closed.connect(self.reload)
        session.metric_changed.connect(self._metric_changed)
        session.runs_changed.connect(self._fill_sources)
        session.splits_changed.connect(self._update_buttons)
        self.reload()

    # -- layout --------------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 4, 0, 0)
        self.status = MessageBanner()
        outer.addWidget(self.status)
        self.no_judge = muted("Calibration checks an LLM judge against your own labels. Choose the kind "
                              "“LLM judge” (or add one to a composite) on the Define tab first.")
        self.no_judge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        outer.addWidget(self.no_judge)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self._build_labelling())
        self.splitter.addWidget(self._build_results())
        self.splitter.setSizes([620, 480])
        outer.addWidget(self.splitter, 1)

    def _build_labelling(self) -> QWidget:
        box = QGroupBox("Your labels")
        v = QVBoxLayout(box)
        row = QHBoxLayout()
        row.addWidget(QLabel("Examples"))
        self.count_spin = QSpinBox()
        self.count_spin.setRange(1, 10_000)
        self.count_spin.setValue(20)
        self.count_spin.setToolTip("How many examples of the split to label (20 or more for a kappa "
                                   "you can trust)")
        row.addWidget(self.count_spin)
        row.addWidget(QLabel("of"))
        self.split_combo = QComboBox()
        self.split_combo.addItems(["validation", "train", "test"])
        row.addWidget(self.split_combo)
        row.addWidget(QLabel("outputs from"))
        self.source_combo = QComboBox()
        self.source_combo.setToolTip("The program whose outputs you label: the uncompiled baseline or a run")
        self.source_combo.setMinimumContentsLength(14)
        self.source_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        row.addWidget(self.source_combo, 1)
        v.addLayout(row)
        row = QHBoxLayout()
        self.generate_btn = QPushButton("Generate outputs")
        self.generate_btn.setToolTip("Run the program on these examples to get outputs to label")
        self.generate_btn.clicked.connect(self.generate_outputs)
        row.addWidget(self.generate_btn)
        self.generate_cancel_btn = QPushButton("Cancel")
        self.generate_cancel_btn.setEnabled(False)
        self.generate_cancel_btn.clicked.connect(self.cancel_generation)
        row.addWidget(self.generate_cancel_btn)
        self.import_btn = QPushButton("Import labels…")
        self.import_btn.setToolTip("A CSV or JSONL file: id, one column per judged output field, and human "
                                   "(pass/fail, yes/no, 1/0 or a number in [0, 1])")
        self.import_btn.clicked.connect(self.import_labels)
        row.addWidget(self.import_btn)
        row.addStretch(1)
        v.addLayout(row)
        self.generate_progress = QProgressBar()
        self.generate_progress.setTextVisible(True)
        self.generate_progress.hide()
        v.addWidget(self.generate_progress)
        self.labelling_error = MessageBanner()
        v.addWidget(self.labelling_error)
        v.addWidget(muted("Keys: P, Y or 1 = pass · F, N or 0 = fail · 1-5 = a score on a 1-5 verdict · "
                          "J/K or ↑/↓ to move · Backspace clears. The next row follows each label."))
        self.model = JudgeLabelsModel(self)
        self.table = LabelTable()
        self.table.setModel(self.model)
        self.table.label_pressed.connect(self._label_pressed)
        self.table.selectionModel().currentRowChanged.connect(lambda *a: self._show_current())
        self.model.modelReset.connect(self._table_reset)
        v.addWidget(self.table, 2)
        self.current_view = QTextBrowser()
        self.current_view.setPlaceholderText("The selected example's inputs, gold and the program's output.")
        v.addWidget(self.current_view, 1)
        self.label_count = muted()
        v.addWidget(self.label_count)
        return box

    def _build_results(self) -> QWidget:
        box = QGroupBox("The judge against your labels")
        v = QVBoxLayout(box)
        row = QHBoxLayout()
        self.run_btn = QPushButton("Run the judge")
        self.run_btn.clicked.connect(self.run_calibration)
        row.addWidget(self.run_btn)
        self.run_cancel_btn = QPushButton("Cancel")
        self.run_cancel_btn.setEnabled(False)
        self.run_cancel_btn.clicked.connect(self.cancel_calibration)
        row.addWidget(self.run_cancel_btn)
        row.addStretch(1)
        row.addWidget(QLabel("Passes at kappa ≥"))
        self.threshold_spin = QDoubleSpinBox()
        self.threshold_spin.setRange(0.0, 1.0)
        self.threshold_spin.setSingleStep(0.05)
        self.threshold_spin.setDecimals(2)
        self.threshold_spin.setValue(0.6)
        self.threshold_spin.setKeyboardTracking(False)
        self.threshold_spin.setToolTip("The project's acceptance threshold for the judge (recorded with "
                                       "every calibration and run)")
        self.threshold_spin.valueChanged.connect(self._threshold_changed)
        row.addWidget(self.threshold_spin)
        v.addLayout(row)
        self.run_progress = QProgressBar()
        self.run_progress.setTextVisible(True)
        self.run_progress.hide()
        v.addWidget(self.run_progress)
        self.figures = QLabel()
        self.figures.setWordWrap(True)
        self.figures.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        v.addWidget(self.figures)
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        v.addWidget(self.verdict)
        self.confusion = QTableWidget(2, 2)
        self.confusion.setHorizontalHeaderLabels(["Judge: pass", "Judge: fail"])
        self.confusion.setVerticalHeaderLabels(["You: pass", "You: fail"])
        self.confusion.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.confusion.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.confusion.setFixedHeight(self.confusion.horizontalHeader().sizeHint().height()
                                      + 2 * self.confusion.verticalHeader().defaultSectionSize() + 6)
        v.addWidget(self.confusion)
        self.warnings = MessageBanner()
        v.addWidget(self.warnings)
        row = QHBoxLayout()
        row.addWidget(QLabel("Disagreements"))
        self.prev_btn = QPushButton("◀ Previous")
        self.prev_btn.clicked.connect(lambda: self.show_disagreement(self._disagreement - 1))
        self.next_btn = QPushButton("Next ▶")
        self.next_btn.clicked.connect(lambda: self.show_disagreement(self._disagreement + 1))
        self.disagreement_label = muted(wrap=False)
        row.addWidget(self.prev_btn)
        row.addWidget(self.disagreement_label)
        row.addWidget(self.next_btn)
        row.addStretch(1)
        v.addLayout(row)
        self.disagreement_view = QPlainTextEdit()
        self.disagreement_view.setReadOnly(True)
        self.disagreement_view.setFont(monospace_font())
        self.disagreement_view.setPlaceholderText("Each example where the judge and you disagree, with the "
                                                  "judge's exact prompt, appears here after a run.")
        v.addWidget(self.disagreement_view, 1)
        return box

    # -- Pane-like contract --------------------------------------------------------------------------

    def _running(self) -> bool:
        return any(w is not None and w.is_running() for w in (self._gen_worker, self._judge_worker))

    def is_busy(self) -> bool:
        return self._running() or self._saving

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        if self._save_timer.isActive():
            self._save_timer.stop()
            self._save_now(blocking=True)
        for worker in (self._gen_worker, self._judge_worker):
            if worker is not None:
                worker.shutdown(timeout_ms)

    # -- project state -------------------------------------------------------------------------------

    def _judge(self) -> dict | None:
        from desktop.panes.metric import judge_in

        project = self.session.project
        if project is None:
            return None
        return judge_in(dict(project.config.metric or {}))

    def reload(self) -> None:
        """A project was opened or closed: read its saved labels and calibration state."""
        self._save_timer.stop()
        self.result = None
        self._show_result(None)
        self.labelling_error.clear_message()
        self._fill_sources()
        self._load_saved_labels()
        self._metric_changed()

    def _metric_changed(self) -> None:
        judge = self._judge()
        has_judge = judge is not None
        self.no_judge.setVisible(self.session.project is not None and not has_judge)
        self.splitter.setVisible(has_judge)
        if has_judge:
            fields = list(judge.get("outputs") or [])
            verdict = judge.get("verdict") or PASS_FAIL
            if fields != self.model.fields:
                rows = [LabelRow(r.example_id, {f: r.outputs.get(f, "") for f in fields}, r.human)
                        for r in self.model.rows()]
                self.model.set_rows(rows, fields, verdict)
            else:
                self.model.set_verdict(verdict)
        self.refresh_status()
        self._update_buttons()

    def refresh_status(self) -> None:
        """Show the engine's word on the judge's calibration (none, uncalibrated, failed, stale, passed)."""
        project = self.session.project
        if project is None or self._judge() is None:
            self.status.clear_message()
            return
        from engine.calibration import calibration_status

        try:
            status = calibration_status(project)
        except WorkbenchError as exc:
            self.status.show_error(str(exc))
            return
        message = status.message[:1].upper() + status.message[1:] + "."
        if status.state == "passed":
            self.status.show_info(f"✔ {message}")
        elif status.state in ("failed", "stale"):
            self.status.show_error(f"{message} Compiles and evaluations refuse this judge until it passes, "
                                   "unless you tick “Allow an uncalibrated judge” in the Runs pane.")
        else:
            self.status.show_warning(f"{message} Label outputs below and run the judge on them; until it "
                                     "passes, compiles and evaluations refuse it.")
        threshold = (self._judge() or {}).get("calibration_threshold")
        if threshold is not None and abs(threshold - self.threshold_spin.value()) > 1e-9:
            self.threshold_spin.blockSignals(True)
            self.threshold_spin.setValue(float(threshold))
            self.threshold_spin.blockSignals(False)

    def _fill_sources(self) -> None:
        """Baseline, then every run that left a program (read from the history off the GUI thread)."""
        current = self.source_combo.currentData()
        self.source_combo.clear()
        self.source_combo.addItem("the baseline (uncompiled)", None)
        project = self.session.project
        if project is None:
            return

        def read():
            return [(r.run_id, r.optimizer, r.status) for r in project.store.list_runs()
                    if r.status in ("succeeded", "cancelled", "stopped_by_budget")]

        def fill(runs):
            if self.session.project is not project:
                return
            for run_id, optimizer, status in runs:
                self.source_combo.addItem(f"run {run_id[:8]} · {optimizer} · {status.replace('_', ' ')}", run_id)
            self.source_combo.setCurrentIndex(max(0, self.source_combo.findData(current)))

        background.run(read, fill, lambda exc: None)

    def _load_saved_labels(self) -> None:
        project = self.session.project
        judge = self._judge()
        if project is None or judge is None:
            self.model.set_rows([], [])
            return
        fields = list((judge or {}).get("outputs") or [])
        verdict = (judge or {}).get("verdict") or PASS_FAIL
        from engine.calibration import load_labels

        try:
            labels = load_labels(project)
        except WorkbenchError as exc:
            labels = []
            self.labelling_error.show_error(f"The saved labels cannot be read: {exc}")
        rows = [LabelRow(str(lab.example_id), dict(lab.outputs), float(lab.human)) for lab in labels]
        self.model.set_rows(rows, fields or _fields_of(rows), verdict)

    # -- labelling ------------------------------------------------------------------------------------

    def _table_reset(self) -> None:
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        if self.model.columnCount() > 0:
            header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
            for c in range(1, self.model.columnCount() - 1):
                header.setSectionResizeMode(c, QHeaderView.ResizeMode.Stretch)
            header.setSectionResizeMode(self.model.columnCount() - 1, QHeaderView.ResizeMode.ResizeToContents)
        if self.model.rowCount() and self.table.currentIndex().row() < 0:
            self.table.selectRow(0)
            self.table.setCurrentIndex(self.model.index(0, 0))
        self._show_count()
        self._show_current()
        self._update_buttons()

    def _label_pressed(self, _row: int, _value) -> None:
        self._show_count()
        self._show_current()
        self._update_buttons()
        self._save_timer.start()

    def label(self, row: int, key: str) -> None:
        """Press `key` on row `row` (what a user does; for tests and scripting)."""
        from PySide6.QtTest import QTest

        self.table.setFocus()
        self.table.selectRow(row)
        QTest.keyClicks(self.table, key)

    def _show_count(self) -> None:
        n, done = self.model.rowCount(), self.model.labelled_count()
        if n == 0:
            self.label_count.setText("No outputs to label yet: generate them, or import a label file.")
        else:
            from engine.calibration import LABELS_FILE

            from engine.calibration import label_warnings

            # The engine's checks on the labels alone (kappa 0.0: there is no kappa before a run).
            warnings = label_warnings(self.model.labels(), 0.0)
            self.label_count.setText(f"{done} of {n} labelled · saved in {LABELS_FILE}"
                                     + "".join(f"<br>⚠ {_html(w)}" for w in warnings))

    def _show_current(self) -> None:
        row = self.table.currentIndex().row()
        rows = self.model.rows()
        project = self.session.project
        if project is None or not 0 <= row < len(rows):
            self.current_view.setPlainText("")
            return
        item = rows[row]
        parts = [f"<p><b>Example {_html(item.example_id)}</b> · your label: "
                 f"<b>{label_text(item.human, self.model.verdict) or 'not labelled'}</b></p>"]
        frame = project.frame
        matches = (frame["id"] == item.example_id).to_numpy().nonzero()[0] if "id" in frame.columns else []
        if len(matches):
            at = int(matches[0])
            for name in project.program.input_names:
                if name in frame.columns:
                    parts.append(f"<p><b>{_html(name)}</b>: {_html(str(frame[name].iat[at]))}</p>")
            for name in self.model.fields:
                if name in frame.columns:
                    parts.append(f"<p><b>gold {_html(name)}</b>: {_html(str(frame[name].iat[at]))}</p>")
        for name in self.model.fields:
            parts.append(f"<p><b>output {_html(name)}</b>: {_html(str(item.outputs.get(name, '')))}</p>")
        self.current_view.setHtml("".join(parts))

    def save_labels(self) -> None:
        """Write the labelled rows to the project's label file (background thread)."""
        self._save_now(blocking=False)

    def _save_now(self, *, blocking: bool) -> None:
        project = self.session.project
        if project is None:
            return
        if self._saving and not blocking:
            self._save_again = True
            return
        from engine.calibration import save_labels

        labels = self.model.labels()
        if blocking:
            try:
                save_labels(project, labels)
            except WorkbenchError as exc:
                messages.error(self, "Labels not saved", str(exc))
            return
        self._saving = True

        outcome: list[bool] = []

        def saved(_result) -> None:
            outcome.append(True)

        def failed(exc) -> None:
            self.labelling_error.show_error(f"The labels could not be saved: {exc}")

        def finished() -> None:
            self._saving = False
            if self._save_again:
                self._save_again = False
                self._save_now(blocking=False)
                return
            self._update_buttons()
            if outcome:
                self.refresh_status()
                self.labels_saved.emit()

        background.run(lambda: save_labels(project, labels), saved, failed, finished)

    def _merge(self, incoming: list[LabelRow]) -> None:
        """Put `incoming` rows in the table: a row for an id already there replaces it, unless the
        outputs are the same (then its label is kept when the incoming row has none)."""
        by_id = {r.example_id: i for i, r in enumerate(self.model.rows())}
        rows = list(self.model.rows())
        for new in incoming:
            at = by_id.get(new.example_id)
            if at is None:
                by_id[new.example_id] = len(rows)
                rows.append(new)
                continue
            old = rows[at]
            if new.human is None and old.outputs == new.outputs:
                new.human = old.human
            rows[at] = new
        self.model.set_rows(rows, self.model.fields or _fields_of(rows), self.model.verdict)

    # -- generating outputs ------------------------------------------------------------------------

    def _example_ids(self) -> list[str]:
        project = self.session.project
        frame = project.frame
        if "split" not in frame.columns:
            return []
        ids = frame.loc[frame["split"] == self.split_combo.currentText(), "id"]
        return [str(i) for i in ids.head(self.count_spin.value()).tolist()]

    def generate_outputs(self) -> bool:
        project = self.session.project
        if project is None or self._running() or self._judge() is None:
            return False
        ids = self._example_ids()
        if not ids:
            self.labelling_error.show_error(f"The {self.split_combo.currentText()} split has no examples; "
                                            "assign some in the Dataset pane, or pick another split.")
            return False
        self.labelling_error.clear_message()
        fields = self.model.fields
        run_id = self.source_combo.currentData()
        worker = JobWorker("generate-outputs", self)
        token = worker.new_token()

        def work():
            from engine.calibration import generate_outputs

            return generate_outputs(project, ids, run_id=run_id, sink=worker.sink, cancel=token)

        def add(outputs) -> int:
            outputs = outputs or {}
            self._merge([LabelRow(str(i), {f: (outputs.get(i) or {}).get(f, "") for f in fields})
                         for i in ids if i in outputs])
            return len(outputs)

        def finished(outputs) -> None:
            n = add(outputs)
            missing = len(ids) - n
            self._generation_ended(f"{n} outputs generated: label them below."
                                   + (f" {missing} examples gave no answer (it did not parse)." if missing else ""))

        def cancelled() -> None:
            n = add(worker.result)  # the engine returns what finished before the cancel
            self._generation_ended(f"Cancelled: the {n} outputs finished before it were added.")

        worker.event.connect(lambda e: self._progress(self.generate_progress, e))
        worker.finished.connect(finished)
        worker.cancelled.connect(cancelled)
        worker.failed.connect(lambda message: self._generation_ended(None, error=message))
        self._gen_worker = worker
        self.generate_progress.setRange(0, len(ids))
        self.generate_progress.setValue(0)
        self.generate_progress.setFormat(f"Generating outputs: %v of {len(ids)}")
        self.generate_progress.show()
        worker.start(work)
        self._update_buttons()
        return True

    def cancel_generation(self) -> None:
        if self._gen_worker is not None and self._gen_worker.is_running():
            self._gen_worker.cancel()
            self.generate_progress.setFormat("Cancelling: stopping at the next LM call…")

    def _generation_ended(self, info: str | None, *, error: str = "") -> None:
        worker, self._gen_worker = self._gen_worker, None
        if worker is not None:
            worker.deleteLater()
        self.generate_progress.hide()
        if error:
            self.labelling_error.show_error(f"The outputs could not be generated: {error}")
        elif info:
            self.labelling_error.show_info(info)
        self._update_buttons()
        self.table.setFocus()
        self.outputs_generated.emit()

    @staticmethod
    def _progress(bar: QProgressBar, event) -> None:
        from engine.jobs.events import Progress, StageStarted

        if isinstance(event, Progress) and event.total:
            bar.setRange(0, event.total)
            bar.setValue(event.done)
        elif isinstance(event, StageStarted) and event.total:
            bar.setRange(0, event.total)
            bar.setValue(0)

    # -- importing labels ----------------------------------------------------------------------------

    def import_labels(self, path: str | None = None) -> bool:
        project = self.session.project
        if project is None or self._running():
            return False
        path = path or messages.open_file(self, "Import labels", LABEL_FILES)
        if not path:
            return False

        def read():
            from engine.calibration import read_label_file

            return read_label_file(project, path)

        def done(labels) -> None:
            if self.session.project is not project:
                return
            self._merge([LabelRow(str(lab.example_id), dict(lab.outputs), float(lab.human)) for lab in labels])
            self.labelling_error.show_info(f"{len(labels)} labels imported from {path}.")
            self._save_now(blocking=False)
            self._update_buttons()

        def failed(exc) -> None:
            self.labelling_error.show_error(f"Nothing imported: {exc}")

        background.run(read, done, failed)
        return True

    # -- running the judge ---------------------------------------------------------------------------

    def run_calibration(self) -> bool:
        project = self.session.project
        labels = self.model.labels()
        if project is None or self._running() or not labels:
            return False
        if self._save_timer.isActive():
            self._save_timer.stop()
            self._save_now(blocking=True)  # the engine reads what the run is checked against
        worker = JobWorker("calibrate", self)
        token = worker.new_token()

        def work():
            from engine.calibration import run_calibration

            return run_calibration(project, labels, sink=worker.sink, cancel=token)

        worker.event.connect(lambda e: self._progress(self.run_progress, e))
        worker.finished.connect(self._calibrated)
        def cancelled() -> None:
            partial = worker.result  # what the judge finished: shown, never stored (the engine's rule)
            if partial is not None and getattr(partial, "n", 0):
                self.result = partial
                self._show_result(partial)
            self._calibration_ended("Cancelled: the figures cover the labels judged before it, and "
                                    "nothing was recorded.")

        worker.cancelled.connect(cancelled)
        worker.failed.connect(lambda message: self._calibration_ended(None, error=message))
        self._judge_worker = worker
        self.run_progress.setRange(0, len(labels))
        self.run_progress.setValue(0)
        self.run_progress.setFormat(f"Judging: %v of {len(labels)}")
        self.run_progress.show()
        worker.start(work)
        self._update_buttons()
        return True

    def cancel_calibration(self) -> None:
        if self._judge_worker is not None and self._judge_worker.is_running():
            self._judge_worker.cancel()
            self.run_progress.setFormat("Cancelling: stopping at the next LM call…")

    def _calibrated(self, result) -> None:
        self.result = result
        self._show_result(result)
        self._calibration_ended(None)
        self.calibration_finished.emit(result)

    def _calibration_ended(self, info: str | None, *, error: str = "") -> None:
        worker, self._judge_worker = self._judge_worker, None
        if worker is not None:
            worker.deleteLater()
        self.run_progress.hide()
        if error:
            self.warnings.show_error(f"The judge could not run: {error}")
            self.calibration_finished.emit(None)
        elif info:
            shown = self.warnings.text() if self.warnings.isVisibleTo(self) else ""
            self.warnings.show_warning(f"{info}\n{shown}".strip())
            self.calibration_finished.emit(None)
        self.refresh_status()
        self._update_buttons()

    def _threshold_changed(self, value: float) -> None:
        """Record the new threshold in the project (engine.calibration.set_threshold), undoably."""
        import copy

        from desktop.panes.metric import SetMetricCommand
        from engine.calibration import set_threshold

        project = self.session.project
        if project is None or self._judge() is None:
            return
        old = copy.deepcopy(project.config.metric)
        try:
            set_threshold(project, value)
        except WorkbenchError as exc:
            self.warnings.show_error(str(exc))
            return
        new = copy.deepcopy(project.config.metric)
        if new != old:
            self.session.undo_stack.push(SetMetricCommand(self.session, old, new, "Change the judge's threshold"))

    # -- results ------------------------------------------------------------------------------------

    def _show_result(self, result) -> None:
        for r in range(2):
            for c in range(2):
                self.confusion.setItem(r, c, QTableWidgetItem(""))
        if result is None:
            self.figures.setText("Label at least a few outputs, then run the judge on them.")
            self.verdict.setText("")
            self.warnings.clear_message()
            self.disagreement_view.setPlainText("")
            self.disagreement_label.setText("")
            self.prev_btn.setEnabled(False)
            self.next_btn.setEnabled(False)
            return
        low, high = result.kappa_ci95
        judge = result.judge or {}
        self.figures.setText(
            f"<b>{result.n}</b> labelled outputs · agreement <b>{result.agreement:.0%}</b> · "
            f"Cohen's kappa <b>{result.kappa:.2f}</b> [95% CI {low:.2f}, {high:.2f}] · "
            f"TPR {_rate(result.tpr)} · TNR {_rate(result.tnr)}<br>"
            f"judge: {_html(str(judge.get('profile', '')))} "
            f"<span title='{_html(str(judge.get('revision', '')))}'>"
            f"{short_revision(str(judge.get('revision', '')), 12)}</span> · "
            f"rubric sha256 {result.rubric_sha256[:12]}")
        if result.passed:
            self.verdict.setText(f"✔ Passed: kappa {result.kappa:.2f} ≥ threshold {result.threshold:.2f}.")
            self.verdict.setStyleSheet(f"color: {good_color(self).name()}; font-weight: bold")
        else:
            self.verdict.setText(f"✖ Failed: kappa {result.kappa:.2f} < threshold {result.threshold:.2f}. "
                                 "Do not optimize against this judge: improve the rubric or use a bigger "
                                 "judge model, then calibrate again.")
            self.verdict.setStyleSheet(f"color: {bad_color(self).name()}; font-weight: bold")
        confusion = _confusion_cells(result.confusion)
        for (r, c), count in confusion.items():
            item = QTableWidgetItem(str(count))
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            if r == c:
                item.setForeground(good_color(self))
            elif count:
                item.setForeground(bad_color(self))
            self.confusion.setItem(r, c, item)
        if result.warnings:
            self.warnings.show_warning("\n".join(f"⚠ {w}" for w in result.warnings))
        else:
            self.warnings.clear_message()
        self.show_disagreement(0)

    def show_disagreement(self, index: int) -> None:
        items = list(getattr(self.result, "disagreements", None) or [])
        if not items:
            self.disagreement_label.setText("none" if self.result is not None else "")
            self.disagreement_view.setPlainText("The judge agrees with every label." if self.result is not None
                                                else "")
            self.prev_btn.setEnabled(False)
            self.next_btn.setEnabled(False)
            return
        index = max(0, min(len(items) - 1, index))
        self._disagreement = index
        item = items[index]
        verdict = self.model.verdict
        outputs = item.get("outputs") or {}
        prompt = item.get("prompt")
        if isinstance(prompt, list):
            from engine.prompts import messages_text

            prompt = messages_text(prompt)
        lines = [f"Example {item.get('example_id')}",
                 f"Your label: {label_text(item.get('human'), verdict)}    "
                 f"Judge's verdict: {label_text(item.get('judge'), verdict)}", ""]
        lines += [f"{name}: {value}" for name, value in outputs.items()]
        lines += ["", "━━ the judge's exact prompt ━━", str(prompt or "")]
        self.disagreement_view.setPlainText("\n".join(lines))
        self.disagreement_label.setText(f"{index + 1} of {len(items)}")
        self.prev_btn.setEnabled(index > 0)
        self.next_btn.setEnabled(index < len(items) - 1)

    def _update_buttons(self, *_args) -> None:
        project = self.session.project
        busy = self._running()
        generating = self._gen_worker is not None and self._gen_worker.is_running()
        judging = self._judge_worker is not None and self._judge_worker.is_running()
        has = project is not None and self._judge() is not None
        self.generate_btn.setEnabled(has and not busy)
        self.import_btn.setEnabled(has and not busy)
        self.generate_cancel_btn.setEnabled(generating)
        labelled = self.model.labelled_count()
        self.run_btn.setEnabled(has and not busy and labelled > 0)
        self.run_btn.setText(f"Run the judge on {labelled} label{'s' if labelled != 1 else ''}")
        self.run_cancel_btn.setEnabled(judging)
        self.table.setEnabled(not generating)


def refused_in_window(exc: Exception) -> WorkbenchError:
    """The engine's refusal of an unchecked judge or an untrusted metric file, with what to do in
    the window (the engine's sentence names the CLI command)."""
    from engine.errors import UntrustedCodeError

    if isinstance(exc, UntrustedCodeError):
        hint = "In the window: read the file, then press “Trust this file…” on the Metric pane."
    else:
        hint = ("In the window: calibrate it on the Metric pane's “Calibrate the judge” tab, or tick "
                "“Allow an uncalibrated judge” in the Runs pane.")
    sentence = str(exc).rstrip()
    return WorkbenchError(f"{sentence}{'' if sentence.endswith('.') else '.'} {hint}")


def _fields_of(rows: list[LabelRow]) -> list[str]:
    names: list[str] = []
    for row in rows:
        for name in row.outputs:
            if name not in names:
                names.append(name)
    return names


def _confusion_cells(confusion) -> dict[tuple[int, int], int]:
    """The engine's confusion record as {(human row, judge column): count}, pass first.

    Accepts {"tp", "fn", "fp", "tn"} or a 2x2 list [[tp, fn], [fp, tn]].
    """
    if isinstance(confusion, dict):
        keys = {k.lower(): v for k, v in confusion.items()}
        if {"tp", "fn", "fp", "tn"} <= keys.keys():
            return {(0, 0): int(keys["tp"]), (0, 1): int(keys["fn"]),
                    (1, 0): int(keys["fp"]), (1, 1): int(keys["tn"])}
    if isinstance(confusion, (list, tuple)) and len(confusion) == 2:
        return {(r, c): int(confusion[r][c]) for r in range(2) for c in range(2)}
    return {}


def _rate(value) -> str:
    return "—" if value is None else f"{value:.0%}"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

