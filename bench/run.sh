#!/usr/bin/env bash
# plinth benchmarks, side by side with the peers (issue 6). Usage:
#
#   bench/run.sh [all|apply|noop|status|statements|tls] ...   (default: all)
#
# Environment:
#   PLINTH_BENCH_PEERS=/dir    reuse peers installed there (bin/sqlx, bin/refinery); default bench/.peers,
#                              where missing peers are installed with `cargo install --root`.
#   PLINTH_BENCH_BACKENDS      space-separated subset of "postgres mariadb sqlite" (default: all three).
#   PLINTH_BENCH_PG            server URL without database (default postgres://postgres@127.0.0.1:5432)
#   PLINTH_BENCH_MYSQL         server URL without database (default mysql://root@127.0.0.1:3306)
#   PLINTH_BENCH_ROUNDS        interleaving rounds for short commands (default 10)
#   PLINTH_BENCH_APPLY_ROUNDS  rounds for "apply 100" (default 5); "apply 1,000" uses half, at least 2
#   PLINTH_BENCH_BIG_BACKENDS  backends for `status` with 10,000 applied (default: all; applying
#                              10,000 migrations twice takes ~15 minutes on MariaDB here)
#   PLINTH_BENCH_APPEND=1      add to bench/.work/results.jsonl instead of starting it afresh
#   PLINTH_BENCH_SKIP_BUILD=1  use the release binaries already in target/release
#   PLINTH_BENCH_DOC=0         do not rewrite docs/BENCHMARKS.md (the table is still in bench/.work)
#
# Every case runs on a fresh database per tool. Short commands are timed by hyperfine in rounds:
# each round times every tool a few times, one tool after the other, so a burst of load from
# elsewhere hits all tools alike; the medians and spreads are computed over all rounds together.
# The 1-minute load average is recorded before each round.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK="$ROOT/bench/.work"
PEERS=${PLINTH_BENCH_PEERS:-$ROOT/bench/.peers}
PG_SERVER=${PLINTH_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
MY_SERVER=${PLINTH_BENCH_MYSQL:-mysql://root@127.0.0.1:3306}
BACKENDS=${PLINTH_BENCH_BACKENDS:-postgres mariadb sqlite}
ROUNDS=${PLINTH_BENCH_ROUNDS:-10}
APPLY_ROUNDS=${PLINTH_BENCH_APPLY_ROUNDS:-5}
PSQL=${PSQL:-/usr/lib/postgresql/15/bin/psql}
PG_LOG=${PLINTH_BENCH_PG_LOG:-/var/log/postgresql/postgresql-15-main.log}
# The binaries are copied here after the build, so a rebuild during a run cannot mix versions.
PLINTH="$WORK/bin/plinth"
FLOOR="$WORK/bin/plinth-bench-floor"
SQLX="$PEERS/bin/sqlx"
REFINERY="$PEERS/bin/refinery"
RESULTS="$WORK/results.jsonl"
SELF="$ROOT/bench/run.sh"
RUN_ID=$(date '+%Y-%m-%d %H:%M')
# plinth's checksum cache for the corpora lives with the run, not in the user's ~/.cache.
export PLINTH_CACHE_DIR="$WORK/cache"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
load1() { cut -d' ' -f1 /proc/loadavg; }

# ---------------------------------------------------------------------------------------------
# Databases: one name per (case, tool); helpers are also invoked by hyperfine's --prepare.

pg_host_args() { # postgres://user@host:port -> psql flags
    local rest=${PG_SERVER#*://} user host port
    user=${rest%@*}; host=${rest#*@}; port=${host##*:}; host=${host%:*}
    echo "-h $host -p $port -U $user"
}
my_host_args() {
    local rest=${MY_SERVER#*://} user host port
    user=${rest%@*}; host=${rest#*@}; port=${host##*:}; host=${host%:*}
    echo "-h $host -P $port -u $user"
}
psql_do() { # shellcheck disable=SC2046
    "$PSQL" $(pg_host_args) -d postgres -qAtX -v ON_ERROR_STOP=1 -c "$1"
}
mysql_do() { # shellcheck disable=SC2046
    mysql $(my_host_args) -N -e "$1"
}

# URL of database $2 on backend $1 (TLS per $3: "plain" or "default").
db_url() {
    local backend=$1 name=$2 tls=${3:-plain}
    case $backend in
        postgres) if [ "$tls" = plain ]; then echo "$PG_SERVER/$name?sslmode=disable"; else echo "$PG_SERVER/$name"; fi ;;
        mariadb) echo "$MY_SERVER/$name" ;;
        sqlite) echo "sqlite:$WORK/db/$name.db" ;;
    esac
}

recreate() { # backend name
    case $1 in
        postgres) psql_do "DROP DATABASE IF EXISTS \"$2\" WITH (FORCE)" && psql_do "CREATE DATABASE \"$2\"" ;;
        mariadb) mysql_do "DROP DATABASE IF EXISTS \`$2\`; CREATE DATABASE \`$2\`" ;;
        sqlite) mkdir -p "$WORK/db" && rm -f "$WORK/db/$2.db" "$WORK/db/$2.db-wal" "$WORK/db/$2.db-shm" \
                    "$WORK/db/$2.db-journal" && : > "$WORK/db/$2.db" ;;
    esac
}

