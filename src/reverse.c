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

#include "utils/builtins.h"

static LedgerStatement find_transfer = LEDGER_STATEMENT(
	"SELECT debit_account_id, credit_account_id, amount FROM ledger.transfers"
	" WHERE id OPERATOR(pg_catalog.=) $1", "b");

static LedgerStatement reversed_so_far = LEDGER_STATEMENT(
	"SELECT ledger.sum(amount) FROM ledger.transfers"
	" WHERE reverses_transfer_id OPERATOR(pg_catalog.=) $1", "b");

static LedgerStatement amount_by_key = LEDGER_STATEMENT(
	"SELECT amount FROM ledger.transfers"
	" WHERE idempotency_key OPERATOR(pg_catalog.=) $1"
	"   AND reverses_transfer_id OPERATOR(pg_catalog.=) $2", "tb");

/*
 * ledger_reverse - post the opposite of a transfer, in full or in part;
 * returns the reversing transfer's id.
 *
 * Without an amount, reverses whatever of the transfer is not reversed yet.
 */
PG_FUNCTION_INFO_V1(ledger_reverse);
Datum
ledger_reverse(PG_FUNCTION_ARGS)
{
	TransferRequest req;
	LedgerAccount accounts[2];
	LedgerAccount *debit;
	LedgerAccount *credit;
	int64		original_id;
	Amount		original_amount;
	Amount		reversed = 0;
	Amount		remaining;
	Datum		arg;
	bool		isnull;
	bool		created;
	int64		id;

	CheckArgNotNull(fcinfo, 0, "transfer_id");
	original_id = PG_GETARG_INT64(0);
	if (!PG_ARGISNULL(1))
		CheckPositiveAmount(PG_GETARG_AMOUNT(1));

	memset(&req, 0, sizeof(req));
	req.idempotency_key = GetIdempotencyKey(fcinfo, 2);
	req.reverses_transfer_id = original_id;
	req.description = CStringGetTextDatum(psprintf("reversal of transfer %lld",
												   (long long) original_id));
	req.metadata_null = true;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	arg = Int64GetDatum(original_id);
	LedgerExecute(&find_transfer, &arg, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_UNKNOWN_TRANSFER),
				 errmsg("transfer %lld does not exist", (long long) original_id)));
	/* The reversal moves the money back: the sides swap. */
	req.credit_account_id = DatumGetInt64(LedgerGetColumn(0, 1, &isnull));
	req.debit_account_id = DatumGetInt64(LedgerGetColumn(0, 2, &isnull));
	original_amount = DatumGetAmount(LedgerGetColumn(0, 3, &isnull));

	LockAccountPair(req.debit_account_id, req.credit_account_id, accounts,
					&debit, &credit);

	LedgerExecute(&reversed_so_far, &arg, NULL, 1);
	{
		Datum		d = LedgerGetColumn(0, 1, &isnull);

		if (!isnull)
			reversed = DatumGetAmount(d);
	}
	remaining = original_amount - reversed;

	if (!PG_ARGISNULL(1))
		req.amount = PG_GETARG_AMOUNT(1);
	else
	{
		req.amount = remaining;
		/* A replay without an amount means the amount the key was used with. */
		if (req.idempotency_key)
		{
			Datum		values[2];

			values[0] = CStringGetTextDatum(req.idempotency_key);
			values[1] = arg;
			LedgerExecute(&amount_by_key, values, NULL, 1);
			if (SPI_processed > 0)
				req.amount = DatumGetAmount(LedgerGetColumn(0, 1, &isnull));
		}
	}

	id = FindTransferByKey(&req);
	if (id == 0)
	{
		if (remaining == 0)
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_REVERSAL_EXCEEDS),
					 errmsg("transfer %lld is already fully reversed", (long long) original_id),
					 errdetail("Transfer %lld moved %s.", (long long) original_id,
							   AmountToCString(original_amount))));
		if (req.amount > remaining)
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_REVERSAL_EXCEEDS),
					 errmsg("reversal of %s exceeds what remains of transfer %lld",
							AmountToCString(req.amount), (long long) original_id),
					 errdetail("Transfer %lld moved %s, of which %s is already reversed.",
							   (long long) original_id,
							   AmountToCString(original_amount),
							   AmountToCString(reversed))));
		CheckTransferAccounts(debit, credit);
		id = PostTransfer(&req, debit, credit, &created);
	}

	SPI_finish();
	PG_RETURN_INT64(id);
}
