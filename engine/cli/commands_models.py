"""Model subcommands: models list / add / remove / key / test / show / pull / ollama.

Profiles are added to the user's models.toml (a project's own `[models.NAME]` live in its
project.toml and win a name clash). API keys are read from stdin (never from an argument, which
would land in the shell's history) and go straight to the OS keyring.
"""

from __future__ import annotations

import sys
import threading
import time

from engine.errors import ModelError, WorkbenchError


def register(sub) -> None:
    from engine.cli.main import add_json_flag

    p = sub.add_parser("models", help="model profiles: Ollama, OpenAI-compatible servers, hosted providers")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION")
    msub.required = True

    s = msub.add_parser("list", help="list model profiles (yours, the project's, the built-in one)")
    s.add_argument("dir", nargs="?", help="a project folder: include its own profiles")
    add_json_flag(s)
    s.set_defaults(handler=cmd_list)

    s = msub.add_parser("add", help="add a model profile to your models.toml (the key goes to the keyring)")
    s.add_argument("name")
    s.add_argument("--provider", required=True,
                   help="ollama, openai-compatible, or a LiteLLM provider (openai, anthropic, gemini, mistral, ...)")
    s.add_argument("--model", required=True, help="e.g. llama3.2, qwen2.5-7b-instruct, gpt-4o-mini")
    s.add_argument("--base-url", help="the server (Ollama: default OLLAMA_HOST or http://localhost:11434)")
    s.add_argument("--api-key-stdin", action="store_true", help="read the API key from stdin into the OS keyring")
    s.add_argument("--api-key-env", metavar="VAR", help="the environment variable to read the key from instead")
    s.add_argument("--temperature", type=float)
    s.add_argument("--max-tokens", type=int)
    s.add_argument("--seed", type=int)
    s.add_argument("--concurrency", type=int, help="at most N calls in flight (and N evaluation threads)")
    s.add_argument("--timeout", type=float, dest="timeout_s", help="seconds to wait for one call")
    s.add_argument("--retries", type=int, help="retries after a 429, a 5xx or a dropped connection (default 3)")
    s.add_argument("--format", choices=("compact", "chat", "json"), help="prompt format (default compact)")
    s.add_argument("--json-mode", choices=("auto", "json_schema", "json_object", "none"),
                   help="how an OpenAI-compatible server is asked for JSON (default auto)")
    s.add_argument("--context-tokens", type=int)
    s.add_argument("--usd-per-million-input", type=float, dest="usd_per_million_input_tokens", metavar="USD",
                   help="price of input tokens (with --usd-per-million-output): lets --max-cost cap a paid "
                        "endpoint whose price LiteLLM does not know")
    s.add_argument("--usd-per-million-output", type=float, dest="usd_per_million_output_tokens", metavar="USD")
    s.add_argument("--replace", action="store_true", help="replace a profile of the same name")
    add_json_flag(s)
    s.set_defaults(handler=cmd_add)

    s = msub.add_parser("remove", help="remove one of your profiles (and its key)")
    s.add_argument("name")
    s.add_argument("--keep-key", action="store_true", help="leave its key in the keyring")
    add_json_flag(s)
    s.set_defaults(handler=cmd_remove)

    s = msub.add_parser("key", help="store (from stdin) or delete a profile's API key in the OS keyring")
    s.add_argument("name")
    s.add_argument("--project", metavar="DIR", help="a project whose own profile this is")
    s.add_argument("--delete", action="store_true")
    # Spelled as in `models add`; reading the key from stdin is what `models key` does anyway.
    s.add_argument("--api-key-stdin", action="store_true", help="read the key from stdin (the default)")
    add_json_flag(s)
    s.set_defaults(handler=cmd_key)

    s = msub.add_parser("test", help="one tiny real call: latency, exact revision, or why it fails")
    s.add_argument("name")
    s.add_argument("--project", metavar="DIR")
    add_json_flag(s)
    s.set_defaults(handler=cmd_test)

    s = msub.add_parser("show", help="a profile's settings, key status and what its server says")
    s.add_argument("name")
    s.add_argument("--project", metavar="DIR")
    add_json_flag(s)
    s.set_defaults(handler=cmd_show)

    s = msub.add_parser("pull", help="pull a model into Ollama (progress on stderr; Ctrl-C cancels)")
    s.add_argument("model")
    s.add_argument("--profile", help="pull into this Ollama profile's server (default: OLLAMA_HOST)")
    s.add_argument("--project", metavar="DIR")
    add_json_flag(s)
    s.set_defaults(handler=cmd_pull)

    s = msub.add_parser("ollama", help="list the models installed in Ollama")
    s.add_argument("--profile", help="this Ollama profile's server (default: OLLAMA_HOST)")
    s.add_argument("--project", metavar="DIR")
    add_json_flag(s)
    s.set_defaults(handler=cmd_ollama)


