/*
 * batch.c - ledger.transfer_batch: many transfers in one atomic call.
 *
 * Each item obeys every rule of ledger.transfer, in order, and comes out
 * exactly as if the items had been called one by one: a later item sees the
 * balances left by earlier ones, and versions, running balances and hashes
 * follow item order.  The work is arranged for volume instead:
 *
 *  - every account involved is locked once, all together, in ascending id
 *    order, so batches never deadlock each other or single transfers;
 *  - the items are checked and posted in memory;
 *  - then the rows are written.  Transfers with an idempotency key go in by
 *    one INSERT ... ON CONFLICT, in key order, so that batches sharing keys
 *    on disjoint accounts cannot deadlock on the unique index either.  The
 *    other transfers, all entries and every account touched are written
 *    straight into the tables (table.c): heap tuples many at a time, btree
 *    entries in index order, every row checked as INSERT and UPDATE check
 *    it.  A table that carries something only SQL honours (a user's
 *    trigger, a rule, row security) is written instead by one statement
 *    from arrays through unnest(), so that nothing of it is skipped.
 *
 * An error names the failing item's position in its CONTEXT line, and since
 * nothing is written before every item has passed, a failed batch leaves no
 * trace.  Every item's arguments are checked before any lock is taken, so a
 * batch with a malformed item fails at once, naming the first such item.
 * Idempotency keys are looked up once the accounts are locked; a key that a
 * concurrent call on other accounts commits after that lookup belongs to a
 * transfer with other arguments, and is reported as a conflict.
 */
#include "ledger.h"

#include "table.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "common/hashfn.h"
#include "lib/qunique.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

/* Fields of ledger.transfer_request, in order. */
#define Natts_transfer_request 6

/* One item of a batch as it is processed. */
typedef struct BatchItem
{
	TransferRequest req;
	int64		id;				/* the transfer id returned for the item */
	int			same_as;		/* earlier item with the same key, or -1 */
	bool		posted;			/* a new transfer written by this batch */
	int			debit;			/* index into the locked accounts */
	int			credit;
	int64		debit_version;
	int64		credit_version;
	Amount		debit_balance;
	Amount		credit_balance;
} BatchItem;

/* A key seen earlier in the batch. */
typedef struct KeyEntry
{
	char	   *key;			/* hash key: the string the pointer points to */
	int			item;
} KeyEntry;

static LedgerStatement existing_keys = LEDGER_STATEMENT(
	"SELECT idempotency_key FROM ledger.transfers"
	" WHERE idempotency_key OPERATOR(pg_catalog.=) ANY ($1)", "X");

static LedgerStatement insert_keyless_transfers = LEDGER_STATEMENT(
	"INSERT INTO ledger.transfers (id, debit_account_id, credit_account_id,"
	" amount, idempotency_key, description, metadata, created_at)"
	" SELECT u.*, $8 FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
	"  pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5),"
	"  pg_catalog.unnest($6), pg_catalog.unnest($7)) AS u",
	"BBBAXXJT");

static LedgerStatement insert_transfers = LEDGER_STATEMENT(
	"INSERT INTO ledger.transfers (id, debit_account_id, credit_account_id,"
	" amount, idempotency_key, description, metadata, created_at)"
	" SELECT u.*, $8 FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
	"  pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5),"
	"  pg_catalog.unnest($6), pg_catalog.unnest($7)) AS u"
	" ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING",
	"BBBAXXJT");

static LedgerStatement insert_entries = LEDGER_STATEMENT(
	"INSERT INTO ledger.entries (transfer_id, account_id, account_version,"
	" direction, amount, balance_after, hash, id, created_at)"
	" SELECT u.*, $9 FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
	"  pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5),"
	"  pg_catalog.unnest($6), pg_catalog.unnest($7), pg_catalog.unnest($8)) AS u",
	"BBBXAAHBT");

