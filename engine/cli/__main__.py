"""`python -m engine.cli ...`: the same as the `dspy-workbench` command."""

import sys

from engine.cli.main import main

if __name__ == "__main__":  # importing it (tests walk every module) must not run the CLI
    sys.exit(main())
