/*
 * transfer.c - ledger.transfer: move an amount between two accounts.
 *
 * A transfer is one row in ledger.transfers, one entry per account in
 * ledger.entries and one update per account, all in the caller's
 * transaction, under both accounts' row locks.  Every check runs before the
 * first write, so a rejected call leaves nothing behind even inside a
 * savepoint.  Without a key, the rows go straight into the tables
 * (table.c) unless a table carries something only SQL honours, which
 * saves every call the executor's start-up for three tables.
 *
 * Idempotency: a key is unique across transfers (a unique index).  A call
 * looks the key up once it holds the accounts' locks; if it is new, the
 * insert of the transfer row uses ON CONFLICT DO NOTHING, so a concurrent
 * call on other accounts that committed the same key meanwhile is found
 * instead of raising a unique violation.  Either way the
 * caller gets the original transfer's id when its arguments match, and an
 * error naming the key when they do not.
 */
#include "ledger.h"

#include "table.h"

#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

static LedgerStatement find_transfer_by_key = LEDGER_STATEMENT(
	"SELECT id, debit_account_id, credit_account_id, amount, description, metadata,"
	" hold_id, reverses_transfer_id FROM ledger.transfers"
	" WHERE idempotency_key OPERATOR(pg_catalog.=) $1", "t");

/*
 * The transfer row through SQL, when a table must be written that way: $1..$9
 * as transfer_row_params sets them, $10 the key.
 */
static LedgerStatement insert_transfer = LEDGER_STATEMENT(
	"INSERT INTO ledger.transfers (id, debit_account_id, credit_account_id, amount,"
	" description, metadata, created_at, hold_id, reverses_transfer_id,"
	" idempotency_key)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
	" ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id",
	"bbbatjTbbt");

/* Without a key nothing can conflict: no speculative insertion needed. */
static LedgerStatement insert_keyless_transfer = LEDGER_STATEMENT(
	"INSERT INTO ledger.transfers (id, debit_account_id, credit_account_id, amount,"
	" description, metadata, created_at, hold_id, reverses_transfer_id,"
	" idempotency_key)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id", "bbbatjTbbt");

static LedgerStatement insert_entries = LEDGER_STATEMENT(
	"INSERT INTO ledger.entries (id, transfer_id, account_id, account_version,"
	" direction, amount, balance_after, created_at, hash)"
	" VALUES (" ENTRY_ID_SQL("$1", "'debit'") ", $1, $2, $3, 'debit', $4, $5, $6, $10),"
	"        (" ENTRY_ID_SQL("$1", "'credit'") ", $1, $7, $8, 'credit', $4, $9, $6, $11)",
	"bbbaaTbbahh");

static LedgerStatement insert_entry_statement = LEDGER_STATEMENT(
	"INSERT INTO ledger.entries (id, transfer_id, account_id, account_version,"
	" direction, amount, balance_after, created_at, hash)"
	" VALUES (" ENTRY_ID_SQL("$1", "$4") ", $1, $2, $3, $4, $5, $6, $7, $8)",
	"bbbtaaTh");

/* Write one entry of a transfer, for the side of it that is not queued. */
static void
insert_entry(int64 transfer_id, const LedgerAccount *account, LedgerSide side,
			 Amount amount, Amount balance, TimestampTz created_at)
{
	Datum		values[8];

	values[0] = Int64GetDatum(transfer_id);
	values[1] = Int64GetDatum(account->id);
	values[2] = Int64GetDatum(account->version);
	values[3] = CStringGetTextDatum(side == LEDGER_DEBIT ? "debit" : "credit");
	values[4] = AmountGetDatum(amount);
	values[5] = AmountGetDatum(balance);
	values[6] = TimestampTzGetDatum(created_at);
	values[7] = PointerGetDatum(HashToBytea(account->entry_hash));
	LedgerExecuteWrite(&insert_entry_statement, values, NULL, 0);
}

/*
 * chain_entry - link a new entry of transfer transfer_id onto a locked
 * account's hash chain, and make its time the account's latest.
 */
static void
chain_entry(LedgerAccount *account, int64 transfer_id, LedgerSide side,
			Amount amount, Amount balance, TimestampTz created_at)
{
	EntryHash(account->has_entry_hash ? account->entry_hash : NULL, transfer_id,
			  account->id, account->version, side, amount, balance, created_at,
			  account->entry_hash);
	account->has_entry_hash = true;
	account->updated_at = created_at;
}