# -- handlers -----------------------------------------------------------------------------------

def cmd_list(args) -> int:
    from engine.cli.main import print_json
    from engine.lms import manage

    infos = manage.list_profiles(args.dir)
    ollama = _ollama_status([i for i in infos if i.kind == "ollama"])
    rows = []
    for info in infos:
        row = info.to_dict()
        if info.kind == "ollama":
            row["ollama"] = ollama.get(info.base_url or "")
        rows.append(row)
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        where = row["base_url"] or ("OLLAMA_HOST" if row["kind"] == "ollama" else "")
        source = row["source"] + (f", hides {'/'.join(row['shadows'])}" if row["shadows"] else "")
        key = {"keyring": "key in keyring", "missing": "NO KEY"}.get(row["key"] or "", row["key"] or "")
        line = f"{row['name']:<16} {row['provider']:<18} {row['model'] or '-':<28} {row['format']:<8} {source}"
        print(line + (f"  {where}" if where else "") + (f"  [{key}]" if key else ""))
        status = row.get("ollama")
        if status:
            if status.get("error"):
                print(f"{'':<16} ollama: {status['error']}")
            else:
                mark = "installed" if _installed(row["model"], status["installed"]) else "NOT installed"
                others = ", ".join(status["installed"]) or "nothing"
                print(f"{'':<16} ollama at {status['url']}: {row['model']} {mark}; installed: {others}")
    return 0


def _ollama_status(infos) -> dict:
    from engine.lms.ollama_api import OllamaAdmin

    out: dict = {}
    for info in infos:
        key = info.base_url or ""
        if key in out:
            continue
        admin = OllamaAdmin(info.base_url, timeout_s=5.0)
        try:
            out[key] = {"url": admin.url, "installed": [m.name for m in admin.list_models()]}
        except ModelError as exc:
            out[key] = {"url": admin.url, "error": str(exc)}
    return out


def _installed(model: str, names: list[str]) -> bool:
    from engine.lms.ollama_api import full_name

    return full_name(model) in {full_name(n) for n in names}


def read_key(name: str) -> str:
    """The API key from stdin: a hidden prompt on a terminal, else the first line piped in."""
    if sys.stdin is None:
        raise WorkbenchError("--api-key-stdin needs the key on stdin")
    if sys.stdin.isatty():
        import getpass

        key = getpass.getpass(f"API key for {name} (not shown): ")
    else:
        key = next((line.strip() for line in sys.stdin.read().splitlines() if line.strip()), "")
    if not key:
        raise WorkbenchError(f"no API key arrived on stdin for profile {name!r}; pipe it in, e.g. "
                             f"`printenv MY_KEY | dspy-workbench models key {name}`")
    return key


