"""The Models pane: list, add (with a key), test, remove; Ollama's installed models and pull.

No real keyring (tests/fakes/fixtures.py swaps in an in-memory one), no real servers (FakeOpenAI
and FakeOllama on 127.0.0.1), DSPY_WORKBENCH_HOME in a temporary folder.
"""

from __future__ import annotations

import os
import socket

import pytest

from tests.desktop.conftest_b import (dummy_lm, no_dangling_qthreads, sample_project,  # noqa: F401
                                      sample_session)
from tests.fakes.fixtures import (fake_ollama, fake_openai, fast_backoff, fresh_engines,  # noqa: F401
                                  memory_keyring, no_real_keyring)
from tests.fakes.ollama_server import FakeOllama
from tests.fakes.openai_server import FakeOpenAI

from desktop.panes.models import ModelsPane  # noqa: E402
from PySide6.QtWidgets import QLineEdit  # noqa: E402

pytestmark = [pytest.mark.qt_log_level_fail("WARNING"), pytest.mark.usefixtures("no_dangling_qthreads")]

SECRET = "sk-test-0123456789abcdef-secret"


def add_project_profile(project, name: str, data: dict) -> None:
    project.config.models[name] = data
    project.save()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_pane(qtbot, session) -> ModelsPane:
    pane = ModelsPane(session)
    qtbot.addWidget(pane)
    pane.resize(1200, 800)
    return pane


@pytest.fixture
def pane(qtbot, sample_session):
    pane = make_pane(qtbot, sample_session)
    yield pane
    pane.shutdown(10_000)


def row_of(pane, name: str) -> int:
    for r in range(pane.table.rowCount()):
        if pane.table.item(r, 0).data(0x0100) == name:
            return r
    raise AssertionError(f"{name} is not listed")


def cells(pane, name: str) -> list[str]:
    r = row_of(pane, name)
    return [pane.table.item(r, c).text() for c in range(pane.table.columnCount())]


def files_under(*folders) -> list:
    out = []
    for folder in folders:
        for root, _dirs, files in os.walk(folder):
            out += [os.path.join(root, f) for f in files]
    return out


# -- listing ------------------------------------------------------------------------------------------

def test_lists_the_embedded_profile_and_its_revision(qtbot, sample_session):
    pane = make_pane(qtbot, sample_session)
    with qtbot.waitSignal(pane.revision_ready, timeout=60_000) as blocker:
        pass
    assert pane.title == "Models" and pane.icon_name == "models"
    assert pane.table.item(0, 0).text().startswith("embedded")
    assert cells(pane, "embedded")[1:] == ["embedded", "SmolLM2-135M-Instruct.Q4_1", "in process", "compact",
                                           "built in", "not needed"]
    from engine.lms.embedded import file_sha256, model_path

    assert blocker.args == [f"sha256:{file_sha256(model_path())}"]
    assert pane.rev_sha.text() == blocker.args[0]
    assert pane.setting_labels["format"].text().startswith("compact")
    assert pane.setting_labels["price"].text() == "free (runs on this machine)"
    assert pane.add_btn.isEnabled()
    assert not pane.remove_btn.isEnabled() and not pane.edit_btn.isEnabled()  # built in, needs no key
    assert pane.installed_box.isHidden()
    pane.shutdown(10_000)


