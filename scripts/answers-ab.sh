#!/usr/bin/env bash
# A/B of GET by SID and the first unfiltered page (issue 17, h17-perf):
# sb-base (before) against sb-branch, interleaved, each run on a fresh copy
# of one database seeded once through the API, with the load tool's bare
# net/http ceiling in the same run. Before the measured run, each server
# gets the same warm-up (WARM of the get scenario: fills SQLite's page
# cache, and the branch's answer cache); round 1 takes a CPU profile of each
# server during the warm-up's last GETs (serve --debug-addr).
# usage: AB_DIR=dir [WARM_SECONDS=30] answers-ab.sh ROUNDS DURATION SEED [SIDE...]
# AB_DIR holds sb-base, sb-branch and bench; a side is base, branch or
# branch:MIB (branch with --answer-cache-mib MIB).
set -u
rounds=${1:-2}; dur=${2:-10s}; seed=${3:-100000}; shift 3
sides=${*:-base branch}
cd "${AB_DIR:?set AB_DIR}"
addr=127.0.0.1:18097
start() { # bin db extra-args...
  local bin=$1 db=$2; shift 2
  SWITCHBOARD_BOOTSTRAP_TOKEN=bench ./$bin serve --addr $addr --db "sqlite:$db" --max-in-flight 0 \
    --debug-addr 127.0.0.1:16097 "$@" 2>"$AB_DIR/run.log" >/dev/null &
  pid=$!
  for _ in $(seq 300); do curl -sf http://$addr/readyz >/dev/null && return; sleep 0.1; done
  echo "server did not start"; exit 1
}
if [ ! -e seed.db ]; then
  start sb-base seed.db
  ./bench --url http://$addr --token bench --seed "$seed" --scenarios get --duration 1s --ceiling=false | grep seeded
  kill $pid; wait $pid
fi
for r in $(seq "$rounds"); do
  for side in $sides; do
    bin=sb-$side; args=()
    case $side in branch:*) bin=sb-branch; args=(--answer-cache-mib "${side#branch:}");; esac
    rm -f run.db*; cp seed.db run.db
    start "$bin" run.db "${args[@]}"
    echo "== round $r $side load $(cut -d' ' -f1-3 /proc/loadavg)"
    if [ "$r" = 1 ]; then
      (until grep -q -m1 -F '"route":"GET /core/v2/endpoints/{endpoint_sid}"' run.log; do sleep 0.5; done
       sleep $(( ${WARM_SECONDS:-30} - 12 ))
       curl -s -o "cpu-$side.prof" "http://127.0.0.1:16097/debug/pprof/profile?seconds=8") &
      prof=$!
    fi
    ./bench --url http://$addr --token bench --seed 0 --concurrency 32 --duration "${WARM_SECONDS:-30}s" \
      --scenarios get --ceiling=false >/dev/null 2>&1
    [ "$r" = 1 ] && wait $prof
    ./bench --url http://$addr --token bench --seed 0 --concurrency 32 --duration "$dur" \
      --scenarios get,first_page --server-pid $pid 2>&1 | grep -E '^(scenario|get|first_page|server peak)'
    kill $pid; wait $pid
  done
done
