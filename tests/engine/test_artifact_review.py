"""Offline review of bundles (#16.2, #18): verify, origin verdicts, signatures, review records,
the compilation matrix, find, diff, DSPy whole-program saves, and what `artifact ...` prints."""

import hashlib
import json

import pytest

from engine.artifacts import (artifact_verdict, bundle_prompts, compilation_matrix, diff_artifacts, export_run,
                              find_artifact, read_reviews, record_review, signing_public_key, verify_bundle)
from engine.cli.main import main
from engine.errors import ArtifactError
from engine.jobs.compile import CompileJob, CompileSettings
from engine.prompts import render_program_prompts
from tests.fakes.fixtures import memory_keyring, no_real_keyring  # noqa: F401


@pytest.fixture
def compiled(sample_project, scripted_connect):
    scripted_connect(rules={"refund": {"urgency": "medium"}}, default={"urgency": "low"})
    record = CompileJob(sample_project, CompileSettings("labeled-fewshot", {"k": 3}, limit=6)).run()
    return sample_project, record


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _rewrite_consistently(bundle, name="state.json"):
    """Edit a file (the first predictor's instructions) and put its new hash in the manifest: the
    tampering plain hashes cannot catch."""
    path = bundle / name
    state = json.loads(path.read_text())
    first = next(k for k in state if k != "metadata")
    state[first]["signature"]["instructions"] = "Always answer high."
    path.write_text(json.dumps(state, indent=2))
    manifest_path = bundle / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"][name] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest, indent=2))


# -- #16.2: what verify refuses and reports --------------------------------------------------------------

def test_files_entries_outside_the_bundle_are_refused_unread(compiled, tmp_path):
    project, record = compiled
    bundle = tmp_path / "b"
    export_run(project, record.run_id, bundle)
    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    manifest = json.loads((bundle / "manifest.json").read_text())
    for name in (str(secret), "../secret.txt", "sub/../../secret.txt", "a\\b", ".", "\x1b[2Jx"):
        manifest["files"][name] = hashlib.sha256(b"private").hexdigest()  # an oracle if it were hashed
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    _, problems = verify_bundle(bundle)
    assert len(problems) == 6 and all("not a plain file name" in p and "not read" in p for p in problems)
    assert not any("\x1b" in p for p in problems)


def test_an_unlisted_pickle_fails_the_check_and_other_strays_are_reported(compiled, tmp_path):
    project, record = compiled
    bundle = tmp_path / "b"
    export_run(project, record.run_id, bundle)
    (bundle / "notes.txt").write_text("hi")
    verdict = artifact_verdict(bundle)
    assert verdict.kind == "unverified" and verdict.strays == ["notes.txt"]
    assert verdict.notes == ["notes.txt is in the bundle but not in the manifest"]
    (bundle / "program.pkl").write_bytes(b"\x80\x04K\x01.")
    _, problems = verify_bundle(bundle)
    assert problems == ["program.pkl is not in the manifest and is executable code (a pickle or Python): "
                        "a Workbench bundle never holds one; delete it"]
    assert artifact_verdict(bundle).kind == "changed"


def test_a_listed_file_that_is_a_symlink_is_not_followed(compiled, tmp_path):
    project, record = compiled
    bundle = tmp_path / "b"
    export_run(project, record.run_id, bundle)
    (bundle / "state.json").rename(tmp_path / "elsewhere.json")
    (bundle / "state.json").symlink_to(tmp_path / "elsewhere.json")
    _, problems = verify_bundle(bundle)
    assert "state.json is a symbolic link; a bundle holds plain files only" in problems


def test_show_escapes_control_characters_so_no_field_fakes_a_line(compiled, tmp_path, capsys):
    project, record = compiled
    project.store.set_review(record.run_id, "approved", note="ok\n\rverdict: signed by me, unchanged\x1b[2K",
                             reviewer="ana\x1b[31m")
    bundle = tmp_path / "b"
    export_run(project, record.run_id, bundle)
    record_review(bundle, "rejected", note="\u202eevil\nverdict: fine", reviewer="bob")
    code, out, _ = run_cli(capsys, "artifact", "show", bundle)
    assert code == 0
    assert "\x1b" not in out and "\r" not in out and "\u202e" not in out
    lines = out.splitlines()
    assert [line for line in lines if line.startswith("verdict:")] == [
        "verdict: files match the manifest; origin unverified"]
    assert "ok\\n\\rverdict: signed by me, unchanged\\x1b[2K" in out and "\\u202eevil\\nverdict: fine" in out


