-- test/pgtap/schema.sql - the shape of the ledger's catalog objects.
--
-- Tables, columns and their types, indexes, guard triggers, the balances
-- view, and the security properties that the API relies on: no function is
-- SECURITY DEFINER (the API runs as its caller, who is checked against
-- ledger.grants), every API function pins its search_path, PUBLIC can
-- neither touch the tables nor execute the API, every function has a comment, and pg_dump keeps the
-- extension's tables and sequences.
BEGIN;
SELECT plan(141);

-- ---------------------------------------------------------------------------
-- Tables, view, sequences, type
-- ---------------------------------------------------------------------------
SELECT has_table('ledger', 'assets', 'table ledger.assets exists');
SELECT has_table('ledger', 'accounts', 'table ledger.accounts exists');
SELECT has_table('ledger', 'transfers', 'table ledger.transfers exists');
SELECT has_table('ledger', 'entries', 'table ledger.entries exists');
SELECT has_table('ledger', 'hot_entries', 'table ledger.hot_entries exists');
SELECT has_table('ledger', 'books', 'table ledger.books exists');
SELECT has_view('ledger', 'account_balances', 'view ledger.account_balances exists');
SELECT has_sequence('ledger', 'accounts_id_seq', 'sequence ledger.accounts_id_seq exists');
SELECT has_sequence('ledger', 'transfers_id_seq', 'sequence ledger.transfers_id_seq exists');
SELECT has_sequence('ledger', 'entries_id_seq', 'sequence ledger.entries_id_seq exists');
SELECT has_sequence('ledger', 'hot_entries_id_seq', 'sequence ledger.hot_entries_id_seq exists');
SELECT has_type('ledger', 'amount', 'type ledger.amount exists');

-- ---------------------------------------------------------------------------
-- Columns: exactly these, with these types
-- ---------------------------------------------------------------------------
SELECT columns_are('ledger', 'assets', ARRAY['code', 'scale', 'created_at'],
                   'ledger.assets has exactly its documented columns');
SELECT col_type_is('ledger', 'assets', 'code', 'text', 'assets.code is text');
SELECT col_type_is('ledger', 'assets', 'scale', 'integer', 'assets.scale is integer');
SELECT col_type_is('ledger', 'assets', 'created_at', 'timestamp with time zone', 'assets.created_at is timestamptz');

SELECT columns_are('ledger', 'accounts',
                   ARRAY['id', 'asset', 'name', 'normal_balance', 'min_balance', 'max_balance',
                         'debits_posted', 'credits_posted', 'debits_pending', 'credits_pending',
                         'version', 'closed', 'metadata', 'created_at', 'updated_at',
                         'holds_expire_at', 'entry_hash', 'hot', 'book_id', 'velocity'],
                   'ledger.accounts has exactly its documented columns');
SELECT col_type_is('ledger', 'accounts', 'id', 'bigint', 'accounts.id is bigint');
SELECT col_type_is('ledger', 'accounts', 'asset', 'text', 'accounts.asset is text');
SELECT col_type_is('ledger', 'accounts', 'name', 'text', 'accounts.name is text');
SELECT col_type_is('ledger', 'accounts', 'normal_balance', 'text', 'accounts.normal_balance is text');
SELECT col_type_is('ledger', 'accounts', 'min_balance', 'ledger.amount', 'accounts.min_balance is ledger.amount');
SELECT col_type_is('ledger', 'accounts', 'max_balance', 'ledger.amount', 'accounts.max_balance is ledger.amount');
SELECT col_type_is('ledger', 'accounts', 'debits_posted', 'ledger.amount', 'accounts.debits_posted is ledger.amount');
SELECT col_type_is('ledger', 'accounts', 'credits_posted', 'ledger.amount', 'accounts.credits_posted is ledger.amount');
SELECT col_type_is('ledger', 'accounts', 'debits_pending', 'ledger.amount', 'accounts.debits_pending is ledger.amount');
SELECT col_type_is('ledger', 'accounts', 'credits_pending', 'ledger.amount', 'accounts.credits_pending is ledger.amount');
SELECT col_type_is('ledger', 'accounts', 'version', 'bigint', 'accounts.version is bigint');
SELECT col_type_is('ledger', 'accounts', 'closed', 'boolean', 'accounts.closed is boolean');
SELECT col_type_is('ledger', 'accounts', 'metadata', 'jsonb', 'accounts.metadata is jsonb');
SELECT col_type_is('ledger', 'accounts', 'created_at', 'timestamp with time zone', 'accounts.created_at is timestamptz');
SELECT col_type_is('ledger', 'accounts', 'updated_at', 'timestamp with time zone', 'accounts.updated_at is timestamptz');
SELECT col_type_is('ledger', 'accounts', 'holds_expire_at', 'timestamp with time zone', 'accounts.holds_expire_at is timestamptz');
SELECT col_type_is('ledger', 'accounts', 'entry_hash', 'bytea', 'accounts.entry_hash is bytea');
SELECT col_type_is('ledger', 'accounts', 'hot', 'boolean', 'accounts.hot is boolean');
SELECT col_type_is('ledger', 'accounts', 'velocity', 'bytea', 'accounts.velocity is bytea');
SELECT col_not_null('ledger', 'accounts', 'hot', 'accounts.hot is NOT NULL');

