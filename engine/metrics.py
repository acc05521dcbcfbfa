"""Metrics as data: specs that live in `project.toml`, built into DSPy metric callables.

A metric spec is a small pydantic model tagged by `kind`. Specs round-trip through
TOML-friendly dicts (`spec.model_dump()` / `parse_metric(data)`), so the GUI can edit them and
the project file stores them. `build_metric(spec)` turns a spec into the callable DSPy
optimizers and `dspy.Evaluate` expect; `build_feedback_metric(spec)` into GEPA's feedback form.

Comparing values
----------------
Gold and predicted values may be `str`, `int`, `float`, `bool` or a list of those:

* `None` (or a missing field) never matches, not even another `None`.
* Strings are compared after the spec's `Normalization`, applied in this order: Unicode NFKC,
  lowercase (Unicode case folding), punctuation removal, whitespace collapsing, trimming.
* When either side is a bool, the other side is read as a bool too (`"true"/"yes"/"1"`,
  `"false"/"no"/"0"`, any case); when either side is a number, the other is read as a number
  (`"3"` matches `3` and `3.0`). Numbers are equal when `math.isclose(rel_tol=1e-9)`. A string
  that cannot be read that way is compared as normalised text with the other side's string form.
* Lists (and tuples) match when they have the same length and match item by item, in order. A
  string that holds a JSON list (e.g. a CSV cell `["a", "b"]`) is read as that list.

Adding a kind: write its model with `referenced_fields`, `describe`, `short_name` and
`evaluate` methods and add it to `MetricSpec`, the one union below.

Kinds that need more than the two values: `llm_judge` (an LM) and `python` (a trusted file of
the user's) score only inside an active `engine.metric_context.MetricContext`, which the jobs
build before a run and carry into DSPy's threads through `dspy.context`; outside one they raise
MetricError. `token_f1`, `rouge` (rouge-score), `edit_similarity` (rapidfuzz) and `contains` need
nothing more.

This module imports DSPy only inside the functions that build DSPy objects.
"""

from __future__ import annotations

import difflib
import enum
import functools
import json
import math
import numbers
import re
import typing
import unicodedata
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_serializer, model_validator

from engine.errors import MetricError

__all__ = [
    "Normalization",
    "ExactMatch",
    "FieldMatch",
    "LLMJudge",
    "TokenF1",
    "Rouge",
    "EditSimilarity",
    "Contains",
    "PythonMetric",
    "judge_specs",
    "python_specs",
    "Composite",
    "WeightedMetric",
    "MetricSpec",
    "METRIC_KINDS",
    "parse_metric",
    "validate_metric",
    "referenced_fields",
    "describe",
    "score",
    "feedback",
    "build_metric",
    "build_feedback_metric",
    "default_metric_for",
    "values_match",
    "WorkbenchMetric",
    "WorkbenchFeedbackMetric",
]

# A bootstrapped demo is kept only when the example scores (numerically) full marks.
PASS_THRESHOLD = 1.0 - 1e-9

_ALL_CORRECT = "All fields correct."
_MAX_SHOWN = 160  # characters of a value quoted in feedback


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------------------------
# Normalisation and value comparison
# --------------------------------------------------------------------------------------------


class Normalization(_Spec):
    """How strings are normalised before comparison (see the module docstring for the order)."""

    lowercase: bool = True
    strip: bool = True
    collapse_whitespace: bool = True
    strip_punctuation: bool = False
    unicode_nfkc: bool = True

    def apply(self, text: str) -> str:
        if self.unicode_nfkc:
            text = unicodedata.normalize("NFKC", text)
        if self.lowercase:
            text = text.casefold()
        if self.strip_punctuation:
            text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
        if self.collapse_whitespace:
            text = re.sub(r"\s+", " ", text)
        if self.strip:
            text = text.strip()
        return text

    def describe(self) -> str:
        """'lowercase, trimmed' for the defaults; settings that are on by default and invisible
        (whitespace collapsing, NFKC) are only mentioned when turned off."""
        parts = ["lowercase" if self.lowercase else "case-sensitive"]
        if self.strip:
            parts.append("trimmed")
        if self.strip_punctuation:
            parts.append("punctuation ignored")
        if not self.collapse_whitespace:
            parts.append("inner whitespace kept")
        if not self.unicode_nfkc:
            parts.append("no Unicode normalisation")
        return ", ".join(parts)