def test_lists_a_project_profile_with_its_source_and_key_state(qtbot, sample_session, sample_project,
                                                               monkeypatch):
    add_project_profile(sample_project, "gpt", {"provider": "openai", "model": "gpt-4o-mini", "format": "chat"})
    add_project_profile(sample_project, "lab", {"provider": "openai-compatible", "model": "qwen",
                                                "base_url": "http://127.0.0.1:9/v1", "api_key_env": "LAB_KEY"})
    monkeypatch.setenv("LAB_KEY", "not-a-real-key")
    pane = make_pane(qtbot, sample_session)
    assert cells(pane, "gpt")[1:] == ["openai", "gpt-4o-mini", "provider default", "chat", "project", "missing"]
    assert cells(pane, "lab")[3:] == ["http://127.0.0.1:9/v1", "compact", "project", "env:LAB_KEY"]
    pane.select("gpt")
    assert pane.settings_box.title() == "Profile “gpt”"
    assert "OPENAI_API_KEY" in pane.setting_labels["key"].text()
    assert "run Test" in pane.rev_file.text()
    # a project's profile: the key can be set, the profile is not removable from here
    assert pane.edit_btn.isEnabled() and not pane.remove_btn.isEnabled()
    assert "project.toml" in pane.remove_btn.toolTip()
    # its price comes from LiteLLM's map, looked up on a worker (importing LiteLLM takes seconds)
    qtbot.waitUntil(lambda: "looking it up" not in pane.setting_labels["price"].text(), timeout=60_000)
    assert pane.setting_labels["price"].text() == "LiteLLM's price for openai/gpt-4o-mini"
    pane.shutdown(10_000)


# -- adding, keys ------------------------------------------------------------------------------------------

def test_adding_a_profile_with_a_key_keeps_the_key_out_of_every_file(pane, memory_keyring, workbench_home,
                                                                     sample_project, qtbot):
    dialog = pane.add_profile()
    assert dialog.key_edit.echoMode() == QLineEdit.EchoMode.Password
    dialog.name_edit.setText("lmstudio")
    dialog.provider_combo.setCurrentIndex(dialog.provider_combo.findData("openai-compatible"))
    dialog.model_edit.setText("gpt-4o-mini")
    dialog.base_url_edit.setText("http://127.0.0.1:1234/v1")
    dialog.key_edit.setText(SECRET)
    assert "DSPY_WORKBENCH_KEY_LMSTUDIO" in dialog.key_hint.text()
    with qtbot.waitSignal(pane.profiles_changed):
        assert dialog.save()
    assert dialog.key_edit.text() == ""
    assert "stored in the OS keyring" in dialog.banner.text() and SECRET not in dialog.banner.text()
    dialog.accept()

    assert memory_keyring.store == {("dspy-workbench", "lmstudio"): SECRET}
    written = files_under(workbench_home, sample_project.root)
    assert any(p.endswith("models.toml") for p in written)
    for path in written:
        with open(path, "rb") as f:
            assert SECRET.encode() not in f.read(), path
    assert cells(pane, "lmstudio")[1:] == ["openai-compatible", "gpt-4o-mini", "http://127.0.0.1:1234/v1",
                                           "compact", "user config", "keyring"]
    assert pane.selected_name() == "lmstudio"
    assert pane.setting_labels["key"].text() == "stored in the OS keyring"
    assert pane.remove_btn.isEnabled()
    # editing shows where the key is, never the key
    edit = pane.edit_profile()
    assert edit.key_edit.text() == "" and "stored in the OS keyring" in edit.key_edit.placeholderText()
    assert not edit.name_edit.isEnabled()
    edit.reject()


def test_prices_set_in_the_dialog_are_saved_shown_and_can_be_unset(pane, memory_keyring, qtbot):
    from engine.lms.profiles import user_profiles

    dialog = pane.add_profile()
    assert not dialog.price_input.isEnabled()  # no prices unless asked for
    dialog.name_edit.setText("paid")
    dialog.provider_combo.setCurrentIndex(dialog.provider_combo.findData("openai-compatible"))
    dialog.model_edit.setText("qwen2.5-7b")
    dialog.base_url_edit.setText("http://10.0.0.7:1234/v1")
    dialog.price_check.setChecked(True)
    dialog.price_input.setValue(0.5)
    dialog.price_output.setValue(1.5)
    with qtbot.waitSignal(pane.profiles_changed):
        assert dialog.save()
    dialog.accept()
    saved = user_profiles()["paid"]
    assert (saved.usd_per_million_input_tokens, saved.usd_per_million_output_tokens) == (0.5, 1.5)
    assert pane.setting_labels["price"].text().startswith("$0.5 / $1.5 per million")

    edit = pane.edit_profile()
    assert edit.price_check.isChecked() and edit.price_output.value() == 1.5
    edit.price_check.setChecked(False)
    with qtbot.waitSignal(pane.profiles_changed):
        assert edit.save()
    edit.accept()
    assert user_profiles()["paid"].usd_per_million_input_tokens is None
    assert pane.setting_labels["price"].text() == "unknown"  # an unpriced server: never "$0"