drop_db() {
    case $1 in
        postgres) psql_do "DROP DATABASE IF EXISTS \"$2\" WITH (FORCE)" ;;
        mariadb) mysql_do "DROP DATABASE IF EXISTS \`$2\`" ;;
        sqlite) rm -f "$WORK/db/$2".db* ;;
    esac
}

# ---------------------------------------------------------------------------------------------
# Tools

install_peers() {
    if [ ! -x "$SQLX" ]; then
        log "installing sqlx-cli into $PEERS"
        cargo install --locked --root "$PEERS" sqlx-cli --no-default-features \
            --features rustls,postgres,mysql,sqlite
    fi
    if [ ! -x "$REFINERY" ]; then
        log "installing refinery_cli into $PEERS"
        cargo install --locked --root "$PEERS" refinery_cli
    fi
}

build() {
    if [ "${PLINTH_BENCH_SKIP_BUILD:-0}" != 1 ]; then
        log "building plinth and the floor (release)"
        (cd "$ROOT" && cargo build --release -p plinth-cli -p plinth-bench-floor)
    fi
    mkdir -p "$WORK/bin"
    cp "$ROOT/target/release/plinth" "$ROOT/target/release/plinth-bench-floor" "$WORK/bin/"
}

versions() {
    {
        echo "plinth: $("$PLINTH" --version)"
        echo "floor: sqlx $(grep -A1 '^name = "sqlx"$' "$ROOT/Cargo.lock" | sed -n 's/version = "\(.*\)"/\1/p')"
        echo "sqlx-cli: $("$SQLX" --version)"
        echo "refinery: $("$REFINERY" --version)"
        echo "hyperfine: $(hyperfine --version)"
        echo "postgres: $(psql_do 'SHOW server_version') (ssl=$(psql_do 'SHOW ssl'))"
        echo "mariadb: $(mysql_do 'SELECT VERSION()')"
        echo "sqlite (plinth, sqlx): $(sqlite3 --version | cut -d' ' -f1) system; bundled by libsqlite3-sys"
        echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(uname -sr)"
    } > "$WORK/versions.txt"
}

# Corpora: N migrations, each creating a small table, in each tool's own file naming.
corpus() { # tool n -> dir (generated once)
    local tool=$1 n=$2 dir="$WORK/corpus/$1/$2"
    if [ ! -f "$dir/.done" ]; then
        rm -rf "$dir" && mkdir -p "$dir"
        local i file
        for ((i = 1; i <= n; i++)); do
            case $tool in
                plinth | floor) file=$(printf '%05d_create_t%05d.sql' "$i" "$i") ;;
                sqlx) file=$(printf '%05d_create_t%05d.sql' "$i" "$i") ;;
                refinery) file=$(printf 'V%d__create_t%05d.sql' "$i" "$i") ;;
            esac
            printf 'CREATE TABLE t%05d (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(100) NOT NULL, created_at TIMESTAMP NULL);\n' \
                "$i" > "$dir/$file"
        done
        touch "$dir/.done"
    fi
    echo "$dir"
}