/*
 * A transfer without a key through SQL, when a table must be written that
 * way (write_keyless_direct declined), in one statement: the transfer row,
 * both entries and both accounts' new sums.  Nothing can conflict, so the id is drawn
 * from the sequence beforehand (the entries' hashes need it) and the three
 * writes share one round through the executor.  The transfer row is the main
 * statement, written first (the WITH parts run after it): ids drawn by
 * concurrent calls then reach the transfers' indexes nearly in order, which
 * keeps their right-most pages from splitting more often than they must.
 * The accounts' columns are those of SaveAccountPair, since a capture
 * changes the pending columns too.  $1..$9 are the transfer row
 * (transfer_row_params).
 */
static LedgerStatement post_keyless_transfer = LEDGER_STATEMENT(
	"WITH e AS (INSERT INTO ledger.entries (id, transfer_id, account_id, account_version,"
	"            direction, amount, balance_after, created_at, hash)"
	"           VALUES (" ENTRY_ID_SQL("$1", "'debit'") ", $1, $2, $10, 'debit', $4, $11, $7, $12),"
	"                  (" ENTRY_ID_SQL("$1", "'credit'") ", $1, $3, $13, 'credit', $4, $14, $7, $15)),"
	"     a AS (UPDATE ledger.accounts AS a SET min_balance = v.min_balance,"
	"            max_balance = v.max_balance, debits_posted = v.debits_posted,"
	"            credits_posted = v.credits_posted, debits_pending = v.debits_pending,"
	"            credits_pending = v.credits_pending, version = v.version,"
	"            closed = v.closed, updated_at = v.updated_at,"
	"            holds_expire_at = v.holds_expire_at, entry_hash = v.entry_hash"
	"           FROM (VALUES ($16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27),"
	"                        ($28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39))"
	"             AS v(id, min_balance, max_balance, debits_posted, credits_posted,"
	"                  debits_pending, credits_pending, version, closed, updated_at,"
	"                  holds_expire_at, entry_hash)"
	"          WHERE a.id OPERATOR(pg_catalog.=) v.id RETURNING a.id)"
	" INSERT INTO ledger.transfers (id, debit_account_id, credit_account_id,"
	"        amount, description, metadata, created_at, hold_id, reverses_transfer_id)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
	" RETURNING (SELECT pg_catalog.count(*) FROM a)",
	"bbbatjTbb" "bahbah" "baaaaaaboTTh" "baaaaaaboTTh");

/*
 * transfer_row_params - draw a new transfer id and set $1..$9 of the
 * one-statement transfers, the transfer row without its key: id, accounts,
 * amount, description, metadata, created_at, hold and reversed transfer.
 * Clears every null flag of nulls beyond them too.  Returns the id.
 */
static int64
transfer_row_params(const TransferRequest *req, TimestampTz created_at,
					Datum *values, char *nulls, int nparams)
{
	int64		id = LedgerNextId("transfers_id_seq");

	memset(nulls, ' ', nparams);
	values[0] = Int64GetDatum(id);
	values[1] = Int64GetDatum(req->debit_account_id);
	values[2] = Int64GetDatum(req->credit_account_id);
	values[3] = AmountGetDatum(req->amount);
	values[4] = req->description;
	nulls[4] = req->description_null ? 'n' : ' ';
	values[5] = req->metadata;
	nulls[5] = req->metadata_null ? 'n' : ' ';
	values[6] = TimestampTzGetDatum(created_at);
	values[7] = Int64GetDatum(req->hold_id);
	nulls[7] = req->hold_id != 0 ? ' ' : 'n';
	values[8] = Int64GetDatum(req->reverses_transfer_id);
	nulls[8] = req->reverses_transfer_id != 0 ? ' ' : 'n';
	return id;
}

/*
 * Columns of ledger.transfers a transfer written directly supplies: $1..$9
 * of the one-statement transfers (transfer_row_params), then the key.
 */
enum
{
	TR_ID, TR_DEBIT, TR_CREDIT, TR_AMOUNT, TR_DESCRIPTION, TR_METADATA,
	TR_CREATED_AT, TR_HOLD, TR_REVERSES, TR_KEY, TR_NCOLUMNS
};

/*
 * EntriesInsertBegin - TableInsertBegin for ledger.entries with the columns
 * of EntryColumn; NULL when the table must be written through SQL.
 */