_TRUE_WORDS = frozenset({"true", "yes", "1"})
_FALSE_WORDS = frozenset({"false", "no", "0"})


def _plain(value: Any) -> Any:
    """Unwrap enums and read JSON-list strings, so values compare by what they mean."""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            try:
                decoded = json.loads(stripped)
            except ValueError:
                return value
            if isinstance(decoded, list):
                return decoded
    return value


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Real):
        return None if value not in (0, 1) else bool(value)
    if isinstance(value, str):
        word = unicodedata.normalize("NFKC", value).strip().casefold()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    return None


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, str):
        try:
            return float(unicodedata.normalize("NFKC", value).strip())
        except ValueError:
            return None
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def values_match(gold: Any, pred: Any, normalize: Normalization | None = None) -> bool:
    """True when `pred` matches `gold` under `normalize` (the rules are in the module docstring)."""
    norm = normalize if normalize is not None else Normalization()
    gold, pred = _plain(gold), _plain(pred)
    if gold is None or pred is None:
        return False
    gold_list = isinstance(gold, (list, tuple))
    pred_list = isinstance(pred, (list, tuple))
    if gold_list or pred_list:
        if not (gold_list and pred_list) or len(gold) != len(pred):
            return False
        return all(values_match(g, p, norm) for g, p in zip(gold, pred, strict=True))
    if isinstance(gold, Mapping) or isinstance(pred, Mapping):
        if not (isinstance(gold, Mapping) and isinstance(pred, Mapping)):
            return False
        if set(gold) != set(pred):
            return False
        return all(values_match(gold[key], pred[key], norm) for key in gold)
    if isinstance(gold, bool) or isinstance(pred, bool):
        g, p = _as_bool(gold), _as_bool(pred)
        if g is not None and p is not None:
            return g == p
    if _is_number(gold) or _is_number(pred):
        g, p = _as_number(gold), _as_number(pred)
        if g is not None and p is not None:
            if math.isnan(g) or math.isnan(p):
                return False
            return math.isclose(g, p, rel_tol=1e-9, abs_tol=1e-12)
    return norm.apply(_text(gold)) == norm.apply(_text(pred))