static LedgerStatement update_accounts = LEDGER_STATEMENT(
	"UPDATE ledger.accounts AS a SET debits_posted = u.dp, credits_posted = u.cp,"
	" version = u.v, entry_hash = u.h, updated_at = $6"
	" FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
	"  pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5))"
	"  AS u(id, dp, cp, v, h)"
	" WHERE a.id OPERATOR(pg_catalog.=) u.id", "BAABHT");

/* Error context: which item of the batch failed. */
static void
batch_item_context(void *arg)
{
	int			item = *(int *) arg;

	if (item >= 0)
		errcontext("transfer_batch item %d", item + 1);
}

/* dynahash callbacks for string keys held by pointer. */
static uint32
key_hash(const void *key, Size keysize)
{
	const char *s = *(char *const *) key;

	return hash_bytes((const unsigned char *) s, strlen(s));
}

static int
key_match(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(char *const *) key1, *(char *const *) key2);
}

/* qsort comparator: items by idempotency key, items without one last. */
static int
compare_item_keys(const void *a, const void *b)
{
	const BatchItem *x = *(BatchItem *const *) a;
	const BatchItem *y = *(BatchItem *const *) b;

	if (x->req.idempotency_key == NULL || y->req.idempotency_key == NULL)
		return (x->req.idempotency_key == NULL) - (y->req.idempotency_key == NULL);
	return strcmp(x->req.idempotency_key, y->req.idempotency_key);
}

/* Index of id in the sorted ids[], which must contain it. */
static int
account_index(const int64 *ids, int n, int64 id)
{
	int64	   *found = bsearch(&id, ids, n, sizeof(int64), CompareAccountIds);

	Assert(found != NULL);
	return (int) (found - ids);
}

/* Read the items out of the array argument and check what needs no lock. */
static BatchItem *
read_items(ArrayType *array, int *nitems, int *current)
{
	Datum	   *elems;
	bool	   *elemnulls;
	int			n;
	BatchItem  *items;
	TupleDesc	desc = NULL;
	Oid			elemtype = ARR_ELEMTYPE(array);
	int16		typlen;
	bool		typbyval;
	char		typalign;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_ARGUMENT),
				 errmsg("transfers must be a one-dimensional array")));
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(array, elemtype, typlen, typbyval, typalign,
					  &elems, &elemnulls, &n);
	if (n > LEDGER_BATCH_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_BATCH_TOO_LARGE),
				 errmsg("batch of %d transfers exceeds the limit of %d", n, LEDGER_BATCH_MAX),
				 errhint("Split it into several calls in one transaction.")));

	items = palloc0(sizeof(BatchItem) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTupleHeader th;
		HeapTupleData tuple;
		Datum		values[Natts_transfer_request];
		bool		nulls[Natts_transfer_request];
		TransferRequest *req = &items[i].req;

		*current = i;
		if (elemnulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_NULL_ARGUMENT),
					 errmsg("transfer must not be null")));
		th = DatumGetHeapTupleHeader(elems[i]);
		if (desc == NULL)
			desc = lookup_rowtype_tupdesc_copy(HeapTupleHeaderGetTypeId(th),
											   HeapTupleHeaderGetTypMod(th));
		tuple.t_len = HeapTupleHeaderGetDatumLength(th);
		ItemPointerSetInvalid(&tuple.t_self);
		tuple.t_tableOid = InvalidOid;
		tuple.t_data = th;
		heap_deform_tuple(&tuple, desc, values, nulls);

		if (nulls[0])
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_NULL_ARGUMENT),
					 errmsg("debit_account_id must not be null")));
		if (nulls[1])
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_NULL_ARGUMENT),
					 errmsg("credit_account_id must not be null")));
		if (nulls[2])
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_NULL_ARGUMENT),
					 errmsg("amount must not be null")));
		req->debit_account_id = DatumGetInt64(values[0]);
		req->credit_account_id = DatumGetInt64(values[1]);
		req->amount = DatumGetAmount(values[2]);
		req->idempotency_key = nulls[3] ? NULL : IdempotencyKeyFromDatum(values[3]);
		req->description_null = nulls[4];
		req->description = nulls[4] ? (Datum) 0 : values[4];
		req->metadata_null = nulls[5];
		req->metadata = nulls[5] ? (Datum) 0 : values[5];
		if (!nulls[5])
			CheckMetadataDatum(values[5]);
		CheckTransferRequest(req);
		items[i].same_as = -1;
	}
	*current = -1;
	*nitems = n;
	return items;
}

