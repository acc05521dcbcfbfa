"""The Runs pane: start a compile, watch it run, cancel it, and browse past runs.

The settings form is generated from `engine.optimizers.CATALOGUE`: one widget per parameter
(whole numbers, numbers, switches, choices, model profiles) with its range, default and help;
optional parameters have a "not set" state. The settings are validated by
`engine.optimizers.validate` on every change, so Compile is only enabled for settings the engine
accepts. It is also disabled while the dataset has leaks (`session.leaks`) or a run is going.

A compile is `engine.jobs.compile.CompileJob` (`prepare()` then `run()`) in a `JobWorker`; its
events arrive through the worker's EventBridge, throttled, and only update widgets here. Cancel
sets the run's cancel token: the engine stops at its next LM call and keeps what it finished.

Past runs come from `project.store.list_runs()` (read on a background thread); double-clicking
one emits `run_selected(run_id)` and opens it in the Review pane. Selecting exactly two runs enables
"Compare…": `engine.comparison.compare_runs` runs on a background thread and `CompareDialog` shows
the result. "Clear LM cache (N MB)…" asks, then empties the project's LM cache
(`engine.cache.clear_cache`) on a background thread; it is disabled while a compile runs, since
the run writes into that cache.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox,
                               QFormLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QPlainTextEdit, QProgressBar, QPushButton, QScrollArea,
                               QSpinBox, QSplitter, QStackedWidget, QTableView, QTableWidget,
                               QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from desktop.panes.base import Pane
from desktop.panes.dataset_widgets import DataChecksLine
from desktop.panes.common import (MessageBanner, bad_color, good_color, heading, monospace_font,
                                  muted, short_revision, warn_color)
from desktop.panes.score_chart import ScoreChart
from desktop.worker import JobWorker, WorkerSet, freeze_heap
from engine import optimizers
from engine.errors import WorkbenchError
from engine.jobs.events import (LMCallFinished, LogLine, Progress, RunFinished, StageStarted,
                                TrialFinished)
from engine.lms.pricing import cost_text

STATUSES = ("running", "succeeded", "failed", "cancelled", "stopped_by_budget", "interrupted")
NOT_SET = "not set"
INT_CAP = 1_000_000_000


# -- the generated settings form ---------------------------------------------------------------------

class ParamForm(QWidget):
    """One widget per parameter of an optimizer, generated from its `Param` schema.

    Signals:
        changed()   any value changed
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.widgets: dict[str, tuple[optimizers.Param, QWidget]] = {}

    def build(self, info: optimizers.OptimizerInfo, values: dict, profiles: list[str]) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.widgets = {}
        for param in info.params:
            widget = self._widget_for(param, profiles)
            tip = param.help
            if param.minimum is not None or param.maximum is not None:
                lo = "" if param.minimum is None else f"{param.minimum:g}"
                hi = "" if param.maximum is None else f"{param.maximum:g}"
                tip += f"\nRange: {lo or '…'} to {hi or '…'}"
            default = "not set" if param.default is None else str(param.default)
            tip += f"\nDefault: {default}"
            if param.optional:
                tip += "\nOptional: leave at “not set” to let DSPy choose"
            widget.setToolTip(tip)
            label = QLabel(param.name)
            label.setToolTip(tip)
            self.form.addRow(label, widget)
            self.widgets[param.name] = (param, widget)
            self.set_value(param.name, values.get(param.name, param.default))

    def _widget_for(self, param: optimizers.Param, profiles: list[str]) -> QWidget:
        if param.kind == "int":
            w = QSpinBox()
            lo = int(param.minimum) if param.minimum is not None else 0
            if param.optional:
                lo -= 1
                w.setSpecialValueText(NOT_SET)
            w.setRange(lo, int(param.maximum) if param.maximum is not None else INT_CAP)
            w.valueChanged.connect(self.changed)
            return w
        if param.kind == "float":
            w = QDoubleSpinBox()
            w.setDecimals(2)
            lo = float(param.minimum) if param.minimum is not None else 0.0
            hi = float(param.maximum) if param.maximum is not None else 1e9
            w.setSingleStep(0.1 if hi <= 2 else 1.0)
            if param.optional:
                lo -= w.singleStep()
                w.setSpecialValueText(NOT_SET)
            w.setRange(lo, hi)
            w.valueChanged.connect(self.changed)
            return w
        if param.kind == "bool":
            w = QCheckBox()
            w.toggled.connect(self.changed)
            return w
        w = QComboBox()
        if param.kind == "choice":
            for choice in param.choices:
                w.addItem(choice, choice)
        else:  # a model profile
            if param.optional:
                w.addItem(f"({NOT_SET})", None)
            for name in profiles:
                w.addItem(name, name)
        w.currentIndexChanged.connect(self.changed)
        return w

    def set_value(self, name: str, value) -> None:
        param, w = self.widgets[name]
        w.blockSignals(True)
        try:
            if isinstance(w, (QSpinBox, QDoubleSpinBox)):
                w.setValue(w.minimum() if value is None else value)
            elif isinstance(w, QCheckBox):
                w.setChecked(bool(value))
            else:
                index = w.findData(value)
                w.setCurrentIndex(index if index >= 0 else 0)
        finally:
            w.blockSignals(False)

    def values(self) -> dict:
        out = {}
        for name, (param, w) in self.widgets.items():
            if isinstance(w, (QSpinBox, QDoubleSpinBox)):
                unset = param.optional and w.value() == w.minimum()
                out[name] = None if unset else w.value()
            elif isinstance(w, QCheckBox):
                out[name] = w.isChecked()
            else:
                out[name] = w.currentData()
        return out


