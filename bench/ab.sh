#!/usr/bin/env bash
# bench/ab.sh - two builds of the ledger side by side, interleaved in one
# server: did a change make it faster or slower?
#
#   bench/ab.sh [options] A B
#
# A and B are git revisions of this repository, or "." for the working
# tree.  Each is built in a directory of its own.  One server runs two
# databases, a and b, each with the extension created from its own build's
# scripts and bench/lib.sh's accounts (account 10,001 in hot mode where the
# build has it).  Both libraries are installed: B's as ledger.so, A's as
# ledger_ab_a.so, and database a's functions are pointed at the latter (its
# pg_proc.probin rewritten, which only a throwaway bench server may do), so
# every backend of a runs A and every backend of b runs B, on the same
# machine, at the same time of the run.
#
# Workloads, each run R times with A and B alternating (which goes first
# flips each repetition), pgbench -M prepared:
#   uniform   16 clients, one transfer between two random accounts of 10,000
#             per transaction, synchronous_commit on and off
#   keyed     the same with a new idempotency key per transfer, sync off
#   hot       16 clients crediting the hot account, sync on
#   batch1000, batch10000   one client, ledger.transfer_batch of N random
#             pairs per call, sync on
# The report gives, per workload, the median transfers per second and WAL
# bytes per transfer of each build and the ratio B/A.  The figures are
# information; the exit status says whether they were measured.  Build B
# stays installed afterwards.
set -euo pipefail

usage() {
	cat <<'EOF'
usage: bench/ab.sh [options] A B     (A, B: git revisions, or . for the working tree)
  -T, --time SECONDS   length of each timed run (default 10)
  -R, --repeat N       repetitions; medians are reported (default 5)
  --workloads LIST     comma-separated subset of uniform,keyed,hot,batch1000,batch10000
  -h, --help           this text
EOF
}

TIME=10
REPEAT=5
WORKLOADS=uniform,keyed,hot,batch1000,batch10000
ARGS=()
while [ $# -gt 0 ]; do
	case $1 in
		-T|--time) TIME=${2:?}; shift 2 ;;
		-R|--repeat) REPEAT=${2:?}; shift 2 ;;
		--workloads) WORKLOADS=${2:?}; shift 2 ;;
		-h|--help) usage; exit 0 ;;
		-*) usage >&2; exit 2 ;;
		*) ARGS+=("$1"); shift ;;
	esac
done
[ "${#ARGS[@]}" -eq 2 ] || { usage >&2; exit 2; }
REV_A=${ARGS[0]}
REV_B=${ARGS[1]}

. "$(dirname "$0")/../test/lib/pg.sh"
. "$LEDGER_ROOT/bench/lib.sh"
cd "$LEDGER_ROOT"