# The command a tool runs for an action ("apply"/"noop" = its migrate command; "status").
tool_cmd() { # tool action backend db n tls
    local tool=$1 action=$2 backend=$3 db=$4 n=$5 tls=${6:-plain} url dir
    url=$(db_url "$backend" "$db" "$tls")
    dir=$(corpus "${tool%-nocache}" "$n")
    case $tool:$action in
        floor:apply) echo "$FLOOR apply $url $dir" ;;
        floor:noop | floor:select) echo "$FLOOR select $url" ;;
        plinth:apply | plinth:noop) echo "$PLINTH -q --database-url $url --source $dir migrate" ;;
        plinth-nocache:noop) echo "$PLINTH -q --no-checksum-cache --database-url $url --source $dir migrate" ;;
        plinth:status) echo "$PLINTH -q --database-url $url --source $dir status" ;;
        plinth:status-json) echo "$PLINTH -q --database-url $url --source $dir --format json status" ;;
        sqlx:apply | sqlx:noop) echo "$SQLX migrate run --source $dir --database-url $url" ;;
        sqlx:status) echo "$SQLX migrate info --source $dir --database-url $url" ;;
        refinery:apply | refinery:noop)
            # refinery reads the URL from a named environment variable; TLS only with sslmode=require.
            echo "$REFINERY migrate -e PLINTH_BENCH_URL_$(echo "$db" | tr 'a-z-' 'A-Z_') -p $dir" ;;
        *) return 1 ;;
    esac
}
refinery_env() { # backend db tls: export the variable refinery reads
    local url
    url=$(db_url "$1" "$2" "${3:-plain}")
    if [ "${3:-plain}" = tls ]; then url="$PG_SERVER/$2?sslmode=require"; fi
    export "PLINTH_BENCH_URL_$(echo "$2" | tr 'a-z-' 'A-Z_')=$url"
}

# ---------------------------------------------------------------------------------------------
# Timing

# time_round case backend "label|command|prepare" ...  (runs, warmup from RUNS/WARMUP)
time_round() {
    local case=$1 backend=$2; shift 2
    local args=() spec label cmd prep labels=() json="$WORK/hf.json" load
    for spec in "$@"; do
        IFS='|' read -r label cmd prep <<< "$spec"
        labels+=("$label")
        if [ -n "$prep" ]; then args+=(--prepare "$prep"); fi
        args+=(--command-name "$label" "$cmd")
    done
    load=$(load1)
    hyperfine -N --style none --runs "${RUNS:-5}" --warmup "${WARMUP:-1}" --export-json "$json" "${args[@]}" > /dev/null
    python3 - "$json" "$case" "$backend" "$load" "$RUN_ID" >> "$RESULTS" <<'EOF'
import json, sys
path, case, backend, load, run = sys.argv[1:6]
for r in json.load(open(path))["results"]:
    print(json.dumps({"case": case, "backend": backend, "tool": r["command"], "load": float(load),
                      "times": r["times"], "run": run}))
EOF
}

# rounds N case backend spec...
rounds() {
    local n=$1; shift
    local i
    for ((i = 1; i <= n; i++)); do
        log "$1 on $2: round $i/$n (load $(load1))"
        time_round "$@"
    done
}

PEER_TOOLS="plinth sqlx refinery"

# Apply N migrations from empty: every timed run starts from a freshly created database.
case_apply() { # backend n rounds
    local backend=$1 n=$2 r=$3 specs=() tool db
    for tool in floor $PEER_TOOLS; do
        db="plb_a${n}_$tool"
        [ "$tool" = refinery ] && refinery_env "$backend" "$db"
        recreate "$backend" "$db"
        specs+=("$tool|$(tool_cmd "$tool" apply "$backend" "$db" "$n")|$SELF _recreate $backend $db")
    done
    RUNS=1 WARMUP=0 rounds "$r" "apply-$n" "$backend" "${specs[@]}"
    APPLIED="$APPLIED $backend-$n"
}

