"""`program set` / `program trust` on the command line: a builder signature or the user's module."""

import json
import shutil
from pathlib import Path

from engine.cli import main

SAMPLE_MODULE = Path(__file__).resolve().parents[2] / "resources" / "samples" / "ticket-facts" / "programs" / "ticket_facts.py"


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_program_set_with_a_new_output_field_adds_its_column_says_so_and_show_still_works(tmp_path, capsys):
    folder = tmp_path / "p"
    assert run_cli(capsys, "init", folder, "--sample", "support-triage")[0] == 0
    code, out, err = run_cli(capsys, "program", "set", folder, "--signature",
                             "ticket_text, policy_context -> urgency, team")
    assert code == 0
    assert "no column for team: added it empty" in err
    code, out, _ = run_cli(capsys, "show", folder, "--json")
    assert code == 0 and json.loads(out)["examples"] > 0
    header = (folder / "data" / "examples.csv").read_text().splitlines()[0]
    assert "team" in header.split(",")  # the file keeps its layout: a new column goes last


def test_program_set_resets_a_metric_on_fields_the_program_no_longer_has(tmp_path, capsys):
    folder = tmp_path / "p"
    run_cli(capsys, "init", folder, "--sample", "support-triage")
    code, out, err = run_cli(capsys, "program", "set", folder, "--signature", "ticket_text -> priority", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["metric_reset"] is True and result["columns_added"] == ["priority"]
    code, out, _ = run_cli(capsys, "metric", "show", folder, "--json")
    assert "priority" in out


def test_program_set_python_then_a_clone_is_refused_until_program_trust(tmp_path, capsys):
    folder = tmp_path / "p"
    run_cli(capsys, "init", folder)
    code, out, err = run_cli(capsys, "program", "set", folder, "--python", f"{SAMPLE_MODULE}:TicketTriage", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["kind"] == "python" and [f["name"] for f in result["outputs"]] == ["category"]
    code, out, _ = run_cli(capsys, "program", "show", folder)
    assert "TicketTriage from programs/ticket_facts.py" in out and "not trusted" not in out
    clone = tmp_path / "clone"
    shutil.copytree(folder, clone)
    run_cli(capsys, "import", clone, Path(SAMPLE_MODULE).parents[1] / "data" / "examples.csv",
            "--id-column", "id", "--split-column", "split", "--slice-column", "slices")
    code, out, err = run_cli(capsys, "compile", clone, "--optimizer", "labeled-fewshot")
    assert code == 2
    assert err.count("\n") == 1 and f"program trust {clone}" in err and "Traceback" not in err
    code, out, _ = run_cli(capsys, "program", "show", clone)
    assert "not trusted in this version" in out
    code, _, err = run_cli(capsys, "program", "trust", clone)
    assert code == 0 and "trusted" in err
    code, out, _ = run_cli(capsys, "program", "show", clone)
    assert "not trusted" not in out


def test_program_set_python_with_outputs_and_bad_targets(tmp_path, capsys):
    folder = tmp_path / "p"
    run_cli(capsys, "init", folder)
    before = (folder / "project.toml").read_text()
    code, _, err = run_cli(capsys, "program", "set", folder, "--python", f"{SAMPLE_MODULE}:Nope")
    assert code == 2 and "has no 'Nope'; it defines" in err
    code, _, err = run_cli(capsys, "program", "set", folder, "--python", str(SAMPLE_MODULE))
    assert code == 2 and "write FILE:NAME" in err
    code, _, err = run_cli(capsys, "program", "set", folder, "--signature", "a -> b", "--outputs", "b")
    assert code == 2 and "--outputs goes with --python" in err
    assert (folder / "project.toml").read_text() == before
    code, out, err = run_cli(capsys, "program", "set", folder, "--python", f"{SAMPLE_MODULE}:TicketTriage",
                             "--outputs", "problem,category", "--json")
    assert code == 0, err
    assert [f["name"] for f in json.loads(out)["outputs"]] == ["problem", "category"]


def test_program_trust_on_a_builder_program_says_there_is_nothing_to_trust(tmp_path, capsys):
    folder = tmp_path / "p"
    run_cli(capsys, "init", folder)
    code, _, err = run_cli(capsys, "program", "trust", folder)
    assert code == 2 and "nothing to trust" in err
