#!/usr/bin/env bash
# bench/floor.sh - how fast PostgreSQL itself, on this machine, writes the
# rows transfers leave, with none of the ledger's work: the floors under
# targets 2 and 4 of the "Performance" issue, next to the ledger's figures.
#
# Both are measured on tables as large as a full bench/run.sh leaves the
# ledger's (--transfers N, default 3,000,000 transfers and twice as many
# entries): a btree insertion costs more the larger the index.  The ledger's
# tables are grown with ledger.transfer_batch, then copied into schema floor
# with the same columns, defaults, constraints and indexes (LIKE ...
# INCLUDING ALL) and no trigger.
#
# Batch (target 4: a call of 10,000 transfers at 100,000/s).  R times,
# 10,000 random pairs are drawn and their rows prepared beforehand: 10,000
# transfers, and 20,000 entries carrying each account's next versions, in
# key order, as files in COPY's binary format.  The timed transaction loads
# them with COPY FROM, PostgreSQL's fastest way in (no parsing, no check, no
# lock, no hash), and updates the accounts they touch with one UPDATE.  Then
# ledger.transfer_batch posts the same pairs into the ledger's own tables.
# Both are timed by psql's \timing from BEGIN to COMMIT, with
# synchronous_commit on; the two alternate which goes first.
#
# Single transfers (target 2: 16 clients, synchronous_commit off).  pgbench
# -M prepared -c 16 -j 2 for T seconds, interleaved R times, with
#   xid       SELECT txid_current(): a transaction that takes an xid and
#             commits, and writes nothing else;
#   writes    one prepared statement making a transfer's writes in the floor
#             tables and nothing more: both accounts updated by one UPDATE
#             (which locks them in id order), a transfer row and its two
#             entries;
#   ledger    ledger.transfer on the ledger's tables, as bench/run.sh.
# "CPU us per transaction" is cores x 1,000,000 / tps: the whole machine's
# time per transaction, pgbench's own share included.
#
# The figures are information; the exit status says whether they were
# measured.  Usage: bench/floor.sh [--transfers N] [-T SECONDS] [-R REPEATS] [--no-build]
set -euo pipefail

usage() {
	cat <<'EOF'
usage: bench/floor.sh [options]
  --transfers N        grow the ledger to about N transfers first (default 3000000)
  -T, --time SECONDS   length of each pgbench run (default 10)
  -R, --repeat N       repetitions; medians are reported (default 3)
  --no-build           use the installed extension; do not build or install
  -h, --help           this text
EOF
}

TRANSFERS=3000000
TIME=10
REPEAT=3
BUILD=1
while [ $# -gt 0 ]; do
	case $1 in
		--transfers) TRANSFERS=${2:?}; shift 2 ;;
		-T|--time) TIME=${2:?}; shift 2 ;;
		-R|--repeat) REPEAT=${2:?}; shift 2 ;;
		--no-build) BUILD=0; shift ;;
		-h|--help) usage; exit 0 ;;
		*) usage >&2; exit 2 ;;
	esac
done
for v in "$TRANSFERS" "$TIME" "$REPEAT"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || { echo "floor: --transfers, -T and -R want positive numbers" >&2; exit 2; }
done

. "$(dirname "$0")/../test/lib/pg.sh"
. "$LEDGER_ROOT/bench/lib.sh"
cd "$LEDGER_ROOT"

DB=bench
CLIENTS=16
BATCH=10000
GROW_BATCH=100000

bench_begin floor
bench_setup_ledger

log "growing the ledger to $TRANSFERS transfers"
left=$((TRANSFERS - ACCOUNTS))
while [ "$left" -gt 0 ]; do
	n=$((left < GROW_BATCH ? left : GROW_BATCH))
	PGOPTIONS="-c synchronous_commit=off" psql_db >/dev/null -c \
		"SELECT cardinality(ledger.transfer_batch(array_agg(ROW(d, c, 1, NULL, NULL, NULL)::ledger.transfer_request)))
		   FROM $(pairs "$n")"
	left=$((left - n))
done

