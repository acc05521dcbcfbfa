"""The Models pane: list, add, edit, remove, test and (for Ollama) pull model profiles.

Every profile `engine.lms.manage.list_profiles(project)` knows is listed: the built-in
`embedded` model, the user's own profiles (models.toml) and the project's `[models.NAME]`
tables, with where each lives and the state of its API key (keyring, an environment variable,
missing, or not needed). Keys are never read or shown here: the Add/Edit dialog hands a typed
key straight to the engine, which puts it in the OS keyring.

A compiled artifact belongs to one exact model revision, so the pane shows it: for `embedded`
the GGUF file's sha256 (hashed on a background thread the first time), for the others the
revision the server reported in the last Test. "Test" runs `manage.test_profile` (one tiny real
call) on a background thread and shows the outcome, latency and revision. For Ollama profiles
the pane lists the models installed in that server and can pull more (PullDialog).

Everything that may touch the network or hash a file runs on a `WorkerSet` worker; the GUI
thread never waits for a server.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (QAbstractItemView, QFormLayout, QGroupBox, QHBoxLayout,
                               QHeaderView, QLabel, QPushButton, QScrollArea, QSplitter,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from desktop.panes.base import Pane
from desktop.panes.common import (MessageBanner, bad_color, fit_table_height, good_color, heading,
                                  monospace_font, muted, warn_color)
from desktop.worker import WorkerSet
from engine.errors import WorkbenchError

COLUMNS = ("Profile", "Provider", "Model", "Endpoint", "Format", "Lives in", "Key")
SETTINGS = (
    ("provider", "Provider"), ("model", "Model"), ("base_url", "Endpoint"), ("format", "Prompt format"),
    ("temperature", "Temperature"), ("max_tokens", "Max tokens"), ("seed", "Seed"),
    ("concurrency", "Parallel calls"), ("timeout_s", "Timeout (s)"), ("context_tokens", "Context (tokens)"),
    ("price", "Price"), ("key", "API key"), ("source", "Lives in"),
)
FORMAT_HELP = {
    "compact": "short system prompt, schema-constrained JSON answers (for small local models)",
    "chat": "DSPy's ChatAdapter (for large hosted models)",
    "json": "DSPy's JSONAdapter",
}
INSTALLED_COLUMNS = ("Model", "Size", "Family", "Parameters", "Quantization", "Digest")


def embedded_revision() -> dict:
    """Path, size and sha256 of the embedded model file (hashes the file the first time)."""
    from engine.lms.embedded import file_sha256, model_path

    path = model_path()
    return {"path": str(path), "bytes": path.stat().st_size, "sha256": file_sha256(path)}


def key_text(state: str | None) -> str:
    """The key column: keyring, env:VAR, missing or not needed."""
    return state if state else "not needed"


def source_text(info) -> str:
    text = {"builtin": "built in", "user": "user config", "project": "project"}.get(info.source, info.source)
    if info.shadows:
        text += f" (hides {' and '.join('built-in' if s == 'builtin' else s for s in info.shadows)})"
    return text


def endpoint_text(info) -> str:
    if info.base_url:
        return info.base_url
    if info.kind == "embedded":
        return "in process"
    if info.kind == "ollama":
        from engine.lms.ollama_api import ollama_url

        return ollama_url(None)
    return "provider default"


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024:
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} TB"


def _selectable(label: QLabel, *, mono: bool = False) -> QLabel:
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if mono:
        label.setFont(monospace_font())
    return label


def _table(columns) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.verticalHeader().setVisible(False)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setWordWrap(False)
    table.setAlternatingRowColors(True)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    return table


class ModelsPane(Pane):
    """Model profiles, their exact revision, a one-call test, and Ollama's installed models.

    Signals:
        revision_ready(str)      the selected profile's revision is known (the text shown)
        test_finished(object)    a test answered (engine ConnectionReport with ok=True)
        test_failed(str)         a test failed (the engine's diagnosis, shown as it is)
        installed_ready(list)    Ollama's installed models were listed (InstalledModel list)
        installed_failed(str)    listing them failed (the engine's message)
        profiles_changed()       a profile was added, edited or removed (the list was reloaded)
    """

    title = "Models"
    icon_name = "models"
    revision_ready = Signal(str)
    test_finished = Signal(object)
    test_failed = Signal(str)
    installed_ready = Signal(list)
    installed_failed = Signal(str)
    profiles_changed = Signal()

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(session, parent)
        self._workers = WorkerSet(self)
        self._revision_cache: dict | None = None
        self._infos: dict = {}  # name -> engine ProfileInfo
        self._profiles: dict = {}  # name -> ModelProfile
        self._reports: dict = {}  # name -> the last ConnectionReport of this session
        self._prices: dict[str, str] = {}  # name -> a hosted profile's price, once looked up
        self.profile_dialog = None
        self.pull_dialog = None
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
        self.add_btn = QPushButton("Add…")
        self.add_btn.setToolTip("Add a profile to your models.toml (Ollama, an OpenAI-compatible server, "
                                "a hosted provider)")
        self.add_btn.clicked.connect(self.add_profile)
        self.edit_btn = QPushButton("Edit…")
        self.edit_btn.clicked.connect(self.edit_profile)
        self.remove_btn = QPushButton("Remove")
        self.remove_btn.clicked.connect(self.remove_profile)
        for b in (self.add_btn, self.edit_btn, self.remove_btn):
            top.addWidget(b)
        outer.addLayout(top)
        outer.addWidget(muted(
            "A model profile is a provider, a model and its settings (never a key: keys live in the OS "
            "keyring). A compiled program belongs to the exact model revision it was compiled for: "
            "another revision needs its own compile."))
        self.banner = MessageBanner()
        self.banner.setTextFormat(Qt.TextFormat.PlainText)
        outer.addWidget(self.banner)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        outer.addWidget(splitter, 1)
        self._splitter = splitter

        self.table = _table(COLUMNS)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.currentCellChanged.connect(lambda *a: self._show_selected())
        splitter.addWidget(self.table)

        details = QWidget()
        dl = QVBoxLayout(details)
        dl.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        dl.addLayout(row)

        self.settings_box = QGroupBox("Settings")
        self.settings_form = QFormLayout(self.settings_box)
        self.setting_labels: dict[str, QLabel] = {}
        for key, label in SETTINGS:
            value = _selectable(QLabel())
            self.settings_form.addRow(label, value)
            self.setting_labels[key] = value
        row.addWidget(self.settings_box, 1)

        right = QVBoxLayout()
        row.addLayout(right, 1)
        self.revision_box = QGroupBox("Exact revision")
        rv = QFormLayout(self.revision_box)
        self.rev_file = _selectable(QLabel())
        self.rev_sha = _selectable(QLabel(), mono=True)
        rv.addRow("From", self.rev_file)
        rv.addRow("Revision", self.rev_sha)
        right.addWidget(self.revision_box)

        self.test_box = QGroupBox("Test")
        tv = QVBoxLayout(self.test_box)
        trow = QHBoxLayout()
        self.test_btn = QPushButton("Test with one call")
        self.test_btn.setToolTip("One tiny real call through the profile (not cached): the latency and "
                                 "the revision the server reports")
        self.test_btn.clicked.connect(self.run_test)
        trow.addWidget(self.test_btn)
        self.test_status = _selectable(muted())
        trow.addWidget(self.test_status, 1)
        tv.addLayout(trow)
        self.test_result = QFormLayout()
        self.test_latency = _selectable(QLabel())
        self.test_revision = _selectable(QLabel(), mono=True)
        self.test_answer = _selectable(QLabel())
        self.test_result.addRow("Latency", self.test_latency)
        self.test_result.addRow("Revision", self.test_revision)
        self.test_result.addRow("Reply", self.test_answer)
        tv.addLayout(self.test_result)
        self.test_error = MessageBanner()
        self.test_error.setTextFormat(Qt.TextFormat.PlainText)
        tv.addWidget(self.test_error)
        right.addWidget(self.test_box)
        right.addStretch(1)

        self.installed_box = QGroupBox("Installed in Ollama")
        iv = QVBoxLayout(self.installed_box)
        irow = QHBoxLayout()
        self.installed_status = _selectable(muted())
        irow.addWidget(self.installed_status, 1)
        self.refresh_btn = QPushButton("Refresh")
        self.refresh_btn.clicked.connect(self.refresh_installed)
        self.pull_btn = QPushButton("Pull…")
        self.pull_btn.setToolTip("Download a model into this Ollama server")
        self.pull_btn.clicked.connect(self.open_pull_dialog)
        irow.addWidget(self.refresh_btn)
        irow.addWidget(self.pull_btn)
        iv.addLayout(irow)
        self.installed = _table(INSTALLED_COLUMNS)
        self.installed.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        iv.addWidget(self.installed)
        self.installed_error = MessageBanner()
        self.installed_error.setTextFormat(Qt.TextFormat.PlainText)
        iv.addWidget(self.installed_error)
        dl.addWidget(self.installed_box)
        dl.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(details)
        splitter.addWidget(scroll)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([170, 560])

        self.empty = muted("Open or create a project to see its model profiles.")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        outer.addWidget(self.empty)

    # -- Pane contract ---------------------------------------------------------------------------

    def is_busy(self) -> bool:
        """True only while a pull runs (stopping it loses the partial download's progress for now;
        Ollama resumes it). Hashing, listing and testing lose nothing when stopped."""
        return self.pull_dialog is not None and self.pull_dialog.is_running()

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        if self.pull_dialog is not None:
            self.pull_dialog.shutdown(timeout_ms)
        self._workers.shutdown(timeout_ms)

    # -- the list ------------------------------------------------------------------------------------

    def _reload(self, select: str | None = None) -> None:
        from engine.lms import manage

        has = self.session.project is not None
        self._splitter.setVisible(has)
        self.empty.setVisible(not has)
        for b in (self.add_btn, self.edit_btn, self.remove_btn):
            b.setEnabled(has)
        self.banner.clear_message()
        infos, profiles = [], {}
        if has:
            try:
                infos = manage.list_profiles(self.session.project)
                profiles = manage.all_profiles(self.session.project)
            except WorkbenchError as exc:
                self.banner.show_error(str(exc))
        if select is None:
            current = self.selected_name()
            select = current if current in {i.name for i in infos} else None
        self._infos = {i.name: i for i in infos}
        self._profiles = profiles
        default = self.session.project.config.compile.model if has else ""
        self.table.blockSignals(True)
        self.table.setRowCount(len(infos))
        select_row = 0
        for r, info in enumerate(infos):
            label = f"{info.name}  (default)" if info.name == default else info.name
            values = (label, info.provider, info.model or "—", endpoint_text(info), info.format,
                      source_text(info), key_text(info.key))
            for c, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setData(Qt.ItemDataRole.UserRole, info.name)
                self.table.setItem(r, c, item)
            if info.key == "missing":
                self.table.item(r, 6).setForeground(QBrush(warn_color(self)))
                self.table.item(r, 6).setToolTip("no key in the keyring or the environment: Edit… to add one")
            if info.name == select:
                select_row = r
        if infos:
            self.table.setCurrentCell(select_row, 0)
            self.table.selectRow(select_row)
        self.table.blockSignals(False)
        if infos:
            self._show_selected()
        self._update_buttons()

    def selected_name(self) -> str | None:
        row = self.table.currentRow()
        if row < 0 or self.table.item(row, 0) is None:
            return None
        return self.table.item(row, 0).data(Qt.ItemDataRole.UserRole)

    def selected_profile(self):
        name = self.selected_name()
        return self._profiles.get(name) if name else None

    def selected_info(self):
        name = self.selected_name()
        return self._infos.get(name) if name else None

    def select(self, name: str) -> None:
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).data(Qt.ItemDataRole.UserRole) == name:
                self.table.setCurrentCell(r, 0)
                return

    def _update_buttons(self) -> None:
        info = self.selected_info()
        has = self.session.project is not None
        editable = info is not None and (info.source == "user" or info.kind not in ("embedded", "ollama"))
        self.edit_btn.setEnabled(has and editable)
        self.edit_btn.setToolTip(
            "" if info is None else
            "Change this profile's settings or key" if info.source == "user" else
            "Set this profile's API key (its settings live in project.toml)" if editable else
            "Built in or defined in project.toml, and it needs no key")
        removable = info is not None and info.source == "user"
        self.remove_btn.setEnabled(has and removable)
        self.remove_btn.setToolTip(
            "" if info is None else
            "Remove it from your models.toml (and its key from the keyring)" if removable else
            "`embedded` is built in" if info.source == "builtin" else
            "Defined in the project's project.toml: edit that file to remove it")

    def _show_selected(self) -> None:
        self._update_buttons()
        profile, info = self.selected_profile(), self.selected_info()
        if profile is None or info is None:
            return
        self.settings_box.setTitle(f"Profile “{profile.name}”")
        for key, _label in SETTINGS:
            if key == "key":
                text = key_text(info.key)
                if info.key == "keyring":
                    text = "stored in the OS keyring"
                elif info.key and info.key.startswith("env:"):
                    text = f"from the environment variable {info.key[4:]}"
                elif info.key == "missing":
                    text = f"missing: Edit… to store one, or set {profile.key_env_var()}"
            elif key == "source":
                text = source_text(info)
            elif key == "price":
                text = self._price_text(profile)
            elif key == "base_url":
                text = endpoint_text(info) if info.kind != "embedded" else "in process (no server)"
            else:
                value = getattr(profile, key, None)
                if value is None or value == "":
                    text = "—"
                elif key == "format":
                    text = f"{value}: {FORMAT_HELP.get(value, '')}"
                else:
                    text = str(value)
            self.setting_labels[key].setText(text)
        self._show_report(profile.name)
        self._show_revision(profile)
        is_ollama = info.kind == "ollama"
        self.installed_box.setVisible(is_ollama)
        if is_ollama:
            self.installed_box.setTitle(f"Installed in Ollama at {endpoint_text(info)}")
            self.refresh_installed()

    # -- price ---------------------------------------------------------------------------------------

    def _price_text(self, profile) -> str:
        """The price now when it needs no lookup; a hosted model's is looked up in LiteLLM's price
        map on a worker (importing LiteLLM takes seconds: never on the GUI thread)."""
        from engine.lms import pricing

        if profile.kind != "hosted" or profile.usd_per_million_input_tokens is not None:
            return pricing.price_for(profile).describe()
        if profile.name in self._prices:
            return self._prices[profile.name]
        if not self._workers.busy(f"price:{profile.name}"):
            self._workers.spawn(f"price:{profile.name}", lambda: pricing.price_for(profile).describe(),
                                on_result=lambda text, name=profile.name: self._price_shown(name, text),
                                on_error=lambda message, name=profile.name: self._price_shown(name, "unknown"))
        return "looking it up in LiteLLM's price map…"

    def _price_shown(self, name: str, text: str) -> None:
        self._prices[name] = text
        if self.selected_name() == name:
            self.setting_labels["price"].setText(text)

    # -- revision ------------------------------------------------------------------------------------

    def _show_revision(self, profile) -> None:
        if profile.provider != "embedded":
            report = self._reports.get(profile.name)
            if report is not None and report.revision is not None:
                self.rev_file.setText(f"the last Test ({report.revision.name})")
                self.rev_sha.setText(report.revision.revision)
            else:
                self.rev_file.setText("the server, when it answers: run Test to see it")
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

    # -- test ------------------------------------------------------------------------------------------

    def run_test(self) -> None:
        from engine.lms import manage

        profile = self.selected_profile()
        if profile is None or self._workers.busy("test"):
            return
        self._reports.pop(profile.name, None)
        self._show_report(profile.name)
        self.test_btn.setEnabled(False)
        self.test_status.setStyleSheet("")
        note = " (the first call also loads the model)" if profile.kind in ("embedded", "ollama") else ""
        self.test_status.setText(f"Calling {profile.name}…{note}")
        name = profile.name
        self._testing = name
        self._workers.spawn("test", lambda: manage.test_profile(profile),
                            on_result=lambda report: self._test_done(name, report),
                            on_error=lambda message: self._test_crashed(name, message))

    def _show_report(self, name: str) -> None:
        """The last test of this profile (or a blank Test box)."""
        report = self._reports.get(name)
        running = self._workers.busy("test")
        self.test_btn.setEnabled(not running)
        self.test_error.clear_message()
        self.test_status.setStyleSheet("")
        for label in (self.test_latency, self.test_revision, self.test_answer):
            label.setText("—")
        if report is None:
            if running and getattr(self, "_testing", None) == name:
                self.test_status.setText(f"Calling {name}…")
            else:
                self.test_status.setText("Not tested in this session.")
            return
        if report.latency_s is not None:
            self.test_latency.setText(f"{report.latency_s * 1000:,.0f} ms")
        if report.revision is not None:
            self.test_revision.setText(report.revision.revision)
        if report.reply:
            self.test_answer.setText(report.reply[:400])
        if report.ok:
            self.test_status.setText("OK: the model answered")
            self.test_status.setStyleSheet(f"color: {good_color(self).name()}")
        else:
            self.test_status.setText(f"Failed ({report.kind})" if report.kind else "Failed")
            self.test_status.setStyleSheet(f"color: {bad_color(self).name()}")
            self.test_error.show_error(report.diagnosis or "the test failed")

    def _test_done(self, name: str, report) -> None:
        self._reports[name] = report
        if self.selected_name() == name:
            self._show_report(name)
            profile = self.selected_profile()
            if profile is not None:
                self._show_revision(profile)
        else:
            self.test_btn.setEnabled(True)
        if report.ok:
            if report.revision is not None and self._profiles.get(name) is not None \
                    and self._profiles[name].kind != "embedded":
                self.revision_ready.emit(report.revision.revision)
            self.test_finished.emit(report)
        else:
            self.test_failed.emit(report.diagnosis or "the test failed")

    def _test_crashed(self, name: str, message: str) -> None:
        self.test_btn.setEnabled(True)
        if self.selected_name() == name:
            self.test_status.setText("")
            self.test_error.show_error(f"The test call failed: {message}")
        self.test_failed.emit(message)

    # -- Ollama: installed models and pull -------------------------------------------------------------

    def refresh_installed(self) -> None:
        from engine.lms import manage

        info = self.selected_info()
        if info is None or info.kind != "ollama":
            return
        if self._workers.busy("installed"):
            self._installed_again = True  # asked again while listing: list once more when it ends
            return
        self._installed_again = False
        name, project = info.name, self.session.project
        self.installed_error.clear_message()
        self.installed_status.setText("Asking Ollama…")
        self.refresh_btn.setEnabled(False)
        self._workers.spawn("installed", lambda: manage.ollama_models(profile=name, project=project),
                            on_result=lambda models: self._installed_shown(name, models),
                            on_error=lambda message: self._installed_failed(name, message))

    def _again(self) -> bool:
        if getattr(self, "_installed_again", False):
            # (the finished worker is still counted busy until its `done`: spawn after it)
            from PySide6.QtCore import QTimer

            self._installed_again = False
            QTimer.singleShot(0, self.refresh_installed)
            return True
        return False

    def _installed_shown(self, name: str, models: list) -> None:
        self.refresh_btn.setEnabled(True)
        if self._again() or self.selected_name() != name:
            return
        wanted = self._profiles[name].model if name in self._profiles else ""
        from engine.lms.ollama_api import full_name, short_digest

        self.installed.setRowCount(len(models))
        found = False
        for r, m in enumerate(models):
            mine = bool(wanted) and full_name(m.name) == full_name(wanted)
            found = found or mine
            values = (m.name + ("  ← this profile" if mine else ""), human_size(m.size), m.family,
                      m.parameter_size, m.quantization, short_digest(m.digest))
            for c, value in enumerate(values):
                item = QTableWidgetItem(value)
                if c == 5:
                    item.setFont(monospace_font())
                    item.setToolTip(m.digest)
                if c == 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.installed.setItem(r, c, item)
        mine = next((m for m in models if wanted and full_name(m.name) == full_name(wanted)), None)
        report = self._reports.get(name)
        if mine is not None and (report is None or report.revision is None):
            self.rev_file.setText(f"the model installed in Ollama ({mine.name}); Test confirms what answers")
            self.rev_sha.setText(f"sha256:{mine.digest}")
        self.installed.setVisible(bool(models))
        fit_table_height(self.installed)
        count = f"{len(models)} model{'s' if len(models) != 1 else ''} installed"
        if wanted and not found:
            self.installed_status.setText(f"{count}; this profile's model {wanted} is not one of them: Pull… it")
            self.installed_status.setStyleSheet(f"color: {warn_color(self).name()}")
        else:
            self.installed_status.setText(count)
            self.installed_status.setStyleSheet("")
        self.installed_ready.emit(models)

    def _installed_failed(self, name: str, message: str) -> None:
        self.refresh_btn.setEnabled(True)
        if self._again():
            return
        if self.selected_name() == name:
            self.installed.setRowCount(0)
            self.installed.hide()
            self.installed_status.setText("")
            self.installed_error.show_error(message)
        self.installed_failed.emit(message)

    def open_pull_dialog(self):
        from desktop.dialogs.pull_dialog import PullDialog

        info = self.selected_info()
        if info is None or info.kind != "ollama":
            return None
        if self.pull_dialog is not None:
            self.pull_dialog.raise_()
            return self.pull_dialog
        dialog = PullDialog(profile=info.name, model=info.model,
                            project=self.session.project, parent=self)
        dialog.pulled.connect(lambda _r: self.refresh_installed())
        dialog.finished.connect(lambda _code, d=dialog: self._pull_closed(d))
        self.pull_dialog = dialog
        dialog.open()
        return dialog

    def _pull_closed(self, dialog) -> None:
        if self.pull_dialog is dialog:
            self.pull_dialog = None
        dialog.deleteLater()

    # -- add / edit / remove -----------------------------------------------------------------------------

    def add_profile(self):
        from desktop.dialogs.profile_dialog import ProfileDialog

        return self._open_profile_dialog(ProfileDialog(project=self.session.project, parent=self))

    def edit_profile(self):
        from desktop.dialogs.profile_dialog import ProfileDialog

        profile, info = self.selected_profile(), self.selected_info()
        if profile is None or info is None:
            return None
        return self._open_profile_dialog(ProfileDialog(profile, source=info.source, key_state=info.key,
                                                       project=self.session.project, parent=self))

    def _open_profile_dialog(self, dialog):
        dialog.saved.connect(self._profile_saved)
        dialog.finished.connect(lambda _code, d=dialog: self._profile_dialog_closed(d))
        self.profile_dialog = dialog
        dialog.open()
        return dialog

    def _profile_dialog_closed(self, dialog) -> None:
        if self.profile_dialog is dialog:
            self.profile_dialog = None
        dialog.deleteLater()

    def _profile_saved(self, name: str) -> None:
        self._reports.pop(name, None)
        self._prices.pop(name, None)
        self._reload(select=name)
        self.profiles_changed.emit()

    def remove_profile(self) -> bool:
        from desktop import messages
        from engine.lms import manage

        info = self.selected_info()
        if info is None or info.source != "user":
            return False
        key = " and its API key from the keyring" if info.key == "keyring" else ""
        if not messages.confirm(self, "Remove profile",
                                f"Remove the model profile “{info.name}” from your models.toml{key}? "
                                "Runs compiled with it stay in the history.", yes="Remove", no="Keep"):
            return False
        try:
            manage.remove_profile(info.name)
        except WorkbenchError as exc:
            self.banner.show_error(str(exc))
            return False
        self._reports.pop(info.name, None)
        self._reload()
        self.profiles_changed.emit()
        return True