TableInsert *
EntriesInsertBegin(void)
{
	Oid			amount_oid = LedgerAmountTypeOid();
	TableColumn columns[ENTRY_NCOLUMNS] = {
		{"transfer_id", INT8OID}, {"account_id", INT8OID},
		{"account_version", INT8OID}, {"direction", TEXTOID},
		{"amount", amount_oid}, {"balance_after", amount_oid},
		{"created_at", TIMESTAMPTZOID}, {"hash", BYTEAOID}, {"id", INT8OID}
	};

	return TableInsertBegin("entries", columns, ENTRY_NCOLUMNS);
}

/* Columns of ledger.hot_entries a queued side supplies. */
enum
{
	HQ_ID, HQ_ACCOUNT, HQ_TRANSFER, HQ_DIRECTION, HQ_AMOUNT, HQ_CREATED_AT,
	HQ_NCOLUMNS
};

/* The tables a transfer's rows go into directly (table.c). */
typedef struct TransferTables
{
	TableInsert *transfers;
	TableInsert *entries;
	TableInsert *queue;			/* hot_entries, when a side is queued */
} TransferTables;

/*
 * open_transfer_tables - TableInsertBegin for the transfer row, the entries
 * and, if a side is queued, the hot queue.  False, with nothing open, when
 * one of them must be written through SQL.
 */
static bool
open_transfer_tables(TransferTables *t, bool queued)
{
	Oid			amount_oid = LedgerAmountTypeOid();
	TableColumn tr_columns[TR_NCOLUMNS] = {
		{"id", INT8OID}, {"debit_account_id", INT8OID},
		{"credit_account_id", INT8OID}, {"amount", amount_oid},
		{"description", TEXTOID}, {"metadata", JSONBOID},
		{"created_at", TIMESTAMPTZOID}, {"hold_id", INT8OID},
		{"reverses_transfer_id", INT8OID}, {"idempotency_key", TEXTOID}
	};
	TableColumn hq_columns[HQ_NCOLUMNS] = {
		{"id", INT8OID}, {"account_id", INT8OID}, {"transfer_id", INT8OID},
		{"direction", TEXTOID}, {"amount", amount_oid},
		{"created_at", TIMESTAMPTZOID}
	};

	t->queue = NULL;
	t->transfers = TableInsertBegin("transfers", tr_columns, TR_NCOLUMNS);
	if (t->transfers == NULL)
		return false;
	t->entries = EntriesInsertBegin();
	if (t->entries != NULL && queued)
	{
		t->queue = TableInsertBegin("hot_entries", hq_columns, HQ_NCOLUMNS);
		if (t->queue == NULL)
		{
			(void) TableInsertEnd(t->entries);
			t->entries = NULL;
		}
	}
	if (t->entries == NULL)
	{
		(void) TableInsertEnd(t->transfers);
		return false;
	}
	return true;
}

/* Write what was added to the tables, and close them. */
static void
close_transfer_tables(TransferTables *t)
{
	(void) TableInsertEnd(t->transfers);
	(void) TableInsertEnd(t->entries);
	if (t->queue != NULL)
		(void) TableInsertEnd(t->queue);
}

/*
 * write_transfer_rows - the rows of a transfer into the open tables: the
 * transfer row (params and pnulls, $1..$9 of post_keyless_transfer, and
 * key), an entry for each side whose account is locked and a queued posting
 * for a side marked queued (its id in *queue_id), then the locked accounts'
 * new sums.  With a key, the transfer row goes in as INSERT ... ON CONFLICT
 * DO NOTHING would put it; if another transfer holds the key, nothing is
 * written and the result is false.
 */
