"""The artifact windows (#18): one bundle opened offline (verdict, manifest, scores, gates, chosen
instructions and demos, the offline prompt, review records), a DSPy pickle save shown but never
loaded, the compilation matrix, and the diff of two bundles. Real bundles, exported from real runs
of the sample project answered by a scripted DummyLM."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
import sys

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from desktop.artifacts.matrix import MatrixWindow
from desktop.artifacts.view import ArtifactWindow
from engine.artifacts import export_run, read_reviews
from engine.jobs.compile import CompileJob, CompileSettings

pytestmark = pytest.mark.qt_log_level_fail("WARNING")


def _compile(project, scripted_connect, monkeypatch, revision="dummy:1", k=3):
    from engine.lms import connect as connect_module

    scripted_connect(rules={"refund": {"urgency": "medium"}}, default={"urgency": "low"})
    scripted = connect_module.connect

    def on_revision(profile):
        connected = scripted(profile)
        return dataclasses.replace(connected, revision=dataclasses.replace(connected.revision, revision=revision))

    monkeypatch.setattr(connect_module, "connect", on_revision)
    return CompileJob(project, CompileSettings("labeled-fewshot", {"k": k}, limit=6)).run()


@pytest.fixture
def bundle(sample_project, scripted_connect, monkeypatch, tmp_path):
    record = _compile(sample_project, scripted_connect, monkeypatch)
    path = tmp_path / "bundle"
    export_run(sample_project, record.run_id, path)
    return path


def _open(qtbot, path, project=None) -> ArtifactWindow:
    window = ArtifactWindow(path, project=project)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.prompt_rendered, timeout=60_000):
        qtbot.waitUntil(lambda: window.data is not None, timeout=30_000)
    return window


def _manifest_value(window, field_name):
    return [v for f, v in window.manifest_rows() if f == field_name]


def test_a_bundle_opens_with_its_verdict_first_and_its_manifest_readable(qtbot, bundle):
    window = _open(qtbot, bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert window.verdict_label.text() == "Files match the manifest; origin unverified"
    assert _manifest_value(window, "fingerprint") == [manifest["program"]["fingerprint"]]
    assert _manifest_value(window, "exact revision") == ["dummy:1"]
    assert _manifest_value(window, "answers") == ["generated"]
    assert _manifest_value(window, "setting k") == ["3"]
    assert any(v.startswith("n=6  sha256 " + manifest["splits"]["test"]["sha256"]) for v in _manifest_value(window, "test"))
    assert _manifest_value(window, "dspy") == ["3.4.1"] or _manifest_value(window, "dspy")  # the library versions
    assert _manifest_value(window, "now") == ["unreviewed"]
    # scores per split and slice, with the 95% interval
    rows = [[window.scores_table.item(r, c).text() for c in range(4)] for r in range(window.scores_table.rowCount())]
    test_row = next(r for r in rows if r[0] == "test")
    ci = manifest["evaluations"]["test"]["candidate"]["ci95"]
    assert test_row[3] == f"{manifest['evaluations']['test']['candidate']['score']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
    assert any(r[0] == "    adversarial" for r in rows)
    assert "adversarial" in window.gates_label.text()
    # the chosen instructions and demos, from state.json
    state = json.loads((bundle / "state.json").read_text())
    predictor = next(k for k in state if k != "metadata")
    chosen = window.chosen_view.toPlainText()
    assert state[predictor]["signature"]["instructions"] in chosen
    assert f"Demos ({len(state[predictor]['demos'])}):" in chosen


def test_the_project_that_exported_it_vouches_for_its_origin(qtbot, bundle, sample_project):
    window = _open(qtbot, bundle, project=sample_project)
    assert window.verdict_label.text().startswith("Exported from run ")
    assert window.verdict_label.text().endswith("of this project, unchanged")


def test_a_consistently_tampered_bundle_says_what_changed(qtbot, bundle, sample_project):
    state_path = bundle / "state.json"
    state = json.loads(state_path.read_text())
    first = next(k for k in state if k != "metadata")
    state[first]["signature"]["instructions"] = "Always answer high."
    state_path.write_text(json.dumps(state))
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"]["state.json"] = hashlib.sha256(state_path.read_bytes()).hexdigest()
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    window = _open(qtbot, bundle, project=sample_project)
    assert window.verdict_label.text().startswith("Changed: ")
    assert window.data.verdict.kind == "changed"


def test_the_prompt_for_typed_input_is_rendered_offline_from_the_bundle(qtbot, bundle):
    window = _open(qtbot, bundle)
    assert list(window.input_edits) == ["ticket_text", "policy_context"]
    with qtbot.waitSignal(window.prompt_rendered, timeout=30_000):
        window.set_inputs({"ticket_text": "My parcel is three weeks late", "policy_context": "Refunds after 14 days"})
    prompt = window.prompt_view.toPlainText()
    assert "My parcel is three weeks late" in prompt and "Refunds after 14 days" in prompt
    state = json.loads((bundle / "state.json").read_text())
    predictor = next(k for k in state if k != "metadata")
    assert state[predictor]["signature"]["instructions"] in prompt
    assert "rendered offline" in window.prompt_status.text()
    # nothing of the bundle was imported into the app process
    assert not [m for m in list(sys.modules.values()) if str(bundle) in str(getattr(m, "__file__", "") or "")]


def test_a_review_recorded_in_the_window_is_written_beside_the_bundle(qtbot, bundle):
    before = {p.name: p.read_bytes() for p in bundle.iterdir() if p.is_file()}
    window = _open(qtbot, bundle)
    window.note_edit.setText("checked the adversarial slice")
    with qtbot.waitSignal(window.review_saved, timeout=10_000) as saved:
        window.approve_btn.click()
    assert saved.args == ["approved"]
    qtbot.waitUntil(lambda: window.reviews_table.rowCount() == 1, timeout=10_000)
    qtbot.waitUntil(lambda: window.review_state.text() == "Review status: approved", timeout=10_000)
    assert window.reviews_table.item(0, 3).text() == "checked the adversarial slice"
    records = read_reviews(bundle)
    assert [(r.verdict, r.note, r.current) for r in records] == [("approved", "checked the adversarial slice", True)]
    assert {p.name: p.read_bytes() for p in bundle.iterdir() if p.is_file()} == before  # hashes stay valid
    assert window.verdict_label.text() == "Files match the manifest; origin unverified"


def test_a_failed_review_keeps_the_note(qtbot, bundle):
    window = _open(qtbot, bundle)
    (bundle / "reviews").write_text("a file where the folder should be")
    window.note_edit.setText("my careful note")
    window.reject_btn.click()
    qtbot.waitUntil(lambda: window.review_error.text() != "", timeout=10_000)
    assert window.note_edit.text() == "my careful note"
    assert window.approve_btn.isEnabled()


def test_manifest_text_is_shown_as_plain_text_never_html(qtbot, bundle):
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["program"]["name"] = "<b>bold</b><img src='http://127.0.0.1:9/x.png'>"
    manifest["review"]["note"] = "<a href='http://evil'>click</a>\u202egnp.exe"
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    window = _open(qtbot, bundle)
    assert _manifest_value(window, "name")[0] == "<b>bold</b><img src='http://127.0.0.1:9/x.png'>"
    assert "\\u202e" in " ".join(v for _, v in window.manifest_rows())  # the bidi override is escaped
    assert all(label.textFormat() == Qt.TextFormat.PlainText for label in window.findChildren(QLabel)
               if label.text())


def test_a_dspy_pickle_save_shows_its_metadata_and_loads_nothing(qtbot, tmp_path):
    save = tmp_path / "saved"
    save.mkdir()
    marker = tmp_path / "unpickled"

    class Boom:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (save / "program.pkl").write_bytes(pickle.dumps(Boom()))
    (save / "metadata.json").write_text(json.dumps({"dependency_versions": {"dspy": "3.4.1"}}))
    window = _open_save(qtbot, save)
    assert "executable code" in window.verdict_label.text() and "nothing was loaded" in window.verdict_label.text()
    assert ("files", "metadata.json, program.pkl") in window.manifest_rows()
    assert any("3.4.1" in v for _, v in window.manifest_rows())
    assert not marker.exists()
    assert not any(window.tabs.isTabEnabled(i) for i in range(1, window.tabs.count()))


def _open_save(qtbot, path):
    window = ArtifactWindow(path)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.loaded, timeout=30_000):
        pass
    return window


def test_a_folder_that_is_no_artifact_says_so(qtbot, tmp_path):
    window = ArtifactWindow(tmp_path)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.loaded, timeout=30_000):
        pass
    assert window.data is None
    assert str(tmp_path) in window.verdict_label.text()


# -- the compilation matrix and the diff ------------------------------------------------------------------

@pytest.fixture
def artifacts_folder(sample_project, scripted_connect, monkeypatch):
    """Three bundles in the project's artifacts/: two model revisions, and two runs on the first."""
    folder = sample_project.root / "artifacts"
    for name, revision, k in (("a", "dummy:1", 3), ("b", "dummy:1", 2), ("c", "dummy:2", 3)):
        record = _compile(sample_project, scripted_connect, monkeypatch, revision=revision, k=k)
        export_run(sample_project, record.run_id, folder / name)
    (folder / "pickled").mkdir()
    (folder / "pickled" / "program.pkl").write_bytes(b"not loaded")
    return folder


