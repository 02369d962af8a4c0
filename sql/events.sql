--
-- events: what each change of a book publishes, consumers, positions,
-- authority and pruning.
--
-- The ledger starts empty, so ids are the same in every run.  Times are
-- left out of the output; a hold's expiry is a fixed time.
SET client_min_messages = warning;
DROP EXTENSION ledger CASCADE;
CREATE EXTENSION ledger;
CREATE ROLE regress_events_manager NOLOGIN;   -- manage on acme
CREATE ROLE regress_events_reader NOLOGIN;    -- read on acme
CREATE ROLE regress_events_other NOLOGIN;     -- read on acme, not the consumer's owner
RESET client_min_messages;
DO $$
DECLARE r text;
BEGIN
    FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE 'regress\_events\_%' LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA ledger TO %I', r);
        EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ledger TO %I', r);
        EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA ledger TO %I', r);
    END LOOP;
END $$;

CREATE VIEW public.regress_events AS
SELECT id, kind, book_id AS book, account_id AS account, debit_account_id AS debit,
       credit_account_id AS credit, amount, transfer_id AS transfer, hold_id AS hold,
       idempotency_key AS key, description, metadata, detail
  FROM ledger.events ORDER BY xid, id;
GRANT SELECT ON public.regress_events TO PUBLIC;

SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_account('USD', 'funding', min_balance => NULL);   -- 1
SELECT ledger.create_account('USD', 'alice');                          -- 2

-- ===========================================================================
-- Off by default: a book that does not publish writes no event.
-- ===========================================================================
SELECT events FROM ledger.books;
SELECT ledger.transfer(1, 2, 1000);
SELECT count(*) FROM ledger.events;

-- On: returns whether it was on.
SELECT ledger.set_book_events(1, true);
SELECT ledger.set_book_events(1, true);
SELECT ledger.set_book_events(99, true);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.set_book_events(NULL, true);
\echo :LAST_ERROR_SQLSTATE

-- ===========================================================================
-- Every kind, with its payload.
-- ===========================================================================
SELECT ledger.create_account('USD', 'bob', metadata => '{"tier": "gold"}');   -- 3
SELECT ledger.transfer(2, 3, 100, 'pay-1', 'lunch', '{"order": 7}');         -- transfer 2
-- A replay changes nothing and publishes nothing.
SELECT ledger.transfer(2, 3, 100, 'pay-1', 'lunch', '{"order": 7}');
SELECT ledger.hold(2, 3, 300, '2100-01-01 00:00:00+00', 'hold-1', 'deposit', '{"room": 12}');  -- hold 1
SELECT ledger.capture(1, 250, 'cap-1');                                      -- transfer 3
SELECT ledger.hold(2, 3, 50);                                                -- hold 2
SELECT ledger.release(2);
SELECT ledger.reverse(2, 40);                                                -- transfer 4
SELECT ledger.set_account_limits(3, '0', '100000');
SELECT ledger.close_account(3);
SELECT ledger.close_account(3);        -- already closed: no change, no event
SELECT ledger.reopen_account(3);
SELECT ledger.set_account_hot(2, true);
SELECT ledger.set_account_hot(2, false);
SELECT * FROM public.regress_events;

-- A refused call publishes nothing.
SELECT ledger.transfer(2, 3, 1000000);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM ledger.events;

-- A batch writes its events together, in item order; a replayed item
-- publishes nothing.
SELECT ledger.transfer_batch(ARRAY[
    ROW(1, 2, 11, 'b-1', NULL, NULL),
    ROW(1, 3, 12, NULL, NULL, NULL),
    ROW(1, 2, 11, 'b-1', NULL, NULL),
    ROW(2, 3, 13, 'pay-1', 'lunch', '{"order": 7}')]::ledger.transfer_request[]);
SELECT kind, debit, credit, amount, transfer, key FROM public.regress_events WHERE id > 12;

-- A hold that expires publishes hold_expired when its expiry is recorded,
-- once.
SELECT ledger.hold(2, 3, 70, pg_catalog.now() + interval '100 milliseconds', NULL, 'short');  -- hold 3
SELECT pg_sleep(0.2);
SELECT ledger.expire_holds();
SELECT ledger.expire_holds();
SELECT kind, debit, credit, amount, hold, description FROM public.regress_events WHERE hold = 3;