static bool
write_transfer_rows(TransferTables *t, const Datum *params, const char *pnulls,
					const char *key, LedgerAccount *debit, Amount debit_balance,
					LedgerAccount *credit, Amount credit_balance,
					TimestampTz created_at, int64 *queue_id)
{
	LedgerAccount *sides[2] = {debit, credit};
	Amount		balances[2] = {debit_balance, credit_balance};
	Datum		values[TR_NCOLUMNS + ENTRY_NCOLUMNS];
	bool		nulls[TR_NCOLUMNS + ENTRY_NCOLUMNS];
	Amount		amount = DatumGetAmount(params[TR_AMOUNT]);
	int64		id = DatumGetInt64(params[TR_ID]);

	Assert(!(debit->queued && credit->queued));
	for (int c = 0; c < TR_KEY; c++)
	{
		values[c] = params[c];
		nulls[c] = pnulls[c] == 'n';
	}
	values[TR_KEY] = key != NULL ? CStringGetTextDatum(key) : (Datum) 0;
	nulls[TR_KEY] = key == NULL;
	if (key == NULL)
		TableInsertRow(t->transfers, values, nulls);
	else if (!TableInsertRowUnlessKey(t->transfers, "transfers_idempotency_key_key",
									  values, nulls))
	{
		close_transfer_tables(t);
		return false;
	}

	memset(nulls, 0, sizeof(nulls));
	for (int s = 0; s < 2; s++)
	{
		LedgerSide	side = s == 0 ? LEDGER_DEBIT : LEDGER_CREDIT;
		Datum		direction = CStringGetTextDatum(side == LEDGER_DEBIT ? "debit" : "credit");

		if (sides[s]->queued)
		{
			*queue_id = LedgerNextId("hot_entries_id_seq");
			values[HQ_ID] = Int64GetDatum(*queue_id);
			values[HQ_ACCOUNT] = Int64GetDatum(sides[s]->id);
			values[HQ_TRANSFER] = Int64GetDatum(id);
			values[HQ_DIRECTION] = direction;
			values[HQ_AMOUNT] = PointerGetDatum(&amount);
			values[HQ_CREATED_AT] = TimestampTzGetDatum(created_at);
			TableInsertRow(t->queue, values, nulls);
			continue;
		}
		values[ENTRY_TRANSFER] = Int64GetDatum(id);
		values[ENTRY_ACCOUNT] = Int64GetDatum(sides[s]->id);
		values[ENTRY_VERSION] = Int64GetDatum(sides[s]->version);
		values[ENTRY_DIRECTION] = direction;
		values[ENTRY_AMOUNT] = PointerGetDatum(&amount);
		values[ENTRY_BALANCE] = PointerGetDatum(&balances[s]);
		values[ENTRY_CREATED_AT] = TimestampTzGetDatum(created_at);
		values[ENTRY_HASH] = PointerGetDatum(HashToBytea(sides[s]->entry_hash));
		values[ENTRY_ID] = Int64GetDatum(EntryIdOf(id, side));
		TableInsertRow(t->entries, values, nulls);
	}
	close_transfer_tables(t);

	if (!debit->queued && !credit->queued)
		SaveAccountPair(debit, credit);
	else
		SaveAccount(debit->queued ? credit : debit);
	return true;
}

/*
 * write_keyless_direct - the rows of a keyless transfer straight into the
 * tables, without a statement (write_transfer_rows).  Returns false, having
 * written nothing, when a table must be written through SQL.
 */
static bool
write_keyless_direct(const Datum *params, const char *pnulls,
					 LedgerAccount *debit, Amount debit_balance,
					 LedgerAccount *credit, Amount credit_balance,
					 TimestampTz created_at, int64 *queue_id)
{
	TransferTables t;

	if (!open_transfer_tables(&t, debit->queued || credit->queued))
		return false;
	(void) write_transfer_rows(&t, params, pnulls, NULL, debit, debit_balance,
							   credit, credit_balance, created_at, queue_id);
	return true;
}

/*
 * The same through SQL when one side is queued for a hot account (hot.c):
 * the transfer row, the locked side's entry, the queued posting and the
 * locked account.  Returns the queue id.
 */
static LedgerStatement post_half_queued_transfer = LEDGER_STATEMENT(
	"WITH e AS (INSERT INTO ledger.entries (id, transfer_id, account_id, account_version,"
	"            direction, amount, balance_after, created_at, hash)"
	"           VALUES (" ENTRY_ID_SQL("$1", "$11") ", $1, $16, $10, $11, $4, $12, $7, $13)),"
	"     q AS (INSERT INTO ledger.hot_entries (account_id, transfer_id, direction,"
	"            amount, created_at)"
	"           VALUES ($14, $1, $15, $4, $7) RETURNING id),"
	"     a AS (UPDATE ledger.accounts SET min_balance = $17, max_balance = $18,"
	"            debits_posted = $19, credits_posted = $20, debits_pending = $21,"
	"            credits_pending = $22, version = $23, closed = $24, updated_at = $25,"
	"            holds_expire_at = $26, entry_hash = $27"
	"          WHERE id OPERATOR(pg_catalog.=) $16 RETURNING id)"
	" INSERT INTO ledger.transfers (id, debit_account_id, credit_account_id,"
	"        amount, description, metadata, created_at, hold_id, reverses_transfer_id)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
	" RETURNING (SELECT id FROM q), (SELECT pg_catalog.count(*) FROM a)",
	"bbbatjTbb" "btahbt" "baaaaaaboTTh");

