#!/usr/bin/env bash
# test/stress/bank.sh - the Jepsen bank workload: money only moves, at every
# isolation level, as seen by concurrent snapshot readers.
#
# One asset and four tenants, each a book with a debit-normal funding
# account (unbounded), 2 hot and 2,500 cold credit-normal accounts
# (min_balance 0), all funded; one hot account per book starts in hot mode
# (ledger.set_account_hot), so its credits are queued without the row lock
# and its debits apply the queue.  Then 32 pgbench clients make random
# transfers, holds (some expiring within the run), captures, releases and
# batches of 2-5 transfers (each within a book, a batch across books) among
# hot and cold accounts, and switch the hot accounts' hot mode on and off.
# Each call is made by the service that owns it, a role with only what it
# needs: bank_payments (post on every book), bank_holds (hold), bank_ops
# (manage: hot mode), bank_expiry (EXECUTE on expire_holds, no privilege);
# now and then a service tries what it may not (a hold as payments, a
# transfer as holds), which must fail with 42501, and payments tries a
# transfer across books, which must fail with LG110.  Each transaction runs at READ COMMITTED, REPEATABLE READ or
# SERIALIZABLE (pgbench script weights) and makes one call through
# bank.step(), which catches only the rejections this load may raise (LG103,
# LG104, LG202, LG203, LG204, LG205, LG109, 40001, 40P01), records every
# outcome, and lets anything else abort the pgbench client.
#
# Meanwhile two reader clients, each transaction a REPEATABLE READ snapshot,
# check about every 10 ms that (as the owner, over every book, and per book):
#  - sum(credits_posted) - sum(debits_posted) over all accounts, plus the
#    postings still queued for hot accounts, is 0 (every transfer adds its
#    amount once to each side);
#  - each pending column sums to the holds still reserved on that side;
#  - the signed posted balances of ledger.account_balances sum to 0 too,
#    and no posting is queued for an account out of hot mode (a posting
#    stranded when an account left hot mode would break both);
#  - no account's available balance is below its min_balance;
#  - as the reader role of a random book (read on that book only), in the
#    same snapshot: the views show exactly that book's accounts and holds,
#    never another book's row; its signed balances sum to 0; and balance()
#    of another book's account is refused with 42501;
# and record any anomaly in bank.anomalies.
#
# Tenants 1-3 publish events (tenant 4 does not).  Two consumers read all
# the time, each acknowledging what it read in the transaction that stores
# it (bank.received, keyed by consumer and event): "payouts", as
# bank_consumer (manage and read on tenants 1 and 2), 100 events at a time;
# "audit", as the owner, every book, 1,000 at a time, pruning now and then.
# At the end, once drained, each consumer has received, exactly once and
# in increasing (xid, id) order, one event for each transfer, hold,
# capture, release and expiry of its books that committed during the run,
# none of tenant 4, none of a rolled-back call.
#
# At the end: no anomaly, no deadlock (pg_stat_database.deadlocks unchanged,
# no 40P01), no 40001 at READ COMMITTED, every account's versions 1..n
# without a gap, the conservation law once more, and ledger.verify() empty.
#
# Environment: PGHOST, PGPORT, PGUSER (a superuser); BANK_SECONDS (default
# 20) how long the writers run; BANK_SEED (default random, printed);
# BANK_KEEP=1 keeps the database.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
DB=ledger_bank
SECONDS_TO_RUN=${BANK_SECONDS:-20}
SEED=${BANK_SEED:-$((RANDOM * 32768 + RANDOM))}
echo "bank.sh: seed $SEED (replay the choices with BANK_SEED=$SEED)"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger_bank.XXXXXX")
READERS_PID=
PAYOUTS_PID=
AUDIT_PID=

psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }
psql_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

cleanup() {
	local pid
	for pid in $READERS_PID $PAYOUTS_PID $AUDIT_PID; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ "${BANK_KEEP:-0}" != 1 ]; then
		psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
		drop_roles
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

ROLES="bank_payments bank_holds bank_ops bank_expiry bank_reader_1 bank_reader_2 bank_reader_3 bank_reader_4 bank_consumer"
drop_roles() {
	local r
	for r in $ROLES; do
		psql_admin -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1 || true
	done
}

psql_admin -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
drop_roles
for r in $ROLES; do psql_admin -c "CREATE ROLE $r"; done
psql_admin -c "CREATE DATABASE $DB"

psql_db -v seed="$SEED" -o /dev/null <<'SQL'
CREATE EXTENSION ledger;
SELECT pg_catalog.setseed((:seed % 1000000) / 1000000.0);
SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_book('tenant:' || k) FROM generate_series(1, 4) AS k;
SELECT ledger.create_book_account(b.id, 'USD', 'fund', 'debit', NULL)
  FROM ledger.books AS b WHERE b.name LIKE 'tenant:%' ORDER BY b.id;
