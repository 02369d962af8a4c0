/* ledger--0.1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION ledger" to load this file. \quit

-- The extension's functions run with its owner's rights and name their
-- tables ledger.<table>.  A schema "ledger" created beforehand by another
-- role would let that role drop or replace those tables, so only a schema
-- owned by the installing role is accepted.
DO $guard$
BEGIN
    IF (SELECT n.nspowner FROM pg_catalog.pg_namespace AS n
         WHERE n.nspname OPERATOR(pg_catalog.=) 'ledger')
       OPERATOR(pg_catalog.<>)
       (SELECT r.oid FROM pg_catalog.pg_roles AS r
         WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'insufficient_privilege',
            MESSAGE = 'schema "ledger" is owned by another role',
            HINT = 'Drop the schema, or let its owner create the extension.';
    END IF;
END
$guard$;

-- ===========================================================================
-- ledger.amount: signed 128-bit integer of minor units
-- ===========================================================================

-- A shell type first, so that the I/O functions can name it.
CREATE TYPE ledger.amount;

CREATE FUNCTION ledger.amount_in(pg_catalog.cstring) RETURNS ledger.amount
AS 'MODULE_PATHNAME', 'ledger_amount_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger.amount_in(pg_catalog.cstring) IS 'read an amount from its text form, a decimal integer of minor units';

CREATE FUNCTION ledger.amount_out(ledger.amount) RETURNS pg_catalog.cstring
AS 'MODULE_PATHNAME', 'ledger_amount_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger.amount_out(ledger.amount) IS 'write an amount as a decimal integer of minor units';

CREATE FUNCTION ledger.amount_recv(pg_catalog.internal) RETURNS ledger.amount
AS 'MODULE_PATHNAME', 'ledger_amount_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger.amount_recv(pg_catalog.internal) IS 'read an amount from its binary form, two big-endian 64-bit halves';

CREATE FUNCTION ledger.amount_send(ledger.amount) RETURNS pg_catalog.bytea
AS 'MODULE_PATHNAME', 'ledger_amount_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger.amount_send(ledger.amount) IS 'write an amount in its binary form, two big-endian 64-bit halves';

CREATE TYPE ledger.amount (
    INTERNALLENGTH = 16,
    INPUT = ledger.amount_in,
    OUTPUT = ledger.amount_out,
    RECEIVE = ledger.amount_recv,
    SEND = ledger.amount_send,
    ALIGNMENT = double,
    STORAGE = plain,
    -- numeric category: coalesce(sum(a), 0), CASE and UNION can mix an
    -- amount with an integer (which converts to the amount)
    CATEGORY = 'N'
);
COMMENT ON TYPE ledger.amount IS 'signed 128-bit integer count of minor units, with overflow-checked arithmetic';

-- Casts.  Integers always fit, so they convert implicitly; an amount
-- converts implicitly to numeric, which is exact and lets an amount be
-- compared with a decimal literal.  numeric and bigint are assignment casts
-- because they can fail (a fraction, or a value out of range).
CREATE FUNCTION ledger.amount_from_int2(pg_catalog.int2) RETURNS ledger.amount
AS 'MODULE_PATHNAME', 'ledger_amount_from_int2'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger.amount_from_int2(pg_catalog.int2) IS 'convert a smallint to an amount';

CREATE FUNCTION ledger.amount_from_int4(pg_catalog.int4) RETURNS ledger.amount
AS 'MODULE_PATHNAME', 'ledger_amount_from_int4'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger.amount_from_int4(pg_catalog.int4) IS 'convert an integer to an amount';

CREATE FUNCTION ledger.amount_from_int8(pg_catalog.int8) RETURNS ledger.amount
AS 'MODULE_PATHNAME', 'ledger_amount_from_int8'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger.amount_from_int8(pg_catalog.int8) IS 'convert a bigint to an amount';

CREATE FUNCTION ledger.amount_from_numeric(pg_catalog.numeric) RETURNS ledger.amount
AS 'MODULE_PATHNAME', 'ledger_amount_from_numeric'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger.amount_from_numeric(pg_catalog.numeric) IS 'convert a whole numeric to an amount; refuses a fraction rather than rounding';

CREATE FUNCTION ledger.amount_to_numeric(ledger.amount) RETURNS pg_catalog.numeric
AS 'MODULE_PATHNAME', 'ledger_amount_to_numeric'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger.amount_to_numeric(ledger.amount) IS 'convert an amount to numeric, exactly';

CREATE FUNCTION ledger.amount_to_int8(ledger.amount) RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'ledger_amount_to_int8'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger.amount_to_int8(ledger.amount) IS 'convert an amount to bigint; fails if it is out of range';

CREATE CAST (pg_catalog.int2 AS ledger.amount)
    WITH FUNCTION ledger.amount_from_int2(pg_catalog.int2) AS IMPLICIT;
CREATE CAST (pg_catalog.int4 AS ledger.amount)
    WITH FUNCTION ledger.amount_from_int4(pg_catalog.int4) AS IMPLICIT;
CREATE CAST (pg_catalog.int8 AS ledger.amount)
    WITH FUNCTION ledger.amount_from_int8(pg_catalog.int8) AS IMPLICIT;
CREATE CAST (pg_catalog.numeric AS ledger.amount)
    WITH FUNCTION ledger.amount_from_numeric(pg_catalog.numeric) AS ASSIGNMENT;
CREATE CAST (ledger.amount AS pg_catalog.numeric)
    WITH FUNCTION ledger.amount_to_numeric(ledger.amount) AS IMPLICIT;
CREATE CAST (ledger.amount AS pg_catalog.int8)
    WITH FUNCTION ledger.amount_to_int8(ledger.amount) AS ASSIGNMENT;
COMMENT ON CAST (pg_catalog.int2 AS ledger.amount) IS 'implicit: every smallint is an amount';
COMMENT ON CAST (pg_catalog.int4 AS ledger.amount) IS 'implicit: every integer is an amount';
COMMENT ON CAST (pg_catalog.int8 AS ledger.amount) IS 'implicit: every bigint is an amount';
COMMENT ON CAST (pg_catalog.numeric AS ledger.amount) IS
    'on assignment: refuses a fractional part or a value out of range, never rounds';
COMMENT ON CAST (ledger.amount AS pg_catalog.numeric) IS 'implicit and exact: lets amounts compare with numeric literals';
COMMENT ON CAST (ledger.amount AS pg_catalog.int8) IS 'on assignment: fails when the amount is out of the bigint range';

-- Arithmetic: exact, and an overflow is an error (SQLSTATE 22003).
CREATE FUNCTION ledger.amount_pl(ledger.amount, ledger.amount) RETURNS ledger.amount
AS 'MODULE_PATHNAME', 'ledger_amount_pl'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger.amount_pl(ledger.amount, ledger.amount) IS 'add two amounts; fails on overflow';

CREATE FUNCTION ledger.amount_mi(ledger.amount, ledger.amount) RETURNS ledger.amount
AS 'MODULE_PATHNAME', 'ledger_amount_mi'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger.amount_mi(ledger.amount, ledger.amount) IS 'subtract two amounts; fails on overflow';

CREATE FUNCTION ledger.amount_mul(ledger.amount, ledger.amount) RETURNS ledger.amount
AS 'MODULE_PATHNAME', 'ledger_amount_mul'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger.amount_mul(ledger.amount, ledger.amount) IS 'multiply two amounts; fails on overflow';

CREATE FUNCTION ledger.amount_div(ledger.amount, ledger.amount) RETURNS ledger.amount
AS 'MODULE_PATHNAME', 'ledger_amount_div'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger.amount_div(ledger.amount, ledger.amount) IS 'divide two amounts, truncating toward zero; fails on division by zero or overflow';

CREATE FUNCTION ledger.amount_mod(ledger.amount, ledger.amount) RETURNS ledger.amount
AS 'MODULE_PATHNAME', 'ledger_amount_mod'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger.amount_mod(ledger.amount, ledger.amount) IS 'remainder of dividing two amounts, with the sign of the dividend; fails on division by zero';

CREATE FUNCTION ledger.amount_uminus(ledger.amount) RETURNS ledger.amount
AS 'MODULE_PATHNAME', 'ledger_amount_uminus'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger.amount_uminus(ledger.amount) IS 'negate an amount; fails for the minimum amount';

CREATE OPERATOR ledger.+ (
    LEFTARG = ledger.amount, RIGHTARG = ledger.amount,
    FUNCTION = ledger.amount_pl,
    COMMUTATOR = OPERATOR(ledger.+)
);
COMMENT ON OPERATOR ledger.+ (ledger.amount, ledger.amount) IS 'add';

CREATE OPERATOR ledger.- (
    LEFTARG = ledger.amount, RIGHTARG = ledger.amount,
    FUNCTION = ledger.amount_mi
);
COMMENT ON OPERATOR ledger.- (ledger.amount, ledger.amount) IS 'subtract';

CREATE OPERATOR ledger.* (
    LEFTARG = ledger.amount, RIGHTARG = ledger.amount,
    FUNCTION = ledger.amount_mul,
    COMMUTATOR = OPERATOR(ledger.*)
);
COMMENT ON OPERATOR ledger.* (ledger.amount, ledger.amount) IS 'multiply';

CREATE OPERATOR ledger./ (
    LEFTARG = ledger.amount, RIGHTARG = ledger.amount,
    FUNCTION = ledger.amount_div
);
COMMENT ON OPERATOR ledger./ (ledger.amount, ledger.amount) IS 'divide, truncating toward zero';

CREATE OPERATOR ledger.% (
    LEFTARG = ledger.amount, RIGHTARG = ledger.amount,
    FUNCTION = ledger.amount_mod
);
COMMENT ON OPERATOR ledger.% (ledger.amount, ledger.amount) IS 'remainder';

CREATE OPERATOR ledger.- (
    RIGHTARG = ledger.amount,
    FUNCTION = ledger.amount_uminus
);
COMMENT ON OPERATOR ledger.- (NONE, ledger.amount) IS 'negate';

-- Comparison, and the btree and hash support that lets amounts be indexed,
-- sorted, grouped and joined.
CREATE FUNCTION ledger.amount_eq(ledger.amount, ledger.amount) RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'ledger_amount_eq'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION ledger.amount_eq(ledger.amount, ledger.amount) IS 'true if the amounts are equal';

CREATE FUNCTION ledger.amount_ne(ledger.amount, ledger.amount) RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'ledger_amount_ne'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION ledger.amount_ne(ledger.amount, ledger.amount) IS 'true if the amounts differ';

CREATE FUNCTION ledger.amount_lt(ledger.amount, ledger.amount) RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'ledger_amount_lt'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION ledger.amount_lt(ledger.amount, ledger.amount) IS 'true if the first amount is less than the second';

CREATE FUNCTION ledger.amount_le(ledger.amount, ledger.amount) RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'ledger_amount_le'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION ledger.amount_le(ledger.amount, ledger.amount) IS 'true if the first amount is less than or equal to the second';

CREATE FUNCTION ledger.amount_gt(ledger.amount, ledger.amount) RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'ledger_amount_gt'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION ledger.amount_gt(ledger.amount, ledger.amount) IS 'true if the first amount is greater than the second';

CREATE FUNCTION ledger.amount_ge(ledger.amount, ledger.amount) RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'ledger_amount_ge'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION ledger.amount_ge(ledger.amount, ledger.amount) IS 'true if the first amount is greater than or equal to the second';

CREATE FUNCTION ledger.amount_cmp(ledger.amount, ledger.amount) RETURNS pg_catalog.int4
AS 'MODULE_PATHNAME', 'ledger_amount_cmp'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION ledger.amount_cmp(ledger.amount, ledger.amount) IS 'btree support: -1, 0 or 1 as the first amount is less than, equal to or greater than the second';

CREATE FUNCTION ledger.amount_hash(ledger.amount) RETURNS pg_catalog.int4
AS 'MODULE_PATHNAME', 'ledger_amount_hash'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION ledger.amount_hash(ledger.amount) IS 'hash support: 32-bit hash of an amount';

CREATE FUNCTION ledger.amount_hash_extended(ledger.amount, pg_catalog.int8) RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'ledger_amount_hash_extended'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION ledger.amount_hash_extended(ledger.amount, pg_catalog.int8) IS 'hash support: seeded 64-bit hash of an amount';

CREATE OPERATOR ledger.= (
    LEFTARG = ledger.amount, RIGHTARG = ledger.amount,
    FUNCTION = ledger.amount_eq,
    COMMUTATOR = OPERATOR(ledger.=), NEGATOR = OPERATOR(ledger.<>),
    RESTRICT = pg_catalog.eqsel, JOIN = pg_catalog.eqjoinsel,
    HASHES, MERGES
);
COMMENT ON OPERATOR ledger.= (ledger.amount, ledger.amount) IS 'equal';

CREATE OPERATOR ledger.<> (
    LEFTARG = ledger.amount, RIGHTARG = ledger.amount,
    FUNCTION = ledger.amount_ne,
    COMMUTATOR = OPERATOR(ledger.<>), NEGATOR = OPERATOR(ledger.=),
    RESTRICT = pg_catalog.neqsel, JOIN = pg_catalog.neqjoinsel
);
COMMENT ON OPERATOR ledger.<> (ledger.amount, ledger.amount) IS 'not equal';

CREATE OPERATOR ledger.< (
    LEFTARG = ledger.amount, RIGHTARG = ledger.amount,
    FUNCTION = ledger.amount_lt,
    COMMUTATOR = OPERATOR(ledger.>), NEGATOR = OPERATOR(ledger.>=),
    RESTRICT = pg_catalog.scalarltsel, JOIN = pg_catalog.scalarltjoinsel
);
COMMENT ON OPERATOR ledger.< (ledger.amount, ledger.amount) IS 'less than';

CREATE OPERATOR ledger.<= (
    LEFTARG = ledger.amount, RIGHTARG = ledger.amount,
    FUNCTION = ledger.amount_le,
    COMMUTATOR = OPERATOR(ledger.>=), NEGATOR = OPERATOR(ledger.>),
    RESTRICT = pg_catalog.scalarlesel, JOIN = pg_catalog.scalarlejoinsel
);
COMMENT ON OPERATOR ledger.<= (ledger.amount, ledger.amount) IS 'less than or equal';

CREATE OPERATOR ledger.> (
    LEFTARG = ledger.amount, RIGHTARG = ledger.amount,
    FUNCTION = ledger.amount_gt,
    COMMUTATOR = OPERATOR(ledger.<), NEGATOR = OPERATOR(ledger.<=),
    RESTRICT = pg_catalog.scalargtsel, JOIN = pg_catalog.scalargtjoinsel
);
COMMENT ON OPERATOR ledger.> (ledger.amount, ledger.amount) IS 'greater than';

CREATE OPERATOR ledger.>= (
    LEFTARG = ledger.amount, RIGHTARG = ledger.amount,
    FUNCTION = ledger.amount_ge,
    COMMUTATOR = OPERATOR(ledger.<=), NEGATOR = OPERATOR(ledger.<),
    RESTRICT = pg_catalog.scalargesel, JOIN = pg_catalog.scalargejoinsel
);
COMMENT ON OPERATOR ledger.>= (ledger.amount, ledger.amount) IS 'greater than or equal';

CREATE OPERATOR CLASS ledger.amount_ops
    DEFAULT FOR TYPE ledger.amount USING btree AS
        OPERATOR 1 ledger.<,
        OPERATOR 2 ledger.<=,
        OPERATOR 3 ledger.=,
        OPERATOR 4 ledger.>=,
        OPERATOR 5 ledger.>,
        FUNCTION 1 ledger.amount_cmp(ledger.amount, ledger.amount);
COMMENT ON OPERATOR CLASS ledger.amount_ops USING btree IS 'default btree operator class for ledger.amount';

CREATE OPERATOR CLASS ledger.amount_ops
    DEFAULT FOR TYPE ledger.amount USING hash AS
        OPERATOR 1 ledger.=,
        FUNCTION 1 ledger.amount_hash(ledger.amount),
        FUNCTION 2 ledger.amount_hash_extended(ledger.amount, pg_catalog.int8);
COMMENT ON OPERATOR CLASS ledger.amount_ops USING hash IS 'default hash operator class for ledger.amount';
COMMENT ON OPERATOR FAMILY ledger.amount_ops USING btree IS 'btree operators of ledger.amount';
COMMENT ON OPERATOR FAMILY ledger.amount_ops USING hash IS 'hash operators of ledger.amount';

-- Aggregates.  They share their names with the built-in ones, so that
-- sum(a) over an amount column finds the exact, overflow-checked version.
CREATE FUNCTION ledger.amount_smaller(ledger.amount, ledger.amount) RETURNS ledger.amount
AS 'MODULE_PATHNAME', 'ledger_amount_smaller'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger.amount_smaller(ledger.amount, ledger.amount) IS 'the lesser of two amounts';

CREATE FUNCTION ledger.amount_larger(ledger.amount, ledger.amount) RETURNS ledger.amount
AS 'MODULE_PATHNAME', 'ledger_amount_larger'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger.amount_larger(ledger.amount, ledger.amount) IS 'the greater of two amounts';

CREATE FUNCTION ledger.amount_sum_accum(ledger.amount, ledger.amount) RETURNS ledger.amount
AS 'MODULE_PATHNAME', 'ledger_amount_sum_accum'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger.amount_sum_accum(ledger.amount, ledger.amount) IS 'sum() transition and combine function: add two amounts; fails on overflow';

CREATE FUNCTION ledger.amount_avg_accum(pg_catalog.internal, ledger.amount) RETURNS pg_catalog.internal
AS 'MODULE_PATHNAME', 'ledger_amount_avg_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ledger.amount_avg_accum(pg_catalog.internal, ledger.amount) IS 'avg() transition function: add an amount to the exact sum and count it';

CREATE FUNCTION ledger.amount_avg_combine(pg_catalog.internal, pg_catalog.internal) RETURNS pg_catalog.internal
AS 'MODULE_PATHNAME', 'ledger_amount_avg_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ledger.amount_avg_combine(pg_catalog.internal, pg_catalog.internal) IS 'avg() combine function: merge two partial states';

CREATE FUNCTION ledger.amount_avg_serialize(pg_catalog.internal) RETURNS pg_catalog.bytea
AS 'MODULE_PATHNAME', 'ledger_amount_avg_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger.amount_avg_serialize(pg_catalog.internal) IS 'avg() serial function: a partial state as bytea';

CREATE FUNCTION ledger.amount_avg_deserialize(pg_catalog.bytea, pg_catalog.internal) RETURNS pg_catalog.internal
AS 'MODULE_PATHNAME', 'ledger_amount_avg_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger.amount_avg_deserialize(pg_catalog.bytea, pg_catalog.internal) IS 'avg() deserial function: a partial state from bytea';

CREATE FUNCTION ledger.amount_avg_final(pg_catalog.internal) RETURNS pg_catalog.numeric
AS 'MODULE_PATHNAME', 'ledger_amount_avg_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ledger.amount_avg_final(pg_catalog.internal) IS 'avg() final function: the exact sum divided by the count, or NULL';

CREATE AGGREGATE ledger.sum(ledger.amount) (
    SFUNC = ledger.amount_sum_accum,
    STYPE = ledger.amount,
    COMBINEFUNC = ledger.amount_sum_accum,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ledger.sum(ledger.amount) IS 'exact sum of amounts; fails on overflow; NULL for no rows';

CREATE AGGREGATE ledger.min(ledger.amount) (
    SFUNC = ledger.amount_smaller,
    STYPE = ledger.amount,
    COMBINEFUNC = ledger.amount_smaller,
    SORTOP = OPERATOR(ledger.<),
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ledger.min(ledger.amount) IS 'least amount';

CREATE AGGREGATE ledger.max(ledger.amount) (
    SFUNC = ledger.amount_larger,
    STYPE = ledger.amount,
    COMBINEFUNC = ledger.amount_larger,
    SORTOP = OPERATOR(ledger.>),
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ledger.max(ledger.amount) IS 'greatest amount';

CREATE AGGREGATE ledger.avg(ledger.amount) (
    SFUNC = ledger.amount_avg_accum,
    STYPE = pg_catalog.internal,
    SSPACE = 24,
    FINALFUNC = ledger.amount_avg_final,
    COMBINEFUNC = ledger.amount_avg_combine,
    SERIALFUNC = ledger.amount_avg_serialize,
    DESERIALFUNC = ledger.amount_avg_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ledger.avg(ledger.amount) IS 'exact average of amounts as numeric; NULL for no rows';

-- Decimal text at a scale: the edge between minor units and what people read.
CREATE FUNCTION ledger.format_amount(a ledger.amount, scale pg_catalog.int4) RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'ledger_format_amount'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger.format_amount(ledger.amount, pg_catalog.int4) IS 'write an amount as a decimal with scale (0 to 38) fractional digits: 12345 at scale 2 is 123.45';

CREATE FUNCTION ledger.parse_amount(t pg_catalog.text, scale pg_catalog.int4) RETURNS ledger.amount
AS 'MODULE_PATHNAME', 'ledger_parse_amount'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger.parse_amount(pg_catalog.text, pg_catalog.int4) IS 'read a decimal with at most scale (0 to 38) fractional digits as an amount: 123.45 at scale 2 is 12345; never rounds';

-- ===========================================================================
-- ledger objects: assets, accounts, transfers, entries
-- ===========================================================================

-- Assets: the unit an account counts in, and the number of decimal places of
-- its display form (USD 2, BTC 8, ETH 18).  Amounts are always minor units.
CREATE TABLE ledger.assets (
    code        text PRIMARY KEY,
    scale       integer NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT assets_code_check
        CHECK (code OPERATOR(pg_catalog.~) '^[A-Z0-9_]{1,16}$'),
    CONSTRAINT assets_scale_check
        CHECK (scale OPERATOR(pg_catalog.>=) 0 AND scale OPERATOR(pg_catalog.<=) 38)
);
COMMENT ON TABLE ledger.assets IS 'assets accounts are kept in; written by ledger.create_asset';
SELECT pg_catalog.pg_extension_config_dump('ledger.assets', '');

CREATE SEQUENCE ledger.accounts_id_seq;
-- Balances are kept as four running sums; the posted balance is derived from
-- the two posted sums according to normal_balance.  fillfactor leaves room
-- for HOT updates: every movement rewrites the row, never an indexed column.
-- The columns a transfer changes come last and together: PostgreSQL logs an
-- update as the bytes between the prefix and suffix it shares with the old
-- row, so this order keeps a transfer's WAL small.
CREATE TABLE ledger.accounts (
    id              bigint PRIMARY KEY
                    DEFAULT pg_catalog.nextval('ledger.accounts_id_seq'::pg_catalog.regclass),
    asset           text NOT NULL REFERENCES ledger.assets (code),
    name            text UNIQUE,
    normal_balance  text NOT NULL,
    min_balance     ledger.amount,
    max_balance     ledger.amount,
    closed          boolean NOT NULL DEFAULT false,
    metadata        jsonb,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    debits_pending  ledger.amount NOT NULL DEFAULT '0'::ledger.amount,
    credits_pending ledger.amount NOT NULL DEFAULT '0'::ledger.amount,
    holds_expire_at timestamptz,
    debits_posted   ledger.amount NOT NULL DEFAULT '0'::ledger.amount,
    credits_posted  ledger.amount NOT NULL DEFAULT '0'::ledger.amount,
    version         bigint NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    entry_hash      bytea,
    CONSTRAINT accounts_normal_balance_check
        CHECK (normal_balance OPERATOR(pg_catalog.=) ANY (ARRAY['credit', 'debit']))
) WITH (fillfactor = 80);
ALTER SEQUENCE ledger.accounts_id_seq OWNED BY ledger.accounts.id;
CREATE INDEX accounts_asset_idx ON ledger.accounts (asset);
CREATE INDEX accounts_metadata_idx ON ledger.accounts
    USING gin (metadata pg_catalog.jsonb_path_ops) WHERE metadata IS NOT NULL;
COMMENT ON TABLE ledger.accounts IS 'accounts and their running balances; written only by the ledger functions';
SELECT pg_catalog.pg_extension_config_dump('ledger.accounts', '');
SELECT pg_catalog.pg_extension_config_dump('ledger.accounts_id_seq', '');
COMMENT ON SEQUENCE ledger.accounts_id_seq IS 'account ids';

CREATE SEQUENCE ledger.transfers_id_seq;
-- One row per movement of money.  No foreign keys: rows are written only by
-- the extension, under the accounts' locks, and ledger.verify() checks the
-- references; RI triggers would add two lookups to every transfer.
CREATE TABLE ledger.transfers (
    id                  bigint PRIMARY KEY
                        DEFAULT pg_catalog.nextval('ledger.transfers_id_seq'::pg_catalog.regclass),
    debit_account_id    bigint NOT NULL,
    credit_account_id   bigint NOT NULL,
    amount              ledger.amount NOT NULL,
    idempotency_key     text,
    description         text,
    metadata            jsonb,
    created_at          timestamptz NOT NULL,
    hold_id             bigint,
    reverses_transfer_id bigint
);
ALTER SEQUENCE ledger.transfers_id_seq OWNED BY ledger.transfers.id;
-- Partial: most transfers carry no key, and need no entry in this index.
CREATE UNIQUE INDEX transfers_idempotency_key_key ON ledger.transfers (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX transfers_created_at_idx ON ledger.transfers (created_at);
CREATE INDEX transfers_hold_id_idx ON ledger.transfers (hold_id) WHERE hold_id IS NOT NULL;
CREATE INDEX transfers_reverses_transfer_id_idx ON ledger.transfers (reverses_transfer_id)
    WHERE reverses_transfer_id IS NOT NULL;
CREATE INDEX transfers_metadata_idx ON ledger.transfers
    USING gin (metadata pg_catalog.jsonb_path_ops) WHERE metadata IS NOT NULL;
COMMENT ON TABLE ledger.transfers IS 'append-only record of every transfer';
SELECT pg_catalog.pg_extension_config_dump('ledger.transfers', '');
SELECT pg_catalog.pg_extension_config_dump('ledger.transfers_id_seq', '');
COMMENT ON SEQUENCE ledger.transfers_id_seq IS 'transfer ids';

CREATE SEQUENCE ledger.entries_id_seq;
-- One row per account per transfer.  account_version numbers an account's
-- entries 1, 2, 3... without gaps, and (account_id, account_version) is the
-- key: entries are reached by account or by transfer, so id, kept for
-- reference, needs no index of its own.  balance_after is the posted balance
-- right after the entry, so a balance at any time is one index probe.  hash is
-- SHA-256 over the previous entry's hash of the same account and this
-- entry's fields, so an edit anywhere in an account's history shows.
CREATE TABLE ledger.entries (
    id              bigint NOT NULL
                    DEFAULT pg_catalog.nextval('ledger.entries_id_seq'::pg_catalog.regclass),
    transfer_id     bigint NOT NULL,
    account_id      bigint NOT NULL,
    account_version bigint NOT NULL,
    direction       text NOT NULL,
    amount          ledger.amount NOT NULL,
    balance_after   ledger.amount NOT NULL,
    created_at      timestamptz NOT NULL,
    hash            bytea NOT NULL,
    CONSTRAINT entries_pkey PRIMARY KEY (account_id, account_version),
    CONSTRAINT entries_direction_check
        CHECK (direction OPERATOR(pg_catalog.=) ANY (ARRAY['debit', 'credit']))
);
ALTER SEQUENCE ledger.entries_id_seq OWNED BY ledger.entries.id;
CREATE INDEX entries_account_created_at_idx
    ON ledger.entries (account_id, created_at, account_version);
CREATE INDEX entries_transfer_id_idx ON ledger.entries (transfer_id);
COMMENT ON TABLE ledger.entries IS 'append-only debit and credit entries, one per account per transfer';
SELECT pg_catalog.pg_extension_config_dump('ledger.entries', '');
SELECT pg_catalog.pg_extension_config_dump('ledger.entries_id_seq', '');
COMMENT ON SEQUENCE ledger.entries_id_seq IS 'entry ids';

CREATE SEQUENCE ledger.hold_records_id_seq;
-- One row per hold.  The facts of a hold never change; its resolution is
-- recorded once, by the extension, when it leaves 'pending'.  Each side's
-- reservation is released with the account it sits on, so that an expired
-- hold can be released on one account without waiting for the other's lock:
-- an account's pending column is the sum of the holds reserved on its side.
CREATE TABLE ledger.hold_records (
    id                  bigint PRIMARY KEY
                        DEFAULT pg_catalog.nextval('ledger.hold_records_id_seq'::pg_catalog.regclass),
    debit_account_id    bigint NOT NULL,
    credit_account_id   bigint NOT NULL,
    amount              ledger.amount NOT NULL,
    expires_at          timestamptz,
    idempotency_key     text,
    description         text,
    metadata            jsonb,
    created_at          timestamptz NOT NULL,
    status              text NOT NULL DEFAULT 'pending',
    captured_amount     ledger.amount,
    capture_transfer_id bigint,
    resolved_at         timestamptz,
    debit_reserved      boolean NOT NULL DEFAULT true,
    credit_reserved     boolean NOT NULL DEFAULT true,
    CONSTRAINT hold_records_status_check
        CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'captured', 'released', 'expired']))
);
ALTER SEQUENCE ledger.hold_records_id_seq OWNED BY ledger.hold_records.id;
CREATE UNIQUE INDEX hold_records_idempotency_key_key ON ledger.hold_records (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX hold_records_debit_reserved_idx
    ON ledger.hold_records (debit_account_id, expires_at) WHERE debit_reserved;
CREATE INDEX hold_records_credit_reserved_idx
    ON ledger.hold_records (credit_account_id, expires_at) WHERE credit_reserved;
CREATE INDEX hold_records_expiry_idx
    ON ledger.hold_records (expires_at) WHERE debit_reserved OR credit_reserved;
COMMENT ON TABLE ledger.hold_records IS
    'holds and their resolution; read them through the view ledger.holds';
SELECT pg_catalog.pg_extension_config_dump('ledger.hold_records', '');
SELECT pg_catalog.pg_extension_config_dump('ledger.hold_records_id_seq', '');
COMMENT ON SEQUENCE ledger.hold_records_id_seq IS 'hold ids';

-- ===========================================================================
-- guards: the tables change only through the ledger functions
-- ===========================================================================

CREATE FUNCTION ledger.guard_history()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ledger_guard_history'
LANGUAGE C;
COMMENT ON FUNCTION ledger.guard_history() IS
    'trigger: rejects UPDATE, DELETE and TRUNCATE of history, and INSERT from outside the ledger functions';

CREATE FUNCTION ledger.guard_accounts()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ledger_guard_accounts'
LANGUAGE C;
COMMENT ON FUNCTION ledger.guard_accounts() IS
    'trigger: rejects direct writes of account balances, limits and state, and re-checks limits on every balance change';

CREATE FUNCTION ledger.guard_assets()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ledger_guard_assets'
LANGUAGE C;
COMMENT ON FUNCTION ledger.guard_assets() IS
    'trigger: rejects direct inserts of assets, and changes or deletion of an asset that accounts use';

-- Triggers fire whatever their function's privileges; nobody needs to call
-- these directly.
REVOKE ALL ON FUNCTION ledger.guard_history() FROM PUBLIC;
REVOKE ALL ON FUNCTION ledger.guard_accounts() FROM PUBLIC;
REVOKE ALL ON FUNCTION ledger.guard_assets() FROM PUBLIC;

-- Statement-level for history: one check per statement keeps the insert path
-- cheap, and UPDATE or DELETE is refused whatever rows it would touch.
CREATE TRIGGER transfers_guard
    BEFORE INSERT OR UPDATE OR DELETE ON ledger.transfers
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history();
CREATE TRIGGER transfers_guard_truncate
    BEFORE TRUNCATE ON ledger.transfers
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history();
CREATE TRIGGER entries_guard
    BEFORE INSERT OR UPDATE OR DELETE ON ledger.entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history();
CREATE TRIGGER entries_guard_truncate
    BEFORE TRUNCATE ON ledger.entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history();

-- Row-level for accounts: the trigger compares old and new values.
CREATE TRIGGER accounts_guard
    BEFORE INSERT OR UPDATE ON ledger.accounts
    FOR EACH ROW EXECUTE FUNCTION ledger.guard_accounts();
CREATE TRIGGER accounts_guard_delete
    BEFORE DELETE OR TRUNCATE ON ledger.accounts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history();

CREATE FUNCTION ledger.guard_holds()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ledger_guard_holds'
LANGUAGE C;
COMMENT ON FUNCTION ledger.guard_holds() IS
    'trigger: lets the ledger functions insert holds and record their resolution once; rejects every other write';

REVOKE ALL ON FUNCTION ledger.guard_holds() FROM PUBLIC;

CREATE TRIGGER hold_records_guard
    BEFORE INSERT OR UPDATE ON ledger.hold_records
    FOR EACH ROW EXECUTE FUNCTION ledger.guard_holds();
CREATE TRIGGER hold_records_guard_delete
    BEFORE DELETE OR TRUNCATE ON ledger.hold_records
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history();

CREATE TRIGGER assets_guard
    BEFORE INSERT OR UPDATE OR DELETE ON ledger.assets
    FOR EACH ROW EXECUTE FUNCTION ledger.guard_assets();

-- ===========================================================================
-- API: assets and accounts
-- ===========================================================================
-- Every function that reads or writes the tables is SECURITY DEFINER with a
-- pinned search_path, and PUBLIC may not execute it: an administrator grants
-- EXECUTE to application roles (docs/operations.md).

CREATE FUNCTION ledger.create_asset(code text, scale integer)
RETURNS text
AS 'MODULE_PATHNAME', 'ledger_create_asset'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.create_asset(text, integer) IS
    'create an asset with the number of decimal places of its display form';
REVOKE ALL ON FUNCTION ledger.create_asset(text, integer) FROM PUBLIC;

CREATE FUNCTION ledger.create_account(asset text,
                                      name text DEFAULT NULL,
                                      normal_balance text DEFAULT 'credit',
                                      min_balance ledger.amount DEFAULT '0'::ledger.amount,
                                      max_balance ledger.amount DEFAULT NULL,
                                      metadata jsonb DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'ledger_create_account'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.create_account(text, text, text, ledger.amount, ledger.amount, jsonb) IS
    'create an account in an asset; returns its id';
REVOKE ALL ON FUNCTION ledger.create_account(text, text, text, ledger.amount, ledger.amount, jsonb) FROM PUBLIC;

CREATE FUNCTION ledger.account_id(name text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'ledger_account_id'
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.account_id(text) IS 'the id of the account with this name';
REVOKE ALL ON FUNCTION ledger.account_id(text) FROM PUBLIC;

CREATE FUNCTION ledger.set_account_limits(account_id bigint,
                                          min_balance ledger.amount,
                                          max_balance ledger.amount)
RETURNS void
AS 'MODULE_PATHNAME', 'ledger_set_account_limits'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.set_account_limits(bigint, ledger.amount, ledger.amount) IS
    'set the lowest and highest balance an account may reach (NULL: unbounded)';
REVOKE ALL ON FUNCTION ledger.set_account_limits(bigint, ledger.amount, ledger.amount) FROM PUBLIC;

CREATE FUNCTION ledger.close_account(account_id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'ledger_close_account'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.close_account(bigint) IS
    'close an account: it takes part in no new movement until reopened';
REVOKE ALL ON FUNCTION ledger.close_account(bigint) FROM PUBLIC;

CREATE FUNCTION ledger.reopen_account(account_id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'ledger_reopen_account'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.reopen_account(bigint) IS 'reopen a closed account';
REVOKE ALL ON FUNCTION ledger.reopen_account(bigint) FROM PUBLIC;

-- ===========================================================================
-- API: transfers and balances
-- ===========================================================================

CREATE FUNCTION ledger.transfer(debit_account_id bigint,
                                credit_account_id bigint,
                                amount ledger.amount,
                                idempotency_key text DEFAULT NULL,
                                description text DEFAULT NULL,
                                metadata jsonb DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'ledger_transfer'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.transfer(bigint, bigint, ledger.amount, text, text, jsonb) IS
    'move an amount from the debit account to the credit account; returns the transfer id';
REVOKE ALL ON FUNCTION ledger.transfer(bigint, bigint, ledger.amount, text, text, jsonb) FROM PUBLIC;

CREATE FUNCTION ledger.balance(account_id bigint,
                               OUT posted ledger.amount,
                               OUT pending_debits ledger.amount,
                               OUT pending_credits ledger.amount,
                               OUT available ledger.amount)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'ledger_balance'
LANGUAGE C STABLE SECURITY DEFINER ROWS 1
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.balance(bigint) IS
    'an account''s posted balance, pending debits and credits, and available balance';
REVOKE ALL ON FUNCTION ledger.balance(bigint) FROM PUBLIC;

-- The same figures for every account, with the display form of each amount.
-- available is the posted balance less pending outflows: debits for a
-- credit-normal account, credits for a debit-normal one.  Holds past their
-- expiry no longer count, even before their release is recorded.
CREATE VIEW ledger.account_balances AS
SELECT a.id AS account_id,
       a.name,
       a.asset,
       b.posted,
       p.pending_debits,
       p.pending_credits,
       b.available,
       pg_catalog.concat(ledger.format_amount(b.posted, s.scale), ' ', a.asset) AS posted_display,
       pg_catalog.concat(ledger.format_amount(b.available, s.scale), ' ', a.asset) AS available_display,
       a.closed
  FROM ledger.accounts AS a
  JOIN ledger.assets AS s ON s.code OPERATOR(pg_catalog.=) a.asset
 CROSS JOIN LATERAL (
       SELECT a.debits_pending OPERATOR(ledger.-) COALESCE(x.debits, '0'::ledger.amount)
                  AS pending_debits,
              a.credits_pending OPERATOR(ledger.-) COALESCE(x.credits, '0'::ledger.amount)
                  AS pending_credits
         FROM (SELECT ledger.sum(h.amount) FILTER (
                          WHERE h.debit_account_id OPERATOR(pg_catalog.=) a.id AND h.debit_reserved) AS debits,
                      ledger.sum(h.amount) FILTER (
                          WHERE h.credit_account_id OPERATOR(pg_catalog.=) a.id AND h.credit_reserved) AS credits
                 FROM ledger.hold_records AS h
                WHERE a.holds_expire_at OPERATOR(pg_catalog.<=) pg_catalog.statement_timestamp()
                  AND ((h.debit_account_id OPERATOR(pg_catalog.=) a.id AND h.debit_reserved)
                       OR (h.credit_account_id OPERATOR(pg_catalog.=) a.id AND h.credit_reserved))
                  AND h.expires_at OPERATOR(pg_catalog.<=) pg_catalog.statement_timestamp()) AS x
       ) AS p
 CROSS JOIN LATERAL (
       SELECT CASE a.normal_balance
                  WHEN 'credit' THEN a.credits_posted OPERATOR(ledger.-) a.debits_posted
                  ELSE a.debits_posted OPERATOR(ledger.-) a.credits_posted
              END AS posted) AS q
 CROSS JOIN LATERAL (
       SELECT q.posted,
              q.posted OPERATOR(ledger.-)
                  CASE a.normal_balance WHEN 'credit' THEN p.pending_debits ELSE p.pending_credits END
                  AS available) AS b;
COMMENT ON VIEW ledger.account_balances IS
    'posted, pending and available balance of every account, with display forms';

-- ===========================================================================
-- API: holds (two-phase transfers)
-- ===========================================================================

CREATE FUNCTION ledger.hold(debit_account_id bigint,
                            credit_account_id bigint,
                            amount ledger.amount,
                            expires_at timestamptz DEFAULT NULL,
                            idempotency_key text DEFAULT NULL,
                            description text DEFAULT NULL,
                            metadata jsonb DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'ledger_hold'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.hold(bigint, bigint, ledger.amount, timestamptz, text, text, jsonb) IS
    'reserve an amount from the debit account for the credit account; returns the hold id';
REVOKE ALL ON FUNCTION ledger.hold(bigint, bigint, ledger.amount, timestamptz, text, text, jsonb) FROM PUBLIC;

CREATE FUNCTION ledger.capture(hold_id bigint,
                               amount ledger.amount DEFAULT NULL,
                               idempotency_key text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'ledger_capture'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.capture(bigint, ledger.amount, text) IS
    'post all or part of a pending hold as a transfer and release the rest; returns the transfer id';
REVOKE ALL ON FUNCTION ledger.capture(bigint, ledger.amount, text) FROM PUBLIC;

CREATE FUNCTION ledger.release(hold_id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'ledger_release'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.release(bigint) IS 'cancel a pending hold';
REVOKE ALL ON FUNCTION ledger.release(bigint) FROM PUBLIC;

CREATE FUNCTION ledger.expire_holds(max_holds integer DEFAULT 1000)
RETURNS integer
AS 'MODULE_PATHNAME', 'ledger_expire_holds'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.expire_holds(integer) IS
    'release expired holds, starting with up to max_holds of them; returns how many holds it released';
REVOKE ALL ON FUNCTION ledger.expire_holds(integer) FROM PUBLIC;

-- A hold past its expiry reads as 'expired' even before the release has
-- been recorded: its reservation no longer counts from that moment.
CREATE VIEW ledger.holds AS
SELECT h.id,
       h.debit_account_id,
       h.credit_account_id,
       h.amount,
       h.captured_amount,
       CASE WHEN h.status OPERATOR(pg_catalog.=) 'pending'
                 AND h.expires_at OPERATOR(pg_catalog.<=) pg_catalog.statement_timestamp()
            THEN 'expired'
            ELSE h.status
       END AS status,
       h.expires_at,
       h.created_at,
       h.resolved_at,
       h.capture_transfer_id,
       h.idempotency_key,
       h.description,
       h.metadata,
       pg_catalog.concat(ledger.format_amount(h.amount, s.scale), ' ', a.asset) AS amount_display
  FROM ledger.hold_records AS h
  JOIN ledger.accounts AS a ON a.id OPERATOR(pg_catalog.=) h.debit_account_id
  JOIN ledger.assets AS s ON s.code OPERATOR(pg_catalog.=) a.asset;
COMMENT ON VIEW ledger.holds IS 'every hold with its status: pending, captured, released or expired';

-- ===========================================================================
-- API: batches and reversals
-- ===========================================================================

-- One transfer of a batch, with the arguments of ledger.transfer().
CREATE TYPE ledger.transfer_request AS (
    debit_account_id    bigint,
    credit_account_id   bigint,
    amount              ledger.amount,
    idempotency_key     text,
    description         text,
    metadata            jsonb
);
COMMENT ON TYPE ledger.transfer_request IS 'one transfer of a ledger.transfer_batch() call';

CREATE FUNCTION ledger.transfer_batch(transfers ledger.transfer_request[])
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'ledger_transfer_batch'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.transfer_batch(ledger.transfer_request[]) IS
    'post many transfers atomically, in order; returns their ids in input order';
REVOKE ALL ON FUNCTION ledger.transfer_batch(ledger.transfer_request[]) FROM PUBLIC;

CREATE FUNCTION ledger.reverse(transfer_id bigint,
                               amount ledger.amount DEFAULT NULL,
                               idempotency_key text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'ledger_reverse'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.reverse(bigint, ledger.amount, text) IS
    'post the opposite of a transfer, in full or in part; returns the reversing transfer id';
REVOKE ALL ON FUNCTION ledger.reverse(bigint, ledger.amount, text) FROM PUBLIC;

-- ===========================================================================
-- API: history and verification
-- ===========================================================================

-- An account's past is read from its entries: each records the balance
-- right after it, so a balance at any moment is one index probe and a
-- statement is a range of versions.  Both read on the caller's snapshot.
CREATE FUNCTION ledger.balance_at(account_id bigint, at timestamptz)
RETURNS ledger.amount
AS 'MODULE_PATHNAME', 'ledger_balance_at'
LANGUAGE C STABLE SECURITY DEFINER PARALLEL SAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.balance_at(bigint, timestamptz) IS
    'an account''s posted balance as of a moment: the balance after its last entry at or before it, 0 before its first';
REVOKE ALL ON FUNCTION ledger.balance_at(bigint, timestamptz) FROM PUBLIC;

CREATE FUNCTION ledger.statement(account_id bigint,
                                 since timestamptz DEFAULT '-infinity'::pg_catalog.timestamptz,
                                 until timestamptz DEFAULT 'infinity'::pg_catalog.timestamptz)
RETURNS TABLE (account_version bigint,
               entry_id bigint,
               transfer_id bigint,
               direction text,
               amount ledger.amount,
               balance_after ledger.amount,
               counterparty_account_id bigint,
               description text,
               created_at timestamptz)
AS 'MODULE_PATHNAME', 'ledger_statement'
LANGUAGE C STABLE SECURITY DEFINER PARALLEL SAFE ROWS 1000
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.statement(bigint, timestamptz, timestamptz) IS
    'an account''s entries with since <= created_at < until in version order, each with its counterparty and description';
REVOKE ALL ON FUNCTION ledger.statement(bigint, timestamptz, timestamptz) FROM PUBLIC;

-- Recomputes balances, sums, versions and the hash chain from the entries
-- and reports each disagreement; no rows means consistent.  Streams the
-- tables, so it runs in bounded memory on any ledger and can be cancelled.
CREATE FUNCTION ledger.verify(account_id bigint DEFAULT NULL)
RETURNS TABLE (account_id bigint, problem text)
AS 'MODULE_PATHNAME', 'ledger_verify'
LANGUAGE C STABLE SECURITY DEFINER PARALLEL RESTRICTED ROWS 10
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ledger.verify(bigint) IS
    'check every account (or one) against its entries, its hash chain and its holds, and every transfer and asset against the entries; returns one row per problem';
REVOKE ALL ON FUNCTION ledger.verify(bigint) FROM PUBLIC;