def _field_value(obj: Any, name: str) -> Any:
    """`obj[name]` or `obj.name`; None when absent. Never returns a method of `obj`."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    if hasattr(obj, "__getitem__"):
        try:
            return obj[name]
        except (KeyError, IndexError, TypeError):
            pass
    try:
        value = getattr(obj, name)
    except AttributeError:
        return None
    if callable(value) and not isinstance(value, (str, bytes, list, tuple, Mapping)):
        return None  # e.g. dspy.Example.keys: a method, not a field
    return value


def _shown(value: Any) -> str:
    text = repr(value)
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 3] + "..."
    return text


def _problem(field: str, gold: Any, pred: Any) -> str:
    if gold is None:
        return f"{field}: the example has no expected value (got {_shown(pred)})."
    if pred is None:
        return f"{field}: expected {_shown(gold)}, got no value."
    return f"{field}: expected {_shown(gold)}, got {_shown(pred)}."


def _in_quotes(texts: list[str]) -> str:
    return _join_names(['"' + t + '"' for t in texts])


def _join_names(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


# --------------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------------

_FieldName = Annotated[str, Field(min_length=1)]


class ExactMatch(_Spec):
    """1.0 when the one output field matches the gold value, else 0.0."""

    kind: Literal["exact_match"] = "exact_match"
    field: _FieldName
    normalize: Normalization = Normalization()

    def referenced_fields(self) -> list[str]:
        return [self.field]

    def describe(self) -> str:
        return f"exact match on {self.field} ({self.normalize.describe()})"

    def short_name(self) -> str:
        return f"exact_match_{self.field}"

    def evaluate(self, gold: Any, pred: Any) -> tuple[float, list[str]]:
        g, p = _field_value(gold, self.field), _field_value(pred, self.field)
        if values_match(g, p, self.normalize):
            return 1.0, []
        return 0.0, [_problem(self.field, g, p)]


class FieldMatch(_Spec):
    """The mean over `fields` of an exact match per field (for multi-output programs)."""

    kind: Literal["field_match"] = "field_match"
    fields: list[_FieldName] = Field(min_length=1)
    normalize: Normalization = Normalization()

    @field_validator("fields")
    @classmethod
    def _no_repeats(cls, fields: list[str]) -> list[str]:
        seen: set[str] = set()
        for name in fields:
            if name in seen:
                raise ValueError(f"the field '{name}' is listed twice")
            seen.add(name)
        return fields

    def referenced_fields(self) -> list[str]:
        return list(self.fields)

    def describe(self) -> str:
        if len(self.fields) == 1:
            return f"exact match on {self.fields[0]} ({self.normalize.describe()})"
        return f"mean exact match over {_join_names(self.fields)} ({self.normalize.describe()})"

    def short_name(self) -> str:
        return "field_match_" + "_".join(self.fields)

    def evaluate(self, gold: Any, pred: Any) -> tuple[float, list[str]]:
        problems = []
        for name in self.fields:
            g, p = _field_value(gold, name), _field_value(pred, name)
            if not values_match(g, p, self.normalize):
                problems.append(_problem(name, g, p))
        return (len(self.fields) - len(problems)) / len(self.fields), problems


class LLMJudge(_Spec):
    """A model reads the rubric and the chosen fields and says pass/fail (1 / 0) or 1-5 (0..1).

    The judge is a DSPy program of the engine's own (engine/judge.py). Before a compile or an
    evaluation trusts it, it must agree with people: engine/calibration.py.
    """

    kind: Literal["llm_judge"] = "llm_judge"
    rubric: Annotated[str, Field(min_length=1)]
    inputs: list[_FieldName] = Field(default_factory=list)
    gold: list[_FieldName] = Field(default_factory=list)
    outputs: list[_FieldName] = Field(min_length=1)
    verdict: Literal["pass_fail", "scale_1_5"] = "pass_fail"
    model: str | None = None
    calibration_threshold: float = Field(default=0.6, ge=-1.0, le=1.0, allow_inf_nan=False)

    @field_validator("rubric")
    @classmethod
    def _rubric_has_text(cls, rubric: str) -> str:
        if not rubric.strip():
            raise ValueError("the rubric is empty; say what a good answer does")
        return rubric

    @field_validator("inputs", "gold", "outputs")
    @classmethod
    def _no_repeated_fields(cls, fields: list[str]) -> list[str]:
        if len(set(fields)) != len(fields):
            raise ValueError("a field is listed twice")
        return fields

    @model_serializer(mode="wrap")
    def _without_unset_model(self, handler):
        data = handler(self)
        if isinstance(data, dict) and data.get("model") is None:
            data.pop("model", None)  # TOML has no null: no key means the project's model
        return data

    def referenced_fields(self) -> list[str]:
        return list(dict.fromkeys([*self.outputs, *self.gold]))

    def describe(self) -> str:
        verdict = "pass/fail" if self.verdict == "pass_fail" else "1-5"
        rubric = " ".join(self.rubric.split())
        if len(rubric) > 60:
            rubric = rubric[:57] + "..."
        model = f", model {self.model}" if self.model else ""
        return f"LLM judge ({verdict}{model}) of {_join_names(self.outputs)}: \"{rubric}\""

    def short_name(self) -> str:
        return "llm_judge_" + "_".join(self.outputs)

    def evaluate(self, gold: Any, pred: Any) -> tuple[float, list[str]]:
        from engine.metric_context import active_context

        return active_context(self).run_judge(self, gold, pred)


def _squad_tokens(text: str, normalization: str) -> list[str]:
    if normalization == "squad":
        from dspy.evaluate.metrics import normalize_text

        return normalize_text(text).split()
    if normalization == "lowercase":
        return unicodedata.normalize("NFKC", text).casefold().split()
    return text.split()


class TokenF1(_Spec):
    """SQuAD-style token overlap (F1 of the shared tokens) between the gold and predicted field.

    "squad" normalises as SQuAD's script does (dspy.evaluate.metrics.normalize_text: lowercase,
    punctuation and articles removed); "lowercase" only folds case; "none" compares raw tokens.
    """

    kind: Literal["token_f1"] = "token_f1"
    field: _FieldName
    normalization: Literal["squad", "lowercase", "none"] = "squad"

    def referenced_fields(self) -> list[str]:
        return [self.field]

    def describe(self) -> str:
        how = {"squad": "SQuAD-normalised", "lowercase": "lowercase", "none": "raw"}[self.normalization]
        return f"token F1 on {self.field} ({how})"

    def short_name(self) -> str:
        return f"token_f1_{self.field}"

    def evaluate(self, gold: Any, pred: Any) -> tuple[float, list[str]]:
        from collections import Counter

        g, p = _field_value(gold, self.field), _field_value(pred, self.field)
        if g is None or p is None:
            return 0.0, [_problem(self.field, g, p)]
        gold_tokens = _squad_tokens(_text(_plain(g)), self.normalization)
        pred_tokens = _squad_tokens(_text(_plain(p)), self.normalization)
        if not gold_tokens and not pred_tokens:
            return 1.0, []
        shared = sum((Counter(gold_tokens) & Counter(pred_tokens)).values())
        if shared == 0:
            return 0.0, [f"{self.field}: no words in common with the expected {_shown(g)}."]
        precision, recall = shared / len(pred_tokens), shared / len(gold_tokens)
        value = 2 * precision * recall / (precision + recall)
        if value >= PASS_THRESHOLD:
            return 1.0, []
        return value, [f"{self.field}: token F1 {value:.2f} against the expected {_shown(g)}."]


@functools.cache
def _rouge_scorer(variant: str, stemmer: bool):
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer([variant], use_stemmer=stemmer)


class Rouge(_Spec):
    """ROUGE F-measure between the gold and predicted field, as Google's `rouge-score` computes it
    (the reference reimplementation of ROUGE-1.5.5): unigrams, bigrams or the longest common subsequence."""

    kind: Literal["rouge"] = "rouge"
    field: _FieldName
    variant: Literal["rouge1", "rouge2", "rougeL"] = "rougeL"
    stemmer: bool = True

    def referenced_fields(self) -> list[str]:
        return [self.field]

    def describe(self) -> str:
        return f"{self.variant.replace('rouge', 'ROUGE-')} on {self.field}" + (" (stemmed)" if self.stemmer else "")

    def short_name(self) -> str:
        return f"{self.variant.lower()}_{self.field}"

    def evaluate(self, gold: Any, pred: Any) -> tuple[float, list[str]]:
        g, p = _field_value(gold, self.field), _field_value(pred, self.field)
        if g is None or p is None:
            return 0.0, [_problem(self.field, g, p)]
        value = _rouge_scorer(self.variant, self.stemmer).score(_text(_plain(g)), _text(_plain(p)))[self.variant].fmeasure
        if value >= PASS_THRESHOLD:
            return 1.0, []
        return value, [f"{self.field}: {self.describe().split(' on ')[0]} {value:.2f} against the expected {_shown(g)}."]


class EditSimilarity(_Spec):
    """1 - normalised Levenshtein distance between the gold and predicted field (rapidfuzz), after
    the spec's normalisation: for short text where a typo should cost a little, not everything."""

    kind: Literal["edit_similarity"] = "edit_similarity"
    field: _FieldName
    normalize: Normalization = Normalization()

    def referenced_fields(self) -> list[str]:
        return [self.field]

    def describe(self) -> str:
        return f"edit similarity on {self.field} ({self.normalize.describe()})"

    def short_name(self) -> str:
        return f"edit_similarity_{self.field}"

    def evaluate(self, gold: Any, pred: Any) -> tuple[float, list[str]]:
        from rapidfuzz.distance import Levenshtein

        g, p = _field_value(gold, self.field), _field_value(pred, self.field)
        if g is None or p is None:
            return 0.0, [_problem(self.field, g, p)]
        value = Levenshtein.normalized_similarity(self.normalize.apply(_text(_plain(g))),
                                                  self.normalize.apply(_text(_plain(p))))
        if value >= PASS_THRESHOLD:
            return 1.0, []
        return value, [f"{self.field}: edit similarity {value:.2f} to the expected {_shown(g)}."]

