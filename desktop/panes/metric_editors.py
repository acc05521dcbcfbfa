"""One editor per metric kind, used by the Metric pane for the metric and for a composite's parts.

Each editor shows one kind's settings and gives them back as the dict `engine.metrics.parse_metric`
reads (`data()`), without the text normalisation, which the pane's own group edits for the kinds
that have one (`uses_normalization`). `load(data, project)` fills it from a spec dict and the
project's program and model profiles; editing emits `changed`. No editor validates anything:
the pane hands the dict to the engine, which says what is wrong.

Signals (every editor):
    changed()   a setting was edited by the user (not by `load`)
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget)

from desktop.panes.common import muted

JUDGE_DEFAULT_RUBRIC = ("A good answer does what the gold answer does: it is correct, complete and "
                        "consistent with the inputs, and says nothing the inputs do not support.")
VERDICTS = (("pass_fail", "Pass / fail"), ("scale_1_5", "Score 1-5 (mapped to 0-1)"))
PROJECT_MODEL = "The project's compile model"
ROUGE_VARIANTS = (("rougeL", "ROUGE-L (longest common subsequence)"), ("rouge1", "ROUGE-1 (single words)"),
                  ("rouge2", "ROUGE-2 (word pairs)"))
TOKEN_F1_NORMALIZATION = (("squad", "Lowercase, drop punctuation and articles (SQuAD)"),
                          ("lowercase", "Lowercase only"), ("none", "Compare the words as written"))


class KindEditor(QWidget):
    kind = ""
    uses_normalization = False
    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._loading = False

    def load(self, data: dict, project) -> None:
        self._loading = True
        try:
            self._fill(data, project)
        finally:
            self._loading = False

    def _fill(self, data: dict, project) -> None:
        raise NotImplementedError

    def data(self) -> dict:
        raise NotImplementedError

    def _edited(self, *_args) -> None:
        if not self._loading:
            self.changed.emit()

    def _output_field_form(self) -> QFormLayout:
        """The editor's form, opening with the "Output field" choice (`self.field_combo`) that the
        one-field kinds (token F1, ROUGE, edit similarity, contains, ...) all start with."""
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.field_combo = QComboBox()
        self.field_combo.currentIndexChanged.connect(self._edited)
        form.addRow("Output field", self.field_combo)
        return form

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
        # Text typed in a box is applied after a pause, or at once when the box loses focus.
        if event.type() == QEvent.Type.FocusOut and hasattr(self, "flush"):
            self.flush()
        return False


def _outputs(project) -> list[str]:
    return [] if project is None else list(project.program.output_names)


def _inputs(project) -> list[str]:
    return [] if project is None else list(project.program.input_names)


def _fill_combo(combo: QComboBox, names: list[str], current: str) -> None:
    combo.clear()
    combo.addItems(names)
    if current and current not in names:
        combo.addItem(current)  # a field the program no longer has: shown, so the error makes sense
    combo.setCurrentIndex(max(0, combo.findText(current)))


class _CheckList(QListWidget):
    """Names with a checkbox each; `checked()` in the list's order."""

    def fill(self, names: list[str], checked: list[str]) -> None:
        self.clear()
        for name in list(names) + [n for n in checked if n not in names]:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in checked else Qt.CheckState.Unchecked)
            self.addItem(item)
        rows = max(1, self.count())
        self.setFixedHeight(min(6, rows) * (self.sizeHintForRow(0) if self.count() else 20) + 2 * self.frameWidth() + 4)

    def checked(self) -> list[str]:
        return [self.item(i).text() for i in range(self.count())
                if self.item(i).checkState() == Qt.CheckState.Checked]

    def set_checked(self, name: str, on: bool) -> None:
        for i in range(self.count()):
            if self.item(i).text() == name:
                self.item(i).setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
                return
        raise KeyError(name)


class ExactMatchEditor(KindEditor):
    kind = "exact_match"
    uses_normalization = True

    def __init__(self, parent=None):
        super().__init__(parent)
        form = self._output_field_form()
        form.addRow(muted("1 when the prediction matches the gold value, else 0."))

    def _fill(self, data, project):
        _fill_combo(self.field_combo, _outputs(project), data.get("field") or "")

    def data(self):
        return {"kind": "exact_match", "field": self.field_combo.currentText()}


