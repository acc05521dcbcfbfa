"""The Metric pane: choose how a prediction is scored, and try the metric on an example.

The metric is data (`engine.metrics`): exact match on one output field, the mean of per-field
matches, or a weighted composite of those. The pane builds the spec's dict from its widgets,
validates it with `parse_metric` + `validate_metric` against the program's output fields, and
applies it through one QUndoCommand (`project.set_metric`). An invalid metric is shown inline
and never applied.

"Try on an example" scores a prediction you type (by default the gold answer, so it shows what a
perfect answer scores) with `engine.metrics.score` and `feedback`; no LM is involved.
"""

from __future__ import annotations

import copy

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QUndoCommand
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox,
                               QFormLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QListWidget, QListWidgetItem, QPushButton, QSplitter,
                               QStackedWidget, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

from desktop.panes.base import Pane
from desktop.panes.common import (ExamplePicker, MessageBanner, bad_color, fit_table_height, good_color,
                                  heading, muted)
from engine import metrics
from engine.errors import WorkbenchError

KINDS = (("exact_match", "Exact match on one field"),
         ("field_match", "Per-field match (mean over fields)"),
         ("composite", "Weighted composite"))
COMPONENT_KINDS = (("exact_match", "Exact match"), ("field_match", "Per-field match"))
NORMALIZATION = (
    ("lowercase", "Ignore case", "Compare lowercased (Unicode case folding)"),
    ("strip", "Trim surrounding whitespace", "Ignore spaces at the start and end"),
    ("collapse_whitespace", "Collapse inner whitespace", "Runs of spaces, tabs and newlines count as one space"),
    ("strip_punctuation", "Ignore punctuation", "Remove punctuation before comparing"),
    ("unicode_nfkc", "Unicode NFKC normalisation", "Treat compatibility characters alike (e.g. full-width digits)"),
)


class SetMetricCommand(QUndoCommand):
    """Replace the project's metric setting (redo) and put the previous one back (undo)."""

    def __init__(self, session, old: dict, new: dict, text: str = "Change metric"):
        super().__init__(text)
        self.session = session
        self.project = session.project
        self.old, self.new = copy.deepcopy(old), copy.deepcopy(new)

    def _apply(self, data: dict) -> None:
        if self.session.project is not self.project:
            return
        try:
            self.project.set_metric(data)
        except WorkbenchError:
            # The earlier setting no longer fits the program (its fields changed since): put the
            # text back as it was; the pane shows why it is invalid.
            self.project.config.metric = copy.deepcopy(data)
        self.session.notify_changed(metric=True)

    def redo(self) -> None:
        self._apply(self.new)

    def undo(self) -> None:
        self._apply(self.old)


