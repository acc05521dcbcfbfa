"""Choice scoring on the real embedded model: the figures match an independent computation."""

import math
import os

import dspy
import numpy as np
import pytest

from engine.adapters import make_adapter
from engine.adapters.compact import CompactAdapter, user_message
from engine.lms.choice_scoring import ChoiceScorer, answer_prefix
from engine.lms.embedded import model_path, open_llama

pytestmark = pytest.mark.slow

SIGNATURE = dspy.Signature(
    "text -> label: Literal['abbreviation', 'description', 'entity', 'location', 'number', 'person']",
    "What kind of answer does this question ask for?",
)
CHOICES = ["abbreviation", "description", "entity", "location", "number", "person"]


@pytest.fixture(scope="module")
def llama():
    model = open_llama(model_path(), context_tokens=1024, threads=2)
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
        probabilities = scorer.probabilities(chat, answer_prefix("label"), CHOICES)
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
        # the same position (the scorer evaluates a choice's tokens in one batch: up to 0.007 apart
        # here with two threads); an off-by-one token would be off by far more (0.25 against 0.40)
        assert np.allclose(probabilities, expected / expected.sum(), atol=1e-2)
        assert np.argmax(probabilities) == np.argmax(expected)
        assert math.isclose(probabilities.sum(), 1.0, rel_tol=1e-9)


def test_the_pick_divides_out_the_calibration_prior_computed_once_per_program_state(llama):
    scorer = ChoiceScorer(llama)
    calibration = [user_message(SIGNATURE, {"text": t}) for t in ("N/A", "", "[MASK]")]
    chat = messages("Where is the Eiffel Tower?")
    raw = scorer.probabilities(chat, answer_prefix("label"), CHOICES)
    prior = np.mean([scorer.probabilities([chat[0], {"role": "user", "content": u}], answer_prefix("label"), CHOICES)
                     for u in calibration], axis=0)
    pick = scorer.pick(chat, "label", CHOICES, calibration)
    assert pick.choice == CHOICES[int(np.argmax(raw / prior))]
    assert pick.prompt_tokens > 20 and pick.answer_tokens >= 1
    # the prior's cost is reported with the call that computed it, and only then
    assert pick.calibration_prompts == 3 and pick.calibration_tokens > 3 * 20
    again = scorer.pick(messages("Who wrote Hamlet?"), "label", CHOICES, calibration)
    assert (again.calibration_prompts, again.calibration_tokens) == (0, 0)
    assert len(scorer._priors) == 1  # same system message and calibration inputs: one prior
    assert scorer.pick(chat, "label", CHOICES, []).choice == CHOICES[int(np.argmax(raw))]


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


def test_a_run_meter_counts_the_prior_as_calls_and_prompt_tokens():
    from engine.jobs.instrument import RunMeter
    from engine.lms.connect import connect
    from engine.lms.profiles import embedded_profile

    connected = connect(embedded_profile())
    lm = connected.lm.copy(cache=False)
    adapter = CompactAdapter(calibration_inputs=[{"text": t} for t in ("Who is Zeus?", "Why is the sky blue?")])
    meter = RunMeter()
    with dspy.context(lm=lm, adapter=adapter), meter.context():
        dspy.Predict(SIGNATURE)(text="What is the capital of Peru?")
        dspy.Predict(SIGNATURE)(text="How many legs has a spider?")
    assert meter.calibration_calls == 3 + 2  # content-free inputs and both rows, once for the program state
    assert meter.real_calls == 2 + meter.calibration_calls
    assert meter.calibration_tokens > 5 * 20 and meter.prompt_tokens > meter.calibration_tokens
    assert meter.cached_calls == 0