class Contains(_Spec):
    """1.0 when every pattern appears in the field (substrings, or regular expressions), else 0.0.

    For requirements that must hold whatever else a judge thinks, e.g. "mentions the policy
    number" (`patterns = ["POL-\\d{4}"]`, `regex = true`).
    """

    kind: Literal["contains"] = "contains"
    field: _FieldName
    patterns: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    regex: bool = False
    case_sensitive: bool = False

    @model_validator(mode="after")
    def _patterns_compile(self) -> Contains:
        if self.regex:
            for pattern in self.patterns:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"the regular expression \"{pattern}\" is invalid ({exc})") from None
        return self

    def referenced_fields(self) -> list[str]:
        return [self.field]

    def describe(self) -> str:
        what = "matches" if self.regex else "contains"
        shown = _in_quotes(self.patterns)
        return f"{self.field} {what} {shown}" + ("" if self.case_sensitive else " (any case)")

    def short_name(self) -> str:
        return f"contains_{self.field}"

    def missing(self, text: str) -> list[str]:
        flags = 0 if self.case_sensitive else re.IGNORECASE
        if self.regex:
            return [p for p in self.patterns if re.search(p, text, flags) is None]
        if self.case_sensitive:
            return [p for p in self.patterns if p not in text]
        folded = text.casefold()
        return [p for p in self.patterns if p.casefold() not in folded]

    def evaluate(self, gold: Any, pred: Any) -> tuple[float, list[str]]:
        p = _field_value(pred, self.field)
        if p is None:
            return 0.0, [f"{self.field}: no value, so it cannot contain {_in_quotes(self.patterns)}."]
        missing = self.missing(_text(_plain(p)))
        if not missing:
            return 1.0, []
        return 0.0, [f"{self.field}: does not {'match' if self.regex else 'contain'} "
                     f"{_in_quotes(missing)}."]