/* Build a one-dimensional array of n Datums (with nulls, if given). */
static Datum
make_array(Datum *values, bool *nulls, int n, Oid elemtype)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs,
											  elemtype, typlen, typbyval, typalign));
}

/*
 * A sink for rows of one table: straight into the table (table.c), or, when
 * the table must be written through SQL, gathered into one array per column
 * for a statement that unnests them.  The last column has one value for all
 * rows (the batch's time), which the statement takes as its last parameter.
 */
typedef struct RowSink
{
	TableInsert *direct;		/* NULL: gathered for SQL */
	int			narrays;		/* columns gathered into arrays */
	int			n;				/* rows gathered */
	Datum	  **values;			/* narrays arrays of capacity rows */
	bool	  **nulls;
	int16	   *typlen;			/* of each column, to copy its values */
	bool	   *typbyval;
	Datum		last;			/* the last column's value */
} RowSink;

/* Gather up to capacity rows of the columns for an SQL statement. */
static void
sink_open_sql(RowSink *sink, const TableColumn *columns, int ncolumns,
			  int capacity)
{
	sink->direct = NULL;
	sink->narrays = ncolumns - 1;
	sink->n = 0;
	sink->values = palloc(sizeof(Datum *) * sink->narrays);
	sink->nulls = palloc(sizeof(bool *) * sink->narrays);
	sink->typlen = palloc(sizeof(int16) * sink->narrays);
	sink->typbyval = palloc(sizeof(bool) * sink->narrays);
	for (int c = 0; c < sink->narrays; c++)
	{
		sink->values[c] = palloc(sizeof(Datum) * capacity);
		sink->nulls[c] = palloc(sizeof(bool) * capacity);
		get_typlenbyval(columns[c].type, &sink->typlen[c], &sink->typbyval[c]);
	}
}

/*
 * Open a sink for up to capacity rows of the ledger's table: direct if
 * table.c may write it, else for an SQL statement.
 */
static void
sink_open(RowSink *sink, const char *table, const TableColumn *columns,
		  int ncolumns, int capacity)
{
	TableInsert *direct = TableInsertBegin(table, columns, ncolumns);

	if (direct == NULL)
		sink_open_sql(sink, columns, ncolumns, capacity);
	sink->direct = direct;
}

/*
 * Add a row.  The values need not outlive the call: the row is written at
 * once or its values copied (the last column's, the same for every row,
 * must live until sink_close).
 */
static void
sink_add(RowSink *sink, const Datum *values, const bool *nulls)
{
	if (sink->direct != NULL)
	{
		TableInsertRow(sink->direct, values, nulls);
		return;
	}
	for (int c = 0; c < sink->narrays; c++)
	{
		sink->nulls[c][sink->n] = nulls[c];
		sink->values[c][sink->n] = nulls[c] ? (Datum) 0 :
			datumCopy(values[c], sink->typbyval[c], sink->typlen[c]);
	}
	sink->last = values[sink->narrays];
	sink->n++;
}

/*
 * Write the rows: finish the direct insertion, or run stmt with one array
 * per column (element types from columns) and the last column's value.
 * Returns the number of rows written.
 */
