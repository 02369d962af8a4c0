# test/lib/citus_bank.sh - the bank of the Citus tests: books of wallets on a
# distributed ledger, a mixed load through the coordinator, and the checks
# that money only moved.  Sourced after test/lib/citus.sh, with a cluster
# running and the ledger distributed.
#
# bank_setup BOOKS WALLETS - one asset (USD), BOOKS books, each with a
# funding account (debit-normal, unbounded) and WALLETS wallets
# (credit-normal, min_balance 0) funded with 100000 each; the ranges of
# account ids per book in bank.ranges, a table of the coordinator's own.
# bank.step(kind) makes one call of a kind and catches only the
# rejections the load may raise, counted in bank.outcomes:
#   transfer  between two wallets of a book, half of them with an
#             idempotency key and replayed at once, which must give the
#             same transfer;
#   hold      a hold between two wallets, a third expiring within 300 ms;
#   capture   of a pending hold of a book, in full, in part, or above it
#             (LG205);
#   release   of a pending hold;
#   batch     2-5 transfers within one book;
#   across    a batch of two transfers in two books (one distributed
#             transaction when the books are on two nodes);
#   expire    ledger.expire_holds() (the coordinator's worker does it too).

bank_setup() {
	local books=$1 wallets=$2
	citus_psql 0 -v books="$books" -v wallets="$wallets" >/dev/null <<'SQL'
SELECT ledger.create_asset('USD', 2);
SELECT set_config('bank.books', :'books', false), set_config('bank.wallets', :'wallets', false);
CREATE SCHEMA bank;
CREATE TABLE bank.ranges (book bigint PRIMARY KEY, fund bigint, lo bigint, hi bigint);
CREATE TABLE bank.outcomes (kind text, outcome text);
DO $$
DECLARE
    b bigint;
    f bigint;
    w bigint;
    lo bigint;
BEGIN
    FOR k IN 1..current_setting('bank.books')::int LOOP
        b := ledger.create_book('bank' || k);
        f := ledger.create_book_account(b, 'USD', 'fund', normal_balance => 'debit',
                                        min_balance => NULL);
        lo := NULL;
        FOR i IN 1..current_setting('bank.wallets')::int LOOP
            w := ledger.create_book_account(b, 'USD', 'w' || i);
            lo := coalesce(lo, w);
            PERFORM ledger.transfer(f, w, 100000);
        END LOOP;
        INSERT INTO bank.ranges VALUES (b, f, lo, w);
    END LOOP;
END
$$;

-- Two wallets of one book (of the given one, or of any).
CREATE FUNCTION bank.pair(p_book bigint DEFAULT NULL, OUT a bigint, OUT b bigint)
LANGUAGE plpgsql AS $$
DECLARE
    r bank.ranges;
BEGIN
    SELECT * INTO r FROM bank.ranges
     WHERE p_book IS NULL OR book = p_book ORDER BY random() LIMIT 1;
    a := r.lo + floor(random() * (r.hi - r.lo + 1))::bigint;
    LOOP
        b := r.lo + floor(random() * (r.hi - r.lo + 1))::bigint;
        EXIT WHEN b <> a;
    END LOOP;
END
$$;

CREATE FUNCTION bank.amount() RETURNS ledger.amount LANGUAGE sql
AS $$ SELECT (1 + floor(random() * 3000))::bigint::ledger.amount $$;

-- A pending hold of a random book, or NULL.
CREATE FUNCTION bank.pending_hold() RETURNS bigint LANGUAGE sql AS $$
    SELECT h.id FROM ledger.hold_records AS h
     WHERE h.book_id = (SELECT book FROM bank.ranges ORDER BY random() LIMIT 1)
       AND h.status = 'pending'
     ORDER BY h.id DESC LIMIT 1 OFFSET floor(random() * 3)::int
$$;

CREATE FUNCTION bank.step(p_kind text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    p record;
    q record;
    v_hold bigint;
    v_amount ledger.amount;
    v_key text;
    v_id bigint;
    v_items ledger.transfer_request[];
    v_outcome text := 'ok';
BEGIN
    BEGIN
        CASE p_kind
        WHEN 'transfer' THEN
            p := bank.pair();
            v_amount := bank.amount();
            IF random() < 0.5 THEN
                v_key := 'k' || floor(random() * 1e15)::bigint;
                v_id := ledger.transfer(p.a, p.b, v_amount, v_key);
                IF ledger.transfer(p.a, p.b, v_amount, v_key) <> v_id THEN
                    RAISE EXCEPTION 'replay of key % gave another transfer than %', v_key, v_id;
                END IF;
            ELSE
                PERFORM ledger.transfer(p.a, p.b, v_amount);
            END IF;
        WHEN 'hold' THEN
            p := bank.pair();
            PERFORM ledger.hold(p.a, p.b, bank.amount(),
                                CASE WHEN random() < 0.3
                                     THEN clock_timestamp() + interval '300 ms' END);
        WHEN 'capture' THEN
            v_hold := bank.pending_hold();
            IF v_hold IS NULL THEN
                v_outcome := 'no hold';
            ELSE
                SELECT amount INTO v_amount FROM ledger.holds WHERE id = v_hold;
                PERFORM ledger.capture(v_hold,
                    CASE floor(random() * 4)::int
                    WHEN 0 THEN v_amount
                    WHEN 1 THEN (v_amount::numeric / 2)::bigint::ledger.amount
                    WHEN 2 THEN (v_amount::numeric + 1)::ledger.amount
                    ELSE NULL END);
            END IF;
        WHEN 'release' THEN
            v_hold := bank.pending_hold();
            IF v_hold IS NULL THEN
                v_outcome := 'no hold';
            ELSE
                PERFORM ledger.release(v_hold);
            END IF;
        WHEN 'batch' THEN
            SELECT book INTO v_id FROM bank.ranges ORDER BY random() LIMIT 1;
            FOR i IN 1..2 + floor(random() * 4)::int LOOP
                p := bank.pair(v_id);
                v_items := v_items || ROW(p.a, p.b, bank.amount(), NULL, 'batch item', NULL)::ledger.transfer_request;
            END LOOP;
            PERFORM ledger.transfer_batch(v_items);
        WHEN 'across' THEN
            p := bank.pair();
            LOOP
                q := bank.pair();
                EXIT WHEN (SELECT book FROM bank.ranges WHERE p.a BETWEEN lo AND hi) <>
                          (SELECT book FROM bank.ranges WHERE q.a BETWEEN lo AND hi);
            END LOOP;
            PERFORM ledger.transfer_batch(ARRAY[
                ROW(p.a, p.b, bank.amount(), NULL, 'across', NULL),
                ROW(q.a, q.b, bank.amount(), NULL, 'across', NULL)]::ledger.transfer_request[]);
        WHEN 'expire' THEN
            PERFORM ledger.expire_holds(100);
        END CASE;
    EXCEPTION
        WHEN SQLSTATE 'LG103' OR SQLSTATE 'LG202' OR SQLSTATE 'LG203' OR SQLSTATE 'LG204'
          OR SQLSTATE 'LG205' THEN
            v_outcome := SQLSTATE;
    END;
    INSERT INTO bank.outcomes VALUES (p_kind, v_outcome);
END
$$;
SQL
}

# bank_load SECONDS CLIENTS - the mixed load through the coordinator.
bank_load() {
	local seconds=$1 clients=$2 work
	work=$(mktemp -d)
	local kind weight
	for kind in transfer:6 hold:3 capture:2 release:1 batch:2 across:2 expire:1; do
		weight=${kind#*:}
		echo "SELECT bank.step('${kind%:*}');" >"$work/${kind%:*}.sql"
		echo "-f $work/${kind%:*}.sql@$weight"
	done >"$work/args"
	# shellcheck disable=SC2046
	if ! "$PG_BIN/pgbench" -n -c "$clients" -j 2 -T "$seconds" $(cat "$work/args") \
		-h "$CITUS_DIR" -p "$(citus_node_port 0)" -U postgres "${DB:-ledger}" >"$work/out" 2>&1 ||
		grep -q "aborted" "$work/out"; then
		cat "$work/out" >&2
		rm -rf "$work"
		echo "FAILED: the load through the coordinator failed" >&2
		exit 1
	fi
	grep -E "^number of transactions actually processed|^tps" "$work/out" >&2 || true
	rm -rf "$work"
}

# bank_check - money only moved, per book and per asset, and every node
# agrees: prints a one-line summary, fails on any anomaly.
bank_check() {
	local got i
	got=$(citus_psql 0 <<'SQL'
SELECT 'books not balanced: ' || string_agg(book_id::text, ',')
  FROM (SELECT book_id FROM ledger.accounts GROUP BY book_id
        HAVING ledger.sum(credits_posted) <> ledger.sum(debits_posted)) AS x
HAVING count(*) > 0;
SELECT 'asset not balanced: ' || asset
  FROM ledger.accounts GROUP BY asset
 HAVING ledger.sum(credits_posted) <> ledger.sum(debits_posted);
SELECT 'pending not the reserved holds: account ' || a.id
  FROM ledger.accounts AS a
  LEFT JOIN (SELECT book_id, debit_account_id AS id, ledger.sum(amount) AS s
               FROM ledger.hold_records WHERE debit_reserved GROUP BY 1, 2) AS d
         ON d.book_id = a.book_id AND d.id = a.id
  LEFT JOIN (SELECT book_id, credit_account_id AS id, ledger.sum(amount) AS s
               FROM ledger.hold_records WHERE credit_reserved GROUP BY 1, 2) AS c
         ON c.book_id = a.book_id AND c.id = a.id
 WHERE a.debits_pending <> coalesce(d.s, '0') OR a.credits_pending <> coalesce(c.s, '0');
SELECT 'wallet below zero: ' || account_id FROM ledger.account_balances
 WHERE name LIKE 'w%' AND available < '0';
SELECT 'verify: ' || account_id || ' ' || problem FROM ledger.verify();
SQL
	) || { echo "FAILED: the checks could not run" >&2; exit 1; }
	[ -z "$got" ] || { echo "FAILED: $got" >&2; exit 1; }
	for ((i = 0; i < CITUS_NODES; i++)); do
		got=$(citus_psql "$i" -c "SELECT string_agg(c.relname, ',') FROM pg_class AS c
		                           WHERE c.relnamespace = 'ledger'::regnamespace AND c.relkind = 'r'
		                             AND c.oid IN (SELECT logicalrelid FROM pg_dist_partition)
		                             AND pg_relation_size(c.oid) > 0")
		[ -z "$got" ] || { echo "FAILED: node $i: rows in the shell tables $got" >&2; exit 1; }
		got=$(citus_psql "$i" -c "SELECT count(*) FROM pg_prepared_xacts")
		[ "$got" = 0 ] || { echo "FAILED: node $i: $got prepared transactions left" >&2; exit 1; }
	done
}
