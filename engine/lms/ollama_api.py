"""Ollama: management through the official `ollama` client, generation through a DSPy engine.

Management (`OllamaAdmin`): list installed models (size, family, parameter size, quantization,
digest), show one, pull with live progress and Cancel, the server's version and running models.

Generation (`OllamaEngine`): DSPy 3.4's `complete(Request) -> Response`, posting to Ollama's
native `/api/chat` with `stream: false` through `ollama.Client.chat`. The compact adapter's JSON
schema becomes the request's `format` (Ollama constrains decoding to it); `options` carries
temperature, seed, num_predict (max tokens), num_ctx (the profile's context size) and stop;
`prompt_eval_count` / `eval_count` become the usage DSPy tracks. The LM's model string carries
the model's digest (`ollama/NAME@sha256:<first16>`), so DSPy's cache never answers a re-pulled
model from the old model's entries.

Where Ollama lives: the profile's base URL, else OLLAMA_HOST (parsed as the ollama client and
CLI parse it), else http://localhost:11434.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import httpx

from engine.lms.errors import ModelCallError, short_body
from engine.lms.http_engine import EngineBase, Retryable, chat_messages, make_response, schema_of
from engine.lms.reliability import RETRY_STATUSES

DEFAULT_URL = "http://localhost:11434"


def ollama_url(base_url: str | None = None) -> str:
    """The Ollama server to talk to: an explicit URL, else OLLAMA_HOST, else localhost:11434."""
    if base_url:
        return base_url.rstrip("/")
    host = os.environ.get("OLLAMA_HOST", "").strip()
    if host:
        from ollama._client import _parse_host

        return _parse_host(host).rstrip("/")
    return DEFAULT_URL


def full_name(name: str) -> str:
    """Ollama's `model:tag` with the default tag (`llama3.2` -> `llama3.2:latest`)."""
    name = name.strip()
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def short_digest(digest: str) -> str:
    return digest.removeprefix("sha256:")[:16]


@dataclass
class InstalledModel:
    name: str
    digest: str  # sha256 hex of the manifest, as /api/tags reports it
    size: int
    family: str = ""
    parameter_size: str = ""
    quantization: str = ""
    format: str = ""
    modified_at: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PullProgress:
    status: str
    digest: str | None = None
    completed: int | None = None
    total: int | None = None

    @property
    def fraction(self) -> float | None:
        return self.completed / self.total if self.total and self.completed is not None else None


@dataclass
class PullResult:
    model: str
    status: str  # "success" or "cancelled"
    digest: str | None = None
    statuses: list[str] = field(default_factory=list)


def _unreachable(url: str) -> ModelCallError:
    return ModelCallError(f"Ollama is not reachable at {url}; start it with `ollama serve`", kind="unreachable")


def _not_installed(name: str, url: str) -> ModelCallError:
    return ModelCallError(
        f"model {name} is not installed in Ollama at {url}; pull it with `dspy-workbench models pull {name}`",
        kind="not_found", status=404)


def _timeout(url: str, seconds: float) -> ModelCallError:
    return ModelCallError(f"Ollama at {url} did not answer within {seconds:g} s; it may be loading a big model or hung",
                          kind="timeout")


