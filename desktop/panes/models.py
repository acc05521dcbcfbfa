"""The Models pane: the project's model profiles, the exact model revision, and a test call.

A compiled artifact belongs to one exact model revision (for the embedded model: the GGUF file's
sha256), so the pane shows that revision, computed on a background thread (the first time it
hashes the 98 MB file; later the engine's hash cache answers). "Test" makes one tiny real call
through `engine.lms.connect.connect(profile)` on a background thread and shows the latency and
the parsed answer.

Profiles for more providers (Ollama, OpenAI-compatible servers, hosted models) come with a later
version; the "Add profile…" button is there, disabled, so the layout does not change then.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QFormLayout, QGroupBox, QHBoxLayout,
                               QHeaderView, QLabel, QPushButton, QSplitter, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from desktop.panes.base import Pane
from desktop.panes.common import MessageBanner, good_color, heading, monospace_font, muted
from desktop.worker import WorkerSet
from engine.errors import WorkbenchError

TEST_QUESTION = "What is the capital of France? Answer with one word."
SETTINGS = (
    ("provider", "Provider"), ("model", "Model"), ("base_url", "Endpoint"), ("format", "Prompt format"),
    ("temperature", "Temperature"), ("max_tokens", "Max tokens"), ("seed", "Seed"),
    ("concurrency", "Parallel calls"), ("timeout_s", "Timeout (s)"), ("context_tokens", "Context (tokens)"),
)
FORMAT_HELP = {
    "compact": "short system prompt, schema-constrained JSON answers (for small local models)",
    "chat": "DSPy's ChatAdapter (for large hosted models)",
    "json": "DSPy's JSONAdapter",
}


def embedded_revision() -> dict:
    """Path, size and sha256 of the embedded model file (hashes the file the first time)."""
    from engine.lms.embedded import file_sha256, model_path

    path = model_path()
    return {"path": str(path), "bytes": path.stat().st_size, "sha256": file_sha256(path)}


def probe_profile(profile) -> dict:
    """One tiny real call through the profile, bypassing DSPy's cache. Runs on a worker thread."""
    import dspy

    from engine.lms.connect import connect

    started = time.perf_counter()
    conn = connect(profile)
    connected_s = time.perf_counter() - started
    lm = conn.lm.copy(cache=False)  # a cached answer would say nothing about the model
    predict = dspy.Predict("question -> answer")
    started = time.perf_counter()
    with dspy.context(lm=lm, adapter=conn.adapter):
        prediction = predict(question=TEST_QUESTION)
    latency_s = time.perf_counter() - started
    last = lm.history[-1] if getattr(lm, "history", None) else {}
    outputs = last.get("outputs") or [""]
    raw = outputs[0] if isinstance(outputs[0], str) else str(outputs[0])
    return {
        "answer": prediction.answer, "raw": raw, "latency_s": latency_s, "connect_s": connected_s,
        "usage": dict(last.get("usage") or {}), "model": conn.revision.name,
        "revision": conn.revision.revision,
    }


