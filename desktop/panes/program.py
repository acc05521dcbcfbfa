"""The Program pane: edit the program's stages and fields, and see the exact prompt it sends.

Every edit changes a draft (the program as a dict), which is validated by
`engine.programs.parse_program`. A valid draft is applied through one QUndoCommand on the
session's undo stack; an invalid one is shown as an inline error and never applied, so the
project always holds a valid program. Typing in the instructions is merged into one undo step
per stage.

A program read from the user's own Python module (engine/user_module.py) is shown read-only:
its code owns the predictors and signatures. "Use a Python module..." sets one; a module not
trusted in this version shows a banner whose "Trust this file..." asks once per file version.

The live prompt preview renders the messages the chosen model profile's prompt format would
send for one example (`engine.prompts.render_program_prompts`, no LM call) on a background
thread: the first render imports DSPy (about a second).
"""

from __future__ import annotations

import json

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QUndoCommand
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QFormLayout, QGroupBox,
                               QHBoxLayout, QHeaderView, QInputDialog, QLabel, QLineEdit,
                               QListWidget, QMessageBox, QPlainTextEdit, QPushButton, QSplitter,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from desktop.panes.base import Pane
from desktop.panes.common import ExamplePicker, MessageBanner, heading, monospace_font, muted
from desktop.worker import WorkerSet
from engine.errors import WorkbenchError
from engine.programs import ProgramSpec, parse_program

FIELD_TYPES = ("str", "int", "float", "bool", "list[str]", "literal")
MODULES = (("predict", "Predict"), ("cot", "ChainOfThought"))
COL_ROLE, COL_NAME, COL_TYPE, COL_CHOICES, COL_DESC = range(5)
_MERGE_ID = 0x5052  # "PR": instruction edits of one stage merge into one undo step


class SetProgramCommand(QUndoCommand):
    """Replace the project's program (redo) and put the previous one back (undo)."""

    def __init__(self, session, old: ProgramSpec, new: ProgramSpec, text: str, merge_key=None):
        super().__init__(text)
        self.session = session
        self.project = session.project
        self.old, self.new = old, new
        self.old_metric = dict(session.project.config.metric)  # set_program may reset it
        self.merge_key = merge_key
        self.change = None  # the engine's ProgramChange of the last redo

    def _apply(self, spec: ProgramSpec, metric: dict | None = None):
        if self.session.project is not self.project:
            return None  # the project was closed or switched; this command no longer applies
        change = self.project.set_program(spec)  # the one rule both faces follow (engine.project)
        if metric is not None and metric != self.project.config.metric:
            self.project.config.metric = dict(metric)
            change.metric_reset = True
        self.session.notify_changed(program=True, metric=change.metric_reset, dataset=bool(change.columns_added))
        return change

    def redo(self) -> None:
        self.change = self._apply(self.new)

    def undo(self) -> None:
        self._apply(self.old, self.old_metric)

    def id(self) -> int:
        return _MERGE_ID if self.merge_key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetProgramCommand) or other.merge_key != self.merge_key:
            return False
        self.new = other.new
        return True


