#!/usr/bin/env bash
# test/citus/regress.sh - pg_regress suites of the ledger run through the
# coordinator of a Citus cluster with the ledger distributed, against the
# same expected output as on one server.
#
# Each suite starts with DROP EXTENSION ledger / CREATE EXTENSION ledger,
# which a distributed ledger refuses: here each suite gets a database of
# its own on every node instead, distributed, and its input and expected
# output lose those four lines alike, and the part after a later DROP
# EXTENSION (batch's comparison of batches with single calls, each in a
# new ledger; history's ledger of 18-decimal amounts).  The rest runs as
# pg_regress runs it (psql -a, pg_regress's settings).  Its output must
# differ from the expected one exactly as test/citus/regress/SUITE.diff
# says (no file: not at all), with the diff's line numbers and the
# cluster's directory left out.  Those files were read hunk by hunk: every
# ledger call that runs returns what it returns on one server (the calls
# that do not run take an argument from, or follow in its transaction, a
# statement of the suite's own that the cluster refuses), and what differs
# is the suites' own SQL that a cluster refuses or answers otherwise
# (docs/operations.md, "Citus"):
#  - reads that join ledger tables other than on book_id, correlated or
#    recursive over them, or through SQL functions with parameters, which
#    Citus cannot plan; GROUP BY id no longer implies the account's other
#    columns (the key is (book_id, id));
#  - triggers on, and ALTER TABLE ... ADD CONSTRAINT with other subcommands
#    of, a distributed table, which Citus refuses; EXPLAIN's plans; a check
#    constraint's violation named by the shard it was raised in;
#  - edits by hand, even in session_replication_role = replica, refused by
#    the guards with LG901 and their cluster's hint;
#  - what follows those in the same transaction (25P02), and the psql
#    variables they would have set.
# The suites' own checks of the whole ledger (balances against entries,
# debits against credits) are among the joins refused, so after each
# suite they are asked as a cluster answers them: ledger.verify() finds
# nothing, and each asset's debits equal its credits, joined on book_id.
# Usage: test/citus/regress.sh [SUITE...]   (default: transfer hold batch reverse history)
set -euo pipefail
. "$(dirname "$0")/../lib/pg.sh"
. "$LEDGER_ROOT/test/lib/citus.sh"

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(transfer hold batch reverse history)

citus_test_begin 2

fail() { echo "FAILED: $*" >&2; exit 1; }

# suite_database NAME - database NAME on every node, with both extensions,
# the workers added and the ledger distributed; set as pg_regress sets its
# databases.
suite_database() {
	local db=$1 i
	for ((i = 0; i < CITUS_NODES; i++)); do
		DB=$db citus_add_database "$i"
		DB=$db citus_psql "$i" -c "ALTER DATABASE $db SET lc_messages TO 'C'" \
			-c "ALTER DATABASE $db SET lc_monetary TO 'C'" -c "ALTER DATABASE $db SET lc_numeric TO 'C'" \
			-c "ALTER DATABASE $db SET lc_time TO 'C'" -c "ALTER DATABASE $db SET bytea_output TO 'hex'" \
			-c "ALTER DATABASE $db SET timezone_abbreviations TO 'Default'" >/dev/null
	done
	DB=$db citus_psql 0 -c "SELECT citus_set_coordinator_host('$CITUS_DIR', $(citus_node_port 0))" >/dev/null
	for ((i = 1; i < CITUS_NODES; i++)); do
		DB=$db citus_psql 0 -c "SELECT citus_add_node('$CITUS_DIR', $(citus_node_port "$i"))" >/dev/null
	done
	DB=$db citus_distribute
}