/*
 * post_keyless_half_queued - the rest of PostTransfer for a transfer without
 * a key whose side on "queued" is queued and whose side on "locked" is
 * posted, once balances and limits are checked.
 */
static int64
post_keyless_half_queued(const TransferRequest *req, LedgerAccount *locked,
						 LedgerSide locked_side, Amount locked_balance,
						 LedgerAccount *queued, TimestampTz created_at)
{
	Datum		values[15 + SAVE_ACCOUNT_PARAMS];
	char		nulls[15 + SAVE_ACCOUNT_PARAMS];
	bool		isnull;
	int64		queue_id;
	int64		id = transfer_row_params(req, created_at, values, nulls,
										 lengthof(values));

	chain_entry(locked, id, locked_side, req->amount, locked_balance, created_at);
	if (locked_side == LEDGER_DEBIT ?
		write_keyless_direct(values, nulls, locked, locked_balance, queued, 0,
							 created_at, &queue_id) :
		write_keyless_direct(values, nulls, queued, 0, locked, locked_balance,
							 created_at, &queue_id))
	{
		HotPostingQueued(queued->id, queue_id);
		return id;
	}

	values[9] = Int64GetDatum(locked->version);
	values[10] = CStringGetTextDatum(locked_side == LEDGER_DEBIT ? "debit" : "credit");
	values[11] = AmountGetDatum(locked_balance);
	AccountToParams(locked, values + 15, nulls + 15);
	/* The entry's hash is the account's new entry_hash: one bytea for both. */
	values[12] = values[15 + SAVE_ACCOUNT_PARAMS - 1];
	values[13] = Int64GetDatum(queued->id);
	values[14] = CStringGetTextDatum(locked_side == LEDGER_DEBIT ? "credit" : "debit");
	LedgerExecuteWrite(&post_half_queued_transfer, values, nulls, 0);
	if (DatumGetInt64(LedgerGetColumn(0, 2, &isnull)) != 1)
		elog(ERROR, "account %lld vanished while locked", (long long) locked->id);
	HotPostingQueued(queued->id, DatumGetInt64(LedgerGetColumn(0, 1, &isnull)));
	return id;
}

/*
 * post_keyless - the rest of PostTransfer for a transfer without a key
 * between two locked accounts, once balances and limits are checked.
 */
static int64
post_keyless(const TransferRequest *req, LedgerAccount *debit,
			 LedgerAccount *credit, Amount debit_balance, Amount credit_balance,
			 TimestampTz created_at)
{
	Datum		values[15 + 2 * SAVE_ACCOUNT_PARAMS];
	char		nulls[15 + 2 * SAVE_ACCOUNT_PARAMS];
	bool		isnull;
	int64		id = transfer_row_params(req, created_at, values, nulls,
										 lengthof(values));

	chain_entry(debit, id, LEDGER_DEBIT, req->amount, debit_balance, created_at);
	chain_entry(credit, id, LEDGER_CREDIT, req->amount, credit_balance, created_at);
	if (write_keyless_direct(values, nulls, debit, debit_balance, credit,
							 credit_balance, created_at, NULL))
		return id;

	values[9] = Int64GetDatum(debit->version);
	values[10] = AmountGetDatum(debit_balance);
	AccountToParams(debit, values + 15, nulls + 15);
	AccountToParams(credit, values + 15 + SAVE_ACCOUNT_PARAMS,
					nulls + 15 + SAVE_ACCOUNT_PARAMS);
	/* Each entry's hash is its account's new entry_hash: one bytea for both. */
	values[11] = values[15 + SAVE_ACCOUNT_PARAMS - 1];
	values[12] = Int64GetDatum(credit->version);
	values[13] = AmountGetDatum(credit_balance);
	values[14] = values[15 + 2 * SAVE_ACCOUNT_PARAMS - 1];
	LedgerExecuteWrite(&post_keyless_transfer, values, nulls, 0);
	if (DatumGetInt64(LedgerGetColumn(0, 1, &isnull)) != 2)
		elog(ERROR, "accounts %lld and %lld vanished while locked",
			 (long long) debit->id, (long long) credit->id);
	return id;
}

/*
 * post_keyed_direct - the rest of PostTransfer for a transfer with a key,
 * once balances and limits are checked, straight into the tables.  The
 * transfer row goes in first, as INSERT ... ON CONFLICT DO NOTHING would
 * put it, and only then the entries, queued posting and accounts.  Returns
 * the new transfer's id or, when another transfer holds the key (a
 * concurrent call on other accounts that committed first), that transfer's
 * answer with *created false; 0, having written nothing, when a table must
 * be written through SQL.
 */