static int64
sink_close(RowSink *sink, const TableColumn *columns, LedgerStatement *stmt)
{
	Datum		params[16];

	if (sink->direct != NULL)
		return TableInsertEnd(sink->direct);

	Assert(sink->narrays < lengthof(params));
	for (int c = 0; c < sink->narrays; c++)
	{
		bool		anynull = false;

		for (int r = 0; r < sink->n && !anynull; r++)
			anynull = sink->nulls[c][r];
		params[c] = make_array(sink->values[c], anynull ? sink->nulls[c] : NULL,
							   sink->n, columns[c].type);
	}
	params[sink->narrays] = sink->last;
	LedgerExecuteWrite(stmt, params, NULL, 0);
	return (int64) SPI_processed;
}

/*
 * Columns of ledger.transfers that a batch supplies, in the order of the SQL
 * statements' parameters; created_at, the same for all, last.
 */
enum
{
	TR_ID, TR_DEBIT, TR_CREDIT, TR_AMOUNT, TR_KEY, TR_DESCRIPTION, TR_METADATA,
	TR_CREATED_AT, TR_NCOLUMNS
};

/* Columns of ledger.entries that a batch supplies, likewise. */
enum
{
	EN_TRANSFER, EN_ACCOUNT, EN_VERSION, EN_DIRECTION, EN_AMOUNT, EN_BALANCE,
	EN_HASH, EN_ID, EN_CREATED_AT, EN_NCOLUMNS
};

/*
 * A bytea of one chain hash, on the stack: rows added to a sink need their
 * values only for the call.
 */
typedef union HashBytea
{
	int32		align;			/* a varlena header's alignment */
	char		data[VARHDRSZ + LEDGER_HASH_LEN];
} HashBytea;

/* The hash as a bytea Datum in buf. */
static Datum
hash_datum(HashBytea *buf, const uint8 *hash)
{
	SET_VARSIZE(buf->data, VARHDRSZ + LEDGER_HASH_LEN);
	memcpy(VARDATA(buf->data), hash, LEDGER_HASH_LEN);
	return PointerGetDatum(buf->data);
}

/* The transfer row of a posted item; its amount Datum points to *amount. */
static void
transfer_row(const BatchItem *item, TimestampTz created_at, Amount *amount,
			 Datum *values, bool *nulls)
{
	const TransferRequest *req = &item->req;

	memset(nulls, 0, sizeof(bool) * TR_NCOLUMNS);
	*amount = req->amount;
	values[TR_ID] = Int64GetDatum(item->id);
	values[TR_DEBIT] = Int64GetDatum(req->debit_account_id);
	values[TR_CREDIT] = Int64GetDatum(req->credit_account_id);
	values[TR_AMOUNT] = PointerGetDatum(amount);
	nulls[TR_KEY] = req->idempotency_key == NULL;
	values[TR_KEY] = nulls[TR_KEY] ? (Datum) 0 :
		CStringGetTextDatum(req->idempotency_key);
	values[TR_DESCRIPTION] = req->description;
	nulls[TR_DESCRIPTION] = req->description_null;
	values[TR_METADATA] = req->metadata;
	nulls[TR_METADATA] = req->metadata_null;
	values[TR_CREATED_AT] = TimestampTzGetDatum(created_at);
}

/*
 * write_transfers - write the transfer rows of the posted items.
 *
 * Rows with a key go first, through the SQL statement and its ON CONFLICT
 * clause, in key order: two batches on disjoint accounts that share new
 * keys would otherwise each insert one key and wait for the other's in the
 * unique index; in one global key order such waits cannot form a cycle.
 * Rows without a key cannot conflict and go straight into the table.
 */
