#!/usr/bin/env bash
# Real-store write benchmark, side by side in one run: pgbench's TPS for the PostgreSQL
# provider's own upsert statement (one row per transaction, and 32 rows per statement) as
# the yardstick, then one node on PostgreSQL and one on a SQLite file, each with group
# commit off (writeBatch.maxItems = 1) and on (the defaults), at 32 writers and at 1 writer,
# then 3-node clusters on each store (writers on the first node, a subscriber on each of the
# others receiving every event), group commit on.
# Scenarios alternate over ROUNDS rounds; the table shows medians.
#
# Usage: scripts/bench-stores.sh [ROUNDS=3] [DURATION=8s]
# Needs: a release build (cargo build --release), PostgreSQL on 127.0.0.1:5432 (trust auth,
# database `test`), pgbench.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
DURATION=${2:-8s}
SECONDS_RUN=${DURATION%s}
BIN=target/release/happn-cluster
PG_URL=${HAPPN_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
WORK=$(mktemp -d)
TABLE="bench_stores_$$"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  psql -q "$PG_URL" -c "DROP TABLE IF EXISTS \"$TABLE\"" >/dev/null 2>&1 || true
  for i in 1 2 3 4; do psql -q "$PG_URL" -c "DROP TABLE IF EXISTS \"${TABLE}_$i\"" >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
log() { printf '%s\n' "$*" >&2; }
[ -x "$BIN" ] || { log "build first: cargo build --release"; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# The provider's table and statement, for pgbench.
psql -q "$PG_URL" -c "CREATE TABLE IF NOT EXISTS \"$TABLE\" (path TEXT PRIMARY KEY COLLATE \"C\", data JSONB NOT NULL, created BIGINT NOT NULL, modified BIGINT NOT NULL, modified_by TEXT)"
PAYLOAD=$(python3 -c 'print("x" * 100)')
cat > "$WORK/single.sql" <<EOF
\set p random(1, 1000)
INSERT INTO "$TABLE" (path, data, created, modified, modified_by) VALUES ('/bench/' || :p, '{"p": "$PAYLOAD"}', 1, 1, NULL) ON CONFLICT (path) DO UPDATE SET data = excluded.data, modified = GREATEST(excluded.modified, "$TABLE".modified), modified_by = excluded.modified_by RETURNING path, data, created, modified, modified_by;
EOF
cat > "$WORK/batched.sql" <<EOF
\set b random(0, 30)
INSERT INTO "$TABLE" (path, data, created, modified, modified_by) SELECT '/bench/' || (:b * 32 + g), '{"p": "$PAYLOAD"}', 1, 1, NULL FROM generate_series(1, 32) AS g ON CONFLICT (path) DO UPDATE SET data = excluded.data, modified = GREATEST(excluded.modified, "$TABLE".modified), modified_by = excluded.modified_by RETURNING path, data, created, modified, modified_by;
EOF

start_node() { # name store(postgres|sqlite) max_items → sets PORT, PID
  local name=$1 store=$2 max=$3 internal
  PORT=$(free_port); internal=$(free_port)
  local settings
  if [ "$store" = postgres ]; then
    settings="{\"url\": \"$PG_URL\", \"table\": \"${TABLE}_n\"}"
  else
    settings="{\"filename\": \"$WORK/$name.db\", \"table\": \"happn\"}"
  fi
  cat > "$WORK/$name.json" <<EOF
{"name": "$name", "host": "127.0.0.1", "port": $internal,
 "services": {"proxy": {"config": {"host": "127.0.0.1", "port": $PORT}},
  "data": {"config": {"datastores": [{"name": "s", "provider": "$store", "isDefault": true,
    "settings": $settings, "writeBatch": {"maxItems": $max}}]}}}}
EOF
  RUST_LOG=warn "$BIN" --config "$WORK/$name.json" > "$WORK/$name.log" 2>&1 &
  PID=$!; PIDS+=("$PID")
  wait_port "$PORT" || { cat "$WORK/$name.log" >&2; exit 1; }
}

start_cluster() { # store → sets PORTS (client ports), CPIDS
  local store=$1 i settings members="" secret
  secret=$("$BIN" secret)
  local peers=(); PORTS=(); CPIDS=()
  for i in 0 1 2; do peers+=("$(free_port)"); done
  for i in 0 1 2; do
    members+="{\"name\": \"c$i\", \"service\": \"happn-cluster-node\", \"clusterName\": \"happn-cluster\", \"deployment\": \"Test-Deploy\", \"endpoint\": \"127.0.0.1:${peers[$i]}\"},"
  done
  if [ "$store" = postgres ]; then
    settings="{\"url\": \"$PG_URL\", \"table\": \"${TABLE}_c\"}"
  else
    settings="{\"filename\": \"$WORK/cluster-$RANDOM.db\", \"table\": \"happn\"}"
  fi
  for i in 0 1 2; do
    local port; port=$(free_port); PORTS+=("$port")
    cat > "$WORK/c$i.json" <<EOF
{"name": "c$i", "host": "127.0.0.1", "port": ${peers[$i]},
 "services": {"proxy": {"config": {"host": "127.0.0.1", "port": $port}},
  "data": {"config": {"datastores": [{"name": "s", "provider": "$store", "isDefault": true, "settings": $settings}]}},
  "orchestrator": {"config": {"clusterSecret": "$secret", "cluster": {"happn-cluster-node": 3},
    "timing": {"keepAlive": 500, "keepAliveThreshold": 1500, "memberRefresh": 500},
    "discovery": {"plugin": "static", "settings": {"members": [${members%,}]}}}}}}
EOF
    RUST_LOG=warn "$BIN" --config "$WORK/c$i.json" > "$WORK/c$i.log" 2>&1 &
    CPIDS+=("$!"); PIDS+=("$!")
  done
  for port in "${PORTS[@]}"; do wait_port "$port" || { cat "$WORK"/c*.log >&2; exit 1; }; done
}

declare -A RESULTS
record() { RESULTS["$1"]+="$2 "; }

for round in $(seq 1 "$ROUNDS"); do
  log "round $round: pgbench"
  tps=$(pgbench -n -c 32 -j 2 -T "$SECONDS_RUN" -f "$WORK/single.sql" "$PG_URL" 2>/dev/null | awk '/^tps/ {print int($3)}')
  record "pgbench, provider upsert, 1 row/transaction, 32 clients|rows/s" "$tps"
  tps=$(pgbench -n -c 8 -j 2 -T "$SECONDS_RUN" -f "$WORK/batched.sql" "$PG_URL" 2>/dev/null | awk '/^tps/ {print int($3 * 32)}')
  record "pgbench, provider upsert, 32 rows/statement, 8 clients|rows/s" "$tps"
  for store in postgres sqlite; do
    for max in 1 64; do
      mode=$([ "$max" = 1 ] && echo "group commit off" || echo "group commit on")
      start_node "n-$store-$max-$round" "$store" "$max"
      for clients in 32 1; do
        log "round $round: $store, $mode, $clients writers"
        out=$("$BIN" bench --url "http://127.0.0.1:$PORT" --clients "$clients" --get-ratio 0 --duration "$DURATION" --json 2>/dev/null)
        ops=$(printf '%s' "$out" | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["ops_per_sec"]))')
        p99=$(printf '%s' "$out" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["set"]["p99_us"]/1000, 1))')
        p50=$(printf '%s' "$out" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["set"]["p50_us"]/1000, 2))')
        record "one node on $store, $mode, $clients writers|sets/s" "$ops"
        record "one node on $store, $mode, $clients writers|p50 ms" "$p50"
        record "one node on $store, $mode, $clients writers|p99 ms" "$p99"
      done
      kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true
      psql -q "$PG_URL" -c "DROP TABLE IF EXISTS \"${TABLE}_n\"" >/dev/null 2>&1 || true
    done
    log "round $round: 3-node cluster on $store"
    start_cluster "$store"
    urls=$(printf 'http://127.0.0.1:%s,' "${PORTS[@]}"); urls=${urls%,}
    for clients in 32 1; do
      out=$("$BIN" bench --cluster "$urls" --clients "$clients" --get-ratio 0 --duration "$DURATION" --json 2>/dev/null)
      read -r ops p99 events delivery < <(printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(int(d["ops_per_sec"]), round(d["set"]["p99_us"]/1000, 1), int(d["events_per_sec"]), round(d["delivery"]["p99_us"]/1000, 1))')
      record "3-node cluster on $store, $clients writers on node 1|sets/s" "$ops"
      record "3-node cluster on $store, $clients writers on node 1|set p99 ms" "$p99"
      record "3-node cluster on $store, $clients writers on node 1|events/s at the 2 remote subscribers" "$events"
      record "3-node cluster on $store, $clients writers on node 1|delivery p99 ms" "$delivery"
    done
    for pid in "${CPIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    psql -q "$PG_URL" -c "DROP TABLE IF EXISTS \"${TABLE}_c\"" >/dev/null 2>&1 || true
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
printf '| scenario | measure | median of %s | runs |\n|---|---|---|---|\n' "$ROUNDS"
for key in "${!RESULTS[@]}"; do
  scenario=${key%%|*}; measure=${key#*|}
  printf '| %s | %s | %s | %s |\n' "$scenario" "$measure" "$(printf '%s' "${RESULTS[$key]}" | median)" "${RESULTS[$key]}"
done | sort