def cmd_add(args) -> int:
    from engine.cli.main import print_json
    from engine.lms import manage

    key = read_key(args.name) if args.api_key_stdin else None
    settings = {k: getattr(args, k) for k in ("temperature", "max_tokens", "seed", "concurrency", "timeout_s",
                                              "retries", "format", "json_mode", "context_tokens", "api_key_env",
                                              "usd_per_million_input_tokens", "usd_per_million_output_tokens")}
    profile = manage.add_profile(args.name, provider=args.provider, model=args.model, base_url=args.base_url,
                                 api_key=key, replace=args.replace, **settings)
    from engine.lms.keys import key_source
    from engine.lms.profiles import user_config_path

    result = {"name": profile.name, "profile": profile.to_toml(), "file": str(user_config_path()),
              "key": key_source(profile) or ("missing" if profile.needs_key else None)}
    if args.json:
        print_json(result)
    else:
        print(f"added model profile {profile.name!r} ({profile.provider} {profile.model}) to {result['file']}")
        if result["key"] == "keyring":
            print("  the API key is in the OS keyring")
        elif result["key"] == "missing":
            print(f"  no API key yet: `dspy-workbench models key {profile.name}` (stdin) or set {profile.key_env_var()}")
        print(f"  check it with `dspy-workbench models test {profile.name}`")
    return 0


def cmd_remove(args) -> int:
    from engine.cli.main import print_json
    from engine.lms import manage

    manage.remove_profile(args.name, delete_key=not args.keep_key)
    if args.json:
        print_json({"removed": args.name, "key_deleted": not args.keep_key})
    else:
        print(f"removed model profile {args.name!r}" + ("" if args.keep_key else " and its key"))
    return 0


def cmd_key(args) -> int:
    from engine.cli.main import print_json
    from engine.lms import manage

    if args.delete:
        deleted = manage.delete_api_key(args.name)
        if args.json:
            print_json({"name": args.name, "deleted": deleted})
        else:
            print(f"deleted the key of {args.name!r} from the keyring" if deleted
                  else f"the keyring held no key for {args.name!r}")
        return 0
    manage.get_profile(args.name, args.project)  # a clear error for a name that does not exist
    backend = manage.set_api_key(args.name, read_key(args.name), args.project)
    if args.json:
        print_json({"name": args.name, "stored_in": "keyring", "backend": backend})
    else:
        print(f"stored the key of {args.name!r} in the OS keyring ({backend})")
    return 0


def cmd_test(args) -> int:
    from engine.cli.main import print_json
    from engine.lms import manage

    profile = manage.get_profile(args.name, args.project)
    report = manage.test_profile(profile)
    if args.json:
        print_json(report.to_dict())
    elif report.ok:
        rev = report.revision
        print(f"{profile.name}: OK in {report.latency_s * 1000:.0f} ms")
        if rev is not None:
            print(f"  model: {rev.provider} {rev.name}  revision {rev.revision}")
            for key in ("family", "parameter_size", "quantization", "served_model", "system_fingerprint", "endpoint"):
                if rev.details.get(key):
                    print(f"  {key}: {rev.details[key]}")
        print(f"  reply: {report.reply!r}")
    if not report.ok:
        sys.stderr.write(f"error: {report.diagnosis}\n")
        return ModelError.exit_code
    return 0


def cmd_show(args) -> int:
    from engine.cli.main import print_json
    from engine.lms import manage

    info = manage.describe_profile(args.name, args.project)
    if args.json:
        print_json(info)
        return 0
    print(f"{info['name']}: {info['provider']} ({info['source']})")
    for key, value in info["settings"].items():
        print(f"  {key}: {value}")
    key = info["key"]
    print("  key: " + {"keyring": "in the OS keyring", "missing": f"missing (set {info['key_env_var']} or "
                       f"`dspy-workbench models key {info['name']}`)"}.get(key or "", key or "not needed"))
    server = info["server"]
    if server.get("error"):
        print(f"  server: {server['error']}")
    elif "installed" in server:
        installed = server["installed"]
        if installed:
            print(f"  ollama at {server['url']}: {installed['name']} digest {installed['digest'][:12]} "
                  f"{installed['family']} {installed['parameter_size']} {installed['quantization']} "
                  f"{_size(installed['size'])}")
            if server.get("show", {}).get("capabilities"):
                print(f"  capabilities: {', '.join(server['show']['capabilities'])}")
        else:
            print(f"  ollama at {server['url']}: not installed; `dspy-workbench models pull {info['settings']['model']}`")
    elif "served_models" in server:
        served = server["served_models"]
        print(f"  {server['url']} serves: " + (", ".join(served) if served else "(no model list)"))
    elif "file" in server:
        print(f"  file: {server['file']}")
    return 0


