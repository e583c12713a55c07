#!/usr/bin/env bash
# Side-by-side performance comparison on this machine, in one run:
#   * this server (release build, memory store),
#   * happn-3 13.12.1 from tests/compat's npm install (its memory store),
#   * Redis (`redis-benchmark`), where installed, as the cost of one request/response
#     over loopback TCP,
#   * a 3-node cluster of this server (writers on one node, subscribers on the others),
#   * then the real stores (scripts/bench-stores.sh): pgbench's TPS for the PostgreSQL
#     provider's own statement as the yardstick, one node and a 3-node cluster on PostgreSQL
#     and on a SQLite file, group commit off and on.
# The same load tool (`happn-cluster bench`) drives both happn servers. Server CPU per
# operation is read from /proc for every server, so the figures are comparable.
#
# Usage: scripts/bench-compare.sh [--duration 8s] [--rounds 3] [--quick]
#   --rounds N  runs each scenario N times per server, alternating, and reports medians.
#   --quick     one round of 3 s (a smoke run; the figures are noisy).
# Prints a Markdown report on stdout (the README's performance section is its output).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=8s
ROUNDS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --quick) DURATION=3s; ROUNDS=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]:-}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

log() { echo "bench-compare: $*" >&2; }

cargo build --release --quiet --bin happn-cluster
BIN=target/release/happn-cluster
if [ ! -d tests/compat/node_modules/happn-3 ]; then
  log "installing happn-3 (tests/compat)"
  (cd tests/compat && npm ci --silent --no-audit --no-fund)
fi

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_port() {
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  log "port $1 did not open"; return 1
}

# CPU ticks (user + system) a process has used.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