class ProgramPane(Pane):
    """Stages, fields and instructions of the program, with a live prompt preview.

    Signals:
        preview_rendered()   the prompt preview finished rendering (or failed to)
    """

    preview_rendered = Signal()

    title = "Program"
    icon_name = "program"

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(session, parent)
        self._draft: dict | None = None
        self._stage = 0
        self._loading = False
        self._workers = WorkerSet(self)
        self._render_pending = False
        self.render_count = 0  # finished renders (tests wait on preview_rendered)
        self._build()
        self._instr_timer = QTimer(self)
        self._instr_timer.setSingleShot(True)
        self._instr_timer.setInterval(600)
        self._instr_timer.timeout.connect(self._commit_instructions)
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(200)
        self._preview_timer.timeout.connect(self._render_preview)
        session.opened.connect(self._reload)
        session.closed.connect(self._reload)
        session.program_changed.connect(self._program_changed)
        session.dataset_changed.connect(self.picker.refresh)
        self._reload()

    # -- layout ----------------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(heading("Program"))
        top.addSpacing(12)
        top.addWidget(QLabel("Name"))
        self.name_edit = QLineEdit()
        self.name_edit.setMaximumWidth(260)
        self.name_edit.editingFinished.connect(self._name_edited)
        top.addWidget(self.name_edit)
        top.addStretch(1)
        self.use_module_btn = QPushButton("Use a Python module…")
        self.use_module_btn.setToolTip("Optimize your own dspy.Module from a .py file (its code runs once you trust it)")
        self.use_module_btn.clicked.connect(self.use_python_module)
        top.addWidget(self.use_module_btn)
        top.addSpacing(12)
        self.fingerprint = QLabel()
        self.fingerprint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fingerprint.setFont(monospace_font())
        top.addWidget(self.fingerprint)
        outer.addLayout(top)
        self.error = MessageBanner()
        outer.addWidget(self.error)
        module_row = QHBoxLayout()
        self.module_info = MessageBanner()
        module_row.addWidget(self.module_info, 1)
        self.trust_btn = QPushButton("Trust this file…")
        self.trust_btn.setToolTip("Read the file first: trusting it lets the Workbench run this version of it")
        self.trust_btn.clicked.connect(self.trust_module)
        module_row.addWidget(self.trust_btn)
        outer.addLayout(module_row)
        self.trust_btn.hide()

        splitter = QSplitter(Qt.Orientation.Horizontal)
        outer.addWidget(splitter, 1)
        splitter.addWidget(self._build_stage_list())
        splitter.addWidget(self._build_stage_editor())
        splitter.addWidget(self._build_preview())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 3)
        splitter.setStretchFactor(2, 3)
        splitter.setSizes([150, 580, 450])
        self.empty = muted("Open or create a project to edit its program.")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        outer.addWidget(self.empty)
        self._splitter = splitter

    def _build_stage_list(self) -> QWidget:
        box = QGroupBox("Stages")
        layout = QVBoxLayout(box)
        self.stage_list = QListWidget()
        self.stage_list.currentRowChanged.connect(self._stage_selected)
        layout.addWidget(self.stage_list, 1)
        row = QHBoxLayout()
        self.add_stage_btn = QPushButton("Add")
        self.add_stage_btn.setToolTip("Add a stage after the last one; it reads the previous stage's output")
        self.remove_stage_btn = QPushButton("Remove")
        row.addWidget(self.add_stage_btn)
        row.addWidget(self.remove_stage_btn)
        layout.addLayout(row)
        row = QHBoxLayout()
        self.up_btn = QPushButton("▲ Up")
        self.up_btn.setToolTip("Run this stage earlier")
        self.down_btn = QPushButton("▼ Down")
        self.down_btn.setToolTip("Run this stage later")
        row.addWidget(self.up_btn)
        row.addWidget(self.down_btn)
        layout.addLayout(row)
        self.add_stage_btn.clicked.connect(self.add_stage)
        self.remove_stage_btn.clicked.connect(self.remove_stage)
        self.up_btn.clicked.connect(lambda: self.move_stage(-1))
        self.down_btn.clicked.connect(lambda: self.move_stage(+1))
        box.setMinimumWidth(150)
        return box

    def _build_stage_editor(self) -> QWidget:
        box = QGroupBox("Stage")
        layout = QVBoxLayout(box)
        form = QFormLayout()
        self.stage_name = QLineEdit()
        self.stage_name.setToolTip("A Python identifier; the predictor is saved under this name")
        self.stage_name.editingFinished.connect(self._stage_name_edited)
        form.addRow("Name", self.stage_name)
        self.module_combo = QComboBox()
        for key, label in MODULES:
            self.module_combo.addItem(label, key)
        self.module_combo.setToolTip("ChainOfThought adds a 'reasoning' output before the answer")
        self.module_combo.currentIndexChanged.connect(self._module_changed)
        form.addRow("Module", self.module_combo)
        layout.addLayout(form)
        layout.addWidget(QLabel("Instructions"))
        self.instructions = QPlainTextEdit()
        self.instructions.setPlaceholderText("What the model should do, in plain words")
        self.instructions.textChanged.connect(self._instructions_typed)
        # One undo history: the box keeps none of its own, and Ctrl+Z in it undoes the session's
        # last step (the typing just done is committed first), as the Edit menu does.
        self.instructions.setUndoRedoEnabled(False)
        self._undo_keys = SessionUndoKeys(self.session.undo_stack, before=self._flush_instructions, parent=self)
        self.instructions.installEventFilter(self._undo_keys)
        layout.addWidget(self.instructions, 2)
        layout.addWidget(QLabel("Fields"))
        self.fields = QTableWidget(0, 5)
        self.fields.setHorizontalHeaderLabels(["Role", "Name", "Type", "Choices", "Description"])
        self.fields.verticalHeader().setVisible(False)
        header = self.fields.horizontalHeader()
        header.setSectionResizeMode(COL_ROLE, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_TYPE, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(COL_CHOICES, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(COL_DESC, QHeaderView.ResizeMode.Stretch)
        self.fields.setColumnWidth(COL_NAME, 120)
        self.fields.setColumnWidth(COL_CHOICES, 120)
        self.fields.setWordWrap(False)
        self.fields.setTextElideMode(Qt.TextElideMode.ElideRight)
        header.setMinimumSectionSize(60)
        self.fields.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.fields.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.fields.itemChanged.connect(self._field_item_changed)
        layout.addWidget(self.fields, 3)
        row = QHBoxLayout()
        self.add_input_btn = QPushButton("Add input")
        self.add_output_btn = QPushButton("Add output")
        self.remove_field_btn = QPushButton("Remove field")
        for b in (self.add_input_btn, self.add_output_btn, self.remove_field_btn):
            row.addWidget(b)
        row.addStretch(1)
        layout.addLayout(row)
        hint = muted("Choices: for a literal field, comma-separated (e.g. low, medium, high).")
        layout.addWidget(hint)
        self.add_input_btn.clicked.connect(lambda: self.add_field("input"))
        self.add_output_btn.clicked.connect(lambda: self.add_field("output"))
        self.remove_field_btn.clicked.connect(self.remove_field)
        return box

    def _build_preview(self) -> QWidget:
        box = QGroupBox("Prompt preview")
        layout = QVBoxLayout(box)
        self.picker = ExamplePicker(self.session)
        self.picker.changed.connect(self._schedule_preview)
        layout.addWidget(self.picker)
        row = QHBoxLayout()
        row.addWidget(QLabel("Model profile"))
        self.profile_combo = QComboBox()
        self.profile_combo.setToolTip("The preview uses this profile's prompt format")
        self.profile_combo.currentIndexChanged.connect(self._schedule_preview)
        row.addWidget(self.profile_combo, 1)
        layout.addLayout(row)
        self.preview_status = muted(wrap=True)
        layout.addWidget(self.preview_status)
        splitter = QSplitter(Qt.Orientation.Vertical)
        self.preview = QPlainTextEdit()
        self.preview.setReadOnly(True)
        self.preview.setFont(monospace_font())
        self.preview.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.preview.setPlaceholderText("The exact messages sent to the model appear here.")
        splitter.addWidget(self.preview)
        schema_box = QWidget()
        schema_layout = QVBoxLayout(schema_box)
        schema_layout.setContentsMargins(0, 0, 0, 0)
        schema_layout.addWidget(QLabel("Response format (JSON schema the model is held to)"))
        self.schema_view = QPlainTextEdit()
        self.schema_view.setReadOnly(True)
        self.schema_view.setFont(monospace_font())
        self.schema_view.setPlaceholderText("No response format: this prompt format parses free text.")
        schema_layout.addWidget(self.schema_view)
        splitter.addWidget(schema_box)
        splitter.setSizes([400, 160])
        layout.addWidget(splitter, 1)
        return box

    # -- Pane contract -------------------------------------------------------------------------

    def is_busy(self) -> bool:
        """Never: a prompt render is quick, loses nothing, and `shutdown` waits for it. (The main
        window asks "a run is in progress, cancel it?" for busy panes.)"""
        return False

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        self._preview_timer.stop()
        self._workers.shutdown(timeout_ms)

    # -- loading from the project ------------------------------------------------------------------

    def _reload(self) -> None:
        project = self.session.project
        has = project is not None
        self._splitter.setVisible(has)
        self.empty.setVisible(not has)
        self.name_edit.setEnabled(has)
        if not has:
            self._draft = None
            self.fingerprint.setText("")
            self.error.clear_message()
            self._show_module_state()
            return
        self._draft = _draft_of(project.program)
        self._stage = min(self._stage, len(self._draft["stages"]) - 1)
        self.error.clear_message()
        self._show_module_state()
        self._fill_profiles()
        self._refresh_all()
        self.picker.refresh()

    def _fill_profiles(self) -> None:
        project = self.session.project
        current = self.profile_combo.currentData()
        self.profile_combo.blockSignals(True)
        self.profile_combo.clear()
        try:
            profiles = project.profiles
        except WorkbenchError:
            profiles = {}
        for name, profile in profiles.items():
            self.profile_combo.addItem(f"{name} ({profile.format} format)", name)
        wanted = current or project.config.compile.model
        index = self.profile_combo.findData(wanted)
        self.profile_combo.setCurrentIndex(max(0, index))
        self.profile_combo.blockSignals(False)

    def _program_changed(self) -> None:
        project = self.session.project
        if project is None:
            return
        ours = self._draft_spec()
        if self.module_mode or ours is None or ours.canonical_json() != project.program.canonical_json():
            self._draft = _draft_of(project.program)  # undo/redo, another editor, or the user's module
            self._stage = max(0, min(self._stage, len(self._draft["stages"]) - 1))
            self.error.clear_message()
            self._show_module_state()
            self._refresh_all()
        else:
            self._show_fingerprint()
            self._schedule_preview()

    @property
    def module_mode(self) -> bool:
        """The program is the user's module: its code owns predictors and signatures (read-only)."""
        project = self.session.project
        return project is not None and getattr(project.program, "kind", None) == "python"

    def _show_module_state(self) -> None:
        module = self.module_mode
        for widget in (self.name_edit, self.stage_name, self.module_combo, self.add_stage_btn,
                       self.remove_stage_btn, self.up_btn, self.down_btn, self.add_input_btn,
                       self.add_output_btn, self.remove_field_btn):
            widget.setEnabled(not module and self.session.project is not None)
        self.instructions.setReadOnly(module)
        self.fields.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers if module
                                    else QAbstractItemView.EditTrigger.AllEditTriggers)
        self.trust_btn.setVisible(False)
        if not module:
            self.module_info.clear_message()
            return
        from engine.user_module import untrusted_reason

        program = self.session.project.program
        outputs = ", ".join(program.output_names)
        text = (f"From your module {program.name} in {program.source}: inputs {', '.join(program.input_names)} "
                f"(forward's parameters) → outputs {outputs}. Its code owns the predictors and "
                "signatures, so they are read-only here; edit the file to change them.")
        reason = untrusted_reason(program)
        if reason is None:
            self.module_info.show_info(text)
        else:
            self.module_info.show_warning(f"{program.source} is not trusted in this version (sha256 "
                                          f"{reason.sha256[:12]}): none of its code runs until you trust it. " + text)
            self.trust_btn.setVisible(True)

    def _draft_spec(self) -> ProgramSpec | None:
        if self.module_mode:
            return None
        try:
            return parse_program(self._draft) if self._draft is not None else None
        except WorkbenchError:
            return None

    def _refresh_all(self) -> None:
        self._loading = True
        try:
            self.name_edit.setText(self._draft.get("name", ""))
            self.stage_list.clear()
            for stage in self._draft["stages"]:
                self.stage_list.addItem(self._stage_label(stage))
            self.stage_list.setCurrentRow(self._stage)
            self._fill_stage()
        finally:
            self._loading = False
        self._update_buttons()
        self._show_fingerprint()
        self._schedule_preview()

    @staticmethod
    def _stage_label(stage: dict) -> str:
        module = "ChainOfThought" if stage.get("module") == "cot" else "Predict"
        return f"{stage.get('name', '?')}  ·  {module}"

    def _fill_stage(self) -> None:
        stage = self._current_stage()
        if stage is None:
            return
        was = self._loading
        self._loading = True
        try:
            self.stage_name.setText(stage.get("name", ""))
            self.module_combo.setCurrentIndex(max(0, self.module_combo.findData(stage.get("module", "predict"))))
            if self.instructions.toPlainText() != stage.get("instructions", ""):
                self.instructions.setPlainText(stage.get("instructions", ""))
            self._fill_fields(stage)
        finally:
            self._loading = was

    def _fill_fields(self, stage: dict) -> None:
        self.fields.blockSignals(True)
        rows = [("input", f) for f in stage.get("inputs", [])] + [("output", f) for f in stage.get("outputs", [])]
        self.fields.setRowCount(len(rows))
        for r, (role, field) in enumerate(rows):
            role_combo = QComboBox()
            role_combo.addItems(["input", "output"])
            role_combo.setCurrentText(role)
            role_combo.currentTextChanged.connect(self._field_role_changed)
            self.fields.setCellWidget(r, COL_ROLE, role_combo)
            self.fields.setItem(r, COL_NAME, QTableWidgetItem(field.get("name", "")))
            type_combo = QComboBox()
            type_combo.addItems(FIELD_TYPES)
            type_combo.setCurrentText(field.get("type", "str"))
            type_combo.currentTextChanged.connect(self._field_type_changed)
            self.fields.setCellWidget(r, COL_TYPE, type_combo)
            role_combo.setEnabled(not self.module_mode)
            type_combo.setEnabled(not self.module_mode)
            choices = QTableWidgetItem(", ".join(field.get("choices", [])))
            if field.get("type") != "literal":
                choices.setFlags(choices.flags() & ~Qt.ItemFlag.ItemIsEditable & ~Qt.ItemFlag.ItemIsEnabled)
            self.fields.setItem(r, COL_CHOICES, choices)
            self.fields.setItem(r, COL_DESC, QTableWidgetItem(field.get("description", "")))
        self.fields.blockSignals(False)

    def _show_fingerprint(self) -> None:
        project = self.session.project
        if project is None:
            return
        full = project.program.fingerprint()
        self.fingerprint.setText(f"fingerprint {full[:19]}…")
        self.fingerprint.setToolTip(
            f"{full}\nThe program's identity: a compiled artifact belongs to exactly this version."
        )

    def _update_buttons(self) -> None:
        if self.module_mode:
            return  # read-only: _show_module_state disabled them
        n = len(self._draft["stages"]) if self._draft else 0
        self.remove_stage_btn.setEnabled(n > 1)
        self.up_btn.setEnabled(self._stage > 0)
        self.down_btn.setEnabled(0 <= self._stage < n - 1)

    def _current_stage(self) -> dict | None:
        if not self._draft or not (0 <= self._stage < len(self._draft["stages"])):
            return None
        return self._draft["stages"][self._stage]

    # -- applying edits --------------------------------------------------------------------------

    def _commit(self, text: str, merge_key=None) -> bool:
        """Validate the draft; apply it through the undo stack when valid. False when invalid."""
        project = self.session.project
        if project is None or self._draft is None or self.module_mode:
            return False
        try:
            spec = parse_program(self._draft)
        except WorkbenchError as exc:
            self.error.show_error(str(exc) + " — not applied; fix it to apply your changes.")
            return False
        self.error.clear_message()
        if spec.canonical_json() == project.program.canonical_json():
            return True
        self._push_program(spec, text, merge_key)
        return True

    def _push_program(self, spec, text: str, merge_key=None, notes: list[str] | None = None) -> None:
        command = SetProgramCommand(self.session, self.session.project.program, spec, text, merge_key)
        self.session.undo_stack.push(command)
        messages = list(notes or []) + (command.change.messages() if command.change else [])
        if messages:
            self.error.show_info(" ".join(m[:1].upper() + m[1:] + "." for m in messages))

    # -- the user's own module -----------------------------------------------------------------------

    def _choose_module(self) -> tuple[str, str] | None:
        """Ask for a .py file and the module's NAME (offered from the file's classes and
        functions, read without running it). None when the user cancels."""
        path, _ = QFileDialog.getOpenFileName(self, "Use a Python module", "", "Python files (*.py)")
        if not path:
            return None
        from engine.user_module import candidate_names

        names = candidate_names(path) or [""]
        name, ok = QInputDialog.getItem(
            self, "Use a Python module",
            "The dspy.Module subclass (built with no arguments) or function that returns one.\n"
            "Choosing it runs this version of the file.", names, 0, True)
        return (path, name.strip()) if ok and name.strip() else None

    def use_python_module(self, _checked: bool = False, *, path: str | None = None, name: str | None = None) -> bool:
        """Set the program to the user's module: trusts the chosen version, reads its fields,
        keeps its source in the project. Undoable. False when cancelled or refused."""
        project = self.session.project
        if project is None:
            return False
        if path is None or name is None:
            chosen = self._choose_module()
            if chosen is None:
                return False
            path, name = chosen
        from engine.user_module import prepare_module

        try:
            program, notes = prepare_module(project, path, name)
        except WorkbenchError as exc:
            self.error.show_error(str(exc))
            return False
        self._stage = 0
        self._push_program(program, f"Use Python module {name}", notes=notes)
        return True

    def _confirm_trust(self, reason) -> bool:
        answer = QMessageBox.question(
            self, "Trust this file?",
            f"{reason.path}\nsha256 {reason.sha256}\n\nThis Python file is code: trusting it lets the "
            "Workbench import and run this exact version (until it changes). Trust it only if you "
            "have read it or know where it comes from.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def trust_module(self, _checked: bool = False) -> bool:
        """The window's "Trust this file?" prompt: trusts the module's current version and reads it again."""
        project = self.session.project
        from engine.user_module import trust_program, untrusted_reason

        reason = untrusted_reason(project.program) if project is not None else None
        if reason is None or not self._confirm_trust(reason):
            return False
        try:
            change = trust_program(project)
        except WorkbenchError as exc:
            self.error.show_error(str(exc))
            return False
        self.session.notify_changed(program=True, metric=change.metric_reset, dataset=bool(change.columns_added))
        if change.messages():
            self.error.show_info(" ".join(m[:1].upper() + m[1:] + "." for m in change.messages()))
        return True

    def _name_edited(self) -> None:
        if self._loading or self._draft is None or self.name_edit.text() == self._draft.get("name"):
            return
        self._draft["name"] = self.name_edit.text().strip()
        self._commit("Rename program")

    def _stage_selected(self, row: int) -> None:
        if self._loading or row < 0:
            return
        self._flush_instructions()
        self._stage = row
        self._fill_stage()
        self._update_buttons()

    def _stage_name_edited(self) -> None:
        stage = self._current_stage()
        if self._loading or stage is None or self.stage_name.text().strip() == stage["name"]:
            return
        stage["name"] = self.stage_name.text().strip()
        self.stage_list.item(self._stage).setText(self._stage_label(stage))
        self._commit("Rename stage")

    def _module_changed(self) -> None:
        stage = self._current_stage()
        if self._loading or stage is None:
            return
        stage["module"] = self.module_combo.currentData()
        self.stage_list.item(self._stage).setText(self._stage_label(stage))
        self._commit("Change stage module")

    def _instructions_typed(self) -> None:
        if not self._loading:
            self._instr_timer.start()

    def _flush_instructions(self) -> None:
        if self._instr_timer.isActive():
            self._instr_timer.stop()
            self._commit_instructions()

    def _commit_instructions(self) -> None:
        stage = self._current_stage()
        if stage is None:
            return
        text = self.instructions.toPlainText()
        if text == stage.get("instructions", ""):
            return
        stage["instructions"] = text
        self._commit("Edit instructions", merge_key=("instructions", self._stage, stage["name"]))

    def add_stage(self) -> None:
        if self._draft is None:
            return
        self._flush_instructions()
        stages = self._draft["stages"]
        names = {s["name"] for s in stages}
        n = len(stages) + 1
        while f"stage{n}" in names:
            n += 1
        previous_outputs = stages[-1]["outputs"] if stages else []
        source = previous_outputs[0] if previous_outputs else {"name": "text", "type": "str"}
        used = {f["name"] for s in stages for f in s["inputs"] + s["outputs"]}
        out = f"output{n}"
        while out in used:
            out += "_"
        stages.append({
            "name": f"stage{n}", "module": "predict", "instructions": "",
            "inputs": [{"name": source["name"], "type": source.get("type", "str"),
                        "choices": list(source.get("choices", [])), "description": ""}],
            "outputs": [{"name": out, "type": "str", "choices": [], "description": ""}],
        })
        self._stage = len(stages) - 1
        self._refresh_all()
        self._commit("Add stage")

    def remove_stage(self) -> None:
        if self._draft is None or len(self._draft["stages"]) <= 1:
            return
        self._instr_timer.stop()
        del self._draft["stages"][self._stage]
        self._stage = max(0, self._stage - 1)
        self._refresh_all()
        self._commit("Remove stage")

    def move_stage(self, delta: int) -> None:
        if self._draft is None:
            return
        self._flush_instructions()
        stages = self._draft["stages"]
        target = self._stage + delta
        if not (0 <= target < len(stages)):
            return
        stages[self._stage], stages[target] = stages[target], stages[self._stage]
        self._stage = target
        self._refresh_all()
        self._commit("Reorder stages")

    def add_field(self, role: str) -> None:
        stage = self._current_stage()
        if stage is None:
            return
        used = {f["name"] for s in self._draft["stages"] for f in s["inputs"] + s["outputs"]}
        n = 1
        while f"{role}{n}" in used:
            n += 1
        stage["inputs" if role == "input" else "outputs"].append(
            {"name": f"{role}{n}", "type": "str", "choices": [], "description": ""})
        self._fill_fields(stage)
        self._commit(f"Add {role} field")

    def remove_field(self) -> None:
        stage = self._current_stage()
        row = self.fields.currentRow()
        if stage is None or row < 0:
            return
        n_in = len(stage["inputs"])
        if row < n_in:
            del stage["inputs"][row]
        else:
            del stage["outputs"][row - n_in]
        self._fill_fields(stage)
        self._commit("Remove field")

    def _read_fields(self) -> None:
        """The table's rows back into the current stage of the draft."""
        stage = self._current_stage()
        if stage is None:
            return
        inputs, outputs = [], []
        for r in range(self.fields.rowCount()):
            role = self.fields.cellWidget(r, COL_ROLE).currentText()
            ftype = self.fields.cellWidget(r, COL_TYPE).currentText()
            name = (self.fields.item(r, COL_NAME).text() if self.fields.item(r, COL_NAME) else "").strip()
            choices_text = self.fields.item(r, COL_CHOICES).text() if self.fields.item(r, COL_CHOICES) else ""
            desc = self.fields.item(r, COL_DESC).text() if self.fields.item(r, COL_DESC) else ""
            choices = [c.strip() for c in choices_text.split(",") if c.strip()] if ftype == "literal" else []
            field = {"name": name, "type": ftype, "choices": choices, "description": desc.strip()}
            (inputs if role == "input" else outputs).append(field)
        stage["inputs"], stage["outputs"] = inputs, outputs

    def _field_item_changed(self, _item: QTableWidgetItem) -> None:
        if self._loading:
            return
        self._read_fields()
        self._commit("Edit field")

    def _field_role_changed(self, _text: str) -> None:
        if self._loading:
            return
        self._read_fields()
        QTimer.singleShot(0, lambda: self._fill_fields(self._current_stage()) if self._current_stage() else None)
        self._commit("Change field role")

    def _field_type_changed(self, text: str) -> None:
        if self._loading:
            return
        self._read_fields()
        stage = self._current_stage()
        QTimer.singleShot(0, lambda: self._fill_fields(stage) if stage is self._current_stage() else None)
        if text == "literal":
            self.error.show_info("Type the literal's choices, comma-separated, in the Choices column.")
            # Not applied until it has choices: a literal without choices is invalid.
            try:
                parse_program(self._draft)
            except WorkbenchError:
                return
        self._commit("Change field type")

    # -- preview -------------------------------------------------------------------------------------

    def _schedule_preview(self) -> None:
        if self.session.project is not None:
            self._preview_timer.start()

    def _render_preview(self) -> None:
        project = self.session.project
        if project is None:
            return
        if self._workers.busy("render"):
            self._render_pending = True
            return
        spec = project.program
        from engine.user_module import untrusted_reason

        if untrusted_reason(spec) is not None:
            self.preview.setPlainText("")
            self.schema_view.setPlainText("")
            self.preview_status.setText("The prompt appears once you trust the module: rendering it runs its code.")
            self.preview_rendered.emit()
            return
        inputs = self.picker.values(spec.input_names)
        profile_name = self.profile_combo.currentData()
        try:
            fmt = project.profile(profile_name).format if profile_name else "compact"
        except WorkbenchError:
            fmt = "compact"
        if not inputs:
            inputs = {name: f"<{name}>" for name in spec.input_names}
        self.preview_status.setText("Rendering…")

        def render():
            from engine.prompts import render_program_prompts

            return render_program_prompts(spec, inputs, prompt_format=fmt), fmt

        self._workers.spawn("render", render, on_result=self._show_preview, on_error=self._preview_failed)

    def _show_preview(self, result) -> None:
        rendered, fmt = result
        blocks, schemas = [], []
        for prompt in rendered:
            from engine.prompts import messages_text

            title = f"━━ predictor {prompt.predictor} ━━"
            blocks.append(f"{title}\n{messages_text(prompt.messages)}" if len(rendered) > 1
                          else messages_text(prompt.messages))
            if prompt.response_format is not None:
                schema = json.dumps(prompt.response_format, indent=2, ensure_ascii=False)
                schemas.append(f"// {prompt.predictor}\n{schema}" if len(rendered) > 1 else schema)
        self.preview.setPlainText("\n\n".join(blocks))
        self.schema_view.setPlainText("\n\n".join(schemas))
        row = self.picker.row()
        where = f"example {self.picker.example_id()}" if row is not None else "placeholder inputs (no examples yet)"
        self.preview_status.setText(f"{fmt} format · {where} · rendered offline, no LM call")
        self.render_count += 1
        self._after_render()
        self.preview_rendered.emit()

    def _preview_failed(self, message: str) -> None:
        self.preview_status.setText(f"Could not render the prompt: {message}")
        self._after_render()
        self.preview_rendered.emit()

    def _after_render(self) -> None:
        if self._render_pending:
            self._render_pending = False
            self._preview_timer.start(0)


def _draft_of(program) -> dict:
    """The pane's editable dict of a program; a module program's predictors shown as its stages."""
    if getattr(program, "kind", None) == "python":
        return {"name": program.name, "stages": [p.model_dump(mode="json") for p in program.predictors]}
    return program.model_dump(mode="json")


class SessionUndoKeys(QObject):
    """An event filter that sends Undo / Redo keys pressed in a text box to the session's stack.

    A text widget handles Ctrl+Z itself, with a private history that a reload resets, so inside
    it the window's Edit > Undo never fired and its own undo jumped back past committed edits.
    `before` runs first (commit pending typing, so that typing is the step undone).
    """

    def __init__(self, stack, *, before=None, parent: QObject | None = None):
        super().__init__(parent)
        self._stack = stack
        self._before = before

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
        kind = event.type()
        if kind not in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            return False
        undo = event.matches(QKeySequence.StandardKey.Undo)
        redo = event.matches(QKeySequence.StandardKey.Redo) or (
            event.key() == Qt.Key.Key_Z and event.modifiers() == (Qt.KeyboardModifier.ControlModifier
                                                                  | Qt.KeyboardModifier.ShiftModifier))
        if not (undo or redo):
            return False
        if kind == QEvent.Type.ShortcutOverride:
            event.accept()  # deliver the key here, not to the window's shortcut (it is the same action)
            return True
        if self._before is not None:
            self._before()
        (self._stack.undo if undo else self._stack.redo)()
        return True
