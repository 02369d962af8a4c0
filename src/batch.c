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
 *  - then one INSERT writes all transfers (in idempotency key order, so
 *    that batches sharing keys on disjoint accounts cannot deadlock on the
 *    unique index either), one INSERT all entries and one UPDATE every
 *    account touched, each from arrays through unnest().
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

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "lib/qunique.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
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

static LedgerStatement next_transfer_ids = LEDGER_STATEMENT(
	"SELECT pg_catalog.nextval('ledger.transfers_id_seq'::pg_catalog.regclass)"
	"  FROM pg_catalog.generate_series(1, $1)", "b");

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
	" direction, amount, balance_after, hash, created_at)"
	" SELECT u.*, $8 FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
	"  pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5),"
	"  pg_catalog.unnest($6), pg_catalog.unnest($7)) AS u",
	"BBBXAAHT");

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

/* The columns of the entries to insert, one array each. */
typedef struct EntryColumns
{
	Datum	   *transfer;
	Datum	   *account;
	Datum	   *version;
	Datum	   *direction;
	Datum	   *amount;
	Datum	   *balance;
	Datum	   *hash;
	Datum		debit_word;
	Datum		credit_word;
} EntryColumns;

/* Make room for n entries. */
static void
init_entry_columns(EntryColumns *cols, int n)
{
	cols->transfer = palloc(sizeof(Datum) * n);
	cols->account = palloc(sizeof(Datum) * n);
	cols->version = palloc(sizeof(Datum) * n);
	cols->direction = palloc(sizeof(Datum) * n);
	cols->amount = palloc(sizeof(Datum) * n);
	cols->balance = palloc(sizeof(Datum) * n);
	cols->hash = palloc(sizeof(Datum) * n);
	cols->debit_word = CStringGetTextDatum("debit");
	cols->credit_word = CStringGetTextDatum("credit");
}

/*
 * add_entry - extend the account's hash chain by one entry and store the
 * entry as row e of cols.
 */
