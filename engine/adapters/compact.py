"""The compact prompt format: a DSPy adapter that small local models follow.

It sends:

- one short system message: the input fields, the answer's JSON shape (with each output field's
  description, e.g. label definitions) and, when the program has demos, the instructions first
  (`instructions_open_system_message`) and the demos as a list after the answer's shape,
  interleaved by answer so consecutive demos do not share an answer, the commonest answers first
  and the rarest nearest the input (`order_demos`);
- one user message: the instructions, then the inputs as plain `name: value` lines;
- a JSON schema for the output fields as `response_format`, so servers that support constrained
  decoding (llama.cpp, Ollama, OpenAI-compatible servers) can only produce parseable answers;
- when the only output is a Literal and the LM's engine declares `scores_choices` (the Workbench's
  embedded llama.cpp engine), a `CHOICE_SCORING` key in that schema: the engine then scores every
  choice and divides out the prompt's own bias instead of decoding greedily
  (`with_choice_scoring`). Any other LM, plain DSPy's included, generates the answer under the same
  schema from the same prompt, so its answers can differ.

Why, measured on SmolLM2-135M (bench/small_model_formats.py; TREC questions, 6 classes, chance
0.17, and US first names, girl or boy, chance 0.5; figures in bench/README.md): DSPy's chat prompt
rambles and never parses; demos given as chat turns are copied (TREC k=8: 0.42, 48% one answer)
more than demos listed in the system message (0.47, 38%); demos as plain lines or inside the user
message scored the same within noise (0.46, 0.44). Zero-shot, a model this small answers the first
choice listed in the system message almost every time (97% on names) unless the instructions sit
right before the input: that took names from 0.53 to 0.68 and TREC from 0.22 to 0.31; with demos,
the instructions are in both places (`instructions_open_system_message`). Moving the
list of answers after the inputs made the first-answer habit worse (TREC 0.19), and label
definitions changed nothing (0.23). With plain round robin one TREC k=8 draw answered one label
72% of the time; with the rarest answers last the worst TREC draw stayed at 53-60%, though on
first names a draw of 3 "male" and 1 "female" still gave one answer 77% of the time. Every
constrained answer parsed.

The system message depends only on the program state, never on the inputs, so a local model
reuses its evaluated prompt prefix from one call to the next (about 9x faster few-shot).

This module imports only `dspy` and the standard library: an exported artifact ships it as
`compact_adapter.py` so plain DSPy reproduces the exact prompt.
"""

from __future__ import annotations

import json
import re
import typing
from typing import Any, Literal

import dspy
from dspy.adapters.utils import parse_value
from dspy.utils.exceptions import AdapterParseError

FORMAT_NAME = "compact"
# Free-text answers are bounded in the schema so that a model which rambles (small ones repeat
# themselves) still closes the JSON before max_tokens: the grammar makes it stop in time.
CHARS_PER_TOKEN = 2  # conservative: most text runs 3-4 characters a token
REASONING_MAX_CHARS = 400  # ChainOfThought's own field, kept short whatever the budget
# A key of the answer's schema asking the engine to score the choices instead of generating, sent
# only to an engine that says `scores_choices` (the Workbench's embedded llama.cpp engine).
CHOICE_SCORING = "x-dspy-workbench-choice-scoring"
CONTENT_FREE_INPUTS = ("N/A", "", "[MASK]")  # calibration inputs, with the demos' and training rows' inputs


