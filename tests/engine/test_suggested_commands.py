"""Every command a message suggests (backticked `dspy-workbench ...`) parses with the real CLI."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest

from engine.cli.main import build_parser
from tests.fakes.fixtures import memory_keyring, no_real_keyring  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
SUGGESTION = re.compile(r"`(?:[^`|]*\|\s*)?dspy-workbench ([^`]+)`")
# Placeholders the messages use, and values a user would type in their place.
PLACEHOLDERS = {"DIR": "proj", "NAME": "local", "RUN_ID": "r20250101-000000-abcd", "FILE": "data.csv",
                "PROFILE": "local", "MODEL": "llama3.2", "COMMAND": "show", "FIELD": "label"}
# What "..." stands for after an option that only takes certain values.
ELLIPSIS_AFTER = {"--provider": "ollama", "--optimizer": "bootstrap-fewshot", "--format": "compact"}


def _text(node: ast.AST) -> str | None:
    """A string literal or f-string with each `{field}` kept as written."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else "{" + ast.unparse(part.value) + "}"
                       for part in node.values)
    return None


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def suggested_commands() -> list[tuple[str, str]]:
    found = []
    for folder in ("engine", "desktop"):
        for path in sorted((REPO / folder).rglob("*.py")):
            tree = ast.parse(path.read_text("utf-8"))
            skip = _docstrings(tree)
            inside_fstring = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
                              for part in node.values}
            for node in ast.walk(tree):
                if id(node) in skip or id(node) in inside_fstring:
                    continue
                text = _text(node)
                if text:
                    where = f"{path.relative_to(REPO)}:{node.lineno}"
                    found += [(where, match.group(1)) for match in SUGGESTION.finditer(text)]
    return found


def as_argv(command: str) -> list[str]:
    argv = []
    for token in shlex.split(command):
        if token == "..." or re.fullmatch(r"\{[^}]*\}", token) or token in PLACEHOLDERS:
            previous = argv[-1] if argv else ""
            token = ELLIPSIS_AFTER.get(previous) or PLACEHOLDERS.get(token, "sample")
        argv.append(re.sub(r"\{[^}]*\}", "sample", token))
    return argv


COMMANDS = suggested_commands()


def test_the_messages_suggest_commands():
    assert len(COMMANDS) >= 15  # the collector finds them (f-strings, joined lines, piped commands)
    assert any("models key" in command for _, command in COMMANDS)
    assert any(command.startswith("split ") for _, command in COMMANDS)  # joined across two lines


@pytest.mark.parametrize("where, command", COMMANDS, ids=[f"{w} {c}" for w, c in COMMANDS])
def test_a_suggested_command_parses(where, command, capsys):
    try:
        build_parser().parse_args(as_argv(command))
    except SystemExit as exc:
        if exc.code == 0:  # `--help`
            return
        _, err = capsys.readouterr()
        pytest.fail(f"{where} suggests `dspy-workbench {command}`, which the CLI rejects: {err.strip()}")


def test_the_key_advice_works_as_written(capsys, monkeypatch, memory_keyring):
    """`models key NAME --api-key-stdin`, the spelling of `models add`, stores the key read from stdin."""
    import io
    import sys

    from engine.cli.main import main
    from engine.lms import keys
    from engine.lms.manage import get_profile

    assert main(["models", "add", "gpt", "--provider", "openai", "--model", "gpt-4o-mini"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("sk-test-0123456789abcdef\n"))
    assert main(["models", "key", "gpt", "--api-key-stdin"]) == 0
    assert keys.get_key(get_profile("gpt")) == "sk-test-0123456789abcdef"