static int64
post_keyed_direct(const TransferRequest *req, LedgerAccount *debit,
				  LedgerAccount *credit, Amount debit_balance, Amount credit_balance,
				  TimestampTz created_at, bool *created)
{
	TransferTables t;
	Datum		values[TR_NCOLUMNS];
	char		nulls[TR_NCOLUMNS];
	int64		queue_id = 0;
	int64		id;

	if (!open_transfer_tables(&t, debit->queued || credit->queued))
		return 0;
	id = transfer_row_params(req, created_at, values, nulls, TR_NCOLUMNS);
	if (!debit->queued)
		chain_entry(debit, id, LEDGER_DEBIT, req->amount, debit_balance, created_at);
	if (!credit->queued)
		chain_entry(credit, id, LEDGER_CREDIT, req->amount, credit_balance, created_at);
	if (!write_transfer_rows(&t, values, nulls, req->idempotency_key, debit,
							 debit_balance, credit, credit_balance, created_at,
							 &queue_id))
	{
		*created = false;
		id = FindTransferByKey(req);
		if (id == 0)
			elog(ERROR, "idempotency key \"%s\" conflicted but was not found",
				 req->idempotency_key);
		return id;
	}
	*created = true;
	if (debit->queued || credit->queued)
		HotPostingQueued(debit->queued ? debit->id : credit->id, queue_id);
	return id;
}

/* Are two nullable text Datums equal? */
static bool
text_equal(Datum a, bool anull, Datum b, bool bnull)
{
	if (anull || bnull)
		return anull && bnull;
	return strcmp(TextDatumGetCString(a), TextDatumGetCString(b)) == 0;
}

/* Are two nullable jsonb Datums equal? */
static bool
jsonb_equal(Datum a, bool anull, Datum b, bool bnull)
{
	if (anull || bnull)
		return anull && bnull;
	return DatumGetBool(DirectFunctionCall2(jsonb_eq, a, b));
}

/*
 * TransferArgumentsEqual - would two requests make the same transfer?
 */
bool
TransferArgumentsEqual(const TransferRequest *a, const TransferRequest *b)
{
	return a->debit_account_id == b->debit_account_id &&
		a->credit_account_id == b->credit_account_id &&
		a->amount == b->amount &&
		a->hold_id == b->hold_id &&
		a->reverses_transfer_id == b->reverses_transfer_id &&
		text_equal(a->description, a->description_null,
				   b->description, b->description_null) &&
		jsonb_equal(a->metadata, a->metadata_null,
					b->metadata, b->metadata_null);
}

/*
 * FindTransferByKey - if a transfer with this key exists, return its id when
 * it was made with the same arguments, or raise an idempotency conflict.
 * Returns 0 when the key is unused.  The row is found by a probe of the
 * key's index (through SQL only when the table needs it).  Caller must be
 * connected to SPI.
 */
int64
FindTransferByKey(const TransferRequest *req)
{
	Oid			amount_oid = LedgerAmountTypeOid();
	TableColumn columns[] = {
		{"id", INT8OID}, {"debit_account_id", INT8OID},
		{"credit_account_id", INT8OID}, {"amount", amount_oid},
		{"description", TEXTOID}, {"metadata", JSONBOID},
		{"hold_id", INT8OID}, {"reverses_transfer_id", INT8OID}
	};
	Datum		values[lengthof(columns)];
	bool		nulls[lengthof(columns)];
	TransferRequest found;
	Datum		key;
	int64		id;

	if (req->idempotency_key == NULL)
		return 0;

	key = CStringGetTextDatum(req->idempotency_key);
	switch (TableFetchByKey("transfers", "transfers_idempotency_key_key", key,
							columns, lengthof(columns), values, nulls))
	{
		case TABLE_KEY_ABSENT:
			return 0;
		case TABLE_KEY_FOUND:
			break;
		case TABLE_KEY_DECLINED:
			LedgerExecute(&find_transfer_by_key, &key, NULL, 1);
			if (SPI_processed == 0)
				return 0;
			for (int c = 0; c < (int) lengthof(columns); c++)
				values[c] = LedgerGetColumn(0, c + 1, &nulls[c]);
			break;
	}

	memset(&found, 0, sizeof(found));
	id = DatumGetInt64(values[0]);
	found.debit_account_id = DatumGetInt64(values[1]);
	found.credit_account_id = DatumGetInt64(values[2]);
	found.amount = DatumGetAmount(values[3]);
	found.description = values[4];
	found.description_null = nulls[4];
	found.metadata = values[5];
	found.metadata_null = nulls[5];
	found.hold_id = nulls[6] ? 0 : DatumGetInt64(values[6]);
	found.reverses_transfer_id = nulls[7] ? 0 : DatumGetInt64(values[7]);

	if (!TransferArgumentsEqual(req, &found))
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_IDEMPOTENCY_CONFLICT),
				 errmsg("idempotency key \"%s\" was already used with different arguments",
						req->idempotency_key),
				 errdetail("The key belongs to transfer %lld of %s from account %lld to account %lld.",
						   (long long) id, AmountToCString(found.amount),
						   (long long) found.debit_account_id,
						   (long long) found.credit_account_id),
				 errhint("Use a new key for a new transfer, or repeat the original arguments to get its id.")));
	return id;
}