class CompactAdapter(dspy.Adapter):
    """Short system prompt, plain-line inputs, schema-constrained JSON answers.

    `calibration_inputs`: unlabelled inputs (the Workbench passes training rows) that a choice-scoring
    engine also calibrates on (`with_choice_scoring`); they never appear in the prompt.
    """

    def __init__(self, *args, calibration_inputs=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.calibration_inputs = [dict(inputs) for inputs in calibration_inputs]
        # One scoring request per program state, shared by its calls: DSPy's history keeps every
        # call's kwargs, and 40-odd rendered calibration messages per call would add up.
        self._scoring_requests: dict[tuple, dict] = {}

    def __call__(self, lm, lm_kwargs, signature, demos, inputs):
        return super().__call__(lm, self._lm_kwargs(lm, lm_kwargs, signature, demos), signature, demos, inputs)

    async def acall(self, lm, lm_kwargs, signature, demos, inputs):
        return await super().acall(lm, self._lm_kwargs(lm, lm_kwargs, signature, demos), signature, demos, inputs)

    def _lm_kwargs(self, lm, lm_kwargs, signature, demos):
        lm_kwargs = with_response_format(lm_kwargs, signature, _max_tokens(lm, lm_kwargs))
        if _scores_choices(lm):
            key = (signature, json.dumps([[_demo_get(d, n) for n in signature.fields] for d in demos], default=str),
                   json.dumps(self.calibration_inputs, sort_keys=True, default=str), json.dumps(lm_kwargs["response_format"]))
            if key not in self._scoring_requests:
                if len(self._scoring_requests) >= 256:
                    self._scoring_requests.clear()
                self._scoring_requests[key] = with_choice_scoring(
                    {"response_format": lm_kwargs["response_format"]}, signature, demos, self.calibration_inputs,
                )["response_format"]
            lm_kwargs = {**lm_kwargs, "response_format": self._scoring_requests[key]}
        return lm_kwargs

    def format(self, signature, demos, inputs) -> list[dict[str, Any]]:
        return [
            {"role": "system", "content": system_message(signature, demos)},
            {"role": "user", "content": user_message(signature, inputs)},
        ]

    def parse(self, signature, completion: str) -> dict[str, Any]:
        return parse_answer(signature, completion)

    def format_demos(self, signature, demos):  # demos live in the system message, not as turns
        return []


# -- rendering ------------------------------------------------------------------------------------

def system_message(signature, demos) -> str:
    """The instructions (when there are demos, see `instructions_open_system_message`), the fields, the
    answer's shape and the demos."""
    parts = [signature.instructions.strip()] if instructions_open_system_message(signature, demos) else []
    parts.append("Inputs:\n" + "\n".join(_field_line(n, f) for n, f in signature.input_fields.items()))
    parts.append(
        "Answer with one JSON object and nothing else, with these keys:\n"
        + "\n".join(_field_line(n, f, with_type=True) for n, f in signature.output_fields.items())
    )
    rendered = [render_demo(signature, d) for d in order_demos(signature, demos)]
    rendered = [r for r in rendered if r]
    if rendered:
        parts.append("Examples:\n\n" + "\n\n".join(rendered))
    return "\n\n".join(parts)


def user_message(signature, inputs: dict[str, Any]) -> str:
    """The instructions, then the inputs: a small model heeds the task it reads right before the input.

    Zero-shot, instructions here rather than in the system message took SmolLM2-135M from 0.53 to
    0.68 on first names (girl or boy) and from 0.22 to 0.31 on TREC questions, and it stopped
    answering the first listed choice almost every time (97% on names).
    """
    lines = input_lines(signature, inputs)
    instructions = signature.instructions.strip()
    return f"{instructions}\n\n{lines}" if instructions else lines


def instructions_open_system_message(signature, demos) -> bool:
    """Whether the system message opens with the instructions too: when there are demos.

    Zero-shot, instructions there instead of before the input made the model answer the first
    choice listed after them, and in both places it did so too (names 0.695 -> 0.575, 92% one
    answer; TREC 0.31 -> 0.25): without demos, only the user message has them. With demos, both
    places beat the system message alone: over six demo draws at k = 4 and 8, on first names (100
    rows, two wordings of the instructions) and TREC (120 rows), accuracy rose in 27 of 36 draws and
    fell in 6 (names k=8 0.64 -> 0.69 and 0.65 -> 0.74, TREC k=8 0.39 -> 0.41), the worst draw
    improved in all six settings, and fewer draws gave one answer over 70% of the time (16 -> 13 of
    36). Only in the user message they had done worse than only in the system message (names k=4
    0.70 -> 0.61 over six draws; TREC k=4 0.42 -> 0.37).
    The prefix every call shares is unchanged: the inputs still come last.
    """
    return any(render_demo(signature, d) for d in demos) and bool(signature.instructions.strip())


def input_lines(signature, inputs: dict[str, Any]) -> str:
    return "\n".join(f"{name}: {_value_text(inputs.get(name, ''))}" for name in signature.input_fields)


def render_demo(signature, demo) -> str:
    """One demo as input lines plus its answer; empty when it has no output at all."""
    answer = {n: _demo_get(demo, n) for n in signature.output_fields if _demo_get(demo, n) is not None}
    if not answer:
        return ""
    lines = [f"{n}: {_value_text(_demo_get(demo, n))}" for n in signature.input_fields
             if _demo_get(demo, n) is not None]
    lines.append("Answer: " + json.dumps(answer, ensure_ascii=False))
    return "\n".join(lines)


def order_demos(signature, demos) -> list:
    """Interleave demos by answer, the commonest answers first and the rarest nearest the input.

    A small model copies the answers it saw last. Plain round robin (largest group first) ends
    with the largest groups, and one k=8 draw then gave the same answer 72% of the time. Here
    the rounds run from the last (only the largest groups) to the first (every group), each in
    order of group size: consecutive demos still differ, and the tail holds the rare answers.

    Tried and not kept: repeating the rarer answers' demos until every answer shows equally often.
    On two unbalanced draws it helped (first names k=8, 0.71 -> 0.77; TREC k=8, 0.37 -> 0.50), but
    over six draws of first names it did not (k=4 mean 0.70 -> 0.66, k=8 0.65 -> 0.65), and some
    draws still collapsed to one answer either way: with a 135M model the draw matters more than
    the order. It also made prompts longer.
    """
    groups: dict[str, list] = {}
    for demo in demos:
        groups.setdefault(_answer_key(signature, demo), []).append(demo)
    queues = sorted(groups.values(), key=len, reverse=True)  # stable: ties keep first appearance
    rounds = [[q[i] for q in queues if i < len(q)] for i in range(len(queues[0]) if queues else 0)]
    return [demo for round_ in reversed(rounds) for demo in round_]


def _answer_key(signature, demo) -> str:
    names = [n for n in signature.output_fields if n != "reasoning"] or list(signature.output_fields)
    return json.dumps([_demo_get(demo, n) for n in names], sort_keys=True, default=str)


def _demo_get(demo, name):
    try:
        return demo.get(name) if hasattr(demo, "get") else getattr(demo, name, None)
    except Exception:
        return None


def _field_line(name: str, field, *, with_type: bool = False) -> str:
    line = f"- {name}"
    if with_type:
        line += f" ({type_hint(field.annotation)})"
    desc = (field.json_schema_extra or {}).get("desc", "")
    if desc and not desc.startswith("${"):
        line += f": {desc}"
    return line


def type_hint(annotation) -> str:
    if typing.get_origin(annotation) is Literal:
        return "one of " + ", ".join(json.dumps(c) for c in typing.get_args(annotation))
    if typing.get_origin(annotation) is list:
        return "list of strings"
    return {str: "string", int: "integer", float: "number", bool: "true or false"}.get(annotation, "string")


def _value_text(value) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


# -- the answer's schema ----------------------------------------------------------------------------

def _max_tokens(lm, lm_kwargs) -> int | None:
    value = lm_kwargs.get("max_tokens") or (getattr(lm, "kwargs", None) or {}).get("max_tokens")
    return int(value) if value else None


def output_schema(signature, max_tokens: int | None = None) -> dict[str, Any]:
    """JSON schema for the output fields, in field order (llama.cpp generates keys in this order).

    With `max_tokens`, each free-text field gets a share of it as `maxLength`, so the whole
    answer fits; without it, only ChainOfThought's reasoning is bounded.
    """
    text_fields = [n for n, f in signature.output_fields.items() if _is_free_text(f.annotation)]
    share = None
    if max_tokens and text_fields:
        share = max(16, (max_tokens - 8 * len(signature.output_fields)) * CHARS_PER_TOKEN // len(text_fields))
    properties = {name: _schema_of(name, f.annotation, share) for name, f in signature.output_fields.items()}
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _is_free_text(annotation) -> bool:
    return annotation is str or annotation not in (int, float, bool) and typing.get_origin(annotation) not in (Literal, list)


def _schema_of(name: str, annotation, max_chars: int | None = None) -> dict[str, Any]:
    if typing.get_origin(annotation) is Literal:
        return {"type": "string", "enum": [str(c) for c in typing.get_args(annotation)]}
    if typing.get_origin(annotation) is list:
        return {"type": "array", "items": {"type": "string"}}
    if annotation is int:
        return {"type": "integer"}
    if annotation is float:
        return {"type": "number"}
    if annotation is bool:
        return {"type": "boolean"}
    if name == "reasoning":
        return {"type": "string", "maxLength": min(REASONING_MAX_CHARS, max_chars or REASONING_MAX_CHARS)}
    return {"type": "string", "maxLength": max_chars} if max_chars else {"type": "string"}


def with_response_format(lm_kwargs: dict[str, Any], signature, max_tokens: int | None = None) -> dict[str, Any]:
    """lm_kwargs plus the OpenAI-shaped JSON-schema response format for the signature's outputs."""
    schema = {"name": "answer", "schema": output_schema(signature, max_tokens)}
    return {**lm_kwargs, "response_format": {"type": "json_schema", "json_schema": schema}}


def choice_field(signature) -> tuple[str, list[str]] | None:
    """(name, choices) when the only output is a Literal of strings: an answer an engine can score."""
    if len(signature.output_fields) != 1:
        return None
    name, field = next(iter(signature.output_fields.items()))
    if typing.get_origin(field.annotation) is not Literal:
        return None
    choices = list(typing.get_args(field.annotation))
    return (name, choices) if choices and all(isinstance(c, str) for c in choices) else None


def with_choice_scoring(lm_kwargs: dict[str, Any], signature, demos, unlabelled=()) -> dict[str, Any]:
    """lm_kwargs whose answer schema asks the engine to score the choices, calibrated.

    The engine divides each choice's probability by its average over the calibration inputs
    (engine/lms/choice_scoring.py): content-free inputs, the demos' own inputs and `unlabelled`
    ones (those with every input field of the signature). Measured on SmolLM2-135M over six demo
    draws (bench/README.md): content-free alone was best on TREC (k=4 0.55) and poor on first names
    (0.65, 3 of 6 draws collapsing onto one answer); all three together were best or close to it
    on both (names 0.73 / 0.76 / 0.75 at k = 0 / 4 / 8, TREC 0.43 / 0.54 at k = 0 / 4), without
    the unlabelled inputs names dropped to 0.63 / 0.71 / 0.68.
    """
    found = choice_field(signature)
    if found is None:
        return lm_kwargs
    name, choices = found
    fields = list(signature.input_fields)
    content_free = [{n: token for n in fields} for token in CONTENT_FREE_INPUTS]
    demo_inputs = [{n: _demo_get(d, n) for n in fields} for d in demos if render_demo(signature, d)]
    others = [{n: inputs[n] for n in fields} for inputs in unlabelled if all(n in inputs for n in fields)]
    fmt = lm_kwargs["response_format"]
    schema = {**fmt["json_schema"]["schema"], CHOICE_SCORING: {
        "field": name, "choices": choices,
        "calibration": [user_message(signature, inputs) for inputs in content_free + demo_inputs + others],
    }}
    return {**lm_kwargs, "response_format": {**fmt, "json_schema": {**fmt["json_schema"], "schema": schema}}}


def _scores_choices(lm) -> bool:
    return getattr(getattr(lm, "_engine_spec", None), "scores_choices", False) is True


# -- parsing ----------------------------------------------------------------------------------------

_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def parse_answer(signature, completion: str) -> dict[str, Any]:
    data = _load_object(completion)
    if data is None:
        raise AdapterParseError(
            adapter_name="CompactAdapter", signature=signature, lm_response=completion,
            message="The answer is not a JSON object.",
        )
    values: dict[str, Any] = {}
    for name, field in signature.output_fields.items():
        if name not in data:
            raise AdapterParseError(
                adapter_name="CompactAdapter", signature=signature, lm_response=completion,
                message=f"The answer has no {name!r} key.", parsed_result=values,
            )
        try:
            values[name] = _coerce(data[name], field.annotation)
        except ValueError as exc:
            raise AdapterParseError(
                adapter_name="CompactAdapter", signature=signature, lm_response=completion,
                message=f"Field {name!r}: {exc}", parsed_result=values,
            ) from exc
    return values


def _load_object(text: str) -> dict | None:
    for candidate in (text.strip(), *(_OBJECT.findall(text) or [])):
        try:
            data = json.loads(candidate)
        except (json.JSONDecodeError, TypeError):
            continue
        if isinstance(data, dict):
            return data
    return None


def _coerce(value, annotation):
    if typing.get_origin(annotation) is Literal:
        choices = typing.get_args(annotation)
        text = str(value).strip()
        for choice in choices:
            if text == str(choice) or text.lower() == str(choice).lower():
                return choice
        raise ValueError(f"{value!r} is not one of {list(choices)}")
    return parse_value(value, annotation)
