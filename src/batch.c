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
 *  - the items are checked and posted in memory, in order;
 *  - then the rows are written, each table once for all the items
 *    (table.c writes them as COPY would: heap tuples many at a time, btree
 *    entries in index order, each account once).  Transfers with an
 *    idempotency key go in first, in key order, so that batches sharing
 *    keys on disjoint accounts cannot deadlock on the unique index either.
 * All of it is the posting pipeline's (posting.c); this file reads the
 * items and names the failing one.
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

#include "posting.h"

#include "utils/array.h"

/* Fields of ledger.transfer_request, in order. */
#define Natts_transfer_request 6

/* Read the items out of the array argument and check what needs no lock. */
static Movement *
read_items(ArrayType *array, int *nitems, int *current)
{
	Datum	   *fields;
	bool	   *fieldnulls;
	int			n = GetRequestItems(array, Natts_transfer_request, "transfer", current,
									&fields, &fieldnulls);
	Movement   *items = palloc0(sizeof(Movement) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		Datum	   *values = fields + i * Natts_transfer_request;
		bool	   *nulls = fieldnulls + i * Natts_transfer_request;
		TransferRequest *req = &items[i].req;

		*current = i;
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
		items[i].kind = MOVE_TRANSFER;
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
	}
	*current = -1;
	*nitems = n;
	return items;
}

/*
 * ledger_transfer_batch - post an array of transfer requests atomically;
 * returns their transfer ids in input order.
 */
PG_FUNCTION_INFO_V1(ledger_transfer_batch);
Datum
ledger_transfer_batch(PG_FUNCTION_ARGS)
{
	ItemContext context;
	Posting		p;
	ArrayType  *result;

	CheckArgNotNull(fcinfo, 0, "transfers");
	memset(&p, 0, sizeof(p));
	p.batch = true;
	PushItemContext(&context, "transfer_batch", &p.current);

	p.items = read_items(PG_GETARG_ARRAYTYPE_P(0), &p.nitems, &p.current);
	result = PostingRunBatch(&p);
	PopItemContext(&context);
	PG_RETURN_ARRAYTYPE_P(result);
}
