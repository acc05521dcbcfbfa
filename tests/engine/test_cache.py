"""The project's LM cache: size, clearing, and forgetting the process's DSPy cache handle."""

import json

import pytest

from engine import cache as cache_module
from engine.cli import main
from engine.errors import WorkbenchError
from engine.jobs import compile as compile_job


def fill(project, sizes=(1000, 2500)):
    folder = project.lm_cache_dir
    (folder / "000").mkdir(parents=True, exist_ok=True)
    for i, size in enumerate(sizes):
        (folder / "000" / f"entry{i}.val").write_bytes(b"x" * size)
    (folder / "cache.db").write_bytes(b"y" * 500)
    return sum(sizes) + 500


def test_size_and_clear(sample_project):
    assert cache_module.cache_size(sample_project) == 0
    assert cache_module.clear_cache(sample_project) == 0
    total = fill(sample_project)
    assert cache_module.cache_size(sample_project) == total
    assert cache_module.clear_cache(sample_project) == total
    assert sample_project.lm_cache_dir.is_dir() and not any(sample_project.lm_cache_dir.iterdir())
    assert cache_module.cache_size(sample_project) == 0


def test_clear_is_refused_while_busy(sample_project):
    total = fill(sample_project)
    with pytest.raises(WorkbenchError, match="in progress"):
        cache_module.clear_cache(sample_project, busy=True)
    assert cache_module.cache_size(sample_project) == total


def test_clear_does_not_follow_a_link_out_of_the_project(sample_project, tmp_path):
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    fill(sample_project)
    (sample_project.lm_cache_dir / "link").symlink_to(outside, target_is_directory=True)
    cache_module.clear_cache(sample_project)
    assert (outside / "keep.txt").read_text() == "keep"
    assert not any(sample_project.lm_cache_dir.iterdir())


def test_clear_resets_the_active_dspy_cache(sample_project, monkeypatch):
    import dspy

    monkeypatch.setattr(compile_job, "_active_cache", None)
    original = dspy.cache
    try:
        compile_job._use_project_cache(sample_project)
        active = compile_job._active_cache
        assert active is not None and active[0] == str(sample_project.lm_cache_dir)
        fill(sample_project)
        cache_module.clear_cache(sample_project)
        assert compile_job._active_cache is None
        compile_job._use_project_cache(sample_project)  # the next compile makes a new cache object
        assert compile_job._active_cache is not None and compile_job._active_cache[1] is not active[1]
    finally:
        dspy.cache = original


def test_compile_after_clear_calls_the_model_again(sample_project, scripted_connect):
    # DummyLM never caches, so this checks the run still works and counts its calls after a clear.
    from engine.jobs.compile import CompileJob, CompileSettings

    scripted = scripted_connect()
    settings = CompileSettings(optimizer="labeled-fewshot", params={"k": 1}, limit=3)
    CompileJob(sample_project, settings, sink=lambda e: None).run()
    first = scripted.calls
    cache_module.clear_cache(sample_project)
    record = CompileJob(sample_project, settings, sink=lambda e: None).run()
    assert record.status == "succeeded" and scripted.calls == 2 * first and record.lm_calls == first


def test_cli_cache_info_and_clear(sample_project, capsys):
    total = fill(sample_project)
    assert main(["cache", "info", str(sample_project.root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bytes"] == total
    assert main(["cache", "clear", str(sample_project.root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["freed_bytes"] == total
    assert main(["cache", "info", str(sample_project.root)]) == 0
    assert "0 bytes" in capsys.readouterr().out


def test_human_size():
    assert cache_module.human_size(0) == "0 bytes"
    assert cache_module.human_size(1536) == "1.5 KB"
    assert cache_module.human_size(12_300_000) == "12.3 MB"
