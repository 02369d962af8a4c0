--
-- History and verification: an account's balance at any moment, its
-- statement over a window, and ledger.verify(), which recomputes everything
-- from the entries and names what does not add up.
--
SET client_min_messages = warning;
DROP EXTENSION ledger CASCADE;
CREATE EXTENSION ledger;
RESET client_min_messages;
SET search_path = public, ledger;

SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_asset('EUR', 2);
SELECT ledger.create_account('USD', 'bank', normal_balance => 'debit', min_balance => NULL) AS bank;
SELECT ledger.create_account('USD', 'alice') AS alice;
SELECT ledger.create_account('USD', 'bob') AS bob;
SELECT ledger.create_account('EUR', 'eur_bank', normal_balance => 'debit', min_balance => NULL) AS eur_bank;
SELECT ledger.create_account('EUR', 'eve') AS eve;
SELECT ledger.create_account('USD', 'carol') AS carol;

-- Alice's history: a deposit, rent to bob, a refund, a withdrawal.
SELECT ledger.transfer(1, 2, 10000, description => 'deposit');
SELECT ledger.transfer(2, 3, 2500, description => 'rent');
SELECT ledger.transfer(3, 2, 500, description => 'refund');
SELECT ledger.transfer(2, 1, 1000, description => 'withdrawal');
SELECT ledger.transfer(4, 5, 700);
SELECT account_id, account_version, direction, amount, balance_after
  FROM ledger.entries WHERE account_id IN (1, 2) ORDER BY account_id, account_version;

-- The time of an entry of alice's, and of the bank's.
CREATE FUNCTION alice_at(version bigint) RETURNS timestamptz LANGUAGE sql AS
$$ SELECT created_at FROM ledger.entries WHERE account_id = 2 AND account_version = version $$;
CREATE FUNCTION bank_at(version bigint) RETURNS timestamptz LANGUAGE sql AS
$$ SELECT created_at FROM ledger.entries WHERE account_id = 1 AND account_version = version $$;

--
-- ledger.balance_at: the balance right after the last entry at or before a
-- moment.
--
-- Before the first entry, the balance is 0.
SELECT ledger.balance_at(2, '-infinity');
SELECT ledger.balance_at(2, alice_at(1) - interval '1 microsecond');
-- At each entry's own time, the balance right after it; between two
-- entries, the balance after the earlier one.
SELECT v AS version, ledger.balance_at(2, alice_at(v)) FROM generate_series(1, 4) AS v;
SELECT ledger.balance_at(2, (SELECT created_at FROM ledger.entries WHERE account_id = 2 AND account_version = 2));
SELECT ledger.balance_at(2, alice_at(3) - interval '1 microsecond');
-- After the last entry, the current posted balance.
SELECT ledger.balance_at(2, 'infinity'), (SELECT posted FROM ledger.balance(2));
SELECT ledger.balance_at(2, now());
-- A debit-normal account: debits raise its balance, credits lower it.
SELECT ledger.balance_at(1, bank_at(1) - interval '1 microsecond') AS before,
       ledger.balance_at(1, bank_at(1)) AS after_deposit,
       ledger.balance_at(1, bank_at(2)) AS after_withdrawal;
-- An account without entries has a balance of 0 at any time.
SELECT ledger.balance_at(6, '-infinity'), ledger.balance_at(6, 'infinity');

-- An unknown account, and NULL arguments, are rejected.
SELECT ledger.balance_at(99, now());
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.balance_at(NULL, now());
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.balance_at(2, NULL);
\echo :LAST_ERROR_SQLSTATE

--
-- ledger.statement: the entries of a window, in version order, with the
-- other account of each transfer and its description.
--
SELECT account_version, entry_id, transfer_id, direction, amount, balance_after,
       counterparty_account_id, description
  FROM ledger.statement(2);
SELECT bool_and(s.created_at = e.created_at) AS entry_times
  FROM ledger.statement(2) AS s
  JOIN ledger.entries AS e ON e.id = s.entry_id;
-- A window: since is inclusive, until exclusive.
SELECT account_version, direction, amount, balance_after, description
  FROM ledger.statement(2, alice_at(2), alice_at(4));
