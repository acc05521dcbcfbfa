#!/usr/bin/env bash
# Build the Linux one-folder app into dist/dspy-workbench/ (after ./setup.sh), then link the
# window-only entry point and check the result with a real call to the embedded model.
set -euo pipefail
cd "$(dirname "$0")/.."
export LITELLM_LOCAL_MODEL_COST_MAP=True  # never fetch the price map while building
[ -x .venv/bin/python ] || { echo "run ./setup.sh first" >&2; exit 2; }
.venv/bin/python -m pip install --quiet "pyinstaller>=6.10,<7"
.venv/bin/pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller \
    packaging/dspy-workbench.spec
ln -sf dspy-workbench dist/dspy-workbench/dspy-workbench-gui
echo "built: dist/dspy-workbench/ ($(du -sh dist/dspy-workbench | cut -f1))"
(cd / && env -i HOME="$HOME" PATH=/usr/bin:/bin "$OLDPWD/dist/dspy-workbench/dspy-workbench" doctor)
