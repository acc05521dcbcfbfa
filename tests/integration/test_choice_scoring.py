"""Choice scoring on the real embedded model: the figures match an independent computation."""

import math
import os

import dspy
import numpy as np
import pytest

from engine.adapters import make_adapter
from engine.adapters.compact import user_message
from engine.lms.choice_scoring import ChoiceScorer, answer_prefix
from engine.lms.embedded import _without_amx_buffers, model_path

pytestmark = pytest.mark.slow

SIGNATURE = dspy.Signature(
    "text -> label: Literal['abbreviation', 'description', 'entity', 'location', 'number', 'person']",
    "What kind of answer does this question ask for?",
)
CHOICES = ["abbreviation", "description", "entity", "location", "number", "person"]


@pytest.fixture(scope="module")
def llama():
    import llama_cpp

    with _without_amx_buffers(llama_cpp):
        model = llama_cpp.Llama(model_path=str(model_path()), n_ctx=1024, n_threads=2, verbose=False, seed=0)
    yield model
    model.close()


def messages(text, demos=()):
    return make_adapter("compact").format(SIGNATURE, list(demos), {"text": text})


def uncached_logprob(llama, tokens, start):
    """log P(tokens[start:] | tokens[:start]) from an empty KV cache: the prompt in one batch, then
    one token at a time (the scorer's arithmetic, without its reuse of the evaluated prefix)."""
    llama.reset()
    llama.eval(tokens[:start])
    total = 0.0
    for position in range(start, len(tokens)):
        logits = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),)).astype(np.float64)
        top = logits.max()
        total += logits[tokens[position]] - top - math.log(np.exp(logits - top).sum())
        llama.eval([tokens[position]])
    return total


def test_choice_probabilities_do_not_depend_on_what_the_kv_cache_held_before(llama):
    scorer = ChoiceScorer(llama)
    demos = [dspy.Example(text="Who invented the telephone?", label="person").with_inputs("text")]
    for text, shots in (("How far is the Moon?", ()), ("What does NASA stand for?", demos)):
        chat = messages(text, shots)
        probabilities, _, _ = scorer._probabilities(chat, answer_prefix("label"), CHOICES)
        formatted = scorer.formatter(messages=chat)
        prompt = formatted.prompt + answer_prefix("label")
        base = llama.tokenize(prompt.encode(), add_bos=not formatted.added_special, special=True)
        expected = []
        for choice in CHOICES:
            full = llama.tokenize((prompt + choice + '"').encode(), add_bos=not formatted.added_special, special=True)
            start = len(os.path.commonprefix([base, full]))
            expected.append(uncached_logprob(llama, full, max(1, start)))
        expected = np.exp(np.array(expected) - max(expected))
        # a quantised model's logits differ by ~1e-3 between a batched and a one-token evaluation of
        # the same position; an off-by-one token would be off by far more
        assert np.allclose(probabilities, expected / expected.sum(), atol=5e-3)
        assert np.argmax(probabilities) == np.argmax(expected)
        assert math.isclose(probabilities.sum(), 1.0, rel_tol=1e-9)


def test_the_pick_divides_out_the_calibration_prior_computed_once_per_program_state(llama):
    scorer = ChoiceScorer(llama)
    calibration = [user_message(SIGNATURE, {"text": t}) for t in ("N/A", "", "[MASK]")]
    chat = messages("Where is the Eiffel Tower?")
    raw, _, _ = scorer._probabilities(chat, answer_prefix("label"), CHOICES)
    prior = np.mean([scorer._probabilities([chat[0], {"role": "user", "content": u}], answer_prefix("label"),
                                           CHOICES)[0] for u in calibration], axis=0)
    choice, prompt_tokens, answer_tokens = scorer.pick(chat, "label", CHOICES, calibration)
    assert choice == CHOICES[int(np.argmax(raw / prior))]
    assert prompt_tokens > 20 and answer_tokens >= 1
    scorer.pick(messages("Who wrote Hamlet?"), "label", CHOICES, calibration)
    assert len(scorer._priors) == 1  # same system message and calibration inputs: one prior
    assert scorer.pick(chat, "label", CHOICES, [])[0] == CHOICES[int(np.argmax(raw))]


def test_a_prompt_longer_than_the_context_window_is_refused(llama):
    with pytest.raises(ValueError, match="exceed context window"):
        ChoiceScorer(llama).pick(messages("word " * 1500), "label", CHOICES, [])


def test_a_predict_on_the_embedded_profile_answers_by_scoring(tmp_path):
    from engine.lms.connect import connect
    from engine.lms.profiles import embedded_profile

    connected = connect(embedded_profile())
    lm = connected.lm.copy(cache=False)
    with dspy.context(lm=lm, adapter=connected.adapter):
        answer = dspy.Predict(SIGNATURE)(text="How many feet are in a mile?").label
    assert answer in CHOICES
    sent = lm.history[-1]
    assert sent["outputs"] == ['{ "label": "' + answer + '"}']
    assert sent["usage"]["prompt_tokens"] > 20
