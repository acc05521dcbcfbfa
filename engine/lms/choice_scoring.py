"""Answer a one-choice question by scoring every choice, calibrated against the prompt's own bias.

A 135M model decoding a constrained answer greedily tends to give one answer to almost every
input: the choice the prompt favours whatever the input (the first listed, or the last demo's).
Here each choice's likelihood as the answer is measured, then divided by the model's average
preference for it under the same prompt with other inputs, which the compact adapter lists:
content-free inputs ("N/A", "", "[MASK]"; Zhao et al. 2021, "Calibrate before use"), the demos'
own inputs and up to 16 training rows' inputs (`compact.with_choice_scoring`). On SmolLM2-135M
(bench/README.md) this took TREC zero-shot from 0.31 to 0.41-0.44 and first names with 4 demos
from 0.745 to 0.77-0.85.

The compact adapter asks for it in the answer's JSON schema (`compact.CHOICE_SCORING`) only when
the LM's engine declares `scores_choices`; the prompt itself is the one the adapter renders.
Sampling settings (temperature, seed) do not apply: the pick is the calibrated most likely choice.

Cost: the prompt is evaluated once (only what the KV cache lacks of it: the system message is
shared by every call), its last logits score every choice's first token, and each choice longer
than one token takes one more `llama_decode` for all of its other tokens (before: one per token,
plus the prompt's last token again per choice; on TREC's six labels 14 decodes per prompt, now 6).
The prior (once per program state) costs one such scoring per calibration input.
Tried and dropped: all choices side by side in one decode, one KV-cache sequence each (copies of
the prompt's): on llama-cpp-python 0.3.36 a sequence's probabilities then moved by up to 0.06
with what the other sequences held, where one sequence gives the same figures however the prompt
is split into decodes.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

PRIOR_CACHE_SIZE = 256  # one entry per program state (system message and calibration inputs)


def answer_prefix(field: str) -> str:
    """The answer up to its value, spelt as the constrained model writes it (`{ "label": "male"}`)."""
    return '{ ' + json.dumps(field) + ': "'


def answer_text(field: str, choice: str) -> str:
    return answer_prefix(field) + _json_inner(choice) + '"}'


def _json_inner(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


@dataclass(frozen=True)
class Pick:
    """The calibrated best choice and what it cost; calibration_* is 0 once the prior is cached."""

    choice: str
    prompt_tokens: int
    answer_tokens: int
    calibration_prompts: int = 0
    calibration_tokens: int = 0


@dataclass
class _Prompt:
    """One prompt to score: its tokens up to where the choices depart, and each choice's tokens after."""

    tokens: list[int]  # the prompt up to `start`, the position every choice is scored from
    continuations: list[list[int]]  # per choice: its tokens from `start` on
    prompt_tokens: int  # the prompt's own length (the answer prefix included), for usage


