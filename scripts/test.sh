#!/usr/bin/env bash
# Lint, type-check and run every test tier. Extra arguments go to pytest
# (e.g. scripts/test.sh -m "not llm" for the fast tiers only).
set -euo pipefail
cd "$(dirname "$0")/.."

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# The one-way layers and no-cycle rules (pyproject.toml [tool.importlinter]).
.venv/bin/lint-imports --no-cache

# Run the tests with no network at all when this machine allows a private network
# namespace (loopback only): proves nothing (spaCy, Hugging Face, unstructured) reaches out.
if unshare --net true 2>/dev/null; then
    echo "test: running in a network namespace with loopback only"
    exec unshare --net sh -c 'ip link set lo up && exec .venv/bin/pytest "$@"' pytest "$@"
fi
echo "test: cannot unshare the network here; running with the host network"
exec .venv/bin/pytest "$@"
