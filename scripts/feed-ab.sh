#!/usr/bin/env bash
# A/B: main's binary vs the feed's, interleaved, same session.
# usage: ab.sh sqlite|postgres ROUNDS DURATION
# AB_BINS names the binaries in AB_DIR to interleave (default: sb-main sb-feed).
set -u
backend=$1; rounds=${2:-2}; dur=${3:-5s}
cd "${AB_DIR:?set AB_DIR to a directory holding sb-main, sb-feed and bench}"
for r in $(seq "$rounds"); do
 for bin in ${AB_BINS:-sb-main sb-feed}; do
  if [ "$backend" = postgres ]; then
    schema="h8ab_$(date +%s%N)"
    PGOPTIONS=--client-min-messages=warning psql -q -h 127.0.0.1 -U postgres -d test -c "CREATE SCHEMA $schema"
    dsn="postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path=$schema"
  else
    rm -f $AB_DIR/ab.db*; dsn="sqlite:$AB_DIR/ab.db"
  fi
  SWITCHBOARD_BOOTSTRAP_TOKEN=bench ./$bin serve --addr 127.0.0.1:18089 --db "$dsn" --max-in-flight 0 2>$AB_DIR/$bin.log &
  pid=$!
  for i in $(seq 100); do curl -sf http://127.0.0.1:18089/readyz >/dev/null && break; sleep 0.1; done
  echo "== round $r $bin $backend"
  ./bench --url http://127.0.0.1:18089 --token bench --seed 200 --concurrency 32 --duration "$dur" --scenarios create,patch --ceiling=false 2>&1 | grep -iE "create|patch" | grep -v "^seed"
  kill $pid; wait $pid
  if [ "$backend" = postgres ]; then PGOPTIONS=--client-min-messages=warning psql -q -h 127.0.0.1 -U postgres -d test -c "DROP SCHEMA $schema CASCADE"; fi
 done
done
