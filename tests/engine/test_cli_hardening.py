"""The CLI as a hostile or unlucky user meets it from a terminal: real subprocesses, real signals,
a real read-only folder, a real full disk, a closed pipe. No traceback, nothing lost."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.cli import main

REPO = Path(__file__).resolve().parents[2]


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def cli_env(home) -> dict:
    return {**os.environ, "DSPY_WORKBENCH_HOME": str(home), "PYTHONPATH": str(REPO)}


def start_cli(home, *args, **options) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "engine.cli", *map(str, args)], cwd=REPO, env=cli_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options)


def cli(home, *args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *map(str, args)], cwd=REPO, env=cli_env(home),
                          capture_output=True, text=True, timeout=timeout)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_quiet(stderr: str) -> None:
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


@pytest.fixture
def project(tmp_path, isolated_home):
    folder = tmp_path / "proj"
    assert cli(isolated_home, "init", folder, "--sample", "support-triage").returncode == 0
    return folder


def write_rows(path: Path, count: int) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "ticket_text", "policy_context", "urgency", "split"])
        for i in range(count):
            writer.writerow([f"x{i}", f"ticket {i} about a parcel that is late", "policy", "low",
                             ("train", "validation", "test")[i % 3]])
    return path


# -- item 6: Ctrl-C during import -------------------------------------------------------------


def interrupted_import(home, project, data, delay, signum=signal.SIGINT):
    process = start_cli(home, "import", project, data)
    time.sleep(delay)
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def test_ctrl_c_during_an_import_leaves_the_project_as_it_was_or_finishes_and_says_so(tmp_path, isolated_home,
                                                                                      project):
    data = write_rows(tmp_path / "big.csv", 200_000)
    examples = project / "data" / "examples.csv"
    before = digest(examples)
    started = time.monotonic()
    full = cli(isolated_home, "import", tmp_path / "copy-target", data)  # times the start-up and a failure
    startup = time.monotonic() - started
    outcomes = []
    for delay in (startup, startup + 0.5, startup + 1.5, startup + 3.0, startup + 6.0):
        code, out, err = interrupted_import(isolated_home, project, data, delay)
        assert_quiet(err)
        after = digest(examples)
        leftovers = list((project / "data").glob(".*.tmp"))
        if code in (130, -signal.SIGINT):  # -2: the signal came before Python had started
            assert after == before, f"interrupted at {delay:.1f}s, exit {code}, yet the data changed"
            assert code < 0 or "interrupted" in err or "cancelled" in err
        else:
            assert code == 0, err
            assert "now has 200000 examples" in out
            assert "the import had already been saved" in err or "cancelling" not in err
            before = after  # later tries start from the imported table
        assert leftovers == []  # the cancel removes its temp file
        cli(isolated_home, "show", project)
        assert list((project / "data").glob(".*.tmp")) == []
        outcomes.append(code)
    assert 130 in outcomes  # the early tries really were cancelled
    assert full.returncode == 2


def import_interrupted_while_reading(home, project, data, signum):
    """Send `signum` once the command has opened the data file: the import is surely under way."""
    process = start_cli(home, "import", project, data)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _has_open(process.pid, data):
        time.sleep(0.01)
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


@pytest.mark.parametrize("signum, exit_code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_import_interrupted_while_reading_says_so_and_changes_nothing(tmp_path, isolated_home, project,
                                                                        signum, exit_code):
    data = write_rows(tmp_path / "big.csv", 400_000)
    examples = project / "data" / "examples.csv"
    before = digest(examples)
    code, out, err = import_interrupted_while_reading(isolated_home, project, data, signum)
    assert code == exit_code, (out, err)
    assert_quiet(err)
    assert "cancelling the import" in err and "the project is exactly as it was" in err
    assert digest(examples) == before and list((project / "data").glob(".*.tmp")) == []


def _has_open(pid: int, path: Path) -> bool:
    try:
        return any(os.path.realpath(f"/proc/{pid}/fd/{fd}") == str(path.resolve())
                   for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


# -- item 11: SIGTERM during a run --------------------------------------------------------------


@pytest.fixture
def slow_server():
    from tests.fakes.openai_server import FakeOpenAI

    with FakeOpenAI(latency=0.2) as server:
        yield server


def add_server_profile(project: Path, url: str) -> None:
    with (project / "project.toml").open("a") as handle:
        handle.write(f'\n[models.fake]\nprovider = "openai-compatible"\nmodel = "gpt-4o-mini"\nbase_url = "{url}"\n')


def test_sigterm_during_an_evaluation_cancels_it_like_ctrl_c_and_exits_143(isolated_home, project, slow_server):
    add_server_profile(project, slow_server.url)
    process = start_cli(isolated_home, "evaluate", project, "--baseline", "--split", "test", "--model", "fake",
                        "--json")
    deadline = time.monotonic() + 60
    while slow_server.chat_calls < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert_quiet(err)
    assert process.returncode == 143, err
    assert "cancelling at the next LM call" in err


# -- item 11: closed pipes, full disks, read-only folders, DSPy's noise ----------------------------


@pytest.mark.parametrize("command", [["optimizers"], ["show", "{project}"], ["runs", "list", "{project}"],
                                     ["show", "{project}", "--json"]])
def test_output_into_a_closed_pipe_ends_quietly(isolated_home, project, command):
    reader, writer = os.pipe()
    os.close(reader)  # `| head` that has already quit
    args = [part.format(project=project) for part in command]
    done = subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=REPO, env=cli_env(isolated_home),
                          stdout=writer, stderr=subprocess.PIPE, text=True, timeout=60)
    os.close(writer)
    assert done.returncode in (0, 141) and done.stderr == ""


def _mount(*args) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small or read-only file system")
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount here: {done.stderr.strip()}")


@pytest.fixture
def mounts():
    mounted: list[Path] = []
    yield mounted
    for point in reversed(mounted):
        if isinstance(point, tuple):  # a folder made read-only with chmod: writable again for cleanup
            for path in [point[1], *point[1].rglob("*")]:
                path.chmod(path.stat().st_mode | 0o200)
        else:
            subprocess.run(["umount", str(point)], check=False)


def read_only_view(project: Path, tmp_path: Path, mounts: list) -> Path:
    """The project seen through a read-only bind mount (root ignores file modes), or, for anyone
    else, the project itself with its write permissions removed."""
    if os.geteuid() != 0:
        for path in [project, *project.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        mounts.append(("chmod", project))
        return project
    view = tmp_path / "readonly"
    view.mkdir()
    _mount("--bind", str(project), str(view))
    mounts.append(view)
    _mount("-o", "remount,bind,ro", str(view))
    return view


def test_a_full_disk_is_one_sentence_and_loses_nothing(tmp_path, isolated_home, mounts):
    disk = tmp_path / "disk"
    disk.mkdir()
    _mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk))
    mounts.append(disk)
    project = disk / "proj"
    assert cli(isolated_home, "init", project, "--sample", "support-triage").returncode == 0
    before = digest(project / "data" / "examples.csv")
    (disk / "filler").write_bytes(b"\0" * (1024 * 1024 - 300 * 1024))
    data = write_rows(tmp_path / "rows.csv", 5_000)
    done = cli(isolated_home, "import", project, data)
    assert done.returncode == 2 and done.stderr.startswith("error: the disk is full")
    assert done.stderr.count("\n") == 1 and str(project / "data") in done.stderr
    assert digest(project / "data" / "examples.csv") == before
    assert list((project / "data").glob(".*.tmp")) == []
    shown = cli(isolated_home, "show", project, "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["examples"] == 300


def test_init_on_a_full_disk_leaves_no_half_project(tmp_path, isolated_home, mounts):
    disk = tmp_path / "disk"
    disk.mkdir()
    _mount("-t", "tmpfs", "-o", "size=40k", "tmpfs", str(disk))  # smaller than the sample
    mounts.append(disk)
    done = cli(isolated_home, "init", disk / "proj", "--sample", "support-triage")
    assert done.returncode == 2 and done.stderr.startswith("error: the disk is full")
    assert str(disk / "proj") in done.stderr and done.stderr.count("\n") == 1
    assert list(disk.iterdir()) == []  # no half project that "already holds a project"
    (disk / "empty").mkdir()
    done = cli(isolated_home, "init", disk / "empty", "--sample", "support-triage")
    assert done.returncode == 2 and list((disk / "empty").iterdir()) == []


def test_evaluating_on_a_full_disk_is_one_sentence_and_the_history_survives(tmp_path, isolated_home, mounts):
    from tests.fakes.openai_server import FakeOpenAI

    disk = tmp_path / "disk"
    disk.mkdir()
    _mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk))  # room for the LM cache's 16 shards
    mounts.append(disk)
    project = disk / "proj"
    assert cli(isolated_home, "init", project, "--sample", "support-triage").returncode == 0
    with FakeOpenAI() as server:
        add_server_profile(project, server.url)
        filler = disk / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:  # every last block
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        done = cli(isolated_home, "evaluate", project, "--baseline", "--split", "validation", "--model", "fake")
        assert done.returncode == 2 and "disk is full" in done.stderr, done.stderr
        assert_quiet(done.stderr)
        filler.unlink()
        listed = cli(isolated_home, "runs", "list", project)
        assert listed.returncode == 0 and listed.stderr == ""
        again = cli(isolated_home, "evaluate", project, "--baseline", "--split", "validation", "--model", "fake")
        assert again.returncode == 0, again.stderr


def test_a_read_only_project_can_still_be_shown_and_its_runs_listed(tmp_path, isolated_home, project, mounts,
                                                                   slow_server):
    slow_server.latency = 0.0
    add_server_profile(project, slow_server.url)
    run = cli(isolated_home, "evaluate", project, "--baseline", "--split", "validation", "--model", "fake")
    assert run.returncode == 0, run.stderr
    view = read_only_view(project, tmp_path, mounts)
    shown = cli(isolated_home, "show", view, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["examples"] == 300
    listed = cli(isolated_home, "runs", "list", view)
    assert listed.returncode == 0 and listed.stderr == ""
    split = cli(isolated_home, "split", view, "--seed", "3")
    assert split.returncode == 2 and split.stderr.count("\n") == 1
    assert "read-only file system" in split.stderr or "permission denied" in split.stderr
    assert_quiet(split.stderr)


def test_a_read_only_project_without_a_run_history_shows_no_runs(tmp_path, isolated_home, project, mounts):
    (project / "runs.sqlite").unlink()
    view = read_only_view(project, tmp_path, mounts)
    shown = cli(isolated_home, "show", view, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["recent_runs"] == []
    assert not (project / "runs.sqlite").exists()


def test_dspy_error_lines_and_progress_bars_stay_out_of_stderr(isolated_home, project):
    from tests.fakes.openai_server import FakeOpenAI

    # Answers that never parse: DSPy logs an ERROR per example; MIPROv2 would draw tqdm bars.
    with FakeOpenAI(chooser=lambda schema, messages: {"wrong": "x"}) as server:
        add_server_profile(project, server.url)
        done = cli(isolated_home, "compile", project, "--optimizer", "bootstrap-fewshot", "--model", "fake", "--json")
    assert_quiet(done.stderr)
    assert " ERROR dspy" not in done.stderr and "%|" not in done.stderr and "it/s" not in done.stderr
    assert done.stderr.count("error: Failed to run") <= 5
    assert json.loads(done.stdout)["status"] == "failed"
    log = (isolated_home / "log" / "cli.log").read_text()
    assert "ERROR dspy" in log  # kept for whoever debugs it


def test_miprov2_draws_no_tqdm_bar(isolated_home, project):
    from tests.fakes.openai_server import FakeOpenAI

    with FakeOpenAI() as server:
        add_server_profile(project, server.url)
        done = cli(isolated_home, "compile", project, "--optimizer", "miprov2", "--param", "auto=light",
                   "--model", "fake", "--json", timeout=300)
    assert done.returncode == 0, done.stderr
    assert "%|" not in done.stderr and "it/s" not in done.stderr and "%|" not in done.stdout
    json.loads(done.stdout)


# -- item 14: NUL characters and cells too long for the model -----------------------------------


def test_a_nul_character_is_refused_at_import_with_its_row(tmp_path, capsys):
    folder = tmp_path / "proj"
    assert run_cli(capsys, "init", folder, "--sample", "support-triage")[0] == 0
    before = digest(folder / "data" / "examples.csv")
    data = tmp_path / "nul.csv"
    data.write_bytes(b"id,ticket_text,policy_context,urgency\na1,fine,p,low\na2,bad\x00cell,p,low\n")
    code, out, err = run_cli(capsys, "import", folder, data)
    assert code == 2 and "data row(s) 2" in err and "NUL" in err and "'ticket_text'" in err
    assert err.count("\n") == 1 and digest(folder / "data" / "examples.csv") == before
    jsonl = tmp_path / "nul.jsonl"
    jsonl.write_text('{"id": "a1", "ticket_text": "x", "policy_context": "p\\u0000", "urgency": "low"}\n')
    code, _, err = run_cli(capsys, "import", folder, jsonl)
    assert code == 2 and "data row(s) 1" in err and "'policy_context'" in err


def test_a_cell_too_long_for_the_models_context_is_a_warning_at_import(tmp_path, capsys):
    folder = tmp_path / "proj"
    assert run_cli(capsys, "init", folder, "--sample", "support-triage")[0] == 0
    data = tmp_path / "long.csv"
    with data.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "ticket_text", "policy_context", "urgency"])
        writer.writerow(["a1", "short", "p", "low"])
        writer.writerow(["a2", "word " * 4000, "p", "low"])  # 20,000 characters: over 4096 tokens x 4
    code, out, err = run_cli(capsys, "import", folder, data)
    assert code == 0 and "now has 2 examples" in out
    assert "warning: field 'ticket_text' of data row(s) 2" in err and "4,096-token context" in err
    code, out, err = run_cli(capsys, "import", folder, data, "--json")
    warnings = json.loads(out)["warnings"]
    assert code == 0 and len(warnings) == 1 and "data row(s) 2" in warnings[0]
    short = tmp_path / "short.csv"
    short.write_text("id,ticket_text,policy_context,urgency\na1,short,p,low\n")
    code, out, _ = run_cli(capsys, "import", folder, short, "--json")
    assert json.loads(out)["warnings"] == []


# -- item 15: the README documents every exit code ----------------------------------------------


def test_the_readme_documents_every_exit_code_the_cli_uses():
    import importlib

    cli_main = importlib.import_module("engine.cli.main")  # the module: `engine.cli.main` is also the function
    readme = (REPO / "README.md").read_text("utf-8")
    section = readme.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", section, flags=re.M)}
    used = {0, 1, 2, cli_main.EXIT_INTERRUPTED, cli_main.EXIT_TERMINATED, cli_main.EXIT_BROKEN_PIPE}
    assert documented == used
    assert "SIGTERM" in section and "Ctrl-C" in section


def test_a_run_whose_stderr_is_closed_still_runs_to_its_end(isolated_home, project):
    from tests.fakes.openai_server import FakeOpenAI

    with FakeOpenAI() as server:
        add_server_profile(project, server.url)
        reader, writer = os.pipe()
        os.close(reader)  # `2>&1 | head` that has already quit
        done = subprocess.run([sys.executable, "-m", "engine.cli", "evaluate", str(project), "--baseline",
                               "--split", "validation", "--model", "fake", "--json"], cwd=REPO,
                              env=cli_env(isolated_home), stdout=writer, stderr=writer, timeout=120)
        os.close(writer)
    assert done.returncode in (0, 141)
    assert server.chat_calls >= 60  # every validation example was evaluated


def test_show_escapes_control_characters_from_project_toml(tmp_path, capsys):
    from engine.cli.main import main
    from engine.project import Project

    project = Project.create(tmp_path / "p", sample="support-triage")
    project.config.name = "evil\x1b[2K\x1b]0;pwn\x07name\r\u202e"
    project.config.description = "line\x1b[1Aup"
    project.save()
    assert main(["show", str(project.root)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out and "\u202e" not in out
    assert "evil\\x1b[2K" in out
