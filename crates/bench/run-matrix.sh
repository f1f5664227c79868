#!/usr/bin/env bash
# Every bridge load figure of BENCHMARKS.md in one go, one run at a time, on a machine
# that does nothing else meanwhile (about an hour with the defaults):
#
#   crates/bench/run-matrix.sh [RESULTS_DIR]        # default: bench-results/<date>
#
# Each configuration runs 3 times (REPEAT=3) through pinbridge-load; every run's record
# is appended to RESULTS_DIR/runs.jsonl, its one-line summary to RESULTS_DIR/summary.txt
# and its files (data directory, serve.log) are kept under RESULTS_DIR/runs/. The
# pinbridge and pinbridge-load binaries are built first (release profile).
set -euo pipefail
cd "$(dirname "$0")/../.."

results="${1:-bench-results/$(date -u +%Y%m%d-%H%M%S)}"
repeat="${REPEAT:-3}"
window="${WINDOW:-20}"      # seconds of each measurement window
mkdir -p "$results/runs"
cargo build --release -p pinbridge -p pinbridge-bench
target="${CARGO_TARGET_DIR:-target}"
load="$target/release/pinbridge-load"
floor="$target/release/pinbridge-floor"

run() {
    printf '\n== %s\n' "$*" | tee -a "$results/summary.txt"
    # A run that fails calls still records its figures: go on to the next one.
    "$load" --repeat "${RUN_REPEAT:-$repeat}" --duration "$window" --warmup 3 --json "$results/runs.jsonl" --keep "$results/runs" "$@" \
        2>>"$results/progress.log" | tee -a "$results/summary.txt" || true
}

# The I/O floor: the engine's sockets and system calls with no media work.
for n in 200 1000; do
    for _ in $(seq "$repeat"); do
        "$floor" --calls "$n" --duration "$window" --json "$results/floor.jsonl" | tee -a "$results/summary.txt"
    done
done

# One room of N.
for n in 50 200 500 1000; do run --callers "$n" --room-size "$n"; done
# Rooms of 5, up to and beyond what one core carries.
for n in 50 200 500 1000 2000 3000; do run --callers "$n" --room-size 5; done
# The lobby: every caller hears the hold music.
for n in 200 1000; do run --callers "$n" --room-size 5 --lobby; done
# SIPp beside the native generator where SIPp can drive the load.
run --generator sipp --callers 200 --room-size 200
run --generator sipp --callers 200 --room-size 5
# Call set-up rate: 60 s of calls through greeting, conference ID and join.
# Each caller hangs up as soon as it has joined (--stay 0): the CPU per set-up is the
# set-up's, with its 2 s greeting and its keys, not minutes of streaming after it.
for r in 100 200 300 400; do RUN_REPEAT=1 run -r "$r" --setup-seconds 60 --stay 0 --room-size 5; done
