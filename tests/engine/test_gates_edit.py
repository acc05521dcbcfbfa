"""Editing release gates: one engine operation (set_gate) behind `gates set` and the Review pane."""

from __future__ import annotations

import json

import pytest

from engine.cli.main import main
from engine.errors import WorkbenchError
from engine.gates import ALL_SLICE, set_gate
from engine.project import Project


def test_set_changes_in_place_adds_last_and_removes(sample_project):
    assert [(g.slice, g.min_score) for g in sample_project.config.gates] == [(ALL_SLICE, 0.4), ("adversarial", 0.3)]
    set_gate(sample_project, "adversarial", 0.35)
    set_gate(sample_project, "refund", 0.5)
    set_gate(sample_project, ALL_SLICE, None)
    assert [(g.slice, g.min_score) for g in sample_project.config.gates] == [("adversarial", 0.35), ("refund", 0.5)]


@pytest.mark.parametrize("slice_name, minimum, message", [
    ("nope", 0.5, "the data has no slice named 'nope'"),
    ("refund", 1.5, "from 0 to 1"),
    ("refund", float("nan"), "from 0 to 1"),
])
def test_bad_gates_are_one_sentence_and_change_nothing(sample_project, slice_name, minimum, message):
    before = list(sample_project.config.gates)
    with pytest.raises(WorkbenchError, match=message):
        set_gate(sample_project, slice_name, minimum)
    assert sample_project.config.gates == before


def test_gates_cli_sets_and_shows_and_the_report_uses_them(sample_project, capsys):
    root = str(sample_project.root)
    assert main(["gates", "set", root, "--slice", "refund", "--min", "0.6"]) == 0
    assert main(["gates", "set", root, "--overall", "--remove"]) == 0
    capsys.readouterr()
    assert main(["gates", "show", root, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"gates": [{"slice": "adversarial", "min_score": 0.3},
                                                             {"slice": "refund", "min_score": 0.6}]}
    assert [g.slice for g in Project.open(root).config.gates] == ["adversarial", "refund"]
    assert main(["gates", "set", root, "--slice", "nope", "--min", "0.1"]) == 2
    assert "no slice named 'nope'" in capsys.readouterr().err