class FieldMatchEditor(KindEditor):
    kind = "field_match"
    uses_normalization = True

    def __init__(self, parent=None):
        super().__init__(parent)
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        v.addWidget(QLabel("Output fields to compare (the score is the fraction that match)"))
        self.fields_list = _CheckList()
        self.fields_list.itemChanged.connect(self._edited)
        v.addWidget(self.fields_list)

    def _fill(self, data, project):
        outputs = _outputs(project)
        chosen = data.get("fields") or ([data["field"]] if data.get("field") else outputs)
        self.fields_list.fill(outputs, chosen)

    def data(self):
        return {"kind": "field_match", "fields": self.fields_list.checked()}


class TokenF1Editor(KindEditor):
    kind = "token_f1"

    def __init__(self, parent=None):
        super().__init__(parent)
        form = self._output_field_form()
        self.normalization_combo = QComboBox()
        for key, label in TOKEN_F1_NORMALIZATION:
            self.normalization_combo.addItem(label, key)
        self.normalization_combo.currentIndexChanged.connect(self._edited)
        form.addRow("Before comparing", self.normalization_combo)
        form.addRow(muted("SQuAD-style token overlap: the F1 of the words the prediction shares with the "
                          "gold text (1 when they hold the same words, 0 when none are shared)."))

    def _fill(self, data, project):
        _fill_combo(self.field_combo, _outputs(project), data.get("field") or "")
        self.normalization_combo.setCurrentIndex(
            max(0, self.normalization_combo.findData(data.get("normalization") or "squad")))

    def data(self):
        return {"kind": "token_f1", "field": self.field_combo.currentText(),
                "normalization": self.normalization_combo.currentData()}


class RougeEditor(KindEditor):
    kind = "rouge"

    def __init__(self, parent=None):
        super().__init__(parent)
        form = self._output_field_form()
        self.variant_combo = QComboBox()
        for key, label in ROUGE_VARIANTS:
            self.variant_combo.addItem(label, key)
        self.variant_combo.currentIndexChanged.connect(self._edited)
        form.addRow("Variant", self.variant_combo)
        self.stemmer_check = QCheckBox("Stem words first (“refunds” matches “refund”)")
        self.stemmer_check.toggled.connect(self._edited)
        form.addRow("", self.stemmer_check)
        form.addRow(muted("The ROUGE F-measure between the gold and the predicted text, as Google's "
                          "rouge-score computes it."))

    def _fill(self, data, project):
        _fill_combo(self.field_combo, _outputs(project), data.get("field") or "")
        self.variant_combo.setCurrentIndex(max(0, self.variant_combo.findData(data.get("variant") or "rougeL")))
        self.stemmer_check.setChecked(bool(data.get("stemmer", True)))

    def data(self):
        return {"kind": "rouge", "field": self.field_combo.currentText(),
                "variant": self.variant_combo.currentData(), "stemmer": self.stemmer_check.isChecked()}


class EditSimilarityEditor(KindEditor):
    kind = "edit_similarity"
    uses_normalization = True

    def __init__(self, parent=None):
        super().__init__(parent)
        form = self._output_field_form()
        form.addRow(muted("1 minus the normalised edit distance (rapidfuzz): for short text where a typo "
                          "should cost a little, not everything."))

    def _fill(self, data, project):
        _fill_combo(self.field_combo, _outputs(project), data.get("field") or "")

    def data(self):
        return {"kind": "edit_similarity", "field": self.field_combo.currentText()}