# Make sure the apply case (or an untimed run) left every tool's database at N applied.
ensure_applied() { # backend n
    case " $APPLIED " in *" $1-$2 "*) return ;; esac
    local tool missing=()
    for tool in $PEER_TOOLS; do
        has_table "$1" "plb_a$2_$tool" "$(printf 't%05d' "$2")" || missing+=("$tool")
    done
    if [ ${#missing[@]} -gt 0 ]; then populate "$1" "$2" "${missing[@]}"; fi
    APPLIED="$APPLIED $1-$2"
}

has_table() { # backend db table: whether an earlier run left this database fully applied
    case $1 in
        postgres) [ "$(psql_do "SELECT 1 FROM pg_database WHERE datname = '$2'")" = 1 ] &&
            [ -n "$("$PSQL" $(pg_host_args) -d "$2" -qAtX -c "SELECT to_regclass('$3')" 2>/dev/null)" ] ;;
        mariadb) [ "$(mysql_do "SELECT 1 FROM information_schema.tables WHERE table_schema = '$2' AND table_name = '$3'")" = 1 ] ;;
        sqlite) [ -s "$WORK/db/$2.db" ] && [ "$(sqlite3 "$WORK/db/$2.db" "SELECT 1 FROM sqlite_master WHERE name = '$3'")" = 1 ] ;;
    esac
}
APPLIED=""

# No-op migrate on the databases the apply case left up to date, plus the floor's SELECT.
case_noop() { # backend n
    local backend=$1 n=$2 specs=() tool db
    ensure_applied "$backend" "$n"
    specs+=("floor|$(tool_cmd floor select "$backend" "plb_a${n}_plinth" "$n")|")
    # The same plinth database with the checksum cache off: every file read, as on a cold start.
    specs+=("plinth-nocache|$(tool_cmd plinth-nocache noop "$backend" "plb_a${n}_plinth" "$n")|")
    for tool in $PEER_TOOLS; do
        db="plb_a${n}_$tool"
        [ "$tool" = refinery ] && refinery_env "$backend" "$db"
        specs+=("$tool|$(tool_cmd "$tool" noop "$backend" "$db" "$n")|")
    done
    RUNS=4 WARMUP=1 rounds "$ROUNDS" "noop-$n" "$backend" "${specs[@]}"
}

case_status() { # backend n
    local backend=$1 n=$2
    local db_p="plb_a${n}_plinth" db_s="plb_a${n}_sqlx"
    ensure_applied "$backend" "$n"
    RUNS=3 WARMUP=1 rounds "$ROUNDS" "status-$n" "$backend" \
        "floor|$(tool_cmd floor select "$backend" "$db_p" "$n")|" \
        "plinth-noop|$(tool_cmd plinth noop "$backend" "$db_p" "$n")|" \
        "plinth|$(tool_cmd plinth status "$backend" "$db_p" "$n")|" \
        "plinth-json|$(tool_cmd plinth status-json "$backend" "$db_p" "$n")|" \
        "sqlx|$(tool_cmd sqlx status "$backend" "$db_s" "$n")|"
}

# Bring the tools' databases to N applied (one untimed run each).
populate() { # backend n tools...
    local backend=$1 n=$2 tool db; shift 2
    for tool in "$@"; do
        db="plb_a${n}_$tool"
        log "populating $db with $n migrations"
        recreate "$backend" "$db"
        # shellcheck disable=SC2046
        $(tool_cmd "$tool" apply "$backend" "$db" "$n") > /dev/null
    done
}

