#!/usr/bin/env bash
# The cost of the SIP limiter under a flood, for BENCHMARKS.md ("Hostile traffic"):
# `pinbridge serve` pinned to core 0, the flood (flood.py: 20,000 datagrams in 10 s from
# 127.0.0.9, outside the trunk allow-list) pinned to core 1; serve's CPU (utime + stime
# from /proc/PID/stat) over the flood and its RSS before and after, for the default
# limits, no limits, --sip-untrusted drop, and no flood at all. Loopback only.
#
#   cargo build --release --bin pinbridge && bench/sip-flood/run.sh
#   BIN=… DATAGRAMS=… SECONDS=… RUNS=… bench/sip-flood/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/release/pinbridge}
DATAGRAMS=${DATAGRAMS:-20000}
DURATION=${SECONDS_OF_FLOOD:-10}
RUNS=${RUNS:-3}
TICK=$(getconf CLK_TCK)
# serve's idle CPU (seconds a second), from the "no flood" run before the others.
IDLE=0

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

measure() {
    local name=$1; shift
    local dir; dir=$(mktemp -d "${TMPDIR:-/tmp}/pinbridge-sip-flood.XXXXXX")
    taskset -c 0 "$BIN" --data-dir "$dir/data" serve --http 127.0.0.1:0 \
        --sip-udp 127.0.0.1:0 --sip-tcp 127.0.0.1:0 --trunk-allow 127.0.0.1/32 "$@" \
        >"$dir/out" 2>"$dir/err" &
    local pid=$!
    local sip="" http=""
    for _ in $(seq 1 300); do
        sip=$(sed -n 's/^sip listening on udp:\([^ ]*\) .*/\1/p' "$dir/out" 2>/dev/null)
        http=$(sed -n 's#^listening on http://##p' "$dir/out" 2>/dev/null)
        [ -n "$sip" ] && [ -n "$http" ] && break
        sleep 0.1
    done
    [ -n "$sip" ] || { echo "serve did not start: $(cat "$dir/err")" >&2; kill "$pid"; exit 1; }
    sleep 1
    local cpu0 rss0 cpu1 rss1 t0 t1
    cpu0=$(cpu_ticks "$pid"); rss0=$(rss_kib "$pid"); t0=$(date +%s.%N)
    if [ "$name" = "no flood" ]; then
        sleep "$DURATION"
    else
        taskset -c 1 python3 bench/sip-flood/flood.py "$sip" "$DATAGRAMS" "$DURATION" >/dev/null
    fi
    t1=$(date +%s.%N); cpu1=$(cpu_ticks "$pid"); rss1=$(rss_kib "$pid")
    local refused
    refused=$(curl -s "http://$http/metrics" | awk '/^pinbridge_sip_refused_total/ {n += $2} END {print n + 0}')
    kill "$pid"; wait "$pid" || true
    local line
    line=$(awk -v name="$name" -v c=$((cpu1 - cpu0)) -v tick="$TICK" -v t0="$t0" -v t1="$t1" \
        -v r0="$rss0" -v r1="$rss1" -v refused="$refused" -v n="$DATAGRAMS" -v idle="$IDLE" 'BEGIN {
        wall = t1 - t0; cpu = c / tick;
        if (name == "no flood") { idle = cpu / wall; net = 0 } else { net = 1e6 * (cpu - idle * wall) / n }
        printf "%.6f|%-20s cpu %.2f s over %.1f s = %.1f %% of a core; %.1f us per datagram above idle; refused %d; RSS %d -> %d KiB\n",
            idle, name, cpu, wall, 100 * cpu / wall, net, refused, r0, r1 }')
    IDLE=${line%%|*}
    echo "${line#*|}"
    rm -rf "$dir"
}

for run in $(seq 1 "$RUNS"); do
    echo "run $run"
    measure "no flood"
    measure "403, default limits"
    measure "403, no limits" --sip-rate-invite 0 --sip-rate-options 0 --sip-rate-register 0 --sip-rate-other 0
    measure "drop" --sip-untrusted drop
done
