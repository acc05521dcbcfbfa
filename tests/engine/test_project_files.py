"""The project folder on disk: samples by name only, modes kept, temp files cleaned and ignored."""

import os

import pytest

from engine.cli import main
from engine.project import Project


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("sample", ["../samples/support-triage", "/tmp/y", "a/b", "support-triage/.",
                                    "..", "."])
def test_init_sample_takes_only_a_bundled_samples_name(tmp_path, capsys, sample):
    code, out, err = run_cli(capsys, "init", tmp_path / "x", "--sample", sample)
    assert code == 2 and "there is no sample named" in err and "support-triage" in err
    assert not (tmp_path / "x" / "project.toml").exists()


def test_app_sample_takes_only_a_bundled_samples_name(tmp_path, capsys):
    code, _, err = run_cli(capsys, "app", "--sample", "../../escaped")
    assert code == 2 and "there is no sample named" in err


def test_a_path_that_holds_a_project_is_still_not_a_sample(tmp_path, capsys):
    other = tmp_path / "other"
    assert run_cli(capsys, "init", other)[0] == 0
    code, _, err = run_cli(capsys, "init", tmp_path / "copy", "--sample", other)
    assert code == 2 and "there is no sample named" in err


def test_saving_keeps_the_modes_of_project_files(sample_project):
    for path in (sample_project.root / "project.toml", sample_project.data_path):
        os.chmod(path, 0o664)
    sample_project.save()
    sample_project.save_frame()
    assert os.stat(sample_project.root / "project.toml").st_mode & 0o777 == 0o664
    assert os.stat(sample_project.data_path).st_mode & 0o777 == 0o664


def test_a_new_projects_files_get_the_umask_default_mode(tmp_path):
    old = os.umask(0o022)
    try:
        project = Project.create(tmp_path / "p")
    finally:
        os.umask(old)
    for path in (project.root / "project.toml", project.data_path, project.root / ".gitignore"):
        assert os.stat(path).st_mode & 0o777 == 0o644, path


def test_stale_temp_files_go_when_the_project_opens(sample_project):
    stale = [sample_project.root / "data" / ".examples.csv.dead01.tmp",
             sample_project.root / ".project.toml.dead02.tmp"]
    for path in stale:
        path.write_text("half a write")
    user_file = sample_project.root / "data" / "notes.tmp"
    user_file.write_text("mine")
    Project.open(sample_project.root)
    assert not any(path.exists() for path in stale)
    assert user_file.read_text() == "mine"


def test_new_projects_ignore_temp_files_in_git(tmp_path):
    for project in (Project.create(tmp_path / "empty"), Project.create(tmp_path / "s", sample="support-triage")):
        lines = (project.root / ".gitignore").read_text().splitlines()
        assert ".*.tmp" in lines and ".cache/" in lines


def test_saving_an_older_project_adds_the_temp_pattern_to_its_gitignore(sample_project):
    gitignore = sample_project.root / ".gitignore"
    gitignore.write_text(".cache/\nmy-own-line")  # an older project's, edited by its user
    sample_project.save()
    assert gitignore.read_text() == ".cache/\nmy-own-line\n.*.tmp\n"
    sample_project.save()
    assert gitignore.read_text().count(".*.tmp") == 1


def test_a_deeply_nested_project_toml_is_one_sentence(sample_project, capsys):
    toml = sample_project.root / "project.toml"
    toml.write_text(toml.read_text() + "\nextra = " + "[" * 10000 + "]" * 10000 + "\n")
    code, out, err = run_cli(capsys, "show", sample_project.root)
    assert code == 2 and "nests arrays or tables too deeply" in err
    assert "Traceback" not in err and err.count("\n") == 1
