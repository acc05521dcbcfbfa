"""The headless face of the engine: `dspy-workbench SUBCOMMAND ...`."""

from engine.cli.main import main

__all__ = ["main"]