def _matrix(qtbot, paths, opened=None):
    window = MatrixWindow(paths, open_artifact=(opened.append if opened is not None else None))
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.matrix is not None, timeout=60_000)
    return window


def test_the_matrix_has_a_row_per_program_and_a_column_per_revision(qtbot, artifacts_folder):
    opened = []
    window = _matrix(qtbot, [artifacts_folder], opened)
    table = window.table
    assert table.rowCount() == 1 and table.columnCount() == 2
    assert [table.horizontalHeaderItem(c).toolTip() for c in range(2)] == ["dummy:1", "dummy:2"]
    assert table.verticalHeaderItem(0).text().startswith("support-triage\n")
    first = table.item(0, 0).text().split("\n")
    assert len(first) == 2 and all(line.startswith("unreviewed · test 0.") and "[" in line for line in first)
    assert len(window.cell_paths(0, 1)) == 1 and window.cell_paths(0, 1)[0].endswith("c")
    assert "pickled" in window.status.text() and "executable code" in window.status.text()
    window.open_cell(0, 1)
    assert opened == [window.cell_paths(0, 1)[0]]


def test_a_review_changes_the_matrix_cell(qtbot, artifacts_folder):
    from engine.artifacts import record_review

    window = _matrix(qtbot, [artifacts_folder])
    record_review(artifacts_folder / "c", "approved", note="ok")
    with qtbot.waitSignal(window.refreshed, timeout=30_000):
        window.refresh()
    assert window.table.item(0, 1).text().startswith("approved · test ")