class ModelsPane(Pane):
    """Model profiles, their exact revision, and a one-call test.

    Signals:
        revision_ready(str)    the selected profile's revision is known (the text shown)
        test_finished(dict)    a test call answered (answer, latency_s, usage, ...)
        test_failed(str)       a test call failed (the message shown)
    """

    title = "Models"
    icon_name = "models"
    revision_ready = Signal(str)
    test_finished = Signal(dict)
    test_failed = Signal(str)

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(session, parent)
        self._workers = WorkerSet(self)
        self._revision_cache: dict | None = None
        self._build()
        session.opened.connect(self._reload)
        session.closed.connect(self._reload)
        self._reload()

    # -- layout ----------------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(heading("Models"))
        top.addStretch(1)
        self.add_btn = QPushButton("Add profile…")
        self.add_btn.setEnabled(False)
        self.add_btn.setToolTip("coming with Ollama / OpenAI-compatible support")
        top.addWidget(self.add_btn)
        outer.addLayout(top)
        outer.addWidget(muted(
            "A model profile is a provider, a model and its settings (never a key). A compiled "
            "program belongs to the exact model revision it was compiled for: another revision "
            "needs its own compile."))
        splitter = QSplitter(Qt.Orientation.Horizontal)
        outer.addWidget(splitter, 1)
        self._splitter = splitter

        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Profile", "Provider", "Model", "Format"])
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(False)
        self.table.currentCellChanged.connect(lambda *a: self._show_selected())
        splitter.addWidget(self.table)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        self.settings_box = QGroupBox("Settings")
        self.settings_form = QFormLayout(self.settings_box)
        self.setting_labels: dict[str, QLabel] = {}
        for key, label in SETTINGS:
            value = QLabel()
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setWordWrap(True)
            self.settings_form.addRow(label, value)
            self.setting_labels[key] = value
        rl.addWidget(self.settings_box)

        self.revision_box = QGroupBox("Exact revision")
        rv = QFormLayout(self.revision_box)
        self.rev_file = QLabel()
        self.rev_file.setWordWrap(True)
        self.rev_file.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.rev_sha = QLabel()
        self.rev_sha.setFont(monospace_font())
        self.rev_sha.setWordWrap(True)
        self.rev_sha.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        rv.addRow("File", self.rev_file)
        rv.addRow("Revision", self.rev_sha)
        rl.addWidget(self.revision_box)

        self.test_box = QGroupBox("Test")
        tv = QVBoxLayout(self.test_box)
        row = QHBoxLayout()
        self.test_btn = QPushButton("Test with one call")
        self.test_btn.setToolTip(f"Asks the model: {TEST_QUESTION!r} (one real call, not cached)")
        self.test_btn.clicked.connect(self.run_test)
        row.addWidget(self.test_btn)
        self.test_status = muted(wrap=True)
        row.addWidget(self.test_status, 1)
        tv.addLayout(row)
        self.test_result = QFormLayout()
        self.test_latency = QLabel()
        self.test_answer = QLabel()
        self.test_answer.setWordWrap(True)
        self.test_answer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.test_raw = QLabel()
        self.test_raw.setFont(monospace_font())
        self.test_raw.setWordWrap(True)
        self.test_raw.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.test_result.addRow("Latency", self.test_latency)
        self.test_result.addRow("Parsed answer", self.test_answer)
        self.test_result.addRow("Raw reply", self.test_raw)
        tv.addLayout(self.test_result)
        self.test_error = MessageBanner()
        tv.addWidget(self.test_error)
        rl.addWidget(self.test_box)
        rl.addStretch(1)
        splitter.addWidget(right)
        splitter.setSizes([400, 680])
        self.empty = muted("Open or create a project to see its model profiles.")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        outer.addWidget(self.empty)

    # -- Pane contract ---------------------------------------------------------------------------

    def is_busy(self) -> bool:
        """Never: hashing the model file or a one-call test loses nothing when stopped, and
        `shutdown` waits for them. (The main window asks before stopping busy panes.)"""
        return False

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        self._workers.shutdown(timeout_ms)

    # -- showing profiles ---------------------------------------------------------------------------

    def _profiles(self) -> dict:
        project = self.session.project
        if project is None:
            return {}
        try:
            return project.profiles
        except WorkbenchError as exc:
            self.test_error.show_error(str(exc))
            return {}

    def _reload(self) -> None:
        has = self.session.project is not None
        self._splitter.setVisible(has)
        self.empty.setVisible(not has)
        profiles = self._profiles()
        self.table.setRowCount(len(profiles))
        default = self.session.project.config.compile.model if has else ""
        for r, (name, profile) in enumerate(profiles.items()):
            label = f"{name}  (default)" if name == default else name
            values = (label, profile.provider, profile.model or "—", profile.format)
            for c, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setData(Qt.ItemDataRole.UserRole, name)
                self.table.setItem(r, c, item)
        if profiles:
            self.table.selectRow(0)
            self._show_selected()

    def selected_profile(self):
        row = self.table.currentRow()
        if row < 0 or self.table.item(row, 0) is None:
            return None
        name = self.table.item(row, 0).data(Qt.ItemDataRole.UserRole)
        return self._profiles().get(name)

    def _show_selected(self) -> None:
        profile = self.selected_profile()
        if profile is None:
            return
        self.settings_box.setTitle(f"Profile “{profile.name}”")
        for key, _label in SETTINGS:
            value = getattr(profile, key, None)
            if value is None or value == "":
                text = "—" if key != "base_url" else "in process (no server)"
            elif key == "format":
                text = f"{value}: {FORMAT_HELP.get(value, '')}"
            else:
                text = str(value)
            self.setting_labels[key].setText(text)
        self.test_latency.setText("—")
        self.test_answer.setText("—")
        self.test_raw.setText("—")
        self.test_error.clear_message()
        self.test_status.setStyleSheet("")
        self.test_status.setText("Not tested in this session.")
        self.test_btn.setEnabled(not self._workers.busy("test"))
        self._show_revision(profile)

    def _show_revision(self, profile) -> None:
        if profile.provider != "embedded":
            self.rev_file.setText("resolved when the app connects to the provider")
            self.rev_sha.setText("—")
            return
        if self._revision_cache is not None:
            self._revision_shown(self._revision_cache)
            return
        self.rev_file.setText("locating the model file…")
        self.rev_sha.setText("computing sha256 (the first time this reads the 98 MB file)…")
        if not self._workers.busy("revision"):
            self._workers.spawn("revision", embedded_revision, on_result=self._revision_shown,
                                on_error=self._revision_failed)

    def _revision_shown(self, info: dict) -> None:
        self._revision_cache = info
        profile = self.selected_profile()
        if profile is None or profile.provider != "embedded":
            return
        self.rev_file.setText(f"{info['path']}\n{info['bytes']:,} bytes")
        text = f"sha256:{info['sha256']}"
        self.rev_sha.setText(text)
        self.revision_ready.emit(text)

    def _revision_failed(self, message: str) -> None:
        self.rev_file.setText("")
        self.rev_sha.setText("")
        self.test_error.show_error(message)

    # -- test call ---------------------------------------------------------------------------------------

    def run_test(self) -> None:
        profile = self.selected_profile()
        if profile is None or self._workers.busy("test"):
            return
        self.test_btn.setEnabled(False)
        self.test_error.clear_message()
        self.test_latency.clear()
        self.test_answer.clear()
        self.test_raw.clear()
        self.test_status.setStyleSheet("")
        self.test_status.setText(f"Calling {profile.name}… (the first call also loads the model)")
        self._workers.spawn("test", lambda: probe_profile(profile), on_result=self._test_done,
                            on_error=self._test_error)

    def _test_done(self, result: dict) -> None:
        self.test_btn.setEnabled(True)
        usage = result.get("usage") or {}
        tokens = ""
        if usage:
            prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
            completion = usage.get("completion_tokens", usage.get("output_tokens"))
            tokens = f" · {prompt} prompt + {completion} completion tokens"
        self.test_latency.setText(f"{result['latency_s'] * 1000:,.0f} ms{tokens}")
        self.test_answer.setText(str(result["answer"]))
        self.test_raw.setText(result["raw"][:400])
        self.test_status.setText(f"answered by {result['model']}")
        self.test_status.setStyleSheet(f"color: {good_color(self).name()}")
        self.test_finished.emit(result)

    def _test_error(self, message: str) -> None:
        self.test_btn.setEnabled(True)
        self.test_status.setText("")
        self.test_error.show_error(f"The test call failed: {message}")
        self.test_failed.emit(message)
