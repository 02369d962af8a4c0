#!/usr/bin/env bash
# test/stress/upgrade.sh - the upgrade path: installing the oldest version
# and walking every upgrade script must give the same extension as
# installing the default version directly, and keep the ledger's data.
#
# The versions are the files sql/ledger--<version>.sql (full install
# scripts) and sql/ledger--<from>--<to>.sql (upgrade scripts).  The script
# finds the oldest version with a full script, the default_version of
# ledger.control, and the shortest chain of upgrade scripts from the one to
# the other (as ALTER EXTENSION ... UPDATE would choose).  Then:
#  - in one database it installs the oldest version, restores a ledger made
#    by that version's library (test/stress/upgrade-<version>-data.sql: a
#    few transfers and a hold), and walks the chain one ALTER EXTENSION
#    ledger UPDATE TO at a time, checking extversion after each step;
#  - in another it installs the default version directly (from its full
#    script, or through the chain when, as in PostgreSQL's contrib modules,
#    only the oldest version has one);
#  - it compares the two databases' schemas, normalised (no comment lines,
#    no blank lines, no \restrict keys): pg_dump --schema-only of schema
#    ledger, and pg_dump --schema-only --binary-upgrade of the database,
#    which, unlike a plain dump, writes out every member object of the
#    extension (types, functions, operators, tables, indexes, triggers,
#    views, comments, grants), minus its OID-setting calls and the
#    sequences' positions; and the extension's configuration tables (those
#    pg_dump dumps the data of), by name, with their conditions;
#  - the data made before the walk is still there, unchanged, and
#    ledger.verify() finds nothing;
#  - the comparison is not blind: a changed comment in the walked database
#    must make the binary-upgrade dumps differ.
# With a single version the walk is empty and the two databases are equal.
# Every upgrade script must start with the guard line
#     \echo Use "ALTER EXTENSION ledger UPDATE ..." to load this file. \quit
# and every full script with the CREATE EXTENSION one.
#
# Environment: PGHOST, PGPORT, PGUSER as test/run.sh exports them; the
# extension must be installed.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
WALKED=ledger_upgrade_walked
DIRECT=ledger_upgrade_direct
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger_upgrade.XXXXXX")
EXTDIR=$("$PG_BIN/pg_config" --sharedir)/extension
FAILED=0

psql_on() {
	local db=$1
	shift
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"
}

drop_databases() {
	local db
	for db in $WALKED $DIRECT; do
		psql_on postgres -c "SET client_min_messages = warning" \
			-c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
	done
}

cleanup() {
	drop_databases
	rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
	echo "upgrade.sh: FAIL: $*" >&2
	FAILED=1
}

die() {
	fail "$@"
	exit 1
}

# ---------------------------------------------------------------------------
# The versions and the chain.
# ---------------------------------------------------------------------------
DEFAULT=$(sed -n "s/^[[:space:]]*default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*$/\1/p" \
	"$ROOT/ledger.control")
[ -n "$DEFAULT" ] || die "no default_version in ledger.control"