class MetricPane(Pane):
    """Choose the metric; try it on an example.

    Signals:
        scored(float)   the example's score was recomputed (tests, and a status bar if wanted)
    """

    title = "Metric"
    icon_name = "metric"
    scored = Signal(float)

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(session, parent)
        self._loading = False
        self._components: list[dict] = []
        self._norm: dict = metrics.Normalization().model_dump()
        self._build()
        session.opened.connect(self._reload)
        session.closed.connect(self._reload)
        session.metric_changed.connect(self._metric_changed)
        session.program_changed.connect(self._reload)
        session.dataset_changed.connect(self.picker.refresh)
        self._reload()

    # -- layout ------------------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(heading("Metric"))
        top.addSpacing(12)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top.addWidget(self.description, 1)
        outer.addLayout(top)
        self.error = MessageBanner()
        outer.addWidget(self.error)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_definition())
        splitter.addWidget(self._build_try())
        splitter.setSizes([520, 560])
        outer.addWidget(splitter, 1)
        self._splitter = splitter
        self.empty = muted("Open or create a project to choose its metric.")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        outer.addWidget(self.empty)

    def _build_definition(self) -> QWidget:
        box = QGroupBox("How a prediction is scored")
        layout = QVBoxLayout(box)
        form = QFormLayout()
        self.kind_combo = QComboBox()
        for key, label in KINDS:
            self.kind_combo.addItem(label, key)
        self.kind_combo.currentIndexChanged.connect(self._kind_changed)
        form.addRow("Kind", self.kind_combo)
        layout.addLayout(form)

        self.stack = QStackedWidget()
        # exact match
        page = QWidget()
        f = QFormLayout(page)
        f.setContentsMargins(0, 0, 0, 0)
        self.field_combo = QComboBox()
        self.field_combo.currentIndexChanged.connect(self._changed)
        f.addRow("Output field", self.field_combo)
        f.addRow(muted("1 when the prediction matches the gold value, else 0."))
        self.stack.addWidget(page)
        # per-field match
        page = QWidget()
        v = QVBoxLayout(page)
        v.setContentsMargins(0, 0, 0, 0)
        v.addWidget(QLabel("Output fields to compare (the score is the fraction that match)"))
        self.fields_list = QListWidget()
        self.fields_list.itemChanged.connect(self._changed)
        v.addWidget(self.fields_list)
        self.stack.addWidget(page)
        # composite
        page = QWidget()
        v = QVBoxLayout(page)
        v.setContentsMargins(0, 0, 0, 0)
        v.addWidget(QLabel("Components (weights are normalised by their sum)"))
        self.components = QTableWidget(0, 3)
        self.components.setHorizontalHeaderLabels(["Weight", "Kind", "Fields (comma-separated)"])
        self.components.verticalHeader().setVisible(False)
        self.components.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.components.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.components.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.components.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.components.itemChanged.connect(self._component_item_changed)
        self.components.currentCellChanged.connect(lambda *a: self._show_normalization())
        v.addWidget(self.components)
        row = QHBoxLayout()
        self.add_component_btn = QPushButton("Add component")
        self.remove_component_btn = QPushButton("Remove component")
        row.addWidget(self.add_component_btn)
        row.addWidget(self.remove_component_btn)
        row.addStretch(1)
        v.addLayout(row)
        self.add_component_btn.clicked.connect(self.add_component)
        self.remove_component_btn.clicked.connect(self.remove_component)
        self.stack.addWidget(page)
        self.fields_list.setMinimumHeight(120)
        self.components.setMinimumHeight(150)
        layout.addWidget(self.stack)

        self.norm_box = QGroupBox("Text normalisation")
        nl = QVBoxLayout(self.norm_box)
        self.norm_checks: dict[str, QCheckBox] = {}
        for key, label, tip in NORMALIZATION:
            check = QCheckBox(label)
            check.setToolTip(tip)
            check.toggled.connect(self._norm_toggled)
            nl.addWidget(check)
            self.norm_checks[key] = check
        nl.addWidget(muted("Numbers, booleans and lists are compared by value (\"3\" matches 3.0)."))
        layout.addWidget(self.norm_box)
        layout.addStretch(1)
        return box

    def _build_try(self) -> QWidget:
        box = QGroupBox("Try on an example")
        layout = QVBoxLayout(box)
        self.picker = ExamplePicker(self.session)
        self.picker.changed.connect(self._fill_try)
        layout.addWidget(self.picker)
        layout.addWidget(muted("Type or choose a predicted value per output field. It starts as the "
                               "gold value, which scores full marks under a sensible metric."))
        self.try_table = QTableWidget(0, 3)
        self.try_table.setHorizontalHeaderLabels(["Field", "Gold value", "Predicted value"])
        self.try_table.verticalHeader().setVisible(False)
        header = self.try_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.try_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        layout.addWidget(self.try_table)
        row = QHBoxLayout()
        self.reset_btn = QPushButton("Reset to gold")
        self.reset_btn.clicked.connect(self._fill_try)
        row.addWidget(self.reset_btn)
        row.addStretch(1)
        layout.addLayout(row)
        self.score_label = QLabel()
        font = self.score_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        self.score_label.setFont(font)
        layout.addWidget(self.score_label)
        self.feedback_label = QLabel()
        self.feedback_label.setWordWrap(True)
        self.feedback_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.feedback_label)
        layout.addStretch(1)
        return box

    # -- Pane contract ---------------------------------------------------------------------------

    def is_busy(self) -> bool:
        return False

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        """Nothing runs in the background here: scoring is instant."""

    # -- loading ------------------------------------------------------------------------------------

    def _outputs(self) -> list[str]:
        project = self.session.project
        return [] if project is None else project.program.output_names

    def _current_data(self) -> tuple[dict, str | None]:
        """The project's metric as a dict, and an error when it does not fit the program."""
        project = self.session.project
        try:
            return project.metric_spec().model_dump(mode="json"), None
        except WorkbenchError as exc:
            try:
                fallback = metrics.default_metric_for(project.program.output_names).model_dump(mode="json")
            except WorkbenchError:
                fallback = {"kind": "exact_match", "field": "", "normalize": {}}
            return fallback, f"The saved metric does not fit the program: {exc} Choose a metric below."

    def _reload(self) -> None:
        project = self.session.project
        has = project is not None
        self._splitter.setVisible(has)
        self.empty.setVisible(not has)
        if not has:
            self.description.setText("")
            self.error.clear_message()
            return
        data, problem = self._current_data()
        self._load(data)
        if problem:
            self.error.show_error(problem)
        else:
            self.error.clear_message()
        self.picker.refresh()

    def _metric_changed(self) -> None:
        if self.session.project is None:
            return
        data, problem = self._current_data()
        try:
            mine = metrics.parse_metric(self._build_data()).model_dump(mode="json")
        except (WorkbenchError, ValueError):
            mine = None
        if mine != data or problem:
            self._reload()
        else:
            self._show_description()
            self._score()

    def _load(self, data: dict) -> None:
        self._loading = True
        try:
            outputs = self._outputs()
            kind = data.get("kind", "exact_match")
            self.kind_combo.setCurrentIndex(max(0, self.kind_combo.findData(kind)))
            self._show_page(self.kind_combo.currentIndex())
            self.field_combo.clear()
            self.field_combo.addItems(outputs)
            self.fields_list.clear()
            chosen = data.get("fields", [data.get("field")] if data.get("field") else outputs)
            for name in outputs:
                item = QListWidgetItem(name)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if name in chosen else Qt.CheckState.Unchecked)
                self.fields_list.addItem(item)
            if kind == "exact_match":
                self.field_combo.setCurrentIndex(max(0, self.field_combo.findText(data.get("field", ""))))
            self._norm = {**metrics.Normalization().model_dump(), **(data.get("normalize") or {})}
            if kind == "composite":
                self._components = copy.deepcopy(data.get("components", []))
            else:
                self._components = [{"weight": 1.0, "metric": copy.deepcopy(data)}]
            self._fill_components()
            self._show_normalization()
        finally:
            self._loading = False
        self._show_description()
        self._fill_try()

    def _fill_components(self) -> None:
        self.components.blockSignals(True)
        self.components.setRowCount(len(self._components))
        for r, component in enumerate(self._components):
            metric = component.get("metric", {})
            spin = QDoubleSpinBox()
            spin.setRange(0.01, 1000.0)
            spin.setDecimals(2)
            spin.setSingleStep(0.5)
            spin.setValue(float(component.get("weight", 1.0)))
            spin.valueChanged.connect(lambda value, r=r: self._weight_changed(r, value))
            self.components.setCellWidget(r, 0, spin)
            kind = metric.get("kind", "exact_match")
            if kind == "composite":
                item = QTableWidgetItem("composite")
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.components.setItem(r, 1, item)
                fields = QTableWidgetItem(metrics.describe(metric) if _valid(metric) else "(nested composite)")
                fields.setFlags(fields.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.components.setItem(r, 2, fields)
                continue
            combo = QComboBox()
            for key, label in COMPONENT_KINDS:
                combo.addItem(label, key)
            combo.setCurrentIndex(max(0, combo.findData(kind)))
            combo.currentIndexChanged.connect(lambda _i, r=r, c=combo: self._component_kind_changed(r, c.currentData()))
            self.components.setCellWidget(r, 1, combo)
            names = metric.get("fields") or ([metric["field"]] if metric.get("field") else [])
            self.components.setItem(r, 2, QTableWidgetItem(", ".join(names)))
        self.components.blockSignals(False)
        if self._components and self.components.currentRow() < 0:
            self.components.setCurrentCell(0, 2)
        self.remove_component_btn.setEnabled(len(self._components) > 1)

    def _show_normalization(self) -> None:
        """The checkboxes show the metric's normalisation, or the selected component's."""
        norm = self._norm
        if self.kind_combo.currentData() == "composite":
            row = self.components.currentRow()
            if 0 <= row < len(self._components):
                metric = self._components[row].get("metric", {})
                norm = {**metrics.Normalization().model_dump(), **(metric.get("normalize") or {})}
                self.norm_box.setTitle(f"Text normalisation · component {row + 1}")
                self.norm_box.setEnabled(metric.get("kind") != "composite")
            else:
                self.norm_box.setEnabled(False)
        else:
            self.norm_box.setTitle("Text normalisation")
            self.norm_box.setEnabled(True)
        was = self._loading
        self._loading = True
        for key, check in self.norm_checks.items():
            check.setChecked(bool(norm.get(key)))
        self._loading = was

    def _show_description(self) -> None:
        try:
            spec = self.session.project.metric_spec()
            self.description.setText(f"Scores by <b>{_html(metrics.describe(spec))}</b>")
        except WorkbenchError:
            self.description.setText("The project's metric is invalid for this program.")

    # -- editing --------------------------------------------------------------------------------

    def _build_data(self) -> dict:
        kind = self.kind_combo.currentData()
        if kind == "exact_match":
            return {"kind": "exact_match", "field": self.field_combo.currentText(), "normalize": dict(self._norm)}
        if kind == "field_match":
            fields = [self.fields_list.item(i).text() for i in range(self.fields_list.count())
                      if self.fields_list.item(i).checkState() == Qt.CheckState.Checked]
            return {"kind": "field_match", "fields": fields, "normalize": dict(self._norm)}
        return {"kind": "composite", "components": copy.deepcopy(self._components)}

    def _apply(self, text: str = "Change metric") -> bool:
        """Validate the widgets' metric; apply it through the undo stack when valid."""
        project = self.session.project
        if project is None or self._loading:
            return False
        data = self._build_data()
        try:
            spec = metrics.parse_metric(data)
            metrics.validate_metric(spec, project.program.output_names)
        except WorkbenchError as exc:
            self.error.show_error(f"{exc} Not applied.")
            self._score()
            return False
        self.error.clear_message()
        new = spec.model_dump(mode="json")
        current, problem = self._current_data()
        if new == current and not problem:
            return True
        old = current if not problem else dict(project.config.metric)
        self.session.undo_stack.push(SetMetricCommand(self.session, old, new, text))
        return True

    def _changed(self, *_args) -> None:
        if not self._loading:
            self._apply()

    def _show_page(self, index: int) -> None:
        """Show one page; the stack takes the height of that page only (not the tallest one)."""
        from PySide6.QtWidgets import QSizePolicy

        self.stack.setCurrentIndex(index)
        for i in range(self.stack.count()):
            policy = QSizePolicy.Policy.Preferred if i == index else QSizePolicy.Policy.Ignored
            self.stack.widget(i).setSizePolicy(policy, policy)
        self.stack.adjustSize()

    def _kind_changed(self, index: int) -> None:
        self._show_page(index)
        if self._loading:
            return
        if self.kind_combo.currentData() == "composite" and not self._components:
            self._components = [{"weight": 1.0, "metric": self._simple_default()}]
        self._fill_components()
        self._show_normalization()
        self._apply("Change metric kind")

    def _simple_default(self) -> dict:
        outputs = self._outputs()
        return {"kind": "exact_match", "field": outputs[0] if outputs else "", "normalize": dict(self._norm)}

    def _norm_toggled(self, _checked: bool) -> None:
        if self._loading:
            return
        values = {key: check.isChecked() for key, check in self.norm_checks.items()}
        if self.kind_combo.currentData() == "composite":
            row = self.components.currentRow()
            if 0 <= row < len(self._components):
                self._components[row]["metric"]["normalize"] = values
        else:
            self._norm = values
        self._apply("Change normalisation")

    def _weight_changed(self, row: int, value: float) -> None:
        if self._loading or row >= len(self._components):
            return
        self._components[row]["weight"] = value
        self._apply("Change weight")

    def _component_kind_changed(self, row: int, kind: str) -> None:
        if self._loading or row >= len(self._components):
            return
        self._components[row]["metric"] = self._component_metric(kind, self.components.item(row, 2).text(),
                                                                 self._components[row]["metric"])
        self._apply("Change component")

    def _component_item_changed(self, item: QTableWidgetItem) -> None:
        if self._loading or item.column() != 2 or item.row() >= len(self._components):
            return
        row = item.row()
        metric = self._components[row]["metric"]
        self._components[row]["metric"] = self._component_metric(metric.get("kind", "exact_match"), item.text(), metric)
        self._apply("Change component")

    @staticmethod
    def _component_metric(kind: str, fields_text: str, previous: dict) -> dict:
        names = [n.strip() for n in fields_text.split(",") if n.strip()]
        norm = previous.get("normalize") or {}
        if kind == "exact_match":
            return {"kind": "exact_match", "field": names[0] if len(names) == 1 else ", ".join(names),
                    "normalize": norm}
        return {"kind": "field_match", "fields": names, "normalize": norm}

    def add_component(self) -> None:
        self._components.append({"weight": 1.0, "metric": self._simple_default()})
        self._fill_components()
        self.components.setCurrentCell(len(self._components) - 1, 2)
        self._apply("Add metric component")

    def remove_component(self) -> None:
        row = self.components.currentRow()
        if len(self._components) <= 1 or not (0 <= row < len(self._components)):
            return
        del self._components[row]
        self._fill_components()
        self._show_normalization()
        self._apply("Remove metric component")

    # -- trying it ------------------------------------------------------------------------------------

    def _fill_try(self) -> None:
        project = self.session.project
        if project is None:
            return
        program = project.program
        outputs = program.output_fields
        gold = self.picker.values([f.name for f in outputs])
        self.try_table.setRowCount(len(outputs))
        for r, field in enumerate(outputs):
            name = QTableWidgetItem(field.name)
            self.try_table.setItem(r, 0, name)
            self.try_table.setItem(r, 1, QTableWidgetItem(gold.get(field.name, "")))
            if field.type == "literal":
                editor = QComboBox()
                editor.setEditable(True)
                editor.addItems(field.choices)
                editor.setCurrentText(gold.get(field.name, ""))
                editor.currentTextChanged.connect(self._score)
            elif field.type == "bool":
                editor = QComboBox()
                editor.setEditable(True)
                editor.addItems(["true", "false"])
                editor.setCurrentText(gold.get(field.name, ""))
                editor.currentTextChanged.connect(self._score)
            else:
                editor = QLineEdit(gold.get(field.name, ""))
                editor.textChanged.connect(self._score)
            self.try_table.setCellWidget(r, 2, editor)
        self.try_table.resizeRowsToContents()
        fit_table_height(self.try_table)
        self._score()

    def set_prediction(self, field: str, value: str) -> None:
        """Type `value` as the predicted value of `field` (what a user does in the table)."""
        for r in range(self.try_table.rowCount()):
            if self.try_table.item(r, 0).text() == field:
                editor = self.try_table.cellWidget(r, 2)
                if isinstance(editor, QComboBox):
                    editor.setCurrentText(value)
                else:
                    editor.setText(value)
                return
        raise KeyError(field)

    def prediction(self) -> dict[str, str]:
        out = {}
        for r in range(self.try_table.rowCount()):
            editor = self.try_table.cellWidget(r, 2)
            text = editor.currentText() if isinstance(editor, QComboBox) else editor.text()
            out[self.try_table.item(r, 0).text()] = text
        return out

    def _score(self, *_args) -> None:
        project = self.session.project
        if project is None:
            return
        if self.picker.row() is None:
            self.score_label.setText("")
            self.feedback_label.setText("Add examples to the dataset to try the metric on one.")
            return
        try:
            spec = metrics.parse_metric(self._build_data())
            metrics.validate_metric(spec, project.program.output_names)
        except WorkbenchError:
            self.score_label.setText("—")
            self.feedback_label.setText("Fix the metric to score this example.")
            return
        gold = self.picker.values(project.program.output_names)
        pred = self.prediction()
        value, text = metrics.feedback(spec, gold, pred)
        color = good_color(self) if value >= 1.0 - 1e-9 else bad_color(self)
        self.score_label.setText(f"Score {value:.2f}")
        self.score_label.setStyleSheet(f"color: {color.name()}")
        self.feedback_label.setText(text)
        self.last_score = value
        self.scored.emit(value)


def _valid(data: dict) -> bool:
    try:
        metrics.parse_metric(data)
        return True
    except WorkbenchError:
        return False


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
