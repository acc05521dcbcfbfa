"""The LLM judge as a DSPy program, its prompt, its calls, and the text metrics beside it."""

from typing import Literal, get_args, get_origin

import pytest

from engine import metrics
from engine.errors import MetricError

JUDGE = {"kind": "llm_judge", "rubric": "The urgency fits the ticket's deadline.",
         "inputs": ["ticket_text"], "gold": ["urgency"], "outputs": ["urgency"]}


def test_judge_program_sees_inputs_gold_and_outputs_and_answers_a_literal():
    from engine.judge import build_judge_program

    program = build_judge_program(metrics.parse_metric(JUDGE))
    sig = program.signature
    assert list(sig.input_fields) == ["ticket_text", "expected_urgency", "urgency"]
    assert list(sig.output_fields) == ["verdict"]
    annotation = sig.output_fields["verdict"].annotation
    assert get_origin(annotation) is Literal and get_args(annotation) == ("pass", "fail")
    assert "The urgency fits the ticket's deadline." in sig.instructions


def test_a_1_to_5_judge_maps_its_scale_onto_0_to_1():
    from engine.judge import build_judge_program, verdict_value

    spec = metrics.parse_metric({**JUDGE, "verdict": "scale_1_5"})
    annotation = build_judge_program(spec).signature.output_fields["verdict"].annotation
    assert get_args(annotation) == ("1", "2", "3", "4", "5")
    assert [verdict_value(spec, s) for s in "12345"] == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_judge_verdict_field_avoids_a_program_field_named_verdict():
    from engine.judge import verdict_field

    spec = metrics.parse_metric({"kind": "llm_judge", "rubric": "r", "outputs": ["verdict"]})
    assert verdict_field(spec) == "judge_verdict"


def test_judge_prompt_renders_offline_with_the_example_and_the_prediction(sample_project):
    from engine.judge import judge_prompt_messages

    spec = metrics.parse_metric(JUDGE)
    messages = judge_prompt_messages(sample_project, spec, {"ticket_text": "My oven is on fire", "urgency": "high"},
                                     {"urgency": "low"})
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert "ticket_text: My oven is on fire" in user
    assert "expected_urgency: high" in user and "\nurgency: low" in user
    assert '"pass"' in messages[0]["content"] and "Rubric: The urgency fits" in user


def test_judge_outside_a_prepared_run_says_what_to_do():
    with pytest.raises(MetricError, match="scores only inside a compile, evaluation or calibration run"):
        metrics.score(metrics.parse_metric(JUDGE), {"urgency": "low"}, {"urgency": "low"})


def test_two_judges_in_one_metric_are_refused():
    spec = {"kind": "composite", "components": [{"weight": 1, "metric": JUDGE}, {"weight": 1, "metric": JUDGE}]}
    with pytest.raises(MetricError, match="can hold one"):
        metrics.validate_metric(metrics.parse_metric(spec), ["urgency"])


def test_judge_input_must_be_a_program_input():
    spec = metrics.parse_metric({**JUDGE, "inputs": ["ticket"]})
    with pytest.raises(MetricError, match="'ticket' is not an input field"):
        metrics.validate_metric(spec, ["urgency"], ["ticket_text", "policy_context"])


def test_judge_scores_through_the_run_meter_and_is_counted_apart(sample_project, scripted_connect):
    import dspy

    from engine.jobs.instrument import RunMeter
    from engine.lms.connect import connect
    from engine.metric_context import prepare_metric_context

    scripted = scripted_connect(rules={"urgency: high": {"verdict": "pass"}}, default={"verdict": "fail"})
    spec = metrics.parse_metric(JUDGE)
    context = prepare_metric_context(sample_project, spec, check_calibration=False)
    meter = RunMeter()
    conn = connect(sample_project.profile("embedded"))
    with dspy.context(lm=conn.lm, adapter=conn.adapter), meter.context(), context.activated():
        passed = metrics.score(spec, {"ticket_text": "fire", "urgency": "high"}, {"urgency": "high"})
        failed = metrics.score(spec, {"ticket_text": "late", "urgency": "low"}, {"urgency": "low"})
        again = metrics.score(spec, {"ticket_text": "fire", "urgency": "high"}, {"urgency": "high"})
    assert (passed, failed, again) == (1.0, 0.0, 1.0)
    assert scripted.calls == 3  # no cache configured here: three real calls
    assert meter.real_calls == 3 and meter.logical_calls == 3  # the run's meter saw every judge call
    counts = context.counts()
    assert counts["judge_calls"] == 3 and counts["judge_tokens"] == meter.tokens


def test_a_cancel_stops_the_judge_at_its_next_call(sample_project, scripted_connect):
    import dspy

    from engine.jobs.control import CancelToken, RunCancelled
    from engine.jobs.instrument import RunMeter
    from engine.metric_context import prepare_metric_context

    scripted = scripted_connect(default={"verdict": "pass"})
    spec = metrics.parse_metric(JUDGE)
    context = prepare_metric_context(sample_project, spec, check_calibration=False)
    cancel = CancelToken()
    cancel.cancel()
    with dspy.context(), RunMeter(cancel=cancel).context(), context.activated(), pytest.raises(RunCancelled):
        metrics.score(spec, {"urgency": "high"}, {"urgency": "high"})
    assert scripted.calls == 0


