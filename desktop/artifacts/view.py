"""One artifact opened offline: the verdict first, then the manifest, scores, gates, the chosen
instructions and demos, the exact prompt for an input the reviewer types, and the review records.

Needs no project and no network. Everything is read on a pool thread (opening hashes every file of
the bundle); the prompt is rendered by the engine from the bundle's state.json and program data
(`engine.artifacts.bundle_prompts`), so nothing of the bundle runs in the app. A DSPy whole-program
save opened here shows its metadata and the warning that it is executable code; nothing is loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QAbstractItemView, QFormLayout, QHBoxLayout, QHeaderView, QLineEdit,
                               QPlainTextEdit, QPushButton, QTableWidget, QTabWidget, QVBoxLayout, QWidget)

from desktop import background
from desktop.artifacts.plain import item, one_line, plain_heading, plain_label, score_text
from desktop.panes.common import bad_color, good_color, monospace_font, warn_color

VERDICT_COLORS = {"project": good_color, "signed": good_color, "unverified": warn_color,
                  "changed": bad_color, "executable": bad_color}
PROMPT_DELAY_MS = 400  # re-render this long after the reviewer stops typing


@dataclass
class LoadedArtifact:
    """What the view shows, read off the GUI thread."""
    view: object                    # engine.artifacts.ArtifactView
    verdict: object                 # engine.artifacts.Verdict
    reviews: list = field(default_factory=list)
    effective_review: str = ""
    chosen: dict = field(default_factory=dict)   # predictor -> {instructions, demos}
    input_names: list = field(default_factory=list)
    prompt_error: str = ""          # why the prompt cannot be rendered here


def load_artifact(path: str, project=None, trust_keys: tuple = ()) -> LoadedArtifact:
    """Open `path` (a bundle or a DSPy save) and everything the view shows; hashes every file."""
    from engine.artifacts import (STATE, artifact_verdict, bundle_program, chosen_state, effective_review,
                                  open_artifact, read_reviews)
    from engine.errors import ArtifactError

    view = open_artifact(path)
    verdict = artifact_verdict(path, project=project, trust_keys=trust_keys)
    if view.kind != "bundle":
        return LoadedArtifact(view, verdict)
    loaded = LoadedArtifact(view, verdict, reviews=read_reviews(path),
                            effective_review=effective_review(path, view.manifest))
    try:
        state = json.loads((Path(path).expanduser() / STATE).read_text("utf-8"))
        loaded.chosen = chosen_state(state) if isinstance(state, dict) else {}
    except (OSError, ValueError):
        loaded.chosen = {}
    try:
        loaded.input_names = list(bundle_program(path).input_names)
    except ArtifactError as exc:
        loaded.prompt_error = str(exc)
    return loaded


def render_prompt_text(path: str, inputs: dict) -> str:
    from engine.artifacts import bundle_prompts
    from engine.prompts import messages_text

    rendered = bundle_prompts(path, inputs)
    return "\n\n".join((f"━━ predictor {p.predictor} ━━\n" if len(rendered) > 1 else "")
                       + messages_text(p.messages) for p in rendered)


def _table(columns: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setWordWrap(False)
    table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
    return table


class ArtifactWindow(QWidget):
    """A top-level window on one artifact.

    Signals:
        loaded()            the artifact has been read and shown (or its error shown)
        prompt_rendered()   the prompt view shows the prompt for the typed inputs (or why not)
        review_saved(str)   a review record was written beside the bundle (its verdict)
    """

    loaded = Signal()
    prompt_rendered = Signal()
    review_saved = Signal(str)

    def __init__(self, path: str | Path, project=None, parent: QWidget | None = None):
        super().__init__(parent, Qt.WindowType.Window)
        self.path = str(Path(path).expanduser())
        self.project = project
        self.data: LoadedArtifact | None = None
        self._rendering = False
        self.setWindowTitle(f"Artifact — {Path(self.path).name}")
        self.resize(1100, 760)
        layout = QVBoxLayout(self)
        layout.addWidget(plain_heading("Artifact"))
        self.path_label = plain_label(one_line(self.path))
        layout.addWidget(self.path_label)
        self.verdict_label = plain_label("Checking the files against the manifest…")
        font = QFont(self.verdict_label.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.verdict_label.setFont(font)
        layout.addWidget(self.verdict_label)
        self.notes_label = plain_label()
        self.notes_label.setVisible(False)
        layout.addWidget(self.notes_label)
        trust = QHBoxLayout()
        self.trust_edit = QLineEdit()
        self.trust_edit.setPlaceholderText("ed25519:… a colleague's public key (as `export --sign` prints it)")
        self.trust_button = QPushButton("Trust this key and check again")
        self.trust_button.clicked.connect(self.reload)
        trust.addWidget(self.trust_edit, 1)
        trust.addWidget(self.trust_button)
        layout.addLayout(trust)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._manifest_tab(), "Manifest")
        self.tabs.addTab(self._scores_tab(), "Scores and gates")
        self.tabs.addTab(self._chosen_tab(), "Instructions and demos")
        self.tabs.addTab(self._prompt_tab(), "Prompt")
        self.tabs.addTab(self._review_tab(), "Review")
        layout.addWidget(self.tabs, 1)
        self._prompt_timer = QTimer(self, singleShot=True, interval=PROMPT_DELAY_MS)
        self._prompt_timer.timeout.connect(self.render_prompt)
        self.reload()

    # -- loading -----------------------------------------------------------------------------------------

    def trust_keys(self) -> tuple:
        key = self.trust_edit.text().strip()
        return (key,) if key else ()

    def reload(self) -> None:
        path, project, keys = self.path, self.project, self.trust_keys()
        self.trust_button.setEnabled(False)
        background.run(lambda: load_artifact(path, project, keys), self._show, self._failed)

    def _failed(self, exc: BaseException) -> None:
        from engine.errors import WorkbenchError

        self.trust_button.setEnabled(True)
        text = str(exc) if isinstance(exc, WorkbenchError) else f"{self.path} cannot be opened ({type(exc).__name__}: {exc})"
        self.verdict_label.setText(one_line(text))
        self.verdict_label.setStyleSheet(f"color: {bad_color(self).name()}")
        self.tabs.setEnabled(self.data is not None)
        self.loaded.emit()

    def _show(self, data: LoadedArtifact) -> None:
        self.trust_button.setEnabled(True)
        self.data = data
        verdict = data.verdict
        self.verdict_label.setText(one_line(verdict.text[:1].upper() + verdict.text[1:]))
        self.verdict_label.setStyleSheet(f"color: {VERDICT_COLORS.get(verdict.kind, bad_color)(self).name()}")
        notes = list(verdict.notes)  # the verdict's text already names every change
        self.notes_label.setText("\n".join("• " + one_line(n) for n in notes))
        self.notes_label.setVisible(bool(notes))
        if data.view.kind == "bundle":
            self._fill_manifest(data.view.manifest)
            self._fill_scores(data.view.manifest)
            self._fill_chosen(data.chosen)
            self._fill_inputs(data)
            self._fill_reviews()
        else:
            self._fill_dspy_save(data.view.dspy_save)
        self.loaded.emit()

    # -- manifest -----------------------------------------------------------------------------------------

    def _manifest_tab(self) -> QWidget:
        self.manifest_table = _table(["Field", "Value"])
        header = self.manifest_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        return self.manifest_table

    def manifest_rows(self) -> list[tuple[str, str]]:
        """(field, value) as shown, section titles with an empty value (tests read these)."""
        table = self.manifest_table
        return [(table.item(r, 0).text(), table.item(r, 1).text()) for r in range(table.rowCount())]

    def _add_rows(self, rows: list) -> None:
        table = self.manifest_table
        table.setRowCount(0)
        bold = QFont(table.font())
        bold.setBold(True)
        for row in rows:
            r = table.rowCount()
            table.insertRow(r)
            if isinstance(row, str):  # a section title
                title = item(row, tooltip=False)
                title.setFont(bold)
                table.setItem(r, 0, title)
                table.setItem(r, 1, item("", tooltip=False))
            else:
                table.setItem(r, 0, item(row[0], tooltip=False))
                table.setItem(r, 1, item(row[1]))

    def _fill_manifest(self, m) -> None:
        program, optimizer = m.program, m.optimizer
        rows: list = ["Program",
                      ("name", program.get("name", "")),
                      ("fingerprint", program.get("fingerprint", ""))]
        for stage in program.get("stages", []) if isinstance(program.get("stages"), list) else []:
            if isinstance(stage, dict):
                rows.append((f"stage {one_line(stage.get('name', ''))}",
                             f"{one_line(stage.get('module', ''))}: {', '.join(map(one_line, stage.get('inputs', [])))}"
                             f" → {', '.join(map(one_line, stage.get('outputs', [])))}"))
        review = m.review
        rows += ["Review",
                 ("at export", review.status + (f" by {review.reviewer}" if review.reviewer else "")
                  + (f" at {review.at}" if review.at else "") + (f": {review.note}" if review.note else "")),
                 ("now", self.data.effective_review if self.data else "")]
        for entry in self.data.reviews if self.data else []:
            rows.append(("review record", f"{entry.verdict} by {entry.reviewer or 'unknown'} at {entry.at}"
                         + (f": {entry.note}" if entry.note else "")
                         + ("" if entry.current else " (made for an earlier manifest)")))
        rows += ["Model",
                 ("provider", m.model.provider), ("name", m.model.name), ("exact revision", m.model.revision),
                 ("profile", m.model.profile),
                 ("prompt format", m.adapter_format + (f" (revision {m.adapter_revision})" if m.adapter_revision else "")),
                 ("answers", m.answers),
                 "Metric", ("metric", m.metric.get("description", "") or json.dumps(m.metric.get("spec"))),
                 "Optimizer",
                 ("optimizer", f"{optimizer.get('name', '')} (DSPy {optimizer.get('dspy_name', '')})"),
                 ("seed", optimizer.get("seed"))]
        params = optimizer.get("params") if isinstance(optimizer.get("params"), dict) else {}
        rows += [(f"setting {one_line(k)}", json.dumps(v) if not isinstance(v, str) else v) for k, v in sorted(params.items())]
        rows.append("Data splits")
        for split, info in sorted(m.splits.items()):
            info = info if isinstance(info, dict) else {}
            rows.append((f"{one_line(split)}", f"n={'—' if info.get('n') is None else one_line(info.get('n'))}  sha256 {one_line(info.get('sha256'))}"))
        rows.append("Library versions")
        for name, version in sorted(m.library_versions.items()):
            if isinstance(version, dict):
                version = ", ".join(f"{k} {v}" for k, v in sorted(version.items()))
            rows.append((name, version))
        rows += ["Run",
                 ("run", m.run_id), ("project", m.project), ("exported", m.created_at), ("run status", m.run_status),
                 ("LM calls", f"{m.lm_calls} ({m.cached_calls} cached)"),
                 ("tokens", ", ".join(f"{k} {v}" for k, v in sorted(m.tokens.items()))),
                 ("cost (USD)", "—" if m.cost_usd is None else f"{m.cost_usd:.4f}"),
                 ("elapsed", f"{m.elapsed_s:.1f} s"),
                 "Files"]
        rows += [(name, f"sha256 {digest}") for name, digest in m.files.items()]
        self._add_rows(rows)

    def _fill_dspy_save(self, save) -> None:
        rows: list = ["DSPy whole-program save (nothing of it was loaded)", ("files", ", ".join(save.files))]
        rows += [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in sorted(save.metadata.items())]
        self._add_rows(rows)
        for index in range(1, self.tabs.count()):
            self.tabs.setTabEnabled(index, False)

    # -- scores and gates -------------------------------------------------------------------------------

    def _scores_tab(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        v.addWidget(plain_label("Baseline is the uncompiled program, candidate the compiled one; "
                                "95% intervals in brackets."))
        self.scores_table = _table(["Split / slice", "n", "Baseline", "Candidate"])
        header = self.scores_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        v.addWidget(self.scores_table, 2)
        v.addWidget(plain_heading("Release gates"))
        self.gates_label = plain_label()
        v.addWidget(self.gates_label)
        v.addStretch(1)
        return page

    def _fill_scores(self, m) -> None:
        table = self.scores_table
        table.setRowCount(0)
        bold = QFont(table.font())
        bold.setBold(True)
        evaluations = m.evaluations if isinstance(m.evaluations, dict) else {}
        order = sorted(evaluations, key=lambda s: (("validation", "test").index(s) if s in ("validation", "test") else 2, s))
        for split in order:
            figures = evaluations[split] if isinstance(evaluations[split], dict) else {}
            base, cand = figures.get("baseline"), figures.get("candidate")
            sides = [x if isinstance(x, dict) else {} for x in (base, cand)]
            n = next((s.get("n") for s in sides if s.get("n") is not None), None)
            self._score_row(split, n, sides[0], sides[1], bold)
            slices = sorted({*(sides[0].get("per_slice") or {}), *(sides[1].get("per_slice") or {})}, key=str)
            for name in slices:
                b, c = ((s.get("per_slice") or {}).get(name) or {} for s in sides)
                self._score_row(f"    {name}", (c or b).get("n") if isinstance(c or b, dict) else None, b, c, None)
        gates = m.gates if isinstance(m.gates, dict) else {}
        checked = gates.get("checked") or []
        if not checked:
            self.gates_label.setText("No release gates were set for this run.")
            self.gates_label.setStyleSheet("")
            return
        lines = ["Passed:" if gates.get("passed") else "FAILED:"]
        for gate in checked if isinstance(checked, list) else []:
            if isinstance(gate, dict):
                lines.append(f"  minimum for {one_line(gate.get('slice'))}: {one_line(gate.get('min_score'))}")
        lines += [f"  ✗ {one_line(f)}" for f in gates.get("failures") or []]
        self.gates_label.setText("\n".join(lines))
        color = good_color(self) if gates.get("passed") else bad_color(self)
        self.gates_label.setStyleSheet(f"color: {color.name()}")

    def _score_row(self, label, n, baseline, candidate, font) -> None:
        table = self.scores_table
        r = table.rowCount()
        table.insertRow(r)
        cells = (item(label), item("—" if n is None else n, right=True),
                 item(score_text(baseline), right=True), item(score_text(candidate), right=True))
        for c, cell in enumerate(cells):
            if font is not None:
                cell.setFont(font)
            table.setItem(r, c, cell)

    # -- instructions and demos ----------------------------------------------------------------------------

    def _chosen_tab(self) -> QWidget:
        self.chosen_view = QPlainTextEdit(readOnly=True)
        self.chosen_view.setFont(monospace_font())
        return self.chosen_view

    def _fill_chosen(self, chosen: dict) -> None:
        blocks = []
        for predictor, picked in chosen.items():
            lines = [f"━━ predictor {predictor} ━━", "Instructions:", str(picked.get("instructions", "")), ""]
            demos = picked.get("demos") or []
            lines.append(f"Demos ({len(demos)}):")
            for number, demo in enumerate(demos, 1):
                pairs = demo.items() if isinstance(demo, dict) else [("demo", demo)]
                lines.append(f"  {number}.")
                lines += [f"     {k}: {v}" for k, v in pairs if k != "augmented"]
            blocks.append("\n".join(lines))
        self.chosen_view.setPlainText("\n\n".join(blocks) or "state.json names no predictor.")

    # -- the exact prompt ------------------------------------------------------------------------------------

    def _prompt_tab(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        v.addWidget(plain_label("Type an input: the prompt below is what this bundle's program sends for it, "
                                "rendered offline from its state.json and program data (none of its code runs)."))
        self.inputs_form = QFormLayout()
        v.addLayout(self.inputs_form)
        self.input_edits: dict[str, QPlainTextEdit] = {}
        self.prompt_status = plain_label()
        v.addWidget(self.prompt_status)
        self.prompt_view = QPlainTextEdit(readOnly=True)
        self.prompt_view.setFont(monospace_font())
        v.addWidget(self.prompt_view, 1)
        return page

    def _fill_inputs(self, data: LoadedArtifact) -> None:
        while self.inputs_form.rowCount():
            self.inputs_form.removeRow(0)
        self.input_edits = {}
        for name in data.input_names:
            edit = QPlainTextEdit()
            edit.setPlaceholderText(f"<{name}>")
            edit.setFixedHeight(edit.fontMetrics().height() * 3 + 12)
            edit.textChanged.connect(self._prompt_timer.start)
            self.inputs_form.addRow(plain_label(one_line(name), wrap=False), edit)
            self.input_edits[name] = edit
        if data.prompt_error:
            self.prompt_status.setText(one_line(f"The prompt cannot be rendered here: {data.prompt_error}"))
            self.prompt_rendered.emit()
        else:
            self.render_prompt()

    def set_inputs(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            self.input_edits[name].setPlainText(value)

    def render_prompt(self) -> None:
        if self.data is None or self.data.prompt_error:
            return
        if self._rendering:  # one render at a time; the latest inputs render next
            self._prompt_timer.start()
            return
        inputs = {n: e.toPlainText() or f"<{n}>" for n, e in self.input_edits.items()}
        path = self.path
        self._rendering = True
        self.prompt_status.setText("Rendering…")
        background.run(lambda: render_prompt_text(path, inputs), self._prompt_done, self._prompt_failed)

    def _prompt_done(self, text: str) -> None:
        self._rendering = False
        m = self.data.view.manifest
        self.prompt_status.setText(one_line(f"{m.adapter_format} format with this bundle's state · rendered offline"))
        self.prompt_view.setPlainText(text)
        self.prompt_rendered.emit()

    def _prompt_failed(self, exc: BaseException) -> None:
        self._rendering = False
        self.prompt_status.setText(one_line(f"The prompt cannot be rendered here: {exc}"))
        self.prompt_view.clear()
        self.prompt_rendered.emit()

    # -- review ------------------------------------------------------------------------------------------------

    def _review_tab(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        v.addWidget(plain_label("Your verdict is written beside the bundle, in its reviews/ folder: the bundle's "
                                "own files, hashes and signature stay as they are."))
        self.review_state = plain_label()
        v.addWidget(self.review_state)
        self.reviews_table = _table(["Verdict", "Reviewer", "At (UTC)", "Note", "For this manifest"])
        header = self.reviews_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        v.addWidget(self.reviews_table, 1)
        row = QHBoxLayout()
        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText("A note for the record (what you checked, why)")
        self.approve_btn = QPushButton("Approve")
        self.reject_btn = QPushButton("Reject")
        self.approve_btn.clicked.connect(lambda: self.record("approved"))
        self.reject_btn.clicked.connect(lambda: self.record("rejected"))
        row.addWidget(self.note_edit, 1)
        row.addWidget(self.approve_btn)
        row.addWidget(self.reject_btn)
        v.addLayout(row)
        self.review_error = plain_label()
        self.review_error.setStyleSheet(f"color: {bad_color(self).name()}")
        v.addWidget(self.review_error)
        return page

    def _fill_reviews(self) -> None:
        data = self.data
        table = self.reviews_table
        table.setRowCount(0)
        for entry in data.reviews:
            r = table.rowCount()
            table.insertRow(r)
            cells = (entry.verdict, entry.reviewer or "unknown", (entry.at or "")[:19].replace("T", " "), entry.note,
                     "yes" if entry.current else "no: made for an earlier manifest")
            for c, text in enumerate(cells):
                table.setItem(r, c, item(text))
        status = data.effective_review
        color = {"approved": good_color, "rejected": bad_color}.get(status, warn_color)(self)
        self.review_state.setText(f"Review status: {one_line(status)}")
        self.review_state.setStyleSheet(f"color: {color.name()}")

    def record(self, verdict: str) -> None:
        """Write `verdict` ("approved" or "rejected") with the note beside the bundle (the login user)."""
        from engine.artifacts import record_review

        path, note = self.path, self.note_edit.text().strip()
        for b in (self.approve_btn, self.reject_btn):
            b.setEnabled(False)
        self.review_error.clear()
        background.run(lambda: record_review(path, verdict, note=note), self._recorded, self._record_failed)

    def _recorded(self, entry) -> None:
        for b in (self.approve_btn, self.reject_btn):
            b.setEnabled(True)
        self.note_edit.clear()
        self.review_saved.emit(entry.verdict)
        self.reload()

    def _record_failed(self, exc: BaseException) -> None:
        for b in (self.approve_btn, self.reject_btn):
            b.setEnabled(True)
        self.review_error.setText(one_line(exc))  # the note stays in its field