static void
write_transfers(BatchItem *items, int nitems, int nposted, TimestampTz created_at,
				Oid amount_oid, int *current)
{
	TableColumn columns[TR_NCOLUMNS] = {
		{"id", INT8OID}, {"debit_account_id", INT8OID},
		{"credit_account_id", INT8OID}, {"amount", amount_oid},
		{"idempotency_key", TEXTOID}, {"description", TEXTOID},
		{"metadata", JSONBOID}, {"created_at", TIMESTAMPTZOID}
	};
	BatchItem **keyed = palloc(sizeof(BatchItem *) * nposted);
	int			nkeyed = 0;
	Datum		values[TR_NCOLUMNS];
	bool		nulls[TR_NCOLUMNS];
	Amount		amount;
	RowSink		sink;

	for (int i = 0; i < nitems; i++)
		if (items[i].posted && items[i].req.idempotency_key != NULL)
			keyed[nkeyed++] = &items[i];

	if (nkeyed > 0)
	{
		RowSink		sql;

		qsort(keyed, nkeyed, sizeof(BatchItem *), compare_item_keys);
		sink_open_sql(&sql, columns, TR_NCOLUMNS, nkeyed);
		for (int t = 0; t < nkeyed; t++)
		{
			transfer_row(keyed[t], created_at, &amount, values, nulls);
			sink_add(&sql, values, nulls);
		}
		if (sink_close(&sql, columns, &insert_transfers) != nkeyed)
		{
			/*
			 * A concurrent call committed one of the keys after our lookup.
			 * It cannot have used the same accounts, whose locks we hold, so
			 * its arguments differ: report the conflict for that item.
			 */
			for (*current = 0; *current < nitems; (*current)++)
				if (items[*current].posted && items[*current].req.idempotency_key)
					(void) FindTransferByKey(&items[*current].req);
			*current = -1;
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize the batch: a concurrent call committed one of its idempotency keys"),
					 errhint("Retry the batch.")));
		}
	}

	if (nkeyed == nposted)
		return;
	sink_open(&sink, "transfers", columns, TR_NCOLUMNS, nposted - nkeyed);
	for (int i = 0; i < nitems; i++)
	{
		if (!items[i].posted || items[i].req.idempotency_key != NULL)
			continue;
		CHECK_FOR_INTERRUPTS();
		transfer_row(&items[i], created_at, &amount, values, nulls);
		sink_add(&sink, values, nulls);
	}
	if (sink_close(&sink, columns, &insert_keyless_transfers) != nposted - nkeyed)
		elog(ERROR, "could not insert %d transfers", nposted - nkeyed);
}

/*
 * add_entry - extend the account's hash chain by one entry and add the
 * entry to sink.
 */
static void
add_entry(RowSink *sink, int64 transfer_id, LedgerAccount *account,
		  LedgerSide side, int64 version, Amount amount, Amount balance_after,
		  TimestampTz created_at, Datum direction)
{
	Datum		values[EN_NCOLUMNS];
	bool		nulls[EN_NCOLUMNS] = {false};
	HashBytea	hash;

	EntryHash(account->has_entry_hash ? account->entry_hash : NULL, transfer_id,
			  account->id, version, side, amount, balance_after,
			  created_at, account->entry_hash);
	account->has_entry_hash = true;
	values[EN_TRANSFER] = Int64GetDatum(transfer_id);
	values[EN_ACCOUNT] = Int64GetDatum(account->id);
	values[EN_VERSION] = Int64GetDatum(version);
	values[EN_DIRECTION] = direction;
	values[EN_AMOUNT] = PointerGetDatum(&amount);
	values[EN_BALANCE] = PointerGetDatum(&balance_after);
	values[EN_HASH] = hash_datum(&hash, account->entry_hash);
	values[EN_ID] = Int64GetDatum(EntryIdOf(transfer_id, side));
	values[EN_CREATED_AT] = TimestampTzGetDatum(created_at);
	sink_add(sink, values, nulls);
}

/*
 * write_entries - chain and write the two entries of each posted item, in
 * item order, as single calls would have.
 */