class ContainsEditor(KindEditor):
    kind = "contains"

    def __init__(self, parent=None):
        super().__init__(parent)
        form = self._output_field_form()
        self.patterns_edit = QPlainTextEdit()
        self.patterns_edit.setPlaceholderText("One per line, e.g. POL-\\d{4} or “refund”")
        self.patterns_edit.setFixedHeight(84)
        self.patterns_edit.setTabChangesFocus(True)
        self._typing = QTimer(self)
        self._typing.setSingleShot(True)
        self._typing.setInterval(400)
        self._typing.timeout.connect(self._edited)
        self.patterns_edit.textChanged.connect(lambda: None if self._loading else self._typing.start())
        self.patterns_edit.installEventFilter(self)
        form.addRow("Must contain", self.patterns_edit)
        self.regex_check = QCheckBox("Patterns are regular expressions")
        self.regex_check.toggled.connect(self._edited)
        form.addRow("", self.regex_check)
        self.case_check = QCheckBox("Case-sensitive")
        self.case_check.toggled.connect(self._edited)
        form.addRow("", self.case_check)
        form.addRow(muted("1 when every line appears in the field, else 0: for critical requirements such "
                          "as “mentions the policy number”."))

    def _fill(self, data, project):
        _fill_combo(self.field_combo, _outputs(project), data.get("field") or "")
        self.patterns_edit.setPlainText("\n".join(data.get("patterns") or []))
        self.regex_check.setChecked(bool(data.get("regex")))
        self.case_check.setChecked(bool(data.get("case_sensitive")))

    def flush(self) -> None:
        """Apply typed patterns now instead of after the typing pause."""
        if self._typing.isActive():
            self._typing.stop()
            self._edited()

    def data(self):
        patterns = [line for line in self.patterns_edit.toPlainText().splitlines() if line.strip()]
        return {"kind": "contains", "field": self.field_combo.currentText(), "patterns": patterns,
                "regex": self.regex_check.isChecked(), "case_sensitive": self.case_check.isChecked()}


class JudgeEditor(KindEditor):
    """Rubric, what the judge sees, its verdict and its model."""

    kind = "llm_judge"

    def __init__(self, parent=None):
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.rubric_edit = QPlainTextEdit()
        self.rubric_edit.setPlaceholderText("What a good answer does, e.g. “cites the policy that applies and "
                                            "offers the remedy it allows”")
        self.rubric_edit.setFixedHeight(96)
        self.rubric_edit.setTabChangesFocus(True)
        self._typing = QTimer(self)
        self._typing.setSingleShot(True)
        self._typing.setInterval(600)
        self._typing.timeout.connect(self._edited)
        self.rubric_edit.textChanged.connect(lambda: None if self._loading else self._typing.start())
        self.rubric_edit.installEventFilter(self)
        form.addRow("Rubric", self.rubric_edit)
        sees = QHBoxLayout()
        self.inputs_list, self.gold_list, self.outputs_list = _CheckList(), _CheckList(), _CheckList()
        for title, widget in (("Inputs", self.inputs_list), ("Gold outputs", self.gold_list),
                              ("Program outputs (judged)", self.outputs_list)):
            column = QVBoxLayout()
            column.addWidget(muted(title, wrap=False))
            widget.itemChanged.connect(self._edited)
            column.addWidget(widget)
            column.addStretch(1)
            sees.addLayout(column, 1)
        form.addRow("The judge sees", sees)
        self.verdict_combo = QComboBox()
        for key, label in VERDICTS:
            self.verdict_combo.addItem(label, key)
        self.verdict_combo.currentIndexChanged.connect(self._edited)
        form.addRow("Verdict", self.verdict_combo)
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("The model profile that judges (any profile of the project)")
        self.model_combo.currentIndexChanged.connect(self._edited)
        form.addRow("Judge model", self.model_combo)
        form.addRow(muted("The judge is a prompt the engine runs on a model: calibrate it on the Calibrate "
                          "tab before optimizing against it."))

    def _fill(self, data, project):
        self._threshold = data.get("calibration_threshold")  # edited on the Calibrate tab
        self.rubric_edit.setPlainText(data.get("rubric") or "")
        inputs, outputs = _inputs(project), _outputs(project)
        self.inputs_list.fill(inputs, list(data.get("inputs") or []))
        self.gold_list.fill(outputs, list(data.get("gold") or []))
        self.outputs_list.fill(outputs, list(data.get("outputs") or []))
        self.verdict_combo.setCurrentIndex(max(0, self.verdict_combo.findData(data.get("verdict") or "pass_fail")))
        self.model_combo.clear()
        self.model_combo.addItem(PROJECT_MODEL, None)
        names = sorted(project.profiles) if project is not None else []
        model = data.get("model")
        for name in names + ([model] if model and model not in names else []):
            self.model_combo.addItem(name, name)
        self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(model)) if model else 0)

    def flush(self) -> None:
        if self._typing.isActive():
            self._typing.stop()
            self._edited()

    def data(self):
        data = {"kind": "llm_judge", "rubric": self.rubric_edit.toPlainText().strip(),
                "inputs": self.inputs_list.checked(), "gold": self.gold_list.checked(),
                "outputs": self.outputs_list.checked(), "verdict": self.verdict_combo.currentData(),
                "model": self.model_combo.currentData()}
        if getattr(self, "_threshold", None) is not None:
            data["calibration_threshold"] = self._threshold
        return data

    @staticmethod
    def default(project) -> dict:
        outputs = _outputs(project)
        return {"kind": "llm_judge", "rubric": JUDGE_DEFAULT_RUBRIC, "inputs": _inputs(project),
                "gold": outputs, "outputs": outputs, "verdict": "pass_fail", "model": None}