/*
 * CheckTransferRequest - the checks that need no lock: a positive amount,
 * two different accounts.
 */
void
CheckTransferRequest(const TransferRequest *req)
{
	CheckPositiveAmount(req->amount);
	if (req->debit_account_id == req->credit_account_id)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_SAME_ACCOUNT),
				 errmsg("cannot move money from account %lld to itself",
						(long long) req->debit_account_id)));
}

/*
 * CheckTransferAccounts - the checks that need the locked rows: both
 * accounts open and in the same asset.
 */
void
CheckTransferAccounts(const LedgerAccount *debit, const LedgerAccount *credit)
{
	CheckAccountOpen(debit);
	CheckAccountOpen(credit);
	if (strcmp(debit->asset, credit->asset) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_ASSET_MISMATCH),
				 errmsg("accounts %lld and %lld hold different assets",
						(long long) debit->id, (long long) credit->id),
				 errdetail("Account %lld holds %s and account %lld holds %s.",
						   (long long) debit->id, debit->asset,
						   (long long) credit->id, credit->asset),
				 errhint("Move value between assets with one transfer per asset through exchange accounts.")));
}

/*
 * PostTransfer - post a checked request between two locked accounts.
 *
 * Writes the transfer row and its two entries and updates both accounts in
 * memory and on disk.  Returns the new transfer's id with *created set, or,
 * when a concurrent call committed the same idempotency key first, that
 * transfer's id (after FindTransferByKey has compared the arguments) with
 * nothing written and *created clear.
 * Caller must hold both accounts' locks and have run CheckTransferRequest
 * and CheckTransferAccounts.
 */