static void
write_entries(BatchItem *items, int nitems, int nposted, LedgerAccount *accounts,
			  TimestampTz created_at, Oid amount_oid)
{
	TableColumn columns[EN_NCOLUMNS] = {
		{"transfer_id", INT8OID}, {"account_id", INT8OID},
		{"account_version", INT8OID}, {"direction", TEXTOID},
		{"amount", amount_oid}, {"balance_after", amount_oid},
		{"hash", BYTEAOID}, {"id", INT8OID}, {"created_at", TIMESTAMPTZOID}
	};
	Datum		debit_word = CStringGetTextDatum("debit");
	Datum		credit_word = CStringGetTextDatum("credit");
	RowSink		sink;

	sink_open(&sink, "entries", columns, EN_NCOLUMNS, nposted * 2);
	for (int i = 0; i < nitems; i++)
	{
		BatchItem  *item = &items[i];

		if (!item->posted)
			continue;
		CHECK_FOR_INTERRUPTS();
		add_entry(&sink, item->id, &accounts[item->debit], LEDGER_DEBIT,
				  item->debit_version, item->req.amount, item->debit_balance,
				  created_at, debit_word);
		add_entry(&sink, item->id, &accounts[item->credit], LEDGER_CREDIT,
				  item->credit_version, item->req.amount, item->credit_balance,
				  created_at, credit_word);
	}
	if (sink_close(&sink, columns, &insert_entries) != nposted * 2)
		elog(ERROR, "could not insert %d entries", nposted * 2);
}

/*
 * assign_transfer_ids - give the posted items their transfer ids, in item
 * order, so that ids follow the input.
 */
static void
assign_transfer_ids(BatchItem *items, int nitems)
{
	for (int i = 0; i < nitems; i++)
		if (items[i].posted)
			items[i].id = LedgerNextId("transfers_id_seq");
}

/* Columns of ledger.accounts that a batch sets. */
enum
{
	AC_DEBITS, AC_CREDITS, AC_VERSION, AC_HASH, AC_UPDATED_AT, AC_NCOLUMNS
};

/*
 * save_accounts - write back the running sums, version and chain hash of
 * every account the posted items touched.
 *
 * Straight into the table when table.c can (every row version written as
 * UPDATE would write it, through the accounts' guard trigger), else with one
 * UPDATE from arrays: when the table carries a trigger of the user's, or
 * when a foreign key check would fire because this transaction wrote one of
 * the rows before (created the account, or posted to it in an earlier
 * call).
 */
