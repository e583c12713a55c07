#!/usr/bin/env bash
# The one test command: installs and starts what the tests need, then runs the whole suite.
# Usage: scripts/test.sh            (from the repository root or anywhere)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "npm: installing the pinned happn-3 client for the compatibility suite"
(cd tests/compat && npm ci --no-audit --no-fund --loglevel=error)

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo build (binaries used by black-box tests)"
cargo build --workspace --all-targets

step "cargo test"
cargo test --workspace -- --test-threads="${TEST_THREADS:-2}"

step "all tests passed"
