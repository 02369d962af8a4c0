/*
 * reverse.c - ledger.reverse: undo all or part of a transfer.
 *
 * History is never edited; a mistake is corrected by the opposite movement.
 * A reversal is an ordinary transfer from the original's credit account to
 * its debit account, with every rule of a transfer (limits, closed accounts,
 * idempotency), linked to the original by reverses_transfer_id.  The total
 * reversed never exceeds the original amount: the sum of earlier reversals
 * is read under both accounts' locks, which every reversal of the same
 * transfer must also take.
 */
#include "ledger.h"

#include "posting.h"

#include "utils/builtins.h"

static LedgerStatement find_transfer = LEDGER_STATEMENT(
	"SELECT debit_account_id, credit_account_id, amount FROM ledger.transfers"
	" WHERE id OPERATOR(pg_catalog.=) $1", "b");

/*
 * ledger_reverse - post the opposite of a transfer, in full or in part;
 * returns the reversing transfer's id.
 *
 * Without an amount, reverses whatever of the transfer is not reversed yet.
 * The transfer is read here, to know which accounts to lock; what is left
 * of it is read by the pipeline under their locks.
 */
PG_FUNCTION_INFO_V1(ledger_reverse);
Datum
ledger_reverse(PG_FUNCTION_ARGS)
{
	Movement	m;
	Posting		p;
	Datum		arg;
	bool		isnull;

	CheckArgNotNull(fcinfo, 0, "transfer_id");
	memset(&m, 0, sizeof(m));
	m.kind = MOVE_REVERSAL;
	m.amount_given = !PG_ARGISNULL(1);
	if (m.amount_given)
	{
		m.req.amount = PG_GETARG_AMOUNT(1);
		CheckPositiveAmount(m.req.amount);
	}
	m.req.idempotency_key = GetIdempotencyKey(fcinfo, 2);
	m.req.reverses_transfer_id = PG_GETARG_INT64(0);
	m.req.description = CStringGetTextDatum(psprintf("reversal of transfer %lld",
													 (long long) m.req.reverses_transfer_id));
	m.req.metadata_null = true;

	LedgerConnect();
	arg = Int64GetDatum(m.req.reverses_transfer_id);
	LedgerExecute(&find_transfer, &arg, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_UNKNOWN_TRANSFER),
				 errmsg("transfer %lld does not exist", (long long) m.req.reverses_transfer_id)));
	/* The reversal moves the money back: the sides swap. */
	m.req.credit_account_id = DatumGetInt64(LedgerGetColumn(0, 1, &isnull));
	m.req.debit_account_id = DatumGetInt64(LedgerGetColumn(0, 2, &isnull));
	m.original_amount = DatumGetAmount(LedgerGetColumn(0, 3, &isnull));

	memset(&p, 0, sizeof(p));
	p.items = &m;
	p.nitems = 1;
	PostingRun(&p);
	SPI_finish();
	PG_RETURN_INT64(m.id);
}