class PythonMetric(_Spec):
    """A function `(example, prediction, trace=None) -> float | bool` in the user's own file.

    It is code: it runs only once the user trusts that exact version of the file (engine/trust.py).
    `path` is relative to the project folder, or absolute for a file kept outside it.
    """

    kind: Literal["python"] = "python"
    path: _FieldName
    function: _FieldName
    fields: list[_FieldName] = Field(default_factory=list)  # output fields it reads, when known

    @field_validator("function")
    @classmethod
    def _function_is_a_name(cls, name: str) -> str:
        if not name.isidentifier():
            raise ValueError(f"{name!r} is not a Python function name")
        return name

    def referenced_fields(self) -> list[str]:
        return list(self.fields)

    def describe(self) -> str:
        return f"Python metric {self.function} in {self.path}"

    def short_name(self) -> str:
        return f"python_{self.function}"

    def evaluate(self, gold: Any, pred: Any) -> tuple[float, list[str]]:
        from engine.metric_context import active_context

        return active_context(self).run_python(self, gold, pred)


class WeightedMetric(_Spec):
    weight: float = Field(gt=0, allow_inf_nan=False)
    metric: MetricSpec


class Composite(_Spec):
    """A weighted mean of other metrics; weights are positive and normalised by their sum."""

    kind: Literal["composite"] = "composite"
    components: list[WeightedMetric] = Field(min_length=1)

    def normalized_weights(self) -> list[float]:
        total = sum(c.weight for c in self.components)
        return [c.weight / total for c in self.components]

    def referenced_fields(self) -> list[str]:
        names: list[str] = []
        for component in self.components:
            for name in component.metric.referenced_fields():
                if name not in names:
                    names.append(name)
        return names

    def describe(self) -> str:
        parts = []
        for weight, component in zip(self.normalized_weights(), self.components, strict=True):
            text = component.metric.describe()
            if isinstance(component.metric, Composite):
                text = f"({text})"
            parts.append(f"{weight:.3g} × {text}")
        return " + ".join(parts)

    def short_name(self) -> str:
        return "composite_" + "_".join(c.metric.short_name() for c in self.components)

    def evaluate(self, gold: Any, pred: Any) -> tuple[float, list[str]]:
        total = 0.0
        problems: list[str] = []
        for weight, component in zip(self.normalized_weights(), self.components, strict=True):
            part, part_problems = component.metric.evaluate(gold, pred)
            total += weight * part
            problems.extend(p for p in part_problems if p not in problems)
        return total, problems


