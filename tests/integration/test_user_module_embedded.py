"""A user's own two-stage module compiled on the real embedded model, exported, served by plain DSPy."""

import json
import subprocess
import sys

import pytest

from engine.cli import main

pytestmark = pytest.mark.slow

GGUF_SHA256 = "sha256:b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def cli_json(capsys, *args):
    code = main([str(a) for a in args] + ["--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_the_ticket_facts_module_compiles_on_the_embedded_model_and_its_bundle_serves(tmp_path, capsys):
    folder = tmp_path / "tickets"
    assert main(["init", str(folder), "--sample", "ticket-facts"]) == 0
    capsys.readouterr()
    assert main(["compile", str(folder), "--optimizer", "labeled-fewshot"]) == 2  # a copy: not trusted yet
    assert "program trust" in capsys.readouterr().err
    cli_json(capsys, "program", "trust", folder)
    report = cli_json(capsys, "compile", folder, "--optimizer", "labeled-fewshot", "--param", "k=2",
                      "--model", "embedded", "--limit", "2")
    assert report["status"] == "succeeded"
    assert report["model"]["revision"] == GGUF_SHA256 and report["adapter_format"] == "compact"
    failures = 0
    for split in ("validation", "test"):
        for which in ("baseline", "candidate"):
            figures = report["evaluations"][split][which]
            assert figures["n"] == 2
            failures += figures["parse_failures"]
    # the extract stage writes free text into three fields; a 135M model now and then cuts one off
    assert failures <= 2, report["evaluations"]
    # every evaluated example reached the model (classify is skipped where extract did not parse)
    assert report["lm_calls"] + report["cached_calls"] >= 8, (report["lm_calls"], report["cached_calls"])

    bundle = tmp_path / "artifact"
    export = cli_json(capsys, "export", folder, "--run", report["run_id"], "--out", bundle)
    assert export["manifest"]["program"]["source"] == "ticket_facts.py"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = (
        "import importlib.util, json, sys;"
        "s = importlib.util.spec_from_file_location('p', sys.argv[1] + '/program.py');"
        "m = importlib.util.module_from_spec(s); s.loader.exec_module(m);"
        "p = m.load_program();"
        "print(json.dumps({n: len(q.demos) for n, q in p.named_predictors()}));"
        "assert not any(k.split('.')[0] in ('engine', 'desktop') for k in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-I", "-c", script, str(bundle)], capture_output=True, text=True,
                            cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"extract": 2, "classify": 2}
