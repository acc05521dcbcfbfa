"""Pull a model into Ollama, with live progress and Cancel.

`engine.lms.manage.pull_model` runs on a `JobWorker` thread; its progress callback is the
worker's event sink (`EventBridge`), so every `PullProgress` reaches the GUI thread as a Qt
signal (throttled to ~20 updates a second). Cancel sets the worker's `CancelToken`: the engine
stops reading the stream and closes it (Ollama resumes the pull where it stopped next time).
When Ollama is not reachable the engine's sentence is shown as it is.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QDialog, QFormLayout, QHBoxLayout, QLineEdit, QProgressBar,
                               QPushButton, QVBoxLayout, QWidget)

from desktop.panes.common import MessageBanner, good_color, muted
from desktop.worker import JobWorker


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


class PullDialog(QDialog):
    """Signals:
        pulled(object)      the pull finished (engine PullResult with status "success")
        progressed(object)  one PullProgress, on the GUI thread
    """

    pulled = Signal(object)
    progressed = Signal(object)

    def __init__(self, *, profile: str | None = None, base_url: str | None = None, model: str = "",
                 project=None, parent: QWidget | None = None):
        super().__init__(parent)
        self._profile = profile
        self._base_url = base_url
        self._project = project
        from engine.lms import manage

        try:
            self.url = manage.ollama_url_for(profile=profile, base_url=base_url, project=project)
        except Exception:  # noqa: BLE001 - only for the text; pull_model reports the real error
            self.url = base_url or "the Ollama server"
        self.setWindowTitle("Pull a model into Ollama")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        layout.addWidget(muted(f"Downloads the model into the Ollama server at {self.url}. "
                               "A cancelled pull resumes where it stopped the next time."))
        form = QFormLayout()
        self.model_edit = QLineEdit(model)
        self.model_edit.setPlaceholderText("e.g. llama3.2 or qwen2.5:0.5b (see ollama.com/library)")
        self.model_edit.returnPressed.connect(self.start)
        form.addRow("Model", self.model_edit)
        layout.addLayout(form)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        layout.addWidget(self.progress)
        self.status = muted(wrap=True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.status)
        self.banner = MessageBanner()
        self.banner.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.banner)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.pull_btn = QPushButton("Pull")
        self.pull_btn.setDefault(True)
        self.pull_btn.clicked.connect(self.start)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.clicked.connect(self.cancel)
        self.close_btn = QPushButton("Close")
        self.close_btn.clicked.connect(self.reject)
        for b in (self.pull_btn, self.cancel_btn, self.close_btn):
            buttons.addWidget(b)
        layout.addLayout(buttons)

        self.worker = JobWorker("pull", self)
        self.worker.event.connect(self._progress)
        self.worker.finished.connect(self._finished)
        self.worker.failed.connect(self._failed)
        self.worker.cancelled.connect(self._cancelled)
        self.worker.done.connect(self._done)
        self.result = None

    def is_running(self) -> bool:
        return self.worker.is_running()

    def start(self) -> None:
        from engine.lms import manage

        model = self.model_edit.text().strip()
        if not model or self.worker.is_running():
            if not model:
                self.banner.show_error("type the name of the model to pull")
            return
        self.banner.clear_message()
        self.result = None
        self.progress.setRange(0, 0)  # busy until the first sized status
        self.progress.setFormat("")
        self.status.setStyleSheet("")
        self.status.setText(f"Asking Ollama at {self.url} for {model}…")
        self.pull_btn.setEnabled(False)
        self.model_edit.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        token = self.worker.new_token()
        sink = self.worker.sink
        profile, base_url, project = self._profile, self._base_url, self._project
        self.worker.start(lambda: manage.pull_model(model, profile=profile, base_url=base_url, project=project,
                                                    progress=sink, cancel=token))

    def cancel(self) -> None:
        if self.worker.is_running():
            self.cancel_btn.setEnabled(False)
            self.status.setText("Cancelling…")
            self.worker.cancel()

    # -- worker outcomes (GUI thread) ---------------------------------------------------------------

    def _progress(self, item) -> None:
        fraction = getattr(item, "fraction", None)
        if fraction is not None and item.total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(fraction * 1000))
            self.progress.setFormat(f"%p%  ({_size(item.completed)} of {_size(item.total)})")
        elif item.status in ("verifying sha256 digest", "writing manifest", "success"):
            self.progress.setRange(0, 1000)
            self.progress.setValue(1000)
            self.progress.setFormat("%p%")
        self.status.setText(item.status)
        self.progressed.emit(item)

    def _finished(self, result) -> None:
        self.result = result
        if getattr(result, "status", "") == "success":
            self.progress.setRange(0, 1000)
            self.progress.setValue(1000)
            self.progress.setFormat("%p%")
            digest = (result.digest or "")[:12]
            self.status.setText(f"Pulled {result.model}" + (f" (digest {digest})" if digest else "") + ".")
            self.status.setStyleSheet(f"color: {good_color(self).name()}")
            self.pulled.emit(result)
        else:
            self._cancelled()

    def _failed(self, message: str) -> None:
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.status.setText("")
        self.banner.show_error(message)

    def _cancelled(self) -> None:
        self.progress.setRange(0, 1000)
        self.progress.setFormat("stopped" if self.progress.value() > 0 else "")
        self.status.setText("Cancelled. Pull again to resume where it stopped.")

    def _done(self) -> None:
        self.pull_btn.setEnabled(True)
        self.pull_btn.setText("Pull again" if self.result is None else "Pull")
        self.model_edit.setEnabled(True)
        self.cancel_btn.setEnabled(False)

    # -- closing ------------------------------------------------------------------------------------

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        return self.worker.shutdown(timeout_ms)

    def reject(self) -> None:
        self.shutdown(5_000)
        super().reject()

    def done(self, code: int) -> None:  # noqa: D401 - QDialog.done
        self.shutdown(5_000)
        super().done(code)
