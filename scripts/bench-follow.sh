#!/usr/bin/env bash
# Follows the same pods with `idflow follow`, `kubectl logs -f` and kubetail, one after the other,
# against one fake Kubernetes API server on 127.0.0.1 (examples/bench_cluster.rs). For each tool it
# reports the wall time until every line arrived, lines per second, CPU time and peak memory.
#
#   scripts/bench-follow.sh            # 50 pods x 1000 lines
#   PODS=20 LINES=500 scripts/bench-follow.sh
#
# Needs kubectl and kubetail on PATH (Debian: apt-get install kubetail). Not part of CI; the
# figures and how to read them are in docs/BENCHMARKS.md ("Live pipeline").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

pods=${PODS:-50}
lines=${LINES:-1000}
limit=${TIMEOUT_S:-900}
expected=$((pods * lines))

for tool in kubectl kubetail; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "bench-follow: \"$tool\" is not on PATH; install it (Debian: apt-get install kubetail, which needs kubectl)" >&2
    exit 1
  fi
done

cargo build --release --quiet --bins --example bench_cluster
idflow="$root/target/release/idflow"
cluster="$root/target/release/examples/bench_cluster"

work=$(mktemp -d)
cluster_pid=""
cleanup() {
  if [ -n "$cluster_pid" ]; then
    kill "$cluster_pid" 2>/dev/null || true
    wait "$cluster_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

"$cluster" --kubeconfig "$work/kubeconfig" --pods "$pods" --lines "$lines" >"$work/cluster.out" 2>&1 &
cluster_pid=$!
for _ in $(seq 1 600); do
  grep -q '^ready' "$work/cluster.out" && break
  if ! kill -0 "$cluster_pid" 2>/dev/null; then
    echo "bench-follow: the fake cluster stopped:" >&2
    cat "$work/cluster.out" >&2
    exit 1
  fi
  sleep 0.1
done
grep '^ready' "$work/cluster.out"

export KUBECONFIG="$work/kubeconfig"
# kubectl keeps its discovery cache here rather than in ~/.kube.
export KUBECACHEDIR="$work/kube-cache"
ticks=$(getconf CLK_TCK)

# Prints "CPU_SECONDS MAX_PEAK_KIB SUM_PEAK_KIB PROCESSES" for every process in process group
# $1: user and system time of each process and of the children it has reaped, and VmHWM.
group_usage() {
  local group=$1 cpu=0 max_kib=0 sum_kib=0 count=0 stat rest kib
  for dir in /proc/[0-9]*; do
    stat=$(cat "$dir/stat" 2>/dev/null) || continue
    rest=${stat##*) }
    read -r -a fields <<<"$rest"
    [ "${fields[2]}" = "$group" ] || continue
    cpu=$((cpu + fields[11] + fields[12] + fields[13] + fields[14]))
    kib=$(awk '/^VmHWM:/ {print $2}' "$dir/status" 2>/dev/null || true)
    kib=${kib:-0}
    sum_kib=$((sum_kib + kib))
    [ "$kib" -gt "$max_kib" ] && max_kib=$kib
    count=$((count + 1))
  done
  awk -v c="$cpu" -v t="$ticks" -v m="$max_kib" -v s="$sum_kib" -v n="$count" \
    'BEGIN { printf "%.2f %d %d %d\n", c / t, m, s, n }'
}

results=()
# measure NAME PATTERN COMMAND...: runs COMMAND in its own process group, waits until its output
# has $expected lines matching PATTERN, then reads its usage and stops it.
measure() {
  local name=$1 pattern=$2
  shift 2
  local out="$work/$name.out" err="$work/$name.err" count=0 start now elapsed
  # Time at which the count last grew: the wall time of a tool that never delivers every line.
  local seen=0 last_line=0
  start=$(date +%s.%N)
  setsid "$@" >"$out" 2>"$err" &
  local pid=$!
  while :; do
    count=$(grep -c -- "$pattern" "$out" || true)
    now=$(date +%s.%N)
    elapsed=$(awk -v a="$start" -v b="$now" 'BEGIN { printf "%.2f", b - a }')
    if [ "$count" -gt "$seen" ]; then
      seen=$count
      last_line=$elapsed
    fi
    [ "$count" -ge "$expected" ] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "bench-follow: $name stopped after $count of $expected lines:" >&2
      tail -5 "$err" >&2
      break
    fi
    # kubetail 1.6.5 under bash 5.2 fails this way and then waits forever (see docs/BENCHMARKS.md).
    if [ "$count" -eq 0 ] && grep -q 'syntax error' "$err"; then
      echo "bench-follow: $name failed before following any pod:" >&2
      grep -m 1 'syntax error' "$err" | cut -c1-200 >&2
      break
    fi
    if awk -v e="$elapsed" -v l="$limit" 'BEGIN { exit !(e > l) }'; then
      echo "bench-follow: $name received $count of $expected lines in ${limit}s; stopping it" >&2
      break
    fi
    sleep 0.05
  done
  local usage
  usage=$(group_usage "$pid")
  kill -TERM -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  read -r cpu max_kib sum_kib procs <<<"$usage"
  local rate
  # A tool that stopped short is timed to its last line; the table shows how many arrived.
  [ "$count" -lt "$expected" ] && elapsed=$last_line
  rate=$(awk -v n="$count" -v s="$elapsed" 'BEGIN { printf "%.0f", (s > 0) ? n / s : 0 }')
  results+=("$(printf '| %s | %d | %s s | %s | %s s | %d MiB | %d MiB | %d |' \
    "$name" "$count" "$elapsed" "$rate" "$cpu" $((max_kib / 1024)) $((sum_kib / 1024)) "$procs")")
  echo "bench-follow: $name done: $count lines in $elapsed s" >&2
}

measure "idflow-follow" '"id":' \
  "$idflow" follow -o ndjson -n shop --settle-ms 0 --since 3600 --max-streams "$pods"
measure "kubectl-logs" 'HTTP/1.1"' \
  kubectl logs -f -n shop -l app=orders -c istio-proxy --tail=-1 --max-log-requests="$pods"
measure "kubetail" 'HTTP/1.1"' \
  env TERM=dumb kubetail orders -n shop -c istio-proxy -s 1h -k false
# kubetail 1.6.5 joins its per-pod commands with `${@/#/$sep}`, which bash 5.2's default
# `patsub_replacement` breaks (see docs/BENCHMARKS.md). The same script under bash with that
# option off, as bash 5.1 and earlier behave, is the kubetail its author tested.
measure "kubetail-patsub-off" 'HTTP/1.1"' \
  env TERM=dumb bash +O patsub_replacement "$(command -v kubetail)" orders -n shop -c istio-proxy -s 1h -k false

echo
echo "$pods pods x $lines lines = $expected lines; $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "| tool | lines received | wall time | lines/s | CPU time | peak RSS (largest process) | peak RSS (sum) | processes |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${results[@]}"
