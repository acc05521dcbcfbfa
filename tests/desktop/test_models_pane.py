"""The Models pane: profiles, the embedded model's exact revision, and a one-call test."""

from __future__ import annotations

import pytest

from tests.desktop.conftest_b import (dummy_lm, no_dangling_qthreads, sample_project,  # noqa: F401
                                      sample_session)

from desktop.panes.models import ModelsPane  # noqa: E402

pytestmark = [pytest.mark.qt_log_level_fail("WARNING"), pytest.mark.usefixtures("no_dangling_qthreads")]


@pytest.fixture
def pane(qtbot, sample_session):
    pane = ModelsPane(sample_session)
    qtbot.addWidget(pane)
    yield pane
    pane.shutdown(10_000)


def test_lists_the_embedded_profile_and_its_revision(qtbot, sample_session):
    pane = ModelsPane(sample_session)
    qtbot.addWidget(pane)
    with qtbot.waitSignal(pane.revision_ready, timeout=60_000) as blocker:
        pass
    assert pane.title == "Models" and pane.icon_name == "models"
    assert pane.table.rowCount() >= 1
    assert pane.table.item(0, 0).text().startswith("embedded")
    assert pane.table.item(0, 1).text() == "embedded"
    from engine.lms.embedded import file_sha256, model_path

    assert blocker.args == [f"sha256:{file_sha256(model_path())}"]
    assert pane.setting_labels["format"].text().startswith("compact")
    assert not pane.add_btn.isEnabled()
    assert "Ollama" in pane.add_btn.toolTip()
    pane.shutdown(10_000)


def test_test_button_makes_one_call_and_shows_the_answer(pane, dummy_lm, qtbot):
    dummy_lm([{"answer": "Paris"}])
    with qtbot.waitSignal(pane.test_finished, timeout=30_000) as blocker:
        pane.test_btn.click()
    assert blocker.args[0]["answer"] == "Paris"
    assert pane.test_answer.text() == "Paris"
    assert pane.test_latency.text().endswith("tokens") or " ms" in pane.test_latency.text()
    assert pane.test_btn.isEnabled()


def test_test_failure_is_shown(pane, monkeypatch, qtbot):
    import engine.lms.connect as connect_module
    from engine.errors import ModelError

    def broken(profile):
        raise ModelError("the embedded model file is missing: install it")

    monkeypatch.setattr(connect_module, "connect", broken)
    with qtbot.waitSignal(pane.test_failed, timeout=30_000):
        pane.test_btn.click()
    assert "model file is missing" in pane.test_error.text()
