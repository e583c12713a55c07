#!/usr/bin/env bash
# The one test command: installs and starts what the tests need, then runs the whole suite.
#   - the pinned happn-3 npm client (tests/compat)
#   - Debian's chromium and playwright-core (tests/browser) for the dashboard test
#   - SecantusDB, a MongoDB-wire server, on 127.0.0.1:27017 (Python venv in .tmp/venv)
#   - the machine's PostgreSQL on 127.0.0.1:5432 (started if it is down)
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
mkdir -p .tmp

step() { printf '\n==> %s\n' "$*"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && exec 3>&- 3<&-; }

wait_port() {
  for _ in $(seq 1 100); do
    if port_open "$1"; then return 0; fi
    sleep 0.2
  done
  echo "nothing listens on 127.0.0.1:$1" >&2
  return 1
}

step "npm: installing the pinned happn-3 client for the compatibility suite"
(cd tests/compat && npm ci --no-audit --no-fund --loglevel=error)

step "Chromium and playwright-core for the dashboard's browser test"
if [ ! -x /usr/bin/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends chromium > .tmp/apt.log 2>&1 \
    || { apt-get update > .tmp/apt.log 2>&1 && apt-get install -y --no-install-recommends chromium >> .tmp/apt.log 2>&1; } \
    || { tail -20 .tmp/apt.log >&2; exit 1; }
fi
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

step "SecantusDB (MongoDB wire protocol) for the mongo provider"
if [ ! -x .tmp/venv/bin/python ] || ! .tmp/venv/bin/python -c 'import secantus' 2>/dev/null; then
  python3 -m venv .tmp/venv
  .tmp/venv/bin/pip install --quiet secantusdb==0.7.0b3
fi
export SECANTUS_PYTHON="$ROOT/.tmp/venv/bin/python"
SECANTUS_PID=""
cleanup() { if [ -n "$SECANTUS_PID" ]; then kill "$SECANTUS_PID" 2>/dev/null || true; fi; }
trap cleanup EXIT
if port_open 27017; then
  echo "a server already listens on 127.0.0.1:27017: using it"
else
  "$SECANTUS_PYTHON" -m secantus --host 127.0.0.1 --port 27017 --storage-path :memory: \
    > .tmp/secantus.log 2>&1 &
  SECANTUS_PID=$!
  wait_port 27017 || { cat .tmp/secantus.log >&2; exit 1; }
fi
export HAPPN_TEST_MONGO_URL="${HAPPN_TEST_MONGO_URL:-mongodb://127.0.0.1:27017/?retryWrites=false}"

step "PostgreSQL for the postgres provider"
if ! port_open 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  wait_port 5432
fi
export HAPPN_TEST_POSTGRES_URL="${HAPPN_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

step "cargo fmt --check"
cargo fmt --all -- --check

step "module graph: no import cycle, only lib.rs and main.rs import node"
python3 scripts/module-graph.py

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo build (binaries used by black-box tests)"
cargo build --workspace --all-targets

step "cargo test"
cargo test --workspace -- --test-threads="${TEST_THREADS:-2}"

step "embedding examples (cargo run --example …)"
cargo run --quiet --example replicator_events
cargo run --quiet --example custom_provider
# Built as a downstream program would link it: default features off, one provider.
cargo run --quiet --example embed_node --no-default-features --features sqlite

step "all tests passed"
