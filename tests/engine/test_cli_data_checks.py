"""`import` and `show` print the data checks (plain and --json); only leaks block, the rest is shown."""

from __future__ import annotations

import json

from tests.engine.test_cli import run_cli

ROWS = ("id,review,sentiment,split\n"
        "1,great kettle,positive,train\n"
        "2,,negative,train\n"
        "3,so-so,mixed,validation\n"
        "4,lovely,Positive,test\n"
        "5,Broke in a day.,negative,train\n"
        "6,broke in a day,positive,train\n")


def sentiment_project(tmp_path, capsys):
    folder = tmp_path / "reviews"
    assert run_cli(capsys, "init", folder)[0] == 0
    assert run_cli(capsys, "program", "set", folder, "--signature",
                   "review -> sentiment: Literal['positive', 'negative']")[0] == 0
    data = tmp_path / "reviews.csv"
    data.write_text(ROWS)
    return folder, data


def test_import_json_warnings_carry_the_data_checks(tmp_path, capsys):
    folder, data = sentiment_project(tmp_path, capsys)
    code, out, _ = run_cli(capsys, "import", folder, data, "--json")
    result = json.loads(out)
    assert code == 0 and result["rows"] == 6  # findings other than leaks do not block
    assert [f["kind"] for f in result["findings"]] == ["choices", "case", "empty", "conflict"]
    warnings = "\n".join(result["warnings"])
    assert "1 row has `sentiment` 'mixed' (ids 3)" in warnings
    assert "the choice is 'positive'" in warnings and "1 row has an empty `review` (ids 2)" in warnings
    assert "1 group of identical inputs has different `sentiment`" in warnings
    assert result["findings"][1]["fix"] == {"from": "Positive", "to": "positive"}


def test_import_plain_and_show_print_the_findings(tmp_path, capsys):
    folder, data = sentiment_project(tmp_path, capsys)
    code, _, err = run_cli(capsys, "import", folder, data)
    assert code == 0 and "warning: 1 row has `sentiment` 'mixed'" in err
    code, out, _ = run_cli(capsys, "show", folder)
    assert code == 0 and "data check: 1 row has an empty `review` (ids 2)" in out
    code, out, _ = run_cli(capsys, "show", folder, "--json")
    assert [f["kind"] for f in json.loads(out)["findings"]] == ["choices", "case", "empty", "conflict"]


def test_folded_leak_is_reported_by_import(tmp_path, capsys):
    folder, data = sentiment_project(tmp_path, capsys)
    data.write_text("id,review,sentiment,split\n1,sturdy and well  made!,positive,train\n"
                    "2,Sturdy and well made,positive,test\n")
    code, out, err = run_cli(capsys, "import", folder, data, "--json")
    assert code == 0 and json.loads(out)["leaks"] == 1 and "leak between splits" in err