SELECT cardinality(ledger.create_accounts(array_agg(
           ROW(b.id, 'USD', n, 'credit', 0, NULL, NULL)::ledger.account_request ORDER BY b.id, i)))
  FROM ledger.books AS b
 CROSS JOIN LATERAL (SELECT i, CASE WHEN i <= 2 THEN 'hot:' || i ELSE 'cold:' || i - 2 END AS n
                       FROM generate_series(1, 2502) AS i) AS x
 WHERE b.name LIKE 'tenant:%';
-- One hot account per book in hot mode: its credits are queued unlocked.
SELECT ledger.set_account_hot(id) FROM ledger.accounts WHERE name = 'hot:1';

-- The services, each with what it needs on every tenant's book; a reader
-- per book.
GRANT USAGE ON SCHEMA ledger TO bank_payments, bank_holds, bank_ops, bank_expiry,
    bank_reader_1, bank_reader_2, bank_reader_3, bank_reader_4, bank_consumer;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ledger TO bank_payments, bank_holds, bank_ops,
    bank_reader_1, bank_reader_2, bank_reader_3, bank_reader_4, bank_consumer;
GRANT EXECUTE ON FUNCTION ledger.expire_holds(integer) TO bank_expiry;
GRANT SELECT ON ledger.account_balances, ledger.holds
    TO bank_reader_1, bank_reader_2, bank_reader_3, bank_reader_4;
SELECT ledger.grant_privilege(b.id, g.role::regrole, g.privilege)
  FROM ledger.books AS b,
       (VALUES ('bank_payments', 'post'), ('bank_holds', 'hold'), ('bank_ops', 'manage')) AS g (role, privilege)
 WHERE b.name LIKE 'tenant:%';
SELECT ledger.grant_privilege(b.id, ('bank_reader_' || split_part(b.name, ':', 2))::regrole, 'read')
  FROM ledger.books AS b WHERE b.name LIKE 'tenant:%';
SELECT ledger.grant_privilege(b.id, 'bank_consumer', p)
  FROM ledger.books AS b, unnest(ARRAY['read', 'manage']) AS p
 WHERE b.name IN ('tenant:1', 'tenant:2');

CREATE SCHEMA bank;
-- The id ranges pgbench and bank.step() draw from, per book (k 1 to 4).
CREATE TABLE bank.ranges AS
SELECT split_part(b.name, ':', 2)::int AS k, b.id AS book,
       (SELECT id FROM ledger.accounts WHERE book_id = b.id AND name = 'fund') AS fund,
       (SELECT min(id) FROM ledger.accounts WHERE book_id = b.id AND name LIKE 'hot:%') AS hot_lo,
       (SELECT max(id) FROM ledger.accounts WHERE book_id = b.id AND name LIKE 'hot:%') AS hot_hi,
       (SELECT min(id) FROM ledger.accounts WHERE book_id = b.id AND name LIKE 'cold:%') AS cold_lo,
       (SELECT max(id) FROM ledger.accounts WHERE book_id = b.id AND name LIKE 'cold:%') AS cold_hi,
       (SELECT count(*) FROM ledger.accounts WHERE book_id = b.id) AS accounts
  FROM ledger.books AS b WHERE b.name LIKE 'tenant:%';

-- Opening balances, in one batch over the four books: 10,000.00 per hot
-- account, 100.00 per cold one.
SELECT cardinality(ledger.transfer_batch(array_agg(
           ROW(r.fund, a.id,
               CASE WHEN a.name LIKE 'hot:%' THEN 1000000 ELSE 10000 END::ledger.amount,
               NULL, 'opening balance', NULL)::ledger.transfer_request ORDER BY a.id)))
  FROM ledger.accounts AS a JOIN bank.ranges AS r ON r.book = a.book_id
 WHERE a.id <> r.fund;

-- Events from here on, in three of the books; the consumers start now.
CREATE TABLE bank.start AS SELECT (SELECT max(id) FROM ledger.transfers) AS last_transfer;
SELECT ledger.set_book_events(id, true) FROM ledger.books
 WHERE name IN ('tenant:1', 'tenant:2', 'tenant:3');
SELECT array_agg(id ORDER BY id) AS payout_books FROM ledger.books
 WHERE name IN ('tenant:1', 'tenant:2') \gset
SET ROLE bank_consumer;
SELECT ledger.create_consumer('payouts', :'payout_books');
RESET ROLE;
SELECT ledger.create_consumer('audit');

-- What each consumer received, in the transaction that acknowledged it.
CREATE TABLE bank.received (
    consumer    text NOT NULL,
    xid         xid8 NOT NULL,
    id          bigint NOT NULL,
    kind        text NOT NULL,
    book_id     bigint NOT NULL,
    transfer_id bigint,
    hold_id     bigint,
    PRIMARY KEY (consumer, xid, id)
);
GRANT USAGE ON SCHEMA bank TO bank_consumer;
GRANT SELECT, INSERT ON bank.received TO bank_consumer;