class PythonMetricEditor(KindEditor):
    """A function in the user's own file. Choosing the file asks to trust it (the pane does that,
    through engine.trust); the editor only shows the path, the function and the trust state.

    Signals:
        choose_file()     "Use a Python file…" was pressed
        trust_file()      "Trust this file…" was pressed
    """

    kind = "python"
    choose_file = Signal()
    trust_file = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.path_label = QLabel()
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.path_label.setWordWrap(True)
        row.addWidget(self.path_label, 1)
        self.choose_btn = QPushButton("Use a Python file…")
        self.choose_btn.clicked.connect(self.choose_file)
        row.addWidget(self.choose_btn)
        form.addRow("File", row)
        self.function_combo = QComboBox()
        self.function_combo.setEditable(True)
        self.function_combo.setToolTip("A function (example, prediction, trace=None) -> a number in [0, 1] or a bool")
        self.function_combo.currentTextChanged.connect(self._edited)
        form.addRow("Function", self.function_combo)
        trust_row = QHBoxLayout()
        self.trust_label = QLabel()
        self.trust_label.setWordWrap(True)
        trust_row.addWidget(self.trust_label, 1)
        self.trust_btn = QPushButton("Trust this file…")
        self.trust_btn.clicked.connect(self.trust_file)
        trust_row.addWidget(self.trust_btn)
        form.addRow("Trust", trust_row)
        form.addRow(muted("A metric from a file is code: it runs only once you trust that exact version "
                          "of the file (kept in your own settings, never in the project)."))
        self._path = ""

    def _fill(self, data, project):
        self._path = data.get("path") or ""
        self.path_label.setText(self._path or "No file chosen")
        self.set_functions(function_names(project, self._path), data.get("function") or "")

    def set_functions(self, names: list[str], current: str) -> None:
        was = self._loading
        self._loading = True
        try:
            self.function_combo.clear()
            self.function_combo.addItems(names)
            self.function_combo.setCurrentText(current or (names[0] if names else ""))
        finally:
            self._loading = was

    def set_path(self, path: str, functions: list[str]) -> None:
        self._path = path
        self.path_label.setText(path)
        current = self.function_combo.currentText()
        self.set_functions(functions, current if current in functions else "")
        self.changed.emit()

    def show_trust(self, trusted: bool | None, sha256: str = "") -> None:
        """None: no readable file yet."""
        self.trust_btn.setVisible(trusted is False)
        if trusted is None:
            self.trust_label.setText("—")
        elif trusted:
            self.trust_label.setText(f"✔ trusted in this version (sha256 {sha256[:12]})")
        else:
            self.trust_label.setText(f"✖ not trusted in this version (sha256 {sha256[:12]}): it will not run")

    def data(self):
        return {"kind": "python", "path": self._path, "function": self.function_combo.currentText().strip()}


def function_names(project, path: str) -> list[str]:
    """Top-level function names in the file, read with `ast` (parsed, never run), to offer as choices."""
    import ast

    if not path:
        return []
    file = Path(path)
    if not file.is_absolute() and project is not None:
        file = project.root / file
    try:
        tree = ast.parse(file.read_text("utf-8"))
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return []
    return [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]


EDITOR_CLASSES: dict[str, type[KindEditor]] = {
    cls.kind: cls for cls in (ExactMatchEditor, FieldMatchEditor, JudgeEditor, TokenF1Editor, RougeEditor,
                              EditSimilarityEditor, ContainsEditor, PythonMetricEditor)
}