SELECT account_version, amount, balance_after
  FROM ledger.statement(2, since => alice_at(3));
SELECT account_version, amount, balance_after
  FROM ledger.statement(2, until => alice_at(2));
-- Empty windows: no time between the bounds, the bounds the wrong way
-- round, before the first entry, after the last, an account without entries.
SELECT count(*) FROM ledger.statement(2, alice_at(2), alice_at(2));
SELECT count(*) FROM ledger.statement(2, alice_at(4), alice_at(1));
SELECT count(*) FROM ledger.statement(2, '-infinity', alice_at(1));
SELECT count(*) FROM ledger.statement(2, alice_at(4) + interval '1 microsecond');
SELECT count(*) FROM ledger.statement(6);

SELECT * FROM ledger.statement(99);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ledger.statement(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ledger.statement(2, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ledger.statement(2, until => NULL);
\echo :LAST_ERROR_SQLSTATE

-- A long statement is read in pages of 1000 entries: 2500 entries come back
-- complete, in order and without a gap across the page boundaries.
SELECT ledger.create_account('USD', 'payer', min_balance => NULL) AS payer;
SELECT ledger.create_account('USD', 'payee') AS payee;
SELECT count(ledger.transfer(7, 8, 1, description => 'tick')) FROM generate_series(1, 2500);
SELECT count(*) AS entries,
       min(account_version) AS first,
       max(account_version) AS last,
       bool_and(account_version = n) AS consecutive,
       bool_and(balance_after = n) AS running_balance,
       bool_and(counterparty_account_id = 7 AND description = 'tick') AS counterparty
  FROM ledger.statement(8) WITH ORDINALITY
       AS s(account_version, entry_id, transfer_id, direction, amount, balance_after,
            counterparty_account_id, description, created_at, n);
-- A window across two page boundaries holds exactly the entries of that time.
CREATE FUNCTION payee_at(version bigint) RETURNS timestamptz LANGUAGE sql AS
$$ SELECT created_at FROM ledger.entries WHERE account_id = 8 AND account_version = version $$;
SELECT (SELECT array_agg(account_version) FROM ledger.statement(8, payee_at(900), payee_at(2101)))
     = (SELECT array_agg(account_version ORDER BY account_version) FROM ledger.entries
         WHERE account_id = 8 AND created_at >= payee_at(900) AND created_at < payee_at(2101))
       AS same_versions;
SELECT count(*) FROM ledger.statement(8, payee_at(900), payee_at(2101))
 WHERE account_version BETWEEN 900 AND 2100;
-- A LIMIT keeps the first rows.  In the select list the function stops
-- reading there; in FROM, PostgreSQL reads the whole window first, so a
-- client that pages uses ledger.statement_page.
SELECT account_version FROM ledger.statement(8) LIMIT 3;
SELECT (ledger.statement(8)).account_version LIMIT 3;

-- ledger.statement_page returns one page, and a client follows the pages
-- by passing the last version it got: oldest first after after_version,
-- newest first before before_version.
SELECT account_version, balance_after FROM ledger.statement_page(8, 3);
SELECT account_version, balance_after FROM ledger.statement_page(8, 3, after_version => 3);
SELECT account_version, balance_after FROM ledger.statement_page(8, 3, newest_first => true);
SELECT account_version FROM ledger.statement_page(8, 3, before_version => 2498, newest_first => true);
SELECT account_version FROM ledger.statement_page(8, 3, after_version => 2498);
SELECT count(*) FROM ledger.statement_page(8, 3, after_version => 2500);
-- Both bounds at once, and within a window of time.
SELECT account_version FROM ledger.statement_page(8, 100, after_version => 10, before_version => 14);
SELECT account_version FROM ledger.statement_page(8, 3, since => payee_at(900), until => payee_at(2101));
SELECT account_version FROM ledger.statement_page(8, 3, newest_first => true,
                                                  since => payee_at(900), until => payee_at(2101));
-- Following every page of 700 either way gives the whole statement, in
-- order, each entry once; a page of up to 10,000 rows is one call.
WITH RECURSIVE up(page, last, versions) AS (
    SELECT 1, max(account_version), array_agg(account_version ORDER BY account_version)
      FROM ledger.statement_page(8, 700)
    UNION ALL
    SELECT up.page + 1, p.last, up.versions || p.versions
      FROM up, LATERAL (SELECT max(account_version) AS last,
                               array_agg(account_version ORDER BY account_version) AS versions
                          FROM ledger.statement_page(8, 700, after_version => up.last)) AS p
     WHERE p.last IS NOT NULL)
SELECT max(page) AS pages,
       (SELECT versions FROM up ORDER BY page DESC LIMIT 1)
       = (SELECT array_agg(account_version) FROM ledger.statement(8)) AS same
  FROM up;
WITH RECURSIVE down(page, last, versions) AS (
    SELECT 1, min(account_version), array_agg(account_version ORDER BY account_version DESC)
      FROM ledger.statement_page(8, 700, newest_first => true)
    UNION ALL
    SELECT down.page + 1, p.last, down.versions || p.versions
      FROM down, LATERAL (SELECT min(account_version) AS last,
                                 array_agg(account_version ORDER BY account_version DESC) AS versions
                            FROM ledger.statement_page(8, 700, before_version => down.last,
                                                       newest_first => true)) AS p
     WHERE p.last IS NOT NULL)
SELECT max(page) AS pages,
       (SELECT versions FROM down ORDER BY page DESC LIMIT 1)
       = (SELECT array_agg(account_version ORDER BY account_version DESC) FROM ledger.statement(8)) AS same
  FROM down;
SELECT count(*) FROM ledger.statement_page(8, 10000);
-- A page is at least one row and at most 10,000.
SELECT * FROM ledger.statement_page(8, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ledger.statement_page(8, 10001);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ledger.statement_page(8, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ledger.statement_page(99);
\echo :LAST_ERROR_SQLSTATE

-- balance_at and statement find a moment by binary search over the
-- versions (there is no index on time).  Against an independent answer for
-- each of the payee's 2500 entries, at its moment and 1 microsecond either
-- side: width_bucket counts the entry times at or before a moment, which is
-- the version whose balance holds then.
CREATE TABLE payee_times AS
SELECT array_agg(created_at ORDER BY account_version) AS times,
       array_agg(balance_after ORDER BY account_version) AS balances
  FROM ledger.entries WHERE account_id = 8;
CREATE TABLE payee_moments AS
SELECT e.created_at + d.shift AS at
  FROM ledger.entries AS e,
       (VALUES (interval '-1 microsecond'), (interval '0'), (interval '1 microsecond')) AS d(shift)
 WHERE e.account_id = 8;
SELECT count(*) AS moments,
       count(*) FILTER (WHERE ledger.balance_at(8, m.at)
                        IS DISTINCT FROM coalesce(p.balances[width_bucket(m.at, p.times)], 0)) AS wrong
  FROM payee_moments AS m, payee_times AS p;
-- Statement windows between 420 pairs of those moments, either way round,
-- hold exactly the entries stamped in them.
SELECT count(*) AS windows,
       count(*) FILTER (WHERE
         (SELECT coalesce(array_agg(s.account_version), '{}')
            FROM ledger.statement(8, w.since, w.until) AS s)
         <> (SELECT coalesce(array_agg(e.account_version ORDER BY e.account_version), '{}')
               FROM ledger.entries AS e
              WHERE e.account_id = 8 AND e.created_at >= w.since AND e.created_at < w.until))
         AS wrong
  FROM (SELECT a.at AS since, b.at AS until
          FROM (SELECT at, row_number() OVER (ORDER BY at) AS n FROM payee_moments) AS a,
               (SELECT at, row_number() OVER (ORDER BY at) AS n FROM payee_moments) AS b
         WHERE a.n % 379 = 1 AND b.n % 373 = 2) AS w;
-- Each probe of the search is one lookup of the primary key.
PREPARE entry_probe(bigint, bigint) AS
SELECT e.created_at, e.balance_after FROM ledger.entries AS e
 WHERE e.account_id OPERATOR(pg_catalog.=) $1
   AND e.account_version OPERATOR(pg_catalog.=) $2;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE entry_probe(8, 1234);
RESET plan_cache_mode;
DEALLOCATE entry_probe;
DROP TABLE payee_times, payee_moments;

-- A version missing from the middle of an account's history (only a
-- superuser with triggers off can do that) stops the search with XX001
-- rather than a wrong balance.
BEGIN;
SET session_replication_role = replica;
DELETE FROM ledger.entries WHERE account_id = 8 AND account_version = 1250;
RESET session_replication_role;
SELECT ledger.balance_at(8, payee_at(1249));
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

--
-- ledger.verify: no rows means every account agrees with its entries, its
-- hash chain and its holds, every asset balances and every transfer has its
-- two entries.
--
-- Holds: one pending, one captured in part.
SELECT ledger.hold(2, 3, 300) AS pending_hold;
SELECT ledger.hold(2, 3, 200) AS captured_hold;
SELECT ledger.capture(2, 150);
SELECT * FROM ledger.balance(2);
SELECT * FROM ledger.verify();
SELECT * FROM ledger.verify(2);
SELECT * FROM ledger.verify(account_id => 8);

-- Alice's entries as they stand, before anybody tampers with them.
SELECT id, account_version, direction, amount, balance_after
  FROM ledger.entries WHERE account_id = 2 ORDER BY account_version;

-- The chain hash of an entry, computed here from its documented layout:
-- SHA-256 over the previous hash (32 zero bytes for the first entry), then
-- transfer_id, account_id, account_version as big-endian 64-bit integers,
-- 'D' or 'C', amount and balance_after as big-endian 128-bit integers, and
-- created_at as microseconds since 2000-01-01 UTC.  Every stored hash
-- follows it.
CREATE FUNCTION chain_hash(prev bytea, e ledger.entries) RETURNS bytea LANGUAGE sql AS $$
SELECT sha256(coalesce(prev, decode(repeat('00', 32), 'hex'))
              || int8send(e.transfer_id) || int8send(e.account_id)
              || int8send(e.account_version)
              || CASE e.direction WHEN 'debit' THEN 'D'::bytea ELSE 'C'::bytea END
              || ledger.amount_send(e.amount) || ledger.amount_send(e.balance_after)
              || int8send((extract(epoch FROM e.created_at - '2000-01-01 00:00:00+00') * 1000000)::bigint))
$$;
SELECT count(*) AS entries,
       count(*) FILTER (WHERE e.hash = chain_hash(p.hash, e)) AS hashes_follow
  FROM ledger.entries AS e
  LEFT JOIN ledger.entries AS p
    ON p.account_id = e.account_id AND p.account_version = e.account_version - 1;

-- Tampering, as only a superuser can: with triggers off.  Each kind in its
-- own transaction, rolled back, so the next starts from a clean ledger.

-- An entry's amount edited: its balance no longer follows, its hash no
-- longer matches, the account's debits, the asset and the transfer disagree.
BEGIN;
SET session_replication_role = replica;
UPDATE ledger.entries SET amount = 2600 WHERE account_id = 2 AND account_version = 2;
RESET session_replication_role;
SELECT * FROM ledger.verify();
-- verify(account_id) checks that account alone.
SELECT * FROM ledger.verify(2);
SELECT * FROM ledger.verify(3);
ROLLBACK;

-- A balance_after edited: one balance problem (the next entry follows from
-- the right balance, not the edited one) and the hash.
BEGIN;
SET session_replication_role = replica;
UPDATE ledger.entries SET balance_after = 9999 WHERE account_id = 2 AND account_version = 2;
RESET session_replication_role;
SELECT * FROM ledger.verify();
ROLLBACK;

-- An entry deleted: a gap in the versions, the next balance and hash, the
-- account's debits, the asset's totals, and a transfer left with one entry.
BEGIN;
SET session_replication_role = replica;
DELETE FROM ledger.entries WHERE account_id = 2 AND account_version = 2;
RESET session_replication_role;
SELECT * FROM ledger.verify();
ROLLBACK;

-- The last entry deleted: no gap, but the account's version and hash no
-- longer match its last entry.
BEGIN;
SET session_replication_role = replica;
DELETE FROM ledger.entries WHERE account_id = 2 AND account_version = 5;
RESET session_replication_role;
SELECT * FROM ledger.verify(2);
ROLLBACK;

-- An account's posted sum, or its version, edited.
BEGIN;
SET session_replication_role = replica;
UPDATE ledger.accounts SET credits_posted = 1 WHERE id = 3;
UPDATE ledger.accounts SET version = 9 WHERE id = 5;
RESET session_replication_role;
SELECT * FROM ledger.verify();
ROLLBACK;

-- A pending sum edited: it no longer matches the holds reserved on it.
BEGIN;
SET session_replication_role = replica;
UPDATE ledger.accounts SET debits_pending = 0 WHERE id = 2;
UPDATE ledger.accounts SET credits_pending = 1000 WHERE id = 3;
RESET session_replication_role;
SELECT * FROM ledger.verify();
ROLLBACK;

-- A hold's reservation flag edited, so that the account's pending sum no
-- longer matches the holds.
BEGIN;
SET session_replication_role = replica;
UPDATE ledger.hold_records SET debit_reserved = false WHERE id = 1;
RESET session_replication_role;
SELECT * FROM ledger.verify();
ROLLBACK;

-- An entry's hash replaced: that entry alone is named, since the next one
-- still chains from the hash it should have had.
BEGIN;
SET session_replication_role = replica;
UPDATE ledger.entries SET hash = sha256('forged') WHERE account_id = 2 AND account_version = 2;
RESET session_replication_role;
SELECT * FROM ledger.verify();
ROLLBACK;

-- An entry rewritten consistently, its amount, its balance and its hash
-- recomputed over the edit, still shows: the next entry no longer chains
-- from it nor follows from its balance, and the account's sum is off.
BEGIN;
SET session_replication_role = replica;
UPDATE ledger.entries SET amount = 2600, balance_after = 7400
 WHERE account_id = 2 AND account_version = 2;
UPDATE ledger.entries AS e
   SET hash = chain_hash((SELECT p.hash FROM ledger.entries AS p
                           WHERE p.account_id = 2 AND p.account_version = 1), e)
 WHERE account_id = 2 AND account_version = 2;
RESET session_replication_role;
SELECT * FROM ledger.verify(2);
ROLLBACK;

-- The account's last hash edited, or a hash cut short.
BEGIN;
SET session_replication_role = replica;
UPDATE ledger.accounts SET entry_hash = sha256('forged') WHERE id = 2;
UPDATE ledger.entries SET hash = '\x00' WHERE account_id = 3 AND account_version = 1;
RESET session_replication_role;
SELECT * FROM ledger.verify();
ROLLBACK;

-- An entry moved back in time.
BEGIN;
SET session_replication_role = replica;
UPDATE ledger.entries SET created_at = '2000-01-01 00:00:00+00' WHERE account_id = 2 AND account_version = 2;
RESET session_replication_role;
SELECT account_id, regexp_replace(problem, 'than .* of', 'than <time of version 1> of') AS problem
  FROM ledger.verify(2);
ROLLBACK;

-- An entry moved to an account that does not exist, and one to a transfer
-- that does not exist.
BEGIN;
SET session_replication_role = replica;
UPDATE ledger.entries SET account_id = 99 WHERE account_id = 5;
UPDATE ledger.entries SET transfer_id = 9999 WHERE id = 4;
RESET session_replication_role;
SELECT * FROM ledger.verify();
ROLLBACK;

-- After all that, the ledger is as it was.
SELECT * FROM ledger.verify();

-- An unknown account is rejected.
SELECT * FROM ledger.verify(99);
\echo :LAST_ERROR_SQLSTATE

-- An asset's lifetime volume may pass the range of ledger.amount while every
-- balance stays in it: verify() adds the totals without overflowing.
SET client_min_messages = warning;
DROP EXTENSION ledger CASCADE;
CREATE EXTENSION ledger;
RESET client_min_messages;
SELECT ledger.create_asset('ETH', 18);
SELECT ledger.create_account('ETH', 'mint', 'debit', NULL) AS mint,
       ledger.create_account('ETH', 'a') AS a,
       ledger.create_account('ETH', 'b') AS b;
SELECT ledger.transfer(1, 2, '100000000000000000000000000000000000000') AS first,
       ledger.transfer(2, 3, '100000000000000000000000000000000000000') AS second;
SELECT count(*) AS problems FROM ledger.verify();
