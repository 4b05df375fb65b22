#!/usr/bin/env bash
# Measures `idflow decode --batch` on RS256 tokens, with a JWKS and without keys, beside jwt-cli
# decoding the same tokens one process each, and the start-up of one `decode` process of both.
# Not part of CI: figures depend on the machine and go to docs/BENCHMARKS.md.
#
# Usage: scripts/bench-decode.sh [COUNT] [JWT_CLI_COUNT]
#   COUNT          tokens for the idflow batch runs (default 100000)
#   JWT_CLI_COUNT  of those, how many jwt-cli decodes one process each (default: all of them)
# Needs: jwt-cli (`cargo install jwt-cli`, the `jwt` command), hyperfine, taskset; the Python
# environment of scripts/python-env.sh mints the tokens.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
count=${1:-100000}
jwt_count=${2:-$count}
for tool in jwt hyperfine taskset; do
  command -v "$tool" >/dev/null || { echo "bench-decode: $tool is missing; see the comment at the top of this script" >&2; exit 1; }
done

eval "$(bash scripts/python-env.sh)"
cargo build --release --quiet
idflow="$root/target/release/idflow"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$IDFLOW_PYTHON" scripts/bench/mint_tokens.py "$count" "$work" >/dev/null
head -n "$jwt_count" "$work/tokens.txt" >"$work/jwt-tokens.txt"
head -n 1 "$work/tokens.txt" >"$work/one.txt"

# Runs a command on core 0 only and prints its wall time, CPU time and max RSS.
timed() {
  local label=$1
  shift
  local start end
  start=$(date +%s.%N)
  /usr/bin/env time -f "%U %S %M" -o "$work/time" taskset -c 0 "$@" >/dev/null
  end=$(date +%s.%N)
  read -r user sys rss <"$work/time"
  printf '%-44s wall %8.2f s  cpu %8.2f s  max RSS %6d KiB\n' "$label" \
    "$(echo "$end - $start" | bc)" "$(echo "$user + $sys" | bc)" "$rss"
}

echo "tokens: $count RS256 (2048-bit key), jwt-cli runs: $jwt_count"
timed "idflow decode --batch, no keys" "$idflow" decode --batch "$work/tokens.txt"
timed "idflow decode --batch --jwks" "$idflow" decode --batch --jwks "$work/jwks.json" "$work/tokens.txt"
timed "jwt decode, one process per token" \
  xargs -a "$work/jwt-tokens.txt" -n 1 jwt decode -j
timed "jwt decode --secret @public.pem, one per token" \
  xargs -a "$work/jwt-tokens.txt" -n 1 jwt decode -j --alg RS256 --secret "@$work/public.pem"

echo
echo "start-up of one decode process (hyperfine, core 0):"
# The token is read from a file so that it never appears on a command line or in the report.
hyperfine --warmup 20 --runs 300 --style basic \
  "taskset -c 0 $idflow decode -o json - < $work/one.txt" \
  "taskset -c 0 jwt decode -j - < $work/one.txt" 2>&1 | grep -E 'Benchmark|Time|Range|faster|±'