def test_engine_errors_show_inline_verbatim(pane, monkeypatch):
    from engine.lms import keys

    dialog = pane.add_profile()
    dialog.name_edit.setText("bad")
    dialog.provider_combo.setCurrentIndex(dialog.provider_combo.findData("openai-compatible"))
    dialog.model_edit.setText("m")
    dialog.base_url_edit.setText("")
    assert not dialog.save()
    from engine.lms.profiles import user_config_path

    assert dialog.banner.text() == ("model profile 'bad' is invalid: an openai-compatible profile needs a base URL "
                                    f"(e.g. http://localhost:1234/v1); fix [models.bad] in {user_config_path()}")
    # no keyring backend: nothing is saved, the env-var advice is shown, the other fields stay
    monkeypatch.setattr(keys, "backend_status", lambda: (False, "no keyring backend is installed or reachable"))
    dialog.base_url_edit.setText("http://127.0.0.1:1234/v1")
    dialog.key_edit.setText(SECRET)
    assert not dialog.save()
    text = dialog.banner.text()
    assert "'bad' was not saved" in text and "DSPY_WORKBENCH_KEY_BAD" in text and SECRET not in text
    assert dialog.key_edit.text() == "" and dialog.model_edit.text() == "m"
    assert "bad" not in pane._infos and not user_config_path().exists()
    dialog.reject()


def test_remove_asks_first(pane, answers, memory_keyring):
    from engine.lms import manage

    manage.add_profile("local", provider="ollama", model="llama3.2", base_url="http://127.0.0.1:9")
    pane._reload(select="local")
    answers.confirm = False
    assert not pane.remove_profile()
    assert "local" in pane._infos and "Remove the model profile “local”" in answers.questions[0]
    answers.confirm = True
    assert pane.remove_profile()
    assert "local" not in pane._infos
    pane.shutdown(10_000)


# -- test ------------------------------------------------------------------------------------------------

def test_test_against_an_openai_compatible_server_shows_latency_and_revision(pane, memory_keyring, qtbot):
    from engine.lms import manage

    with FakeOpenAI(latency=0.05, api_key=SECRET, served_model="gpt-4o-mini-2024-07-18") as server:
        manage.add_profile("lmstudio", provider="openai-compatible", model="gpt-4o-mini", base_url=server.url,
                           api_key=SECRET)
        pane._reload(select="lmstudio")
        with qtbot.waitSignal(pane.test_finished, timeout=30_000) as blocker:
            pane.test_btn.click()
            assert not pane.test_btn.isEnabled()  # runs on a worker, the GUI thread goes on
        report = blocker.args[0]
        assert report.ok and server.auth_seen == [True]
    assert pane.test_status.text().startswith("OK")
    assert pane.test_latency.text().endswith(" ms") and int(pane.test_latency.text()[:-3].replace(",", "")) >= 40
    assert pane.test_revision.text() == "gpt-4o-mini-2024-07-18"
    assert pane.rev_sha.text() == "gpt-4o-mini-2024-07-18" and "last Test" in pane.rev_file.text()
    assert pane.test_btn.isEnabled()


def test_test_failure_shows_the_diagnosis(pane, monkeypatch, qtbot):
    import engine.lms.connect as connect_module
    from engine.errors import ModelError

    def broken(profile):
        raise ModelError("the embedded model file is missing: install it")

    monkeypatch.setattr(connect_module, "connect", broken)
    with qtbot.waitSignal(pane.test_failed, timeout=30_000) as blocker:
        pane.test_btn.click()
    assert blocker.args == ["the embedded model file is missing: install it"]
    assert pane.test_error.text() == "the embedded model file is missing: install it"
    assert pane.test_status.text().startswith("Failed")