class PullPrinter:
    """Pull progress on stderr: one updating line on a terminal, a line per step otherwise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_status = None
        self._last_decile = -1
        self._lock = threading.Lock()
        self._last_draw = 0.0

    def __call__(self, item) -> None:
        with self._lock:
            fraction = item.fraction
            if fraction is None or item.total is None:
                if item.status != self._last_status:
                    self._end_line()
                    self.stream.write(item.status + "\n")
                self._last_status = item.status
                self._last_decile = -1
            else:
                text = f"{item.status}: {fraction:4.0%} of {_size(item.total)}"
                if self.tty:
                    now = time.monotonic()
                    if now - self._last_draw > 0.1 or fraction >= 1:
                        self.stream.write("\r\033[K" + text)
                        self._last_draw = now
                else:
                    decile = int(fraction * 10)
                    if item.status != self._last_status or decile != self._last_decile:
                        self.stream.write(text + "\n")
                    self._last_decile = decile
                self._last_status = item.status
            self.stream.flush()

    def _end_line(self) -> None:
        if self.tty and self._last_decile == -1 and self._last_draw:
            self.stream.write("\n")
            self._last_draw = 0.0


def cmd_pull(args) -> int:
    from engine.cli.main import print_json
    from engine.jobs.control import CancelToken
    from engine.lms import manage

    cancel = CancelToken()
    printer = PullPrinter()
    url = manage.ollama_url_for(profile=args.profile, project=args.project)
    sys.stderr.write(f"pulling {args.model} into Ollama at {url}\n")
    result = _run_until_ctrl_c(lambda: manage.pull_model(args.model, profile=args.profile, project=args.project,
                                                         progress=printer, cancel=cancel), cancel)
    data = {"model": result.model, "status": result.status, "digest": result.digest, "url": url}
    if result.status == "cancelled":
        sys.stderr.write(f"\npull of {args.model} cancelled; running it again resumes where it stopped\n")
        if args.json:
            print_json(data)
        return 130
    if args.json:
        print_json(data)
    else:
        print(f"pulled {result.model} (digest {(result.digest or '')[:12]}) into Ollama at {url}")
    return 0


def _run_until_ctrl_c(work, cancel):
    """Run `work()` in a thread; Ctrl-C sets `cancel` and waits for `work` to return.

    Waits on an Event, not on Thread.join(timeout): on CPython 3.11 a KeyboardInterrupt that lands
    inside join() can leave is_alive() False while the thread still runs.
    """
    done = threading.Event()
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the main thread below
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name="dspy-workbench-models", daemon=True).start()
    while not done.is_set():
        try:
            done.wait(0.2)
        except KeyboardInterrupt:
            if cancel.cancelled:
                raise
            cancel.cancel()
            sys.stderr.write("\ncancelling (Ctrl-C again to quit at once)...\n")
            sys.stderr.flush()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def cmd_ollama(args) -> int:
    from engine.cli.main import print_json
    from engine.lms import manage

    url = manage.ollama_url_for(profile=args.profile, project=args.project)
    models = manage.ollama_models(profile=args.profile, project=args.project)
    if args.json:
        print_json({"url": url, "models": [m.to_dict() for m in models]})
        return 0
    if not models:
        print(f"Ollama at {url} has no models; pull one with `dspy-workbench models pull llama3.2`")
        return 0
    print(f"Ollama at {url}:")
    print(f"  {'name':<32} {'size':>9}  {'family':<10} {'params':<8} {'quant':<8} digest")
    for m in models:
        print(f"  {m.name:<32} {_size(m.size):>9}  {m.family:<10} {m.parameter_size:<8} {m.quantization:<8} "
              f"{m.digest[:12]}")
    return 0


def _size(n: int | None) -> str:
    value = float(n or 0)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover
