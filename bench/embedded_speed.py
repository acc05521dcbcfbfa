"""The Workbench's evaluation on the embedded model against the loop a user would write by hand.

    python bench/embedded_speed.py data/trec-questions.csv [--sizes 40,100] [--repeats 2] [--threads 2]

The hand loop: one `llama_cpp.Llama`, the compact prompt, the answer constrained by a JSON schema
with an enum (its grammar compiled once), greedy. The Workbench: `engine.evaluation.evaluate` of a
`dspy.Predict` with the compact adapter on the embedded engine, inside a run's meter, LM cache
off, the choice-scoring prior computed afresh for each run (calibrated, as the jobs do, on
`CALIBRATION_ROWS` other rows' inputs). Both answer the same real short texts (the first N rows of
a seeded shuffle), in the same process, interleaved, their order swapped on each repeat. Printed
per size: calls per second of each and their ratio (goal >= 0.9), accuracy of each, and the prior's
share of the Workbench's time (goal <= 15% at 100 rows).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
warnings.filterwarnings("ignore")

INSTRUCTIONS = "What kind of answer does this question ask for?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", help="a CSV with text and label columns (bench/datasets.py)")
    parser.add_argument("--instructions", default=INSTRUCTIONS)
    parser.add_argument("--sizes", default="40,100")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=max(1, os.cpu_count() or 1), help="llama.cpp threads, both sides")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)
    import dspy
    from llama_cpp import LlamaGrammar

    from engine.adapters import CALIBRATION_ROWS
    from engine.adapters.compact import CompactAdapter, output_schema
    from engine.evaluation import evaluate
    from engine.jobs.instrument import RunMeter
    from engine.lms.embedded import LlamaEngine, model_path, open_llama
    from engine.metrics import ExactMatch
    from engine.programs import FieldSpec, StageSpec, build_signature

    rows = list(csv.DictReader(open(args.dataset, encoding="utf-8")))
    random.Random(args.seed).shuffle(rows)
    labels = sorted({r["label"] for r in rows})
    sizes = [int(s) for s in args.sizes.split(",")]
    evaluation, calibration = rows[: max(sizes)], rows[max(sizes): max(sizes) + CALIBRATION_ROWS]
    signature = build_signature(StageSpec(
        name="classify", instructions=args.instructions, inputs=[FieldSpec(name="text")],
        outputs=[FieldSpec(name="label", type="literal", choices=labels)],
    ))
    examples = [dspy.Example(text=r["text"], label=r["label"], example_id=str(i)).with_inputs("text")
                for i, r in enumerate(evaluation)]
    metric = ExactMatch(field="label")

    engine = LlamaEngine(model_path(), context_tokens=4096, threads=args.threads)
    lm = dspy.LM("embedded/bench", engine=engine, temperature=0.0, max_tokens=64, num_retries=0, cache=False)
    adapter = CompactAdapter(calibration_inputs=[{"text": r["text"]} for r in calibration])
    hand_llama = open_llama(model_path(), context_tokens=4096, threads=args.threads)
    grammar = LlamaGrammar.from_json_schema(json.dumps(output_schema(signature)), verbose=False)

    def workbench(n: int) -> dict:
        if engine._scorer is not None:
            engine._scorer._priors.clear()  # each run pays its prior, as a new program state would
        meter = RunMeter()
        started = time.perf_counter()
        with dspy.context(lm=lm, adapter=adapter), meter.context():
            result = evaluate(dspy.Predict(signature), examples[:n], metric, split="test")
        answers = Counter((r.prediction or {}).get("label") for r in result.results)
        return {"seconds": time.perf_counter() - started, "accuracy": result.summary().score,
                "calibration_calls": meter.calibration_calls, "calls": meter.real_calls,
                "top": answers.most_common(1)[0][1] / n}

    def by_hand(n: int) -> dict:
        correct, answers, started = 0, Counter(), time.perf_counter()
        for example in examples[:n]:
            messages = adapter.format(signature, [], {"text": example.text})
            out = hand_llama.create_chat_completion(messages=messages, grammar=grammar, temperature=0.0, max_tokens=64)
            answer = json.loads(out["choices"][0]["message"]["content"])["label"]
            correct += answer == example.label
            answers[answer] += 1
        return {"seconds": time.perf_counter() - started, "accuracy": correct / n,
                "top": answers.most_common(1)[0][1] / n}

    # the prior's own time, measured apart: a workbench run of 1 row is (prior + 1 row)
    print(f"{Path(args.dataset).name}: sizes {sizes}, {args.repeats} repeats, {args.threads} llama.cpp thread(s), "
          f"calibration: 3 content-free + {len(calibration)} training inputs")
    workbench(1), by_hand(1)  # load both models, warm the shared system prompt
    figures: dict[int, dict[str, list]] = {n: {"wb": [], "hand": [], "prior": []} for n in sizes}
    for repeat in range(args.repeats):
        for n in sizes:
            sides = [("wb", workbench), ("hand", by_hand)]
            for name, run in sides if repeat % 2 == 0 else reversed(sides):
                figures[n][name].append(run(n))
            figures[n]["prior"].append(prior_seconds(engine, adapter, signature))
            wb, hand = figures[n]["wb"][-1], figures[n]["hand"][-1]
            print(f"  n={n:>3} repeat {repeat + 1}: workbench {n / wb['seconds']:.2f} calls/s (acc {wb['accuracy']:.3f}, top answer {wb['top']:.0%}, "
                  f"{wb['calls']} LM calls of which {wb['calibration_calls']} calibration), "
                  f"by hand {n / hand['seconds']:.2f} calls/s (acc {hand['accuracy']:.3f}, top answer {hand['top']:.0%}), "
                  f"ratio {hand['seconds'] / wb['seconds']:.2f}; prior alone {figures[n]['prior'][-1]:.1f} s", flush=True)
    for n in sizes:
        wb_s = sum(r["seconds"] for r in figures[n]["wb"])
        hand_s = sum(r["seconds"] for r in figures[n]["hand"])
        prior_s = sum(figures[n]["prior"])
        print(f"n={n}: ratio {hand_s / wb_s:.2f} (goal >= 0.9); accuracy workbench {figures[n]['wb'][0]['accuracy']:.3f}, "
              f"by hand {figures[n]['hand'][0]['accuracy']:.3f}; the prior {100 * prior_s / (wb_s - prior_s):.0f}% "
              "on top of the rows (goal <= 15% at 100 rows)")


def prior_seconds(engine, adapter, signature) -> float:
    """The prior alone: the scorer's calibration for this program state, timed once more from cold."""
    from engine.adapters.compact import CHOICE_SCORING, with_choice_scoring, with_response_format

    scoring = with_choice_scoring(with_response_format({}, signature), signature, [], adapter.calibration_inputs)
    request = scoring["response_format"]["json_schema"]["schema"][CHOICE_SCORING]
    messages = adapter.format(signature, [], {"text": "N/A"})
    scorer = engine._scorer
    scorer._priors.clear()
    with engine._lock:
        started = time.perf_counter()
        system = [m for m in messages if m["role"] == "system"]
        scorer._prior(system, request["calibration"], '{ "label": "', request["choices"], lambda: None)
        return time.perf_counter() - started


if __name__ == "__main__":
    main()
