"""The optimizer catalogue: each DSPy optimizer's parameters as a schema.

The CLI's `--param key=value` and the GUI's settings form are both built from this schema, and a
configuration is validated here before any LM call. Parameter names are DSPy's own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.errors import OptimizerError

ParamKind = Literal["int", "float", "bool", "choice", "profile"]


@dataclass(frozen=True)
class Param:
    name: str
    kind: ParamKind
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    where: Literal["init", "compile"] = "init"
    optional: bool = False  # may be None ("not set")

    def coerce(self, value: Any, optimizer: str) -> Any:
        """A typed value from a CLI string or a GUI value; OptimizerError when it does not fit."""
        if isinstance(value, str) and value.strip() in self.choices:
            return value.strip()
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
            if self.optional:
                return None
            raise OptimizerError(f"{optimizer}: parameter {self.name} needs a value ({self.help.lower()})")
        try:
            typed = self._convert(value)
        except (TypeError, ValueError):
            raise OptimizerError(
                f"{optimizer}: parameter {self.name}={value!r} is not a valid {self._kind_text()}"
            ) from None
        if self.minimum is not None and typed < self.minimum:
            raise OptimizerError(f"{optimizer}: {self.name} must be at least {self.minimum:g}, not {typed}")
        if self.maximum is not None and typed > self.maximum:
            raise OptimizerError(f"{optimizer}: {self.name} must be at most {self.maximum:g}, not {typed}")
        return typed

    def _convert(self, value: Any) -> Any:
        if self.kind == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if self.kind == "float":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "yes", "1", "on"):
                return True
            if text in ("false", "no", "0", "off"):
                return False
            raise ValueError
        text = str(value).strip()
        if self.kind == "choice" and text not in self.choices:
            raise ValueError
        return text

    def _kind_text(self) -> str:
        if self.kind == "choice":
            return "choice (one of " + ", ".join(self.choices) + ")"
        if self.kind == "profile":
            return "model profile name"
        return {"int": "whole number", "float": "number", "bool": "true/false"}[self.kind]


@dataclass(frozen=True)
class BuildContext:
    """What building an optimizer may need besides its parameters."""

    metric: Callable
    feedback_metric: Callable
    seed: int
    threads: int
    lm_for_profile: Callable[[str], Any]  # profile name -> dspy.LM (GEPA's reflection model, ...)


@dataclass(frozen=True)
class OptimizerInfo:
    key: str  # the CLI name
    dspy_name: str
    summary: str
    params: tuple[Param, ...]
    uses_valset: bool
    build: Callable[[dict, BuildContext], tuple[Any, dict]] = field(repr=False)
    check: Callable[[dict], None] = field(default=lambda params: None, repr=False)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise OptimizerError(
            f"{self.key} has no parameter {name!r}; its parameters are: "
            + ", ".join(p.name for p in self.params)
        )

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}


# -- builders (DSPy is imported only when a run starts) ---------------------------------------------

def _split(params: dict, info_params: tuple[Param, ...], where: str) -> dict:
    return {p.name: params[p.name] for p in info_params if p.where == where and p.kind != "profile"}


def _labeled(params, ctx):
    import dspy

    return dspy.LabeledFewShot(k=params["k"]), {}


def _bootstrap(params, ctx):
    import dspy

    return dspy.BootstrapFewShot(
        metric=ctx.metric,
        max_bootstrapped_demos=params["max_bootstrapped_demos"],
        max_labeled_demos=params["max_labeled_demos"],
        max_rounds=params["max_rounds"],
        max_errors=params["max_errors"],
    ), {}


def _bootstrap_rs(params, ctx):
    import dspy

    return dspy.BootstrapFewShotWithRandomSearch(
        metric=ctx.metric,
        max_bootstrapped_demos=params["max_bootstrapped_demos"],
        max_labeled_demos=params["max_labeled_demos"],
        max_rounds=params["max_rounds"],
        num_candidate_programs=params["num_candidate_programs"],
        num_threads=params["num_threads"] or ctx.threads,
        max_errors=params["max_errors"],
        stop_at_score=params["stop_at_score"],
    ), {}


def _copro(params, ctx):
    import dspy

    prompt_model = ctx.lm_for_profile(params["prompt_model"]) if params.get("prompt_model") else None
    return dspy.COPRO(
        prompt_model=prompt_model, metric=ctx.metric, breadth=params["breadth"], depth=params["depth"],
        init_temperature=params["init_temperature"],
    ), {"eval_kwargs": {"num_threads": ctx.threads, "display_progress": False}}


def _check_mipro(params: dict) -> None:
    manual = params.get("num_candidates") is not None or params.get("num_trials") is not None
    if params.get("auto") == "none":
        if params.get("num_candidates") is None or params.get("num_trials") is None:
            raise OptimizerError(
                "miprov2 in manual mode (auto=none) needs both num_candidates and num_trials; "
                "set them with --param num_candidates=N --param num_trials=N, or use auto=light"
            )
    elif manual:
        raise OptimizerError(
            f"miprov2 with auto={params.get('auto')} chooses num_candidates and num_trials itself; "
            "remove them, or set auto=none to choose them yourself"
        )


def _mipro(params, ctx):
    import dspy

    auto = None if params["auto"] == "none" else params["auto"]
    prompt_model = ctx.lm_for_profile(params["prompt_model"]) if params.get("prompt_model") else None
    optimizer = dspy.MIPROv2(
        metric=ctx.metric, prompt_model=prompt_model, auto=auto,
        max_bootstrapped_demos=params["max_bootstrapped_demos"],
        max_labeled_demos=params["max_labeled_demos"],
        num_candidates=params["num_candidates"], num_threads=ctx.threads, seed=ctx.seed or 9,
        verbose=False, track_stats=False,
    )
    # DSPy 3.4 no longer asks for permission; passing requires_permission_to_run only logs a deprecation.
    compile_kwargs = {
        "num_trials": params["num_trials"], "minibatch": params["minibatch"],
        "minibatch_size": params["minibatch_size"],
    }
    return optimizer, compile_kwargs


def _simba(params, ctx):
    import dspy

    return dspy.SIMBA(
        metric=ctx.metric, bsize=params["bsize"], num_candidates=params["num_candidates"],
        max_steps=params["max_steps"], max_demos=params["max_demos"], num_threads=ctx.threads,
    ), {"seed": ctx.seed}


def _check_gepa(params: dict) -> None:
    if not params.get("reflection_model"):
        raise OptimizerError(
            "gepa needs a reflection model: --param reflection_model=PROFILE (a model profile, "
            "ideally a stronger model than the one being optimized)"
        )
    budgets = [b for b in ("auto", "max_metric_calls", "max_full_evals")
               if params.get(b) not in (None, "none")]
    if len(budgets) != 1:
        raise OptimizerError(
            "gepa needs exactly one budget: auto=light|medium|heavy, max_metric_calls=N or "
            f"max_full_evals=N (got {', '.join(budgets) or 'none'})"
        )


def _gepa(params, ctx):
    import dspy

    auto = None if params["auto"] in (None, "none") else params["auto"]
    return dspy.GEPA(
        metric=ctx.feedback_metric, auto=auto, max_metric_calls=params["max_metric_calls"],
        max_full_evals=params["max_full_evals"],
        reflection_minibatch_size=params["reflection_minibatch_size"],
        reflection_lm=ctx.lm_for_profile(params["reflection_model"]),
        num_threads=ctx.threads, seed=ctx.seed, track_stats=False,
    ), {}


_DEMOS = (
    Param("max_bootstrapped_demos", "int", 2, "Demos generated by running the program on train examples", 0, 32),
    Param("max_labeled_demos", "int", 4, "Demos taken as they are from the train split", 0, 64),
)

CATALOGUE: dict[str, OptimizerInfo] = {
    info.key: info
    for info in (
        OptimizerInfo(
            "labeled-fewshot", "LabeledFewShot",
            "Adds k labelled train examples as demos. No LM calls while compiling.",
            (Param("k", "int", 4, "Number of demos", 1, 64),),
            uses_valset=False, build=_labeled,
        ),
        OptimizerInfo(
            "bootstrap-fewshot", "BootstrapFewShot",
            "Runs the program on train examples and keeps the traces the metric accepts as demos.",
            _DEMOS + (
                Param("max_rounds", "int", 1, "Bootstrapping rounds", 1, 10),
                Param("max_errors", "int", None, "Errors tolerated before stopping", 0, None, optional=True),
            ),
            uses_valset=False, build=_bootstrap,
        ),
        OptimizerInfo(
            "bootstrap-rs", "BootstrapFewShotWithRandomSearch",
            "Bootstraps several demo sets and keeps the one that scores best on validation.",
            _DEMOS + (
                Param("max_rounds", "int", 1, "Bootstrapping rounds per candidate", 1, 10),
                Param("num_candidate_programs", "int", 4, "Candidate demo sets to try", 1, 64),
                Param("num_threads", "int", None, "Parallel evaluations (default: the profile's concurrency)", 1, 64, optional=True),
                Param("max_errors", "int", None, "Errors tolerated before stopping", 0, None, optional=True),
                Param("stop_at_score", "float", None, "Stop once a candidate reaches this validation score (0-100)", 0, 100, optional=True),
            ),
            uses_valset=True, build=_bootstrap_rs,
        ),
        OptimizerInfo(
            "copro", "COPRO",
            "Searches instructions only: proposes and refines instruction candidates.",
            (
                Param("breadth", "int", 4, "Instruction candidates per round", 2, 50),
                Param("depth", "int", 2, "Refinement rounds", 1, 20),
                Param("init_temperature", "float", 1.0, "Temperature for proposing", 0.0, 2.0),
                Param("prompt_model", "profile", None, "Model profile that proposes instructions (default: the task model)", optional=True),
            ),
            uses_valset=False, build=_copro,
        ),
        OptimizerInfo(
            "miprov2", "MIPROv2",
            "Jointly searches instructions and demos with a surrogate model (needs optuna).",
            _DEMOS + (
                Param("auto", "choice", "light", "Search size preset; 'none' for manual mode", choices=("light", "medium", "heavy", "none")),
                Param("num_candidates", "int", None, "Instruction/demo candidates (manual mode)", 1, 100, optional=True),
                Param("num_trials", "int", None, "Search trials (manual mode)", 1, 1000, where="compile", optional=True),
                Param("minibatch", "bool", True, "Score trials on minibatches of validation", where="compile"),
                Param("minibatch_size", "int", 35, "Minibatch size", 1, 1000, where="compile"),
                Param("prompt_model", "profile", None, "Model profile that proposes instructions (default: the task model)", optional=True),
            ),
            uses_valset=True, build=_mipro, check=_check_mipro,
        ),
        OptimizerInfo(
            "simba", "SIMBA",
            "Stochastic introspective mini-batch ascent over instructions and demos.",
            (
                Param("bsize", "int", 8, "Minibatch size (the train split must hold at least this many)", 1, 256),
                Param("num_candidates", "int", 4, "Candidates per step", 1, 64),
                Param("max_steps", "int", 2, "Optimization steps", 1, 100),
                Param("max_demos", "int", 4, "Demos per predictor", 0, 32),
            ),
            uses_valset=False, build=_simba,
        ),
        OptimizerInfo(
            "gepa", "GEPA",
            "Reflective prompt evolution with textual feedback from a reflection model.",
            (
                Param("reflection_model", "profile", None, "Model profile that reflects and proposes (required)", optional=True),
                Param("auto", "choice", "none", "Budget preset, or 'none' to set a call limit", choices=("light", "medium", "heavy", "none")),
                Param("max_metric_calls", "int", None, "Budget: metric calls", 1, None, optional=True),
                Param("max_full_evals", "int", None, "Budget: full validation evaluations", 1, None, optional=True),
                Param("reflection_minibatch_size", "int", 3, "Examples per reflection", 1, 64),
            ),
            uses_valset=True, build=_gepa, check=_check_gepa,
        ),
    )
}


def get(name: str) -> OptimizerInfo:
    """By CLI name or DSPy class name, case-insensitively."""
    wanted = name.strip().lower()
    for info in CATALOGUE.values():
        if wanted in (info.key, info.dspy_name.lower()):
            return info
    raise OptimizerError(
        f"unknown optimizer {name!r}; choose one of: {', '.join(CATALOGUE)}"
    )


def validate(name: str, raw: Mapping[str, Any], *, profiles: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults plus `raw`, typed and checked. Nothing runs before this passes."""
    info = get(name)
    params = info.defaults()
    for key, value in raw.items():
        params[key] = info.param(key).coerce(value, info.key)
    for p in info.params:
        if p.kind == "profile" and params[p.name] and profiles is not None and params[p.name] not in profiles:
            raise OptimizerError(
                f"{info.key}: {p.name}={params[p.name]!r} is not a model profile; known profiles: "
                + ", ".join(profiles)
            )
    info.check(params)
    return params


def parse_cli_params(pairs: list[str]) -> dict[str, str]:
    """["k=4", "auto=light"] -> {"k": "4", "auto": "light"}."""
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise OptimizerError(f"--param {pair!r} must look like NAME=VALUE, e.g. --param max_labeled_demos=4")
        params[key.strip()] = value.strip()
    return params
