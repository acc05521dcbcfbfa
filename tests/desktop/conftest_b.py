"""Fixtures for the Program, Metric, Models, Runs and Review pane tests (imported explicitly by
those modules; tests/desktop/conftest.py belongs to the app-shell tests).

- `sample_session`: a ProjectSession on a fresh copy of the support-triage sample project.
- `dummy_lm`: makes `engine.lms.connect.connect` return a DSPy `DummyLM` (optionally slow), so
  a compile runs through the real job, meter and store without a model.
- `no_dangling_qthreads`: fails a test that leaves a QThread running.
"""

from __future__ import annotations

import os
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("DSPY_WORKBENCH_HOME", tempfile.mkdtemp(prefix="dspy-workbench-test-home-"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import pytest  # noqa: E402

from desktop.session import ProjectSession  # noqa: E402
from engine.project import Project  # noqa: E402

SAMPLE = "support-triage"


@pytest.fixture
def sample_project(tmp_path):
    return Project.create(tmp_path / "project", sample=SAMPLE)


@pytest.fixture
def sample_session(qtbot, sample_project):
    session = ProjectSession()
    if hasattr(session, "open"):
        session.open(sample_project)
    else:
        session.project = sample_project
    yield session
    session.undo_stack.clear()


def running_job_threads() -> list:
    from desktop.worker import running_threads

    return running_threads()


@pytest.fixture
def no_dangling_qthreads(qtbot):
    """Fails a test that leaves a job QThread running (napari's _dangling_qthreads)."""
    yield
    from desktop import worker

    qtbot.waitUntil(lambda: not running_job_threads(), timeout=10_000)
    assert not worker._ORPHANS, "a job thread outlived its shutdown timeout"


def make_dummy_connect(answers=None, *, delay_s: float = 0.0, fmt: str = "json"):
    """A replacement for engine.lms.connect.connect that answers with a DummyLM.

    `answers` is a list of output dicts, repeated as needed (default: always urgency "low");
    `delay_s` makes every call take that long (to cancel during a run).
    """
    import itertools

    import dspy
    from dspy.utils.dummies import DummyLM

    from engine.lms.connect import ConnectedLM, ModelRevision

    cycle = itertools.cycle(answers or [{"urgency": "low"}])

    class SlowDummyLM(DummyLM):
        # Every scripted answer is formatted here, whichever engine path DSPy takes.
        def _format_answer_fields(self, field_names_and_values):
            if delay_s:
                time.sleep(delay_s)
            return super()._format_answer_fields(field_names_and_values)

    def connect(profile):
        lm = SlowDummyLM((next(cycle) for _ in itertools.count()), adapter=dspy.JSONAdapter())
        profile = profile.model_copy(update={"format": fmt})
        return ConnectedLM(
            profile=profile, lm=lm, adapter=dspy.JSONAdapter(),
            revision=ModelRevision(provider="dummy", name="dummy-lm", revision="sha256:" + "d" * 64,
                                   details={"test": True}),
        )

    return connect


@pytest.fixture
def dummy_lm(monkeypatch):
    """Patch connect() to a DummyLM; call the fixture's value to change answers or delay."""
    import engine.lms.connect as connect_module

    def install(answers=None, *, delay_s: float = 0.0):
        monkeypatch.setattr(connect_module, "connect", make_dummy_connect(answers, delay_s=delay_s))

    install()
    return install