SELECT columns_are('ledger', 'transfers',
                   ARRAY['id', 'debit_account_id', 'credit_account_id', 'amount',
                         'idempotency_key', 'description', 'metadata', 'created_at', 'hold_id',
                         'reverses_transfer_id', 'book_id'],
                   'ledger.transfers has exactly its documented columns');
SELECT col_type_is('ledger', 'transfers', 'id', 'bigint', 'transfers.id is bigint');
SELECT col_type_is('ledger', 'transfers', 'debit_account_id', 'bigint', 'transfers.debit_account_id is bigint');
SELECT col_type_is('ledger', 'transfers', 'credit_account_id', 'bigint', 'transfers.credit_account_id is bigint');
SELECT col_type_is('ledger', 'transfers', 'amount', 'ledger.amount', 'transfers.amount is ledger.amount');
SELECT col_type_is('ledger', 'transfers', 'idempotency_key', 'text', 'transfers.idempotency_key is text');
SELECT col_type_is('ledger', 'transfers', 'description', 'text', 'transfers.description is text');
SELECT col_type_is('ledger', 'transfers', 'metadata', 'jsonb', 'transfers.metadata is jsonb');
SELECT col_type_is('ledger', 'transfers', 'created_at', 'timestamp with time zone', 'transfers.created_at is timestamptz');
SELECT col_type_is('ledger', 'transfers', 'hold_id', 'bigint', 'transfers.hold_id is bigint');
SELECT col_type_is('ledger', 'transfers', 'reverses_transfer_id', 'bigint', 'transfers.reverses_transfer_id is bigint');

SELECT columns_are('ledger', 'entries',
                   ARRAY['id', 'transfer_id', 'account_id', 'account_version', 'direction',
                         'amount', 'balance_after', 'created_at', 'hash', 'book_id'],
                   'ledger.entries has exactly its documented columns');
SELECT col_type_is('ledger', 'entries', 'id', 'bigint', 'entries.id is bigint');
SELECT col_type_is('ledger', 'entries', 'transfer_id', 'bigint', 'entries.transfer_id is bigint');
SELECT col_type_is('ledger', 'entries', 'account_id', 'bigint', 'entries.account_id is bigint');
SELECT col_type_is('ledger', 'entries', 'account_version', 'bigint', 'entries.account_version is bigint');
SELECT col_type_is('ledger', 'entries', 'direction', 'text', 'entries.direction is text');
SELECT col_type_is('ledger', 'entries', 'amount', 'ledger.amount', 'entries.amount is ledger.amount');
SELECT col_type_is('ledger', 'entries', 'balance_after', 'ledger.amount', 'entries.balance_after is ledger.amount');
SELECT col_type_is('ledger', 'entries', 'created_at', 'timestamp with time zone', 'entries.created_at is timestamptz');
SELECT col_type_is('ledger', 'entries', 'hash', 'bytea', 'entries.hash is bytea');

