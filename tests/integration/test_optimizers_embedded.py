"""Every optimizer compiles the sample on the real embedded model, at small settings. Slow."""

import pytest

from engine.jobs.compile import CompileJob, CompileSettings

pytestmark = pytest.mark.slow

SMALL = {
    "labeled-fewshot": {"k": 2},
    "bootstrap-fewshot": {"max_bootstrapped_demos": 1, "max_labeled_demos": 1},
    "bootstrap-rs": {"num_candidate_programs": 2, "max_bootstrapped_demos": 1, "max_labeled_demos": 1},
    "copro": {"breadth": 2, "depth": 1},
    "miprov2": {"auto": "none", "num_candidates": 2, "num_trials": 2, "minibatch": False,
                "max_bootstrapped_demos": 1, "max_labeled_demos": 1},
    "simba": {"bsize": 4, "num_candidates": 2, "max_steps": 1, "max_demos": 1},
    "gepa": {"reflection_model": "embedded", "max_metric_calls": 12, "reflection_minibatch_size": 2},
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    from engine.project import Project

    return Project.create(tmp_path_factory.mktemp("optimizers") / "triage", sample="support-triage")


@pytest.mark.parametrize("key", list(SMALL))
def test_optimizer_compiles_on_the_embedded_model(project, key):
    record = CompileJob(project, CompileSettings(key, SMALL[key], limit=4)).run()
    assert record.status == "succeeded", record.error
    assert record.program_state is not None
    assert set(record.scores) == {"validation", "test"}
    assert record.model_revision.startswith("sha256:")