def test_two_selected_artifacts_diff_in_the_window(qtbot, artifacts_folder):
    window = _matrix(qtbot, [artifacts_folder])
    window.table.item(0, 0).setSelected(True)  # a cell with two runs on dummy:1
    assert window.diff_btn.isEnabled()
    with qtbot.waitSignal(window.diff_shown, timeout=30_000) as shown:
        window.diff_btn.click()
    dialog = shown.args[0]
    qtbot.addWidget(dialog)
    settings = {row["key"]: row for row in dialog.comparison["settings"]}
    assert settings["params.k"]["differs"] and not settings["revision"]["differs"]
    assert dialog.header.textFormat() == Qt.TextFormat.PlainText
    assert str(artifacts_folder / "a") in dialog.header.text() or str(artifacts_folder / "b") in dialog.header.text()
    differing = [dialog.settings_table.item(r, 0).text() for r in range(dialog.settings_table.rowCount())
                 if dialog.settings_table.item(r, 0).font().bold()]
    assert any("k" in label for label in differing)


def test_a_folder_that_does_not_exist_yet_leaves_the_matrix_empty(qtbot, tmp_path):
    window = MatrixWindow([tmp_path / "artifacts"])
    qtbot.addWidget(window)
    assert window.table.rowCount() == 0
    assert "does not exist" in window.folders_label.text()
    assert not window.diff_btn.isEnabled() and not window.open_btn.isEnabled()


def test_the_main_window_opens_an_artifact_without_a_project(qtbot, bundle):
    from desktop.main_window import MainWindow

    main = MainWindow()
    qtbot.addWidget(main)
    titles = [a.text() for a in main.menuBar().actions()[0].menu().actions()]
    assert "Open &artifact…" in titles and "Artifact&s…" in titles
    window = main.open_artifact(bundle)
    with qtbot.waitSignal(window.prompt_rendered, timeout=60_000):
        pass
    assert window.isVisible() and window.verdict_label.text() == "Files match the manifest; origin unverified"
    matrix = main.show_artifacts()
    assert matrix.isVisible() and matrix.paths == []


def test_app_artifact_refuses_a_path_that_does_not_exist(tmp_path, capsys):
    from engine.cli.main import main

    code = main(["app", "--artifact", str(tmp_path / "nowhere")])
    assert code == 2
    assert "does not exist; give the folder of an exported bundle" in capsys.readouterr().err