-- consume - store the consumer's next events and acknowledge the last;
-- refuses an event at or before one already received.
CREATE FUNCTION bank.consume(p_consumer text, p_max int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    e record;
    last_xid xid8;
    last_id bigint;
    n int := 0;
BEGIN
    SELECT r.xid, r.id INTO last_xid, last_id FROM bank.received AS r
     WHERE r.consumer = p_consumer ORDER BY r.xid DESC, r.id DESC LIMIT 1;
    FOR e IN SELECT * FROM ledger.next_events(p_consumer, p_max) LOOP
        IF last_xid IS NOT NULL AND (e.xid, e.id) <= (last_xid, last_id) THEN
            RAISE EXCEPTION 'consumer % received event (%, %) after (%, %)',
                p_consumer, e.xid, e.id, last_xid, last_id;
        END IF;
        INSERT INTO bank.received
        VALUES (p_consumer, e.xid, e.id, e.kind, e.book_id, e.transfer_id, e.hold_id);
        last_xid := e.xid;
        last_id := e.id;
        n := n + 1;
    END LOOP;
    IF n > 0 AND NOT ledger.ack_events(p_consumer, last_id) THEN
        RAISE EXCEPTION 'consumer % could not acknowledge event %', p_consumer, last_id;
    END IF;
    RETURN n;
END $$;
GRANT EXECUTE ON FUNCTION bank.consume(text, int) TO bank_consumer;

CREATE UNLOGGED TABLE bank.outcomes (
    kind      text NOT NULL,
    isolation text NOT NULL,
    outcome   text NOT NULL
);
CREATE UNLOGGED TABLE bank.checks (isolation text NOT NULL, at timestamptz NOT NULL);
CREATE UNLOGGED TABLE bank.anomalies (
    at      timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    anomaly text NOT NULL,
    detail  text
);

-- An account of book k: hot half the time, else cold.
CREATE FUNCTION bank.pick(p_k int) RETURNS bigint LANGUAGE sql AS $$
SELECT CASE WHEN random() < 0.5
            THEN hot_lo + floor(random() * (hot_hi - hot_lo + 1))::bigint
            ELSE cold_lo + floor(random() * (cold_hi - cold_lo + 1))::bigint END
  FROM bank.ranges WHERE k = p_k
$$;

-- Two distinct accounts of one book, the book drawn at random.
CREATE FUNCTION bank.pair(OUT a bigint, OUT b bigint) LANGUAGE plpgsql AS $$
DECLARE
    k int := 1 + floor(random() * 4)::int;
BEGIN
    a := bank.pick(k);
    LOOP
        b := bank.pick(k);
        EXIT WHEN b <> a;
    END LOOP;
END
$$;

-- Make the following calls as a service; the services have no access to
-- schema bank, so everything of it is read first, and the way back is
-- set_config('role', 'none', true).
CREATE FUNCTION bank.act_as(p_role text) RETURNS void LANGUAGE sql AS $$
SELECT pg_catalog.set_config('role', p_role, true)
$$;

-- An amount up to 30.00, sometimes up to 3,000.00 (often too much for a cold account).
CREATE FUNCTION bank.amount() RETURNS ledger.amount LANGUAGE sql AS $$
SELECT (1 + floor(random() * CASE WHEN random() < 0.9 THEN 3000 ELSE 300000 END))::bigint::ledger.amount
$$;

-- One of the last few pending holds, or NULL.
CREATE FUNCTION bank.recent_hold() RETURNS bigint LANGUAGE sql AS $$
SELECT id FROM ledger.hold_records WHERE status = 'pending'
 ORDER BY id DESC LIMIT 1 OFFSET floor(random() * 8)::int
$$;

-- step - make one call of the given kind and record its outcome.  Only the
-- rejections this load may raise are caught; anything else aborts the client.
CREATE FUNCTION bank.step(p_kind text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    p record;
    v_hold bigint;
    v_amount ledger.amount;
    v_items ledger.transfer_request[];
    v_other bigint;
    v_outcome text := 'ok';
BEGIN
    BEGIN
        CASE p_kind
        WHEN 'transfer' THEN
            p := bank.pair();
            v_amount := bank.amount();
            PERFORM bank.act_as('bank_payments');
            PERFORM ledger.transfer(p.a, p.b, v_amount);
        WHEN 'hold' THEN
            p := bank.pair();
            v_amount := bank.amount();
            PERFORM bank.act_as('bank_holds');
            PERFORM ledger.hold(p.a, p.b, v_amount,
                                CASE WHEN random() < 0.3
                                     THEN pg_catalog.clock_timestamp() + interval '300 ms' END);
        WHEN 'capture' THEN
            v_hold := bank.recent_hold();
            IF v_hold IS NULL THEN
                v_outcome := 'no hold';
            ELSE
                SELECT amount INTO v_amount FROM ledger.hold_records WHERE id = v_hold;
                PERFORM bank.act_as('bank_holds');
                PERFORM ledger.capture(v_hold,
                    CASE floor(random() * 4)::int
                    WHEN 0 THEN v_amount
                    WHEN 1 THEN (v_amount::numeric / 2)::bigint::ledger.amount
                    WHEN 2 THEN (v_amount::numeric + 1)::ledger.amount   -- LG205
                    ELSE NULL END);
            END IF;
        WHEN 'release' THEN
            v_hold := bank.recent_hold();
            IF v_hold IS NULL THEN
                v_outcome := 'no hold';
            ELSE
                PERFORM bank.act_as('bank_holds');
                PERFORM ledger.release(v_hold);
            END IF;
        WHEN 'batch' THEN
            FOR i IN 1..2 + floor(random() * 4)::int LOOP
                p := bank.pair();
                v_items := v_items || ROW(p.a, p.b, bank.amount(), NULL, 'batch item', NULL)::ledger.transfer_request;
            END LOOP;
            PERFORM bank.act_as('bank_payments');
            PERFORM ledger.transfer_batch(v_items);
        WHEN 'expire' THEN
            PERFORM bank.act_as('bank_expiry');
            PERFORM ledger.expire_holds(100);
        WHEN 'toggle' THEN
            -- One of the busy accounts in or out of hot mode, under load.
            SELECT r.hot_lo + floor(random() * (r.hot_hi - r.hot_lo + 1))::bigint INTO v_other
              FROM bank.ranges AS r ORDER BY random() LIMIT 1;
            PERFORM bank.act_as('bank_ops');
            PERFORM ledger.set_account_hot(v_other, random() < 0.5);
        WHEN 'forbidden' THEN
            -- What a service may not do: 42501 (or, across books, LG110).
            p := bank.pair();
            SELECT r.fund INTO v_other FROM bank.ranges AS r
             WHERE r.book <> (SELECT book_id FROM ledger.accounts WHERE id = p.a) LIMIT 1;
            CASE floor(random() * 3)::int
            WHEN 0 THEN
                PERFORM bank.act_as('bank_payments');
                PERFORM ledger.hold(p.a, p.b, 1);
            WHEN 1 THEN
                PERFORM bank.act_as('bank_holds');
                PERFORM ledger.transfer(p.a, p.b, 1);
            ELSE
                PERFORM bank.act_as('bank_payments');
                PERFORM ledger.transfer(p.a, v_other, 1);
            END CASE;
        END CASE;
    EXCEPTION
        WHEN SQLSTATE 'LG103' OR SQLSTATE 'LG104' OR SQLSTATE 'LG202' OR SQLSTATE 'LG203'
          OR SQLSTATE 'LG204' OR SQLSTATE 'LG205' OR SQLSTATE 'LG109' OR SQLSTATE 'LG110'
          OR SQLSTATE '42501' OR SQLSTATE '40001' OR SQLSTATE '40P01' THEN
            v_outcome := SQLSTATE;
    END;
    PERFORM pg_catalog.set_config('role', 'none', true);   -- bank.act_as is out of the service's reach
    INSERT INTO bank.outcomes VALUES (p_kind, pg_catalog.current_setting('transaction_isolation'), v_outcome);
END
$$;

-- check - the invariants on this transaction's snapshot; records anomalies.
CREATE FUNCTION bank.check() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_net numeric;
    v_n bigint;
    r record;
    t bank.ranges;
    v_other bigint;
    v_seen bigint;
    v_foreign bigint;
    v_holds bigint;
    v_foreign_holds bigint;
    v_own_holds bigint;
    v_refused text := 'no';
BEGIN
    SELECT sum(credits_posted::numeric) - sum(debits_posted::numeric)
           + (SELECT coalesce(sum(CASE direction WHEN 'credit' THEN amount::numeric
                                                 ELSE -amount::numeric END), 0)
                FROM ledger.hot_entries),
           count(*)
      INTO v_net, v_n FROM ledger.accounts;
    IF v_net <> 0 OR v_n <> 10012 THEN
        INSERT INTO bank.anomalies (anomaly, detail)
        VALUES ('money created or destroyed', 'credits - debits = ' || v_net || ' over ' || v_n || ' accounts');
    END IF;
    SELECT (SELECT coalesce(sum(debits_pending::numeric), 0) FROM ledger.accounts) AS dp,
           (SELECT coalesce(sum(amount::numeric), 0) FROM ledger.hold_records WHERE debit_reserved) AS dh,
           (SELECT coalesce(sum(credits_pending::numeric), 0) FROM ledger.accounts) AS cp,
           (SELECT coalesce(sum(amount::numeric), 0) FROM ledger.hold_records WHERE credit_reserved) AS ch
      INTO r;
    IF r.dp <> r.dh OR r.cp <> r.ch THEN
        INSERT INTO bank.anomalies (anomaly, detail)
        VALUES ('pending sums disagree with reserved holds', r::text);
    END IF;
    -- The same law through the view, which counts a queued posting only
    -- while its account is hot: a posting stranded by leaving hot mode
    -- shows here.
    SELECT sum(CASE WHEN a.normal_balance = 'credit' THEN b.posted::numeric
                    ELSE -b.posted::numeric END)
      INTO v_net
      FROM ledger.account_balances AS b JOIN ledger.accounts AS a ON a.id = b.account_id;
    IF v_net <> 0 THEN
        INSERT INTO bank.anomalies (anomaly, detail)
        VALUES ('balances do not sum to zero', 'signed posted balances sum to ' || v_net);
    END IF;
    INSERT INTO bank.anomalies (anomaly, detail)
    SELECT 'queued posting on an account not in hot mode',
           'account ' || q.account_id || ', transfer ' || q.transfer_id
      FROM ledger.hot_entries AS q JOIN ledger.accounts AS a ON a.id = q.account_id
     WHERE NOT a.hot;
    INSERT INTO bank.anomalies (anomaly, detail)
    SELECT 'available below min_balance',
           'account ' || b.account_id || ': available ' || b.available || ', min ' || a.min_balance
      FROM ledger.account_balances AS b
      JOIN ledger.accounts AS a ON a.id = b.account_id
     WHERE a.min_balance IS NOT NULL
       AND b.available::numeric < a.min_balance::numeric;
    -- Money moves within each book: its credits and debits balance.
    INSERT INTO bank.anomalies (anomaly, detail)
    SELECT 'money crossed books', 'book ' || book_id || ': credits - debits = ' || net
      FROM (SELECT a.book_id, sum(a.credits_posted::numeric) - sum(a.debits_posted::numeric)
                   + coalesce((SELECT sum(CASE direction WHEN 'credit' THEN amount::numeric
                                                         ELSE -amount::numeric END)
                                 FROM ledger.hot_entries AS q WHERE q.book_id = a.book_id), 0) AS net
              FROM ledger.accounts AS a GROUP BY a.book_id) AS x
     WHERE net <> 0;

    -- A tenant's reader, on the same snapshot: its book, all of it, and
    -- nothing of another.
    SELECT * INTO t FROM bank.ranges ORDER BY random() LIMIT 1;
    SELECT o.fund INTO v_other FROM bank.ranges AS o WHERE o.k <> t.k ORDER BY random() LIMIT 1;
    SELECT count(*) INTO v_own_holds FROM ledger.hold_records WHERE book_id = t.book;
    PERFORM bank.act_as('bank_reader_' || t.k);
    SELECT count(*), count(*) FILTER (WHERE b.book_id <> t.book),
           sum(CASE WHEN b.account_id = t.fund THEN -b.posted::numeric ELSE b.posted::numeric END)
      INTO v_seen, v_foreign, v_net
      FROM ledger.account_balances AS b;
    SELECT count(*), count(*) FILTER (WHERE h.book_id <> t.book) INTO v_holds, v_foreign_holds
      FROM ledger.holds AS h;
    BEGIN
        PERFORM ledger.balance(v_other);
    EXCEPTION WHEN insufficient_privilege THEN
        v_refused := 'yes';
    END;
    PERFORM pg_catalog.set_config('role', 'none', true);   -- bank.act_as is out of the service's reach
    IF v_seen <> t.accounts OR v_foreign <> 0 OR v_net <> 0
       OR v_holds <> v_own_holds OR v_foreign_holds <> 0 OR v_refused <> 'yes' THEN
        INSERT INTO bank.anomalies (anomaly, detail)
        VALUES ('a reader saw other than its book',
                format('bank_reader_%s: %s accounts of %s, %s of other books, balances sum to %s, '
                       '%s holds of %s, %s of other books, balance() of account %s refused: %s',
                       t.k, v_seen, t.accounts, v_foreign, v_net, v_holds, v_own_holds,
                       v_foreign_holds, v_other, v_refused));
    END IF;
    INSERT INTO bank.checks VALUES (pg_catalog.current_setting('transaction_isolation'),
                                    pg_catalog.clock_timestamp());
END
$$;
SQL

echo "bank.sh: books $(psql_db -At -c "SELECT string_agg(format('%s (fund %s, hot %s-%s, cold %s-%s)',
                                          book, fund, hot_lo, hot_hi, cold_lo, cold_hi), ', ' ORDER BY k)
                                 FROM bank.ranges")"

cat >"$WORK/body.sql" <<'PGBENCH'
\set k random(1, 100)
\if :k <= 45
SELECT bank.step('transfer');
\elif :k <= 60
SELECT bank.step('hold');
\elif :k <= 72
SELECT bank.step('capture');
\elif :k <= 80
SELECT bank.step('release');
\elif :k <= 97
SELECT bank.step('batch');
\elif :k <= 98
SELECT bank.step('forbidden');
\elif :k <= 99
SELECT bank.step('toggle');
\else
SELECT bank.step('expire');
\endif
PGBENCH
for level in "READ COMMITTED" "REPEATABLE READ" "SERIALIZABLE"; do
	f="$WORK/$(echo "$level" | tr 'A-Z ' 'a-z_').sql"
	{
		echo "BEGIN ISOLATION LEVEL $level;"
		cat "$WORK/body.sql"
		echo "COMMIT;"
	} >"$f"
done
cat >"$WORK/reader.sql" <<'PGBENCH'
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT bank.check();
COMMIT;
\sleep 10 ms
PGBENCH

cat >"$WORK/payouts.sql" <<'PGBENCH'
BEGIN;
SET LOCAL ROLE bank_consumer;
SELECT bank.consume('payouts', 100);
COMMIT;
\sleep 5 ms
PGBENCH
cat >"$WORK/audit.sql" <<'PGBENCH'
SELECT bank.consume('audit', 1000);
\set p random(1, 20)
\if :p = 1
SELECT ledger.prune_events();
\endif
\sleep 5 ms
PGBENCH

deadlocks() {
	psql_db -At -c "SELECT deadlocks FROM pg_catalog.pg_stat_database WHERE datname = current_database()"
}
deadlocks_before=$(deadlocks)

# Readers first, for longer than the writers, so they watch the whole load.
"$PG_BIN/pgbench" -n -c 2 -j 1 -T $((SECONDS_TO_RUN + 2)) -f "$WORK/reader.sql" \
	"$DB" >"$WORK/readers.log" 2>&1 &
READERS_PID=$!
"$PG_BIN/pgbench" -n -c 1 -j 1 -T $((SECONDS_TO_RUN + 2)) -f "$WORK/payouts.sql" \
	"$DB" >"$WORK/payouts.log" 2>&1 &
PAYOUTS_PID=$!
"$PG_BIN/pgbench" -n -c 1 -j 1 -T $((SECONDS_TO_RUN + 2)) -f "$WORK/audit.sql" \
	"$DB" >"$WORK/audit.log" 2>&1 &
AUDIT_PID=$!
sleep 1

started=$(date +%s)
writers_ok=1
# --max-tries 1: a serialization failure at COMMIT (SSI) is counted as a
# failed transaction, not an aborted client; only SERIALIZABLE may have them.
if ! "$PG_BIN/pgbench" -n -c 32 -j 2 -T "$SECONDS_TO_RUN" --random-seed="$SEED" \
	--failures-detailed --max-tries=1 \
	-f "$WORK/read_committed.sql@1" -f "$WORK/repeatable_read.sql@1" -f "$WORK/serializable.sql@1" \
	"$DB" >"$WORK/writers.log" 2>&1; then
	writers_ok=0
fi
elapsed=$(($(date +%s) - started))
readers_ok=1
wait "$READERS_PID" || readers_ok=0
READERS_PID=
consumers_ok=1
wait "$PAYOUTS_PID" || consumers_ok=0
wait "$AUDIT_PID" || consumers_ok=0
PAYOUTS_PID=
AUDIT_PID=

failed=0
if [ "$writers_ok" -ne 1 ] || grep -qiE 'aborted|error' "$WORK/writers.log"; then
	cat "$WORK/writers.log" >&2
	echo "FAIL: the writers' pgbench reported an error (a client aborted on an unexpected error)" >&2
	failed=1
fi
if [ "$readers_ok" -ne 1 ] || grep -qiE 'aborted|error|failed transactions: [1-9]' "$WORK/readers.log"; then
	cat "$WORK/readers.log" >&2
	echo "FAIL: the readers' pgbench reported an error" >&2
	failed=1
fi

for c in payouts audit; do
	if [ "$consumers_ok" -ne 1 ] || grep -qiE 'aborted|error|failed transactions: [1-9]' "$WORK/$c.log"; then
		cat "$WORK/$c.log" >&2
		echo "FAIL: the consumer $c reported an error" >&2
		failed=1
	fi
done
# Drain: every writer has ended, so every event is deliverable.
psql_db -c "SET ROLE bank_consumer" \
	-c "DO \$\$ BEGIN WHILE bank.consume('payouts', 1000) > 0 LOOP END LOOP; END \$\$" ||
	{ echo "FAIL: draining payouts" >&2; failed=1; }
psql_db -c "DO \$\$ BEGIN WHILE bank.consume('audit', 1000) > 0 LOOP END LOOP; END \$\$" ||
	{ echo "FAIL: draining audit" >&2; failed=1; }

# Failed (not aborted) writer transactions, per script: only serialization
# failures at COMMIT, only at SERIALIZABLE.
script_failures() {
	awk -v n="$1" '
		/^SQL script [0-9]+:/ { s = $3 + 0 }
		s == n && /number of failed transactions:/ { print $6; exit }' "$WORK/writers.log"
}
rc_failed=$(script_failures 1)
rr_failed=$(script_failures 2)
ser_failed=$(script_failures 3)
if [ "${rc_failed:-0}" != 0 ] || [ "${rr_failed:-0}" != 0 ]; then
	cat "$WORK/writers.log" >&2
	echo "FAIL: failed transactions at READ COMMITTED ($rc_failed) or REPEATABLE READ ($rr_failed)" >&2
	failed=1
fi
if grep -qE 'deadlock failures: [1-9]' "$WORK/writers.log"; then
	echo "FAIL: pgbench counted deadlock failures" >&2
	failed=1
fi

# The backends flush their statistics as they exit: wait for them to go.
for _ in $(seq 1 60); do
	others=$(psql_db -At -c "SELECT count(*) FROM pg_catalog.pg_stat_activity
	                         WHERE datname = current_database() AND pid <> pg_catalog.pg_backend_pid()")
	[ "$others" -eq 0 ] && break
	sleep 0.5
done
sleep 1
deadlocks_after=$(deadlocks)
if [ "$deadlocks_after" -ne "$deadlocks_before" ]; then
	echo "FAIL: pg_stat_database.deadlocks went from $deadlocks_before to $deadlocks_after" >&2
	failed=1
fi

# Final checks: each query lists offending rows.
check() {
	local name=$1 query=$2 rows
	if ! rows=$(psql_db -At -c "SELECT count(*) FROM ($query) AS q"); then
		echo "FAIL: $name could not run" >&2
		failed=1
	elif [ "$rows" -ne 0 ]; then
		echo "FAIL: $name: $rows rows (first 20):" >&2
		psql_db -c "SELECT * FROM ($query) AS q LIMIT 20" >&2
		failed=1
	fi
}
check "reader anomalies" "SELECT * FROM bank.anomalies"
check "deadlocks reported to a call" "SELECT * FROM bank.outcomes WHERE outcome = '40P01'"
check "40001 at READ COMMITTED" \
	"SELECT * FROM bank.outcomes WHERE outcome = '40001' AND isolation = 'read committed'"
check "outcome a kind cannot have" \
	"SELECT * FROM bank.outcomes WHERE NOT ((outcome IN ('ok', '40001') AND kind <> 'forbidden')
	   OR (kind = 'forbidden' AND outcome IN ('42501', 'LG110', '40001'))
	   OR (kind IN ('transfer', 'batch', 'hold') AND outcome IN ('LG103', 'LG104'))
	   OR (kind IN ('capture', 'release') AND outcome IN ('LG202', 'LG203', 'LG204', 'no hold'))
	   OR (kind = 'capture' AND outcome = 'LG205'))"
check "money created or destroyed" \
	"SELECT net FROM (SELECT sum(credits_posted::numeric) - sum(debits_posted::numeric)
	                        + (SELECT coalesce(sum(CASE direction WHEN 'credit' THEN amount::numeric
	                                                              ELSE -amount::numeric END), 0)
	                             FROM ledger.hot_entries) AS net
	                   FROM ledger.accounts) AS t
	 WHERE net <> 0"
check "gap in an account's versions" \
	"SELECT a.id, a.version, count(e.account_version) AS n, min(e.account_version) AS lo,
	        max(e.account_version) AS hi
	   FROM ledger.accounts AS a LEFT JOIN ledger.entries AS e ON e.account_id = a.id
	  GROUP BY a.id, a.version
	 HAVING count(e.account_version) <> a.version
	     OR coalesce(min(e.account_version), 1) <> 1
	     OR coalesce(max(e.account_version), 0) <> a.version"
check "ledger.verify()" "SELECT * FROM ledger.verify()"
check "no calls made at some isolation level" \
	"SELECT l FROM unnest(ARRAY['read committed', 'repeatable read', 'serializable']) AS l
	  WHERE NOT EXISTS (SELECT FROM bank.outcomes WHERE isolation = l AND outcome = 'ok')"
# The events each consumer must have received: one per change of its books
# since the start, from the tables that hold the changes.
expected_events="SELECT c.consumer, x.kind, x.book_id, x.transfer_id, x.hold_id
	   FROM (VALUES ('payouts'), ('audit')) AS c (consumer)
	   CROSS JOIN LATERAL (
	         SELECT CASE WHEN t.hold_id IS NOT NULL THEN 'hold_captured'
	                     WHEN t.reverses_transfer_id IS NOT NULL THEN 'reversal_posted'
	                     ELSE 'transfer_posted' END AS kind,
	                t.book_id, t.id AS transfer_id, t.hold_id
	           FROM ledger.transfers AS t WHERE t.id > (SELECT last_transfer FROM bank.start)
	         UNION ALL
	         SELECT 'hold_created', h.book_id, NULL, h.id FROM ledger.hold_records AS h
	         UNION ALL
	         SELECT 'hold_' || h.status, h.book_id, NULL, h.id FROM ledger.hold_records AS h
	          WHERE h.status IN ('released', 'expired')) AS x
	  WHERE x.book_id IN (SELECT id FROM ledger.books WHERE events)
	    AND (c.consumer = 'audit' OR x.book_id IN (SELECT id FROM ledger.books
	                                                WHERE name IN ('tenant:1', 'tenant:2')))"
received_events="SELECT consumer, kind, book_id, transfer_id, hold_id FROM bank.received
	  WHERE kind NOT LIKE 'account%'"
check "an event expected and not received (or received fewer times)" \
	"$expected_events EXCEPT ALL $received_events"
check "an event received and not expected (rolled back, of another book, or twice)" \
	"$received_events EXCEPT ALL $expected_events"
check "an account event other than a hot mode change" \
	"SELECT * FROM bank.received WHERE kind LIKE 'account%' AND kind <> 'account_hot_changed'"
check "an event of a book that does not publish" \
	"SELECT * FROM bank.received AS r JOIN ledger.books AS b ON b.id = r.book_id WHERE NOT b.events"
check "no events received" \
	"SELECT c FROM unnest(ARRAY['payouts', 'audit']) AS c
	  WHERE (SELECT count(*) FROM bank.received WHERE consumer = c) < 100"
check "no reader checks" "SELECT WHERE (SELECT count(*) FROM bank.checks) < 10"
check "no refusal seen" \
	"SELECT WHERE NOT EXISTS (SELECT FROM bank.outcomes WHERE kind = 'forbidden' AND outcome = '42501')
	           OR NOT EXISTS (SELECT FROM bank.outcomes WHERE kind = 'forbidden' AND outcome = 'LG110')"

# Summary.
processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/writers.log")
echo "bank.sh: 32 writers for ${elapsed}s, $processed pgbench transactions committed;" \
	"failed at COMMIT (serialization): read committed ${rc_failed:-0}, repeatable read ${rr_failed:-0}, serializable ${ser_failed:-0}"
psql_db -At -F ' ' <<'SQL'
SELECT 'calls by kind: ' || string_agg(kind || ' [' || o || ']', '; ' ORDER BY kind)
  FROM (SELECT kind, string_agg(outcome || ' ' || n, ', ' ORDER BY n DESC) AS o
          FROM (SELECT kind, outcome, count(*) AS n FROM bank.outcomes GROUP BY 1, 2) AS x
         GROUP BY kind) AS y;
SELECT 'calls by isolation level: ' || string_agg(isolation || ' [' || o || ']', '; ' ORDER BY isolation)
  FROM (SELECT isolation, string_agg(outcome || ' ' || n, ', ' ORDER BY n DESC) AS o
          FROM (SELECT isolation, outcome, count(*) AS n FROM bank.outcomes GROUP BY 1, 2) AS x
         GROUP BY isolation) AS y;
SELECT 'reader checks: ' || count(*) || ' snapshots over '
       || round(extract(epoch FROM max(at) - min(at))::numeric, 1) || 's, anomalies: '
       || (SELECT count(*) FROM bank.anomalies)
  FROM bank.checks;
SELECT 'events: ' || (SELECT count(*) FROM bank.received WHERE consumer = 'payouts')
       || ' received by payouts, ' || (SELECT count(*) FROM bank.received WHERE consumer = 'audit')
       || ' by audit, ' || (SELECT count(*) FROM ledger.events) || ' left after pruning';
SELECT 'ledger: ' || (SELECT count(*) FROM ledger.transfers) || ' transfers, '
       || (SELECT count(*) FROM ledger.entries) || ' entries ('
       || (SELECT n_tup_ins FROM pg_catalog.pg_stat_user_tables
            WHERE relid = 'ledger.hot_entries'::pg_catalog.regclass)
       || ' of them queued first, ' || (SELECT count(*) FROM ledger.hot_entries)
       || ' still queued), holds: '
       || (SELECT string_agg(status || ' ' || n, ', ' ORDER BY n DESC)
             FROM (SELECT status, count(*) AS n FROM ledger.hold_records GROUP BY status) AS s);
SQL
echo "deadlocks: $deadlocks_before before, $deadlocks_after after"
if [ "$failed" -ne 0 ]; then
	echo "bank.sh: FAILED" >&2
	exit 1
fi
echo "bank.sh: all checks passed: credits = debits in every reader snapshot, in every book, and at the end; each tenant's reader saw its whole book and nothing of another; every service's own calls were allowed and the others refused; pending sums match reserved holds; no available balance below its minimum; each consumer received every committed event of its books once, in order, and nothing else; no deadlock; no 40001 at READ COMMITTED; versions without gaps; ledger.verify() finds nothing"
