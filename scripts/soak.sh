#!/usr/bin/env bash
# Soak: ten one-minute rounds of the mixed load at high concurrency against a
# fresh server on SQLite, printing each round's throughput, latency, errors
# and the server's memory. Usage: scripts/soak.sh [concurrency] [seed]
set -euo pipefail
cd "$(dirname "$0")/.."
concurrency=${1:-64}
seed=${2:-20000}
go build -o bin/switchboard ./cmd/switchboard
go build -o bin/switchboard-bench ./cmd/switchboard-bench
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
SWITCHBOARD_BOOTSTRAP_TOKEN=soak bin/switchboard serve --addr 127.0.0.1:18444 --db "sqlite:$dir/soak.db" 2>"$dir/server.log" &
pid=$!
for _ in $(seq 50); do curl -fs http://127.0.0.1:18444/readyz >/dev/null && break; sleep 0.1; done
bin/switchboard-bench --url http://127.0.0.1:18444 --token soak --seed "$seed" --concurrency "$concurrency" \
  --duration 1m --ceiling=false --scenarios mixed,mixed,mixed,mixed,mixed,mixed,mixed,mixed,mixed,mixed \
  --server-pid "$pid" --db-file "$dir/soak.db"
echo "server log lines at level ERROR: $(grep -c '"level":"ERROR"' "$dir/server.log" || true)"
grep '"level":"ERROR"' "$dir/server.log" | head -5 || true