SELECT columns_are('ledger', 'hot_entries',
                   ARRAY['id', 'account_id', 'transfer_id', 'direction', 'amount', 'created_at',
                         'book_id'],
                   'ledger.hot_entries has exactly its documented columns');
SELECT columns_are('ledger', 'books', ARRAY['id', 'name', 'metadata', 'created_at', 'events'],
                   'ledger.books has exactly its documented columns');
SELECT columns_are('ledger', 'events',
                   ARRAY['id', 'xid', 'book_id', 'kind', 'account_id', 'debit_account_id',
                         'credit_account_id', 'amount', 'transfer_id', 'hold_id',
                         'idempotency_key', 'description', 'metadata', 'detail', 'created_at'],
                   'ledger.events has exactly its documented columns');
SELECT col_type_is('ledger', 'events', 'xid', 'xid8', 'events.xid is xid8');
SELECT col_type_is('ledger', 'events', 'amount', 'ledger.amount', 'events.amount is ledger.amount');
SELECT col_is_pk('ledger', 'events', ARRAY['xid', 'id'],
                 'events are keyed, and read, in the order of their transaction id and id');
SELECT columns_are('ledger', 'consumers',
                   ARRAY['id', 'name', 'owner', 'books', 'position_xid', 'position_id',
                         'created_at', 'acked_at'],
                   'ledger.consumers has exactly its documented columns');
SELECT columns_are('ledger', 'monitors',
                   ARRAY['id', 'account_id', 'book_id', 'name', 'balance', 'op', 'threshold',
                         'created_by', 'created_at'],
                   'ledger.monitors has exactly its documented columns');
SELECT columns_are('ledger', 'velocity_limits',
                   ARRAY['id', 'account_id', 'book_id', 'direction', 'window', 'max_amount',
                         'max_count', 'action', 'name', 'created_by', 'created_at'],
                   'ledger.velocity_limits has exactly its documented columns');
SELECT col_type_is('ledger', 'velocity_limits', 'max_amount', 'ledger.amount',
                   'velocity_limits.max_amount is ledger.amount');
SELECT has_table('ledger', 'grants', 'table ledger.grants exists');
SELECT columns_are('ledger', 'grants',
                   ARRAY['book_id', 'grantee', 'privilege', 'debit_accounts', 'credit_accounts',
                         'grant_option', 'granted_by', 'granted_at'],
                   'ledger.grants has exactly its documented columns');
SELECT col_is_pk('ledger', 'grants', ARRAY['book_id', 'grantee', 'privilege'],
                 'a grant is keyed by its book, role and privilege');
SELECT is_empty(
    $$SELECT c.oid::regclass
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'ledger' AND c.relkind = 'v'
         AND NOT COALESCE('security_barrier=true' = ANY (c.reloptions), false)$$,
    'every view of the ledger is a security barrier, so a caller''s conditions see only the books it may read');
SELECT is_empty(
    $$SELECT c.relname
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'ledger' AND c.relkind = 'r' AND c.relname <> 'books'
         AND c.relname <> 'assets' AND c.relname <> 'consumers'
         AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                          WHERE a.attrelid = c.oid AND a.attname = 'book_id'
                            AND a.atttypid = 'pg_catalog.int8'::pg_catalog.regtype
                            AND a.attnotnull AND NOT a.atthasdef)$$,
    'every table of rows that move money has book_id bigint NOT NULL, without a default');
SELECT col_type_is('ledger', 'hot_entries', 'id', 'bigint', 'hot_entries.id is bigint');
SELECT col_type_is('ledger', 'hot_entries', 'account_id', 'bigint', 'hot_entries.account_id is bigint');
SELECT col_type_is('ledger', 'hot_entries', 'transfer_id', 'bigint', 'hot_entries.transfer_id is bigint');
SELECT col_type_is('ledger', 'hot_entries', 'direction', 'text', 'hot_entries.direction is text');
SELECT col_type_is('ledger', 'hot_entries', 'amount', 'ledger.amount', 'hot_entries.amount is ledger.amount');
SELECT col_type_is('ledger', 'hot_entries', 'created_at', 'timestamp with time zone', 'hot_entries.created_at is timestamptz');