static void
save_accounts(BatchItem *items, int nitems, LedgerAccount *accounts, int naccounts,
			  TimestampTz created_at, Oid amount_oid)
{
	TableColumn columns[AC_NCOLUMNS] = {
		{"debits_posted", amount_oid}, {"credits_posted", amount_oid},
		{"version", INT8OID}, {"entry_hash", BYTEAOID},
		{"updated_at", TIMESTAMPTZOID}
	};
	bool	   *changed = palloc0(sizeof(bool) * naccounts);
	int			nchanged = 0;
	int64		updated = -1;
	TableUpdate *upd;

	for (int i = 0; i < nitems; i++)
		if (items[i].posted)
			changed[items[i].debit] = changed[items[i].credit] = true;
	for (int a = 0; a < naccounts; a++)
		if (changed[a])
			nchanged++;

	upd = TableUpdateBegin("accounts", columns, AC_NCOLUMNS);
	if (upd != NULL)
	{
		Datum		values[AC_NCOLUMNS];
		bool		nulls[AC_NCOLUMNS] = {false};
		HashBytea	hash;

		for (int a = 0; a < naccounts; a++)
		{
			if (!changed[a])
				continue;
			CHECK_FOR_INTERRUPTS();
			values[AC_DEBITS] = PointerGetDatum(&accounts[a].debits_posted);
			values[AC_CREDITS] = PointerGetDatum(&accounts[a].credits_posted);
			values[AC_VERSION] = Int64GetDatum(accounts[a].version);
			values[AC_HASH] = hash_datum(&hash, accounts[a].entry_hash);
			values[AC_UPDATED_AT] = TimestampTzGetDatum(created_at);
			(void) TableUpdateRow(upd, accounts[a].id, &accounts[a].tid, values, nulls);
		}
		updated = TableUpdateEnd(upd);
	}

	if (updated < 0)
	{
		Datum	   *ac_id = palloc(sizeof(Datum) * nchanged);
		Datum	   *ac_dp = palloc(sizeof(Datum) * nchanged);
		Datum	   *ac_cp = palloc(sizeof(Datum) * nchanged);
		Datum	   *ac_version = palloc(sizeof(Datum) * nchanged);
		Datum	   *ac_hash = palloc(sizeof(Datum) * nchanged);
		Datum		params[6];
		int			n = 0;

		for (int a = 0; a < naccounts; a++)
		{
			if (!changed[a])
				continue;
			ac_id[n] = Int64GetDatum(accounts[a].id);
			ac_dp[n] = AmountGetDatum(accounts[a].debits_posted);
			ac_cp[n] = AmountGetDatum(accounts[a].credits_posted);
			ac_version[n] = Int64GetDatum(accounts[a].version);
			ac_hash[n] = PointerGetDatum(HashToBytea(accounts[a].entry_hash));
			n++;
		}
		params[0] = make_array(ac_id, NULL, n, INT8OID);
		params[1] = make_array(ac_dp, NULL, n, amount_oid);
		params[2] = make_array(ac_cp, NULL, n, amount_oid);
		params[3] = make_array(ac_version, NULL, n, INT8OID);
		params[4] = make_array(ac_hash, NULL, n, BYTEAOID);
		params[5] = TimestampTzGetDatum(created_at);
		LedgerExecuteWrite(&update_accounts, params, NULL, 0);
		updated = (int64) SPI_processed;
	}
	if (updated != nchanged)
		elog(ERROR, "updated %d accounts, expected %d", (int) updated, nchanged);
}

/*
 * ledger_transfer_batch - post an array of transfer requests atomically;
 * returns their transfer ids in input order.
 */