# without_header FILE - FILE without the suite's header (its first four
# lines of this kind), and without the part from its next DROP EXTENSION
# ledger (a part that needs a new ledger) on, if any.
without_header() {
	local -a l out
	local i start=-1 cut
	local h=("SET client_min_messages = warning;" "DROP EXTENSION ledger CASCADE;" "CREATE EXTENSION ledger;"
		"RESET client_min_messages;")
	mapfile -t l <"$1"
	for ((i = 0; i + 3 < ${#l[@]}; i++)); do
		if [ "${l[i]}" = "${h[0]}" ] && [ "${l[i + 1]}" = "${h[1]}" ] && [ "${l[i + 2]}" = "${h[2]}" ] &&
			[ "${l[i + 3]}" = "${h[3]}" ]; then
			start=$i
			break
		fi
	done
	[ "$start" -ge 0 ] || return 1
	out=("${l[@]:0:start}" "${l[@]:start+4}")
	cut=${#out[@]}
	for ((i = 0; i < ${#out[@]}; i++)); do
		[ "${out[i]}" = "${h[1]}" ] && { cut=$i; break; }
	done
	while ((cut > 0)) && [ "${out[cut - 1]}" = "${h[0]}" ]; do cut=$((cut - 1)); done
	printf '%s\n' "${out[@]:0:cut}"
}

work=$(mktemp -d)
trap 'rm -rf "$work"; citus_stop_cluster' EXIT
lines=0 differ=0 checked=
for s in "${suites[@]}"; do
	[ -f "sql/$s.sql" ] && [ -f "expected/$s.out" ] || fail "no suite $s"
	db="regress_$s"
	suite_database "$db"
	without_header "sql/$s.sql" >"$work/$s.sql" || fail "$s: no header"
	without_header "expected/$s.out" >"$work/$s.expected" || fail "$s: no header in its expected output"
	PGTZ=PST8PDT PGDATESTYLE='Postgres, MDY' "$PG_BIN/psql" -X -a -q -h "$CITUS_DIR" -p "$(citus_node_port 0)" \
		-U postgres -d "$db" <"$work/$s.sql" >"$work/$s.out" 2>&1 || true
	diff -U3 -w "$work/$s.expected" "$work/$s.out" | sed -e '1,2d' -e 's/^@@ .* @@/@@/' \
		-e "s|$CITUS_DIR|CITUS_DIR|g" >"$work/$s.diff" || true
	known=test/citus/regress/$s.diff
	[ -f "$known" ] || known=/dev/null
	if ! diff -u "$known" "$work/$s.diff" >"$work/$s.unknown"; then
		cat "$work/$s.unknown" >&2
		fail "$s through the coordinator differs from expected/$s.out otherwise than $known says (above: that file against the differences now)"
	fi
	lines=$((lines + $(grep -c '' "$work/$s.expected")))
	differ=$((differ + $(grep -c '^-' "$work/$s.diff" || true)))
	# What the suite's own checks of the whole ledger would say, asked so
	# that Citus can answer: verify() finds nothing, and every asset's
	# debits equal its credits.
	got=$(DB=$db citus_psql 0 -c "SELECT count(*) FROM ledger.verify()" \
		-c "SELECT count(*), count(*) FILTER (WHERE d = c) FROM (
		        SELECT a.asset, sum(e.amount::numeric) FILTER (WHERE e.direction = 'debit') AS d,
		               sum(e.amount::numeric) FILTER (WHERE e.direction = 'credit') AS c
		          FROM ledger.entries AS e
		          JOIN ledger.accounts AS a ON a.book_id = e.book_id AND a.id = e.account_id
		         GROUP BY a.asset) AS s" | tr '\n' ' ')
	read -r problems assets balanced <<<"${got//|/ }"
	[ "$problems" = 0 ] || fail "$s: ledger.verify() finds $problems problems"
	[ "$assets" -gt 0 ] && [ "$assets" = "$balanced" ] || fail "$s: $balanced of $assets assets balanced"
	checked="$checked $s:$assets"
	# The suite's rows are in the shards: every shell table is empty.
	for ((i = 0; i < CITUS_NODES; i++)); do
		shells=$(DB=$db citus_psql "$i" -c "SELECT string_agg(c.relname, ',') FROM pg_class AS c
		                                     WHERE c.relnamespace = 'ledger'::regnamespace AND c.relkind = 'r'
		                                       AND c.oid IN (SELECT logicalrelid FROM pg_dist_partition)
		                                       AND pg_relation_size(c.oid) > 0")
		[ -z "$shells" ] || fail "$s: node $i has rows in the shell tables $shells"
	done
done
echo "citus regress: ${suites[*]} through the coordinator of a distributed ledger: $differ of $lines expected lines differ," \
	"each as test/citus/regress/ lists (the suites' own queries, DDL and edits by hand that a cluster refuses);" \
	"then verify() clean and debits = credits in every asset (suite:assets$checked), no row in a shell table"
