"""Fixtures every test shares: an isolated app home, sample projects, a scripted LM."""

from __future__ import annotations

import os
import threading
import time

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """The app's config, cache and log folders live in a temp folder, never the user's."""
    home = tmp_path_factory.mktemp("wbhome")
    monkeypatch.setenv("DSPY_WORKBENCH_HOME", str(home))
    return home


@pytest.fixture
def sample_project(tmp_path):
    from engine.project import Project

    return Project.create(tmp_path / "support", sample="support-triage")


class ScriptedLM:
    """Builds a DummyLM whose answer depends on the input text (first matching keyword wins).

    `delay` makes each call take that long; `calls` counts the calls that reached the model.
    """

    def __init__(self, rules: dict[str, dict], default: dict, delay: float = 0.0):
        import dspy
        from dspy.utils import DummyLM

        self.calls = 0
        self._lock = threading.Lock()
        outer = self

        class _LM(DummyLM):
            def __init__(self):
                super().__init__(answers={**rules, "": default}, adapter=dspy.JSONAdapter())
                engine = self._engine_spec
                original = engine._complete_messages  # every DummyEngine path ends here

                def complete_messages(messages):
                    if delay:
                        time.sleep(delay)
                    with outer._lock:
                        outer.calls += 1
                    return original(messages)

                engine._complete_messages = complete_messages

        self.lm = _LM()


@pytest.fixture
def scripted_connect(monkeypatch):
    """Make every model profile answer through a ScriptedLM; returns a function to configure it."""
    from engine.adapters import make_adapter
    from engine.lms import connect as connect_module
    from engine.lms.connect import ConnectedLM, ModelRevision

    state: dict = {"lm": None}

    def configure(rules=None, default=None, delay=0.0, prompt_format="compact"):
        scripted = ScriptedLM(rules or {}, default or {"urgency": "medium"}, delay)
        state["lm"] = scripted

        def fake_connect(profile):
            return ConnectedLM(profile=profile, lm=scripted.lm, adapter=make_adapter(prompt_format),
                               revision=ModelRevision("dummy", "scripted", "dummy:1"))

        monkeypatch.setattr(connect_module, "connect", fake_connect)
        return scripted

    return configure