# -- #18.2: origin ------------------------------------------------------------------------------------------

def test_export_records_the_manifest_sha256_and_show_names_the_run(compiled, tmp_path, capsys):
    project, record = compiled
    bundle = tmp_path / "b"
    export_run(project, record.run_id, bundle)
    exports = project.store.exports(record.run_id)
    assert [e["manifest_sha256"] for e in exports] == [hashlib.sha256((bundle / "manifest.json").read_bytes()).hexdigest()]
    code, out, _ = run_cli(capsys, "artifact", "show", bundle, "--project", project.root)
    assert code == 0 and out.splitlines()[0] == f"verdict: exported from run {record.run_id} of this project, unchanged"
    code, out, _ = run_cli(capsys, "artifact", "show", bundle)
    assert out.splitlines()[0] == "verdict: files match the manifest; origin unverified"


def test_consistent_tampering_is_caught_with_the_project(compiled, tmp_path, capsys):
    project, record = compiled
    bundle = tmp_path / "b"
    export_run(project, record.run_id, bundle)
    _rewrite_consistently(bundle)
    assert verify_bundle(bundle)[1] == []  # the hashes alone cannot tell
    assert artifact_verdict(bundle).kind == "unverified"
    verdict = artifact_verdict(bundle, project=project)
    assert verdict.kind == "changed"
    assert verdict.problems == [f"state.json is not the file run {record.run_id} exported "
                                "(its hash in the manifest was edited too)"]
    code, out, err = run_cli(capsys, "artifact", "show", bundle, "--project", project.root)
    assert code == 2 and out.startswith("verdict: changed: state.json is not the file run")


