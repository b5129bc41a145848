#!/usr/bin/env bash
# One full run of the load tool at a scale (issue 17): a fresh database,
# SEED endpoints created through the API, a warm-up of the get scenario,
# then every scenario against the server and against the tool's bare
# net/http ceiling, with the server's peak memory and the database's size.
# Reads run before writes, so that the reads see SEED endpoints.
# usage: AB_DIR=dir scale-run.sh sqlite|postgres SEED [DURATION] [PROCESSES]
# AB_DIR holds sb (a build of cmd/switchboard) and bench (of
# cmd/switchboard-bench); PROCESSES (PostgreSQL only) servers share one
# database and the clients. WARM_SECONDS (default 30) is the warm-up.
set -u
backend=$1; seed=$2; dur=${3:-10s}; procs=${4:-1}
cd "${AB_DIR:?set AB_DIR}"
case $backend in
sqlite) rm -f scale.db scale.db-*; dsn=sqlite:$PWD/scale.db; dbfile=(--db-file "$PWD/scale.db");;
postgres)
  psql -q -h 127.0.0.1 -U postgres test -c 'DROP SCHEMA IF EXISTS scale CASCADE' -c 'CREATE SCHEMA scale'
  dsn="postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path=scale"; dbfile=();;
*) echo "backend: sqlite or postgres"; exit 2;;
esac
pids=(); urls=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT
for p in $(seq "$procs"); do
  addr=127.0.0.1:$((18100 + p))
  SWITCHBOARD_BOOTSTRAP_TOKEN=bench ./sb serve --addr "$addr" --db "$dsn" --max-in-flight 0 \
    --debug-addr 127.0.0.1:$((16100 + p)) 2>"scale-$p.log" >/dev/null &
  pids+=($!); urls+=("http://$addr")
  for _ in $(seq 300); do curl -sf "http://$addr/readyz" >/dev/null && break; sleep 0.1; done
done
all=$(IFS=,; echo "${urls[*]}")
echo "== $backend, $seed endpoints, $procs process(es), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%H:%M:%S) UTC"
./bench --url "$all" --token bench --seed "$seed" --scenarios get --duration "${WARM_SECONDS:-30}s" --ceiling=false 2>&1 |
  tr '\r' '\n' | grep -E '^(seeded|get)' | sed 's/^get/warm-up get/'
echo "-- load $(cut -d' ' -f1-3 /proc/loadavg)"
./bench --url "$all" --token bench --seed 0 --duration "$dur" --server-pid "${pids[0]}" "${dbfile[@]}" \
  --scenarios get,list,list_ip,list_region,first_page,deep_page,mixed,patch,create 2>&1 | tr '\r' '\n' | grep -Ev '^(loaded|$)'
echo "-- load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%H:%M:%S) UTC"
for p in "${pids[@]}"; do grep VmHWM "/proc/$p/status"; done
