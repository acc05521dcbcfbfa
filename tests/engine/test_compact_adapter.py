import json

import dspy
import pytest
from dspy.utils.exceptions import AdapterParseError

from engine.adapters.compact import (
    CHOICE_SCORING, CompactAdapter, choice_field, order_demos, output_schema, parse_answer, user_message,
)
from engine.programs import build_signature, stage_from_signature

SIGNATURE = build_signature(stage_from_signature(
    "ticket_text, policy_context -> urgency: Literal['low', 'medium', 'high']",
    name="triage", instructions="Decide the urgency."))


def demo(text, label):
    return dspy.Example(ticket_text=text, policy_context="p", urgency=label)


def test_zero_shot_prompt_is_the_answer_shape_then_the_instructions_before_plain_input_lines():
    # a small model heeds the task it reads right before the input (user_message)
    messages = CompactAdapter().format(SIGNATURE, [], {"ticket_text": "Late again", "policy_context": "Credit $5"})
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"] == (
        "Inputs:\n- ticket_text\n- policy_context\n\n"
        "Answer with one JSON object and nothing else, with these keys:\n"
        '- urgency (one of "low", "medium", "high")'
    )
    assert messages[1]["content"] == "Decide the urgency.\n\nticket_text: Late again\npolicy_context: Credit $5"


def test_with_demos_the_instructions_open_the_system_message_and_still_lead_the_inputs():
    messages = CompactAdapter().format(SIGNATURE, [demo("a", "low")], {"ticket_text": "Late", "policy_context": "p"})
    assert messages[0]["content"].startswith("Decide the urgency.\n\nInputs:")
    assert messages[1]["content"] == "Decide the urgency.\n\nticket_text: Late\npolicy_context: p"


def test_demos_without_any_answer_count_as_no_demos():
    messages = CompactAdapter().format(SIGNATURE, [dspy.Example(ticket_text="a", policy_context="p")],
                                       {"ticket_text": "x", "policy_context": "y"})
    assert "Examples" not in messages[0]["content"]
    assert messages[1]["content"].startswith("Decide the urgency.")


def test_demos_live_in_the_system_message_not_as_chat_turns():
    demos = [demo("a", "low"), demo("b", "high")]
    messages = CompactAdapter().format(SIGNATURE, demos, {"ticket_text": "x", "policy_context": "y"})
    assert len(messages) == 2
    assert 'Answer: {"urgency": "high"}' in messages[0]["content"]


def test_system_message_does_not_depend_on_the_inputs():
    # one shared prefix for every call is what lets llama.cpp reuse its evaluated prompt
    demos = [demo("a", "low")]
    first = CompactAdapter().format(SIGNATURE, demos, {"ticket_text": "x", "policy_context": "y"})
    second = CompactAdapter().format(SIGNATURE, demos, {"ticket_text": "other", "policy_context": "z"})
    assert first[0] == second[0]


def test_demo_order_interleaves_answers_and_ends_with_the_rarest():
    # a small model copies the answers nearest the input: the commonest go first, the rarest last
    demos = [demo(str(i), "low") for i in range(3)] + [demo("h1", "high"), demo("h2", "high"), demo("m1", "medium")]
    ordered = [d.urgency for d in order_demos(SIGNATURE, demos)]
    assert ordered == ["low", "low", "high", "low", "high", "medium"]
    assert sorted(ordered) == sorted(d.urgency for d in demos)


def test_the_whole_prompt_is_pinned():
    messages = CompactAdapter().format(SIGNATURE, [demo("a", "low")], {"ticket_text": "x", "policy_context": "y"})
    assert messages[1]["content"] == "Decide the urgency.\n\nticket_text: x\npolicy_context: y"
    assert messages[0]["content"] == (
        "Decide the urgency.\n\nInputs:\n- ticket_text\n- policy_context\n\n"
        "Answer with one JSON object and nothing else, with these keys:\n"
        '- urgency (one of "low", "medium", "high")\n\n'
        'Examples:\n\nticket_text: a\npolicy_context: p\nAnswer: {"urgency": "low"}'
    )