# -- Ollama --------------------------------------------------------------------------------------------------

def test_ollama_installed_models_and_a_pull_with_progress(pane, qtbot):
    from engine.lms import manage

    with FakeOllama(models=["llama3.2:latest"], library=["qwen2.5:0.5b"]) as server:
        manage.add_profile("local", provider="ollama", model="llama3.2", base_url=server.url)
        with qtbot.waitSignal(pane.installed_ready, timeout=30_000) as listed:
            pane._reload(select="local")
        assert [m.name for m in listed.args[0]] == ["llama3.2:latest"]
        assert not pane.installed_box.isHidden()
        row = [pane.installed.item(0, c).text() for c in range(pane.installed.columnCount())]
        assert row[0].startswith("llama3.2:latest") and "this profile" in row[0]
        assert row[1] == "1.9 GB" and row[2:5] == ["llama", "3.2B", "Q4_K_M"]
        assert len(row[5]) == 16 and server.models["llama3.2:latest"].digest.startswith(row[5])

        dialog = pane.open_pull_dialog()
        assert dialog.model_edit.text() == "llama3.2"
        dialog.model_edit.setText("qwen2.5:0.5b")
        seen = []
        dialog.progressed.connect(lambda p: seen.append(p))
        with qtbot.waitSignal(pane.installed_ready, timeout=30_000) as relisted:
            with qtbot.waitSignal(dialog.pulled, timeout=30_000) as pulled:
                dialog.pull_btn.click()
        assert pulled.args[0].status == "success"
        assert any(p.total and p.completed for p in seen) and seen[-1].status == "success"
        assert dialog.progress.value() == dialog.progress.maximum()
        assert "Pulled qwen2.5:0.5b" in dialog.status.text()
        assert {m.name for m in relisted.args[0]} == {"llama3.2:latest", "qwen2.5:0.5b"}
        dialog.reject()


def test_pull_cancel(pane, qtbot):
    from engine.lms import manage

    with FakeOllama(models=["llama3.2:latest"], library=["qwen2.5:0.5b"], pull_step_delay=0.3) as server:
        manage.add_profile("local", provider="ollama", model="llama3.2", base_url=server.url)
        with qtbot.waitSignal(pane.installed_ready, timeout=30_000):
            pane._reload(select="local")
        dialog = pane.open_pull_dialog()
        assert pane.is_busy() is False
        dialog.model_edit.setText("qwen2.5:0.5b")
        with qtbot.waitSignal(dialog.progressed, timeout=30_000):
            dialog.pull_btn.click()
        assert pane.is_busy() and not dialog.pull_btn.isEnabled()
        with qtbot.waitSignal(dialog.worker.cancelled, timeout=30_000):
            dialog.cancel_btn.click()
        assert "Cancelled" in dialog.status.text()
        assert dialog.pull_btn.isEnabled() and not dialog.cancel_btn.isEnabled()
        assert "qwen2.5:0.5b" not in server.models
        dialog.reject()
    assert pane.pull_dialog is None or not pane.pull_dialog.isVisible()


def test_unreachable_ollama_shows_the_engines_message(pane, qtbot):
    from engine.lms import manage

    url = f"http://127.0.0.1:{free_port()}"
    manage.add_profile("gone", provider="ollama", model="llama3.2", base_url=url)
    expected = f"Ollama is not reachable at {url}; start it with `ollama serve`"
    with qtbot.waitSignal(pane.installed_failed, timeout=30_000) as blocker:
        pane._reload(select="gone")
    assert blocker.args == [expected]
    assert pane.installed_error.text() == expected and pane.installed.rowCount() == 0
    dialog = pane.open_pull_dialog()
    with qtbot.waitSignal(dialog.worker.failed, timeout=30_000):
        dialog.pull_btn.click()
    assert dialog.banner.text() == expected
    dialog.reject()
