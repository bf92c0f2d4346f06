#!/usr/bin/env bash
# Fleet mode wall time: 50 PostgreSQL tenant databases migrated with --parallel 1 and --parallel 8,
# alternating, each round on freshly created databases. Prints the median of each and their ratio.
# Usage: bench/fleet.sh [PLINTH_BINARY] [ROUNDS]
set -euo pipefail
BIN=${1:-target/release/plinth}
ROUNDS=${2:-3}
PSQL=$(ls /usr/lib/postgresql/*/bin/psql | head -n1)
export PGOPTIONS="-c client_min_messages=warning"
ADMIN="$PSQL -h 127.0.0.1 -U postgres -d postgres -qAt"
WORK=$(mktemp -d)
trap 'for i in $(seq 1 50); do $ADMIN -c "DROP DATABASE IF EXISTS fleet_bench_$i WITH (FORCE)" >/dev/null 2>&1 || true; done; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/migrations"
for n in $(seq 1 10); do
  printf 'CREATE TABLE t%d (id INTEGER PRIMARY KEY, v VARCHAR(40));\nINSERT INTO t%d VALUES (1, %s);\n' "$n" "$n" "'x'" \
    > "$WORK/migrations/$(printf %04d "$n")_t$n.sql"
done
: > "$WORK/targets.txt"
for i in $(seq 1 50); do echo "postgres://postgres@127.0.0.1:5432/fleet_bench_$i?sslmode=disable" >> "$WORK/targets.txt"; done
fresh() {
  for i in $(seq 1 50); do echo "DROP DATABASE IF EXISTS fleet_bench_$i WITH (FORCE);"; done | $ADMIN >/dev/null
  for i in $(seq 1 50); do echo "CREATE DATABASE fleet_bench_$i;"; done | $ADMIN >/dev/null
}
declare -A times
for r in $(seq 1 "$ROUNDS"); do
  for p in 1 8; do
    fresh
    start=$(date +%s.%N)
    "$BIN" --source "$WORK/migrations" --format json migrate --targets "$WORK/targets.txt" --parallel "$p" > "$WORK/out.json"
    end=$(date +%s.%N)
    grep -q '"applied": 50' "$WORK/out.json" || { echo "round $r parallel $p: not all 50 applied" >&2; exit 1; }
    times[$p]+="$(echo "$end - $start" | bc) "
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m1=$(echo "${times[1]}" | median); m8=$(echo "${times[8]}" | median)
echo "parallel 1: ${times[1]}(median $m1 s)"
echo "parallel 8: ${times[8]}(median $m8 s)"
echo "ratio 8/1: $(echo "scale=3; $m8 / $m1" | bc)"
echo "load: $(uptime | sed 's/.*load average: //')"
