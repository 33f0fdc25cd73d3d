#!/usr/bin/env bash
# Cluster catch-up and failover beside a single node: a sim with N events of history, three
# ledger plugins; one node alone, then three nodes on one local nats-server (lease_secs 2).
# Usage: scripts/cluster-bench.sh [N]   (needs target/debug/sgevents and .venv from scripts/venv.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5000}
BIN=${SGEVENTS_BIN:-$PWD/target/debug/sgevents}
PY=$PWD/.venv/bin/python
NATS=${SGEVENTS_NATS_SERVER:-$PWD/.venv/bin/nats-server}
work=$(mktemp -d)
pids=()
trap 'kill -9 "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
mkdir -p "$work/plugins" "$work/ledgers"
for p in a b c; do
  cat > "$work/plugins/ledger_$p.py" <<'PY'
import os
LEDGER = os.path.join(os.environ["LEDGER_DIR"], os.path.splitext(os.path.basename(__file__))[0])
def record(sg, logger, event, args):
    with open(LEDGER, "a") as f:
        f.write("%d\n" % event["id"])
def registerCallbacks(reg):
    reg.registerCallback("bench", "bench-key", record)
PY
done
sim_port=$(port)
"$BIN" sim --listen "127.0.0.1:$sim_port" --script bench:bench-key --prefill "$N" >"$work/sim.log" 2>&1 &
pids+=($!)
until curl -s "http://127.0.0.1:$sim_port/admin/stats" >/dev/null; do sleep 0.1; done
stat() { curl -s "http://127.0.0.1:$sim_port/admin/stats" | "$PY" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
latest=$(stat 'd["latest_event_id"]')
config() { # dir [cluster lines]
  mkdir -p "$1"
  printf '[daemon]\nstate_db = "%s/state.sqlite3"\nlog_path = "%s/logs"\nlog_file = "sgevents.log"\nfetch_interval_secs = 1\n\n[site]\nserver = "http://127.0.0.1:%s"\nscript_name = "bench"\nscript_key = "bench-key"\n\n[[plugins]]\npath = "%s/plugins"\n%s\n' \
    "$1" "$1" "$sim_port" "$work" "${2:-}" >"$1/sgevents.toml"
}
done_all() { for p in a b c; do [ "$(sort -u "$1/ledger_$p" 2>/dev/null | wc -l)" -ge "$latest" ] || return 1; done; }
reads() { stat 'd["requests"].get("read", 0)'; }
# CPU seconds (user + system) of the given processes and their children (the plugin processes).
cpu() {
  local ticks=0 p
  for p in "$@" $(for q in "$@"; do pgrep -P "$q"; done); do
    [ -r "/proc/$p/stat" ] && ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "scale=1; $ticks / $(getconf CLK_TCK)" | bc
}

# One node alone.
config "$work/alone"; mkdir -p "$work/alone/ledgers"
r0=$(reads); t0=$(now)
LEDGER_DIR="$work/alone/ledgers" "$BIN" run --config "$work/alone/sgevents.toml" --python "$PY" --start-at 1 >"$work/alone/out" 2>&1 &
pids+=($!); alone=$!
until done_all "$work/alone/ledgers"; do sleep 0.1; done
t1=$(now); r1=$(reads); c1=$(cpu "$alone"); kill "$alone"; wait "$alone" || true
echo "single node: catch-up of $latest events x 3 plugins in $(echo "$t1 - $t0" | bc) s, $((r1 - r0)) reads, CPU s: node and plugins $c1"

# Three nodes on one nats-server.
nats_port=$(port); mkdir -p "$work/nats"
"$NATS" -a 127.0.0.1 -p "$nats_port" -js -sd "$work/nats" >/dev/null 2>&1 &
pids+=($!); nats=$!
sleep 1
declare -A node_pid
r0=$(reads); t0=$(now)
for n in n1 n2 n3; do
  config "$work/$n" "$(printf '[cluster]\nnats_url = "nats://127.0.0.1:%s"\nnode = "%s"\nlease_secs = 2' "$nats_port" "$n")"
  LEDGER_DIR="$work/ledgers" "$BIN" run --config "$work/$n/sgevents.toml" --python "$PY" --start-at 1 >"$work/$n/out" 2>&1 &
  pids+=($!); node_pid[$n]=$!
done
until done_all "$work/ledgers"; do sleep 0.1; done
t1=$(now); r1=$(reads); c1=$(cpu "${node_pid[@]}"); c2=$(cpu "$nats")
echo "cluster of 3 (1 NATS): catch-up of $latest events x 3 plugins in $(echo "$t1 - $t0" | bc) s, $((r1 - r0)) reads, CPU s: nodes and plugins $c1, nats-server $c2"
leader=$(grep -l "polls the site now" "$work"/n?/out | head -1 | xargs dirname | xargs basename)
t0=$(now); kill -9 "${node_pid[$leader]}"
until grep -q "polls the site now" $(ls "$work"/n?/out | grep -v "/$leader/"); do sleep 0.05; done
t1=$(now)
echo "failover: after kill -9 of leader $leader another node polls in $(echo "$t1 - $t0" | bc) s (lease_secs 2)"
