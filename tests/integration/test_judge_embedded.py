"""Calibrating the sample's judge on the real embedded model (SmolLM2-135M). Slow: a few minutes.

The figures are printed (run with -s) and asserted only for what must hold whatever the model's
skill: every label judged, each verdict a scored choice (parsed), figures consistent with the
confusion matrix. A 135M judge is expected to disagree with people: the test does not ask it to pass.
"""

import json

import pytest

from engine.cli.main import main

pytestmark = pytest.mark.slow

GGUF_SHA256 = "sha256:b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def test_the_embedded_judge_is_calibrated_on_the_samples_labels_and_reports_honest_figures(tmp_path, capsys):
    folder = tmp_path / "res"
    assert main(["init", str(folder), "--sample", "support-resolution"]) == 0
    capsys.readouterr()
    code = main(["metric", "calibrate", str(folder), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    c = result["confusion"]
    assert result["n"] == 39 == c["tp"] + c["fn"] + c["fp"] + c["tn"]
    assert c["tp"] + c["fn"] == 21  # the people's passes
    assert result["judge"]["revision"] == GGUF_SHA256
    assert not any("did not parse" in w for w in result["warnings"])
    assert result["agreement"] == pytest.approx((c["tp"] + c["tn"]) / 39)
    assert result["passed"] is (result["kappa"] is not None and result["kappa"] >= 0.6)
    assert len(result["disagreements"]) == c["fn"] + c["fp"]
    # The judge's calls are cached by the model's revision: an identical calibration makes no real call.
    assert result["judge_calls"]["judge_calls"] == 39
    assert main(["metric", "calibrate", str(folder), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["judge_calls"]["judge_calls"] == 0 and again["judge_calls"]["judge_cached_calls"] == 39
    assert again["kappa"] == result["kappa"]
    with capsys.disabled():
        print(f"\nembedded judge on support-resolution: n={result['n']} agreement {result['agreement']:.3f} "
              f"kappa {result['kappa']} CI {result['kappa_ci95']} TPR {result['tpr']} TNR {result['tnr']} "
              f"confusion {c} calls {result['judge_calls']}")
    # The refusal follows: the sample's judge is not trusted unless the model agreed with people.
    code = main(["compile", str(folder), "--limit", "2"])
    _, err = capsys.readouterr()
    if not result["passed"]:
        assert code == 2 and "failed its calibration" in err