-- ---------------------------------------------------------------------------
-- Keys and indexes
-- ---------------------------------------------------------------------------
SELECT col_is_pk('ledger', 'assets', 'code', 'assets.code is the primary key');
SELECT col_is_pk('ledger', 'accounts', 'id', 'accounts.id is the primary key');
SELECT col_is_pk('ledger', 'transfers', 'id', 'transfers.id is the primary key');
SELECT col_is_pk('ledger', 'entries', ARRAY['account_id', 'account_version'],
                 'an entry''s key is its account and version');

SELECT has_index('ledger', 'accounts', 'accounts_book_id_name_key', ARRAY['book_id', 'name'],
                 'accounts has an index on (book_id, name)');
SELECT index_is_unique('ledger', 'accounts', 'accounts_book_id_name_key',
                       'account names are unique per book');
SELECT has_index('ledger', 'transfers', 'transfers_book_id_idempotency_key_key',
                 ARRAY['book_id', 'idempotency_key'],
                 'transfers has an index on (book_id, idempotency_key)');
SELECT index_is_unique('ledger', 'transfers', 'transfers_book_id_idempotency_key_key',
                       'idempotency keys are unique per book');
SELECT index_is_unique('ledger', 'hold_records', 'hold_records_book_id_idempotency_key_key',
                       'hold idempotency keys are unique per book');
SELECT index_is_unique('ledger', 'books', 'books_name_key', 'book names are unique');
SELECT has_index('ledger', 'entries', 'entries_pkey', ARRAY['account_id', 'account_version'],
                 'entries has an index on (account_id, account_version)');
SELECT index_is_unique('ledger', 'entries', 'entries_pkey',
                       'an account''s entry versions are unique');
SELECT hasnt_index('ledger', 'entries', 'entries_account_created_at_idx',
                   'entries has no index on time: history searches the versions');
SELECT has_index('ledger', 'entries', 'entries_id_key', ARRAY['id'],
                 'entries has an index on id');
SELECT index_is_unique('ledger', 'entries', 'entries_id_key',
                       'entry ids are unique, as every id the ledger hands out');
SELECT hasnt_index('ledger', 'entries', 'entries_transfer_id_idx',
                   'entries has no index on transfer_id: a transfer''s entries are ids 2t and 2t + 1');
SELECT has_index('ledger', 'transfers', 'transfers_created_at_idx', ARRAY['created_at'],
                 'transfers has an index on created_at');
SELECT index_is_type('ledger', 'transfers', 'transfers_created_at_idx', 'brin',
                     'the index on transfers.created_at is a block-range index');
SELECT col_is_pk('ledger', 'hot_entries', ARRAY['account_id', 'id'],
                 'hot_entries'' key is (account_id, id), the queue order of each account');
-- A replica identity for every table: a publication FOR ALL TABLES refuses
-- UPDATE and DELETE on a table without one.
SELECT is_empty(
    $$SELECT c.relname FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'ledger' AND c.relkind = 'r'
         AND NOT EXISTS (SELECT FROM pg_catalog.pg_index i
                          WHERE i.indrelid = c.oid AND i.indisprimary)$$,
    'every table of the ledger has a primary key');
SELECT has_index('ledger', 'accounts', 'accounts_metadata_idx', 'metadata',
                 'accounts has an index on metadata');
SELECT has_index('ledger', 'transfers', 'transfers_metadata_idx', 'metadata',
                 'transfers has an index on metadata');

