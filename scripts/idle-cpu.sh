#!/usr/bin/env bash
# Idle cost of the TUI: run the demo in a 120x40 tmux pane with nobody
# typing, and for SECONDS (default 30) count the CPU time medic used and the
# frames it drew. Every frame is wrapped in synchronized output
# (ESC [ ? 2026 h), so counting that sequence in the pane's output counts
# frames; the demo's data changes once per 15 s step, so an idle medic should
# draw about SECONDS/15 frames and nothing in between.
#
#   scripts/idle-cpu.sh [SECONDS]        (needs tmux and a built target/release/medic)
set -euo pipefail
secs="${1:-30}"
cd "$(dirname "$0")/.."
bin="${MEDIC_BIN:-target/release/medic}"
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 2; }
work="$(mktemp -d)"
sock="medic-idle-$$"
trap 'tmux -L "$sock" kill-server 2>/dev/null || true; rm -rf "$work"' EXIT
tmux -L "$sock" -f /dev/null new-session -d -s idle -x 120 -y 40 \
  "env -u MEDIC_CONFIG $bin --demo --data-dir $work/data"
sleep 3 # first data, first frame
pid="$(tmux -L "$sock" display-message -p -t idle '#{pane_pid}')"
tmux -L "$sock" pipe-pane -t idle -o "cat > $work/out"
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz="$(getconf CLK_TCK)"
t0="$(ticks)"
sleep "$secs"
t1="$(ticks)"
tmux -L "$sock" pipe-pane -t idle
frames="$(grep -ao $'\e\\[?2026h' "$work/out" | wc -l)"
bytes="$(wc -c < "$work/out")"
cpu_ms=$(( (t1 - t0) * 1000 / hz ))
echo "idle ${secs}s: cpu ${cpu_ms} ms ($(awk "BEGIN{printf \"%.2f\", $cpu_ms/($secs*10)}")% of one core), ${frames} frames, ${bytes} bytes to the terminal"