PG_FUNCTION_INFO_V1(ledger_transfer_batch);
Datum
ledger_transfer_batch(PG_FUNCTION_ARGS)
{
	ErrorContextCallback errcallback;
	int			current = -1;
	BatchItem  *items;
	int			nitems;
	int64	   *ids;
	int			nids = 0;
	LedgerAccount *accounts;
	HTAB	   *keys = NULL;
	HTAB	   *existing = NULL;
	int			nposted = 0;
	TimestampTz created_at;
	Datum	   *result;
	Oid			amount_oid;

	CheckArgNotNull(fcinfo, 0, "transfers");

	errcallback.callback = batch_item_context;
	errcallback.arg = &current;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	items = read_items(PG_GETARG_ARRAYTYPE_P(0), &nitems, &current);
	if (nitems == 0)
	{
		error_context_stack = errcallback.previous;
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(INT8OID));
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	amount_oid = LedgerAmountTypeOid();

	/* Lock every account once, in ascending id order. */
	ids = palloc(sizeof(int64) * nitems * 2);
	for (int i = 0; i < nitems; i++)
	{
		ids[nids++] = items[i].req.debit_account_id;
		ids[nids++] = items[i].req.credit_account_id;
	}
	qsort(ids, nids, sizeof(int64), CompareAccountIds);
	nids = qunique(ids, nids, sizeof(int64), CompareAccountIds);
	accounts = palloc(sizeof(LedgerAccount) * nids);
	{
		int64		missing;

		if (!TryLockAccounts(ids, nids, accounts, &missing))
		{
			/* Name the first item that uses the missing account. */
			for (current = 0; current < nitems; current++)
				if (items[current].req.debit_account_id == missing ||
					items[current].req.credit_account_id == missing)
					break;
			ReportUnknownAccount(missing);
		}
	}

	/* Which of the items' keys are already taken, in one query. */
	{
		HASHCTL		ctl;
		Datum	   *keyvals = palloc(sizeof(Datum) * nitems);
		int			nkeys = 0;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(char *);
		ctl.entrysize = sizeof(KeyEntry);
		ctl.hash = key_hash;
		ctl.match = key_match;
		ctl.hcxt = CurrentMemoryContext;
		keys = hash_create("ledger batch keys", nitems, &ctl,
						   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
		existing = hash_create("ledger batch existing keys", 16, &ctl,
							   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
		for (int i = 0; i < nitems; i++)
			if (items[i].req.idempotency_key)
				keyvals[nkeys++] = CStringGetTextDatum(items[i].req.idempotency_key);
		if (nkeys > 0)
		{
			Datum		arg = make_array(keyvals, NULL, nkeys, TEXTOID);
			int			nfound;

			LedgerExecute(&existing_keys, &arg, NULL, 0);
			nfound = (int) SPI_processed;
			for (int r = 0; r < nfound; r++)
			{
				bool		isnull;
				char	   *k = TextDatumGetCString(LedgerGetColumn(r, 1, &isnull));
				KeyEntry   *e = hash_search(existing, &k, HASH_ENTER, NULL);

				e->key = k;
				e->item = -1;
			}
		}
		pfree(keyvals);
	}

	/* Check and post every item in memory, in order. */
	for (int i = 0; i < nitems; i++)
	{
		BatchItem  *item = &items[i];
		TransferRequest *req = &item->req;
		LedgerAccount *debit;
		LedgerAccount *credit;

		current = i;
		CHECK_FOR_INTERRUPTS();
		if (req->idempotency_key)
		{
			bool		found;
			KeyEntry   *e;

			if (hash_search(existing, &req->idempotency_key, HASH_FIND, NULL))
			{
				/* A replay of an earlier call: compare, never repost. */
				item->id = FindTransferByKey(req);
				continue;
			}
			e = hash_search(keys, &req->idempotency_key, HASH_ENTER, &found);
			if (found)
			{
				if (!TransferArgumentsEqual(req, &items[e->item].req))
					ereport(ERROR,
							(errcode(ERRCODE_LEDGER_IDEMPOTENCY_CONFLICT),
							 errmsg("idempotency key \"%s\" was already used with different arguments",
									req->idempotency_key),
							 errdetail("Item %d of the batch uses the same key.", e->item + 1)));
				item->same_as = e->item;
				continue;
			}
			e->key = req->idempotency_key;
			e->item = i;
		}

		item->debit = account_index(ids, nids, req->debit_account_id);
		item->credit = account_index(ids, nids, req->credit_account_id);
		debit = &accounts[item->debit];
		credit = &accounts[item->credit];
		CheckTransferAccounts(debit, credit);
		item->debit_balance = AccountPost(debit, LEDGER_DEBIT, req->amount);
		item->credit_balance = AccountPost(credit, LEDGER_CREDIT, req->amount);
		CheckAccountLimits(debit, LEDGER_DEBIT, req->amount);
		CheckAccountLimits(credit, LEDGER_CREDIT, req->amount);
		item->debit_version = debit->version;
		item->credit_version = credit->version;
		item->posted = true;
		nposted++;
	}
	current = -1;

	if (nposted > 0)
	{
		created_at = NextEntryTimestamp(accounts, nids);
		assign_transfer_ids(items, nitems);
		write_transfers(items, nitems, nposted, created_at, amount_oid, &current);
		write_entries(items, nitems, nposted, accounts, created_at, amount_oid);
		save_accounts(items, nitems, accounts, nids, created_at, amount_oid);
	}

	SPI_finish();
	error_context_stack = errcallback.previous;

	result = palloc(sizeof(Datum) * nitems);
	for (int i = 0; i < nitems; i++)
		result[i] = Int64GetDatum(items[i].same_as >= 0 ?
								  items[items[i].same_as].id : items[i].id);
	PG_RETURN_DATUM(make_array(result, NULL, nitems, INT8OID));
}
