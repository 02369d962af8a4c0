/* ledger--0.6.0--0.7.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ledger UPDATE TO '0.7.0'" to load this file. \quit

-- ===========================================================================
-- velocity limits: how much and how often, within a rolling window
-- ===========================================================================

-- The velocity limits of an account and what each has counted, in buckets
-- of its window: read and written with the row, under its row lock, by the
-- posting pipeline only.  NULL: the account has none.
ALTER TABLE ledger.accounts ADD COLUMN velocity bytea;
COMMENT ON COLUMN ledger.accounts.velocity IS 'the account''s velocity limits and their windows'' buckets (the ledger''s own format)';

-- The velocity limits that counted a hold when it was placed, as pairs of a
-- limit's id and its bucket (64-bit little-endian integers): what its
-- release or expiry gives back.
ALTER TABLE ledger.hold_records ADD COLUMN velocity bytea;
COMMENT ON COLUMN ledger.hold_records.velocity IS 'velocity limits that counted the hold: pairs of a limit''s id and bucket';

ALTER TABLE ledger.events DROP CONSTRAINT events_kind_check;
ALTER TABLE ledger.events ADD CONSTRAINT events_kind_check
    CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY[
        'transfer_posted', 'reversal_posted',
        'hold_created', 'hold_captured', 'hold_released', 'hold_expired',
        'account_created', 'account_limits_changed', 'account_closed',
        'account_reopened', 'account_hot_changed', 'monitor_fired',
        'velocity_flagged']));

CREATE SEQUENCE ledger.velocity_limits_id_seq;
-- One row per velocity limit, for people and for dropping it; the rule the
-- pipeline enforces is the copy in its account's row.
CREATE TABLE ledger.velocity_limits (
    id          bigint PRIMARY KEY
                DEFAULT pg_catalog.nextval('ledger.velocity_limits_id_seq'::pg_catalog.regclass),
    account_id  bigint NOT NULL,
    book_id     bigint NOT NULL,
    direction   text NOT NULL
                CHECK (direction OPERATOR(pg_catalog.=) ANY (ARRAY['debit', 'credit'])),
    "window"    interval NOT NULL,
    max_amount  ledger.amount,
    max_count   integer,
    action      text NOT NULL
                CHECK (action OPERATOR(pg_catalog.=) ANY (ARRAY['reject', 'flag'])),
    name        text,
    created_by  regrole NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CHECK (max_amount IS NOT NULL OR max_count IS NOT NULL)
);
CREATE INDEX velocity_limits_account_id_idx ON ledger.velocity_limits (account_id);
ALTER SEQUENCE ledger.velocity_limits_id_seq OWNED BY ledger.velocity_limits.id;
COMMENT ON TABLE ledger.velocity_limits IS 'velocity limits; written by ledger.create_velocity_limit and ledger.drop_velocity_limit';
COMMENT ON SEQUENCE ledger.velocity_limits_id_seq IS 'velocity limit ids';
SELECT pg_catalog.pg_extension_config_dump('ledger.velocity_limits', '');
SELECT pg_catalog.pg_extension_config_dump('ledger.velocity_limits_id_seq', '');

CREATE TRIGGER velocity_limits_guard
    BEFORE INSERT OR UPDATE OR DELETE ON ledger.velocity_limits
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history();
CREATE TRIGGER velocity_limits_guard_truncate
    BEFORE TRUNCATE ON ledger.velocity_limits
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history();

CREATE FUNCTION ledger.create_velocity_limit(account_id bigint,
                                             direction text,
                                             "window" interval,
                                             max_amount ledger.amount DEFAULT NULL,
                                             max_count integer DEFAULT NULL,
                                             action text DEFAULT 'reject',
                                             name text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'ledger_create_velocity_limit'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.create_velocity_limit(bigint, text, interval, ledger.amount, integer, text, text) IS
    'limit how much and how often an account is debited or credited within a rolling window; returns the limit''s id';
REVOKE ALL ON FUNCTION ledger.create_velocity_limit(bigint, text, interval, ledger.amount, integer, text, text) FROM PUBLIC;

CREATE FUNCTION ledger.drop_velocity_limit(velocity_limit_id bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'ledger_drop_velocity_limit'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.drop_velocity_limit(bigint) IS 'remove a velocity limit; returns whether it existed';
REVOKE ALL ON FUNCTION ledger.drop_velocity_limit(bigint) FROM PUBLIC;

CREATE FUNCTION ledger.account_velocity(account_id bigint)
RETURNS TABLE (id bigint, direction text, "window" interval, max_amount ledger.amount,
               max_count integer, action text, name text,
               amount_used ledger.amount, count_used bigint)
AS 'MODULE_PATHNAME', 'ledger_account_velocity'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.account_velocity(bigint) IS
    'an account''s velocity limits and what each has counted in its window now';
REVOKE ALL ON FUNCTION ledger.account_velocity(bigint) FROM PUBLIC;
