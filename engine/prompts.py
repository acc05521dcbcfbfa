"""The exact prompt a program sends, rendered offline by the adapter it runs with (no LM call).

For each predictor, `adapter.format(signature, demos, inputs)` equals, message for message, what
the LM receives (DSPY-NOTES.md). A later stage's inputs that an earlier stage produces are not
known without running the model: they are shown as a placeholder naming the producing stage.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RenderedPrompt:
    predictor: str
    messages: list[dict]
    response_format: dict | None


def render_program_prompts(spec, inputs: dict, *, state: dict | None = None,
                           prompt_format: str = "compact") -> list[RenderedPrompt]:
    from engine.adapters import make_adapter
    from engine.programs import build_program

    program = build_program(spec)
    if state:
        program.load_state(state)
    adapter = make_adapter(prompt_format)
    known = dict(inputs)
    producers = {f.name: s.name for s in spec.stages for f in s.outputs}
    received = {}
    if getattr(spec, "kind", None) == "python":  # the user's forward decides what each predictor gets
        from engine.user_module import predictor_inputs

        received = predictor_inputs(program, known)
    rendered = []
    for stage, (name, predictor) in zip(spec.stages, program.named_predictors(), strict=True):
        stage_inputs = received.get(name) or {
            n: known.get(n, f"<{n} from stage {producers.get(n, '?')}>") for n in stage.input_names
        }
        messages = adapter.format(predictor.signature, predictor.demos, stage_inputs)
        response_format = None
        if prompt_format == "compact":
            from engine.adapters.compact import with_response_format

            response_format = with_response_format({}, predictor.signature)["response_format"]
        rendered.append(RenderedPrompt(name, messages, response_format))
    return rendered


def messages_text(messages: list[dict]) -> str:
    """Messages as readable text, one block per role."""
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)