-- ===========================================================================
-- Consumers read after their position, at least once, in order.
-- ===========================================================================
-- A consumer starts with the transactions that had not ended when it was
-- created: none of the events above.
SELECT ledger.create_consumer('all');
SELECT count(*) FROM ledger.next_events('all', 100);
SELECT ledger.transfer(1, 2, 500, NULL, 'first');
SELECT ledger.transfer(1, 2, 600, NULL, 'second');
SELECT ledger.transfer(1, 2, 700, NULL, 'third');
SELECT kind, amount, description FROM ledger.next_events('all', 2);
-- The same again until acknowledged.
SELECT kind, amount, description FROM ledger.next_events('all', 2);
SELECT ledger.ack_events('all', id) FROM ledger.events WHERE description = 'second';
SELECT kind, amount, description FROM ledger.next_events('all', 10);
-- Acknowledging again, or an earlier event, moves nothing.
SELECT ledger.ack_events('all', id) FROM ledger.events WHERE description = 'second';
SELECT ledger.ack_events('all', id) FROM ledger.events WHERE description = 'first';
-- An id of no event moves nothing; an event the consumer cannot have been
-- handed (of a transaction still running) is refused.
SELECT ledger.ack_events('all', 1000000);
BEGIN;
SELECT ledger.transfer(1, 2, 1, NULL, 'uncommitted');
SELECT ledger.ack_events('all', id) FROM ledger.events WHERE description = 'uncommitted';
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT ledger.ack_events('all', id) FROM ledger.events WHERE description = 'third';
SELECT count(*) FROM ledger.next_events('all', 10);
SELECT c.position_id = e.id AS at_third, c.acked_at IS NOT NULL AS acked
  FROM ledger.consumers AS c, ledger.events AS e
 WHERE c.name = 'all' AND e.description = 'third';