# Starts one node of this server; its pid is left in LAST_PID.
start_node() { # name client_port peer_port [extra toml]
  local name=$1 port=$2 peer=$3 extra=${4:-}
  cat > "$WORK/$name.toml" <<EOF
name = "$name"
host = "127.0.0.1"
port = $peer
$extra
[services.proxy.config]
host = "127.0.0.1"
port = $port
[[services.data.config.datastores]]
name = "mem"
provider = "memory"
isDefault = true
EOF
  RUST_LOG=warn "$BIN" --config "$WORK/$name.toml" > "$WORK/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

start_happn3() { # port
  cat > "$WORK/happn3.js" <<'EOF'
const happn = require(process.env.HAPPN3);
happn.service.create({ host: '127.0.0.1', port: Number(process.env.PORT), secure: false },
  (e) => { if (e) { console.error(e); process.exit(1); } });
EOF
  HAPPN3="$PWD/tests/compat/node_modules/happn-3" PORT=$1 node "$WORK/happn3.js" > "$WORK/happn3.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

# Runs one load-tool scenario against a server; appends one JSON line to $WORK/results.
run_scenario() { # server_label pid port scenario_name args...
  local label=$1 pid=$2 port=$3 scenario=$4; shift 4
  local before after
  before=$(cpu_ticks "$pid")
  "$BIN" bench --json --url "http://127.0.0.1:$port" --duration "$DURATION" "$@" > "$WORK/out.json"
  after=$(cpu_ticks "$pid")
  python3 - "$label" "$scenario" "$before" "$after" "$TICK" "$WORK/out.json" >> "$WORK/results" <<'EOF'
import json, sys
label, scenario, before, after, tick, path = sys.argv[1:]
report = json.load(open(path))
cpu = (float(after) - float(before)) / float(tick)
report.update(server=label, scenario=scenario, proc_cpu_seconds=cpu)
print(json.dumps(report))
EOF
}

SCENARIOS=(
  "sets, 32 clients|--clients 32 --get-ratio 0"
  "mixed 50% get, 32 clients|--clients 32 --get-ratio 0.5"
  "fan-out, 4 writers → 8 subscribers|--clients 4 --subscribers 8 --get-ratio 0"
  "fan-out at the same offered load, 2,500 sets/s|--clients 4 --subscribers 8 --get-ratio 0 --rate 2500"
  "4 KB sets, 32 clients|--clients 32 --get-ratio 0 --payload 4096"
)

: > "$WORK/results"
OURS_PORT=$(free_port); H3_PORT=$(free_port)
start_node bench-single "$OURS_PORT" "$(free_port)"; OURS_PID=$LAST_PID
start_happn3 "$H3_PORT"; H3_PID=$LAST_PID
wait_port "$OURS_PORT"; wait_port "$H3_PORT"
for round in $(seq 1 "$ROUNDS"); do
  for entry in "${SCENARIOS[@]}"; do
    name=${entry%%|*}; args=${entry#*|}
    log "round $round: $name"
    # shellcheck disable=SC2086
    run_scenario "this server" "$OURS_PID" "$OURS_PORT" "$name" $args
    # shellcheck disable=SC2086
    run_scenario "happn-3" "$H3_PID" "$H3_PORT" "$name" $args
  done
done

# Redis: the same shape as "sets, 32 clients" (closed loop, 100-byte values).
REDIS_LINE=""
if command -v redis-benchmark > /dev/null && command -v redis-server > /dev/null; then
  REDIS_PORT=$(free_port)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no > "$WORK/redis.log" 2>&1 &
  REDIS_PID=$!; PIDS+=("$REDIS_PID")
  wait_port "$REDIS_PORT"
  for round in $(seq 1 "$ROUNDS"); do
    for test in set get; do
      log "round $round: redis $test"
      before=$(cpu_ticks "$REDIS_PID")
      rps=$(redis-benchmark -p "$REDIS_PORT" -t "$test" -c 32 -d 100 -n 400000 -q 2>/dev/null \
        | tr '\r' '\n' | grep -E "^ *${test^^}: [0-9.]+ requests" | tail -1 | awk '{print $2}')
      after=$(cpu_ticks "$REDIS_PID")
      echo "{\"server\": \"redis\", \"scenario\": \"$test\", \"ops\": 400000, \"ops_per_sec\": $rps, \"proc_cpu_seconds\": $(python3 -c "print(($after-$before)/$TICK)")}" >> "$WORK/results"
    done
  done
fi

# The cluster: three nodes, writers on the first, one subscriber on each other node.
log "cluster: starting 3 nodes"
CLUSTER_SECRET=$("$BIN" secret)
C_PORTS=(); C_PIDS=(); C_PEERS=()
for i in 1 2 3; do C_PEERS+=("$(free_port)"); done
MEMBERS=""
for i in 0 1 2; do
  MEMBERS+="{ name = \"bench-node-$((i + 1))\", service = \"happn-cluster-node\", clusterName = \"happn-cluster\", deployment = \"Test-Deploy\", endpoint = \"127.0.0.1:${C_PEERS[$i]}\" },"
done
for i in 0 1 2; do
  port=$(free_port)
  extra="[services.orchestrator.config.cluster]
happn-cluster-node = 3
[services.orchestrator.config.timing]
keepAlive = 500
keepAliveThreshold = 1500
memberRefresh = 500
[services.orchestrator.config.discovery]
plugin = \"static\"
settings = { members = [${MEMBERS%,}] }"
  extra="[services.orchestrator.config]
clusterSecret = \"$CLUSTER_SECRET\"
$extra"
  start_node "bench-node-$((i + 1))" "$port" "${C_PEERS[$i]}" "$extra"
  C_PIDS+=("$LAST_PID"); C_PORTS+=("$port")
done
for port in "${C_PORTS[@]}"; do wait_port "$port"; done
URLS=$(printf 'http://127.0.0.1:%s,' "${C_PORTS[@]}"); URLS=${URLS%,}
for round in $(seq 1 "$ROUNDS"); do
  for entry in "cluster, 32 writers → 2 remote subscribers|--clients 32" \
               "cluster, serial: 1 writer → 2 remote subscribers|--clients 1"; do
    name=${entry%%|*}; args=${entry#*|}
    log "round $round: $name"
    before=0
    for pid in "${C_PIDS[@]}"; do before=$((before + $(cpu_ticks "$pid"))); done
    # shellcheck disable=SC2086
    "$BIN" bench --json --cluster "$URLS" --duration "$DURATION" --get-ratio 0 $args > "$WORK/out.json"
    after=0
    for pid in "${C_PIDS[@]}"; do after=$((after + $(cpu_ticks "$pid"))); done
    python3 - "$name" "$before" "$after" "$TICK" "$WORK/out.json" >> "$WORK/results" <<'EOF'
import json, sys
scenario, before, after, tick, path = sys.argv[1:]
report = json.load(open(path))
report.update(server="cluster of 3", scenario=scenario,
              proc_cpu_seconds=(float(after) - float(before)) / float(tick))
print(json.dumps(report))
EOF
  done
done

python3 - "$WORK/results" "$DURATION" "$ROUNDS" <<'EOF'
import json, os, statistics, sys
path, duration, rounds = sys.argv[1:]
rows = [json.loads(line) for line in open(path) if line.strip()]

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None

def pick(server, scenario):
    return [r for r in rows if r["server"] == server and r["scenario"] == scenario]

def stat(runs, key):
    return median([key(r) for r in runs])

def cpu_us(r):
    return r["proc_cpu_seconds"] * 1e6 / r["ops"] if r.get("ops") else None

def p99(r):
    for op in ("set", "get"):
        pass
    worst = max((r[op]["p99_us"] for op in ("set", "get") if r.get(op, {}).get("count")), default=None)
    return worst

def fmt(v, unit="", digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}{unit}"

load = os.getloadavg()[0]
print(f"Measured {duration} per run, {rounds} round(s) per scenario alternating between servers, "
      f"medians shown; load average at the end {load:.1f}; {os.cpu_count()} cores shared by the "
      "servers and the load tool. Server CPU is read from /proc for every server.\n")
print("| scenario | this server: ops/s | happn-3: ops/s | ratio | this server: p99 | happn-3: p99 "
      "| this server: CPU/op | happn-3: CPU/op | CPU ratio |")
print("|---|---|---|---|---|---|---|---|---|")
scenarios = []
for r in rows:
    if r["server"] == "this server" and r["scenario"] not in scenarios:
        scenarios.append(r["scenario"])
for scenario in scenarios:
    ours, theirs = pick("this server", scenario), pick("happn-3", scenario)
    fan_out = "fan-out" in scenario
    rate = (lambda r: r["events_per_sec"]) if fan_out else (lambda r: r["ops_per_sec"])
    # Fan-out: CPU per delivered event.
    per = (lambda r: r["proc_cpu_seconds"] * 1e6 / r["events"] if r["events"] else None) if fan_out else cpu_us
    lat = (lambda r: r["delivery"]["p99_us"]) if fan_out else p99
    o_rate, t_rate = stat(ours, rate), stat(theirs, rate)
    o_cpu, t_cpu = stat(ours, per), stat(theirs, per)
    name = scenario + (" (events/s, CPU per delivered event)" if fan_out else "")
    print(f"| {name} | {fmt(o_rate)} | {fmt(t_rate)} | "
          f"{fmt(o_rate / t_rate if o_rate and t_rate else None, '×', 1)} | "
          f"{fmt(stat(ours, lat) / 1000 if stat(ours, lat) else None, ' ms', 2)} | "
          f"{fmt(stat(theirs, lat) / 1000 if stat(theirs, lat) else None, ' ms', 2)} | "
          f"{fmt(o_cpu, ' µs', 1)} | {fmt(t_cpu, ' µs', 1)} | "
          f"{fmt(t_cpu / o_cpu if o_cpu and t_cpu else None, '×', 1)} |")

redis = {t: pick("redis", t) for t in ("set", "get")}
if redis["set"]:
    print("\n| request/response over loopback | ops/s | server CPU per op | this server, same shape | ratio |")
    print("|---|---|---|---|---|")
    for test, scenario in (("set", "sets, 32 clients"), ("get", "mixed 50% get, 32 clients")):
        r_rate, r_cpu = stat(redis[test], lambda r: r["ops_per_sec"]), stat(redis[test], cpu_us)
        o_cpu = stat(pick("this server", scenario), cpu_us)
        print(f"| Redis `{test}` (`redis-benchmark -c 32 -d 100`) | {fmt(r_rate)} | {fmt(r_cpu, ' µs', 1)} | "
              f"{fmt(o_cpu, ' µs', 1)} ({scenario}) | {fmt(o_cpu / r_cpu if o_cpu and r_cpu else None, '×', 2)} |")

cluster = [s for s in dict.fromkeys(r["scenario"] for r in rows if r["server"] == "cluster of 3")]
if cluster:
    print("\n| cluster of 3 (writers on node 1, subscribers on nodes 2 and 3) | sets/s | replicated events/s "
          "| cross-node delivery p50 | p99 | CPU of the 3 nodes per set |")
    print("|---|---|---|---|---|---|")
    for scenario in cluster:
        runs = pick("cluster of 3", scenario)
        print(f"| {scenario} | {fmt(stat(runs, lambda r: r['ops_per_sec']))} | "
              f"{fmt(stat(runs, lambda r: r['events_per_sec']))} | "
              f"{fmt(stat(runs, lambda r: r['delivery']['p50_us'] / 1000), ' ms', 2)} | "
              f"{fmt(stat(runs, lambda r: r['delivery']['p99_us'] / 1000), ' ms', 2)} | "
              f"{fmt(stat(runs, cpu_us), ' µs', 1)} |")
EOF

log "real stores (scripts/bench-stores.sh)"
echo
echo "## Writes on the real stores"
echo
scripts/bench-stores.sh "$ROUNDS" "$DURATION"
