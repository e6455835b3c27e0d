#!/usr/bin/env bash
# The main job on embedded defaults: index the sample handbook, start the embedded model,
# answer a question from it with citations; then start the demo internal platform (REST
# service + MCP server) and answer a question that needs its tools.
set -euo pipefail
cd "$(dirname "$0")/.."

question=${1:-"When does the current Kestrel PSP client certificate (kestrel-mtls-client) expire?"}
.venv/bin/oncall ingest examples/handbook
echo
echo "Q: $question"
.venv/bin/oncall ask "$question"
echo
# The internal-tools demo (oncall demo): the planning step calls get_oncall on the demo
# platform, then answers from its results (about a minute on 2 idle cores).
.venv/bin/oncall demo "Who is on call for payments and is it healthy?"