# The one place metric kinds are listed.
MetricSpec = Annotated[ExactMatch | FieldMatch | LLMJudge | TokenF1 | Rouge | EditSimilarity | Contains | PythonMetric
                       | Composite,
                       Field(discriminator="kind")]

WeightedMetric.model_rebuild()
Composite.model_rebuild()

_SPEC_CLASSES: tuple[type[BaseModel], ...] = typing.get_args(typing.get_args(MetricSpec)[0])
METRIC_KINDS: tuple[str, ...] = tuple(cls.model_fields["kind"].default for cls in _SPEC_CLASSES)

_ADAPTER: TypeAdapter | None = None


def _adapter() -> TypeAdapter:
    global _ADAPTER
    if _ADAPTER is None:
        _ADAPTER = TypeAdapter(MetricSpec)
    return _ADAPTER


# --------------------------------------------------------------------------------------------
# Parsing and validation
# --------------------------------------------------------------------------------------------


def _location(loc: tuple) -> str:
    """('composite', 'components', 0, 'metric', 'exact_match', 'field') -> 'components[0].metric.field'."""
    text = ""
    previous: Any = None
    for index, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in METRIC_KINDS and (index == 0 or previous == "metric"):
            pass  # the discriminator tag pydantic inserts, not a key the user wrote
        else:
            text += f".{part}" if text else str(part)
        previous = part
    return text


