"""Add or edit a model profile: provider, model, endpoint, generation settings, optional prices
(USD per million input / output tokens, for cost budgets on servers nobody else prices) and an API key.

The profile is saved with `engine.lms.manage.add_profile` to the user's models.toml. The API key
field is a password field whose text goes straight to the engine (`add_profile(api_key=...)` or
`set_api_key`), which puts it in the OS keyring; the dialog never stores, logs or shows it again
(the field is cleared as soon as the engine has it). Errors from the engine are shown inline,
verbatim: for example "no keyring backend", with the environment variable to use instead.

A project's own profiles live in its project.toml (what people commit); for those the dialog
opens in "key only" mode: the settings are shown read-only and only the key can be set.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox,
                               QFormLayout, QHBoxLayout, QLabel, QLineEdit, QSpinBox, QVBoxLayout,
                               QWidget)

from desktop.panes.common import MessageBanner, muted
from engine.errors import WorkbenchError

PROVIDERS = (
    ("embedded", "embedded (llama.cpp, in process)"),
    ("ollama", "ollama"),
    ("openai-compatible", "openai-compatible (LM Studio, vLLM, llama.cpp server, …)"),
    ("openai", "openai"),
    ("anthropic", "anthropic"),
    ("gemini", "gemini"),
    ("mistral", "mistral"),
    ("", "other LiteLLM provider…"),
)
FORMATS = (
    ("compact", "compact: short prompt + JSON schema (small local models)"),
    ("chat", "chat: DSPy's ChatAdapter (large hosted models)"),
    ("json", "json: DSPy's JSONAdapter"),
)
KEY_STORED = "stored in the OS keyring"


def default_ollama_url() -> str:
    """http://localhost:11434, or what OLLAMA_HOST says."""
    from engine.lms.ollama_api import ollama_url

    return ollama_url(None)