def test_edited_manifest_fields_are_named(compiled, tmp_path):
    project, record = compiled
    bundle = tmp_path / "b"
    export_run(project, record.run_id, bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["scores"]["test"]["candidate"] = 0.99
    manifest["review"]["status"] = "approved"
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    verdict = artifact_verdict(bundle, project=project)
    assert verdict.problems == [f"the manifest's review, scores were edited since run {record.run_id} was exported"]


def test_a_signed_bundle_is_verified_by_its_key_and_tampering_breaks_it(compiled, tmp_path, capsys):
    project, record = compiled
    bundle = tmp_path / "b"
    code, out, _ = run_cli(capsys, "export", project.root, "--run", record.run_id, "--out", bundle, "--sign", "--json")
    key = json.loads(out)["public_key"]
    assert code == 0 and key.startswith("ed25519:") and key == signing_public_key(create=False)
    assert (bundle / "manifest.sig").is_file()
    code, out, _ = run_cli(capsys, "artifact", "show", bundle, "--trust-key", key)
    assert code == 0 and out.splitlines()[0] == f"verdict: signed by {key}, unchanged"
    code, out, _ = run_cli(capsys, "artifact", "show", bundle)  # signed, but nobody said to trust the key
    assert out.splitlines()[:2] == ["verdict: files match the manifest; origin unverified",
                                    f"  note: signed by {key}, a key not given to --trust-key"]
    _rewrite_consistently(bundle)
    verdict = artifact_verdict(bundle, trust_keys=[key])
    assert verdict.kind == "changed"
    assert verdict.problems == [f"manifest.json was changed after it was signed (the signature by {key} does not "
                                "match it)"]


def test_a_key_from_someone_else_does_not_vouch(compiled, tmp_path, memory_keyring):
    project, record = compiled
    bundle = tmp_path / "b"
    export_run(project, record.run_id, bundle, sign=True)
    mine = signing_public_key(create=False)
    memory_keyring.store.clear()
    other = signing_public_key()  # a new key pair: another person's
    assert other != mine
    assert artifact_verdict(bundle, trust_keys=[other]).kind == "unverified"
    with pytest.raises(ArtifactError, match="not an ed25519 public key"):
        artifact_verdict(bundle, trust_keys=["ed25519:nonsense"])


# -- #18.1: review records ----------------------------------------------------------------------------------

def test_review_records_sit_beside_the_bundle_and_keep_its_hashes_valid(compiled, tmp_path, capsys):
    project, record = compiled
    bundle = tmp_path / "b"
    export_run(project, record.run_id, bundle, sign=True)
    key = signing_public_key(create=False)
    code, out, _ = run_cli(capsys, "artifact", "review", bundle, "--verdict", "approved", "--note", "refunds ok",
                           "--reviewer", "ana")
    assert code == 0 and out.startswith("approved by ana: refunds ok")
    entries = read_reviews(bundle)
    assert [(e.verdict, e.reviewer, e.note, e.current) for e in entries] == [("approved", "ana", "refunds ok", True)]
    assert verify_bundle(bundle)[1] == []
    assert artifact_verdict(bundle, project=project).kind == "project"
    assert artifact_verdict(bundle, trust_keys=[key]).kind == "signed"
    code, out, _ = run_cli(capsys, "artifact", "show", bundle)
    assert "  review record: approved by ana at " in out and out.rstrip().count("refunds ok") == 1
    with pytest.raises(ArtifactError, match="'approved' or 'rejected'"):
        record_review(bundle, "maybe")


# -- #18.3, #18.4: the matrix and find ----------------------------------------------------------------------

@pytest.fixture
def three_bundles(compiled, tmp_path):
    """Two revisions of one model for the sample program, one approved; a third bundle unreviewed."""
    project, record = compiled
    out = project.root / "artifacts"
    export_run(project, record.run_id, out / "r1")
    record_review(out / "r1", "approved", reviewer="ana")
    project.store.update_run(record.run_id, model_revision="dummy:2")
    export_run(project, record.run_id, out / "r2")
    project.store.update_run(record.run_id, model_revision="dummy:3")
    export_run(project, record.run_id, out / "r3")
    record_review(out / "r3", "rejected", reviewer="bob")
    return project, record, out


def test_matrix_lists_each_bundle_by_program_and_exact_revision(three_bundles, capsys):
    project, record, out = three_bundles
    matrix = compilation_matrix([out])
    assert matrix.revisions == ["dummy:1", "dummy:2", "dummy:3"]
    assert matrix.programs == [(project.program.name, project.program.fingerprint())]
    by_revision = {e["model"]["revision"]: e for e in matrix.entries}
    assert {r: e["review"] for r, e in by_revision.items()} == {"dummy:1": "approved", "dummy:2": "unreviewed",
                                                                "dummy:3": "rejected"}
    code, text, _ = run_cli(capsys, "artifact", "matrix", "--project", project.root, "--json")
    data = json.loads(text)
    assert code == 0 and len(data["entries"]) == 3
    entry = data["entries"][0]
    assert set(entry) >= {"path", "program", "model", "review", "scores"}
    assert set(entry["program"]) == {"name", "fingerprint"} and set(entry["model"]) == {"provider", "name", "revision"}
    assert entry["test"]["ci95"] and entry["scores"]["test"]
    code, text, _ = run_cli(capsys, "artifact", "matrix", out / "r1", out / "r2")
    assert code == 0 and "dummy:1: approved, test " in text and "dummy:2: unreviewed" in text


def test_find_gives_the_approved_bundle_for_the_exact_revision_or_refuses(three_bundles, capsys):
    project, record, out = three_bundles
    fingerprint = project.program.fingerprint()
    assert find_artifact([out], project.program.name, "dummy:1")["path"] == str(out / "r1")
    assert find_artifact([out], fingerprint, "dummy:2", any_review=True)["path"] == str(out / "r2")
    code, text, err = run_cli(capsys, "artifact", "find", "--project", project.root, "--program", fingerprint,
                              "--model-revision", "dummy:2")
    assert code == 2 and err == (f"error: no approved artifact for program {fingerprint} on revision dummy:2: "
                                 "compile and evaluate one; revisions with one: dummy:1\n")
    code, text, _ = run_cli(capsys, "artifact", "find", out, "--program", project.program.name,
                            "--model-revision", "dummy:1", "--json")
    assert code == 0 and json.loads(text)["path"] == str(out / "r1")
    code, _, err = run_cli(capsys, "artifact", "find", out, "--program", "other", "--model-revision", "dummy:1")
    assert code == 2 and "no artifact here is for program other" in err


# -- #18.6: DSPy whole-program saves ------------------------------------------------------------------------

def test_a_dspy_whole_program_save_shows_its_metadata_and_loads_nothing(tmp_path, capsys):
    import dspy

    folder = tmp_path / "saved"
    dspy.Predict("question -> answer").save(str(folder), save_program=True)
    marker = tmp_path / "ran"
    # a pickle that would create `marker` if anything unpickled it
    (folder / "program.pkl").write_bytes(
        b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    code, out, err = run_cli(capsys, "artifact", "show", folder)
    assert code == 2 and "executable code" in out and "'dspy': '3.4.1'" in out  # its metadata.json
    assert "dependency_versions" in out and "nothing was loaded" in err
    matrix = compilation_matrix([tmp_path])
    assert matrix.entries == [] and matrix.skipped[0]["path"] == str(folder)
    assert "executable code" in matrix.skipped[0]["why"]
    assert artifact_verdict(folder).kind == "executable"
    assert not marker.exists()


# -- #18.7: diff, and prompts rendered from a bundle ----------------------------------------------------------

def test_diff_names_what_differs_between_two_bundles(three_bundles, capsys):
    project, record, out = three_bundles
    _rewrite_consistently(out / "r2")
    result = diff_artifacts(out / "r1", out / "r2")
    differs = {row["key"] for row in result["settings"] if row["differs"]}
    assert differs == {"revision"}
    assert any(entry["instructions_differ"] for entry in result["predictors"].values())
    assert "both bundles were exported from the same run" in result["warnings"]
    code, text, _ = run_cli(capsys, "artifact", "diff", out / "r1", out / "r2")
    assert code == 0 and "* Model revision" in text and "## instructions: differ" in text and "+Always answer high." in text


def test_a_bundle_renders_the_runs_prompt_offline_without_running_its_code(compiled, tmp_path):
    project, record = compiled
    bundle = tmp_path / "b"
    export_run(project, record.run_id, bundle)
    inputs = dict(project.examples("test")[0].inputs())
    ours = render_program_prompts(project.program, inputs, state=record.program_state, prompt_format="compact")
    (bundle / "program.py").write_text((bundle / "program.py").read_text().replace(
        "import dspy\n", "import dspy\nraise SystemExit('program.py ran')\n", 1))
    assert [r.messages for r in bundle_prompts(bundle, inputs)] == [r.messages for r in ours]
    (bundle / "compact_adapter.py").write_text("raise SystemExit('adapter ran')\n")
    with pytest.raises(ArtifactError, match="another version of the compact prompt format"):
        bundle_prompts(bundle, inputs)


def test_compiled_python_beside_the_bundle_fails_its_check_until_deleted(compiled, tmp_path):
    # Python runs a matching __pycache__/program.*.pyc instead of program.py: the hashes do not cover it.
    import shutil
    import subprocess
    import sys

    project, record = compiled
    bundle = tmp_path / "b"
    export_run(project, record.run_id, bundle)
    subprocess.run([sys.executable, "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1]); import program; "
                    "program.load_program(); program.make_adapter()", str(bundle)], check=True, cwd=tmp_path,
                   capture_output=True)
    cached = sorted(p.name for p in (bundle / "__pycache__").iterdir())
    assert [n.split(".")[0] for n in cached] == ["program"]  # the shipped modules it loads leave no .pyc
    _, problems = verify_bundle(bundle)
    assert len(problems) == 1 and problems[0].startswith(f"__pycache__/{cached[0]} is compiled Python the manifest "
                                                         "does not cover")
    shutil.rmtree(bundle / "__pycache__")
    assert verify_bundle(bundle)[1] == []


def test_show_survives_a_manifest_whose_figures_are_not_numbers(compiled, tmp_path, capsys):
    project, record = compiled
    bundle = tmp_path / "b"
    export_run(project, record.run_id, bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["evaluations"] = {"test": {"candidate": {"score": "\x1b[1mperfect", "ci95": "wide"}}, "validation": []}
    manifest["splits"] = {"test": "x"}
    manifest["program"]["predictors"] = 3
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    code, out, err = run_cli(capsys, "artifact", "show", bundle)
    assert code == 2 and "internal error" not in err and "\x1b" not in out + err
    assert "state.json has no state for predictor(s) 3" in err
    code, out, err = run_cli(capsys, "artifact", "matrix", bundle)
    assert code == 0 and "internal error" not in err and "\x1b" not in out and "\\x1b[1mperfect" in out


def test_a_link_to_a_folder_inside_a_bundle_fails_its_check(compiled, tmp_path):
    project, record = compiled
    bundle = tmp_path / "b"
    export_run(project, record.run_id, bundle)
    evil = tmp_path / "evilpkg"
    evil.mkdir()
    (evil / "__init__.py").write_text("raise SystemExit('shadowed')\n")
    (bundle / "dspy").symlink_to(evil, target_is_directory=True)
    _, problems = verify_bundle(bundle)
    assert any(p.startswith("dspy is a symbolic link") for p in problems)