-- Arguments.
SELECT ledger.create_consumer('all');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.next_events('nobody', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.ack_events('nobody', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.next_events('all', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.next_events('all', 10001);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_consumer('');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_consumer('x', ARRAY[]::bigint[]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_consumer('x', ARRAY[1, NULL]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_consumer('x', ARRAY[42]);
\echo :LAST_ERROR_SQLSTATE

-- ===========================================================================
-- Books: a consumer reads only its books.
-- ===========================================================================
SELECT ledger.create_book('acme');                                           -- 2
SELECT ledger.create_book_account(2, 'USD', 'acme funding', min_balance => NULL);  -- 4
SELECT ledger.create_book_account(2, 'USD', 'acme wallet');                  -- 5
SELECT ledger.set_book_events(2, true);
SELECT ledger.create_consumer('acme only', ARRAY[2, 2]);
SELECT books FROM ledger.consumers WHERE name = 'acme only';
SELECT ledger.transfer(4, 5, 800, NULL, 'acme');
SELECT ledger.transfer(1, 2, 900, NULL, 'default');
SELECT kind, book_id, amount, description FROM ledger.next_events('acme only', 10);
SELECT kind, book_id, amount, description FROM ledger.next_events('all', 10);
-- An event of another book is not the consumer's to acknowledge.
SELECT ledger.ack_events('acme only', (SELECT max(id) FROM ledger.events WHERE book_id = 1));
\echo :LAST_ERROR_SQLSTATE

-- ===========================================================================
-- Authority: creating needs manage on each book; reading needs read on
-- each book, and the consumer's owner's role.
-- ===========================================================================
SELECT ledger.grant_privilege(2, 'regress_events_manager', 'manage');
SELECT ledger.grant_privilege(2, 'regress_events_reader', 'read');
SELECT ledger.grant_privilege(2, 'regress_events_other', 'read');
GRANT regress_events_manager TO regress_events_reader;
SET ROLE regress_events_reader;
SELECT ledger.create_consumer('by reader', ARRAY[2]);   -- manage through membership
RESET ROLE;
-- A role with post alone writes the events of its transfers.
SELECT ledger.grant_privilege(2, 'regress_events_other', 'post');
SET ROLE regress_events_other;
SELECT ledger.transfer(4, 5, 100, NULL, 'acme by a role');
RESET ROLE;
REVOKE regress_events_manager FROM regress_events_reader;
SET ROLE regress_events_reader;
SELECT ledger.create_consumer('reader 2', ARRAY[2]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_consumer('reader every book');
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_consumer('reader book 1', ARRAY[1, 2]);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.set_book_events(2, false);
\echo :LAST_ERROR_SQLSTATE
SELECT kind, amount, description FROM ledger.next_events('by reader', 10);
SELECT ledger.next_events('all', 10);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_events_other;
SELECT ledger.next_events('by reader', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.ack_events('by reader', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.drop_consumer('by reader');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- Without read on the book, its owner's role reads nothing of it.
SELECT ledger.revoke_privilege(2, 'regress_events_reader', 'read');
SET ROLE regress_events_reader;
SELECT ledger.next_events('by reader', 10);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- The tables are the ledger's.
INSERT INTO ledger.events (book_id, kind, created_at) VALUES (1, 'transfer_posted', now());
\echo :LAST_ERROR_SQLSTATE
DELETE FROM ledger.events;
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.consumers SET position_id = 0;
\echo :LAST_ERROR_SQLSTATE
UPDATE ledger.books SET events = false;
\echo :LAST_ERROR_SQLSTATE

-- ===========================================================================
-- Pruning removes what every consumer has passed, and no more.
-- ===========================================================================
SELECT count(*) AS events FROM ledger.events;
SELECT name, position_id FROM ledger.consumers ORDER BY name;
SELECT ledger.prune_events();
SELECT min(id) FROM ledger.events;
-- The consumers read what they read before.
SELECT count(*) FROM ledger.next_events('all', 10);
SELECT count(*) FROM ledger.next_events('acme only', 10);
SELECT ledger.ack_events('all', id) FROM ledger.next_events('all', 10) WITH ORDINALITY
 ORDER BY ordinality DESC LIMIT 1;
SELECT ledger.ack_events('acme only', id) FROM ledger.next_events('acme only', 10) WITH ORDINALITY
 ORDER BY ordinality DESC LIMIT 1;
SELECT ledger.drop_consumer('by reader');
SELECT ledger.drop_consumer('by reader');
SELECT ledger.prune_events();
SELECT count(*) FROM ledger.events;
-- With no consumer, every event of an ended transaction goes.
SELECT ledger.transfer(1, 2, 1, NULL, 'unread');
SELECT ledger.drop_consumer('all'), ledger.drop_consumer('acme only');
SELECT ledger.prune_events();
SELECT count(*) FROM ledger.events;

-- ===========================================================================
-- Balance monitors: an event when a call makes the condition true.
-- ===========================================================================
SELECT ledger.create_account('USD', 'carol');                                -- 6
SELECT ledger.transfer(1, 6, 1000);
SELECT ledger.create_monitor(6, 'posted', '<', 500, 'carol low') AS low,
       ledger.create_monitor(6, 'available', '<=', 200) AS low_available,
       ledger.create_monitor(6, 'posted', '>=', 2000, 'carol rich') AS rich;
CREATE TEMP VIEW fired AS
SELECT account_id AS account, amount AS balance, transfer_id AS transfer,
       detail->>'name' AS name, detail->>'balance' AS kind, detail->>'op' AS op,
       detail->>'threshold' AS threshold
  FROM ledger.events WHERE kind = 'monitor_fired' ORDER BY xid, id;
SELECT ledger.transfer(6, 1, 400);            -- 600: nothing crosses
SELECT count(*) FROM fired;
SELECT ledger.transfer(6, 1, 101);            -- 499: carol low
SELECT * FROM fired;
SELECT ledger.transfer(6, 1, 99);             -- 400: still low, no new event
SELECT count(*) FROM fired;
-- A hold lowers the available balance, not the posted one.
SELECT ledger.hold(6, 1, 250) AS carol_hold \gset
SELECT * FROM fired OFFSET 1;
SELECT ledger.release(:carol_hold);            -- available 400 again
SELECT ledger.transfer(1, 6, 200);            -- 600: not low any more
SELECT ledger.transfer(6, 1, 150);            -- 450: low again, a second edge
SELECT name, balance FROM fired OFFSET 2;
-- A batch is one call: its end state is compared with its start.
SELECT ledger.transfer_batch(ARRAY[
    ROW(1, 6, 2000, NULL, NULL, NULL),        -- 2450 on the way
    ROW(6, 1, 2000, NULL, NULL, NULL)]::ledger.transfer_request[]);   -- 450
SELECT count(*) FROM fired;
SELECT ledger.transfer_batch(ARRAY[
    ROW(1, 6, 1000, NULL, NULL, NULL),
    ROW(1, 6, 600, NULL, NULL, NULL)]::ledger.transfer_request[]);    -- 2050
SELECT name, balance, transfer IS NULL AS no_single_transfer FROM fired OFFSET 3;
-- A hot account's queued credit counts when the queue is applied.
SELECT ledger.create_monitor(2, 'posted', '>', 100000, 'alice big');
SELECT ledger.set_account_hot(2, true);
SELECT ledger.transfer(1, 2, 200000);
SELECT count(*) FROM fired WHERE name = 'alice big';
SELECT ledger.apply_hot_entries(2);
SELECT name, account FROM fired WHERE name = 'alice big';
SELECT ledger.set_account_hot(2, false);
-- An expiry is a movement too: the released reservation raises carol's
-- available balance back.
SELECT ledger.create_monitor(6, 'available', '>=', 2000, 'carol available again');
SELECT ledger.hold(6, 1, 100, pg_catalog.now() + interval '100 milliseconds');
SELECT pg_sleep(0.2);
SELECT ledger.expire_holds();
SELECT name, balance FROM fired WHERE name = 'carol available again';
-- Arguments, and authority: creating or dropping needs manage.
SELECT ledger.create_monitor(6, 'pending', '<', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_monitor(6, 'posted', '=', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_monitor(999, 'posted', '<', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_monitor(6, 'posted', '<', NULL);
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_events_other;
SELECT ledger.create_monitor(5, 'posted', '<', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.drop_monitor(1);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT ledger.drop_monitor(1), ledger.drop_monitor(1);
SELECT ledger.transfer(1, 6, 10000);          -- 12050: rich was true already, no event
SELECT ledger.transfer(6, 1, 11600);          -- 450: carol low is dropped, no event
SELECT count(*) FROM fired WHERE name = 'carol low';
-- In a book that does not publish, a monitor writes nothing.
SELECT ledger.create_monitor(5, 'posted', '>', 900, 'acme wallet');   -- it holds 900
SELECT ledger.set_book_events(2, false);
SELECT ledger.transfer(4, 5, 1);
SELECT count(*) FROM fired WHERE name = 'acme wallet';
SELECT ledger.set_book_events(2, true);
SELECT ledger.transfer(5, 4, 2);              -- 899
SELECT ledger.transfer(4, 5, 2);              -- 901: fires, now that the book publishes
SELECT name, balance FROM fired WHERE name = 'acme wallet';
DELETE FROM ledger.monitors;
\echo :LAST_ERROR_SQLSTATE
-- ack_events walks the events from the consumer's position to the one it
-- acknowledges, so that it costs what it passes, whatever the planner would
-- estimate.  With row level security on the table, which only the executor
-- honours, the walk reads through SQL, 1,000 events at a time: the same.
SELECT ledger.create_consumer('walk', ARRAY[1]::bigint[]);
SELECT cardinality(ledger.transfer_batch(array_agg(ROW(1 + g % 2, 2 - g % 2, 1, NULL, NULL, NULL)::ledger.transfer_request)))
  FROM generate_series(1, 2500) AS g;
CREATE TEMP TABLE walk AS
SELECT e.id, row_number() OVER (ORDER BY e.xid, e.id) AS n FROM ledger.next_events('walk', 10000) AS e;
SELECT count(*), count(DISTINCT id) FROM walk;
SELECT ledger.ack_events('walk', (SELECT id FROM walk WHERE n = 1200));
SELECT (SELECT id FROM ledger.next_events('walk', 1)) = (SELECT id FROM walk WHERE n = 1201) AS next_is_1201;
SELECT ledger.ack_events('walk', (SELECT id FROM walk WHERE n = 1100));     -- behind: false
ALTER TABLE ledger.events ENABLE ROW LEVEL SECURITY;
SELECT ledger.ack_events('walk', (SELECT id FROM walk WHERE n = 2400));
SELECT (SELECT id FROM ledger.next_events('walk', 1)) = (SELECT id FROM walk WHERE n = 2401) AS next_is_2401;
SELECT ledger.ack_events('walk', (SELECT id FROM walk WHERE n = 2300));     -- behind: false
SELECT ledger.ack_events('walk', (SELECT max(id) + 1000 FROM walk));       -- no such event: false
ALTER TABLE ledger.events DISABLE ROW LEVEL SECURITY;
SELECT ledger.ack_events('walk', (SELECT max(id) + 1000 FROM walk));
SELECT ledger.ack_events('walk', (SELECT id FROM walk WHERE n = 2500));
SELECT count(*) FROM ledger.next_events('walk', 10000);
-- A column a DBA adds comes out of next_events (one with a type modifier
-- only the executor applies, so the walk reads through SQL), and one
-- dropped leaves no trace.
ALTER TABLE ledger.events ADD COLUMN note varchar(20) DEFAULT 'added';
SELECT ledger.transfer_batch(ARRAY[ROW(1, 2, 1, NULL, NULL, NULL), ROW(2, 1, 1, NULL, NULL, NULL)]::ledger.transfer_request[]) IS NOT NULL AS posted;
SELECT kind, amount, note FROM ledger.next_events('walk', 10);
ALTER TABLE ledger.events DROP COLUMN note;
SELECT kind, amount FROM ledger.next_events('walk', 10);
SELECT ledger.ack_events('walk', (SELECT max(id) FROM ledger.next_events('walk', 10)));
SELECT ledger.drop_consumer('walk');
DROP TABLE walk;

SELECT ledger.prune_events() >= 0 AS pruned;

-- Off again: nothing more is written.
SELECT ledger.set_book_events(1, false);
SELECT ledger.transfer(1, 2, 1);
SELECT count(*) FROM ledger.events;

SELECT * FROM ledger.verify();

DROP VIEW public.regress_events;
DELETE FROM ledger.grants WHERE grantee::text LIKE 'regress\_events\_%';
SET client_min_messages = warning;
DO $$
DECLARE r text;
BEGIN
    FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE 'regress\_events\_%' LOOP
        EXECUTE format('DROP OWNED BY %I', r);
        EXECUTE format('DROP ROLE %I', r);
    END LOOP;
END $$;
RESET client_min_messages;
