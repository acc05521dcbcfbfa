"""Metric specs: parsing, validation, comparison rules, feedback and the DSPy callables."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import MetricError
from engine.metrics import (
    Composite,
    ExactMatch,
    FieldMatch,
    Normalization,
    WeightedMetric,
    build_feedback_metric,
    build_metric,
    default_metric_for,
    describe,
    feedback,
    parse_metric,
    score,
    validate_metric,
    values_match,
)


def exact(field="label", **norm):
    return ExactMatch(field=field, normalize=Normalization(**norm))


# ---------------------------------------------------------------- normalisation


def test_default_normalisation_ignores_case_and_surrounding_and_repeated_whitespace():
    spec = exact()
    assert score(spec, {"label": "High Priority"}, {"label": "  high   priority\n"}) == 1.0


def test_lowercase_off_makes_the_match_case_sensitive():
    spec = exact(lowercase=False)
    assert score(spec, {"label": "High"}, {"label": "high"}) == 0.0
    assert score(spec, {"label": "High"}, {"label": "High"}) == 1.0


def test_strip_off_keeps_surrounding_whitespace_significant():
    assert score(exact(strip=False), {"label": "a"}, {"label": " a"}) == 0.0


def test_collapse_whitespace_off_keeps_inner_whitespace_significant():
    spec = exact(collapse_whitespace=False)
    assert score(spec, {"label": "a b"}, {"label": "a  b"}) == 0.0


def test_punctuation_counts_by_default_and_is_ignored_when_asked():
    gold, pred = {"label": "refund."}, {"label": "Refund!"}
    assert score(exact(), gold, pred) == 0.0
    assert score(exact(strip_punctuation=True), gold, pred) == 1.0


def test_nfkc_folds_compatibility_characters_unless_turned_off():
    gold, pred = {"label": "ｈｉｇｈ"}, {"label": "high"}  # full-width letters
    assert score(exact(), gold, pred) == 1.0
    assert score(exact(unicode_nfkc=False), gold, pred) == 0.0


# ---------------------------------------------------------------- value types


def test_lists_match_item_by_item_after_normalising_each_item():
    spec = exact("tags")
    assert score(spec, {"tags": ["Refund", "late "]}, {"tags": ["refund", "LATE"]}) == 1.0


def test_lists_are_order_sensitive_and_length_sensitive():
    spec = exact("tags")
    assert score(spec, {"tags": ["a", "b"]}, {"tags": ["b", "a"]}) == 0.0
    assert score(spec, {"tags": ["a", "b"]}, {"tags": ["a"]}) == 0.0
    assert score(spec, {"tags": ["a"]}, {"tags": "a"}) == 0.0


def test_a_json_list_string_matches_the_list_it_holds():
    assert values_match('["a", "B"]', ["A", "b"])


def test_numbers_match_by_value_across_strings_ints_and_floats():
    spec = exact("count")
    assert score(spec, {"count": "3"}, {"count": 3}) == 1.0
    assert score(spec, {"count": 3}, {"count": 3.0}) == 1.0
    assert score(spec, {"count": " 2.50"}, {"count": 2.5}) == 1.0
    assert score(spec, {"count": "3"}, {"count": 4}) == 0.0
    assert score(spec, {"count": "three"}, {"count": 3}) == 0.0


def test_bools_match_by_value_across_spellings():
    spec = exact("flag")
    assert score(spec, {"flag": "True"}, {"flag": True}) == 1.0
    assert score(spec, {"flag": "yes"}, {"flag": True}) == 1.0
    assert score(spec, {"flag": "false"}, {"flag": False}) == 1.0
    assert score(spec, {"flag": "true"}, {"flag": False}) == 0.0
    assert score(spec, {"flag": True}, {"flag": "maybe"}) == 0.0


def test_none_never_matches_not_even_none():
    spec = exact()
    assert score(spec, {"label": None}, {"label": None}) == 0.0
    assert score(spec, {"label": "x"}, {"label": None}) == 0.0
    assert score(spec, {"label": None}, {"label": "x"}) == 0.0
    assert score(spec, {"label": "x"}, {}) == 0.0  # a missing field is None
    assert not values_match(["a", None], ["a", None])


def test_gold_and_prediction_may_be_dspy_objects():
    import dspy

    example = dspy.Example(text="t", label="High").with_inputs("text")
    assert score(exact(), example, dspy.Prediction(label="high")) == 1.0
    assert score(exact(), example, dspy.Prediction(other="high")) == 0.0


def test_a_field_named_like_an_example_method_is_read_as_data_not_the_method():
    import dspy

    example = dspy.Example(text="t").with_inputs("text")  # no "keys" field; .keys is a method
    assert score(exact("keys"), example, dspy.Prediction(keys="x")) == 0.0


# ---------------------------------------------------------------- field match and composite


def test_field_match_is_the_mean_of_per_field_matches():
    spec = FieldMatch(fields=["a", "b", "c", "d"])
    gold = {"a": "1", "b": "2", "c": "3", "d": "4"}
    assert score(spec, gold, {"a": "1", "b": "2", "c": "x", "d": "4"}) == pytest.approx(0.75)
    assert score(spec, gold, {}) == 0.0


def test_composite_is_the_weighted_mean_with_weights_normalised_by_their_sum():
    spec = Composite(
        components=[
            WeightedMetric(weight=7, metric=exact("urgency")),
            WeightedMetric(weight=3, metric=exact("category")),
        ]
    )
    gold = {"urgency": "high", "category": "billing"}
    assert score(spec, gold, {"urgency": "high", "category": "refund"}) == pytest.approx(0.7)
    assert score(spec, gold, {"urgency": "low", "category": "billing"}) == pytest.approx(0.3)
    assert score(spec, gold, gold) == pytest.approx(1.0)


def test_composites_nest():
    inner = Composite(components=[WeightedMetric(weight=1, metric=exact("a")), WeightedMetric(weight=1, metric=exact("b"))])
    spec = Composite(components=[WeightedMetric(weight=1, metric=inner), WeightedMetric(weight=1, metric=exact("c"))])
    assert score(spec, {"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 0, "c": 3}) == pytest.approx(0.75)


def test_composite_rejects_non_positive_weights():
    with pytest.raises(MetricError, match=r"components\[0\]\.weight.*greater than 0"):
        parse_metric({"kind": "composite", "components": [{"weight": 0, "metric": {"kind": "exact_match", "field": "a"}}]})


# ---------------------------------------------------------------- parsing and serialisation


def test_specs_round_trip_through_plain_dicts():
    spec = Composite(
        components=[
            WeightedMetric(weight=0.7, metric=exact("urgency", strip_punctuation=True)),
            WeightedMetric(weight=0.3, metric=FieldMatch(fields=["a", "b"])),
        ]
    )
    data = spec.model_dump(exclude_defaults=False)
    assert data["components"][0]["metric"]["normalize"]["strip_punctuation"] is True
    assert parse_metric(data) == spec


def test_parse_fills_defaults():
    spec = parse_metric({"kind": "exact_match", "field": "label"})
    assert spec == ExactMatch(field="label")
    assert spec.normalize.lowercase is True


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"field": "a"}, "needs a 'kind': one of exact_match, field_match, llm_judge, token_f1, rouge, edit_similarity, contains, python, composite."),
        ({"kind": "fuzzy", "field": "a"}, "Metric kind 'fuzzy' is not known; use one of exact_match, field_match, llm_judge, token_f1, rouge, edit_similarity, contains, python, composite."),
        ({"kind": "exact_match"}, "The metric is missing the setting 'field'."),
        ({"kind": "exact_match", "field": "a", "feild": "b"}, "The metric setting 'feild' is not recognised; check its spelling."),
        ({"kind": "exact_match", "field": "a", "normalize": {"lowercase": "maybe"}}, "The metric setting 'normalize.lowercase' must be true or false, got 'maybe'."),
        ({"kind": "field_match", "fields": []}, "The metric setting 'fields' needs at least one entry, got []."),
        ({"kind": "field_match", "fields": ["a", "a"]}, "the field 'a' is listed twice"),
        (
            {"kind": "composite", "components": [{"weight": 1, "metric": {"kind": "exact_match"}}]},
            "The metric is missing the setting 'components[0].metric.field'.",
        ),
        (["exact_match"], "The metric must be a table of settings, got list."),
    ],
)
def test_parse_errors_are_one_readable_sentence(data, expected):
    with pytest.raises(MetricError) as info:
        parse_metric(data)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    assert "pydantic" not in message.lower() and "errors.pydantic.dev" not in message


def test_parse_error_counts_the_further_problems():
    data = {"kind": "composite", "components": [{"weight": "x", "metric": {"kind": "exact_match", "field": 3}}]}
    with pytest.raises(MetricError, match=r"1 more problem after this one\)\.$"):
        parse_metric(data)


# ---------------------------------------------------------------- validation against the program


def test_validate_accepts_metrics_on_output_fields():
    validate_metric(FieldMatch(fields=["urgency", "category"]), ["urgency", "category", "reason"])


def test_validate_names_the_unknown_field_and_lists_the_output_fields():
    with pytest.raises(MetricError) as info:
        validate_metric(exact("urgncy"), ["urgency", "category"])
    message = str(info.value)
    assert "'urgncy'" in message
    assert "urgency, category" in message
    assert "did you mean 'urgency'" in message


def test_validate_looks_inside_composites():
    spec = Composite(components=[WeightedMetric(weight=1, metric=exact("urgency")), WeightedMetric(weight=1, metric=exact("text"))])
    with pytest.raises(MetricError, match="'text' is not an output field"):
        validate_metric(spec, ["urgency"])


def test_default_metric_is_exact_match_for_one_output_and_field_match_for_several():
    assert default_metric_for(["label"]) == ExactMatch(field="label")
    assert default_metric_for(["a", "b"]) == FieldMatch(fields=["a", "b"])
    with pytest.raises(MetricError):
        default_metric_for([])


# ---------------------------------------------------------------- describe and feedback


def test_describe_reads_like_a_sentence():
    assert describe(exact("urgency")) == "exact match on urgency (lowercase, trimmed)"
    spec = Composite(
        components=[
            WeightedMetric(weight=7, metric=exact("urgency")),
            WeightedMetric(weight=3, metric=FieldMatch(fields=["a", "b"], normalize=Normalization(lowercase=False, strip_punctuation=True))),
        ]
    )
    assert describe(spec) == (
        "0.7 × exact match on urgency (lowercase, trimmed) + "
        "0.3 × mean exact match over a and b (case-sensitive, trimmed, punctuation ignored)"
    )


def test_feedback_names_each_wrong_field_with_the_expected_value():
    spec = FieldMatch(fields=["urgency", "category", "team"])
    value, text = feedback(
        spec,
        {"urgency": "high", "category": "billing", "team": "ops"},
        {"urgency": "low", "category": "billing"},
    )
    assert value == pytest.approx(1 / 3)
    assert text == "urgency: expected 'high', got 'low'. team: expected 'ops', got no value."


def test_feedback_says_all_fields_correct_on_full_marks():
    assert feedback(exact(), {"label": "A"}, {"label": "a"}) == (1.0, "All fields correct.")


def test_feedback_of_a_composite_mentions_a_shared_field_once():
    spec = Composite(components=[WeightedMetric(weight=1, metric=exact("a")), WeightedMetric(weight=1, metric=FieldMatch(fields=["a", "b"]))])
    value, text = feedback(spec, {"a": "x", "b": "y"}, {"a": "z", "b": "y"})
    assert value == pytest.approx(0.25)
    assert text == "a: expected 'x', got 'z'."


def test_feedback_truncates_long_values():
    _, text = feedback(exact(), {"label": "x" * 1000}, {"label": "y"})
    assert len(text) < 250


# ---------------------------------------------------------------- DSPy callables


def test_build_metric_returns_a_float_without_trace_and_a_bool_with_one():
    metric = build_metric(exact())
    assert metric({"label": "a"}, {"label": "A"}) == 1.0
    assert type(metric({"label": "a"}, {"label": "A"})) is float
    assert metric({"label": "a"}, {"label": "A"}, trace=[]) is True
    partial = build_metric(FieldMatch(fields=["a", "b"]))
    assert partial({"a": 1, "b": 2}, {"a": 1, "b": 3}) == 0.5
    assert partial({"a": 1, "b": 2}, {"a": 1, "b": 3}, trace=[]) is False


def test_built_metric_carries_its_spec_and_a_readable_name_and_pickles():
    spec = FieldMatch(fields=["urgency", "category"])
    metric = build_metric(spec)
    assert metric.spec == spec
    assert metric.__name__ == "field_match_urgency_category"
    for clone in (pickle.loads(pickle.dumps(metric)), copy.deepcopy(metric)):
        assert clone.spec == spec
        assert clone({"urgency": "a", "category": "b"}, {"urgency": "a", "category": "b"}) == 1.0


def test_build_metric_accepts_a_spec_dict():
    metric = build_metric({"kind": "exact_match", "field": "label"})
    assert metric.spec == ExactMatch(field="label")


def test_metric_scores_a_real_dspy_evaluate_run():
    import dspy
    from dspy.utils import DummyLM

    devset = [
        dspy.Example(text="parcel late", label="late").with_inputs("text"),
        dspy.Example(text="want money back", label="refund").with_inputs("text"),
        dspy.Example(text="box crushed", label="damaged").with_inputs("text"),
        dspy.Example(text="where is it", label="late").with_inputs("text"),
    ]
    answers = [{"label": "Late"}, {"label": "refund "}, {"label": "lost"}, {"label": "late"}]
    program = dspy.Predict("text -> label")
    with dspy.context(lm=DummyLM(answers)):
        result = dspy.Evaluate(devset=devset, metric=build_metric(exact()), num_threads=1)(program)
    assert result.score == pytest.approx(75.0)
    assert [s for *_, s in result.results] == [1.0, 1.0, 0.0, 1.0]


def test_feedback_metric_returns_a_prediction_with_score_and_feedback():
    import dspy

    metric = build_feedback_metric(exact("urgency"))
    out = metric(dspy.Example(urgency="high"), dspy.Prediction(urgency="low"), None, "predict", None)
    assert isinstance(out, dspy.Prediction)
    assert out.score == 0.0
    assert out.feedback == "urgency: expected 'high', got 'low'."
    good = metric({"urgency": "high"}, {"urgency": "HIGH"})
    assert (good.score, good.feedback) == (1.0, "All fields correct.")
    pickle.loads(pickle.dumps(metric))


def test_feedback_metric_has_the_five_argument_signature_gepa_checks():
    import inspect

    inspect.signature(build_feedback_metric(exact())).bind(None, None, None, None, None)


def test_importing_metrics_does_not_import_dspy_or_qt():
    code = "import sys, engine.metrics; print(any(m == 'dspy' or m.startswith(('dspy.', 'PySide6')) for m in sys.modules))"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "False"
