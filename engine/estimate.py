"""What a compile will cost before it runs: LM calls, tokens, dollars and minutes, from the settings.

No model is called. The figures come from how each DSPy 3.4 optimizer spends calls (read in its
source: BootstrapFewShot's bootstrap loop, `create_n_fewshot_demo_sets`, MIPROv2's
`AUTO_RUN_SETTINGS` and trial schedule, GEPA's `auto_budget`), the split sizes, the program's
number of predictors, and the evaluations every compile ends with (baseline and candidate on
validation and test). Calls are *logical* calls: an identical call answered from the project's LM
cache costs nothing, so a re-run costs less than the estimate.

Where a count depends on how the model answers (bootstrapping stops once enough traces pass the
metric), the range spans "every trace passes" to "none does", and the point estimate assumes the
project's last measured validation score for the profile (else one half) as the pass rate.
Tokens are approximate (characters / 4 of the prompts the program renders for a few training
examples, plus the demos a candidate carries); dollars follow from the profile's price where it is
known; seconds from this profile's measured time per call in the project's run history.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field

# DSPy 3.4 constants the counts follow (dspy/teleprompt/mipro_optimizer_v2.py, gepa/gepa.py).
MIPRO_AUTO = {"light": {"n": 6, "val_size": 100}, "medium": {"n": 12, "val_size": 300},
              "heavy": {"n": 18, "val_size": 1000}}
MIPRO_MIN_MINIBATCH = 50
MIPRO_FULL_EVAL_STEPS = 5
MIPRO_ZEROSHOT_BOOTSTRAPPED = 3
GEPA_AUTO = {"light": 6, "medium": 12, "heavy": 18}
CHARS_PER_TOKEN = 4
DEFAULT_PASS_RATE = 0.5


@dataclass(frozen=True)
class Calls:
    low: int
    point: int
    high: int

    def __add__(self, other: Calls) -> Calls:
        return Calls(self.low + other.low, self.point + other.point, self.high + other.high)

    def times(self, factor: int) -> Calls:
        return Calls(self.low * factor, self.point * factor, self.high * factor)

    @classmethod
    def exactly(cls, n: int) -> Calls:
        return cls(n, n, n)


ZERO = Calls.exactly(0)


@dataclass(frozen=True)
class RunEstimate:
    """The estimate `compile --dry-run` prints and the Runs pane shows before Compile."""

    optimizer: str
    lm_calls: int
    lm_calls_range: tuple[int, int]
    tokens: int
    cost_usd: float | None
    seconds: float | None
    phases: dict[str, dict] = field(default_factory=dict)   # phase -> {low, point, high}
    warnings: list[str] = field(default_factory=list)       # settings that cannot work as asked
    basis: list[str] = field(default_factory=list)          # what the figures assume

    def to_json(self) -> dict:
        data = asdict(self)
        data["lm_calls_range"] = list(self.lm_calls_range)
        return data

    def summary(self) -> str:
        low, high = self.lm_calls_range
        calls = f"{self.lm_calls:,} LM calls" + (f" ({low:,}–{high:,})" if low != high else "")
        cost = "cost unknown" if self.cost_usd is None else f"${self.cost_usd:,.2f}"
        time = "time unknown" if self.seconds is None else f"about {_duration(self.seconds)}"
        return f"{calls}, ~{self.tokens:,} tokens, {cost}, {time}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# -- calls per optimizer ---------------------------------------------------------------------------

def bootstrap_forwards(n_train: int, max_bootstrapped: int, max_rounds: int, pass_rate: float) -> Calls:
    """Program runs of one BootstrapFewShot: it walks the train split until it has enough traces
    that pass the metric, trying each example up to `max_rounds` times."""
    if max_bootstrapped <= 0 or n_train <= 0:
        return ZERO
    low = min(max_bootstrapped, n_train)
    high = n_train * max_rounds
    p = min(max(pass_rate, 0.01), 1.0)
    per_example_pass = 1 - (1 - p) ** max_rounds
    attempts_per_example = per_example_pass / p
    examples = min(n_train, max_bootstrapped / per_example_pass)
    point = round(examples * attempts_per_example)
    return Calls(low, min(max(point, low), high), high)


def _bootstrap_random_sets(n_sets: int, n_train: int, max_bootstrapped: int, max_rounds: int,
                           pass_rate: float) -> Calls:
    """`create_n_fewshot_demo_sets`: a zero-shot and a labelled set (no calls), one unshuffled
    bootstrap of `max_bootstrapped`, then `n_sets` shuffled ones of a random size 1..max."""
    total = bootstrap_forwards(n_train, max_bootstrapped, max_rounds, pass_rate)
    smallest = bootstrap_forwards(n_train, 1, max_rounds, pass_rate)
    typical = bootstrap_forwards(n_train, max(1, round((1 + max_bootstrapped) / 2)), max_rounds, pass_rate)
    largest = bootstrap_forwards(n_train, max_bootstrapped, max_rounds, pass_rate)
    if max_bootstrapped > 0:
        total += Calls(smallest.low * n_sets, typical.point * n_sets, largest.high * n_sets)
    return total


def _compile_phases(key: str, params: dict, n: dict, predictors: int, pass_rate: float,
                    warnings: list[str]) -> dict[str, tuple[Calls, int]]:
    """phase -> (program runs or LM calls, LM calls per unit): most phases count program runs."""
    train, val = n["train"], n["validation"]
    if key == "labeled-fewshot":
        return {}
    if key == "bootstrap-fewshot":
        runs = bootstrap_forwards(train, params["max_bootstrapped_demos"], params["max_rounds"], pass_rate)
        return {"bootstrap demos": (runs, predictors)}
    if key == "bootstrap-rs":
        sets = params["num_candidate_programs"]
        demos = _bootstrap_random_sets(sets, train, params["max_bootstrapped_demos"], params["max_rounds"], pass_rate)
        evaluations = Calls.exactly((sets + 3) * val)
        if params.get("stop_at_score") is not None:
            evaluations = Calls(val, evaluations.point, evaluations.high)
        return {"bootstrap demo sets": (demos, predictors), "score each set on validation": (evaluations, predictors)}
    if key == "copro":
        breadth, depth = params["breadth"], params["depth"]
        runs = breadth * depth * predictors * train
        # Repeated instruction candidates are answered from the cache.
        return {"score instruction candidates on train": (Calls(runs // 2, runs, runs + train), 1),
                "propose instructions": (Calls.exactly(predictors * (depth + 1)), 1)}
    if key == "miprov2":
        return _mipro_phases(params, train, val, predictors, pass_rate, warnings)
    if key == "simba":
        # Per step: trajectories (bsize x candidates), then up to candidates + 1 programs on the
        # batch; at the end, up to candidates + 1 winners on the whole train split.
        steps, bsize, candidates = params["max_steps"], params["bsize"], params["num_candidates"]
        per_step = Calls(bsize * (candidates + 1), bsize * (2 * candidates + 1), bsize * (2 * candidates + 1))
        final = Calls(train, min(steps + 1, candidates + 1) * train, min(steps + 1, candidates + 1) * train)
        return {"mini-batch trajectories and candidates": (per_step.times(steps), predictors),
                "score the winners on train": (final, predictors),
                "propose rules": (Calls(0, steps * candidates // 2, steps * candidates * predictors), 1)}
    if key == "gepa":
        return _gepa_phases(params, val, predictors)
    raise ValueError(f"no estimate for optimizer {key}")


def _mipro_phases(params: dict, train: int, val: int, predictors: int, pass_rate: float,
                  warnings: list[str]) -> dict[str, tuple[Calls, int]]:
    zeroshot = params["max_bootstrapped_demos"] == 0 and params["max_labeled_demos"] == 0
    if params["auto"] != "none":
        settings = MIPRO_AUTO[params["auto"]]
        n_candidates = settings["n"]
        valset = min(val, settings["val_size"])
        minibatch = valset > MIPRO_MIN_MINIBATCH
        instructions = n_candidates if zeroshot else int(n_candidates * 0.5)
        variables = predictors * (1 if zeroshot else 2)
        trials = int(max(2 * variables * math.log2(n_candidates), 1.5 * n_candidates))
    else:
        n_candidates = instructions = params["num_candidates"]
        valset, minibatch, trials = val, params["minibatch"], params["num_trials"]
    batch = min(params["minibatch_size"], valset)
    if minibatch and params["minibatch_size"] > valset:
        warnings.append(f"minibatch_size {params['minibatch_size']} is larger than the {valset} validation "
                        f"rows MIPROv2 scores on: every trial scores all {valset} (set minibatch_size to "
                        f"{valset} or fewer, or add validation rows)")
    bootstrapped = MIPRO_ZEROSHOT_BOOTSTRAPPED if zeroshot else params["max_bootstrapped_demos"]
    demos = _bootstrap_random_sets(n_candidates, train, bootstrapped, 1, pass_rate)
    proposer = 10 + instructions * predictors + predictors + 1
    if minibatch:
        full_evals = trials // MIPRO_FULL_EVAL_STEPS + 1
        point = batch * trials + valset * full_evals
        runs = Calls(batch * trials + valset, point, point + valset)
    else:
        point = valset * (trials + 1)
        runs = Calls(valset * 2, point, point)  # repeated combinations are answered from the cache
    return {"bootstrap demo sets": (demos, predictors), "propose instructions": (Calls.exactly(proposer), 1),
            f"{trials} trials": (runs, predictors)}


def _gepa_phases(params: dict, val: int, predictors: int) -> dict[str, tuple[Calls, int]]:
    minibatch = params["reflection_minibatch_size"]
    if params.get("max_metric_calls"):
        metric_calls = params["max_metric_calls"]
    elif params.get("max_full_evals"):
        metric_calls = params["max_full_evals"] * val
    else:
        n = GEPA_AUTO[params["auto"]]
        trials = int(max(2 * (predictors * 2) * math.log2(n), 1.5 * n))
        metric_calls = val + n * 5 + trials * 35 + ((trials + 1) // 5 + 1 + (1 if trials < 5 else 0)) * val
    iterations_high = max(1, metric_calls // max(1, 2 * minibatch))
    iterations_low = max(1, metric_calls // max(1, 2 * minibatch + val))
    return {"candidate evaluations": (Calls(metric_calls // 2, metric_calls, metric_calls + val), predictors),
            "reflect and propose": (Calls(iterations_low, (iterations_low + iterations_high) // 2, iterations_high), 1)}


# -- the estimate ------------------------------------------------------------------------------------

def estimate_compile(project, settings) -> RunEstimate:
    """The estimate for `settings` (engine.jobs.compile.CompileSettings) on this project."""
    from engine import datasets, optimizers

    info = optimizers.get(settings.optimizer)
    params = optimizers.validate(info.key, settings.params, profiles=project.profiles)
    profile = project.profile(settings.profile)
    examples = {split: project.examples(split, settings.limit) for split in datasets.SPLITS}
    n = {split: len(rows) for split, rows in examples.items()}
    predictors = len(project.program.predictor_names())
    # Each program run the metric scores also asks every LLM judge in the metric once.
    judges = _judges_in(project.config.metric)
    per_run = predictors + judges
    warnings: list[str] = []
    history = _history(project, profile.name)
    pass_rate = history.get("pass_rate", DEFAULT_PASS_RATE)

    phases = {name: calls.times(per_run if per == predictors else per) for name, (calls, per) in
              _compile_phases(info.key, params, n, predictors, pass_rate, warnings).items()}
    phases["evaluate baseline and candidate"] = Calls.exactly(2 * (n["validation"] + n["test"]) * per_run)
    total = sum(phases.values(), ZERO)

    prompt_tokens, completion_tokens = _tokens_per_call(project, examples["train"], profile)
    demo_tokens = _demo_tokens(info.key, params, prompt_tokens)
    tokens = round(total.point * (prompt_tokens + completion_tokens + demo_tokens))
    cost = _cost(profile, total.point * (prompt_tokens + demo_tokens), total.point * completion_tokens)
    seconds = history.get("seconds_per_call")
    basis = [
        f"{n['train']} train, {n['validation']} validation, {n['test']} test rows; {predictors} LM call(s) per program run"
        + (f" and {judges} judge call(s) per scored run" if judges else ""),
        f"bootstrap pass rate {pass_rate:.2f} ({'last measured validation score' if 'pass_rate' in history else 'assumed'})",
        f"about {prompt_tokens + demo_tokens:,} prompt and {completion_tokens:,} completion tokens a call (characters / 4)",
        "calls answered from the project's LM cache cost nothing: a re-run costs less",
    ]
    if seconds is not None:
        basis.append(f"{seconds:.2f} s a call, measured in this project's past runs with {profile.name}")
    if profile.provider == "embedded":
        from engine.adapters import CALIBRATION_ROWS
        from engine.adapters.compact import CONTENT_FREE_INPUTS

        basis.append(f"not counted above: for a one-choice answer the embedded model also scores its prior, "
                     f"{CALIBRATION_ROWS + len(CONTENT_FREE_INPUTS)} + (demos) prompt evaluations per candidate "
                     "program, which the run counts as LM calls")
    if info.key in ("copro", "miprov2") and params.get("prompt_model"):
        basis.append(f"instruction proposals go to {params['prompt_model']}, counted with the rest")
    return RunEstimate(
        optimizer=info.key, lm_calls=total.point, lm_calls_range=(total.low, total.high), tokens=tokens,
        cost_usd=cost, seconds=None if seconds is None else round(seconds * total.point, 1),
        phases={name: asdict(calls) for name, calls in phases.items()}, warnings=warnings, basis=basis,
    )


def _judges_in(metric: dict) -> int:
    """How many LLM-judge metrics a metric spec (as stored in project.toml) holds, composites included."""
    if not isinstance(metric, dict):
        return 0
    found = 1 if metric.get("kind") == "llm_judge" else 0
    for part in metric.get("components", []) or []:
        found += _judges_in(part.get("metric", part) if isinstance(part, dict) else part)
    return found


def _history(project, profile_name: str) -> dict:
    """This profile's measured seconds per logical call and last validation score, from past runs."""
    per_call, scores = [], []
    for record in project.store.list_runs(limit=50):
        if record.profile != profile_name:
            continue
        calls = record.events_summary.get("logical_lm_calls") or (record.lm_calls + record.cached_calls)
        if calls and record.elapsed_s > 0 and record.lm_calls > 0:
            per_call.append(record.elapsed_s / calls)
        score = (record.scores.get("validation") or {}).get("baseline")
        if isinstance(score, (int, float)) and not scores:
            scores.append(float(score))
    found = {}
    if per_call:
        found["seconds_per_call"] = statistics.median(per_call[:10])
    if scores:
        found["pass_rate"] = scores[0]
    return found


