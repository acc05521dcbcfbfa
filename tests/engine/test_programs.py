import dspy
import pytest

from engine.errors import ProgramError
from engine.artifacts.program_source import program_source
from engine.programs import FieldSpec, ProgramSpec, StageSpec, build_program, parse_program, stage_from_signature


def two_stage_spec() -> ProgramSpec:
    triage = stage_from_signature("ticket_text, policy_context -> urgency: Literal['low', 'medium', 'high']",
                                  name="triage", instructions="Classify urgency.")
    reply = stage_from_signature("ticket_text, urgency: str -> reply, tags: list[str]", name="draft",
                                 instructions='Draft a reply; say "sorry" once.', module="cot")
    return ProgramSpec(name="support", stages=[triage, reply])


def test_signature_syntax_parses_types_and_choices():
    stage = stage_from_signature("text, n: int -> label: Literal['a', 'b'], ok: bool, score: float, tags: list[str]")
    assert [f.type for f in stage.inputs] == ["str", "int"]
    assert [f.type for f in stage.outputs] == ["literal", "bool", "float", "list[str]"]
    assert stage.outputs[0].choices == ["a", "b"]


def test_bad_signature_is_a_program_error_that_shows_the_syntax():
    with pytest.raises(ProgramError, match="does not parse"):
        stage_from_signature("text -> -> label")


def test_unsupported_type_is_named():
    with pytest.raises(ProgramError, match="dict"):
        stage_from_signature("text -> label: dict[str, int]")


def test_fingerprint_is_stable_and_changes_with_the_program():
    a, b = two_stage_spec(), two_stage_spec()
    assert a.fingerprint() == b.fingerprint()
    b.stages[0].instructions = "Something else."
    assert a.fingerprint() != b.fingerprint()


def test_program_inputs_exclude_fields_produced_by_earlier_stages():
    spec = two_stage_spec()
    assert spec.input_names == ["ticket_text", "policy_context"]
    assert spec.output_names == ["urgency", "reply", "tags"]


def test_a_stage_cannot_read_a_field_produced_later():
    spec = two_stage_spec().model_dump()
    spec["stages"].reverse()
    with pytest.raises(ProgramError, match="reorder"):
        parse_program(spec)


def test_literal_without_choices_is_rejected():
    with pytest.raises(ValueError, match="no choices"):
        FieldSpec(name="label", type="literal")


def test_chain_of_thought_may_not_declare_reasoning():
    with pytest.raises(ValueError, match="reasoning"):
        StageSpec(name="s", module="cot", inputs=[FieldSpec(name="q")], outputs=[FieldSpec(name="reasoning")])


def test_built_module_runs_stages_in_order_and_feeds_outputs_forward():
    spec = two_stage_spec()
    program = build_program(spec)
    assert [n for n, _ in program.named_predictors()] == ["triage", "draft.predict"]
    lm = dspy.utils.DummyLM([{"urgency": "high"}, {"reasoning": "r", "reply": "On it.", "tags": ["x"]}])
    with dspy.context(lm=lm):
        prediction = program(ticket_text="My heater is on fire", policy_context="Safety first.")
    assert prediction.urgency == "high" and prediction.reply == "On it." and prediction.tags == ["x"]
    # the second stage received the first stage's answer
    assert "high" in lm.history[-1]["messages"][-1]["content"]


def test_program_source_builds_the_same_module_with_plain_dspy(tmp_path):
    spec = two_stage_spec()
    path = tmp_path / "program.py"
    path.write_text(program_source(spec))
    namespace = {"__file__": str(path)}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    exported = namespace["build_program"]()
    ours = build_program(spec)
    assert namespace["PROGRAM_FINGERPRINT"] == spec.fingerprint()
    adapter = dspy.ChatAdapter()
    for (name_a, a), (name_b, b) in zip(ours.named_predictors(), exported.named_predictors(), strict=True):
        assert name_a == name_b
        inputs = {k: f"value of {k}" for k in a.signature.input_fields}
        assert adapter.format(a.signature, [], inputs) == adapter.format(b.signature, [], inputs)
