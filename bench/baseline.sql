-- bench/baseline.sql - a hand-written SQL ledger for bench/run.sh to race the extension against.
--
-- What a competent developer writes without the extension: the same tables,
-- columns and indexes as schema ledger (sql/ledger--0.1.0.sql and the upgrade
-- scripts after it), amounts as
-- numeric(39,0), and a PL/pgSQL transfer() that checks the arguments, looks
-- up the idempotency key, locks both accounts with SELECT ... FOR UPDATE in
-- id order, checks that they are open, in one asset and within their limits,
-- inserts the transfer and its two entries with running balances, and
-- updates both accounts.  transfer_batch() is the usual loop over
-- transfer() in one transaction.
--
-- Left out on purpose, because the extension does them and a hand-written
-- ledger usually does not: the entries' SHA-256 hash chain, the guard
-- triggers that refuse direct writes, holds.  Foreign keys are left out of
-- transfers and entries as they are in schema ledger, so the race is
-- between the code paths, not between schemas.
--
-- Run by bench/run.sh with psql; every object lives in schema baseline.

CREATE SCHEMA baseline;

CREATE TABLE baseline.assets (
    code        text PRIMARY KEY,
    scale       integer NOT NULL CHECK (scale BETWEEN 0 AND 38),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- fillfactor 80 as in ledger.accounts: room for HOT updates.
CREATE TABLE baseline.accounts (
    id              bigserial PRIMARY KEY,
    asset           text NOT NULL REFERENCES baseline.assets (code),
    name            text UNIQUE,
    normal_balance  text NOT NULL CHECK (normal_balance IN ('credit', 'debit')),
    min_balance     numeric(39,0) DEFAULT 0,
    max_balance     numeric(39,0),
    debits_posted   numeric(39,0) NOT NULL DEFAULT 0,
    credits_posted  numeric(39,0) NOT NULL DEFAULT 0,
    debits_pending  numeric(39,0) NOT NULL DEFAULT 0,
    credits_pending numeric(39,0) NOT NULL DEFAULT 0,
    version         bigint NOT NULL DEFAULT 0,
    closed          boolean NOT NULL DEFAULT false,
    metadata        jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 80);
CREATE INDEX accounts_asset_idx ON baseline.accounts (asset);
CREATE INDEX accounts_metadata_idx ON baseline.accounts
    USING gin (metadata jsonb_path_ops) WHERE metadata IS NOT NULL;

CREATE TABLE baseline.transfers (
    id                   bigserial PRIMARY KEY,
    debit_account_id     bigint NOT NULL,
    credit_account_id    bigint NOT NULL,
    amount               numeric(39,0) NOT NULL,
    idempotency_key      text UNIQUE,
    description          text,
    metadata             jsonb,
    created_at           timestamptz NOT NULL DEFAULT now(),
    hold_id              bigint,
    reverses_transfer_id bigint
);
CREATE INDEX transfers_created_at_idx ON baseline.transfers (created_at);
CREATE INDEX transfers_hold_id_idx ON baseline.transfers (hold_id) WHERE hold_id IS NOT NULL;
CREATE INDEX transfers_reverses_transfer_id_idx ON baseline.transfers (reverses_transfer_id)
    WHERE reverses_transfer_id IS NOT NULL;
CREATE INDEX transfers_metadata_idx ON baseline.transfers
    USING gin (metadata jsonb_path_ops) WHERE metadata IS NOT NULL;

CREATE TABLE baseline.entries (
    id              bigserial PRIMARY KEY,
    transfer_id     bigint NOT NULL,
    account_id      bigint NOT NULL,
    account_version bigint NOT NULL,
    direction       text NOT NULL CHECK (direction IN ('debit', 'credit')),
    amount          numeric(39,0) NOT NULL,
    balance_after   numeric(39,0) NOT NULL,
    created_at      timestamptz NOT NULL,
    UNIQUE (account_id, account_version)
);
CREATE INDEX entries_transfer_id_idx ON baseline.entries (transfer_id);

-- Move amount from the debit account to the credit account; returns the
-- transfer id.  A repeated key with the same arguments returns the first
-- transfer's id.
CREATE FUNCTION baseline.transfer(debit bigint, credit bigint, amount numeric,
                                  key text DEFAULT NULL,
                                  description text DEFAULT NULL,
                                  metadata jsonb DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    first_acc  baseline.accounts;
    second_acc baseline.accounts;
    d          baseline.accounts;
    c          baseline.accounts;
    prior      baseline.transfers;
    d_balance  numeric;
    c_balance  numeric;
    transfer_id bigint;
BEGIN
    IF debit IS NULL OR credit IS NULL OR amount IS NULL THEN
        RAISE EXCEPTION 'debit, credit and amount must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF amount <= 0 OR amount <> trunc(amount) THEN
        RAISE EXCEPTION 'amount must be a positive whole number of minor units, not %', amount
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF debit = credit THEN
        RAISE EXCEPTION 'cannot move money from account % to itself', debit
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF key IS NOT NULL THEN
        SELECT * INTO prior FROM baseline.transfers AS t WHERE t.idempotency_key = key;
        IF FOUND THEN
            IF prior.debit_account_id = debit AND prior.credit_account_id = credit
               AND prior.amount = amount
               AND prior.description IS NOT DISTINCT FROM transfer.description
               AND prior.metadata IS NOT DISTINCT FROM transfer.metadata THEN
                RETURN prior.id;
            END IF;
            RAISE EXCEPTION 'idempotency key "%" was already used with different arguments', key
                USING ERRCODE = 'unique_violation';
        END IF;
    END IF;

    -- Lock in ascending id order, so that two transfers never deadlock.
    SELECT * INTO first_acc FROM baseline.accounts AS a
     WHERE a.id = least(debit, credit) FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % does not exist', least(debit, credit)
            USING ERRCODE = 'no_data_found';
    END IF;
    SELECT * INTO second_acc FROM baseline.accounts AS a
     WHERE a.id = greatest(debit, credit) FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % does not exist', greatest(debit, credit)
            USING ERRCODE = 'no_data_found';
    END IF;
    IF debit < credit THEN
        d := first_acc;
        c := second_acc;
    ELSE
        d := second_acc;
        c := first_acc;
    END IF;

    IF d.closed OR c.closed THEN
        RAISE EXCEPTION 'account % is closed', CASE WHEN d.closed THEN d.id ELSE c.id END
            USING ERRCODE = 'check_violation';
    END IF;
    IF d.asset <> c.asset THEN
        RAISE EXCEPTION 'accounts % and % hold different assets', d.id, c.id
            USING ERRCODE = 'check_violation';
    END IF;

    -- Posted balances after the transfer, by each account's normal balance.
    d.debits_posted := d.debits_posted + amount;
    c.credits_posted := c.credits_posted + amount;
    IF d.normal_balance = 'credit' THEN
        d_balance := d.credits_posted - d.debits_posted;
        -- a debit lowers a credit-normal account: check the available balance
        IF d.min_balance IS NOT NULL AND d_balance - d.debits_pending < d.min_balance THEN
            RAISE EXCEPTION 'account % has insufficient funds', d.id
                USING ERRCODE = 'check_violation';
        END IF;
    ELSE
        d_balance := d.debits_posted - d.credits_posted;
        IF d.max_balance IS NOT NULL AND d_balance + d.debits_pending > d.max_balance THEN
            RAISE EXCEPTION 'account % would exceed its maximum balance', d.id
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    IF c.normal_balance = 'credit' THEN
        c_balance := c.credits_posted - c.debits_posted;
        IF c.max_balance IS NOT NULL AND c_balance + c.credits_pending > c.max_balance THEN
            RAISE EXCEPTION 'account % would exceed its maximum balance', c.id
                USING ERRCODE = 'check_violation';
        END IF;
    ELSE
        c_balance := c.debits_posted - c.credits_posted;
        -- a credit lowers a debit-normal account
        IF c.min_balance IS NOT NULL AND c_balance - c.credits_pending < c.min_balance THEN
            RAISE EXCEPTION 'account % has insufficient funds', c.id
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;

    INSERT INTO baseline.transfers (debit_account_id, credit_account_id, amount,
                                    idempotency_key, description, metadata)
    VALUES (debit, credit, amount, key, transfer.description, transfer.metadata)
    RETURNING id INTO transfer_id;

    INSERT INTO baseline.entries (transfer_id, account_id, account_version, direction,
                                  amount, balance_after, created_at)
    VALUES (transfer_id, d.id, d.version + 1, 'debit', amount, d_balance, now()),
           (transfer_id, c.id, c.version + 1, 'credit', amount, c_balance, now());

    UPDATE baseline.accounts AS a
       SET debits_posted = d.debits_posted, version = d.version + 1, updated_at = now()
     WHERE a.id = d.id;
    UPDATE baseline.accounts AS a
       SET credits_posted = c.credits_posted, version = c.version + 1, updated_at = now()
     WHERE a.id = c.id;

    RETURN transfer_id;
END
$$;

-- Many transfers in one transaction, in order: the plain loop.
CREATE FUNCTION baseline.transfer_batch(debits bigint[], credits bigint[], amounts numeric[])
RETURNS bigint[]
LANGUAGE plpgsql
AS $$
DECLARE
    ids bigint[] := '{}';
BEGIN
    IF cardinality(debits) <> cardinality(credits) OR cardinality(debits) <> cardinality(amounts) THEN
        RAISE EXCEPTION 'debits, credits and amounts must have the same length'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR i IN 1 .. cardinality(debits) LOOP
        ids := ids || baseline.transfer(debits[i], credits[i], amounts[i]);
    END LOOP;
    RETURN ids;
END
$$;