static void
add_entry(EntryColumns *cols, int e, int64 transfer_id, LedgerAccount *account,
		  LedgerSide side, int64 version, Datum amount, Amount balance_after,
		  TimestampTz created_at)
{
	EntryHash(account->has_entry_hash ? account->entry_hash : NULL, transfer_id,
			  account->id, version, side, DatumGetAmount(amount), balance_after,
			  created_at, account->entry_hash);
	account->has_entry_hash = true;
	cols->transfer[e] = Int64GetDatum(transfer_id);
	cols->account[e] = Int64GetDatum(account->id);
	cols->version[e] = Int64GetDatum(version);
	cols->direction[e] = side == LEDGER_DEBIT ? cols->debit_word : cols->credit_word;
	cols->amount[e] = amount;
	cols->balance[e] = AmountGetDatum(balance_after);
	cols->hash[e] = PointerGetDatum(HashToBytea(account->entry_hash));
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
		Datum		arg = Int64GetDatum(nposted);
		Datum		values[8];
		int			t = 0;
		int			e = 0;
		int			nchanged = 0;
		Datum	   *tr_id = palloc(sizeof(Datum) * nposted);
		Datum	   *tr_debit = palloc(sizeof(Datum) * nposted);
		Datum	   *tr_credit = palloc(sizeof(Datum) * nposted);
		Datum	   *tr_amount = palloc(sizeof(Datum) * nposted);
		Datum	   *tr_key = palloc(sizeof(Datum) * nposted);
		bool	   *tr_key_null = palloc(sizeof(bool) * nposted);
		Datum	   *tr_desc = palloc(sizeof(Datum) * nposted);
		bool	   *tr_desc_null = palloc(sizeof(bool) * nposted);
		Datum	   *tr_meta = palloc(sizeof(Datum) * nposted);
		bool	   *tr_meta_null = palloc(sizeof(bool) * nposted);
		EntryColumns entries;
		Datum	   *ac_id = palloc(sizeof(Datum) * nids);
		Datum	   *ac_dp = palloc(sizeof(Datum) * nids);
		Datum	   *ac_cp = palloc(sizeof(Datum) * nids);
		Datum	   *ac_version = palloc(sizeof(Datum) * nids);
		Datum	   *ac_hash = palloc(sizeof(Datum) * nids);
		bool	   *changed = palloc0(sizeof(bool) * nids);
		BatchItem **posted = palloc(sizeof(BatchItem *) * nposted);

		created_at = NextEntryTimestamp(accounts, nids);
		init_entry_columns(&entries, nposted * 2);

		/* Transfer ids in item order, so ids follow the input. */
		LedgerExecute(&next_transfer_ids, &arg, NULL, 0);
		if ((int) SPI_processed != nposted)
			elog(ERROR, "could not allocate %d transfer ids", nposted);
		for (int r = 0; r < nposted; r++)
		{
			bool		isnull;

			tr_id[r] = LedgerGetColumn(r, 1, &isnull);
		}

		for (int i = 0; i < nitems; i++)
		{
			BatchItem  *item = &items[i];
			LedgerAccount *debit;
			LedgerAccount *credit;
			Datum		amount;

			if (!item->posted)
				continue;
			CHECK_FOR_INTERRUPTS();
			item->id = DatumGetInt64(tr_id[t]);
			posted[t++] = item;
			debit = &accounts[item->debit];
			credit = &accounts[item->credit];
			changed[item->debit] = changed[item->credit] = true;
			amount = AmountGetDatum(item->req.amount);

			/* Chain hashes in item order, as single calls would have. */
			add_entry(&entries, e++, item->id, debit, LEDGER_DEBIT,
					  item->debit_version, amount, item->debit_balance, created_at);
			add_entry(&entries, e++, item->id, credit, LEDGER_CREDIT,
					  item->credit_version, amount, item->credit_balance, created_at);
		}

		/*
		 * Transfers go in in idempotency key order.  Two batches on disjoint
		 * accounts that share new keys would otherwise each insert one key
		 * and wait for the other's in the unique index; in one global key
		 * order such waits cannot form a cycle.  Ids were assigned in item
		 * order above, so they still follow the input.
		 */
		qsort(posted, nposted, sizeof(BatchItem *), compare_item_keys);
		for (t = 0; t < nposted; t++)
		{
			BatchItem  *item = posted[t];

			tr_id[t] = Int64GetDatum(item->id);
			tr_debit[t] = Int64GetDatum(item->req.debit_account_id);
			tr_credit[t] = Int64GetDatum(item->req.credit_account_id);
			tr_amount[t] = AmountGetDatum(item->req.amount);
			tr_key_null[t] = item->req.idempotency_key == NULL;
			tr_key[t] = tr_key_null[t] ? (Datum) 0 :
				CStringGetTextDatum(item->req.idempotency_key);
			tr_desc[t] = item->req.description;
			tr_desc_null[t] = item->req.description_null;
			tr_meta[t] = item->req.metadata;
			tr_meta_null[t] = item->req.metadata_null;
		}

		values[0] = make_array(tr_id, NULL, nposted, INT8OID);
		values[1] = make_array(tr_debit, NULL, nposted, INT8OID);
		values[2] = make_array(tr_credit, NULL, nposted, INT8OID);
		values[3] = make_array(tr_amount, NULL, nposted, amount_oid);
		values[4] = make_array(tr_key, tr_key_null, nposted, TEXTOID);
		values[5] = make_array(tr_desc, tr_desc_null, nposted, TEXTOID);
		values[6] = make_array(tr_meta, tr_meta_null, nposted, JSONBOID);
		values[7] = TimestampTzGetDatum(created_at);
		/*
		 * Without keys nothing can conflict, and no speculative insertion is
		 * needed; posted[] has keyless items last, so its first has a key if
		 * any does.
		 */
		LedgerExecuteWrite(posted[0]->req.idempotency_key ?
						   &insert_transfers : &insert_keyless_transfers,
						   values, NULL, 0);
		if ((int) SPI_processed != nposted)
		{
			/*
			 * A concurrent call committed one of the keys after our lookup.
			 * It cannot have used the same accounts, whose locks we hold, so
			 * its arguments differ: report the conflict for that item.
			 */
			for (current = 0; current < nitems; current++)
				if (items[current].posted && items[current].req.idempotency_key)
					(void) FindTransferByKey(&items[current].req);
			current = -1;
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize the batch: a concurrent call committed one of its idempotency keys"),
					 errhint("Retry the batch.")));
		}

		values[0] = make_array(entries.transfer, NULL, e, INT8OID);
		values[1] = make_array(entries.account, NULL, e, INT8OID);
		values[2] = make_array(entries.version, NULL, e, INT8OID);
		values[3] = make_array(entries.direction, NULL, e, TEXTOID);
		values[4] = make_array(entries.amount, NULL, e, amount_oid);
		values[5] = make_array(entries.balance, NULL, e, amount_oid);
		values[6] = make_array(entries.hash, NULL, e, BYTEAOID);
		values[7] = TimestampTzGetDatum(created_at);
		LedgerExecuteWrite(&insert_entries, values, NULL, 0);

		for (int a = 0; a < nids; a++)
		{
			if (!changed[a])
				continue;
			ac_id[nchanged] = Int64GetDatum(accounts[a].id);
			ac_dp[nchanged] = AmountGetDatum(accounts[a].debits_posted);
			ac_cp[nchanged] = AmountGetDatum(accounts[a].credits_posted);
			ac_version[nchanged] = Int64GetDatum(accounts[a].version);
			ac_hash[nchanged] = PointerGetDatum(HashToBytea(accounts[a].entry_hash));
			nchanged++;
		}
		values[0] = make_array(ac_id, NULL, nchanged, INT8OID);
		values[1] = make_array(ac_dp, NULL, nchanged, amount_oid);
		values[2] = make_array(ac_cp, NULL, nchanged, amount_oid);
		values[3] = make_array(ac_version, NULL, nchanged, INT8OID);
		values[4] = make_array(ac_hash, NULL, nchanged, BYTEAOID);
		values[5] = TimestampTzGetDatum(created_at);
		LedgerExecuteWrite(&update_accounts, values, NULL, 0);
		if ((int) SPI_processed != nchanged)
			elog(ERROR, "updated %d accounts, expected %d", (int) SPI_processed, nchanged);
	}

	SPI_finish();
	error_context_stack = errcallback.previous;

	result = palloc(sizeof(Datum) * nitems);
	for (int i = 0; i < nitems; i++)
		result[i] = Int64GetDatum(items[i].same_as >= 0 ?
								  items[items[i].same_as].id : items[i].id);
	PG_RETURN_DATUM(make_array(result, NULL, nitems, INT8OID));
}