# -- text metrics -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("gold", "pred", "expected"), [
    ("The cat sat on the mat", "the cat sat", 2 / 3),  # articles go: cat sat on mat vs cat sat
    ("Refund issued.", "refund issued", 1.0),
    ("Refund issued", "store credit", 0.0),
])
def test_token_f1_is_squad_style_overlap(gold, pred, expected):
    spec = metrics.parse_metric({"kind": "token_f1", "field": "answer"})
    assert metrics.score(spec, {"answer": gold}, {"answer": pred}) == pytest.approx(expected)


def test_token_f1_agrees_with_dspys_squad_f1():
    from dspy.evaluate.metrics import f1_score

    spec = metrics.parse_metric({"kind": "token_f1", "field": "a"})
    gold, pred = "We will refund the $40 shipping fee under policy RP-12.", "Refund of the shipping fee (RP-12) approved"
    assert metrics.score(spec, {"a": gold}, {"a": pred}) == pytest.approx(f1_score(pred, gold))


def test_contains_needs_every_pattern_and_says_which_is_missing():
    spec = metrics.parse_metric({"kind": "contains", "field": "resolution", "patterns": ["RP-12", "refund"]})
    assert metrics.score(spec, {}, {"resolution": "Under rp-12 we will REFUND you."}) == 1.0
    value, text = metrics.feedback(spec, {}, {"resolution": "Under RP-12 we will send a credit."})
    assert value == 0.0 and '"refund"' in text and "RP-12" not in text.split("contain")[1]


def test_contains_with_regular_expressions_and_case():
    spec = metrics.parse_metric({"kind": "contains", "field": "r", "patterns": [r"\b[A-Z]{2}-\d+\b"], "regex": True,
                                 "case_sensitive": True})
    assert metrics.score(spec, {}, {"r": "see policy SH-4"}) == 1.0
    assert metrics.score(spec, {}, {"r": "see policy sh-4"}) == 0.0


def test_a_pattern_that_is_not_a_regular_expression_is_one_sentence():
    with pytest.raises(MetricError, match=r'regular expression "\(" is invalid'):
        metrics.parse_metric({"kind": "contains", "field": "r", "patterns": ["("], "regex": True})


def test_new_kinds_work_inside_a_composite():
    spec = metrics.parse_metric({"kind": "composite", "components": [
        {"weight": 3, "metric": {"kind": "token_f1", "field": "a"}},
        {"weight": 1, "metric": {"kind": "contains", "field": "a", "patterns": ["xyz"]}},
    ]})
    assert metrics.score(spec, {"a": "refund issued"}, {"a": "refund issued"}) == pytest.approx(0.75)
    assert metrics.referenced_fields(spec) == ["a"]
    assert "token F1 on a" in metrics.describe(spec) and 'a contains "xyz"' in metrics.describe(spec)


def test_new_kinds_round_trip_through_project_toml_dicts():
    for data in (JUDGE, {"kind": "token_f1", "field": "a", "normalization": "lowercase"},
                 {"kind": "contains", "field": "a", "patterns": ["x"], "regex": True},
                 {"kind": "python", "path": "metric.py", "function": "score"}):
        spec = metrics.parse_metric(data)
        assert metrics.parse_metric(spec.model_dump(mode="json")) == spec


def test_rouge_is_rouge_scores_own_figure():
    from rouge_score import rouge_scorer

    gold, pred = "We refund the shipping fee under RP-12.", "The shipping fee is refunded (RP-12)."
    expected = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True).score(gold, pred)["rougeL"].fmeasure
    spec = metrics.parse_metric({"kind": "rouge", "field": "a"})
    value = metrics.score(spec, {"a": gold}, {"a": pred})
    assert value == pytest.approx(expected) and 0 < value < 1
    assert metrics.score(spec, {"a": gold}, {"a": gold}) == 1.0
    assert metrics.describe(spec) == "ROUGE-L on a (stemmed)"


def test_edit_similarity_costs_a_typo_a_little():
    spec = metrics.parse_metric({"kind": "edit_similarity", "field": "name"})
    assert metrics.score(spec, {"name": "Jonathan"}, {"name": "jonathan"}) == 1.0  # lowercase by default
    assert metrics.score(spec, {"name": "Jonathan"}, {"name": "Jonathon"}) == pytest.approx(7 / 8)
    assert metrics.score(spec, {"name": "Jonathan"}, {"name": None}) == 0.0


def test_on_a_choice_scoring_engine_the_judges_verdict_is_a_scored_choice():
    from types import SimpleNamespace

    from engine.adapters.compact import CHOICE_SCORING, CompactAdapter
    from engine.judge import build_judge_program

    program = build_judge_program(metrics.parse_metric(JUDGE))
    lm = SimpleNamespace(_engine_spec=SimpleNamespace(scores_choices=True), kwargs={})
    request = CompactAdapter()._lm_kwargs(lm, {}, program.signature, [])
    scoring = request["response_format"]["json_schema"]["schema"][CHOICE_SCORING]
    assert scoring["field"] == "verdict" and scoring["choices"] == ["pass", "fail"]