# Statements each tool sends per no-op run, from PostgreSQL's statement log.
statements() {
    local out="$WORK/statements.txt" tool db before lines count
    : > "$out"
    for tool in $PEER_TOOLS; do
        db="plb_a1000_$tool"
        [ "$tool" = refinery ] && refinery_env postgres "$db"
        psql_do "ALTER DATABASE \"$db\" SET log_statement = 'all'"
        before=$(stat -c %s "$PG_LOG")
        # shellcheck disable=SC2046
        $(tool_cmd "$tool" noop postgres "$db" 1000) > /dev/null
        sleep 0.5
        lines=$(tail -c +$((before + 1)) "$PG_LOG" | grep -E "@$db LOG:  (statement|execute [^ ]*):" || true)
        count=$(printf '%s' "$lines" | grep -c . || true)
        psql_do "ALTER DATABASE \"$db\" RESET log_statement"
        {
            echo "== $tool: $count statement(s)"
            printf '%s\n' "$lines" | sed -E 's/^.* LOG:  //' | cut -c1-160
        } >> "$out"
    done
    log "statement counts written to $out"
}

# TLS on PostgreSQL: the same no-op with sslmode=disable and with the default (prefer).
case_tls() {
    local n=1000 specs=() tool db
    for tls in plain default; do
        specs+=("floor/$tls|$(tool_cmd floor select postgres plb_a${n}_plinth "$n" "$tls")|")
        for tool in plinth sqlx; do
            db="plb_a${n}_$tool"
            specs+=("$tool/$tls|$(tool_cmd "$tool" noop postgres "$db" "$n" "$tls")|")
        done
    done
    # refinery is left out: it speaks TLS only with sslmode=require and then insists on a verifiable
    # certificate (this server's is self-signed); without sslmode it connects in plain text.
    RUNS=3 WARMUP=1 rounds "$ROUNDS" "tls-$n" postgres "${specs[@]}"
}

main() {
    case ${1:-} in
        _recreate) recreate "$2" "$3"; return ;;
        _call) shift; "$@"; return ;; # for debugging: bench/run.sh _call FUNCTION ARGS...
    esac
    local what=("${@:-all}")
    command -v hyperfine > /dev/null || {
        echo "hyperfine is needed: apt-get install hyperfine (Debian) or cargo install hyperfine" >&2
        exit 2
    }
    mkdir -p "$WORK"
    install_peers
    build
    versions
    local backend w
    for w in "${what[@]}"; do
        case $w in
            all | apply | noop | status | statements | tls) ;;
            *) echo "unknown case $w (all, apply, noop, status, statements, tls)" >&2; exit 2 ;;
        esac
    done
    has() { local x; for x in "${what[@]}"; do [ "$x" = "$1" ] || [ "$x" = all ] && return 0; done; return 1; }
    if [ "${PLINTH_BENCH_APPEND:-0}" != 1 ] && [ -f "$RESULTS" ]; then mv "$RESULTS" "$RESULTS.$(date +%s).old"; fi
    for backend in $BACKENDS; do
        if has apply; then case_apply "$backend" 100 "$APPLY_ROUNDS"; fi
        if has noop; then case_noop "$backend" 100; fi
        if has apply; then
            local r1000=$(( APPLY_ROUNDS / 2 )); (( r1000 < 2 )) && r1000=2
            case_apply "$backend" 1000 "$r1000"
        fi
        has noop && case_noop "$backend" 1000
        has status && case_status "$backend" 1000
        if has status && [[ " ${PLINTH_BENCH_BIG_BACKENDS:-$BACKENDS} " == *" $backend "* ]]; then
            populate "$backend" 10000 plinth sqlx
            APPLIED="$APPLIED $backend-10000"
            case_status "$backend" 10000
            drop_db "$backend" plb_a10000_plinth; drop_db "$backend" plb_a10000_sqlx
        fi
        if [ "$backend" = postgres ]; then
            if has statements; then ensure_applied postgres 1000; statements; fi
            if has tls; then ensure_applied postgres 1000; case_tls; fi
        fi
    done
    python3 "$ROOT/bench/report.py" "$WORK" "$ROOT/docs/BENCHMARKS.md"
}

main "$@"