log "copying the ledger's tables into schema floor"
psql_db >/dev/null <<'EOF'
CREATE SCHEMA floor;
CREATE TABLE floor.accounts (LIKE ledger.accounts INCLUDING ALL);
CREATE TABLE floor.transfers (LIKE ledger.transfers INCLUDING ALL);
CREATE TABLE floor.entries (LIKE ledger.entries INCLUDING ALL);
INSERT INTO floor.accounts SELECT * FROM ledger.accounts;
INSERT INTO floor.transfers SELECT * FROM ledger.transfers;
INSERT INTO floor.entries SELECT * FROM ledger.entries;
EOF
psql_db -c "VACUUM ANALYZE"
sizes=$(psql_db -c "SELECT (SELECT count(*) FROM ledger.transfers) || ' ' || (SELECT count(*) FROM ledger.entries)")

# The files COPY reads and writes live in the server's own directory.
ROWS_T=$LEDGER_PGDATA/floor-transfers.bin
ROWS_E=$LEDGER_PGDATA/floor-entries.bin

# Sum of the "Time: X ms" lines psql prints after \timing on.
sum_times() {
	awk '/^Time: / { t += $2 } END { printf "%.1f", t }'
}

# run_floor, run_ledger - load the prepared rows, post the same pairs.
run_floor() {
	psql_db <<EOF | sum_times
\\timing on
BEGIN;
COPY floor.transfers FROM '$ROWS_T' (FORMAT binary);
COPY floor.entries FROM '$ROWS_E' (FORMAT binary);
UPDATE floor.accounts AS a
   SET debits_posted = a.debits_posted + s.nd, credits_posted = a.credits_posted + s.nc,
       version = s.v, updated_at = now(), entry_hash = sha256(s.acct::text::bytea)
  FROM floor.s AS s WHERE a.id = s.acct;
COMMIT;
EOF
}
run_ledger() {
	psql_db <<'EOF' | sum_times
\timing on
BEGIN;
SELECT cardinality(ledger.transfer_batch(a)) FROM floor.rq;
COMMIT;
EOF
}

# batch_rep REP - one repetition of the batch comparison; prints the floor's
# and the ledger's milliseconds.
batch_rep() {
	local floor_ms ledger_ms
	psql_db >/dev/null <<EOF
SET client_min_messages = warning;
DROP TABLE IF EXISTS floor.p, floor.e, floor.s, floor.rq;
CREATE TABLE floor.p AS
SELECT row_number() OVER () AS i, d::bigint AS d, c::bigint AS c,
       pg_catalog.nextval('ledger.transfers_id_seq') AS tid
  FROM $(pairs "$BATCH");
CREATE TABLE floor.e AS
SELECT p.tid, x.acct, x.side,
       a.version + row_number() OVER (PARTITION BY x.acct ORDER BY p.i, x.side DESC) AS version
  FROM floor.p AS p
 CROSS JOIN LATERAL (VALUES (p.d, 'debit'), (p.c, 'credit')) AS x (acct, side)
  JOIN floor.accounts AS a ON a.id = x.acct;
CREATE TABLE floor.s AS
SELECT acct, count(*) FILTER (WHERE side = 'debit') AS nd,
       count(*) FILTER (WHERE side = 'credit') AS nc, max(version) AS v
  FROM floor.e GROUP BY acct;
CREATE TABLE floor.rq AS
SELECT array_agg(ROW(d, c, 1, NULL, NULL, NULL)::ledger.transfer_request ORDER BY i) AS a
  FROM floor.p;
COPY (SELECT tid, d, c, 1::ledger.amount, NULL::text, NULL::text, NULL::jsonb, now(),
             NULL::bigint, NULL::bigint, 1::bigint
        FROM floor.p ORDER BY i) TO '$ROWS_T' (FORMAT binary);
COPY (SELECT 2 * tid + (side = 'credit')::int, tid, acct, version, side,
             1::ledger.amount, 1000::ledger.amount, now(), sha256(tid::text::bytea), 1::bigint
        FROM floor.e ORDER BY acct, version) TO '$ROWS_E' (FORMAT binary);
EOF
	if [ $(($1 % 2)) -eq 1 ]; then
		floor_ms=$(run_floor); ledger_ms=$(run_ledger)
	else
		ledger_ms=$(run_ledger); floor_ms=$(run_floor)
	fi
	echo "$floor_ms $ledger_ms"
}