-- ---------------------------------------------------------------------------
-- Guard triggers: present, calling the right function, firing when they must
-- ---------------------------------------------------------------------------
SELECT has_trigger('ledger', 'assets', 'assets_guard', 'assets has trigger assets_guard');
SELECT has_trigger('ledger', 'accounts', 'accounts_guard', 'accounts has trigger accounts_guard');
SELECT has_trigger('ledger', 'accounts', 'accounts_guard_delete', 'accounts has trigger accounts_guard_delete');
SELECT has_trigger('ledger', 'transfers', 'transfers_guard', 'transfers has trigger transfers_guard');
SELECT has_trigger('ledger', 'transfers', 'transfers_guard_truncate', 'transfers has trigger transfers_guard_truncate');
SELECT has_trigger('ledger', 'entries', 'entries_guard', 'entries has trigger entries_guard');
SELECT has_trigger('ledger', 'entries', 'entries_guard_truncate', 'entries has trigger entries_guard_truncate');
SELECT has_trigger('ledger', 'hot_entries', 'hot_entries_guard', 'hot_entries has trigger hot_entries_guard');
SELECT has_trigger('ledger', 'hot_entries', 'hot_entries_guard_truncate', 'hot_entries has trigger hot_entries_guard_truncate');

SELECT results_eq(
    $$SELECT pg_catalog.pg_get_triggerdef(t.oid)
        FROM pg_catalog.pg_trigger t
        JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'ledger' AND NOT t.tgisinternal AND t.tgenabled = 'O'
         AND c.relname IN ('assets', 'accounts', 'transfers', 'entries', 'hot_entries')
       ORDER BY t.tgname$$,
    $$VALUES
      ('CREATE TRIGGER accounts_guard BEFORE INSERT OR UPDATE ON ledger.accounts FOR EACH ROW EXECUTE FUNCTION ledger.guard_accounts()'),
      ('CREATE TRIGGER accounts_guard_delete BEFORE DELETE OR TRUNCATE ON ledger.accounts FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history()'),
      ('CREATE TRIGGER assets_guard BEFORE INSERT OR DELETE OR UPDATE ON ledger.assets FOR EACH ROW EXECUTE FUNCTION ledger.guard_assets()'),
      ('CREATE TRIGGER entries_guard BEFORE INSERT OR DELETE OR UPDATE ON ledger.entries FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history()'),
      ('CREATE TRIGGER entries_guard_truncate BEFORE TRUNCATE ON ledger.entries FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history()'),
      ('CREATE TRIGGER hot_entries_guard BEFORE INSERT OR DELETE OR UPDATE ON ledger.hot_entries FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history()'),
      ('CREATE TRIGGER hot_entries_guard_truncate BEFORE TRUNCATE ON ledger.hot_entries FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history()'),
      ('CREATE TRIGGER transfers_guard BEFORE INSERT OR DELETE OR UPDATE ON ledger.transfers FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history()'),
      ('CREATE TRIGGER transfers_guard_truncate BEFORE TRUNCATE ON ledger.transfers FOR EACH STATEMENT EXECUTE FUNCTION ledger.guard_history()')$$,
    'the core tables'' guard triggers are enabled, fire BEFORE every write and call the guard functions'
);

-- ---------------------------------------------------------------------------
-- The API runs as its caller; its statements run as the owner (spi.c)
-- ---------------------------------------------------------------------------
SELECT is_empty(
    $$SELECT p.oid::regprocedure
        FROM pg_catalog.pg_proc p
        JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname = 'ledger' AND p.prosecdef$$,
    'no function in schema ledger is SECURITY DEFINER'
);

-- pg_temp must be named last: left out, it would be searched first for
-- relation names.  Every function with a SET clause is an API function.
SELECT is_empty(
    $$SELECT p.oid::regprocedure
        FROM pg_catalog.pg_proc p
        JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname = 'ledger' AND p.proconfig IS NOT NULL
         AND p.proconfig <> ARRAY['search_path=pg_catalog, pg_temp']$$,
    'every API function''s only setting is search_path = pg_catalog, pg_temp'
);

