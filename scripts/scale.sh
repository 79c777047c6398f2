#!/usr/bin/env bash
# Fleet-scale cost of `medic scan --once` against a real VictoriaMetrics.
#
# For each size N (default: 10000 50000 100000) it loads N services × 6
# gauges × 1 h at 15 s (plus 5 min before, 10 min after now) into a fresh
# VictoriaMetrics on a free loopback port, then reports, best of RUNS
# (default 3):
#   curl floor   the six query_range requests medic makes, with curl, all at
#                once (as medic sends them), bodies discarded: wall seconds
#   medic scan   `medic scan --once --json`: wall, user+sys CPU, peak RSS
#                (from /usr/bin/time), CPU µs per service, wall ÷ curl floor
# The load average is printed with every line: the machine may be shared.
#
#   scripts/scale.sh [N ...]     (needs victoria-metrics, curl, python3,
#                                 /usr/bin/time and target/release/medic)
#   PROFILE=1 scripts/scale.sh N  also records one scan with `perf record`
#                                 (software clock) and prints the top symbols
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${MEDIC_BIN:-target/release/medic}"
runs="${RUNS:-3}"
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 2; }
command -v victoria-metrics >/dev/null || { echo "needs victoria-metrics (apt install victoria-metrics)" >&2; exit 2; }
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(10000 50000 100000)
work="$(mktemp -d)"
vm_pid=""
stop_vm() { if [ -n "$vm_pid" ]; then kill "$vm_pid" 2>/dev/null || true; wait "$vm_pid" 2>/dev/null || true; vm_pid=""; fi; }
trap 'stop_vm; rm -rf "$work"' EXIT
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
gauges=(cpu cpu_limit mem mem_limit req err)

cat > "$work/medic.toml" <<TOML
[source]
kind = "prometheus"
url = "$base"
step = "15s"
lookback = "1h"
timeout = "120s"

[source.queries]
cpu = 'sum by (service) (medic_cpu)'
cpu_limit = 'sum by (service) (medic_cpu_limit)'
memory = 'sum by (service) (medic_mem)'
memory_limit = 'sum by (service) (medic_mem_limit)'
requests = 'sum by (service) (medic_req)'
errors = 'sum by (service) (medic_err)'

[http]
max_body_bytes = 4000000000
TOML

# VictoriaMetrics' JSON-lines import: one line per series, values and
# timestamps as arrays; 32 value patterns, shifted per service.
generate() {
  python3 - "$1" <<'PY'
import math, sys, time
n = int(sys.argv[1])
now = int(time.time()) // 15 * 15 * 1000
ts = list(range(now - 65 * 60_000, now + 10 * 60_000 + 1, 15_000))
stamps = "[" + ",".join(map(str, ts)) + "]"
def pattern(base, amp, k):
    return "[" + ",".join("%.4g" % (base * (1 + amp * math.sin(i / 20 + k))) for i in range(len(ts))) + "]"
metrics = {
    "medic_cpu": [pattern(0.4, 0.3, k) for k in range(32)],
    "medic_cpu_limit": [pattern(1.0, 0.0, 0)],
    "medic_mem": [pattern(1e9, 0.1, k) for k in range(32)],
    "medic_mem_limit": [pattern(4e9, 0.0, 0)],
    "medic_req": [pattern(50, 0.2, k) for k in range(32)],
    "medic_err": [pattern(0.1, 0.5, k) for k in range(32)],
}
hot = pattern(1.5, 0.01, 0)
out = sys.stdout
for s in range(n):
    name = "service-%06d" % s
    for metric, ps in metrics.items():
        values = hot if metric == "medic_cpu" and s % 1000 == 7 else ps[s % len(ps)]
        out.write('{"metric":{"__name__":"%s","service":"%s"},"values":%s,"timestamps":%s}\n' % (metric, name, values, stamps))
PY
}