def test_output_field_descriptions_are_rendered_as_label_definitions():
    from engine.programs import FieldSpec, StageSpec

    sig = build_signature(StageSpec(name="c", instructions="Classify.", inputs=[FieldSpec(name="text")], outputs=[
        FieldSpec(name="label", type="literal", choices=["a", "b"], description="a: apples; b: bananas")]))
    system = CompactAdapter().format(sig, [], {"text": "t"})[0]["content"]
    assert '- label (one of "a", "b"): a: apples; b: bananas' in system


def test_schema_constrains_literals_and_requires_every_output():
    schema = output_schema(SIGNATURE)
    assert schema["properties"]["urgency"] == {"type": "string", "enum": ["low", "medium", "high"]}
    assert schema["required"] == ["urgency"] and schema["additionalProperties"] is False


def test_every_call_carries_the_schema_as_response_format():
    lm = dspy.utils.DummyLM([{"urgency": "low"}], adapter=dspy.JSONAdapter())
    with dspy.context(lm=lm, adapter=CompactAdapter()):
        assert dspy.Predict(SIGNATURE)(ticket_text="t", policy_context="p").urgency == "low"
    sent = lm.history[-1]["kwargs"]["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["schema"] == output_schema(SIGNATURE)


def _scoring_lm():
    # what the adapter reads of an LM whose engine scores choices (engine/lms/embedded.py)
    from types import SimpleNamespace

    return SimpleNamespace(_engine_spec=SimpleNamespace(scores_choices=True), kwargs={})


def test_an_engine_that_scores_choices_is_asked_to_calibrate_on_content_free_and_the_demos_inputs():
    demos = [demo("a", "low"), demo("b", "high")]
    kwargs = CompactAdapter()._lm_kwargs(_scoring_lm(), {}, SIGNATURE, demos)
    schema = kwargs["response_format"]["json_schema"]["schema"]
    assert schema[CHOICE_SCORING] == {
        "field": "urgency", "choices": ["low", "medium", "high"],
        "calibration": [user_message(SIGNATURE, {"ticket_text": t, "policy_context": t}) for t in ("N/A", "", "[MASK]")]
        + [user_message(SIGNATURE, {"ticket_text": t, "policy_context": "p"}) for t in ("a", "b")],
    }
    assert {k: v for k, v in schema.items() if k != CHOICE_SCORING} == output_schema(SIGNATURE)


def test_unlabelled_inputs_given_to_the_adapter_are_calibrated_on_when_they_fit_the_signature():
    adapter = CompactAdapter(calibration_inputs=[{"ticket_text": "u", "policy_context": "v", "urgency": "low"},
                                                 {"ticket_text": "only one field"}])
    kwargs = adapter._lm_kwargs(_scoring_lm(), {}, SIGNATURE, [demo("a", "low")])
    calibration = kwargs["response_format"]["json_schema"]["schema"][CHOICE_SCORING]["calibration"]
    assert calibration[3:] == [user_message(SIGNATURE, {"ticket_text": "a", "policy_context": "p"}),
                               user_message(SIGNATURE, {"ticket_text": "u", "policy_context": "v"})]
    assert "low" not in calibration[-1]  # the label never reaches the engine


def test_without_demos_the_calibration_inputs_are_only_content_free():
    kwargs = CompactAdapter()._lm_kwargs(_scoring_lm(), {}, SIGNATURE, [])
    calibration = kwargs["response_format"]["json_schema"]["schema"][CHOICE_SCORING]["calibration"]
    assert calibration[0] == "Decide the urgency.\n\nticket_text: N/A\npolicy_context: N/A"
    assert len(calibration) == 3


def test_choice_scoring_is_asked_only_of_engines_that_score_and_only_for_one_literal_output():
    from types import SimpleNamespace

    plain = CompactAdapter()._lm_kwargs(SimpleNamespace(kwargs={}), {}, SIGNATURE, [])
    assert CHOICE_SCORING not in plain["response_format"]["json_schema"]["schema"]
    assert choice_field(SIGNATURE) == ("urgency", ["low", "medium", "high"])
    for text in ("q -> a", "q -> a: Literal['x', 'y'], b", "q -> n: int"):
        sig = build_signature(stage_from_signature(text))
        assert choice_field(sig) is None
        assert CHOICE_SCORING not in CompactAdapter()._lm_kwargs(_scoring_lm(), {}, sig, [])[
            "response_format"]["json_schema"]["schema"]
    cot = dspy.ChainOfThought(SIGNATURE).predict.signature  # reasoning is a second output
    assert choice_field(cot) is None


@pytest.mark.parametrize("completion, expected", [
    ('{"urgency": "high"}', "high"),
    ('{ "urgency" : "HIGH" }', "high"),
    ('Sure! {"urgency": "low"} hope that helps', "low"),
])
def test_parse_accepts_json_answers(completion, expected):
    assert parse_answer(SIGNATURE, completion) == {"urgency": expected}


@pytest.mark.parametrize("completion", ['{"priority": "high"}', "high", '{"urgency": "urgent"}', "[1, 2]"])
def test_parse_rejects_what_is_not_a_valid_answer(completion):
    with pytest.raises(AdapterParseError):
        parse_answer(SIGNATURE, completion)


def test_parse_types_numbers_bools_and_lists():
    sig = build_signature(stage_from_signature("q -> n: int, ok: bool, tags: list[str], x: float"))
    parsed = parse_answer(sig, json.dumps({"n": "3", "ok": True, "tags": ["a", "b"], "x": 0.5}))
    assert parsed == {"n": 3, "ok": True, "tags": ["a", "b"], "x": 0.5}


def test_chain_of_thought_reasoning_is_bounded_in_the_schema():
    cot = dspy.ChainOfThought(SIGNATURE)
    schema = output_schema(cot.predict.signature)
    assert list(schema["properties"]) == ["reasoning", "urgency"]
    assert schema["properties"]["reasoning"]["maxLength"] > 0


def test_free_text_fields_are_bounded_so_the_answer_fits_max_tokens():
    sig = build_signature(stage_from_signature("q -> summary, label: Literal['a', 'b'], note"))
    schema = output_schema(sig, max_tokens=256)
    assert schema["properties"]["label"] == {"type": "string", "enum": ["a", "b"]}
    budget = schema["properties"]["summary"]["maxLength"] + schema["properties"]["note"]["maxLength"]
    assert 0 < budget <= 256 * 2
    assert "maxLength" not in output_schema(sig)["properties"]["summary"]


def test_the_call_bounds_text_by_the_lm_max_tokens():
    sig = build_signature(stage_from_signature("q -> summary"))
    lm = dspy.utils.DummyLM([{"summary": "short"}], adapter=dspy.JSONAdapter())
    with dspy.context(lm=lm, adapter=CompactAdapter()):
        dspy.Predict(sig)(q="x")
    sent = lm.history[-1]["kwargs"]["response_format"]["json_schema"]["schema"]
    assert sent["properties"]["summary"]["maxLength"] == (1000 - 8) * 2


class _RecordingEngine:
    """A DSPy 3.4 engine answering "low", keeping each request: what a real LM hands its engine."""

    def __init__(self, scores_choices):
        if scores_choices:
            self.scores_choices = True
        self.requests = []

    def complete(self, request):
        from dspy.lm15 import Message, Response, TextPart, Usage

        self.requests.append(request)
        return Response(id=None, model="m", message=Message.assistant([TextPart('{"urgency": "low"}')]),
                        finish_reason="stop", usage=Usage(input_tokens=1, output_tokens=1, total_tokens=2))

    def stream(self, request):
        from dspy.lm15 import response_to_events

        return response_to_events(self.complete(request))


@pytest.mark.parametrize("scores", [True, False])
def test_a_real_dspy_lm_carries_the_scoring_request_to_its_engine_only_if_the_engine_scores(scores):
    engine = _RecordingEngine(scores)
    lm = dspy.LM("openai/m", engine=engine, cache=False)
    adapter = CompactAdapter(calibration_inputs=[{"ticket_text": "u", "policy_context": "v"}])
    with dspy.context(lm=lm, adapter=adapter):
        for text in ("a", "b"):
            assert dspy.Predict(SIGNATURE)(ticket_text=text, policy_context="p").urgency == "low"
    schemas = [r.config.response_format["schema"] for r in engine.requests]
    assert (CHOICE_SCORING in schemas[0]) is scores
    if scores:
        assert schemas[0][CHOICE_SCORING]["calibration"][-1] == user_message(
            SIGNATURE, {"ticket_text": "u", "policy_context": "v"})
        sent = [h["kwargs"]["response_format"] for h in lm.history[-2:]]
        assert sent[0] is sent[1]  # one scoring request per program state, not one per call