-- The type's support functions and the trigger functions need no setting;
-- every other C function of the schema is the API, and pins the path.
SELECT is_empty(
    $$SELECT p.oid::regprocedure
        FROM pg_catalog.pg_proc p
        JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
        JOIN pg_catalog.pg_language l ON l.oid = p.prolang
       WHERE n.nspname = 'ledger' AND l.lanname = 'c' AND p.proconfig IS NULL
         AND NOT (p.prorettype IN ('pg_catalog.trigger'::pg_catalog.regtype,
                                   'pg_catalog.event_trigger'::pg_catalog.regtype)
              OR p.prokind <> 'f'
              OR p.proname LIKE 'amount\_%'
              OR p.proname IN ('format_amount', 'parse_amount')
              OR EXISTS (SELECT 1 FROM pg_catalog.pg_operator o WHERE o.oprcode = p.oid)
              OR EXISTS (SELECT 1 FROM pg_catalog.pg_cast k WHERE k.castfunc = p.oid))$$,
    'every API function pins its search_path'
);

SELECT isnt_definer('ledger', 'create_asset', ARRAY['text', 'integer'],
                  'ledger.create_asset runs as its caller');
SELECT isnt_definer('ledger', 'create_account',
                  ARRAY['text', 'text', 'text', 'ledger.amount', 'ledger.amount', 'jsonb'],
                  'ledger.create_account runs as its caller');
SELECT isnt_definer('ledger', 'create_book_account',
                  ARRAY['bigint', 'text', 'text', 'text', 'ledger.amount', 'ledger.amount', 'jsonb'],
                  'ledger.create_book_account runs as its caller');
SELECT isnt_definer('ledger', 'create_accounts', ARRAY['ledger.account_request[]'],
                  'ledger.create_accounts runs as its caller');
SELECT isnt_definer('ledger', 'create_book', ARRAY['text', 'jsonb'],
                  'ledger.create_book runs as its caller');
SELECT isnt_definer('ledger', 'book_id', ARRAY['text'],
                  'ledger.book_id runs as its caller');
SELECT isnt_definer('ledger', 'account_id', ARRAY['bigint', 'text'],
                  'ledger.account_id of a book runs as its caller');
SELECT isnt_definer('ledger', 'account_id', ARRAY['text'],
                  'ledger.account_id runs as its caller');
SELECT isnt_definer('ledger', 'set_account_limits', ARRAY['bigint', 'ledger.amount', 'ledger.amount'],
                  'ledger.set_account_limits runs as its caller');
SELECT isnt_definer('ledger', 'close_account', ARRAY['bigint'],
                  'ledger.close_account runs as its caller');
SELECT isnt_definer('ledger', 'reopen_account', ARRAY['bigint'],
                  'ledger.reopen_account runs as its caller');
SELECT isnt_definer('ledger', 'transfer',
                  ARRAY['bigint', 'bigint', 'ledger.amount', 'text', 'text', 'jsonb'],
                  'ledger.transfer runs as its caller');
SELECT isnt_definer('ledger', 'balance', ARRAY['bigint'],
                  'ledger.balance runs as its caller');
SELECT isnt_definer('ledger', 'set_account_hot', ARRAY['bigint', 'boolean'],
                  'ledger.set_account_hot runs as its caller');
SELECT isnt_definer('ledger', 'apply_hot_entries', ARRAY['bigint'],
                  'ledger.apply_hot_entries runs as its caller');