class OllamaAdmin:
    """Model management on one Ollama server, through the official client."""

    def __init__(self, base_url: str | None = None, *, timeout_s: float = 30.0, headers: dict | None = None):
        import ollama

        self.url = ollama_url(base_url)
        self.timeout_s = timeout_s
        self._headers = headers
        self.client = ollama.Client(host=self.url, timeout=timeout_s, headers=headers)

    def _call(self, fn: Callable, *, model: str | None = None):
        import ollama

        try:
            return fn()
        except ConnectionError:
            raise _unreachable(self.url) from None
        except httpx.ConnectError:
            raise _unreachable(self.url) from None
        except httpx.TimeoutException:
            raise _timeout(self.url, self.timeout_s) from None
        except ollama.ResponseError as exc:
            if exc.status_code == 404 and model:
                raise _not_installed(model, self.url) from None
            raise ModelCallError(f"Ollama at {self.url} failed: {short_body(exc.error)} (HTTP {exc.status_code})",
                                 kind="server" if exc.status_code >= 500 else "bad_request",
                                 status=exc.status_code) from None
        except (httpx.TransportError, ValueError) as exc:
            raise ModelCallError(f"Ollama at {self.url} answered with something unexpected ({type(exc).__name__}); "
                                 "is that an Ollama server?", kind="garbage") from None

    def version(self) -> str:
        def get():
            response = self.client._client.get("/api/version")  # the client has no version() call
            response.raise_for_status()
            return str(response.json().get("version", ""))

        try:
            return self._call(get)
        except ModelCallError:
            raise
        except httpx.HTTPStatusError as exc:
            raise ModelCallError(f"{self.url} does not answer like Ollama (GET /api/version: HTTP "
                                 f"{exc.response.status_code})", kind="garbage") from None

    def list_models(self) -> list[InstalledModel]:
        listed = self._call(self.client.list)
        found = []
        for m in listed.models:
            details = m.details
            found.append(InstalledModel(
                name=m.model or "", digest=(m.digest or "").removeprefix("sha256:"), size=int(m.size or 0),
                family=(details.family or "") if details else "",
                parameter_size=(details.parameter_size or "") if details else "",
                quantization=(details.quantization_level or "") if details else "",
                format=(details.format or "") if details else "",
                modified_at=m.modified_at.isoformat() if m.modified_at else "",
            ))
        return found

    def find(self, name: str) -> InstalledModel | None:
        wanted = full_name(name)
        for model in self.list_models():
            if model.name == name or full_name(model.name) == wanted:
                return model
        return None

    def require(self, name: str) -> InstalledModel:
        model = self.find(name)
        if model is None:
            raise _not_installed(name, self.url)
        return model

    def show(self, name: str) -> dict:
        shown = self._call(lambda: self.client.show(name), model=name)
        details = shown.details
        info = dict(shown.modelinfo or {})
        context = next((v for k, v in info.items() if k.endswith(".context_length")), None)
        return {
            "model": name,
            "family": (details.family or "") if details else "",
            "families": list(details.families or []) if details and details.families else [],
            "parameter_size": (details.parameter_size or "") if details else "",
            "quantization": (details.quantization_level or "") if details else "",
            "format": (details.format or "") if details else "",
            "capabilities": list(shown.capabilities or []),
            "context_length": context,
            "parameters": shown.parameters or "",
            "modified_at": shown.modified_at.isoformat() if shown.modified_at else "",
        }

    def running(self) -> list[dict]:
        ps = self._call(self.client.ps)
        return [{"name": m.model or m.name, "digest": m.digest, "size": int(m.size or 0),
                 "size_vram": int(m.size_vram or 0), "expires_at": m.expires_at.isoformat() if m.expires_at else ""}
                for m in ps.models]

    def pull(self, name: str, *, progress: Callable[[PullProgress], None] | None = None,
             cancel=None) -> PullResult:
        """Pull `name`, reporting each status; Cancel stops reading the stream and closes it.

        The pull runs in a worker thread so that a Cancel returns at once even when the server is
        silent; the worker closes the stream at its next read. Ollama resumes a cancelled pull
        where it stopped the next time.
        """
        import ollama

        result = PullResult(model=name, status="running")
        outcome: dict = {}
        finished = threading.Event()
        # Its own client: the stream is read in another thread and closed with it.
        client = ollama.Client(host=self.url, timeout=httpx.Timeout(self.timeout_s, read=max(self.timeout_s, 300.0)),
                               headers=self._headers)

        def work():
            stream = None
            try:
                stream = client.pull(name, stream=True)
                for part in stream:
                    if cancel is not None and cancel.cancelled:
                        break
                    item = PullProgress(status=part.status or "", digest=part.digest,
                                        completed=part.completed, total=part.total)
                    result.statuses.append(item.status)
                    if progress is not None:
                        progress(item)
                    if item.status == "success":
                        outcome["success"] = True
            except BaseException as exc:  # handed to the caller below
                outcome["error"] = exc
            finally:
                if stream is not None:
                    try:
                        stream.close()  # leaves the `with client.stream(...)` block: the response closes
                    except Exception:
                        pass
                client.close()
                finished.set()

        worker = threading.Thread(target=work, name=f"ollama-pull-{name}", daemon=True)
        worker.start()
        while not finished.wait(0.05):
            if cancel is not None and cancel.cancelled:
                result.status = "cancelled"
                return result
        if cancel is not None and cancel.cancelled and not outcome.get("success"):
            result.status = "cancelled"
            return result
        error = outcome.get("error")
        if error is not None:
            raise self._pull_error(name, error)
        if not outcome.get("success"):
            raise ModelCallError(f"Ollama at {self.url} ended the pull of {name} without success; try again",
                                 kind="server")
        result.status = "success"
        found = self.find(name)
        result.digest = found.digest if found else None
        return result

    def _pull_error(self, name: str, error: BaseException) -> ModelCallError:
        import ollama

        if isinstance(error, (ConnectionError, httpx.ConnectError)):
            return _unreachable(self.url)
        if isinstance(error, httpx.TimeoutException):
            return _timeout(self.url, self.timeout_s)
        if isinstance(error, ollama.ResponseError):
            text = str(error.error)
            if error.status_code == 404 or "file does not exist" in text or "not found" in text:
                return ModelCallError(
                    f"Ollama at {self.url} could not pull {name}: {short_body(text)}; check the name at "
                    "https://ollama.com/library", kind="not_found", status=404)
            return ModelCallError(f"Ollama at {self.url} could not pull {name}: {short_body(text)}",
                                  kind="server", status=error.status_code if error.status_code > 0 else None)
        if isinstance(error, ModelCallError):
            return error
        if isinstance(error, Exception):
            return ModelCallError(f"the pull of {name} from Ollama at {self.url} failed: "
                                  f"{type(error).__name__}: {short_body(str(error))}", kind="garbage")
        raise error


