"""`python -m engine.cli ...` runs the same CLI as the `dspy-workbench` script."""

import sys

from engine.cli.main import main

sys.exit(main())