FULL=()
declare -A NEXT=() # "from" -> the versions an upgrade script leads to
UPGRADES=()
for f in "$ROOT"/sql/ledger--*.sql; do
	[ -e "$f" ] || continue
	name=$(basename "$f" .sql)
	name=${name#ledger--}
	if [[ $name == *--* ]]; then
		from=${name%%--*}
		to=${name#*--}
		[ -n "$from" ] && [ -n "$to" ] && [[ $to != *--* ]] || die "cannot read the versions of $f"
		NEXT[$from]="${NEXT[$from]:-} $to"
		UPGRADES+=("$f")
		grep -qF '\echo Use "ALTER EXTENSION ledger UPDATE' "$f" ||
			fail "$(basename "$f") lacks the guard line \\echo Use \"ALTER EXTENSION ledger UPDATE ...\" ... \\quit"
	else
		FULL+=("$name")
		grep -qF '\echo Use "CREATE EXTENSION ledger' "$f" ||
			fail "$(basename "$f") lacks the guard line \\echo Use \"CREATE EXTENSION ledger\" ... \\quit"
	fi
	[ -f "$EXTDIR/$(basename "$f")" ] || die "$(basename "$f") is not installed in $EXTDIR; run: make install"
done
[ "${#FULL[@]}" -gt 0 ] || die "no full install script sql/ledger--<version>.sql"
OLDEST=$(printf '%s\n' "${FULL[@]}" | sort -V | head -n 1)
# Without a full script for the default version (PostgreSQL's contrib
# modules ship it that way too), CREATE EXTENSION itself installs the
# oldest full script and runs the chain; the comparison below then checks
# that one ALTER EXTENSION step at a time ends in the same place.
if [[ " ${FULL[*]} " == *" $DEFAULT "* ]]; then
	DIRECT_HOW="installing $DEFAULT directly"
else
	DIRECT_HOW="CREATE EXTENSION of $DEFAULT (no full script: through the chain)"
fi

# The shortest chain from OLDEST to DEFAULT, breadth first.
declare -A PREV=(["$OLDEST"]="")
queue=("$OLDEST")
while [ "${#queue[@]}" -gt 0 ] && [ -z "${PREV[$DEFAULT]+set}" ]; do
	v=${queue[0]}
	queue=("${queue[@]:1}")
	for w in ${NEXT[$v]:-}; do
		if [ -z "${PREV[$w]+set}" ]; then
			PREV[$w]=$v
			queue+=("$w")
		fi
	done
done
[ -n "${PREV[$DEFAULT]+set}" ] || die "no chain of upgrade scripts leads from $OLDEST to $DEFAULT"
CHAIN=()
v=$DEFAULT
while [ "$v" != "$OLDEST" ]; do
	CHAIN=("$v" "${CHAIN[@]}")
	v=${PREV[$v]}
done

# ---------------------------------------------------------------------------
# The walked database: the oldest version, some data, every step.
# ---------------------------------------------------------------------------
drop_databases
psql_on postgres -c "CREATE DATABASE $WALKED" -c "CREATE DATABASE $DIRECT"

# The data: a ledger made by the oldest version's own library, restored as
# the documented restore does it (the guard triggers off), since the library
# installed now is the newest and refuses the oldest version's tables.
echo "CREATE EXTENSION ledger VERSION :'version';" | psql_on "$WALKED" -v version="$OLDEST"
FIXTURE="$ROOT/test/stress/upgrade-$OLDEST-data.sql"
[ -f "$FIXTURE" ] || die "no data made by version $OLDEST: $FIXTURE"
PGOPTIONS='-c session_replication_role=replica' psql_on "$WALKED" -f "$FIXTURE" >/dev/null

# snapshot DB - the ledger's rows, one line per table; of accounts and
# holds, the columns the oldest version has.
snapshot() {
	psql_on "$1" -At -F ' ' <<'SQL'
SELECT 'assets', count(*), md5(string_agg(t::text, ',' ORDER BY t::text)) FROM ledger.assets AS t;
SELECT 'accounts', count(*), md5(string_agg(t::text, ',' ORDER BY t::text))
  FROM (SELECT id, asset, name, normal_balance, min_balance, max_balance, closed,
               metadata, created_at, debits_pending, credits_pending, holds_expire_at,
               debits_posted, credits_posted, version, updated_at, entry_hash
          FROM ledger.accounts) AS t;
SELECT 'transfers', count(*), md5(string_agg((to_jsonb(t) - 'book_id')::text, ',' ORDER BY t.id))
  FROM ledger.transfers AS t;
SELECT 'entries', count(*), md5(string_agg((to_jsonb(t) - 'book_id')::text, ','
                                           ORDER BY t.account_id, t.account_version))
  FROM ledger.entries AS t;
SELECT 'holds', count(*), md5(string_agg((to_jsonb(t) - 'book_id' - 'velocity')::text, ',' ORDER BY t.id))
  FROM ledger.hold_records AS t;
SQL
}
snapshot "$WALKED" >"$WORK/before"
grep -q '^transfers 11 ' "$WORK/before" && grep -q '^holds 1 ' "$WORK/before" ||
	die "the set-up did not make 11 transfers and 1 hold: $(cat "$WORK/before")"

# An application role granted the oldest version's functions, as
# docs/operations.md said then: a function an upgrade replaces must keep its
# grants, and the update to 0.5.0 gives the role every privilege on book 1.
# A role with only USAGE on the schema gets none.
APP_ROLE=ledger_upgrade_app_$$
psql_on "$WALKED" <<SQL
CREATE ROLE $APP_ROLE;
GRANT USAGE ON SCHEMA ledger TO $APP_ROLE;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ledger TO $APP_ROLE;
CREATE ROLE ${APP_ROLE}_usage;
GRANT USAGE ON SCHEMA ledger TO ${APP_ROLE}_usage;
SQL
drop_app_role() {
	psql_on postgres -c "DROP ROLE IF EXISTS $APP_ROLE" >/dev/null 2>&1 || true
	psql_on postgres -c "DROP ROLE IF EXISTS ${APP_ROLE}_usage" >/dev/null 2>&1 || true
}
trap 'drop_databases; drop_app_role; rm -rf "$WORK"' EXIT

for v in "${CHAIN[@]}"; do
	echo "ALTER EXTENSION ledger UPDATE TO :'version';" | psql_on "$WALKED" -v version="$v" ||
		die "ALTER EXTENSION ledger UPDATE TO '$v' failed"
	got=$(psql_on "$WALKED" -At -c "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'ledger'")
	[ "$got" = "$v" ] || die "after UPDATE TO '$v' the extension is at version '$got'"
done

snapshot "$WALKED" >"$WORK/after"

# What the oldest version's calls made is in book 1, 'default', and its
# calls work unchanged, for the role granted them: every function it was
# granted, the ones the walk replaced too.
psql_on "$WALKED" -o /dev/null <<SQL || fail "the oldest version's calls do not work after the walk"
DO \$\$
BEGIN
    IF (SELECT array_agg(id || ':' || name ORDER BY id) FROM ledger.books) <> ARRAY['1:default'] THEN
        RAISE EXCEPTION 'the books after the walk are not just book 1, default';
    END IF;
    IF EXISTS (SELECT FROM ledger.accounts WHERE book_id <> 1)
       OR EXISTS (SELECT FROM ledger.transfers WHERE book_id <> 1)
       OR EXISTS (SELECT FROM ledger.entries WHERE book_id <> 1)
       OR EXISTS (SELECT FROM ledger.hold_records WHERE book_id <> 1)
       OR EXISTS (SELECT FROM ledger.hot_entries WHERE book_id <> 1) THEN
        RAISE EXCEPTION 'a row made before the walk is not in book 1';
    END IF;
    -- The role that could execute the functions keeps what it could do:
    -- every privilege on book 1, and nothing else is granted.
    IF (SELECT array_agg(book_id || ':' || grantee::text || ':' || privilege ORDER BY privilege)
          FROM ledger.grants)
       IS DISTINCT FROM ARRAY['1:$APP_ROLE:hold', '1:$APP_ROLE:manage', '1:$APP_ROLE:post', '1:$APP_ROLE:read'] THEN
        RAISE EXCEPTION 'the walk granted %, not every privilege on book 1 to $APP_ROLE alone',
            (SELECT array_agg(book_id || ':' || grantee::text || ':' || privilege) FROM ledger.grants);
    END IF;
END
\$\$;
SET ROLE $APP_ROLE;
DO \$\$
DECLARE
    a bigint := ledger.create_account('USD', 'up:old:1', 'credit', 0, NULL, '{"v": 1}');
    b bigint := ledger.create_account('USD', 'up:old:2');
    t bigint;
    h bigint;
BEGIN
    IF ledger.account_id('up:old:1') <> a THEN
        RAISE EXCEPTION 'account_id(name) does not find account %', a;
    END IF;
    t := ledger.transfer(ledger.account_id('up:w:1'), a, 5, 'up-old-t');
    h := ledger.hold(a, b, 2, idempotency_key => 'up-old-h');
    PERFORM ledger.capture(h, 1);
    PERFORM ledger.reverse(t, 1);
    PERFORM ledger.transfer_batch(ARRAY[ROW(a, b, 1, 'up-old-b', NULL, NULL)]::ledger.transfer_request[]);
    IF (SELECT posted FROM ledger.balance(b)) <> 2 THEN
        RAISE EXCEPTION 'the calls of the oldest version did not move what they should';
    END IF;
END
\$\$;
RESET ROLE;
SQL
psql_on "$WALKED" -o /dev/null <<SQL
DELETE FROM ledger.grants WHERE grantee = '$APP_ROLE'::regrole;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA ledger FROM $APP_ROLE;
REVOKE ALL ON SCHEMA ledger FROM $APP_ROLE;
SQL
psql_on "$WALKED" -c "DROP OWNED BY $APP_ROLE" -c "DROP OWNED BY ${APP_ROLE}_usage" >/dev/null
drop_app_role

# ---------------------------------------------------------------------------
# The direct database, and the comparison.
# ---------------------------------------------------------------------------
echo "CREATE EXTENSION ledger VERSION :'version';" | psql_on "$DIRECT" -v version="$DEFAULT"

# normalise - drop comment lines, blank lines and the random \restrict keys.
normalise() {
	grep -v -e '^--' -e '^[[:space:]]*$' -e '^\\restrict ' -e '^\\unrestrict ' || true
}

# members_dump DB - pg_dump --binary-upgrade, normalised, without what
# differs between two databases by nature: the OID-setting calls, the
# tables' relfrozenxid (each an UPDATE of pg_class, three lines) and the
# sequences' positions (data, not schema).
members_dump() {
	"$PG_BIN/pg_dump" --schema-only --binary-upgrade "$1" | normalise |
		sed -e '/^UPDATE pg_catalog\.pg_class$/,/^WHERE oid = .*;$/d' |
		grep -v -e '^SELECT pg_catalog\.binary_upgrade_' -e '^SELECT pg_catalog\.setval(' || true
}

# describe DB - what the comparison compares, in files DB.*.
describe() {
	local db=$1
	"$PG_BIN/pg_dump" --schema-only --schema=ledger "$db" | normalise >"$WORK/$db.schema"
	members_dump "$db" >"$WORK/$db.members"
	psql_on "$db" -At -F ' ' >"$WORK/$db.extension" <<'SQL'
SELECT e.extname, e.extversion, e.extrelocatable, n.nspname
  FROM pg_catalog.pg_extension AS e JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace
 WHERE e.extname = 'ledger';
SELECT 'config', c.oid::regclass, c.relkind, x.condition
  FROM pg_catalog.pg_extension AS e,
       unnest(e.extconfig, e.extcondition) AS x (reloid, condition)
  JOIN pg_catalog.pg_class AS c ON c.oid = x.reloid
 WHERE e.extname = 'ledger'
 ORDER BY c.oid::regclass::text;
SELECT 'members', count(*) FROM pg_catalog.pg_depend AS d, pg_catalog.pg_extension AS e
 WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = e.oid
   AND d.deptype = 'e' AND e.extname = 'ledger';
SQL
}
describe "$WALKED"
describe "$DIRECT"
grep -q '^ALTER EXTENSION ledger ADD FUNCTION ledger.transfer(' "$WORK/$DIRECT.members" ||
	die "pg_dump --binary-upgrade did not write out the extension's members"
for part in schema members extension; do
	if ! diff -u "$WORK/$DIRECT.$part" "$WORK/$WALKED.$part" >"$WORK/$part.diff"; then
		fail "$DIRECT_HOW and walking $OLDEST ${CHAIN[*]} give different ${part} (- direct, + walked):"
		head -n 80 "$WORK/$part.diff" >&2
	fi
done

# The data made before the walk.
if ! diff -u "$WORK/before" "$WORK/after" >&2; then
	fail "the walk changed the ledger's data"
fi
problems=$(psql_on "$WALKED" -At -c "SELECT count(*) FROM ledger.verify()")
[ "$problems" = 0 ] || fail "ledger.verify() finds $problems problems after the walk"
# And the walked ledger still works: a new transfer, a replayed key.
psql_on "$WALKED" -o /dev/null <<'SQL' || fail "the walked ledger does not work"
DO $$
DECLARE
    t bigint := ledger.transfer(ledger.account_id('up:w:3'), ledger.account_id('up:w:4'), 77, 'up-after');
BEGIN
    IF ledger.transfer(ledger.account_id('up:w:3'), ledger.account_id('up:w:4'), 77, 'up-after') <> t
       OR (SELECT count(*) FROM ledger.transfers WHERE idempotency_key = 'up-after') <> 1 THEN
        RAISE EXCEPTION 'the replayed key did not return transfer %', t;
    END IF;
END
$$;
SQL
problems=$(psql_on "$WALKED" -At -c "SELECT count(*) FROM ledger.verify()")
[ "$problems" = 0 ] || fail "ledger.verify() finds $problems problems after a transfer on the walked ledger"

# The comparison is not blind.
psql_on "$WALKED" -c "COMMENT ON FUNCTION ledger.verify(bigint) IS 'changed by upgrade.sh'"
members_dump "$WALKED" >"$WORK/changed.members"
if diff -q "$WORK/$DIRECT.members" "$WORK/changed.members" >/dev/null; then
	fail "self-test: a changed comment went unnoticed by the comparison"
fi

if [ "$FAILED" -ne 0 ]; then
	echo "upgrade.sh: FAILED" >&2
	exit 1
fi
if [ "${#CHAIN[@]}" -eq 0 ]; then
	walk="no upgrade step (the oldest version is the default)"
else
	walk="${#CHAIN[@]} upgrade steps: $OLDEST -> $(printf '%s -> ' "${CHAIN[@]}" | sed 's/ -> $//')"
fi
echo "upgrade.sh: versions with a full script: ${FULL[*]}; upgrade scripts: ${#UPGRADES[@]};" \
	"oldest $OLDEST, default $DEFAULT; $walk"
echo "upgrade.sh: walked and direct installs agree: $(wc -l <"$WORK/$DIRECT.schema") lines of" \
	"pg_dump -n ledger, $(wc -l <"$WORK/$DIRECT.members") lines of pg_dump --binary-upgrade" \
	"($(grep -c '^ALTER EXTENSION ledger ADD ' "$WORK/$DIRECT.members") member objects)," \
	"$(grep -c '^config ' "$WORK/$DIRECT.extension") configuration tables; the data survives the walk," \
	"ledger.verify() finds nothing; guard lines present"
