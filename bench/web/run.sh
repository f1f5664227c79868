#!/usr/bin/env bash
# The web benchmarks of BENCHMARKS.md ("Web: users page, sign-in and PIN reset"):
#
#   cargo build --release --bin pinbridge
#   bench/web/run.sh                 # results in a new directory, printed at the end
#
# It makes a fresh embedded store in a temporary directory, starts the release
# `pinbridge serve` pinned to one core (SERVER_CPU, default 0) and runs every load
# generator pinned to the other (CLIENT_CPU, default 1):
#
#   1. an admin (user add --role admin --password-stdin) and an API token;
#   2. 100,000 users through POST /api/v1/users (seed_users.py);
#   3. the admin's session cookie through the sign-in form (session_cookie.py);
#   4. wrk on the users page: page 1, page 1,000 (offset 49,950), a search matching
#      10,000 users and a two-word search matching 1,000;
#   5. wrk posting the sign-in form (one Argon2id verification per request);
#   6. 200 users enabled, then wrk resetting their PINs through the API.
#
# Each wrk measurement runs RUNS times (default 3) for DURATION (default 20s); the
# users page with 1 and with 4 connections (PAGE_CONNECTIONS), sign-in and PIN reset
# with CONNECTIONS (default 4). The summary gives the median and the range. The serve
# process's CPU use during each run is read from /proc/PID/stat, and the machine's
# one-minute load average at the end of each run from /proc/loadavg.
# Needs: wrk, python3, taskset (util-linux).
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN="${PINBRIDGE:-${CARGO_TARGET_DIR:-target}/release/pinbridge}"
PORT="${PORT:-18090}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
USERS="${USERS:-100000}"
RUNS="${RUNS:-3}"
DURATION="${DURATION:-20s}"
CONNECTIONS="${CONNECTIONS:-4}"
PAGE_CONNECTIONS="${PAGE_CONNECTIONS:-1 4}"
RESET_USERS="${RESET_USERS:-200}"
HERE="$(pwd)/bench/web"
BASE="http://127.0.0.1:$PORT"
ADMIN="admin@contoso.example"

[ -x "$BIN" ] || { echo "no $BIN: cargo build --release --bin pinbridge" >&2; exit 1; }
WORK="$(mktemp -d /tmp/pinbridge-web-bench-XXXXXX)"
DATA="$WORK/data"
OUT="$WORK/results.txt"
echo "working in $WORK"
client() { taskset -c "$CLIENT_CPU" "$@"; }

# 1. The admin and an API token.
printf 'bench admin passphrase\n' > "$WORK/password"
"$BIN" --data-dir "$DATA" user add "$ADMIN" --display-name "IT Admin" --role admin \
    --password-stdin < "$WORK/password" > /dev/null
TOKEN="$("$BIN" --data-dir "$DATA" token create --name bench 2> /dev/null)"

taskset -c "$SERVER_CPU" "$BIN" --data-dir "$DATA" serve --http "127.0.0.1:$PORT" \
    --sip-udp 127.0.0.1:0 --sip-tcp 127.0.0.1:0 > "$WORK/serve.log" 2>&1 &
SERVE=$!
# On exit: stop serve and remove the store (its mailbox/ holds the PINs of the reset
# run's emails); KEEP_DATA=1 keeps it. The results stay in $WORK.
cleanup() {
    kill "$SERVE" 2> /dev/null || true
    wait "$SERVE" 2> /dev/null || true
    [ "${KEEP_DATA:-0}" = 1 ] || rm -rf "$DATA"
}
trap cleanup EXIT
for _ in $(seq 100); do
    curl -fs "$BASE/healthz" > /dev/null 2>&1 && break
    sleep 0.1
done
curl -fs "$BASE/healthz" > /dev/null

# 2. The users, through the API.
echo "seeding $USERS users"
client python3 "$HERE/seed_users.py" --base "$BASE" --token "$TOKEN" --count "$USERS"

# 3. The admin's session.
SESSION="$(client python3 "$HERE/session_cookie.py" --base "$BASE" --upn "$ADMIN" \
    --password-file "$WORK/password")"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVE/stat"; }
TICKS_PER_S="$(getconf CLK_TCK)"

# measure NAME CONNECTIONS SCRIPT PATH: RUNS wrk runs, each line tagged with NAME, the
# serve process's CPU use and the load average.
measure() {
    local name="$1" connections="$2" script="$3" path="$4"
    for run in $(seq "$RUNS"); do
        local before after line
        before="$(cpu_ticks)"
        line="$(client wrk -t1 -c"$connections" -d"$DURATION" -s "$HERE/$script" "$BASE$path" \
            | grep '^RESULT')"
        after="$(cpu_ticks)"
        local seconds="${line#*seconds=}"
        seconds="${seconds%% *}"
        local cpu
        cpu="$(python3 -c "print(f'{($after - $before) / $TICKS_PER_S / $seconds * 100:.0f}')")"
        echo "$name/c$connections run=$run ${line#RESULT } serve_cpu_pct=$cpu" \
            "load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$OUT"
    done
}

# 4. The users page.
export PB_SESSION="$SESSION"
curl -fs -o /dev/null -w '%{http_code}\n' -H "Cookie: pb_session=$SESSION" "$BASE/admin/users" \
    | grep -qx 200
for c in $PAGE_CONNECTIONS; do
    measure users-page-1 "$c" users-page.lua "/admin/users"
    measure users-page-1000 "$c" users-page.lua "/admin/users?page=1000"
    measure users-search-lovelace "$c" users-page.lua "/admin/users?q=lovelace"
    measure users-search-ada-lovelace "$c" users-page.lua "/admin/users?q=ada+lovelace"
done

# 5. Sign-in.
FORM="$(client python3 "$HERE/session_cookie.py" --base "$BASE" --upn "$ADMIN" \
    --password-file "$WORK/password" --signin-form)"
export PB_PRESESSION="$(sed -n 1p <<< "$FORM")"
export PB_SIGNIN_FORM="$(sed -n 2p <<< "$FORM")"
export PB_ORIGIN="$BASE"
measure sign-in "$CONNECTIONS" signin.lua "/signin"

# 6. PIN resets (automatic emails on, as by default: each reset also queues an email,
# which serve's mail worker writes to <data-dir>/mailbox/ meanwhile).
for n in $(seq 0 $((RESET_USERS - 1))); do
    upn="$(printf 'user%06d@contoso.example' "$n")"
    curl -fs -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' -d '{}' "$BASE/api/v1/users/$upn/enable"
done
export PB_TOKEN="$TOKEN" PB_USERS="$RESET_USERS"
measure pin-reset "$CONNECTIONS" reset-pin.lua "/api/v1/users/user000000@contoso.example/reset-pin"

# The summary: median and range of each measure over the runs.
python3 - "$OUT" <<'EOF'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, *fields = line.split()
    runs[name].append(dict(f.split("=", 1) for f in fields))
print(f"\n{'measure':31} {'per second':>22} {'p95 ms':>22} {'p99 ms':>22} {'serve CPU %':>12} {'load':>14}")
for name, rs in runs.items():
    def cell(key):
        values = [float(r[key]) for r in rs]
        return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"
    bad = sum(int(r["unexpected_status"]) + int(r["socket_errors"]) for r in rs)
    note = "" if bad == 0 else f"  {bad} unexpected answers!"
    print(f"{name:31} {cell('per_second'):>22} {cell('p95_ms'):>22} {cell('p99_ms'):>22} "
          f"{cell('serve_cpu_pct'):>12} {cell('load'):>14}{note}")
EOF
echo "results: $OUT"
