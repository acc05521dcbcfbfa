"""A program from the user's own Python file: inference, trust, fingerprint, compile, export."""

import json
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from engine.errors import ProgramError, UntrustedCodeError, WorkbenchError
from engine.project import Project
from engine.user_module import check_runnable, read_module, trust_program, use_module

SAMPLE_MODULE = Path(__file__).resolve().parents[2] / "resources" / "samples" / "ticket-facts" / "programs" / "ticket_facts.py"

COT_MODULE = """
import dspy

class Answerer(dspy.Module):
    def __init__(self):
        super().__init__()
        self.answer = dspy.ChainOfThought("question, context -> answer")

    def forward(self, question, context):
        return self.answer(question=question, context=context)
"""

PYTHON_BETWEEN = """
import dspy

class Router(dspy.Module):
    def __init__(self):
        super().__init__()
        self.topic = dspy.Predict("text -> topic: str")
        self.rate = dspy.Predict("text, topic -> score: int, label: bool")

    def forward(self, text):
        topic = self.topic(text=text).topic.strip().lower()
        if len(topic) > 200:            # plain Python between the calls
            topic = topic[:200]
        rated = self.rate(text=text, topic=topic)
        return dspy.Prediction(label=rated.label, score=rated.score + 1, note="extra")

def make_router():
    return Router()
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), "utf-8")
    return path


@pytest.fixture
def empty_project(tmp_path):
    return Project.create(tmp_path / "proj")


def trusted_read(path, name, **kw):
    from engine.trust import trust_file

    trust_file(path)
    return read_module(path, name, **kw)


# -- inference ---------------------------------------------------------------------------------

def test_several_predictors_with_python_between_them_inputs_from_forward_outputs_the_prediction_carries():
    program, notes = trusted_read(SAMPLE_MODULE, "TicketTriage")
    assert notes == []
    assert program.input_names == ["ticket"]
    # forward returns category (classify's output) and facts (plain Python, no predictor's output)
    assert program.output_names == ["category"]
    assert program.field("category").type == "literal"
    assert program.predictor_names() == ["extract", "classify"]
    extract = program.predictors[0]
    assert extract.output_names == ["product", "problem", "money_involved"]
    assert extract.outputs[2].type == "bool"
    assert program.predictors[1].input_names == ["facts"]


def test_chain_of_thought_is_its_inner_predict_and_reasoning_is_no_output(tmp_path):
    path = write(tmp_path, "cot.py", COT_MODULE)
    program, _ = trusted_read(path, "Answerer")
    assert program.input_names == ["question", "context"]
    assert program.output_names == ["answer"]
    assert program.predictor_names() == ["answer.predict"]
    assert program.predictors[0].module == "cot"
    assert program.predictors[0].output_names == ["reasoning", "answer"]


def test_a_function_returning_a_module_and_typed_outputs_from_the_predictors(tmp_path):
    path = write(tmp_path, "router.py", PYTHON_BETWEEN)
    program, _ = trusted_read(path, "make_router")
    assert program.input_names == ["text"]
    # the prediction carries label, score and note; note is no predictor's field
    assert program.output_names == ["score", "label"]
    assert [program.field(n).type for n in ("score", "label")] == ["int", "bool"]


def test_outputs_can_be_chosen_and_an_unknown_one_is_refused(tmp_path):
    path = write(tmp_path, "router.py", PYTHON_BETWEEN)
    program, _ = trusted_read(path, "Router", outputs=["label"])
    assert program.output_names == ["label"] and program.outputs_override == ["label"]
    with pytest.raises(ProgramError, match="--outputs colour: not an output"):
        trusted_read(path, "Router", outputs=["colour"])


@pytest.mark.parametrize("source, name, message", [
    ("import dspy\nclass A(dspy.Module):\n    def forward(self, x)\n", "A", r"failed to import: line 3: SyntaxError"),
    ("import dspy\nraise RuntimeError('boom')\n", "A", r"failed to import: line 2: RuntimeError: boom"),
    ("import dspy\nclass A(dspy.Module):\n    pass\n", "B", r"has no 'B'; it defines A"),
    ("X = 3\n", "X", r"X in .* is not a dspy.Module subclass or a function"),
    ("import dspy\nclass A(dspy.Module):\n    def forward(self, text):\n        return text\n", "A",
     r"A has no predictor"),
    ("import dspy\nclass A(dspy.Module):\n    def __init__(self, k):\n        super().__init__()\n", "A",
     r"cannot be built with no arguments"),
    ("import dspy\nclass A(dspy.Module):\n    def __init__(self):\n        super().__init__()\n"
     "        self.p = dspy.Predict('a -> b')\n    def forward(self, **kw):\n        return self.p(**kw)\n",
     "A", r"forward names no inputs"),
])
def test_a_module_that_cannot_be_used_is_one_sentence_and_writes_nothing(empty_project, tmp_path, source, name, message):
    path = write(tmp_path / "src", "user.py", source)
    before = (empty_project.root / "project.toml").read_text()
    with pytest.raises(WorkbenchError, match=message) as info:
        use_module(empty_project, path, name)
    assert "\n" not in str(info.value)
    assert (empty_project.root / "project.toml").read_text() == before
    assert not (empty_project.root / "programs").exists()
    assert Project.open(empty_project.root).program.input_names == ["text"]


# -- in a project: copy, trust, fingerprint -------------------------------------------------------

def set_sample_module(project):
    change = use_module(project, SAMPLE_MODULE, "TicketTriage")
    project.save()
    return change


def test_setting_a_module_copies_its_source_into_the_project_and_the_project_reopens_without_running_it(empty_project):
    set_sample_module(empty_project)
    copy = empty_project.root / "programs" / "ticket_facts.py"
    assert copy.read_bytes() == SAMPLE_MODULE.read_bytes()
    data = tomllib.loads((empty_project.root / "project.toml").read_text())
    assert data["program"]["kind"] == "python" and data["program"]["source"] == "programs/ticket_facts.py"
    reopened = Project.open(empty_project.root)
    assert reopened.program.input_names == ["ticket"] and reopened.program.output_names == ["category"]
    assert reopened.field_names == ["ticket", "category"]
    check_runnable(reopened.program)  # setting it trusted this version of the copy


def test_a_project_from_elsewhere_runs_none_of_its_code_until_trusted(empty_project, tmp_path):
    set_sample_module(empty_project)
    marker = tmp_path / "ran.txt"
    source = empty_project.root / "programs" / "ticket_facts.py"
    source.write_text(source.read_text() + f"\nopen({str(marker)!r}, 'w').close()\n")
    trust_program(empty_project)  # the owner trusts their edit (this runs it once)
    empty_project.save()
    marker.unlink()
    clone = tmp_path / "clone"
    shutil.copytree(empty_project.root, clone)
    project = Project.open(clone)
    assert project.program.output_names == ["category"]  # shown from project.toml, no import
    with pytest.raises(UntrustedCodeError, match=r"program trust .*clone"):
        check_runnable(project.program)
    with pytest.raises(UntrustedCodeError):
        from engine.programs import build_program

        build_program(project.program)
    assert not marker.exists()
    trust_program(project)
    assert marker.exists()
    check_runnable(project.program)


def test_a_changed_source_changes_the_fingerprint_and_is_refused_until_trusted(empty_project):
    set_sample_module(empty_project)
    before = empty_project.program.fingerprint()
    assert Project.open(empty_project.root).program.fingerprint() == before  # stable
    source = empty_project.root / "programs" / "ticket_facts.py"
    source.write_text(source.read_text().replace(
        "return dspy.Prediction(category=decision.category, facts=summary)",
        "return dspy.Prediction(category=decision.category, product=facts.product)"))
    project = Project.open(empty_project.root)
    assert project.program.fingerprint() != before
    with pytest.raises(UntrustedCodeError, match="changed since the program was read"):
        check_runnable(project.program)
    change = trust_program(project)
    project.save()
    # read again: the prediction now carries product too, which the data gets a column for
    assert project.program.output_names == ["product", "category"]
    assert Project.open(project.root).program.fingerprint() == project.program.fingerprint() != before
    assert change.metric_reset is False


# -- compile, evaluate, export ---------------------------------------------------------------------

FACTS = {"product": "order", "problem": "a problem", "money_involved": False}


@pytest.fixture
def ticket_project(tmp_path, scripted_connect):
    project = Project.create(tmp_path / "tickets", sample="ticket-facts")
    trust_program(project)
    project.save()
    scripted_connect(rules={"charge": {**FACTS, "category": "billing"}}, default={**FACTS, "category": "shipping"})
    return project


def compile_run(project, optimizer="labeled-fewshot", params=None, limit=6):
    from engine.jobs.compile import CompileJob, CompileSettings

    return CompileJob(project, CompileSettings(optimizer, params or {"k": 2}, limit=limit)).run()


def test_a_user_module_compiles_and_its_state_holds_every_predictor(ticket_project):
    record = compile_run(ticket_project)
    assert record.status == "succeeded", record.error
    assert set(record.program_state) >= {"extract", "classify"}
    assert len(record.program_state["classify"]["demos"]) == 2
    assert record.program_fingerprint == ticket_project.program.fingerprint()
    assert set(record.scores["test"]) == {"baseline", "candidate"}


def test_bootstrap_traces_fill_the_demos_of_each_stage(ticket_project):
    record = compile_run(ticket_project, "bootstrap-fewshot",
                         {"max_bootstrapped_demos": 2, "max_labeled_demos": 0}, limit=12)
    assert record.status == "succeeded", record.error
    for predictor in ("extract", "classify"):
        demos = record.program_state[predictor]["demos"]
        assert demos, predictor
    assert "product" in record.program_state["extract"]["demos"][0]
    assert record.program_state["classify"]["demos"][0]["facts"].startswith("product: order")


def test_the_prompt_of_each_predictor_gets_what_forward_passes_it(ticket_project):
    from engine.prompts import render_program_prompts

    rendered = render_program_prompts(ticket_project.program, {"ticket": "I was charged twice"})
    assert [r.predictor for r in rendered] == ["extract", "classify"]
    assert "I was charged twice" in rendered[0].messages[-1]["content"]
    classify_text = rendered[1].messages[-1]["content"]
    assert "product: <product from extract>; problem: <problem from extract>" in classify_text
    assert rendered[1].response_format["json_schema"]["schema"]["properties"]["category"]["enum"]


def test_an_earlier_version_is_marked_on_evaluate_and_refused_on_export(ticket_project, tmp_path):
    from engine.artifacts import export_run
    from engine.jobs.evaluate import EvaluateJob, EvaluateSettings

    record = compile_run(ticket_project)
    source = ticket_project.root / "programs" / "ticket_facts.py"
    source.write_text(source.read_text() + "\n# tuned the docstring\n")
    project = Project.open(ticket_project.root)
    trust_program(project)
    result = EvaluateJob(project, EvaluateSettings("test", run_id=record.run_id, limit=3)).run()
    assert any("compiled for an earlier version of the program" in w for w in result["warnings"])
    assert result["n"] == 3
    with pytest.raises(WorkbenchError, match="compiled for an earlier version of the program"):
        export_run(project, record.run_id, tmp_path / "bundle")


PLAIN_DSPY_LOAD = r"""
import importlib.abc, json, sys

