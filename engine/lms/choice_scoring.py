"""Answer a one-choice question by scoring every choice, calibrated against the prompt's own bias.

A 135M model decoding a constrained answer greedily tends to give one answer to almost every
input: the choice the prompt favours whatever the input (the first listed, or the last demo's).
Here each choice's likelihood as the answer is measured, then divided by the model's average
preference for it under the same prompt with other inputs, which the compact adapter lists:
content-free inputs ("N/A", "", "[MASK]"; Zhao et al. 2021, "Calibrate before use"), the demos'
own inputs and up to 40 training rows' inputs (`compact.with_choice_scoring`). On SmolLM2-135M
(bench/README.md) this took TREC zero-shot from 0.31 to 0.44 and first names with 4 demos from
0.745 to 0.85, and no demo draw measured since gives one answer to over 70% of the inputs.

The compact adapter asks for it in the answer's JSON schema (`compact.CHOICE_SCORING`) only when
the LM's engine declares `scores_choices`; the prompt itself is the one the adapter renders.
Sampling settings (temperature, seed) do not apply: the pick is the calibrated most likely choice.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

PRIOR_CACHE_SIZE = 256  # one entry per program state (system message and calibration inputs)


def answer_prefix(field: str) -> str:
    """The answer up to its value, spelt as the constrained model writes it (`{ "label": "male"}`)."""
    return '{ ' + json.dumps(field) + ': "'


def answer_text(field: str, choice: str) -> str:
    return answer_prefix(field) + _json_inner(choice) + '"}'


def _json_inner(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


class ChoiceScorer:
    """Scores choices with an in-process `llama_cpp.Llama`; the caller holds the model's lock."""

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

    def pick(self, messages: list[dict], field: str, choices: list[str],
             calibration: list[str]) -> tuple[str, int, int]:
        """The calibrated best choice, the prompt's token count and the answer's token count.

        `calibration` holds the user messages whose average preference is divided out; they share
        `messages`' system message, so the prior is computed once per program state.
        """
        prefix = answer_prefix(field)
        system = [m for m in messages if m["role"] == "system"]
        key = (tuple(m["content"] for m in system), tuple(calibration), prefix, tuple(choices))
        prior = self._priors.get(key)
        if prior is None:
            prior = np.ones(len(choices)) / len(choices)
            measured = []
            for user in calibration:
                try:
                    measured.append(self._probabilities([*system, {"role": "user", "content": user}], prefix, choices)[0])
                except ValueError:  # a calibration row longer than the context: the others suffice
                    continue
            if measured:
                prior = np.mean(measured, axis=0)
            if len(self._priors) >= PRIOR_CACHE_SIZE:
                self._priors.clear()
            self._priors[key] = prior
        probabilities, prompt_tokens, answer_tokens = self._probabilities(messages, prefix, choices)
        best = int(np.argmax(probabilities / np.maximum(prior, 1e-12)))
        return choices[best], prompt_tokens, answer_tokens[best]

    def _probabilities(self, messages, prefix: str, choices: list[str]):
        """Each choice's probability as the answer (normalised over the choices), token counts."""
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
        scores = np.array([self._continuation_logprob(full, start) for full in sequences])
        lengths = [len(full) - start for full in sequences]
        weights = np.exp(scores - scores.max())
        return weights / weights.sum(), len(base), lengths

    def _continuation_logprob(self, tokens: list[int], start: int) -> float:
        """log P(tokens[start:] | tokens[:start]), reusing the evaluated prefix already in the KV cache."""
        llama = self.llama
        kept = min(_common_length(llama.input_ids[: llama.n_tokens].tolist(), tokens), start - 1)
        llama.n_tokens = kept
        llama.eval(tokens[kept:start])  # the logits of the last evaluated token predict tokens[start]
        total = 0.0
        for position in range(start, len(tokens)):
            total += _log_softmax(self._last_logits())[tokens[position]]
            if position + 1 < len(tokens):
                llama.eval([tokens[position]])
        return total

    def _last_logits(self) -> np.ndarray:
        llama = self.llama
        return np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),)).astype(np.float64)

    def _tokens(self, text: str, add_bos: bool) -> list[int]:
        return self.llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)


def _common_length(a, b) -> int:
    return len(os.path.commonprefix([list(a), list(b)]))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    top = float(logits.max())
    return logits - top - math.log(float(np.exp(logits - top).sum()))
