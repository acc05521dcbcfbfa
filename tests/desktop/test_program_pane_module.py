"""The Program pane with the user's own module: read-only predictors, trust prompt, undo, #16.7."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.desktop.conftest_b import dummy_lm, no_dangling_qthreads, sample_project, sample_session  # noqa: F401

from desktop.panes.program import ProgramPane  # noqa: E402

pytestmark = [pytest.mark.qt_log_level_fail("WARNING"), pytest.mark.usefixtures("no_dangling_qthreads")]

SAMPLE_MODULE = Path(__file__).resolve().parents[2] / "resources" / "samples" / "ticket-facts" / "programs" / "ticket_facts.py"


@pytest.fixture
def pane(qtbot, sample_session):
    pane = ProgramPane(sample_session)
    qtbot.addWidget(pane)
    pane.resize(1300, 800)
    yield pane
    pane.shutdown(5000)


def test_using_a_python_module_shows_its_predictors_read_only_and_undoes(pane, sample_session, qtbot):
    project = sample_session.project
    builder = project.program
    metric_before = dict(project.config.metric)
    with qtbot.waitSignal(sample_session.program_changed):
        assert pane.use_python_module(path=str(SAMPLE_MODULE), name="TicketTriage")
    assert project.program.kind == "python"
    assert [pane.stage_list.item(i).text().split()[0] for i in range(pane.stage_list.count())] == ["extract", "classify"]
    assert pane.stage_name.text() == "extract" and not pane.stage_name.isEnabled()
    assert pane.instructions.isReadOnly() and not pane.add_stage_btn.isEnabled()
    assert pane.fields.rowCount() == 4  # ticket -> product, problem, money_involved
    assert "TicketTriage in programs/ticket_facts.py" in pane.module_info.text()
    assert not pane.trust_btn.isVisibleTo(pane)
    # the sample's data has no ticket/category columns: the engine added them and the pane says so
    assert {"ticket", "category"} <= set(project.frame.columns)
    assert "added it empty" in pane.error.text() and "reset it to the default" in pane.error.text()
    assert (project.root / "programs" / "ticket_facts.py").is_file()
    with qtbot.waitSignal(pane.preview_rendered, timeout=30_000):
        pane._render_preview()
    text = pane.preview.toPlainText()
    assert "━━ predictor extract ━━" in text and "━━ predictor classify ━━" in text
    assert "<product from extract>" in text
    with qtbot.waitSignal(sample_session.program_changed):
        sample_session.undo_stack.undo()
    assert project.program.canonical_json() == builder.canonical_json()
    assert project.config.metric == metric_before  # undo puts the metric back too
    assert pane.stage_name.isEnabled() and not pane.instructions.isReadOnly()


def test_a_module_that_does_not_import_is_shown_and_nothing_changes(pane, sample_session, tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import dspy\nclass A(dspy.Module):\n    def forward(self, x)\n")
    before = sample_session.project.program.fingerprint()
    assert not pane.use_python_module(path=str(bad), name="A")
    assert "SyntaxError" in pane.error.text()
    assert sample_session.project.program.fingerprint() == before
    assert sample_session.undo_stack.count() == 0


def test_an_untrusted_module_asks_once_and_runs_nothing_before(qtbot, tmp_path, monkeypatch):
    from desktop.session import ProjectSession
    from engine.project import Project

    original = Project.create(tmp_path / "mine", sample="ticket-facts")
    original.save()
    clone = tmp_path / "clone"
    shutil.copytree(original.root, clone)
    session = ProjectSession()
    project = Project.open(clone)
    session.open(project)
    pane = ProgramPane(session)
    qtbot.addWidget(pane)
    try:
        assert pane.trust_btn.isVisibleTo(pane)
        assert "not trusted in this version" in pane.module_info.text()
        with qtbot.waitSignal(pane.preview_rendered, timeout=10_000):
            pane._render_preview()
        assert "once you trust the module" in pane.preview_status.text()
        asked = []
        monkeypatch.setattr(pane, "_confirm_trust", lambda reason: asked.append(reason.sha256) or False)
        assert not pane.trust_module()
        assert pane.trust_btn.isVisibleTo(pane)
        monkeypatch.setattr(pane, "_confirm_trust", lambda reason: asked.append(reason.sha256) or True)
        with qtbot.waitSignal(session.program_changed):
            assert pane.trust_module()
        assert not pane.trust_btn.isVisibleTo(pane)
        assert len(asked) == 2 and asked[0] == project.program.sha256
        assert not pane.trust_module()  # trusted now: nothing to ask
        assert len(asked) == 2
        with qtbot.waitSignal(pane.preview_rendered, timeout=30_000):
            pane._render_preview()
        assert "━━ predictor classify ━━" in pane.preview.toPlainText()
    finally:
        pane.shutdown(5000)


def test_a_builder_edit_that_adds_an_output_adds_its_column(pane, sample_session, qtbot):
    project = sample_session.project
    with qtbot.waitSignal(sample_session.dataset_changed):
        pane.add_field("output")
    assert "output1" in project.frame.columns
    assert "added it empty" in pane.error.text()


def test_review_says_a_module_run_was_compiled_for_an_earlier_version(qtbot, tmp_path, dummy_lm):
    from desktop.panes.review import ReviewPane
    from desktop.session import ProjectSession
    from engine.jobs.compile import CompileJob, CompileSettings
    from engine.project import Project
    from engine.user_module import trust_program

    project = Project.create(tmp_path / "tickets", sample="ticket-facts")
    trust_program(project)
    facts = {"product": "order", "problem": "late", "money_involved": False}
    dummy_lm([{**facts, "category": "shipping"}, {**facts, "category": "billing"}])
    record = CompileJob(project, CompileSettings("labeled-fewshot", {"k": 2}, limit=4)).run()
    assert record.status == "succeeded", record.error
    source = project.root / "programs" / "ticket_facts.py"
    source.write_text(source.read_text() + "\n# a later version\n")
    project = Project.open(project.root)
    trust_program(project)
    session = ProjectSession()
    session.open(project)
    pane = ReviewPane(session)
    qtbot.addWidget(pane)
    try:
        qtbot.waitUntil(lambda: pane._data is not None, timeout=30_000)
        assert "compiled for an earlier version of the program" in pane.banner.text()
        assert set(pane._data["chosen"]) == {"extract", "classify"}
    finally:
        pane.shutdown(10_000)
