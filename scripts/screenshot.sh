#!/usr/bin/env bash
# Takes a PNG screenshot of idflow running in a real terminal: tmux at a fixed size, the pane captured with
# its colours, converted to SVG with the Python package rich and to PNG with rsvg-convert (Debian package
# librsvg2-bin). Usage: scripts/screenshot.sh OUT.png COLUMNS ROWS KEYS... -- idflow ARGS...
# KEYS are tmux send-keys arguments sent one by one, half a second apart, before the capture.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$1 columns=$2 rows=$3
shift 3
keys=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do keys+=("$1"); shift; done
[ "${1-}" = -- ] && shift
[ $# -gt 0 ] || { echo "usage: $0 OUT.png COLUMNS ROWS KEYS... -- COMMAND..." >&2; exit 2; }
command -v rsvg-convert >/dev/null || { echo "rsvg-convert not found: apt-get install librsvg2-bin" >&2; exit 1; }

eval "$(bash "$root/scripts/python-env.sh")"
"$IDFLOW_PYTHON" -m pip install --quiet --disable-pip-version-check rich >&2

session="idflow-shot-$$"
tmux new-session -d -s "$session" -x "$columns" -y "$rows" "$*"
trap 'tmux kill-session -t "$session" 2>/dev/null || true' EXIT
sleep 1
for key in "${keys[@]}"; do
  tmux send-keys -t "$session" "$key"
  sleep 0.5
done
ansi=$(mktemp)
tmux capture-pane -e -p -t "$session" > "$ansi"
"$IDFLOW_PYTHON" - "$ansi" "$out.svg" "$columns" <<'PY'
import sys
from rich.console import Console
from rich.text import Text

ansi_path, svg_path, columns = sys.argv[1], sys.argv[2], int(sys.argv[3])
console = Console(record=True, width=columns, force_terminal=True, color_system="truecolor", file=open("/dev/null", "w"))
with open(ansi_path, encoding="utf-8") as capture:
    for line in capture.read().rstrip("\n").split("\n"):
        console.print(Text.from_ansi(line), no_wrap=True, crop=True)
console.save_svg(svg_path, title="idflow")
PY
sed -i '0,/<svg /s//<svg xml:space="preserve" /' "$out.svg"
rsvg-convert "$out.svg" -o "$out"
rm -f "$ansi" "$out.svg"
echo "wrote $out"