int64
PostTransfer(const TransferRequest *req, LedgerAccount *debit,
			 LedgerAccount *credit, bool *created)
{
	TimestampTz created_at;
	Amount		debit_balance = 0;
	Amount		credit_balance = 0;
	Datum		values[11];
	char		nulls[11];
	bool		isnull;
	int64		id;

	if (!debit->queued)
		debit_balance = AccountPost(debit, LEDGER_DEBIT, req->amount);
	if (!credit->queued)
		credit_balance = AccountPost(credit, LEDGER_CREDIT, req->amount);
	if (!debit->queued)
		CheckAccountLimits(debit, LEDGER_DEBIT, req->amount);
	if (!credit->queued)
		CheckAccountLimits(credit, LEDGER_CREDIT, req->amount);
	created_at = GetCurrentTimestamp();
	if (!debit->queued)
		created_at = Max(created_at, debit->updated_at);
	if (!credit->queued)
		created_at = Max(created_at, credit->updated_at);

	if (!debit->queued && !credit->queued && req->idempotency_key == NULL)
	{
		*created = true;
		return post_keyless(req, debit, credit, debit_balance, credit_balance,
							created_at);
	}
	if (debit->queued != credit->queued && req->idempotency_key == NULL)
	{
		*created = true;
		if (credit->queued)
			return post_keyless_half_queued(req, debit, LEDGER_DEBIT, debit_balance,
											credit, created_at);
		return post_keyless_half_queued(req, credit, LEDGER_CREDIT, credit_balance,
										debit, created_at);
	}
	if (!debit->queued || !credit->queued)
	{
		id = post_keyed_direct(req, debit, credit, debit_balance, credit_balance,
							   created_at, created);
		if (id != 0)
			return id;
	}

	(void) transfer_row_params(req, created_at, values, nulls, lengthof(values));
	values[TR_KEY] = req->idempotency_key ? CStringGetTextDatum(req->idempotency_key) : (Datum) 0;
	nulls[TR_KEY] = req->idempotency_key ? ' ' : 'n';
	LedgerExecuteWrite(req->idempotency_key ? &insert_transfer : &insert_keyless_transfer,
					   values, nulls, 0);
	*created = SPI_processed > 0;
	if (!*created)
	{
		/* Lost a race for the key: the winner has committed by now. */
		id = FindTransferByKey(req);
		if (id == 0)
			elog(ERROR, "idempotency key \"%s\" conflicted but was not found",
				 req->idempotency_key);
		return id;
	}
	id = DatumGetInt64(LedgerGetColumn(0, 1, &isnull));

	if (!debit->queued)
		chain_entry(debit, id, LEDGER_DEBIT, req->amount, debit_balance, created_at);
	if (!credit->queued)
		chain_entry(credit, id, LEDGER_CREDIT, req->amount, credit_balance, created_at);

	if (!debit->queued && !credit->queued)
	{
		values[0] = Int64GetDatum(id);
		values[1] = Int64GetDatum(debit->id);
		values[2] = Int64GetDatum(debit->version);
		values[3] = AmountGetDatum(req->amount);
		values[4] = AmountGetDatum(debit_balance);
		values[5] = TimestampTzGetDatum(created_at);
		values[6] = Int64GetDatum(credit->id);
		values[7] = Int64GetDatum(credit->version);
		values[8] = AmountGetDatum(credit_balance);
		values[9] = PointerGetDatum(HashToBytea(debit->entry_hash));
		values[10] = PointerGetDatum(HashToBytea(credit->entry_hash));
		LedgerExecuteWrite(&insert_entries, values, NULL, 0);
		SaveAccountPair(debit, credit);
		return id;
	}

	/* A hot side: its posting is queued, the other side posted as usual. */
	if (debit->queued)
		QueueHotPosting(debit->id, id, LEDGER_DEBIT, req->amount, created_at);
	else
		insert_entry(id, debit, LEDGER_DEBIT, req->amount, debit_balance, created_at);
	if (credit->queued)
		QueueHotPosting(credit->id, id, LEDGER_CREDIT, req->amount, created_at);
	else
		insert_entry(id, credit, LEDGER_CREDIT, req->amount, credit_balance, created_at);
	if (!debit->queued)
		SaveAccount(debit);
	if (!credit->queued)
		SaveAccount(credit);
	return id;
}

/*
 * ledger_transfer - move an amount from the debit account to the credit
 * account; returns the transfer id.
 *
 * Locks both accounts in ascending id order, so concurrent transfers never
 * deadlock each other.
 */
PG_FUNCTION_INFO_V1(ledger_transfer);
Datum
ledger_transfer(PG_FUNCTION_ARGS)
{
	TransferRequest req;
	LedgerAccount accounts[2];
	LedgerAccount *debit;
	LedgerAccount *credit;
	int64		id;
	bool		created;

	CheckArgNotNull(fcinfo, 0, "debit_account_id");
	CheckArgNotNull(fcinfo, 1, "credit_account_id");
	CheckArgNotNull(fcinfo, 2, "amount");
	CheckMetadata(fcinfo, 5);

	req.debit_account_id = PG_GETARG_INT64(0);
	req.credit_account_id = PG_GETARG_INT64(1);
	req.amount = PG_GETARG_AMOUNT(2);
	req.idempotency_key = GetIdempotencyKey(fcinfo, 3);
	req.description_null = PG_ARGISNULL(4);
	req.description = req.description_null ? (Datum) 0 : PG_GETARG_DATUM(4);
	req.metadata_null = PG_ARGISNULL(5);
	req.metadata = req.metadata_null ? (Datum) 0 : PG_GETARG_DATUM(5);
	req.hold_id = 0;
	req.reverses_transfer_id = 0;
	CheckTransferRequest(&req);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/*
	 * The key is looked up after the locks: a concurrent call with the same
	 * key and accounts has committed by the time we hold them, and its
	 * transfer, not a fresh check of funds, decides the answer.
	 */
	if (AccountMayBeHot(req.debit_account_id) || AccountMayBeHot(req.credit_account_id))
		LockHotTransferPair(&req, accounts, &debit, &credit);
	else
		LockAccountPair(req.debit_account_id, req.credit_account_id, accounts,
						&debit, &credit);
	id = FindTransferByKey(&req);
	if (id == 0)
	{
		CheckTransferAccounts(debit, credit);
		id = PostTransfer(&req, debit, credit, &created);
	}

	SPI_finish();
	PG_RETURN_INT64(id);
}
