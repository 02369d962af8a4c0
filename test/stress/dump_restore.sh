#!/usr/bin/env bash
# test/stress/dump_restore.sh - a ledger survives pg_dump and pg_restore unchanged.
#
# Builds a ledger of a few hundred transfers (keys, descriptions, metadata,
# amounts past 64 bits, limits, an overdraft, a closed, a reopened, a renamed
# and an unnamed account), dumps it in custom and in plain format, and
# restores each dump into a new database with session_replication_role =
# replica, as docs/operations.md tells operators to.  Every row of every
# table of schema ledger, every sequence and every balance must come back
# identical, and the restored ledger must work: a new transfer continues the
# ids and account versions, a replayed key returns the original transfer and
# writes nothing, a reused key with other arguments, a closed account, a
# maximum balance and a direct write are all still refused.  Restoring
# without replica must fail loudly (the guard triggers refuse the COPY with
# LG901) and leave the tables empty, not half full.
#
# Environment: PGHOST, PGPORT, PGUSER as test/run.sh exports them.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
SRC=ledger_dump_restore
CUSTOM=ledger_dump_restore_custom
PLAIN=ledger_dump_restore_plain
BAD_CUSTOM=ledger_dump_restore_bad_custom
BAD_PLAIN=ledger_dump_restore_bad_plain
ALL_DBS="$SRC $CUSTOM $PLAIN $BAD_CUSTOM $BAD_PLAIN"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger_dump_restore.XXXXXX")
REPLICA='-c session_replication_role=replica'

psql_on() {
	local db=$1
	shift
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"
}

drop_databases() {
	local db
	for db in $ALL_DBS; do
		psql_on postgres -c "SET client_min_messages = warning" \
			-c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
	done
}