def _tokens_per_call(project, train: list, profile) -> tuple[int, int]:
    from engine.prompts import render_program_prompts

    sample = train[:5]
    prompt_chars, completion_chars = [], []
    for example in sample:
        inputs = {name: example.get(name, "") for name in project.program.input_names}
        try:
            rendered = render_program_prompts(project.program, inputs, prompt_format=profile.format)
        except Exception:  # a program the renderer cannot show: fall back to the inputs' size
            rendered = []
        chars = sum(len(str(m.get("content", ""))) for r in rendered for m in r.messages)
        prompt_chars.append(chars / max(1, len(rendered)) if rendered else sum(len(str(v)) for v in inputs.values()))
        completion_chars.append(sum(len(str(example.get(name, ""))) for name in project.program.output_names) + 20)
    if not sample:
        return 200, 20
    prompt = round(statistics.mean(prompt_chars) / CHARS_PER_TOKEN)
    completion = min(profile.max_tokens, round(statistics.mean(completion_chars) / CHARS_PER_TOKEN) + 5)
    return prompt, completion


def _demo_tokens(key: str, params: dict, prompt_tokens: int) -> int:
    """Extra prompt tokens of the demos a candidate carries (about one example's size each)."""
    if key == "labeled-fewshot":
        demos = params["k"]
    elif key in ("bootstrap-fewshot", "bootstrap-rs", "miprov2"):
        demos = params["max_bootstrapped_demos"] + params["max_labeled_demos"]
    elif key == "simba":
        demos = params["max_demos"]
    else:
        demos = 0
    # Most calls of a compile run a candidate with demos; a demo is a fraction of a whole prompt.
    return round(demos * prompt_tokens * 0.4)


def _cost(profile, prompt_tokens: float, completion_tokens: float) -> float | None:
    from engine.lms.pricing import price_for

    price = price_for(profile)
    if not price.known:
        return None
    cost = price.cost({"prompt_tokens": int(prompt_tokens), "completion_tokens": int(completion_tokens)})
    return None if cost is None else round(cost, 4)