-- ---------------------------------------------------------------------------
-- What PUBLIC may do.  A NULL acl means the default one, so compare against
-- acldefault() rather than skip it: for functions the default grants PUBLIC
-- EXECUTE.
-- ---------------------------------------------------------------------------
SELECT is_empty(
    $$SELECT c.oid::regclass, a.privilege_type
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       CROSS JOIN LATERAL pg_catalog.aclexplode(
             COALESCE(c.relacl, pg_catalog.acldefault(
                 CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) a
       WHERE n.nspname = 'ledger' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
         AND a.grantee = 0$$,
    'PUBLIC has no privilege on any table, view or sequence in schema ledger'
);

SELECT is_empty(
    $$SELECT p.oid::regprocedure
        FROM pg_catalog.pg_proc p
        JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname = 'ledger' AND p.proconfig IS NOT NULL
         AND p.oid <> 'ledger.has_book_privilege(bigint, text)'::pg_catalog.regprocedure
         AND (p.proacl IS NULL
              OR EXISTS (SELECT 1 FROM pg_catalog.aclexplode(p.proacl) a
                          WHERE a.grantee = 0))$$,
    'PUBLIC cannot execute any API function but has_book_privilege (each has an explicit acl without PUBLIC)'
);

-- The trigger functions read their table's columns by position: only the
-- ledger's own triggers may call them, so no one else may attach them.
SELECT is_empty(
    $$SELECT p.oid::regprocedure
        FROM pg_catalog.pg_proc p
        JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
       CROSS JOIN LATERAL pg_catalog.aclexplode(
             COALESCE(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
       WHERE n.nspname = 'ledger'
         AND p.prorettype = 'pg_catalog.trigger'::pg_catalog.regtype
         AND a.grantee = 0$$,
    'PUBLIC cannot execute the trigger functions, so cannot attach them to its own tables'
);

SELECT is_empty(
    $$SELECT a.privilege_type
        FROM pg_catalog.pg_namespace n
       CROSS JOIN LATERAL pg_catalog.aclexplode(
             COALESCE(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
       WHERE n.nspname = 'ledger' AND a.grantee = 0 AND a.privilege_type = 'CREATE'$$,
    'PUBLIC cannot create objects in schema ledger'
);

-- ---------------------------------------------------------------------------
-- Comments
-- ---------------------------------------------------------------------------
SELECT is_empty(
    $$SELECT p.oid::regprocedure
        FROM pg_catalog.pg_proc p
        JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname = 'ledger'
         AND pg_catalog.obj_description(p.oid, 'pg_proc') IS NULL$$,
    'every function and aggregate in schema ledger has a comment'
);
SELECT isnt(pg_catalog.obj_description('ledger.amount'::regtype, 'pg_type'), NULL,
            'type ledger.amount has a comment');
SELECT is_empty(
    $$SELECT c.oid::regclass
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'ledger' AND c.relkind IN ('r', 'v')
         AND pg_catalog.obj_description(c.oid, 'pg_class') IS NULL$$,
    'every table and view in schema ledger has a comment'
);
SELECT is_empty(
    $$SELECT o.oid::regoperator
        FROM pg_catalog.pg_operator o
        JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
       WHERE n.nspname = 'ledger'
         AND pg_catalog.obj_description(o.oid, 'pg_operator') IS NULL$$,
    'every operator in schema ledger has a comment'
);

-- ---------------------------------------------------------------------------
-- pg_dump: the extension's data is dumped
-- ---------------------------------------------------------------------------
SELECT set_has(
    $$SELECT c::regclass::text
        FROM pg_catalog.pg_extension e, pg_catalog.unnest(e.extconfig) c
       WHERE e.extname = 'ledger'$$,
    $$VALUES ('ledger.assets'), ('ledger.accounts'), ('ledger.accounts_id_seq'),
             ('ledger.transfers'), ('ledger.transfers_id_seq'),
             ('ledger.entries'), ('ledger.entries_id_seq')$$,
    'the core tables and their sequences are registered with pg_extension_config_dump'
);
SELECT is_empty(
    $$SELECT c.oid::regclass
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'ledger' AND c.relkind IN ('r', 'p', 'S')
         AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension e
                          WHERE e.extname = 'ledger' AND c.oid = ANY (e.extconfig))$$,
    'no table or sequence in schema ledger is left out of the dump'
);
SELECT is(
    (SELECT e.extcondition[pg_catalog.array_position(e.extconfig, 'ledger.books'::regclass::oid)]
       FROM pg_catalog.pg_extension e WHERE e.extname = 'ledger'),
    'WHERE id OPERATOR(pg_catalog.<>) 1',
    'a dump leaves out book 1, which CREATE EXTENSION makes');

-- \dx+ ledger lists every object; each carries a comment.
SELECT is_empty($$
    SELECT pg_describe_object(d.classid, d.objid, 0)
      FROM pg_depend d
     WHERE d.refclassid = 'pg_extension'::regclass
       AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'ledger')
       AND d.deptype = 'e'
       AND obj_description(d.objid, (SELECT relname FROM pg_class WHERE oid = d.classid)) IS NULL
$$, 'every object of the extension has a comment');

SELECT * FROM finish();
ROLLBACK;