def _error_sentence(error: dict) -> str:
    kinds = ", ".join(METRIC_KINDS)
    where = _location(error["loc"])
    kind = error["type"]
    value = error.get("input")
    if kind == "union_tag_not_found":
        if not where and not isinstance(value, Mapping):
            return f"The metric must be a table of settings, got {type(value).__name__}."
        target = f"'{where}'" if where else "The metric"
        return f"{target} needs a 'kind': one of {kinds}."
    if kind == "union_tag_invalid":
        tag = value.get("kind") if isinstance(value, Mapping) else value
        place = f" at '{where}'" if where else ""
        return f"Metric kind {tag!r}{place} is not known; use one of {kinds}."
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        target = f"The metric setting '{where}'" if where else "The metric"
        return f"{target} must be a table of settings, got {type(value).__name__}."
    if kind == "missing":
        return f"The metric is missing the setting '{where}'."
    if kind == "extra_forbidden":
        return f"The metric setting '{where}' is not recognised; check its spelling."
    ctx = error.get("ctx") or {}
    simple = {
        "too_short": "needs at least one entry",
        "string_too_short": "must not be empty",
        "bool_parsing": "must be true or false",
        "bool_type": "must be true or false",
        "float_parsing": "must be a number",
        "float_type": "must be a number",
        "finite_number": "must be a finite number",
        "string_type": "must be text",
        "list_type": "must be a list",
        "greater_than": f"must be greater than {ctx.get('gt', 0):g}" if "gt" in ctx else "",
    }.get(kind)
    if simple:
        return f"The metric setting '{where}' {simple}, got {_shown(value)}."
    message = str(error.get("msg", "is invalid"))
    message = re.sub(r"^Value error, ", "", message)
    message = message[:1].lower() + message[1:]
    message = message.rstrip(".")
    if not where:  # a check across settings (e.g. a pattern that is not a regular expression)
        return f"The metric is invalid: {message}."
    return f"The metric setting '{where}' is invalid: {message} (got {_shown(value)})."


def parse_metric(data: Mapping) -> MetricSpec:
    """A spec from a TOML-style dict. Raises MetricError with one readable sentence."""
    try:
        return _adapter().validate_python(dict(data) if isinstance(data, Mapping) else data)
    except ValidationError as exc:
        errors = exc.errors()
        sentence = _error_sentence(errors[0])
        if len(errors) > 1:
            more = len(errors) - 1
            sentence = sentence[:-1] + f" ({more} more problem{'s' if more > 1 else ''} after this one)."
        raise MetricError(sentence) from None


def _as_spec(spec: Any) -> MetricSpec:
    if isinstance(spec, _SPEC_CLASSES):
        return spec
    if isinstance(spec, Mapping):
        return parse_metric(spec)
    raise TypeError(f"expected a metric spec, got {type(spec).__name__}")


def referenced_fields(spec: MetricSpec) -> list[str]:
    """The output fields `spec` reads, in first-use order."""
    return _as_spec(spec).referenced_fields()


def validate_metric(spec: MetricSpec, output_fields: list[str], input_fields: list[str] | None = None) -> None:
    """MetricError unless every field the metric reads is an output field of the program (and,
    given `input_fields`, every input a judge sees is an input of it); a metric holds one judge."""
    spec = _as_spec(spec)
    judges = judge_specs(spec)
    if len(judges) > 1:
        raise MetricError(
            f"The metric holds {len(judges)} LLM judges and a metric can hold one (its calibration is the "
            "metric's); merge their rubrics into one judge."
        )
    if input_fields is not None:
        for judge in judges:
            unknown = [name for name in judge.inputs if name not in input_fields]
            if unknown:
                raise MetricError(
                    f"The judge's input {_quoted(unknown)} is not an input field of the program; its input "
                    f"fields are: {', '.join(input_fields) or '(none)'}."
                )
    outputs = list(output_fields)
    missing = [name for name in spec.referenced_fields() if name not in outputs]
    if not missing:
        return
    if not outputs:
        raise MetricError(
            f"The metric reads {_quoted(missing)} but the program has no output fields; "
            "add an output field to the program's signature."
        )
    hints = []
    for name in missing:
        close = difflib.get_close_matches(name, outputs, n=1)
        if close:
            hints.append(f"'{close[0]}' instead of '{name}'")
    hint = f" (did you mean {' and '.join(hints)}?)" if hints else ""
    if len(missing) == 1:
        head = f"The metric field '{missing[0]}' is not an output field of the program{hint}"
    else:
        head = f"The metric fields {_quoted(missing)} are not output fields of the program{hint}"
    raise MetricError(f"{head}; its output fields are: {', '.join(outputs)}.")


def _quoted(names: list[str]) -> str:
    return _join_names([f"'{n}'" for n in names])