class OllamaEngine(EngineBase):
    """DSPy engine: POST /api/chat (stream false) with the schema as `format`."""

    def __init__(self, profile, *, observer=None):
        import ollama

        super().__init__(profile, observer=observer, slots_key=f"ollama:{profile.name}:{ollama_url(profile.base_url)}")
        self.url = ollama_url(profile.base_url)
        self.model = profile.model
        self.client = ollama.Client(host=self.url, timeout=httpx.Timeout(profile.timeout_s,
                                                                           connect=min(10.0, profile.timeout_s)))

    def close(self) -> None:
        self.client.close()

    def complete(self, request):
        from dspy.clients.engines.base import validate_request

        validate_request(request)
        config = request.config
        options = {
            "temperature": config.temperature if config.temperature is not None else self.profile.temperature,
            "num_predict": config.max_tokens or self.profile.max_tokens,
            "num_ctx": self.profile.context_tokens,
        }
        if config.seed is not None:
            options["seed"] = config.seed
        if config.stop:
            options["stop"] = list(config.stop)
        return self.chat(chat_messages(request), options=options, response_format=config.response_format)

    def chat(self, messages: list[dict], *, options: dict, response_format: dict | None = None,
             retries: int | None = None):
        kind, schema, _ = schema_of(response_format)
        fmt = schema if (kind and schema) else ("json" if kind else None)
        answer = self.with_retries(lambda: self._post(messages, fmt, options), retries=retries)
        text = (answer.message.content or "") if answer.message else ""
        served = answer.model or self.model
        self.observer.observe(model=served)
        return make_response(
            text=text, model=served, response_id=None, finish=answer.done_reason,
            prompt_tokens=answer.prompt_eval_count, completion_tokens=answer.eval_count,
            provider_data={"endpoint": self.url},
        )

    def _post(self, messages, fmt, options):
        import ollama

        try:
            return self.client.chat(model=self.model, messages=messages, format=fmt, options=options, stream=False)
        except ConnectionError:
            raise Retryable("unreachable", f"Ollama is not reachable at {self.url}; start it with `ollama serve`") from None
        except httpx.TimeoutException:
            raise _timeout(self.url, self.profile.timeout_s) from None
        except ollama.ResponseError as exc:
            status = exc.status_code
            if status == 404:
                raise _not_installed(self.model, self.url) from None
            if status in RETRY_STATUSES or status >= 500:
                raise Retryable("server" if status != 429 else "rate_limit",
                                f"Ollama at {self.url} failed with HTTP {status} ({short_body(exc.error)})",
                                status=status) from None
            raise ModelCallError(f"Ollama at {self.url} refused the request (HTTP {status}: {short_body(exc.error)})",
                                 kind="bad_request", status=status) from None
        except httpx.TransportError as exc:
            raise Retryable("server", f"the connection to Ollama at {self.url} broke during a call "
                            f"({type(exc).__name__}); the server may have crashed") from None
        except ValueError as exc:  # not JSON, or not a chat response (pydantic's ValidationError is one)
            raise ModelCallError(f"Ollama at {self.url} answered with something that is not a chat response "
                                 f"({type(exc).__name__}); is that an Ollama server?", kind="garbage") from None