# pgbench scripts of the single-transfer comparison.
pair="\\set debit random(1, $ACCOUNTS)
\\set credit 1 + (:debit - 1 + random(1, $((ACCOUNTS - 1)))) % $ACCOUNTS
\\set amount random(1, 1000)"
echo 'SELECT txid_current();' >"$WORK/xid.sql"
cat >"$WORK/writes.sql" <<EOF
$pair
WITH a AS (
    UPDATE floor.accounts
       SET debits_posted = debits_posted + CASE WHEN id = :debit THEN :amount ELSE 0 END,
           credits_posted = credits_posted + CASE WHEN id = :credit THEN :amount ELSE 0 END,
           version = version + 1, updated_at = now(),
           entry_hash = sha256(int8send(version))
     WHERE id IN (:debit, :credit)
    RETURNING id, version, credits_posted - debits_posted AS balance),
t AS (
    INSERT INTO floor.transfers (debit_account_id, credit_account_id, amount, created_at,
                                 book_id)
    VALUES (:debit, :credit, :amount, now(), 1) RETURNING id)
INSERT INTO floor.entries (id, transfer_id, account_id, account_version, direction, amount,
                           balance_after, created_at, hash, book_id)
SELECT 2 * t.id + CASE WHEN a.id = :debit THEN 0 ELSE 1 END, t.id, a.id, a.version,
       CASE WHEN a.id = :debit THEN 'debit' ELSE 'credit' END,
       :amount, a.balance, now(), sha256(int8send(t.id)), 1
  FROM t, a;
EOF
printf '%s\nSELECT ledger.transfer(:debit, :credit, :amount);\n' "$pair" >"$WORK/ledger.sql"

# pgbench_tps SCRIPT - transactions per second of one run.
pgbench_tps() {
	local out=$WORK/pgbench.out
	if ! PGOPTIONS="-c synchronous_commit=off" "$PG_BIN/pgbench" -n -M prepared -c "$CLIENTS" -j 2 \
		-T "$TIME" -f "$WORK/$1.sql" "$DB" >"$out" 2>&1 ||
		grep -q -E 'aborted|failed transactions: [1-9]' "$out"; then
		echo "floor: pgbench failed: $1" >&2
		cat "$out" >&2
		exit 1
	fi
	sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$out"
}

median() {
	sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

log "batch of $BATCH: COPY floor vs ledger.transfer_batch, $REPEAT times"
: >"$WORK/batch"
for rep in $(seq 1 "$REPEAT"); do
	batch_rep "$rep" >>"$WORK/batch"
done
log "single transfers, $CLIENTS clients: xid, writes, ledger, $REPEAT x $TIME s each"
: >"$WORK/single"
for rep in $(seq 1 "$REPEAT"); do
	for script in xid writes ledger; do
		printf '%s %s\n' "$script" "$(pgbench_tps "$script")" >>"$WORK/single"
	done
done
problems=$(psql_db -c "SELECT count(*) FROM ledger.verify()")

cores=$(nproc)
floor_ms=$(cut -d' ' -f1 "$WORK/batch" | median)
ledger_ms=$(cut -d' ' -f2 "$WORK/batch" | median)
echo "bench/floor.sh: $started, $cores CPUs, commit $commit"
echo "tables: ${sizes% *} transfers, ${sizes#* } entries; medians of $REPEAT"
echo
echo "batch of $BATCH transfers, synchronous_commit on           ms   transfers/s"
awk -v f="$floor_ms" -v l="$ledger_ms" -v n="$BATCH" 'BEGIN {
	printf "  floor: COPY of the rows, one UPDATE of the accounts %7.1f  %12.0f\n", f, n * 1000 / f
	printf "  ledger.transfer_batch                               %7.1f  %12.0f\n", l, n * 1000 / l
}'
echo
echo "single transfers, $CLIENTS clients, synchronous_commit off      tps   CPU us per transaction"
for script in xid writes ledger; do
	tps=$(awk -v s="$script" '$1 == s { print $2 }' "$WORK/single" | median)
	case $script in
		xid) label="SELECT txid_current()" ;;
		writes) label="a transfer's writes alone, one statement" ;;
		ledger) label="ledger.transfer" ;;
	esac
	awk -v l="$label" -v t="$tps" -v c="$cores" \
		'BEGIN { printf "  %-42s %9.0f  %8.1f\n", l, t, c * 1000000 / t }'
done
echo
echo "ledger.verify() after the runs: $problems problems"