curl_floor() {
  local end start t0 t1
  end="$(date +%s)"; end=$(( end / 15 * 15 )); start=$(( end - 3600 + 15 ))
  t0="$(date +%s%N)"
  for g in "${gauges[@]}"; do
    curl -sf -o /dev/null --get "$base/api/v1/query_range" \
      --data-urlencode "query=sum by (service) (medic_$g)" \
      --data-urlencode "start=$start" --data-urlencode "end=$end" --data-urlencode "step=15" &
  done
  wait
  t1="$(date +%s%N)"
  echo $(( (t1 - t0) / 1000000 ))
}

echo "size      curl_ms  scan_wall_ms  scan_cpu_ms  cpu_us/svc  peak_rss_MB  rss_KB/svc  wall/curl  load"
for n in "${sizes[@]}"; do
  stop_vm
  rm -rf "$work/vm"
  victoria-metrics -storageDataPath="$work/vm" -httpListenAddr="127.0.0.1:$port" \
    -retentionPeriod=100y -search.latencyOffset=0s -search.disableCache \
    -search.maxSeries=10000000 -search.maxUniqueTimeseries=10000000 \
    -search.maxPointsPerTimeseries=100000 -search.maxSamplesPerQuery=10000000000 \
    -search.maxQueryDuration=600s \
    > "$work/vm.log" 2>&1 &
  vm_pid=$!
  for _ in $(seq 100); do curl -sf "$base/health" >/dev/null 2>&1 && break; sleep 0.2; done
  generate "$n" | curl -sf -X POST -T - "$base/api/v1/import" \
    || { echo "import failed:"; tail "$work/vm.log"; exit 1; }
  curl -sf "$base/internal/force_flush" >/dev/null
  # Wait until every series is searchable.
  want=$(( n * 6 ))
  for _ in $(seq 300); do
    got="$(curl -sf --get "$base/api/v1/query" --data-urlencode 'query=count({__name__=~"medic_.*"})' \
      | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')"
    [ "$got" = "$want" ] && break
    curl -sf "$base/internal/force_flush" >/dev/null; sleep 1
  done
  best_curl=""; best_wall=""; best_cpu=""; best_rss=""
  for _ in $(seq "$runs"); do
    c="$(curl_floor)"
    /usr/bin/time -f "%e %U %S %M" -o "$work/time" \
      env -u MEDIC_CONFIG "$bin" --config "$work/medic.toml" --data-dir "$work/data" scan --once --json \
      > "$work/out" 2> "$work/err" || [ $? -eq 3 ] || { cat "$work/err"; exit 1; }
    read -r wall user sys rss < "$work/time"
    wall_ms="$(python3 -c "print(round($wall*1000))")"
    cpu_ms="$(python3 -c "print(round(($user+$sys)*1000))")"
    if [ -z "$best_wall" ] || [ "$wall_ms" -lt "$best_wall" ]; then best_wall="$wall_ms"; best_cpu="$cpu_ms"; best_rss="$rss"; fi
    if [ -z "$best_curl" ] || [ "$c" -lt "$best_curl" ]; then best_curl="$c"; fi
  done
  flagged="$(wc -l < "$work/out")"
  if [ -n "${PROFILE:-}" ]; then
    perf record -q -e cpu-clock -F 999 -g -o "$work/perf.data" -- \
      env -u MEDIC_CONFIG "$bin" --config "$work/medic.toml" --data-dir "$work/data" scan --once --json \
      > /dev/null 2>&1 || true
    perf report -q -i "$work/perf.data" --no-children --sort symbol --percent-limit 1.5 2>/dev/null \
      | grep -E '^ +[0-9]' | head -25
  fi
  python3 - "$n" "$best_curl" "$best_wall" "$best_cpu" "$best_rss" "$(cut -d' ' -f1-3 /proc/loadavg)" "$flagged" <<'PY'
import sys
n, curl, wall, cpu, rss = (int(x) for x in sys.argv[1:6])
load, flagged = sys.argv[6], sys.argv[7]
print(f"{n:<9} {curl:>7}  {wall:>12}  {cpu:>11}  {cpu*1000/n:>10.1f}  {rss/1024:>11.0f}  {rss/n:>10.2f}  {wall/curl:>9.2f}  {load}  ({flagged} flags)")
PY
done
