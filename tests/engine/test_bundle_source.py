"""program.py never runs project text: every name, instruction, description, choice and demo from a
project reaches the bundle's code only as data (issue #16.1)."""

import ast
import importlib.util
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.artifacts.program_source import program_source, spec_program_files
from engine.errors import ProgramError
from engine.programs import FieldSpec, ProgramSpec, StageSpec, build_program, parse_program
from engine.prompts import render_program_prompts

HOSTILE = ['"""', "'''", '\\', '\\"""', '"', "'", "\n", "\r\n", "\r", "\x00", "\x1b[2J", "{}", "{0}", "%s",
           "\u2028", "\u00e9\u4e2d\U0001f600", "\ufeff", '");import os;os.system("x")#',
           't""";import os;open("pwned","w").close();"""', "\\N{BULLET}", "\\x41", "#", "\t", " "]
hostile_text = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=6)), max_size=6).map("".join)
MODEL = {"provider": "ollama", "name": "llama3.2:latest", "revision": "sha256:" + "a" * 64, "details": {}}


@st.composite
def hostile_programs(draw):
    choices = draw(st.lists(hostile_text, min_size=1, max_size=4, unique=True))
    triage = StageSpec(
        name="triage", module=draw(st.sampled_from(["predict", "cot"])), instructions=draw(hostile_text),
        inputs=[FieldSpec(name="ticket_text", description=draw(hostile_text)),
                FieldSpec(name="n", type="int", description=draw(hostile_text))],
        outputs=[FieldSpec(name="urgency", type="literal", choices=choices, description=draw(hostile_text))])
    draft = StageSpec(
        name="draft", instructions=draw(hostile_text),
        inputs=[FieldSpec(name="ticket_text"), FieldSpec(name="urgency", description=draw(hostile_text))],
        outputs=[FieldSpec(name="reply", description=draw(hostile_text)), FieldSpec(name="tags", type="list[str]")])
    spec = ProgramSpec(name=draw(hostile_text), stages=[triage, draft])
    demo = {"ticket_text": draw(hostile_text), "n": 3, "urgency": choices[0]}
    if triage.module == "cot":
        demo["reasoning"] = draw(hostile_text)
    return spec, demo, draw(hostile_text), draw(st.sampled_from(["compact", "chat", "json"]))


def _without_constants(source: str) -> str:
    """The code's shape: its AST with every literal value blanked."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):
            node.value = None
    return ast.dump(tree)


def _write_bundle(folder: Path, spec, state, prompt_format) -> None:
    folder.mkdir(parents=True)
    for name, content in spec_program_files(spec, prompt_format=prompt_format, model=MODEL).items():
        (folder / name).write_bytes(content)
    program = build_program(spec)
    program.load_state(state)
    program.save(str(folder / "state.json"), save_program=False)  # as export does: DSPy writes it


def _import_by_path(path: Path):
    spec = importlib.util.spec_from_file_location(f"bundle_{uuid.uuid4().hex}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _state_with_demo(spec, demo):
    program = build_program(spec)
    program.named_predictors()[0][1].demos = [demo]
    return program.dump_state()


NEUTRAL = ProgramSpec(name="p", stages=[
    StageSpec(name="triage", inputs=[FieldSpec(name="ticket_text")], outputs=[FieldSpec(name="urgency")])])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hostile_programs())
def test_hostile_text_is_inert_data_and_renders_the_same_prompt(tmp_path, monkeypatch, case):
    spec, demo, input_text, prompt_format = case
    source = program_source(spec, prompt_format=prompt_format, model=MODEL)
    # The same code as for any other program: text changed only string literals, never the code around them.
    assert _without_constants(source) == _without_constants(program_source(NEUTRAL, model={}))
    folder = tmp_path / uuid.uuid4().hex
    state = _state_with_demo(spec, demo)
    _write_bundle(folder, spec, state, prompt_format)
    monkeypatch.chdir(tmp_path)  # a payload that wrote a file would leave it here or in the bundle
    before = sorted(p.name for p in tmp_path.iterdir())
    module = _import_by_path(folder / "program.py")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert sorted(p.name for p in folder.iterdir()) == sorted(["model_check.py", "program.py", "state.json"] + (
        ["compact_adapter.py"] if prompt_format == "compact" else []))
    assert module.PROGRAM_NAME == spec.name and module.PROGRAM_FINGERPRINT == spec.fingerprint()
    assert module.MODEL == MODEL
    loaded = module.load_program()
    adapter = module.make_adapter()
    inputs = {"ticket_text": input_text, "n": 7}
    ours = render_program_prompts(spec, inputs, state=state, prompt_format=prompt_format)
    for rendered, (name, predictor) in zip(ours, loaded.named_predictors(), strict=True):
        assert rendered.predictor == name
        stage_inputs = {k: inputs.get(k, f"<{k} from stage triage>") for k in predictor.signature.input_fields}
        assert adapter.format(predictor.signature, predictor.demos, stage_inputs) == rendered.messages


def test_the_issue_payload_in_the_program_name_runs_nothing_in_a_fresh_interpreter(tmp_path):
    payload = 't""";import os;open("pwned","w").close();"""'
    spec = ProgramSpec(name=payload, stages=[StageSpec(
        name="triage", instructions=payload, inputs=[FieldSpec(name="text", description=payload)],
        outputs=[FieldSpec(name="label", type="literal", choices=[payload, "'''"])])])
    folder = tmp_path / "bundle"
    _write_bundle(folder, spec, build_program(spec).dump_state(), "compact")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = ("import importlib.util, sys\n"
              "s = importlib.util.spec_from_file_location('program', sys.argv[1])\n"
              "m = importlib.util.module_from_spec(s); s.loader.exec_module(m)\n"
              "m.load_program(); m.make_adapter()\n"
              "assert not [n for n in sys.modules if n == 'engine' or n.startswith('engine.')]\n"
              "print(m.PROGRAM_NAME)\n")
    result = subprocess.run([sys.executable, "-I", "-c", script, str(folder / "program.py")],
                            cwd=elsewhere, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == payload
    assert list(elsewhere.iterdir()) == [] and not (folder / "pwned").exists()


@pytest.mark.parametrize("name", ['a"""', "a b", "import", "1a", "a;b", "self\n", "\u00e9t\u00e9"])
def test_stage_and_field_names_must_be_identifiers(name):
    program = {"name": "p", "stages": [{"name": "s", "inputs": [{"name": "text"}], "outputs": [{"name": "label"}]}]}
    bad_stage = json.loads(json.dumps(program))
    bad_stage["stages"][0]["name"] = name
    bad_field = json.loads(json.dumps(program))
    bad_field["stages"][0]["inputs"][0]["name"] = name
    for data in (bad_stage, bad_field):
        with pytest.raises(ProgramError, match="identifier|must start with a letter"):
            parse_program(data)