class NoWorkbench(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("engine", "desktop"):
            raise ImportError("the bundle must not import the Workbench: " + name)
        return None

sys.meta_path.insert(0, NoWorkbench())
import importlib.util
spec = importlib.util.spec_from_file_location("exported_program", sys.argv[1] + "/program.py")
program_py = importlib.util.module_from_spec(spec)
spec.loader.exec_module(program_py)
program = program_py.load_program()
out = {name: {"instructions": p.signature.instructions, "demos": [dict(d) for d in p.demos]}
       for name, p in program.named_predictors()}
out["_adapter"] = type(program_py.make_adapter()).__name__
out["_fingerprint"] = program_py.PROGRAM_FINGERPRINT
print(json.dumps(out, default=str))
"""


def test_plain_dspy_builds_the_bundled_module_by_file_path_from_anywhere(ticket_project, tmp_path):
    from engine.artifacts import export_run, verify_bundle

    record = compile_run(ticket_project)
    bundle = tmp_path / "bundle"
    manifest = export_run(ticket_project, record.run_id, bundle)
    assert (bundle / "ticket_facts.py").read_bytes() == (ticket_project.root / "programs" / "ticket_facts.py").read_bytes()
    assert manifest.program["kind"] == "python" and manifest.program["source"] == "ticket_facts.py"
    assert manifest.program["source_sha256"] == manifest.files["ticket_facts.py"] == ticket_project.program.sha256
    assert manifest.program["predictors"] == ["extract", "classify"]
    assert verify_bundle(bundle)[1] == []
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run([sys.executable, "-I", "-c", PLAIN_DSPY_LOAD, str(bundle)], capture_output=True,
                            text=True, cwd=elsewhere, check=False)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    state = record.program_state
    for name in ("extract", "classify"):
        assert loaded[name]["instructions"] == state[name]["signature"]["instructions"]
        assert [d["ticket"] if name == "extract" else d.get("category") for d in loaded[name]["demos"]] == \
               [d["ticket"] if name == "extract" else d.get("category") for d in state[name]["demos"]]
        assert len(loaded[name]["demos"]) == 2
    assert loaded["_adapter"] == "CompactAdapter"
    assert loaded["_fingerprint"] == record.program_fingerprint


def test_hostile_names_in_project_toml_reach_program_py_only_as_data(tmp_path):
    from engine.module_bundle import module_program_source
    from engine.user_module import ModuleProgram

    hostile = 'x"""\');import os;open("pwned","w").close();#\n\x00'
    program = ModuleProgram(name=hostile, source="programs/m.py", sha256="ab" * 32,
                            inputs=[{"name": "text"}], outputs=[{"name": "label"}],
                            predictors=[{"name": hostile, "inputs": [{"name": "text"}], "outputs": [{"name": "label"}]}])
    text = module_program_source(program, fingerprint=hostile, source_name="m.py", prompt_format="json")
    compile(text, "program.py", "exec")
    namespace: dict = {"__file__": str(tmp_path / "program.py")}
    exec(compile(text, "program.py", "exec"), namespace)  # defines functions only
    assert namespace["PROGRAM"]["name"] == hostile and not (tmp_path / "pwned").exists()
    assert not Path("pwned").exists()


# -- issue 16.7: one rule for setting the program, both faces --------------------------------------

def test_a_new_output_field_gets_an_empty_column_and_the_project_still_opens(sample_project):
    from engine.programs import ProgramSpec, stage_from_signature

    stage = stage_from_signature("ticket_text, policy_context -> urgency, team")
    change = sample_project.set_program(ProgramSpec(name="p", stages=[stage]))
    sample_project.save()
    sample_project.save_frame()
    assert change.columns_added == ["team"] and change.metric_reset is False
    reopened = Project.open(sample_project.root)
    assert list(reopened.frame["team"].unique()) == [""]
    assert len(reopened.frame) == len(sample_project.frame)


def test_a_project_toml_naming_a_field_the_data_lacks_still_opens(sample_project):
    path = sample_project.root / "project.toml"
    path.write_text(path.read_text().replace('name = "urgency"', 'name = "priority"').replace(
        'field = "urgency"', 'field = "priority"'))
    project = Project.open(sample_project.root)
    assert "priority" in project.frame.columns and len(project.frame) > 0


@pytest.mark.parametrize("key", ["labeled-fewshot", "bootstrap-fewshot", "bootstrap-rs", "copro", "miprov2",
                                 "simba", "gepa"])
def test_every_optimizer_compiles_a_user_module(tmp_path, scripted_connect, key):
    from engine.jobs.compile import CompileJob, CompileSettings
    from tests.engine.test_optimizers import ANSWER, SMALL

    project = Project.create(tmp_path / "tickets", sample="ticket-facts")
    trust_program(project)
    answer = {**ANSWER, **FACTS, "category": "shipping",
              "module_advice": {"extract": "care", "classify": "care"}}
    scripted_connect(rules={"charge": {**answer, "category": "billing"}}, default=answer)
    record = CompileJob(project, CompileSettings(key, SMALL[key], limit=8)).run()
    assert record.status == "succeeded", record.error
    assert {"extract", "classify"} <= set(record.program_state)
    assert set(record.scores) == {"validation", "test"}


@pytest.mark.parametrize("source", ["../outside.py", "/etc/passwd", "programs/../../x.py", "programs/sub/x.py",
                                    "programs/x.txt"])
def test_a_module_source_outside_the_projects_programs_folder_is_refused_at_open(empty_project, source):
    set_sample_module(empty_project)
    path = empty_project.root / "project.toml"
    path.write_text(path.read_text().replace('source = "programs/ticket_facts.py"', f"source = {json.dumps(source)}"))
    with pytest.raises(ProgramError, match="must be a .py file in the project's programs/ folder"):
        Project.open(empty_project.root)
