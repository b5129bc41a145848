#!/usr/bin/env bash
# Bearer GETs of one partner with and without a flood of wrong HTTP Basic
# passwords (64 clients, each from its own loopback address, half on a real
# login and half on random ones), in the same run against a fresh server on
# SQLite. Usage: scripts/basic-flood.sh [server-binary] [flood-clients]
# (default: the binary built from this tree; give another to compare).
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/switchboard ./cmd/switchboard
go build -o bin/switchboard-bench ./cmd/switchboard-bench
bin=${1:-bin/switchboard}
clients=${2:-64}
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
export SWITCHBOARD_DB="sqlite:$dir/flood.db"
SWITCHBOARD_BOOTSTRAP_TOKEN=probe "$bin" serve --addr 127.0.0.1:18445 2>"$dir/server.log" &
pid=$!
for _ in $(seq 50); do curl -fs http://127.0.0.1:18445/readyz >/dev/null && break; sleep 0.1; done
"$bin" partners create --name victim --login victim-login --password "victim password" >/dev/null
bin/switchboard-bench --url http://127.0.0.1:18445 --token probe --seed 1000 --scenarios get \
  --concurrency 4 --duration 15s --ceiling=false --flood-basic "$clients" --flood-login victim-login --server-pid "$pid"
