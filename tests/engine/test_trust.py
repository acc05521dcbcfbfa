"""The one trust rule for code a project brings (metric files, program modules)."""

from __future__ import annotations

import pytest

from engine import trust
from engine.errors import UntrustedCodeError, WorkbenchError


def _write(path, text):
    path.write_text(text, "utf-8")
    return path


def test_untrusted_file_is_refused_before_it_runs(tmp_path):
    marker = tmp_path / "ran"
    file = _write(tmp_path / "metric.py", f"open({str(marker)!r}, 'w').close()\n")
    with pytest.raises(UntrustedCodeError) as caught:
        trust.import_trusted(file, what="the metric file", trust_hint="dspy-workbench metric trust DIR")
    assert not marker.exists()
    assert "dspy-workbench metric trust DIR" in str(caught.value)
    assert caught.value.sha256 == trust.code_file(file).sha256


def test_trusted_version_imports_and_an_edit_revokes_it(tmp_path):
    file = _write(tmp_path / "metric.py", "VALUE = 1\n")
    trust.trust_file(file)
    module, code = trust.import_trusted(file, what="the metric file", trust_hint="x")
    assert module.VALUE == 1 and code.sha256 == trust.code_file(file).sha256
    _write(file, "VALUE = 2\n")
    assert not trust.is_trusted(file)
    with pytest.raises(UntrustedCodeError):
        trust.import_trusted(file, what="the metric file", trust_hint="x")


def test_a_copy_elsewhere_is_not_trusted(tmp_path):
    (tmp_path / "a").mkdir()
    file = _write(tmp_path / "a" / "m.py", "X = 1\n")
    trust.trust_file(file)
    (tmp_path / "b").mkdir()
    copy = _write(tmp_path / "b" / "m.py", "X = 1\n")
    assert trust.is_trusted(file) and not trust.is_trusted(copy)


def test_trust_lives_in_the_users_config_not_the_project(tmp_path, isolated_home):
    file = _write(tmp_path / "m.py", "X = 1\n")
    trust.trust_file(file)
    assert (isolated_home / "config" / trust.TRUST_FILE).is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["m.py"]


def test_import_error_names_the_file_and_line(tmp_path):
    file = _write(tmp_path / "m.py", "X = 1\nraise RuntimeError('boom')\n")
    trust.trust_file(file)
    with pytest.raises(WorkbenchError, match=r"m\.py failed to import: line 2: RuntimeError: boom"):
        trust.import_trusted(file, what="the metric file", trust_hint="x")
    bad = _write(tmp_path / "s.py", "def f(:\n")
    trust.trust_file(bad)
    with pytest.raises(WorkbenchError, match=r"line 1: SyntaxError"):
        trust.import_trusted(bad, what="the metric file", trust_hint="x")


def test_damaged_trust_file_trusts_nothing(tmp_path, isolated_home):
    file = _write(tmp_path / "m.py", "X = 1\n")
    trust.trust_file(file)
    (isolated_home / "config" / trust.TRUST_FILE).write_text("{not json", "utf-8")
    assert not trust.is_trusted(file)
    trust.trust_file(file)
    assert trust.is_trusted(file)


def test_a_sibling_module_the_trusted_file_imports_never_runs(tmp_path):
    marker = tmp_path / "ran"
    _write(tmp_path / "helper.py", f"open({str(marker)!r}, 'w').close()\n")
    file = _write(tmp_path / "metric.py", "import helper\nVALUE = 1\n")
    trust.trust_file(file)
    with pytest.raises(WorkbenchError, match=r"helper\.py beside it is not trusted"):
        trust.import_trusted(file, what="the metric file", trust_hint="x")
    assert not marker.exists()
