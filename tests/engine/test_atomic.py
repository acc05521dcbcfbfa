"""Atomic writes: the old file or the new one, the old file's mode, no temp file left for good."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from engine.atomic import atomic_write_text, atomic_write_with, remove_stale_temp_files


def mode(path):
    return os.stat(path).st_mode & 0o7777


def test_a_rewritten_file_keeps_its_mode(tmp_path):
    target = tmp_path / "examples.csv"
    target.write_text("old")
    os.chmod(target, 0o664)
    atomic_write_text(target, "new")
    assert target.read_text() == "new" and mode(target) == 0o664
    os.chmod(target, 0o640)
    atomic_write_text(target, "newer")
    assert mode(target) == 0o640


def test_a_new_file_gets_the_umask_default_mode(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.toml", "x")
        os.umask(0o022)
        atomic_write_text(tmp_path / "b.toml", "x")
    finally:
        os.umask(old)
    assert mode(tmp_path / "a.toml") == 0o640
    assert mode(tmp_path / "b.toml") == 0o644


def test_a_failing_before_replace_keeps_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "project.toml"
    target.write_text("old")

    def refuse():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write_with(target, lambda handle: handle.write(b"new"), before_replace=refuse)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project.toml"]


SLOW_WRITER = textwrap.dedent("""
    import sys, time
    from engine.atomic import atomic_write_with

    def write(handle):
        handle.write(b"partial")
        handle.flush()
        print("writing", flush=True)
        time.sleep(60)

    atomic_write_with(sys.argv[1], write)
""")


def start_slow_writer(target):
    process = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(target)], stdout=subprocess.PIPE,
                               text=True, cwd=os.getcwd())
    assert process.stdout.readline().strip() == "writing"
    return process


def test_a_killed_writer_leaves_a_temp_file_that_the_cleaner_removes(tmp_path):
    target = tmp_path / "examples.csv"
    target.write_text("old")
    writer = start_slow_writer(target)
    writer.send_signal(signal.SIGKILL)
    writer.wait(10)
    leftovers = list(tmp_path.glob(".examples.csv.*.tmp"))
    assert len(leftovers) == 1
    assert remove_stale_temp_files([tmp_path]) == leftovers
    assert sorted(p.name for p in tmp_path.iterdir()) == ["examples.csv"]
    assert target.read_text() == "old"


def test_the_cleaner_leaves_a_write_under_way_in_another_process_alone(tmp_path):
    target = tmp_path / "examples.csv"
    writer = start_slow_writer(target)
    try:
        assert remove_stale_temp_files([tmp_path]) == []
        assert len(list(tmp_path.glob(".examples.csv.*.tmp"))) == 1
    finally:
        writer.kill()
        writer.wait(10)


def test_a_cleaner_racing_a_finishing_writer_never_breaks_the_write(tmp_path):
    target = tmp_path / "big.csv"
    stop = threading.Event()

    def clean():
        while not stop.is_set():
            remove_stale_temp_files([tmp_path])

    cleaner = threading.Thread(target=clean)
    cleaner.start()
    try:
        deadline = time.monotonic() + 2
        count = 0
        while time.monotonic() < deadline:
            atomic_write_text(target, f"version {count}")
            count += 1
    finally:
        stop.set()
        cleaner.join()
    assert target.read_text() == f"version {count - 1}"