LIBDIR=$($PG_CONFIG --pkglibdir)
EXTDIR=$($PG_CONFIG --sharedir)/extension
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger-ab.XXXXXX")
chmod 755 "$WORK"
cleanup() {
	ledger_stop_server
	as_root rm -f "$LIBDIR/ledger_ab_a.so" 2>/dev/null || true
	git -C "$LEDGER_ROOT" worktree prune 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# build NAME REV - build REV in WORK/NAME; prints its short commit.
build() {
	local name=$1 rev=$2 dir=$WORK/$1 commit
	if [ "$rev" = . ]; then
		mkdir -p "$dir"
		tar -C "$LEDGER_ROOT" --exclude=.git --exclude='*.o' --exclude='*.so' \
			--exclude=results --exclude=output_iso -cf - . | tar -C "$dir" -xf -
		commit="$(bench_commit)"
	else
		commit=$(git -C "$LEDGER_ROOT" rev-parse --short "$rev")
		git -C "$LEDGER_ROOT" archive "$commit" | (mkdir -p "$dir" && tar -C "$dir" -xf -)
	fi
	make -C "$dir" -s >/dev/null 2>&1 || { echo "ab: build of $rev failed" >&2; exit 1; }
	echo "$commit"
}

# install_build NAME - install NAME's control file, scripts and library.
install_build() {
	as_root make -C "$WORK/$1" -s install >/dev/null || { echo "ab: install of $1 failed" >&2; exit 1; }
}

ledger_require_packages
log "building A ($REV_A) and B ($REV_B)"
COMMIT_A=$(build a "$REV_A")
COMMIT_B=$(build b "$REV_B")
ledger_start_server ab "${BENCH_SERVER_SETTINGS[@]}"

# setup_db NAME - the database of a build, while that build is installed.
setup_db() {
	DB=$1
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB"
	bench_setup_ledger
	if [ -n "$(psql_db -c "SELECT to_regprocedure('ledger.set_account_hot(bigint,boolean)')")" ]; then
		psql_db -c "SELECT ledger.set_account_hot($HOT_ACCOUNT)" >/dev/null
	fi
	psql_db -c "CREATE SEQUENCE public.keys" >/dev/null
	psql_db -c "VACUUM ANALYZE" >/dev/null
}
install_build a
setup_db a
as_root cp "$WORK/a/ledger.so" "$LIBDIR/ledger_ab_a.so"
DB=a psql_db -c "UPDATE pg_catalog.pg_proc SET probin = '\$libdir/ledger_ab_a'
                  WHERE probin = '\$libdir/ledger'" >/dev/null
install_build b
setup_db b
VERSION_A=$(DB=a psql_db -c "SELECT extversion FROM pg_extension WHERE extname = 'ledger'")
VERSION_B=$(DB=b psql_db -c "SELECT extversion FROM pg_extension WHERE extname = 'ledger'")

mkdir -p "$WORK/scripts" "$WORK/log"
pair="\\set debit random(1, $ACCOUNTS)
\\set credit 1 + (:debit - 1 + random(1, $((ACCOUNTS - 1)))) % $ACCOUNTS
\\set amount random(1, 1000)"
printf '%s\nSELECT ledger.transfer(:debit, :credit, :amount);\n' "$pair" >"$WORK/scripts/uniform.sql"
printf '%s\nSELECT ledger.transfer(:debit, :credit, :amount, '"'"'k'"'"' || nextval('"'"'public.keys'"'"'));\n' \
	"$pair" >"$WORK/scripts/keyed.sql"
printf '\\set debit random(1, %d)\n\\set amount random(1, 1000)\nSELECT ledger.transfer(:debit, %d, :amount);\n' \
	"$ACCOUNTS" "$HOT_ACCOUNT" >"$WORK/scripts/hot.sql"
for n in 1000 10000; do
	cat >"$WORK/scripts/batch$n.sql" <<EOF
SELECT cardinality(ledger.transfer_batch(array_agg(ROW(d, c, 1, NULL, NULL, NULL)::ledger.transfer_request)))
  FROM $(pairs "$n");
EOF
done

# The runs: workload, sync, clients, pgbench arguments, items per transaction.
CONFIGS=()
for wl in ${WORKLOADS//,/ }; do
	case $wl in
		uniform) CONFIGS+=("uniform on 16" "uniform off 16") ;;
		keyed) CONFIGS+=("keyed off 16") ;;
		hot) CONFIGS+=("hot on 16") ;;
		batch1000) CONFIGS+=("batch1000 on 1") ;;
		batch10000) CONFIGS+=("batch10000 on 1") ;;
		*) echo "ab: unknown workload $wl" >&2; exit 2 ;;
	esac
done

