#!/usr/bin/env bash
# What TRANSACTIONAL's wait costs: one node, 32 writers and 4 subscribers on the same node
# receiving every event, with `transactionalWait` at its default (the reply waits until the
# subscribers' copies are on their sockets) and at 0 (the reply may overtake them), on
# PostgreSQL and on the memory store. Scenarios alternate over ROUNDS rounds; medians.
#
# Usage: scripts/bench-transactional.sh [ROUNDS=3] [DURATION=8s]
# Needs: a release build (cargo build --release), PostgreSQL on 127.0.0.1:5432.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
DURATION=${2:-8s}
BIN=target/release/happn-cluster
PG_URL=${HAPPN_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
WORK=$(mktemp -d)
TABLE="bench_tx_$$"
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
  psql -q "$PG_URL" -c "DROP TABLE IF EXISTS \"$TABLE\"" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

declare -A RESULTS
for round in $(seq 1 "$ROUNDS"); do
  for store in postgres memory; do
    for wait in 100 0; do
      port=$(free_port); internal=$(free_port)
      if [ "$store" = postgres ]; then settings="{\"url\": \"$PG_URL\", \"table\": \"$TABLE\"}"; else settings="{}"; fi
      cat > "$WORK/n.json" <<JSON
{"name": "n", "host": "127.0.0.1", "port": $internal,
 "services": {"proxy": {"config": {"host": "127.0.0.1", "port": $port}},
  "publisher": {"config": {"publicationOptions": {"transactionalWait": $wait}}},
  "data": {"config": {"datastores": [{"name": "s", "provider": "$store", "isDefault": true, "settings": $settings}]}}}}
JSON
      RUST_LOG=warn "$BIN" --config "$WORK/n.json" > "$WORK/n.log" 2>&1 &
      PID=$!
      wait_port "$port" || { cat "$WORK/n.log" >&2; exit 1; }
      echo "round $round: $store, transactionalWait $wait" >&2
      out=$("$BIN" bench --url "http://127.0.0.1:$port" --clients 32 --subscribers 4 --get-ratio 0 --duration "$DURATION" --json 2>/dev/null)
      read -r ops p50 p99 < <(printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(int(d["ops_per_sec"]), round(d["set"]["p50_us"]/1000, 2), round(d["set"]["p99_us"]/1000, 1))')
      key="$store, transactionalWait $wait ms"
      RESULTS["$key|sets/s"]+="$ops "; RESULTS["$key|set p50 ms"]+="$p50 "; RESULTS["$key|set p99 ms"]+="$p99 "
      kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""
      psql -q "$PG_URL" -c "DROP TABLE IF EXISTS \"$TABLE\"" >/dev/null 2>&1 || true
    done
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
printf '| scenario | measure | median of %s | runs |\n|---|---|---|---|\n' "$ROUNDS"
for key in $(printf '%s\n' "${!RESULTS[@]}" | sort | tr ' ' '~'); do
  k=${key//\~/ }
  printf '| %s | %s | %s | %s |\n' "${k%%|*}" "${k##*|}" "$(printf '%s' "${RESULTS[$k]}" | median)" "${RESULTS[$k]}"
done
