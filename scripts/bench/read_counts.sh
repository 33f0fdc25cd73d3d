#!/usr/bin/env bash
# Site read counts of the daemon over 20 s, a slow plugin (2 s/event) beside a fast one:
#   catchup: 20,000 events of history, the slow plugin from event 1, the fast one caught up;
#   hol:     no history, 5 events/s of sim activity.
# Usage: bash scripts/bench/read_counts.sh catchup|hol   (after `cargo build --bin sgevents`)
set -eu
MODE=$1
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN=${SGEVENTS_BENCH_BIN:-$ROOT/target/debug/sgevents}
PY=${SGEVENTS_PYTHON:-$ROOT/.venv/bin/python}
D=$(mktemp -d)/$MODE
rm -rf $D && mkdir -p $D/plugins
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
if [ "$MODE" = catchup ]; then SIMARGS="--prefill 20000"; else SIMARGS="--activity 5"; fi
$BIN sim --listen 127.0.0.1:$PORT --script bench:bench-key $SIMARGS > $D/sim.log 2>&1 &
SIM=$!
trap 'kill $SIM $DAEMON 2>/dev/null || true' EXIT
DAEMON=
for i in $(seq 1 300); do curl -s -o /dev/null http://127.0.0.1:$PORT/admin/stats && break; sleep 0.2; done
for name in slow fast; do
  if [ $name = slow ]; then body="time.sleep(2)"; else body="pass"; fi
  printf 'import time\ndef cb(sg, logger, event, args):\n    %s\ndef registerCallbacks(reg):\n    reg.registerCallback("bench", "bench-key", cb)\n' "$body" > $D/plugins/$name.py
done
cat > $D/sgevents.toml <<T
[daemon]
state_db = "$D/state.db"
log_path = "$D/logs"
log_file = "sgevents.log"
fetch_interval_secs = 1
max_event_batch_size = 500

[site]
server = "http://127.0.0.1:$PORT"
script_name = "bench"
script_key = "bench-key"

[[plugins]]
path = "$D/plugins"
T
LATEST=$(curl -s http://127.0.0.1:$PORT/admin/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["latest_event_id"])')
if [ "$MODE" = catchup ]; then
  # The fast plugin is caught up; the slow one starts at event 1.
  $BIN state set --db $D/state.db "$D/plugins/fast" $LATEST > /dev/null
  $BIN state set --db $D/state.db "$D/plugins/slow" 0 > /dev/null
fi
before=$(curl -s http://127.0.0.1:$PORT/admin/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"].get("read",0))')
$BIN run --config $D/sgevents.toml --python $PY > $D/daemon.out 2>&1 &
DAEMON=$!
sleep 20
after=$(curl -s http://127.0.0.1:$PORT/admin/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"].get("read",0))')
kill -TERM $DAEMON; wait $DAEMON || true
echo "$MODE: $((after - before)) reads in 20 s (from daemon start; fetch_interval 1 s, batch 500)"