class ChoiceScorer:
    """Scores choices with an in-process `llama_cpp.Llama`; the caller holds the model's lock.

    `interrupt`, called before every decode, raises to stop (the run's cancel).
    """

    def __init__(self, llama):
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.llama = llama
        # The formatter `create_chat_completion` uses for a GGUF's own template (llama_cpp.Llama.__init__).
        eos, bos = llama.token_eos(), llama.token_bos()
        self.formatter = Jinja2ChatFormatter(
            template=llama.metadata["tokenizer.chat_template"],
            eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
            bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
            stop_token_ids=[eos],
        )
        self._priors: dict[tuple, np.ndarray] = {}

    def pick(self, messages: list[dict], field: str, choices: list[str], calibration: list[str],
             interrupt: Callable[[], None] | None = None) -> Pick:
        """The calibrated best choice, with the prompt's and the answer's token counts.

        `calibration` holds the user messages whose average preference is divided out; they share
        `messages`' system message, so the prior is computed once per program state.
        """
        interrupt = interrupt or _never
        prefix = answer_prefix(field)
        system = [m for m in messages if m["role"] == "system"]
        key = (tuple(m["content"] for m in system), tuple(calibration), prefix, tuple(choices))
        prior = self._priors.get(key)
        spent = (0, 0)
        if prior is None:
            prior, spent = self._prior(system, calibration, prefix, choices, interrupt)
            if len(self._priors) >= PRIOR_CACHE_SIZE:
                self._priors.clear()
            self._priors[key] = prior
        prompt = self._prompt(messages, prefix, choices)
        probabilities = self._probabilities_of(prompt, interrupt)
        best = int(np.argmax(probabilities / np.maximum(prior, 1e-12)))
        return Pick(choices[best], prompt.prompt_tokens, len(prompt.continuations[best]), *spent)

    def _prior(self, system, calibration, prefix, choices, interrupt) -> tuple[np.ndarray, tuple[int, int]]:
        """The mean choice probabilities over the calibration messages, and (prompts, tokens) spent."""
        prompts = []
        for user in calibration:
            try:
                prompts.append(self._prompt([*system, {"role": "user", "content": user}], prefix, choices))
            except ValueError:  # a calibration row longer than the context: the others suffice
                continue
        if not prompts:
            return np.ones(len(choices)) / len(choices), (0, 0)
        measured = [self._probabilities_of(prompt, interrupt) for prompt in prompts]
        return np.mean(measured, axis=0), (len(prompts), sum(p.prompt_tokens for p in prompts))

    def _prompt(self, messages, prefix: str, choices: list[str]) -> _Prompt:
        formatted = self.formatter(messages=messages)
        prompt = formatted.prompt + prefix
        add_bos = not formatted.added_special
        base = self._tokens(prompt, add_bos)
        sequences = [self._tokens(prompt + _json_inner(choice) + '"', add_bos) for choice in choices]
        longest = max(len(full) for full in sequences)
        if longest > self.llama.n_ctx():
            raise ValueError(f"Requested tokens ({longest}) exceed context window of {self.llama.n_ctx()}")
        # Every choice is scored from the same position: where the first of them departs from the
        # prompt (a choice's first characters can merge with the prefix's last token).
        start = max(1, min(_common_length(base, full) for full in sequences))
        return _Prompt(sequences[0][:start], [full[start:] for full in sequences], len(base))

    def probabilities(self, messages: list[dict], prefix: str, choices: list[str],
                      interrupt: Callable[[], None] | None = None) -> np.ndarray:
        """Each choice's probability as the answer after `prefix`, normalised over the choices."""
        return self._probabilities_of(self._prompt(messages, prefix, choices), interrupt or _never)

    def _probabilities_of(self, prompt: _Prompt, interrupt) -> np.ndarray:
        """The prompt is evaluated once (what the KV cache lacks of it); its last logits give every
        choice's first token, and each longer choice takes one decode for the rest of its tokens."""
        llama = self.llama
        self._evaluate(prompt.tokens, interrupt)
        start = len(prompt.tokens)
        first = _log_softmax(self._logits(-1))
        scores = []
        for continuation in prompt.continuations:
            score = float(first[continuation[0]])
            if len(continuation) > 1:
                interrupt()
                llama._ctx.kv_cache_seq_rm(0, start, -1)
                batch = llama._batch
                batch.set_batch(continuation[:-1], start, True)
                llama._ctx.decode(batch)
                score += sum(float(_log_softmax(self._logits(i))[token]) for i, token in enumerate(continuation[1:]))
            scores.append(score)
        llama._ctx.kv_cache_seq_rm(0, start, -1)  # the cache holds the prompt, as llama.n_tokens says
        values = np.array(scores)
        weights = np.exp(values - values.max())
        return weights / weights.sum()

    def _evaluate(self, tokens: list[int], interrupt) -> None:
        """Leave `tokens` in the KV cache with the last one's logits, evaluating what the cache lacks.

        At least the last token is evaluated again: its logits are not kept between calls."""
        llama = self.llama
        kept = min(_common_length(llama.input_ids[: llama.n_tokens].tolist(), tokens), len(tokens) - 1)
        llama.n_tokens = kept
        for begin in range(kept, len(tokens), llama.n_batch):
            interrupt()
            llama.eval(tokens[begin: begin + llama.n_batch])

    def _logits(self, index: int) -> np.ndarray:
        """The logits of the last decode's `index`-th token (-1: its last)."""
        llama = self.llama
        return np.ctypeslib.as_array(llama._ctx.get_logits_ith(index), shape=(llama.n_vocab(),)).astype(np.float64)

    def _tokens(self, text: str, add_bos: bool) -> list[int]:
        return self.llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)


def _never() -> None:
    return None


def _common_length(*sequences) -> int:
    return len(os.path.commonprefix([list(s) for s in sequences]))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    top = float(logits.max())
    return logits - top - math.log(float(np.exp(logits - top).sum()))