RESULTS=$WORK/results.tsv
: >"$RESULTS"
# run_one DB WORKLOAD SYNC CLIENTS - one pgbench run; appends
# "workload sync db ops wal_per_op" to RESULTS.
run_one() {
	local db=$1 wl=$2 sync=$3 clients=$4 items=1 out lsn wal ntx tps
	local -a args=(-n -M prepared -c "$clients" -j "$((clients < 2 ? clients : 2))")
	case $wl in
		batch1000) items=1000; args+=(-t 40) ;;
		batch10000) items=10000; args+=(-t 8) ;;
		*) args+=(-T "$TIME") ;;
	esac
	out=$WORK/log/out.txt
	lsn=$(DB=$db psql_db -c "SELECT pg_current_wal_insert_lsn()")
	if ! PGOPTIONS="-c synchronous_commit=$sync" "$PG_BIN/pgbench" "${args[@]}" \
		-f "$WORK/scripts/$wl.sql" "$db" >"$out" 2>&1 || grep -q -E 'aborted|failed transactions: [1-9]' "$out"; then
		cat "$out" >&2
		echo "ab: pgbench failed: $db $wl sync=$sync" >&2
		exit 1
	fi
	wal=$(DB=$db psql_db -c "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$lsn')")
	ntx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$out")
	printf '%s\t%s\t%s\t%s\t%s\n' "$wl" "$sync" "$db" \
		"$(awk -v t="$tps" -v n="$items" 'BEGIN { printf "%.1f", t * n }')" \
		"$(awk -v w="$wal" -v n="$ntx" -v i="$items" 'BEGIN { printf "%.1f", w / (n * i) }')" >>"$RESULTS"
	log "$(printf '%-10s sync=%-3s %s: %10s/s  WAL %s B/transfer' "$wl" "$sync" "$db" \
		"$(tail -n 1 "$RESULTS" | cut -f 4)" "$(tail -n 1 "$RESULTS" | cut -f 5)")"
}

log "warming up"
for db in a b; do
	PGOPTIONS="-c synchronous_commit=off" "$PG_BIN/pgbench" -n -M prepared -c 16 -j 2 -T 3 \
		-f "$WORK/scripts/uniform.sql" "$db" >/dev/null 2>&1 || { echo "ab: warm-up of $db failed" >&2; exit 1; }
done
started=$(date -u '+%Y-%m-%d %H:%M UTC')
for rep in $(seq 1 "$REPEAT"); do
	if [ $((rep % 2)) -eq 1 ]; then order="a b"; else order="b a"; fi
	for config in "${CONFIGS[@]}"; do
		read -r wl sync clients <<<"$config"
		for db in $order; do
			run_one "$db" "$wl" "$sync" "$clients"
		done
	done
done

median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo
echo "bench/ab.sh: A = $REV_A ($COMMIT_A, extension $VERSION_A), B = $REV_B ($COMMIT_B, extension $VERSION_B)"
echo "started $started, $(nproc) CPUs, $("$PG_BIN/postgres" --version); $REPEAT interleaved runs of each, ${TIME}s (batches: 40 or 8 calls), medians"
echo
echo "| workload | sync | A transfers/s | B transfers/s | B/A | A WAL B/transfer | B WAL B/transfer |"
echo "|---|---|--:|--:|--:|--:|--:|"
for config in "${CONFIGS[@]}"; do
	read -r wl sync clients <<<"$config"
	a=$(awk -F'\t' -v w="$wl" -v s="$sync" '$1 == w && $2 == s && $3 == "a" { print $4 }' "$RESULTS" | median)
	b=$(awk -F'\t' -v w="$wl" -v s="$sync" '$1 == w && $2 == s && $3 == "b" { print $4 }' "$RESULTS" | median)
	wa=$(awk -F'\t' -v w="$wl" -v s="$sync" '$1 == w && $2 == s && $3 == "a" { print $5 }' "$RESULTS" | median)
	wb=$(awk -F'\t' -v w="$wl" -v s="$sync" '$1 == w && $2 == s && $3 == "b" { print $5 }' "$RESULTS" | median)
	printf '| %s (%s clients) | %s | %s | %s | %s | %s | %s |\n' "$wl" "$clients" "$sync" "$a" "$b" \
		"$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')" "$wa" "$wb"
done
