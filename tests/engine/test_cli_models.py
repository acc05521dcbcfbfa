"""`dspy-workbench models ...`: list, add, remove, key, test, show, pull, ollama."""

from __future__ import annotations

import _thread
import io
import json
import sys
import threading
import time

from keyring.backends import fail

from engine.cli.main import main
from engine.lms.profiles import user_config_path
from tests.fakes.fixtures import fake_ollama, fake_openai, fast_backoff, fresh_engines, memory_keyring, no_real_keyring  # noqa: F401
from tests.fakes.keyring_backend import use_keyring
from tests.fakes.ollama_server import FakeOllama
from tests.fakes.openai_server import FakeOpenAI

KEY = "sk-cli-7Hq2vN8rT0pL6mX9wK3yB7cZ"


def run(capsys, *argv, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_add_list_show_remove_round_trip(capsys, fake_ollama):
    code, out, _ = run(capsys, "models", "add", "local", "--provider", "ollama", "--model", "llama3.2",
                       "--base-url", fake_ollama.url, "--concurrency", "2", "--format", "compact")
    assert code == 0 and "added model profile 'local'" in out
    code, out, _ = run(capsys, "models", "list", "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert set(rows) == {"embedded", "local"}
    assert rows["local"]["settings"]["concurrency"] == 2 and rows["local"]["source"] == "user"
    assert rows["local"]["ollama"]["installed"] == ["llama3.2:latest"]
    code, out, _ = run(capsys, "models", "list")
    assert "llama3.2 installed" in out
    code, out, _ = run(capsys, "models", "show", "local", "--json")
    shown = json.loads(out)
    assert shown["server"]["installed"]["digest"] == fake_ollama.models["llama3.2:latest"].digest
    code, out, _ = run(capsys, "models", "remove", "local")
    assert code == 0 and "local" not in user_config_path().read_text("utf-8").replace("# ", "")


def test_list_with_a_project_shows_its_profiles_and_what_they_hide(capsys, sample_project):
    sample_project.config.models = {"gpt": {"provider": "openai", "model": "gpt-4o-mini"}}
    sample_project.save()
    run(capsys, "models", "add", "gpt", "--provider", "anthropic", "--model", "claude-3-5-haiku-latest")
    code, out, _ = run(capsys, "models", "list", str(sample_project.root), "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["gpt"]["provider"] == "openai" and rows["gpt"]["shadows"] == ["user"]
    assert rows["gpt"]["key"] == "missing"


def test_add_reads_the_key_from_stdin_into_the_keyring_and_never_into_the_file(capsys, monkeypatch, memory_keyring):
    code, out, err = run(capsys, "models", "add", "gpt", "--provider", "openai", "--model", "gpt-4o-mini",
                         "--api-key-stdin", stdin=KEY + "\n", monkeypatch=monkeypatch)
    assert code == 0 and "the API key is in the OS keyring" in out
    assert memory_keyring.get_password("dspy-workbench", "gpt") == KEY
    assert KEY not in user_config_path().read_text("utf-8") and KEY not in out + err


def test_add_without_a_keyring_saves_nothing_exits_2_and_offers_the_environment_variable(capsys, monkeypatch):
    run(capsys, "models", "add", "other", "--provider", "openai", "--model", "gpt-4o")
    before = user_config_path().read_bytes()
    with use_keyring(fail.Keyring()):
        code, out, err = run(capsys, "models", "add", "gpt", "--provider", "openai", "--model", "gpt-4o-mini",
                             "--api-key-stdin", stdin=KEY, monkeypatch=monkeypatch)
    assert code == 2
    assert err.startswith("error: profile 'gpt' was not saved: ") and "OPENAI_API_KEY" in err
    assert err.count("\n") == 1 and KEY not in err + out
    assert user_config_path().read_bytes() == before  # models.toml unchanged


def test_replacing_a_profile_without_a_keyring_keeps_the_old_one(capsys, monkeypatch):
    run(capsys, "models", "add", "gpt", "--provider", "openai", "--model", "gpt-4o")
    before = user_config_path().read_bytes()
    with use_keyring(fail.Keyring()):
        code, _, err = run(capsys, "models", "add", "gpt", "--provider", "openai", "--model", "gpt-4o-mini",
                           "--replace", "--api-key-stdin", stdin=KEY, monkeypatch=monkeypatch)
    assert code == 2 and "was not saved" in err
    assert user_config_path().read_bytes() == before


def test_key_command_stores_and_deletes_a_key(capsys, monkeypatch, memory_keyring):
    run(capsys, "models", "add", "gpt", "--provider", "openai", "--model", "gpt-4o-mini")
    code, out, _ = run(capsys, "models", "key", "gpt", "--json", stdin=KEY, monkeypatch=monkeypatch)
    assert code == 0 and json.loads(out)["stored_in"] == "keyring"
    assert memory_keyring.get_password("dspy-workbench", "gpt") == KEY
    code, out, _ = run(capsys, "models", "key", "gpt", "--delete")
    assert code == 0 and memory_keyring.store == {}


def test_empty_stdin_is_a_one_sentence_error(capsys, monkeypatch):
    code, _, err = run(capsys, "models", "add", "gpt", "--provider", "openai", "--model", "m", "--api-key-stdin",
                       stdin="\n", monkeypatch=monkeypatch)
    assert code == 2 and "no API key arrived on stdin" in err


def test_test_command_prints_latency_and_revision(capsys, fake_openai):
    run(capsys, "models", "add", "srv", "--provider", "openai-compatible", "--model", "gpt-4o-mini",
        "--base-url", fake_openai.url)
    code, out, _ = run(capsys, "models", "test", "srv")
    assert code == 0 and "srv: OK in" in out and "revision gpt-4o-mini-2024-07-18" in out
    code, out, _ = run(capsys, "models", "test", "srv", "--json")
    report = json.loads(out)
    assert report["ok"] and report["revision"]["details"]["system_fingerprint"] == "fp_44709d6fcb"


def test_test_command_exits_2_with_the_diagnosis(capsys, memory_keyring):
    with FakeOpenAI(api_key=KEY) as server:
        run(capsys, "models", "add", "srv", "--provider", "openai-compatible", "--model", "gpt-4o-mini",
            "--base-url", server.url)
        code, out, err = run(capsys, "models", "test", "srv", "--json")
    assert code == 2 and json.loads(out)["kind"] == "auth"
    assert err.startswith("error: the server at") and "wants an API key" in err and err.count("\n") == 1


def test_test_command_on_a_stopped_ollama_says_start_it(capsys):
    with FakeOllama() as server:
        url = server.url
    run(capsys, "models", "add", "local", "--provider", "ollama", "--model", "llama3.2", "--base-url", url)
    code, _, err = run(capsys, "models", "test", "local")
    assert code == 2 and err == f"error: Ollama is not reachable at {url}; start it with `ollama serve`\n"


def test_unknown_profile_and_removing_embedded_are_user_errors(capsys):
    code, _, err = run(capsys, "models", "test", "nope")
    assert code == 2 and "no model profile named 'nope'" in err
    code, _, err = run(capsys, "models", "remove", "embedded")
    assert code == 2 and "built in" in err


def test_ollama_command_lists_installed_models(capsys, fake_ollama, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", fake_ollama.url)
    code, out, _ = run(capsys, "models", "ollama")
    digest = fake_ollama.models["llama3.2:latest"].digest
    assert code == 0 and "llama3.2:latest" in out and "Q4_K_M" in out and digest[:12] in out
    code, out, _ = run(capsys, "models", "ollama", "--json")
    assert json.loads(out)["models"][0]["parameter_size"] == "3.2B"


def test_pull_shows_progress_on_stderr_and_keeps_stdout_json(capsys, fake_ollama):
    run(capsys, "models", "add", "local", "--provider", "ollama", "--model", "llama3.2", "--base-url", fake_ollama.url)
    code, out, err = run(capsys, "models", "pull", "qwen2.5:0.5b", "--profile", "local", "--json")
    assert code == 0
    assert json.loads(out) == {"model": "qwen2.5:0.5b", "status": "success", "url": fake_ollama.url,
                               "digest": fake_ollama.models["qwen2.5:0.5b"].digest}
    assert "pulling manifest" in err and "100% of" in err and "success" in err


def test_pull_of_an_unknown_model_exits_2(capsys, fake_ollama, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", fake_ollama.url)
    code, _, err = run(capsys, "models", "pull", "nosuchmodel")
    assert code == 2 and "file does not exist" in err


def test_ctrl_c_cancels_a_pull_cleanly(capsys, monkeypatch):
    with FakeOllama(library=["qwen2.5:0.5b"], pull_step_delay=0.3) as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)

        def press_ctrl_c_once_the_pull_runs():
            deadline = time.monotonic() + 10
            while ("POST", "/api/pull") not in server.requests and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.1)
            _thread.interrupt_main()

        presser = threading.Thread(target=press_ctrl_c_once_the_pull_runs, daemon=True)
        presser.start()
        code, out, err = run(capsys, "models", "pull", "qwen2.5:0.5b", "--json")
        presser.join()
        assert code == 130, err
        assert json.loads(out)["status"] == "cancelled"
        assert "cancelling" in err and "cancelled; running it again resumes" in err
        assert "qwen2.5:0.5b" not in server.models


def test_add_rejects_bad_settings_in_one_sentence(capsys):
    code, _, err = run(capsys, "models", "add", "x", "--provider", "openai-compatible", "--model", "m")
    assert code == 2 and "needs a base URL" in err and err.count("\n") == 1
    code, _, err = run(capsys, "models", "add", "x", "--provider", "ollama", "--model", "m", "--concurrency", "0")
    assert code == 2 and "concurrency" in err
