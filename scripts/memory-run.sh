#!/usr/bin/env bash
# A server's memory and ratios on a copy of a seeded database (issue 17):
# a fresh copy of SEEDDB, the server started with the given environment and
# flags, 20 s of the get scenario to warm it, then mixed and get with the
# bare net/http ceiling and the server's peak memory (VmHWM).
# usage: AB_DIR=dir memory-run.sh SEEDDB LABEL [NAME=VALUE...] -- [serve flags...]
# AB_DIR holds sb (cmd/switchboard) and bench (cmd/switchboard-bench).
set -u
seed=$1; label=$2; shift 2
envs=(); while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done; [ $# -gt 0 ] && shift
cd "${AB_DIR:?set AB_DIR}"
rm -f mem.db mem.db-*; cp "$seed" mem.db
trap 'rm -f mem.db mem.db-*' EXIT
env "${envs[@]}" SWITCHBOARD_BOOTSTRAP_TOKEN=bench ./sb serve --addr 127.0.0.1:18201 --db "sqlite:$PWD/mem.db" \
  --max-in-flight 0 "$@" 2>mem.log >/dev/null &
pid=$!
for _ in $(seq 300); do curl -sf http://127.0.0.1:18201/readyz >/dev/null && break; sleep 0.1; done
echo "== $label (${envs[*]} $*) load $(cut -d' ' -f1-3 /proc/loadavg)"
./bench --url http://127.0.0.1:18201 --token bench --seed 0 --scenarios get --duration 20s --ceiling=false 2>&1 |
  tr '\r' '\n' | grep -E '^get' | sed 's/^get/warm get/'
./bench --url http://127.0.0.1:18201 --token bench --seed 0 --scenarios mixed,get --duration 10s --server-pid $pid 2>&1 |
  tr '\r' '\n' | grep -Ev '^(loaded|$)'
kill $pid; wait $pid 2>/dev/null
