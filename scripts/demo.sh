#!/usr/bin/env bash
# The main job on embedded defaults: index the sample handbook, start the embedded model,
# answer a question from it with citations.
set -euo pipefail
cd "$(dirname "$0")/.."

question=${1:-"When does the current Kestrel PSP client certificate (kestrel-mtls-client) expire?"}
.venv/bin/oncall ingest examples/handbook
echo
echo "Q: $question"
.venv/bin/oncall ask "$question"