# A role the source's grants name; it must exist where the dump is restored
# (pg_dumpall --globals-only carries it between clusters).
READER=ledger_dump_reader
cleanup() {
	drop_databases
	psql_on postgres -c "DROP ROLE IF EXISTS $READER" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

drop_databases
psql_on postgres -c "DROP ROLE IF EXISTS $READER" -c "CREATE ROLE $READER" -c "CREATE DATABASE $SRC" >/dev/null

# ---------------------------------------------------------------------------
# The source ledger.  Deterministic: setseed, and amounts no call can refuse.
# ---------------------------------------------------------------------------
psql_on "$SRC" -o /dev/null <<'SQL'
CREATE EXTENSION ledger;
SELECT pg_catalog.setseed(0.25);
SELECT ledger.create_asset('USD', 2), ledger.create_asset('ETH', 18);

DO $$
DECLARE
    usd_fund bigint := ledger.create_account('USD', 'USD:fund', 'debit', NULL);
    eth_fund bigint := ledger.create_account('ETH', 'ETH:fund', 'debit', NULL);
    usd bigint[] := '{}';
    eth bigint[] := '{}';
    id bigint;
    a bigint;
    b bigint;
BEGIN
    FOR i IN 1..20 LOOP
        usd := usd || ledger.create_account('USD', 'USD:w:' || i, 'credit', '0',
                                            CASE WHEN i % 4 = 0 THEN '1000000000'::ledger.amount END,
                                            pg_catalog.jsonb_build_object('n', i, 'tier', 'wallet'));
    END LOOP;
    FOR i IN 1..5 LOOP
        eth := eth || ledger.create_account('ETH', 'ETH:w:' || i);
    END LOOP;

    -- Opening balances, each with a key: 1000.00 USD, 200 ETH (2 * 10^20 wei).
    FOREACH id IN ARRAY usd LOOP
        PERFORM ledger.transfer(usd_fund, id, 100000, 'open-' || id, 'opening balance',
                                '{"source": "fund"}');
    END LOOP;
    FOREACH id IN ARRAY eth LOOP
        PERFORM ledger.transfer(eth_fund, id, '200000000000000000000'::ledger.amount,
                                'open-' || id, 'opening balance', '{"source": "fund"}');
    END LOOP;

    -- 300 payments between wallets, too small to run any wallet dry.
    FOR i IN 1..300 LOOP
        IF i % 6 = 0 THEN
            a := eth[1 + floor(random() * 5)::int];
            b := eth[1 + (array_position(eth, a) + floor(random() * 4)::int) % 5];
        ELSE
            a := usd[1 + floor(random() * 20)::int];
            b := usd[1 + (array_position(usd, a) + floor(random() * 19)::int) % 20];
        END IF;
        PERFORM ledger.transfer(
            a, b,
            CASE WHEN i % 6 = 0 THEN (floor(random() * 1e18)::numeric + 1)::ledger.amount
                 ELSE (floor(random() * 1000)::numeric + 1)::ledger.amount END,
            CASE WHEN i % 3 = 0 THEN 'tx-' || i END,
            CASE WHEN i % 2 = 0 THEN 'payment ' || i END,
            CASE WHEN i % 5 = 0 THEN pg_catalog.jsonb_build_object('i', i, 'tags', ARRAY['x', 'y']) END);
    END LOOP;

    -- An overdraft: an account allowed 50.00 below zero, at -30.00.
    id := ledger.create_account('USD', 'USD:overdraft', 'credit', '-5000');
    PERFORM ledger.transfer(id, usd[1], 3000, NULL, 'overdraft');

    -- A closed account with money on it, and a closed-then-reopened one.
    id := ledger.create_account('USD', 'USD:closed');
    PERFORM ledger.transfer(usd_fund, id, 4242, 'close-me', 'before closing');
    PERFORM ledger.close_account(id);
    id := ledger.create_account('USD', 'USD:reopened');
    PERFORM ledger.close_account(id);
    PERFORM ledger.reopen_account(id);

    -- A tight maximum: the balance plus 1.00.
    PERFORM ledger.set_account_limits(usd[2], '0',
        ((SELECT posted FROM ledger.balance(usd[2]))::numeric + 100)::ledger.amount);

    -- An unnamed account.
    PERFORM ledger.create_account('USD');

    -- A book of its own, with names and a key that book 1 also has.
    id := ledger.create_book_account(ledger.create_book('tenant'), 'USD', 'USD:fund', 'debit', NULL);
    PERFORM ledger.transfer(id, ledger.create_book_account(ledger.book_id('tenant'), 'USD', 'USD:w:1'),
                            500, 'close-me', 'tenant deposit');
    -- A grant on it, and one narrowed to an account.
    PERFORM ledger.grant_privilege(ledger.book_id('tenant'), 'ledger_dump_reader', 'read');
    PERFORM ledger.grant_privilege(ledger.book_id('tenant'), 'ledger_dump_reader', 'post',
                                   debit_accounts => ARRAY[id]);
END
$$;

-- name and metadata are the columns that may be updated directly.
UPDATE ledger.accounts SET name = 'USD:renamed', metadata = '{"renamed": true}'
 WHERE name = 'USD:w:3';
SQL

# ledger_relations DB KIND - the relations of schema ledger of a relkind,
# by name: r tables, S sequences.
ledger_relations() {
	psql_on "$1" -At -c "SELECT relname FROM pg_catalog.pg_class
	                     WHERE relnamespace = 'ledger'::regnamespace AND relkind = '$2' ORDER BY relname"
}

# fingerprint DB - one line per table of schema ledger (whatever tables the
# extension has), for the balances and per sequence: a row count and an md5
# of every row in a fixed order.
fingerprint() {
	local db=$1 rel
	for rel in $(ledger_relations "$db" r); do
		psql_on "$db" -At -F ' ' -c "SELECT 'table $rel', count(*), md5(string_agg(t::text, ',' ORDER BY t::text))
		                             FROM ledger.$rel AS t"
	done
	psql_on "$db" -At -F ' ' <<'SQL'
SELECT 'view account_balances', count(*), md5(string_agg(t::text, ',' ORDER BY account_id))
  FROM ledger.account_balances AS t;
SELECT 'function balance()', count(*), md5(string_agg(b::text, ',' ORDER BY a.id))
  FROM ledger.accounts AS a CROSS JOIN LATERAL ledger.balance(a.id) AS b;
SQL
	for rel in $(ledger_relations "$db" S); do
		psql_on "$db" -At -F ' ' -c "SELECT 'sequence $rel', last_value, is_called FROM ledger.$rel"
	done
}

# ledger_row_count DB - rows in all the tables of schema ledger together.
ledger_row_count() {
	local db=$1 rel total=0 n where
	for rel in $(ledger_relations "$db" r); do
		# Book 1 comes with CREATE EXTENSION, not with the dump.
		where=
		[ "$rel" = books ] && where="WHERE id <> 1"
		n=$(psql_on "$db" -At -c "SELECT count(*) FROM ledger.$rel $where")
		total=$((total + n))
	done
	echo "$total"
}

# check_restored DB - the restored ledger matches the source and still works.
check_restored() {
	local db=$1
	fingerprint "$db" >"$WORK/$db.fingerprint"
	if ! diff -u "$WORK/source.fingerprint" "$WORK/$db.fingerprint" >&2; then
		fail "$db differs from the source"
	fi

	psql_on "$db" -o /dev/null <<'SQL'
-- A replayed key returns the original transfer and writes nothing.
DO $$
DECLARE
    t record;
    before text;
    after text;
    got bigint;
BEGIN
    SELECT * INTO STRICT t FROM ledger.transfers
     WHERE idempotency_key IS NOT NULL AND description IS NOT NULL AND metadata IS NOT NULL
     ORDER BY id DESC LIMIT 1;
    SELECT md5(string_agg(a::text, ',' ORDER BY id))
           || (SELECT count(*) FROM ledger.transfers) || '/' || (SELECT count(*) FROM ledger.entries)
      INTO before FROM ledger.accounts AS a;
    got := ledger.transfer(t.debit_account_id, t.credit_account_id, t.amount,
                           t.idempotency_key, t.description, t.metadata);
    SELECT md5(string_agg(a::text, ',' ORDER BY id))
           || (SELECT count(*) FROM ledger.transfers) || '/' || (SELECT count(*) FROM ledger.entries)
      INTO after FROM ledger.accounts AS a;
    IF got <> t.id THEN
        RAISE EXCEPTION 'replay of key % returned transfer %, not %', t.idempotency_key, got, t.id;
    END IF;
    IF before <> after THEN
        RAISE EXCEPTION 'replay of key % wrote something', t.idempotency_key;
    END IF;

    -- The same key with another amount is a conflict.
    BEGIN
        PERFORM ledger.transfer(t.debit_account_id, t.credit_account_id,
                                (t.amount::numeric + 1)::ledger.amount,
                                t.idempotency_key, t.description, t.metadata);
        RAISE EXCEPTION 'reusing key % with another amount was accepted', t.idempotency_key;
    EXCEPTION WHEN SQLSTATE 'LG012' THEN
        NULL;
    END;
END
$$;

-- A new transfer continues the ids and both accounts' versions and balances.
DO $$
DECLARE
    fund bigint := ledger.account_id('USD:fund');
    wallet bigint := ledger.account_id('USD:w:1');
    max_transfer bigint := (SELECT max(id) FROM ledger.transfers);
    max_entry bigint := (SELECT max(id) FROM ledger.entries);
    fund_version bigint := (SELECT version FROM ledger.accounts WHERE id = fund);
    wallet_version bigint := (SELECT version FROM ledger.accounts WHERE id = wallet);
    wallet_before numeric := (SELECT posted FROM ledger.balance(wallet));
    new_id bigint;
    bad bigint;
BEGIN
    new_id := ledger.transfer(fund, wallet, 777, 'after-restore', 'after restore');
    IF new_id <= max_transfer THEN
        RAISE EXCEPTION 'new transfer got id %, not above the restored maximum %', new_id, max_transfer;
    END IF;
    SELECT count(*) INTO bad FROM ledger.entries AS e
     WHERE e.transfer_id = new_id
       AND (e.id <= max_entry
            OR e.account_version <> CASE e.account_id WHEN fund THEN fund_version + 1
                                                      ELSE wallet_version + 1 END);
    IF bad <> 0 OR (SELECT count(*) FROM ledger.entries WHERE transfer_id = new_id) <> 2 THEN
        RAISE EXCEPTION 'the new transfer''s entries do not continue the ids and versions';
    END IF;
    IF (SELECT posted FROM ledger.balance(wallet))::numeric <> wallet_before + 777
       OR (SELECT balance_after FROM ledger.entries WHERE transfer_id = new_id AND account_id = wallet)::numeric
          <> wallet_before + 777 THEN
        RAISE EXCEPTION 'the new transfer did not move the wallet''s balance by 777';
    END IF;
    IF ledger.create_account('USD', 'after-restore') <= (SELECT max(a.id) FROM ledger.accounts AS a
                                                         WHERE a.name IS DISTINCT FROM 'after-restore') THEN
        RAISE EXCEPTION 'new account id is not above the restored maximum';
    END IF;
END
$$;

-- The closed account is still closed, the tight maximum still holds, and
-- the guard triggers are back on.
DO $$
BEGIN
    BEGIN
        PERFORM ledger.transfer(ledger.account_id('USD:fund'), ledger.account_id('USD:closed'), 1);
        RAISE EXCEPTION 'a transfer to the closed account was accepted';
    EXCEPTION WHEN SQLSTATE 'LG102' THEN
        NULL;
    END;
    BEGIN
        PERFORM ledger.transfer(ledger.account_id('USD:fund'), ledger.account_id('USD:w:2'), 101);
        RAISE EXCEPTION 'a transfer past the maximum balance was accepted';
    EXCEPTION WHEN SQLSTATE 'LG104' THEN
        NULL;
    END;
    BEGIN
        INSERT INTO ledger.assets (code, scale) VALUES ('XYZ', 2);
        RAISE EXCEPTION 'a direct insert into ledger.assets was accepted';
    EXCEPTION WHEN SQLSTATE 'LG901' THEN
        NULL;
    END;
    BEGIN
        UPDATE ledger.accounts SET credits_posted = '1' WHERE name = 'USD:w:1';
        RAISE EXCEPTION 'a direct update of a balance was accepted';
    EXCEPTION WHEN SQLSTATE 'LG901' THEN
        NULL;
    END;
END
$$;
SQL
}

fingerprint "$SRC" >"$WORK/source.fingerprint"
for rel in assets accounts transfers entries; do
	grep -q "^table $rel [1-9]" "$WORK/source.fingerprint" || fail "the source has no rows in ledger.$rel"
done
transfers=$(psql_on "$SRC" -At -c "SELECT count(*) || ' transfers (' || count(idempotency_key) || ' with a key, '
                                   || count(description) || ' with a description, ' || count(metadata)
                                   || ' with metadata)' FROM ledger.transfers")

"$PG_BIN/pg_dump" -Fc -f "$WORK/ledger.dump" "$SRC"
"$PG_BIN/pg_dump" -Fp -f "$WORK/ledger.sql" "$SRC"

# ---------------------------------------------------------------------------
# Restores with replica: identical, and working.
# ---------------------------------------------------------------------------
psql_on postgres -c "CREATE DATABASE $CUSTOM"
PGOPTIONS=$REPLICA "$PG_BIN/pg_restore" --exit-on-error -d "$CUSTOM" "$WORK/ledger.dump"
check_restored "$CUSTOM"

psql_on postgres -c "CREATE DATABASE $PLAIN"
PGOPTIONS=$REPLICA psql_on "$PLAIN" -o /dev/null -f "$WORK/ledger.sql"
check_restored "$PLAIN"

# ---------------------------------------------------------------------------
# Restores without replica: refused by the guards, nothing half restored.
# ---------------------------------------------------------------------------
psql_on postgres -c "CREATE DATABASE $BAD_CUSTOM"
if "$PG_BIN/pg_restore" -d "$BAD_CUSTOM" "$WORK/ledger.dump" 2>"$WORK/bad_custom.err"; then
	fail "pg_restore without session_replication_role = replica succeeded"
fi
grep -q 'cannot insert into table' "$WORK/bad_custom.err" ||
	{ cat "$WORK/bad_custom.err" >&2; fail "pg_restore failed, but not on the guard triggers"; }
[ "$(ledger_row_count "$BAD_CUSTOM")" -eq 0 ] ||
	fail "pg_restore without replica left rows in the ledger tables"

psql_on postgres -c "CREATE DATABASE $BAD_PLAIN"
if psql_on "$BAD_PLAIN" -v VERBOSITY=verbose -o /dev/null -f "$WORK/ledger.sql" 2>"$WORK/bad_plain.err"; then
	fail "psql restore without session_replication_role = replica succeeded"
fi
grep -q 'ERROR:  LG901: cannot insert into table' "$WORK/bad_plain.err" ||
	{ cat "$WORK/bad_plain.err" >&2; fail "psql restore failed, but not with LG901"; }
[ "$(ledger_row_count "$BAD_PLAIN")" -eq 0 ] ||
	fail "psql restore without replica left rows in the ledger tables"

# ---------------------------------------------------------------------------
# Summary.
# ---------------------------------------------------------------------------
echo "dump_restore.sh: source ledger of $transfers"
sed 's/^/  source /' "$WORK/source.fingerprint"
echo "dump_restore.sh: custom (-Fc, pg_restore) and plain (psql -f) dumps restored with session_replication_role = replica:"
echo "  every row of every ledger table, the balances and the sequences identical;"
echo "  a new transfer continues transfer, entry and account ids and account versions; a replayed key"
echo "  returns the original transfer and writes nothing; a reused key (LG012), the closed account"
echo "  (LG102), the maximum balance (LG104) and direct writes (LG901) are still refused"
echo "dump_restore.sh: without replica, pg_restore exits non-zero ($(grep -c 'cannot insert into table' "$WORK/bad_custom.err") COPYs refused: $(grep -o 'errors ignored on restore: [0-9]*' "$WORK/bad_custom.err" || echo 'no count'))"
echo "  and psql -v ON_ERROR_STOP=1 stops at the first COPY with LG901; both leave the ledger tables empty"
