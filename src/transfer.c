/*
 * transfer.c - ledger.transfer: move an amount between two accounts.
 *
 * A transfer is one row in ledger.transfers, one entry per account in
 * ledger.entries and one update per account, all in the caller's
 * transaction, under both accounts' row locks (or, for a side it queues for
 * a hot account, that account's hot lock).  The posting pipeline
 * (posting.c) does all of it; this file reads and checks the arguments.
 *
 * Idempotency: a key is unique across transfers (a unique index).  The key
 * is looked up once the accounts are locked: a concurrent call with the same
 * key and accounts has committed by then, and its transfer, not a fresh
 * check of funds, decides the answer.  One that committed the key on other
 * accounts meanwhile is found when the row is written.  Either way the
 * caller gets the original transfer's id when its arguments match, and an
 * error naming the key when they do not.
 */
#include "ledger.h"

#include "posting.h"

/*
 * ledger_transfer - move an amount from the debit account to the credit
 * account; returns the transfer id.
 */
PG_FUNCTION_INFO_V1(ledger_transfer);
Datum
ledger_transfer(PG_FUNCTION_ARGS)
{
	Movement	m;
	Posting		p;

	CheckArgNotNull(fcinfo, 0, "debit_account_id");
	CheckArgNotNull(fcinfo, 1, "credit_account_id");
	CheckArgNotNull(fcinfo, 2, "amount");
	CheckMetadata(fcinfo, 5);

	memset(&m, 0, sizeof(m));
	m.kind = MOVE_TRANSFER;
	m.req.debit_account_id = PG_GETARG_INT64(0);
	m.req.credit_account_id = PG_GETARG_INT64(1);
	m.req.amount = PG_GETARG_AMOUNT(2);
	GetRequestTexts(fcinfo, 3, &m.req);
	CheckTransferRequest(&m.req);

	memset(&p, 0, sizeof(p));
	p.items = &m;
	p.nitems = 1;
	p.may_queue = true;
	LedgerConnect();
	PostingRun(&p);
	SPI_finish();
	PG_RETURN_INT64(m.id);
}