def _optional_spin(special: str, maximum: int = INT_CAP, minimum: int = 1) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(minimum - 1, maximum)
    spin.setSpecialValueText(special)
    spin.setValue(minimum - 1)
    return spin


def _spin_value(spin: QSpinBox):
    return None if spin.value() == spin.minimum() else spin.value()


def _cost_spin() -> QDoubleSpinBox:
    """US dollars with a "no cap" state at 0 (a $0 cap would stop before the first call)."""
    spin = QDoubleSpinBox()
    spin.setRange(0.0, 1_000_000.0)
    spin.setDecimals(4)  # a quick run on a cheap hosted model costs fractions of a cent
    spin.setSingleStep(0.01)
    spin.setPrefix("$")
    spin.setSpecialValueText("no cap")
    spin.setValue(0.0)
    return spin


# -- the run history model ------------------------------------------------------------------------------

def _pair(scores: dict, split: str) -> str:
    figures = scores.get(split) or {}
    if not figures:
        return "—"
    b, c = figures.get("baseline"), figures.get("candidate")
    left = "?" if b is None else f"{b:.2f}"
    right = "?" if c is None else f"{c:.2f}"
    return f"{left} → {right}"


class RunsTableModel(QAbstractTableModel):
    """The run history (a list of RunRecords from list_runs, held by reference)."""

    COLUMNS = ("Started", "Status", "Optimizer", "Validation", "Test", "Cost", "Review", "Model",
               "Revision", "Run")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.records: list = []

    def set_records(self, records: list) -> None:
        self.beginResetModel()
        self.records = records
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.records)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole and orientation == Qt.Orientation.Horizontal:
            if self.COLUMNS[section] in ("Validation", "Test"):
                return "baseline → candidate score"
            if self.COLUMNS[section] == "Cost":
                return "US dollars for the run's real LM calls; unknown when a model has no known price"
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not (0 <= index.row() < len(self.records)):
            return None
        r = self.records[index.row()]
        column = self.COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return {
                "Run": r.run_id,
                "Started": r.created_at[:16].replace("T", " "),
                "Status": r.status.replace("_", " "),
                "Optimizer": r.optimizer,
                "Model": f"{r.profile}: {r.model_name}",
                "Revision": short_revision(r.model_revision),
                "Validation": _pair(r.scores, "validation"),
                "Test": _pair(r.scores, "test"),
                "Cost": cost_text(r.cost_usd),
                "Review": r.review.decision if r.review else "unreviewed",
            }[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == "Revision":
                return r.model_revision
            if column == "Status" and (r.error or r.status == "interrupted"):
                from engine.reports import run_outcome

                return run_outcome(r)  # an interrupted run: what it kept
            if column == "Cost":
                return (f"{r.lm_calls:,} real LM calls ({r.cached_calls:,} from cache), "
                        f"{int(r.tokens.get('prompt', 0)) + int(r.tokens.get('completion', 0)):,} tokens")
            if column == "Review" and r.review:
                return f"{r.review.decision} by {r.review.reviewer or '?'}: {r.review.note}"
        if role == Qt.ItemDataRole.ForegroundRole and column == "Status":
            if r.status == "succeeded":
                return good_color()
            if r.status in ("failed", "interrupted"):
                return bad_color()
            if r.status in ("cancelled", "stopped_by_budget"):
                return warn_color()
        if role == Qt.ItemDataRole.UserRole:
            return r.run_id
        return None


# -- the pane ---------------------------------------------------------------------------------------------

class RunsPane(Pane):
    """Compile form, live progress of the running compile, and the run history.

    Signals:
        run_selected(str)       the user asked to open a run (double-click, "Open in Review")
        run_started(str)        a compile began writing its record (its run id)
        run_finished(object)    a compile ended: the RunRecord, or None when it failed early
        history_loaded()        the history table was (re)loaded
        comparison_shown(object) the Compare dialog for two selected runs was opened
        cache_size_known()      the LM cache size on the "Clear LM cache" button was measured
        cache_cleared(int)      the LM cache was cleared (bytes freed)
        estimate_shown(object)  the estimate (engine.estimate.RunEstimate) for the form was shown
    """

    title = "Runs"
    icon_name = "runs"
    run_selected = Signal(str)
    run_started = Signal(str)
    run_finished = Signal(object)
    history_loaded = Signal()
    comparison_shown = Signal(object)
    cache_size_known = Signal()
    cache_cleared = Signal(int)
    estimate_shown = Signal(object)

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(session, parent)
        self._job_worker: JobWorker | None = None
        self._job = None
        self._started_at: float | None = None
        self._last_run_id: str | None = None
        self._history_pending = False
        self._history_filters: dict = {}
        self._revisions_seen: set[str] = set()
        self._workers = WorkerSet(self)
        self._valid = False
        self.compare_dialog = None
        self._cache_bytes: int | None = None
        self._build()
        self._elapsed_timer = QTimer(self)
        self._elapsed_timer.setInterval(500)
        self._elapsed_timer.timeout.connect(self._show_elapsed)
        session.opened.connect(self._reload)
        session.closed.connect(self._reload)
        session.runs_changed.connect(self.refresh_history)
        for name in ("dataset_changed", "splits_changed", "program_changed", "metric_changed"):
            getattr(session, name).connect(self._update_compile_enabled)
        leaks_changed = getattr(session, "leaks_changed", None)
        if leaks_changed is not None:
            leaks_changed.connect(lambda *_a: self._update_compile_enabled())
        self._reload()

    # -- layout ---------------------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(heading("Runs"))
        top.addStretch(1)
        outer.addLayout(top)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        outer.addWidget(splitter, 1)
        self._splitter = splitter
        splitter.addWidget(self._build_form())
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self._build_live())
        right.addWidget(self._build_history())
        right.setSizes([430, 300])
        splitter.addWidget(right)
        splitter.setSizes([360, 720])
        splitter.setStretchFactor(1, 1)
        self.empty = muted("Open or create a project to compile its program.")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        outer.addWidget(self.empty)

    def _build_form(self) -> QWidget:
        box = QGroupBox("New compile")
        layout = QVBoxLayout(box)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        inner = QWidget()
        v = QVBoxLayout(inner)
        v.setContentsMargins(0, 0, 6, 0)
        self.data_checks = DataChecksLine(self.session)  # findings never block; shown before a compile
        v.addWidget(self.data_checks)
        form = QFormLayout()
        self.optimizer_combo = QComboBox()
        for key, info in optimizers.CATALOGUE.items():
            self.optimizer_combo.addItem(f"{info.dspy_name}", key)
            self.optimizer_combo.setItemData(self.optimizer_combo.count() - 1, info.summary,
                                             Qt.ItemDataRole.ToolTipRole)
        self.optimizer_combo.currentIndexChanged.connect(self._optimizer_changed)
        form.addRow("Optimizer", self.optimizer_combo)
        v.addLayout(form)
        self.summary = muted()
        v.addWidget(self.summary)
        self.params_box = QGroupBox("Optimizer settings")
        pl = QVBoxLayout(self.params_box)
        self.param_form = ParamForm()
        self.param_form.changed.connect(self._validate)
        pl.addWidget(self.param_form)
        v.addWidget(self.params_box)

        run_box = QGroupBox("Run")
        rf = QFormLayout(run_box)
        self.profile_combo = QComboBox()
        self.profile_combo.setToolTip("The model profile the program is compiled for")
        self.profile_combo.currentIndexChanged.connect(self._validate)
        rf.addRow("Model", self.profile_combo)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("Same seed, same data, same model: the same compile (and cache hits)")
        rf.addRow("Seed", self.seed_spin)
        self.limit_spin = _optional_spin("all examples", 1_000_000)
        self.limit_spin.setToolTip("Use at most this many examples of each split (quick trial runs)")
        rf.addRow("Examples per split", self.limit_spin)
        self.allow_judge_check = QCheckBox("Allow an uncalibrated judge")
        self.allow_judge_check.setToolTip("Compile even though the metric's LLM judge is uncalibrated, failed its "
                                          "calibration or is stale; the run records that it was your choice")
        rf.addRow("", self.allow_judge_check)
        v.addWidget(run_box)

        budget_box = QGroupBox("Budget (stops at the next LM call)")
        bf = QFormLayout(budget_box)
        self.max_calls_spin = _optional_spin("no cap")
        self.max_calls_spin.setToolTip("Stop after this many real (not cached) LM calls")
        self.max_tokens_spin = _optional_spin("no cap")
        self.max_tokens_spin.setSingleStep(1000)
        self.max_tokens_spin.setToolTip("Stop after this many prompt + completion tokens")
        self.max_cost_spin = _cost_spin()
        self.max_cost_spin.setToolTip("Stop once the run's LM calls cost this much (every model needs a known "
                                      "price: LiteLLM's for hosted providers, $0 for local ones, or the "
                                      "profile's own prices)")
        self.max_seconds_spin = _optional_spin("no cap", 7 * 24 * 3600)
        self.max_seconds_spin.setSuffix(" s")
        self.max_seconds_spin.setToolTip("Stop after this much wall time")
        bf.addRow("LM calls", self.max_calls_spin)
        bf.addRow("Tokens", self.max_tokens_spin)
        bf.addRow("Cost", self.max_cost_spin)
        bf.addRow("Seconds", self.max_seconds_spin)
        v.addWidget(budget_box)
        v.addStretch(1)
        scroll.setWidget(inner)
        layout.addWidget(scroll, 1)

        self.form_error = MessageBanner()
        layout.addWidget(self.form_error)
        # What the run will spend, before Compile (engine.estimate; worked out off the GUI thread).
        self.estimate_label = muted()
        self.estimate_label.setWordWrap(True)
        self.estimate_label.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.estimate_label)
        self._estimate_timer = QTimer(self, singleShot=True, interval=300, timeout=self._start_estimate)
        self._estimate_seq = 0
        self._estimate_stale = False
        self.limit_spin.valueChanged.connect(self._validate)
        buttons = QHBoxLayout()
        self.compile_btn = QPushButton("Compile")
        self.compile_btn.setDefault(True)
        self.compile_btn.clicked.connect(self.start_compile)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.setToolTip("Stop at the next LM call; what finished is kept")
        self.cancel_btn.clicked.connect(self.cancel_compile)
        buttons.addWidget(self.compile_btn, 1)
        buttons.addWidget(self.cancel_btn)
        layout.addLayout(buttons)
        box.setMinimumWidth(320)
        return box

    def _build_live(self) -> QWidget:
        box = QGroupBox("Current run")
        layout = QVBoxLayout(box)
        self.status_banner = MessageBanner()
        layout.addWidget(self.status_banner)
        row = QHBoxLayout()
        self.stage_label = QLabel("No run in progress. Choose the settings on the left and press Compile.")
        row.addWidget(self.stage_label, 1)
        self.open_btn = QPushButton("Open in Review")
        self.open_btn.setVisible(False)
        self.open_btn.clicked.connect(lambda: self._last_run_id and self.open_run(self._last_run_id))
        row.addWidget(self.open_btn)
        layout.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("%v / %m")
        self.progress.setTextVisible(False)
        layout.addWidget(self.progress)
        self.meter_label = QLabel()
        self.meter_label.setForegroundRole(self.meter_label.foregroundRole())
        layout.addWidget(self.meter_label)
        tabs = QTabWidget()
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setFont(monospace_font())
        self.log.setPlaceholderText("Stages, warnings and trial results of the run appear here.")
        tabs.addTab(self.log, "Log")
        trials = QWidget()
        tl = QHBoxLayout(trials)
        tl.setContentsMargins(4, 4, 4, 4)
        self.trials_table = QTableWidget(0, 4)
        self.trials_table.setHorizontalHeaderLabels(["Trial", "Score", "Best", "On"])
        self.trials_table.verticalHeader().setVisible(False)
        self.trials_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.trials_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.trials_table.setMinimumWidth(220)
        tl.addWidget(self.trials_table, 2)
        self.chart = ScoreChart()
        tl.addWidget(self.chart, 3)
        tabs.addTab(trials, "Trials")
        self.live_tabs = tabs
        layout.addWidget(tabs, 1)
        return box

    def _build_history(self) -> QWidget:
        box = QGroupBox("Past runs")
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self.filter_optimizer = QComboBox()
        self.filter_optimizer.addItem("All optimizers", None)
        for key in optimizers.CATALOGUE:
            self.filter_optimizer.addItem(key, key)
        self.filter_status = QComboBox()
        self.filter_status.addItem("All statuses", None)
        for status in STATUSES:
            self.filter_status.addItem(status.replace("_", " "), status)
        self.filter_revision = QComboBox()
        self.filter_revision.addItem("All model revisions", None)
        self.filter_revision.setMinimumContentsLength(14)
        self.filter_revision.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        for combo in (self.filter_optimizer, self.filter_status, self.filter_revision):
            combo.currentIndexChanged.connect(self.refresh_history)
            row.addWidget(combo)
        row.addStretch(1)
        self.history_count = muted(wrap=False)
        row.addWidget(self.history_count)
        layout.addLayout(row)
        self.history_model = RunsTableModel(self)
        self.history_stack = QStackedWidget()
        self.history = QTableView()
        self.history.setModel(self.history_model)
        self.history.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.history.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.history.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.history.verticalHeader().setVisible(False)
        self.history.setAlternatingRowColors(True)
        self.history.setWordWrap(False)
        self.history.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.history.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        model_column = RunsTableModel.COLUMNS.index("Model")
        header.setSectionResizeMode(model_column, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(model_column, 150)
        header.setStretchLastSection(True)
        self.history.doubleClicked.connect(self._history_double_clicked)
        self.history.setToolTip("Double-click a run to review it; select two (Ctrl+click) to compare them")
        self.history.selectionModel().selectionChanged.connect(self._update_history_buttons)
        self.history_empty = muted("No runs yet. Choose an optimizer and press Compile; every run "
                                   "is kept here with its scores and review.")
        self.history_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.history_stack.addWidget(self.history)
        self.history_stack.addWidget(self.history_empty)
        layout.addWidget(self.history_stack, 1)
        actions = QHBoxLayout()
        self.compare_btn = QPushButton("Compare…")
        self.compare_btn.setEnabled(False)
        self.compare_btn.clicked.connect(self.compare_selected)
        actions.addWidget(self.compare_btn)
        self.compare_hint = muted("Select two runs (Ctrl+click) to compare them.", wrap=False)
        actions.addWidget(self.compare_hint)
        actions.addStretch(1)
        self.clear_cache_btn = QPushButton("Clear LM cache…")
        self.clear_cache_btn.setEnabled(False)
        self.clear_cache_btn.clicked.connect(self.clear_lm_cache)
        actions.addWidget(self.clear_cache_btn)
        layout.addLayout(actions)
        self._update_history_buttons()
        return box

    # -- Pane contract ------------------------------------------------------------------------------------

    def is_busy(self) -> bool:
        return self._job_worker is not None and self._job_worker.is_running()

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        """Cancel a running compile (it stops at the next LM call) and wait for its thread."""
        deadline = time.monotonic() + max(0, timeout_ms) / 1000
        if self._job_worker is not None:
            self._job_worker.shutdown(timeout_ms)
        self._elapsed_timer.stop()
        self._estimate_timer.stop()
        self._workers.shutdown(max(0, int((deadline - time.monotonic()) * 1000)))

    # -- filling the form -------------------------------------------------------------------------------------

    def _reload(self) -> None:
        project = self.session.project
        has = project is not None
        self._splitter.setVisible(has)
        self.empty.setVisible(not has)
        if not self.is_busy():
            self._clear_current_run()  # another project: nothing of the last one's run stays on screen
        if not has:
            self.history_model.set_records([])
            self._cache_bytes = None
            self._update_history_buttons()
            return
        defaults = project.config.compile
        self.profile_combo.blockSignals(True)
        self.profile_combo.clear()
        for name, profile in self._profiles().items():
            self.profile_combo.addItem(f"{name} ({profile.provider})", name)
        self.profile_combo.setCurrentIndex(max(0, self.profile_combo.findData(defaults.model)))
        self.profile_combo.blockSignals(False)
        self.seed_spin.setValue(defaults.seed)
        index = self.optimizer_combo.findData(defaults.optimizer)
        self.optimizer_combo.blockSignals(True)
        self.optimizer_combo.setCurrentIndex(max(0, index))
        self.optimizer_combo.blockSignals(False)
        self._optimizer_changed()
        self._revisions_seen = set()
        self.refresh_history()
        self.refresh_cache_size()

    def _profiles(self) -> dict:
        try:
            return self.session.project.profiles
        except (WorkbenchError, AttributeError):
            return {}

    def _optimizer_changed(self, *_args) -> None:
        project = self.session.project
        key = self.optimizer_combo.currentData()
        info = optimizers.CATALOGUE[key]
        self.summary.setText(info.summary)
        values = dict(info.defaults())
        if project is not None and project.config.compile.optimizer == key:
            values.update(project.config.compile.params)
        self.param_form.build(info, values, list(self._profiles()))
        self.params_box.setVisible(bool(info.params))
        self._validate()

    def select_optimizer(self, key: str) -> None:
        self.optimizer_combo.setCurrentIndex(self.optimizer_combo.findData(key))

    def set_param(self, name: str, value) -> None:
        self.param_form.set_value(name, value)
        self._validate()

    # -- validating and starting --------------------------------------------------------------------------

    def _raw_params(self) -> dict:
        return {k: v for k, v in self.param_form.values().items()}

    def _validate(self, *_args) -> bool:
        project = self.session.project
        if project is None:
            return False
        try:
            optimizers.validate(self.optimizer_combo.currentData(), self._raw_params(),
                                profiles=self._profiles())
        except WorkbenchError as exc:
            self._valid = False
            self.form_error.show_error(str(exc))
        else:
            self._valid = True
            self.form_error.clear_message()
        self._update_compile_enabled()
        if self._valid:
            self._estimate_timer.start()
        else:
            self.estimate_label.clear()
        return self._valid

    def _start_estimate(self) -> None:
        """Estimate the run the form describes; only the newest request's answer is shown."""
        from engine.estimate import estimate_compile

        project = self.session.project
        if project is None or not self._valid:
            return
        if not self.isVisible():
            self._estimate_stale = True  # worked out when the pane is shown (showEvent)
            return
        self._estimate_stale = False
        self._estimate_seq += 1
        seq, settings = self._estimate_seq, self.settings()
        self.estimate_label.setText("Estimating the run's LM calls…")
        self._workers.spawn("estimate", lambda: estimate_compile(project, settings),
                            on_result=lambda estimate: self._show_estimate(seq, estimate),
                            on_error=lambda message: self._show_estimate(seq, None, message))

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if self._estimate_stale:
            self._estimate_timer.start()

    def _show_estimate(self, seq: int, estimate, message: str = "") -> None:
        if seq != self._estimate_seq:
            return  # the form changed since: a newer estimate is on its way
        if estimate is None:
            self.estimate_label.setText(f"No estimate: {message}")
            return
        lines = [f"Estimate: {estimate.summary()}"]
        lines += [f"⚠ {warning}" for warning in estimate.warnings]
        self.estimate_label.setText("\n".join(lines))
        self.estimate_label.setToolTip("\n".join(estimate.basis))
        self.estimate_shown.emit(estimate)

    def leaks(self) -> list:
        return list(getattr(self.session, "leaks", None) or [])

    def _update_compile_enabled(self, *_args) -> None:
        running = self.is_busy()
        leaks = self.leaks()
        enabled = self.session.project is not None and self._valid and not running and not leaks
        self.compile_btn.setEnabled(enabled)
        self._update_cache_button()
        if running:
            tip = "A run is in progress; cancel it or wait for it to finish."
        elif leaks:
            tip = (f"The dataset has {len(leaks)} leak(s) between splits; fix them in the Dataset pane "
                   "before compiling (a leak makes the test score meaningless).")
        elif not self._valid:
            tip = "Fix the settings shown in red first."
        else:
            tip = "Compile the program with these settings"
        self.compile_btn.setToolTip(tip)

    def settings(self):
        """The CompileSettings the form describes (validated by the engine before a run)."""
        from engine.jobs.compile import CompileSettings
        from engine.jobs.control import Budget

        return CompileSettings(
            optimizer=self.optimizer_combo.currentData(),
            params={k: v for k, v in self._raw_params().items()},
            profile=self.profile_combo.currentData() or "embedded",
            seed=self.seed_spin.value(),
            limit=_spin_value(self.limit_spin),
            budget=Budget(max_calls=_spin_value(self.max_calls_spin),
                          max_tokens=_spin_value(self.max_tokens_spin),
                          max_cost_usd=self.max_cost_spin.value() or None,
                          max_seconds=_spin_value(self.max_seconds_spin)),
            allow_uncalibrated_judge=self.allow_judge_check.isChecked(),
        )

    def start_compile(self) -> bool:
        """Start a compile with the form's settings; False (and a message) when it cannot start."""
        from engine.jobs.compile import CompileJob
        from engine.jobs.control import RunCancelled

        project = self.session.project
        if project is None or self.is_busy() or not self._validate():
            return False
        if self.leaks():
            self.form_error.show_error("The dataset has leaks between splits; fix them before compiling.")
            return False
        settings = self.settings()
        worker = JobWorker("compile", self)
        token = worker.new_token()
        job = CompileJob(project, settings, sink=worker.sink, cancel=token)

        def work():
            from desktop.panes.calibrate import refused_in_window
            from engine.calibration import JudgeNotCalibrated
            from engine.errors import UntrustedCodeError

            try:
                job.prepare()  # a user's mistake surfaces here, before anything is written
            except (JudgeNotCalibrated, UntrustedCodeError) as exc:
                raise refused_in_window(exc) from None
            if token.cancelled:
                raise RunCancelled()
            freeze_heap()  # DSPy and the model are loaded now: keep full GCs short (see worker.py)
            return job.run()

        self._job_worker, self._job = worker, job
        worker.event.connect(self._on_event)
        worker.finished.connect(self._on_finished)
        worker.cancelled.connect(self._on_cancelled)
        worker.failed.connect(self._on_failed)
        worker.done.connect(self._on_done)
        self._reset_live()
        self.progress.setTextVisible(True)
        self.stage_label.setText("Preparing: checking the data, loading the model…")
        self.progress.setRange(0, 0)  # busy until the first stage says how much there is
        self._log(f"▶ {settings.optimizer} on {settings.profile}, seed {settings.seed}"
                  + (f", {settings.limit} examples per split" if settings.limit else ""))
        self._started_at = time.monotonic()
        self._elapsed_timer.start()
        worker.start(work)
        self.cancel_btn.setEnabled(True)
        self._update_compile_enabled()
        return True

    def cancel_compile(self) -> None:
        if self._job_worker is None or not self._job_worker.is_running():
            return
        self._job_worker.cancel()
        self.cancel_btn.setEnabled(False)
        self.stage_label.setText("Cancelling: the run stops at its next LM call…")
        self._log("■ cancel requested: stopping at the next LM call")

    # -- live updates (GUI thread, throttled by the EventBridge) -----------------------------------------

    def _clear_current_run(self) -> None:
        self._reset_live()
        self._last_run_id = None
        self._started_at = None
        self.stage_label.setText("No run in progress. Choose the settings on the left and press Compile.")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)

    def _reset_live(self) -> None:
        self.status_banner.clear_message()
        self.open_btn.setVisible(False)
        self.log.clear()
        self.trials_table.setRowCount(0)
        self.chart.clear()
        self._calls = self._cached = self._tokens = 0
        self._cost: float | None = 0.0
        self._show_meter()

    def _on_event(self, event) -> None:
        if isinstance(event, Progress):
            self.progress.setRange(0, max(1, event.total))
            self.progress.setValue(event.done)
            self.stage_label.setText(f"{event.stage}: {event.done} of {event.total}")
        elif isinstance(event, LMCallFinished):
            self._calls, self._cached = event.total_calls, event.total_cached
            self._tokens = event.total_prompt_tokens + event.total_completion_tokens
            self._cost = event.total_cost_usd
            self._show_meter()
        elif isinstance(event, StageStarted):
            if self._job is not None and self._job.run_id and self._job.run_id != self._last_run_id:
                self._last_run_id = self._job.run_id
                self.run_started.emit(self._job.run_id)
                self.session.runs_changed.emit()  # the history shows it as running
            total = event.total or 0
            self.progress.setRange(0, max(1, total) if total else 0)
            self.progress.setValue(0)
            self.stage_label.setText(event.stage + (f": 0 of {total}" if total else ""))
            self._log(f"▸ {event.stage}" + (f" ({total} examples)" if total else ""))
        elif isinstance(event, TrialFinished):
            row = self.trials_table.rowCount()
            self.trials_table.insertRow(row)
            score = "failed" if event.score is None else f"{event.score:.3f}"
            best = "—" if event.best_so_far is None else f"{event.best_so_far:.3f}"
            for c, value in enumerate((str(event.index), score, best, event.kind)):
                self.trials_table.setItem(row, c, QTableWidgetItem(value))
            self.trials_table.scrollToBottom()
            if event.score is not None:  # a failed trial has no score to plot (it is not a 0)
                self.chart.add_trial(event.index, event.score, event.best_so_far, event.kind)
                self._log(f"  trial {event.index}: {score} ({event.kind}), best {best}")
            else:
                self._log(f"  trial {event.index} failed ({event.kind}): {event.detail.get('failed', '')}")
        elif isinstance(event, LogLine):
            prefix = "" if event.level == "info" else f"{event.level}: "
            self._log(f"  {prefix}{event.message}")
        elif isinstance(event, RunFinished):
            self._log(f"■ run {event.run_id} {event.status.replace('_', ' ')}"
                      + (f": {event.message}" if event.message else ""))

    def _log(self, text: str) -> None:
        self.log.appendPlainText(text)

    def _show_meter(self) -> None:
        elapsed = "" if self._started_at is None else _clock(time.monotonic() - self._started_at)
        cached = f" ({self._cached:,} from cache)" if self._cached else ""
        self.meter_label.setText(f"LM calls {self._calls:,}{cached}   ·   tokens {self._tokens:,}"
                                 f"   ·   cost {cost_text(self._cost)}"
                                 + (f"   ·   elapsed {elapsed}" if elapsed else ""))

    def _show_elapsed(self) -> None:
        self._show_meter()

    # -- the end of a run -----------------------------------------------------------------------------

    def _on_finished(self, record) -> None:
        self._finish(record)

    def _on_cancelled(self) -> None:
        record = self._job_worker.result if self._job_worker is not None else None
        self._finish(record, cancelled=True)

    def _on_failed(self, message: str) -> None:
        self.status_banner.show_error(f"The compile could not run: {message}")
        self.stage_label.setText("Not started." if self._job is None or self._job.run_id is None else "Failed.")
        if self.progress.maximum() == 0:  # still "busy" from the start: show an empty bar, not a full one
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setTextVisible(False)
        self._log(f"✖ {message}")
        self.run_finished.emit(None)

    def _finish(self, record, *, cancelled: bool = False) -> None:
        status = getattr(record, "status", "cancelled" if cancelled else "failed")
        if record is not None:
            self._last_run_id = record.run_id
            self._calls, self._cached = record.lm_calls, record.cached_calls
            self._tokens = int(record.tokens.get("prompt", 0)) + int(record.tokens.get("completion", 0))
            self._cost = record.cost_usd
        scores = _scores_text(record.scores) if record is not None else ""
        if status == "succeeded":
            self.status_banner.show_info(f"Finished. {scores}".strip())
            self.stage_label.setText("Finished.")
        elif status == "cancelled":
            self.status_banner.show_warning("Cancelled — finished work kept." + (f" {scores}" if scores else ""))
            self.stage_label.setText("Cancelled.")
        elif status == "stopped_by_budget":
            self.status_banner.show_warning(f"Stopped by the budget ({record.error}) — finished work kept. {scores}")
            self.stage_label.setText("Stopped by the budget.")
        else:
            error = getattr(record, "error", None) or "unknown error"
            self.status_banner.show_error(f"The run failed: {error}")
            self.stage_label.setText("Failed.")
        has_program = record is not None and status in ("succeeded", "cancelled", "stopped_by_budget")
        self.open_btn.setVisible(has_program)
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        self._show_meter()
        self.run_finished.emit(record)

    def _on_done(self) -> None:
        self._elapsed_timer.stop()
        self._show_meter()
        self._started_at = None
        worker = self._job_worker
        self._job_worker = None
        if worker is not None:
            worker.deleteLater()
        self.cancel_btn.setEnabled(False)
        self._update_compile_enabled()
        self.session.runs_changed.emit()
        self.refresh_cache_size()

    # -- history ------------------------------------------------------------------------------------------

    def refresh_history(self, *_args) -> None:
        """Re-read the history (on a background thread) with the chosen filters."""
        project = self.session.project
        if project is None:
            return
        if self._workers.busy("history"):
            self._history_pending = True
            return
        filters = self._filters()
        store_project = project

        def load():
            runs = store_project.store.list_runs(**filters)
            revisions = {r.model_revision for r in store_project.store.list_runs(limit=500)}
            return store_project, filters, runs, revisions

        self._workers.spawn("history", load, on_result=self._history_read, on_error=self._history_failed)

    def _filters(self) -> dict:
        return {"optimizer": self.filter_optimizer.currentData(), "status": self.filter_status.currentData(),
                "model_revision": self.filter_revision.currentData()}

    def _history_read(self, result) -> None:
        project, filters, runs, revisions = result
        if filters != self._filters():
            self._history_pending = True  # the filters changed while this was read
        elif project is self.session.project:
            selected = self.selected_run_ids()
            self.history_model.set_records(runs)
            if selected:  # a refresh keeps the user's selection (e.g. the two runs to compare)
                self.select_runs(selected)
            self._update_history_buttons()
            self._add_revision_filters(revisions)
            filtered = any(c.currentData() is not None for c in
                           (self.filter_optimizer, self.filter_status, self.filter_revision))
            self.history_count.setText(f"{len(runs)} run{'s' if len(runs) != 1 else ''}"
                                       + (" match" if filtered else ""))
            self.history_stack.setCurrentIndex(0 if runs or filtered else 1)
            self.history_loaded.emit()
        if self._history_pending:
            self._history_pending = False
            QTimer.singleShot(0, self.refresh_history)

    def _add_revision_filters(self, revisions: set[str]) -> None:
        new = sorted(revisions - self._revisions_seen)
        for revision in new:
            self.filter_revision.blockSignals(True)
            self.filter_revision.addItem(short_revision(revision, 16), revision)
            self.filter_revision.setItemData(self.filter_revision.count() - 1, revision, Qt.ItemDataRole.ToolTipRole)
            self.filter_revision.blockSignals(False)
        self._revisions_seen |= set(new)

    def _history_failed(self, message: str) -> None:
        self.history_count.setText("")
        self.status_banner.show_error(f"Could not read the run history: {message}")
        self.history_loaded.emit()

    def selected_run_ids(self) -> list[str]:
        rows = sorted({index.row() for index in self.history.selectionModel().selectedRows()})
        return [self.history_model.records[r].run_id for r in rows if r < len(self.history_model.records)]

    def select_runs(self, run_ids: list[str]) -> None:
        """Select these runs in the history table (the others are deselected)."""
        from PySide6.QtCore import QItemSelection, QItemSelectionModel

        selection = QItemSelection()
        last = self.history_model.columnCount() - 1
        for row, record in enumerate(self.history_model.records):
            if record.run_id in run_ids:
                selection.select(self.history_model.index(row, 0), self.history_model.index(row, last))
        self.history.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def _update_history_buttons(self, *_args) -> None:
        count = len(self.selected_run_ids()) if self.history.selectionModel() is not None else 0
        computing = self._workers.busy("compare")
        self.compare_btn.setEnabled(count == 2 and not computing)
        if computing:
            hint = "Comparing…"
        elif count == 2:
            hint = "Compare the two selected runs side by side."
        else:
            hint = (f"{count} runs selected: select exactly two to compare." if count > 2
                    else "Select two runs (Ctrl+click) to compare them.")
        self.compare_hint.setText(hint)
        self.compare_btn.setToolTip(hint)
        self._update_cache_button()

    def compare_selected(self) -> bool:
        """Compare the two selected runs (older = A) on a background thread, then show the dialog."""
        project = self.session.project
        ids = self.selected_run_ids()
        if project is None or len(ids) != 2 or self._workers.busy("compare"):
            return False
        by_id = {r.run_id: r for r in self.history_model.records}
        run_a, run_b = sorted(ids, key=lambda rid: (by_id[rid].created_at, rid))

        def work():
            from engine.comparison import compare_runs

            return compare_runs(project, run_a, run_b)

        worker = self._workers.spawn("compare", work, on_result=self._show_comparison, on_error=self._compare_failed)
        worker.done.connect(self._update_history_buttons)
        self._update_history_buttons()
        return True

    def _show_comparison(self, comparison: dict) -> None:
        from desktop.dialogs.compare_dialog import CompareDialog

        if self.compare_dialog is not None:
            self.compare_dialog.close()
            self.compare_dialog.deleteLater()
        self.compare_dialog = CompareDialog(comparison, self)
        self.compare_dialog.show()
        self.comparison_shown.emit(self.compare_dialog)

    def _compare_failed(self, message: str) -> None:
        self.status_banner.show_error(f"Could not compare the runs: {message}")

    # -- the LM cache ----------------------------------------------------------------------------------

    def refresh_cache_size(self) -> None:
        """Measure the project's LM cache folder on a background thread."""
        project = self.session.project
        if project is None:
            return
        if self._workers.busy("cache"):
            self._cache_pending = True  # measure again when this one ends (the folder may have changed)
            return
        self._cache_pending = False

        def work():
            from engine.cache import cache_size

            return project, cache_size(project)

        self._workers.spawn("cache", work, on_result=self._cache_measured,
                            on_error=lambda message: self._cache_measured((project, None)))

    def _cache_measured(self, result) -> None:
        project, size = result
        if getattr(self, "_cache_pending", False):
            self._cache_pending = False
            QTimer.singleShot(0, self.refresh_cache_size)
            return
        if project is self.session.project:
            self._cache_bytes = size
            self._update_cache_button()
            self.cache_size_known.emit()

    def _update_cache_button(self) -> None:
        if not hasattr(self, "clear_cache_btn"):
            return
        from engine.cache import human_size

        size = self._cache_bytes
        self.clear_cache_btn.setText("Clear LM cache…" if size is None else f"Clear LM cache ({human_size(size)})…")
        busy = self.is_busy() or self._workers.busy("clear-cache")
        self.clear_cache_btn.setEnabled(self.session.project is not None and not busy and bool(size))
        if self.is_busy():
            tip = "A run is in progress and writes into the cache; clear it after the run."
        elif not size:
            tip = "The LM cache is empty."
        else:
            tip = ("Identical reruns are answered from this cache and make no LM calls. Clearing it makes "
                   "the next compile call the model again for every prompt.")
        self.clear_cache_btn.setToolTip(tip)

    def clear_lm_cache(self) -> bool:
        """Ask, then empty the project's LM cache on a background thread."""
        from desktop import messages
        from engine.cache import human_size

        project = self.session.project
        if project is None or self.is_busy() or self._workers.busy("clear-cache"):
            return False
        size = human_size(self._cache_bytes or 0)
        if not messages.confirm(self, "Clear LM cache",
                                f"Delete this project's LM cache ({size})?\n\nRe-running an identical compile "
                                "is answered from this cache with no LM calls. After clearing, the next "
                                "compile calls the model again for every prompt (slower, and it uses tokens).",
                                yes="Clear cache", no="Keep"):
            return False
        busy = self.is_busy

        def work():
            from engine.cache import clear_cache

            return clear_cache(project, busy=busy())

        worker = self._workers.spawn("clear-cache", work, on_result=self._cache_cleared,
                                     on_error=self._cache_clear_failed)
        worker.done.connect(self._cache_clear_done)
        self._update_cache_button()
        return True

    def _cache_cleared(self, freed: int) -> None:
        from engine.cache import human_size

        self.status_banner.show_info(f"Cleared the LM cache: {human_size(freed)} freed. "
                                     "The next compile calls the model again.")
        self._cache_bytes = 0
        self._update_cache_button()
        self.cache_cleared.emit(freed)

    def _cache_clear_failed(self, message: str) -> None:
        self.status_banner.show_error(f"Could not clear the LM cache: {message}")

    def _cache_clear_done(self) -> None:
        self._update_cache_button()
        self.refresh_cache_size()

    def _history_double_clicked(self, index) -> None:
        run_id = self.history_model.data(index, Qt.ItemDataRole.UserRole)
        if run_id:
            self.open_run(run_id)

    def open_run(self, run_id: str) -> None:
        """Ask for the run to be reviewed: emit run_selected and, when the Review pane is in the
        same window, show the run there and bring that pane forward."""
        self.run_selected.emit(run_id)
        from desktop.panes.review import ReviewPane

        window = self.window()
        review = window.findChild(ReviewPane) if window is not None else None
        if review is None:
            return
        review.show_run(run_id)
        show_pane = getattr(window, "show_pane", None)
        if callable(show_pane):
            try:
                show_pane(review.title)  # the main window keeps its navigation in step
                return
            except Exception:  # noqa: BLE001 - a window with another show_pane signature
                pass
        _bring_forward(review)


def _bring_forward(widget: QWidget) -> None:
    """Make `widget` the visible page of the stacked or tabbed container that holds it."""
    child, parent = widget, widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QStackedWidget):
            tabs = parent.parentWidget()
            if isinstance(tabs, QTabWidget):
                tabs.setCurrentWidget(child)
            else:
                parent.setCurrentWidget(child)
            return
        child, parent = parent, parent.parentWidget()


def _scores_text(scores: dict) -> str:
    parts = []
    for split in ("validation", "test"):
        figures = scores.get(split) or {}
        if "baseline" in figures and "candidate" in figures:
            parts.append(f"{split}: {figures['baseline']:.2f} → {figures['candidate']:.2f}")
        elif figures:
            parts.append(f"{split}: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()))
    return " · ".join(parts)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