class ProfileDialog(QDialog):
    """Add (profile=None) or edit a profile. `save()` does the work; OK calls it.

    Signals:
        saved(str)    the profile (or its key) was written; the name
    """

    saved = Signal(str)

    def __init__(self, profile=None, *, source: str = "user", key_state: str | None = None,
                 project=None, parent: QWidget | None = None):
        super().__init__(parent)
        self._editing = profile is not None
        self._key_only = self._editing and source != "user"
        self._project = project
        self._key_state = key_state
        self.setWindowTitle(f"Edit profile “{profile.name}”" if self._editing else "Add model profile")
        self.setMinimumWidth(720)
        layout = QVBoxLayout(self)
        if self._key_only:
            where = "built in" if source == "builtin" else "defined in this project's project.toml"
            layout.addWidget(muted(f"This profile is {where}, so its settings are read-only here; "
                                   "you can set its API key."))
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. local-llama (letters, digits, '.', '_', '-')")
        form.addRow("Name", self.name_edit)

        provider_row = QHBoxLayout()
        self.provider_combo = QComboBox()
        for value, label in PROVIDERS:
            self.provider_combo.addItem(label, value)
        self.provider_combo.setCurrentIndex(1)
        self.other_provider = QLineEdit()
        self.other_provider.setPlaceholderText("LiteLLM name, e.g. groq")
        provider_row.addWidget(self.provider_combo, 2)
        provider_row.addWidget(self.other_provider, 1)
        form.addRow("Provider", provider_row)

        self.model_edit = QLineEdit()
        form.addRow("Model", self.model_edit)
        self.base_url_edit = QLineEdit()
        form.addRow("Base URL", self.base_url_edit)

        self.temperature = QDoubleSpinBox(minimum=0.0, maximum=2.0, singleStep=0.1, decimals=2, value=0.0)
        form.addRow("Temperature", self.temperature)
        self.max_tokens = QSpinBox(minimum=1, maximum=1_000_000, value=256)
        form.addRow("Max tokens", self.max_tokens)
        self.seed = QSpinBox(minimum=-1, maximum=2_147_483_647, value=0)
        self.seed.setSpecialValueText("none")
        self.seed.setToolTip("-1 / none: no seed is sent")
        form.addRow("Seed", self.seed)
        self.concurrency = QSpinBox(minimum=1, maximum=64, value=1)
        form.addRow("Parallel calls", self.concurrency)
        self.timeout = QDoubleSpinBox(minimum=1.0, maximum=3600.0, decimals=0, value=120.0, suffix=" s")
        form.addRow("Timeout", self.timeout)
        self.format_combo = QComboBox()
        for value, label in FORMATS:
            self.format_combo.addItem(label, value)
        form.addRow("Prompt format", self.format_combo)

        # Optional prices: they win over LiteLLM's price map, and let a paid OpenAI-compatible
        # endpoint (whose price nobody else knows) be capped with a cost budget.
        price_row = QHBoxLayout()
        self.price_check = QCheckBox("Set")
        self.price_check.setToolTip("Without prices: local models are free, hosted ones use LiteLLM's "
                                    "price map, other servers' cost is unknown")
        self.price_input = QDoubleSpinBox(minimum=0.0, maximum=1_000_000.0, decimals=4, prefix="$")
        self.price_output = QDoubleSpinBox(minimum=0.0, maximum=1_000_000.0, decimals=4, prefix="$")
        self.price_input.setAccessibleName("USD per million input tokens")
        self.price_output.setAccessibleName("USD per million output tokens")
        price_row.addWidget(self.price_check)
        price_row.addWidget(self.price_input)
        price_row.addWidget(QLabel("input"))
        price_row.addSpacing(12)
        price_row.addWidget(self.price_output)
        price_row.addWidget(QLabel("output"))
        price_row.addStretch(1)
        form.addRow("Price per 1M tokens", price_row)
        self.price_check.toggled.connect(self._prices_toggled)
        self._prices_toggled(False)

        self.key_edit = QLineEdit()
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setAccessibleName("API key")
        form.addRow("API key", self.key_edit)
        self.key_hint = muted(wrap=False)
        form.addRow("", self.key_hint)
        layout.addLayout(form)

        self.banner = MessageBanner()
        layout.addWidget(self.banner)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._save_and_close)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        self.provider_combo.currentIndexChanged.connect(self._provider_changed)
        self.other_provider.textChanged.connect(lambda _t: self._update_key_hint())
        self.name_edit.textChanged.connect(lambda _t: self._update_key_hint())
        if profile is not None:
            self._fill(profile)
        self._provider_changed()
        if self._key_only:
            for widget in (self.name_edit, self.provider_combo, self.other_provider, self.model_edit,
                           self.base_url_edit, self.temperature, self.max_tokens, self.seed,
                           self.concurrency, self.timeout, self.format_combo, self.price_check,
                           self.price_input, self.price_output):
                widget.setEnabled(False)

    # -- values ----------------------------------------------------------------------------------

    def _fill(self, profile) -> None:
        self.name_edit.setText(profile.name)
        self.name_edit.setEnabled(False)
        index = self.provider_combo.findData(profile.provider)
        if index < 0:
            index = self.provider_combo.findData("")
            self.other_provider.setText(profile.provider)
        self.provider_combo.setCurrentIndex(index)
        self.model_edit.setText(profile.model or "")
        self.base_url_edit.setText(profile.base_url or "")
        self.temperature.setValue(profile.temperature)
        self.max_tokens.setValue(profile.max_tokens)
        self.seed.setValue(-1 if profile.seed is None else profile.seed)
        self.concurrency.setValue(profile.concurrency)
        self.timeout.setValue(profile.timeout_s)
        self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(profile.format)))
        priced = profile.usd_per_million_input_tokens is not None
        self.price_check.setChecked(priced)
        if priced:
            self.price_input.setValue(profile.usd_per_million_input_tokens)
            self.price_output.setValue(profile.usd_per_million_output_tokens)

    def provider(self) -> str:
        value = self.provider_combo.currentData()
        return value if value else self.other_provider.text().strip().lower()

    def settings(self) -> dict:
        """What add_profile gets (without the key)."""
        provider = self.provider()
        return {
            "provider": provider,
            "model": self.model_edit.text().strip(),
            "base_url": self.base_url_edit.text().strip() or None,
            "temperature": self.temperature.value(),
            "max_tokens": self.max_tokens.value(),
            "seed": None if self.seed.value() < 0 else self.seed.value(),
            "concurrency": self.concurrency.value(),
            "timeout_s": self.timeout.value(),
            "format": self.format_combo.currentData(),
            "usd_per_million_input_tokens": self.price_input.value() if self.price_check.isChecked() else None,
            "usd_per_million_output_tokens": self.price_output.value() if self.price_check.isChecked() else None,
        }

    def _prices_toggled(self, on: bool) -> None:
        self.price_input.setEnabled(on)
        self.price_output.setEnabled(on)

    def _provider_changed(self, *_args) -> None:
        provider = self.provider_combo.currentData()
        self.other_provider.setVisible(provider == "")
        self.base_url_edit.setEnabled(provider != "embedded")
        self.model_edit.setEnabled(provider != "embedded")
        placeholders = {
            "embedded": "in process (no server)",
            "ollama": default_ollama_url(),
            "openai-compatible": "http://localhost:1234/v1",
        }
        self.base_url_edit.setPlaceholderText(placeholders.get(provider, "the provider's default endpoint"))
        models = {"embedded": "the bundled SmolLM2 file", "ollama": "e.g. llama3.2",
                  "openai-compatible": "the id the server serves", "openai": "e.g. gpt-4o-mini",
                  "anthropic": "e.g. claude-3-5-haiku-latest", "gemini": "e.g. gemini-2.0-flash",
                  "mistral": "e.g. mistral-small-latest"}
        self.model_edit.setPlaceholderText(models.get(provider, "the provider's model name"))
        if provider == "ollama" and not self._editing and not self.base_url_edit.text().strip():
            self.base_url_edit.setText(default_ollama_url())
        elif provider != "ollama" and not self._editing and self.base_url_edit.text() == default_ollama_url():
            self.base_url_edit.clear()
        if not self._editing:
            # hosted models want DSPy's formats; small local ones the compact one
            self.format_combo.setCurrentIndex(0 if provider in ("embedded", "ollama", "openai-compatible") else 1)
        self.key_edit.setEnabled(provider not in ("embedded", "ollama"))
        self._update_key_hint()

    def _env_var(self) -> str | None:
        from engine.lms.profiles import HOSTED_KEY_ENV, OPENAI_COMPATIBLE

        provider = self.provider()
        name = self.name_edit.text().strip() or "NAME"
        if provider in ("embedded", "ollama", ""):
            return None
        if provider == OPENAI_COMPATIBLE:
            import re

            return "DSPY_WORKBENCH_KEY_" + re.sub(r"[^A-Z0-9]", "_", name.upper())
        return HOSTED_KEY_ENV.get(provider, f"{provider.upper()}_API_KEY")

    def _update_key_hint(self) -> None:
        provider = self.provider()
        if provider in ("embedded", "ollama"):
            self.key_edit.setPlaceholderText("not needed")
            self.key_hint.setText("This provider needs no key.")
            return
        state = self._key_state
        if state == "keyring":
            self.key_edit.setPlaceholderText(f"{KEY_STORED} (type a new key to replace it)")
        elif state and state.startswith("env:"):
            self.key_edit.setPlaceholderText(f"read from ${state[4:]} (type a key to store it in the keyring)")
        else:
            optional = " (optional for a local server)" if provider == "openai-compatible" else ""
            self.key_edit.setPlaceholderText(f"paste the key{optional}")
        env = self._env_var()
        self.key_hint.setText(
            "Goes straight to the OS keyring, never to a file, and is not shown again."
            + (f"\nWithout a keyring, set {env} in the environment instead." if env else ""))

    # -- saving ------------------------------------------------------------------------------------

    def _save_and_close(self) -> None:
        if self.save():
            self.accept()

    def save(self) -> bool:
        """Write the profile (and the key, if one was typed). False, with the engine's message
        shown, when it could not."""
        from engine.lms import manage
        from engine.lms.keys import KeyringUnavailable

        self.banner.clear_message()
        name = self.name_edit.text().strip()
        key = self.key_edit.text().strip() or None
        try:
            if self._key_only:
                if key:
                    manage.set_api_key(name, key, self._project)
            else:
                if not name:
                    raise WorkbenchError("give the profile a name")
                manage.add_profile(name, api_key=key, replace=self._editing, ask_server=False, **self.settings())
        except KeyringUnavailable as exc:
            # Nothing was saved (the engine saves no profile whose key it cannot store); the other
            # fields stay as typed for another try, the key field is cleared.
            self.key_edit.clear()
            self.banner.show_error(str(exc))
            return False
        except WorkbenchError as exc:
            self.banner.show_error(str(exc))
            return False
        self.key_edit.clear()
        if key:
            self._key_state = "keyring"
            self._update_key_hint()
            self.banner.show_info(f"Key {KEY_STORED}.")
        self.saved.emit(name)
        return True

    def key_status_text(self) -> str:
        return self.banner.text()

