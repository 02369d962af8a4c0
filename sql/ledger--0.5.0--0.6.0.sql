/* ledger--0.5.0--0.6.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ledger UPDATE TO '0.6.0'" to load this file. \quit

-- ===========================================================================
-- events: every change of a book, committed with the change
-- ===========================================================================

-- A book publishes events once ledger.set_book_events turns them on.  Off by
-- default: an events table that nobody consumes would grow without end,
-- and a book that does not publish costs nothing.
ALTER TABLE ledger.books ADD COLUMN events boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN ledger.books.events IS 'whether the book''s changes append events (ledger.set_book_events)';

-- Each backend takes its event ids 64 at a time, instead of locking the
-- sequence for every event: ids stay unique and increase within a
-- transaction, which is all the order (xid, id) needs of them.
CREATE SEQUENCE ledger.events_id_seq CACHE 64;
-- One row per change of state, appended by the posting pipeline in the
-- transaction that makes the change.  Consumers read them in the order of
-- (xid, id): xid is the writing transaction's id, and an event is handed
-- out only once every transaction with a smaller id has ended (its xid is
-- below the reader's snapshot's xmin), so no event can later appear before
-- one already handed out.
CREATE TABLE ledger.events (
    id                 bigint NOT NULL
                       DEFAULT pg_catalog.nextval('ledger.events_id_seq'::pg_catalog.regclass),
    xid                xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    book_id            bigint NOT NULL,
    kind               text NOT NULL
                       CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY[
                           'transfer_posted', 'reversal_posted',
                           'hold_created', 'hold_captured', 'hold_released', 'hold_expired',
                           'account_created', 'account_limits_changed', 'account_closed',
                           'account_reopened', 'account_hot_changed', 'monitor_fired'])),
    account_id         bigint,
    debit_account_id   bigint,
    credit_account_id  bigint,
    amount             ledger.amount,
    transfer_id        bigint,
    hold_id            bigint,
    idempotency_key    text,
    description        text,
    metadata           jsonb,
    detail             jsonb,
    created_at         timestamptz NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (xid, id)
);
ALTER SEQUENCE ledger.events_id_seq OWNED BY ledger.events.id;
COMMENT ON TABLE ledger.events IS 'changes of the books that publish events, in the order consumers read them; appended by the ledger functions';
COMMENT ON SEQUENCE ledger.events_id_seq IS 'event ids';
SELECT pg_catalog.pg_extension_config_dump('ledger.events', '');
SELECT pg_catalog.pg_extension_config_dump('ledger.events_id_seq', '');

CREATE TRIGGER events_guard
    BEFORE INSERT OR UPDATE OR DELETE ON ledger.events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history();
CREATE TRIGGER events_guard_truncate
    BEFORE TRUNCATE ON ledger.events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history();

-- A consumer's position is the last event it acknowledged, as (xid, id);
-- it reads what follows.  books NULL: every book (the owner's consumers).
CREATE SEQUENCE ledger.consumers_id_seq;
CREATE TABLE ledger.consumers (
    id            bigint PRIMARY KEY
                  DEFAULT pg_catalog.nextval('ledger.consumers_id_seq'::pg_catalog.regclass),
    name          text NOT NULL,
    owner         regrole NOT NULL,
    books         bigint[],
    position_xid  xid8 NOT NULL,
    position_id   bigint NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    acked_at      timestamptz,
    CONSTRAINT consumers_name_key UNIQUE (name)
);
ALTER SEQUENCE ledger.consumers_id_seq OWNED BY ledger.consumers.id;
COMMENT ON SEQUENCE ledger.consumers_id_seq IS 'consumer ids';
COMMENT ON TABLE ledger.consumers IS 'readers of ledger.events and their positions; written by the consumer functions';
SELECT pg_catalog.pg_extension_config_dump('ledger.consumers', '');
SELECT pg_catalog.pg_extension_config_dump('ledger.consumers_id_seq', '');

CREATE TRIGGER consumers_guard
    BEFORE INSERT OR UPDATE OR DELETE ON ledger.consumers
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history();
CREATE TRIGGER consumers_guard_truncate
    BEFORE TRUNCATE ON ledger.consumers
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history();

CREATE FUNCTION ledger.set_book_events(book_id bigint, enabled boolean)
RETURNS boolean
AS 'MODULE_PATHNAME', 'ledger_set_book_events'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.set_book_events(bigint, boolean) IS
    'turn a book''s events on or off; returns whether they were on';
REVOKE ALL ON FUNCTION ledger.set_book_events(bigint, boolean) FROM PUBLIC;

CREATE FUNCTION ledger.create_consumer(name text, books bigint[] DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'ledger_create_consumer'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.create_consumer(text, bigint[]) IS
    'create a reader of the events of some books (NULL: all), starting now';
REVOKE ALL ON FUNCTION ledger.create_consumer(text, bigint[]) FROM PUBLIC;

CREATE FUNCTION ledger.drop_consumer(name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'ledger_drop_consumer'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.drop_consumer(text) IS 'remove a consumer; returns whether it existed';
REVOKE ALL ON FUNCTION ledger.drop_consumer(text) FROM PUBLIC;

CREATE FUNCTION ledger.next_events(consumer text, max integer DEFAULT 100)
RETURNS SETOF ledger.events
AS 'MODULE_PATHNAME', 'ledger_next_events'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.next_events(text, integer) IS
    'the next events after the consumer''s position, in order; the same again until acknowledged';
REVOKE ALL ON FUNCTION ledger.next_events(text, integer) FROM PUBLIC;

CREATE FUNCTION ledger.ack_events(consumer text, up_to bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'ledger_ack_events'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.ack_events(text, bigint) IS
    'move the consumer past the event of this id; returns whether it moved';
REVOKE ALL ON FUNCTION ledger.ack_events(text, bigint) FROM PUBLIC;

CREATE FUNCTION ledger.prune_events()
RETURNS bigint
AS 'MODULE_PATHNAME', 'ledger_prune_events'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.prune_events() IS
    'remove the events every consumer has acknowledged; returns how many';
REVOKE ALL ON FUNCTION ledger.prune_events() FROM PUBLIC;

-- ===========================================================================
-- balance monitors: an event when a balance crosses a threshold
-- ===========================================================================

CREATE SEQUENCE ledger.monitors_id_seq;
-- A condition on an account's balance, checked by every call that writes
-- the account: when the call makes it true (it was false before the call),
-- the call writes a monitor_fired event in the account's book.
CREATE TABLE ledger.monitors (
    id          bigint PRIMARY KEY
                DEFAULT pg_catalog.nextval('ledger.monitors_id_seq'::pg_catalog.regclass),
    account_id  bigint NOT NULL,
    book_id     bigint NOT NULL,
    name        text,
    balance     text NOT NULL
                CHECK (balance OPERATOR(pg_catalog.=) ANY (ARRAY['posted', 'available'])),
    op          text NOT NULL
                CHECK (op OPERATOR(pg_catalog.=) ANY (ARRAY['<', '<=', '>=', '>'])),
    threshold   ledger.amount NOT NULL,
    created_by  regrole NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX monitors_account_id_idx ON ledger.monitors (account_id);
ALTER SEQUENCE ledger.monitors_id_seq OWNED BY ledger.monitors.id;
COMMENT ON TABLE ledger.monitors IS 'balance monitors; written by ledger.create_monitor and ledger.drop_monitor';
COMMENT ON SEQUENCE ledger.monitors_id_seq IS 'monitor ids';
SELECT pg_catalog.pg_extension_config_dump('ledger.monitors', '');
SELECT pg_catalog.pg_extension_config_dump('ledger.monitors_id_seq', '');

CREATE TRIGGER monitors_guard
    BEFORE INSERT OR UPDATE OR DELETE ON ledger.monitors
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history();
CREATE TRIGGER monitors_guard_truncate
    BEFORE TRUNCATE ON ledger.monitors
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history();

CREATE FUNCTION ledger.create_monitor(account_id bigint,
                                      balance text,
                                      op text,
                                      threshold ledger.amount,
                                      name text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'ledger_create_monitor'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.create_monitor(bigint, text, text, ledger.amount, text) IS
    'watch an account''s posted or available balance against a threshold; returns the monitor''s id';
REVOKE ALL ON FUNCTION ledger.create_monitor(bigint, text, text, ledger.amount, text) FROM PUBLIC;

CREATE FUNCTION ledger.drop_monitor(monitor_id bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'ledger_drop_monitor'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.drop_monitor(bigint) IS 'remove a monitor; returns whether it existed';
REVOKE ALL ON FUNCTION ledger.drop_monitor(bigint) FROM PUBLIC;