def _leaves(spec: MetricSpec) -> list:
    spec = _as_spec(spec)
    if isinstance(spec, Composite):
        return [leaf for c in spec.components for leaf in _leaves(c.metric)]
    return [spec]


def judge_specs(spec: MetricSpec) -> list[LLMJudge]:
    """The LLM judges in `spec` (inside composites too), in order."""
    return [leaf for leaf in _leaves(spec) if isinstance(leaf, LLMJudge)]


def python_specs(spec: MetricSpec) -> list[PythonMetric]:
    """The metrics from Python files in `spec` (inside composites too), in order."""
    return [leaf for leaf in _leaves(spec) if isinstance(leaf, PythonMetric)]


def default_metric_for(output_fields: list[str]) -> MetricSpec:
    """Exact match for a program with one output field, field match for several."""
    fields = list(dict.fromkeys(output_fields))
    if not fields:
        raise MetricError("The program has no output fields, so no metric can be chosen for it; add one to its signature.")
    if len(fields) == 1:
        return ExactMatch(field=fields[0])
    return FieldMatch(fields=fields)


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


def describe(spec: MetricSpec) -> str:
    """Short human text, e.g. 'exact match on urgency (lowercase, trimmed)'."""
    return _as_spec(spec).describe()


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


def score(spec: MetricSpec, gold: Any, pred: Any) -> float:
    """The score in [0, 1] of prediction `pred` against example `gold` (Mappings or DSPy objects)."""
    return _clamp(_as_spec(spec).evaluate(gold, pred)[0])


def feedback(spec: MetricSpec, gold: Any, pred: Any) -> tuple[float, str]:
    """(score, a sentence per wrong field, or 'All fields correct.')."""
    value, problems = _as_spec(spec).evaluate(gold, pred)
    return _clamp(value), (" ".join(problems) if problems else _ALL_CORRECT)


def _callable_name(spec: MetricSpec) -> str:
    name = re.sub(r"\W+", "_", spec.short_name()).strip("_") or "metric"
    return name if len(name) <= 80 else name[:80].rstrip("_")


class WorkbenchMetric:
    """A DSPy metric built from a spec: `metric(example, prediction, trace=None)`.

    Returns the score as a float; during bootstrapping (`trace` is not None) returns whether the
    example scored full marks, as BootstrapFewShot keeps a demo when the metric is truthy.
    A plain module-level class holding only the spec, so it pickles and deep-copies.
    """

    def __init__(self, spec: MetricSpec):
        self.spec = _as_spec(spec)
        self.__name__ = _callable_name(self.spec)
        self.__qualname__ = self.__name__

    def __call__(self, example: Any, prediction: Any, trace: Any = None) -> float | bool:
        value = score(self.spec, example, prediction)
        if trace is not None:
            return value >= PASS_THRESHOLD
        return value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.describe()!r})"


class WorkbenchFeedbackMetric:
    """GEPA's metric form: `metric(gold, pred, trace=None, pred_name=None, pred_trace=None)`
    returning `dspy.Prediction(score=float, feedback=str)`."""

    def __init__(self, spec: MetricSpec):
        self.spec = _as_spec(spec)
        self.__name__ = _callable_name(self.spec) + "_feedback"
        self.__qualname__ = self.__name__

    def __call__(
        self,
        gold: Any,
        pred: Any,
        trace: Any = None,
        pred_name: str | None = None,
        pred_trace: Any = None,
    ):
        import dspy

        value, text = feedback(self.spec, gold, pred)
        return dspy.Prediction(score=value, feedback=text)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.describe()!r})"


def build_metric(spec: MetricSpec) -> Callable[..., float | bool]:
    """The DSPy metric for `spec` (see WorkbenchMetric)."""
    return WorkbenchMetric(spec)


def build_feedback_metric(spec: MetricSpec) -> Callable[..., Any]:
    """The GEPA feedback metric for `spec` (see WorkbenchFeedbackMetric)."""
    return WorkbenchFeedbackMetric(spec)
