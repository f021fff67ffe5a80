#!/usr/bin/env bash
# Every *.test.ts of the workspaces, with node's own test runner (Node 20 has no --test globs).
# test/compose.test.ts is left out: it needs root and a Docker engine of its own (.ci/run runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find common 3_db 2_load_data 4_nn_estimator 1_shepherd test \
  -name node_modules -prune -o -name '*.test.ts' ! -path test/compose.test.ts -print | sort)
exec node --import tsx --test --test-concurrency=1 "$@" "${files[@]}"
