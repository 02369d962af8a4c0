/*
 * hold.c - two-phase transfers: hold, capture, release and expiry.
 *
 * A hold reserves an amount: the debit account's pending debits and the
 * credit account's pending credits grow by it, and limits are checked as if
 * it were posted.  It is resolved exactly once: captured (a transfer is
 * posted, the rest of the reservation released), released, or expired.
 *
 * Expiry is lazy as well as scheduled.  Each account row carries the
 * earliest expiry among the holds reserved on it; whenever an account is
 * locked and that time has passed, its expired holds are released there and
 * then (ExpireDueHolds), so an expired reservation never blocks funds,
 * whether or not expire_holds() or the background worker has run.
 *
 * Releasing a hold touches two accounts, but lazy expiry holds the lock of
 * only the accounts its caller named.  Waiting for the other account's lock
 * could deadlock against a caller that locks in ascending order, so the
 * other side is taken only if it is free (SKIP LOCKED); if not, that side's
 * reservation stays until its own account is next locked.  Hence each side
 * of a hold is released on its own (debit_reserved, credit_reserved), and an
 * account's pending column is always the sum of the holds reserved on it.
 *
 * Lock order: accounts in ascending id order, then hold rows in ascending id
 * order, never the other way round.  Expiry, like every movement, happens in
 * the posting pipeline (posting.c): this file reads the arguments, and
 * finds the accounts of the hold a capture or release resolves, which must
 * be locked before the hold.
 */
#include "ledger.h"

#include "posting.h"

#include "catalog/pg_type.h"
#include "lib/qunique.h"

static LedgerStatement find_hold_accounts = LEDGER_STATEMENT(
	"SELECT debit_account_id, credit_account_id FROM ledger.hold_records"
	" WHERE id OPERATOR(pg_catalog.=) $1", "b");

static LedgerStatement due_holds = LEDGER_STATEMENT(
	"SELECT debit_account_id, credit_account_id FROM ledger.hold_records"
	" WHERE (debit_reserved OR credit_reserved)"
	"   AND expires_at OPERATOR(pg_catalog.<=) $1"
	" ORDER BY expires_at LIMIT $2", "Tb");

/*
 * resolution - a capture or release of hold hold_id: the accounts to lock,
 * found before their locks are taken.
 */
static void
resolution(Movement *m, MovementKind kind, int64 hold_id)
{
	Datum		arg = Int64GetDatum(hold_id);
	bool		isnull;

	m->kind = kind;
	m->req.hold_id = hold_id;
	m->now = GetCurrentTimestamp();
	LedgerExecute(&find_hold_accounts, &arg, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_UNKNOWN_HOLD),
				 errmsg("hold %lld does not exist", (long long) hold_id)));
	m->req.debit_account_id = DatumGetInt64(LedgerGetColumn(0, 1, &isnull));
	m->req.credit_account_id = DatumGetInt64(LedgerGetColumn(0, 2, &isnull));
}

/*
 * ledger_hold - reserve an amount for a later capture; returns the hold id.
 */
PG_FUNCTION_INFO_V1(ledger_hold);
Datum
ledger_hold(PG_FUNCTION_ARGS)
{
	Movement	m;

	CheckArgNotNull(fcinfo, 0, "debit_account_id");
	CheckArgNotNull(fcinfo, 1, "credit_account_id");
	CheckArgNotNull(fcinfo, 2, "amount");
	CheckMetadata(fcinfo, 6);

	memset(&m, 0, sizeof(m));
	m.kind = MOVE_HOLD;
	m.now = GetCurrentTimestamp();
	m.req.debit_account_id = PG_GETARG_INT64(0);
	m.req.credit_account_id = PG_GETARG_INT64(1);
	m.req.amount = PG_GETARG_AMOUNT(2);
	m.has_expiry = !PG_ARGISNULL(3);
	if (m.has_expiry)
		m.expires_at = PG_GETARG_TIMESTAMPTZ(3);
	GetRequestTexts(fcinfo, 4, &m.req);
	CheckTransferRequest(&m.req);

	LedgerConnect();
	PostingRunOne(&m);
	SPI_finish();
	PG_RETURN_INT64(m.id);
}

/*
 * ledger_capture - post all or part of a hold as a transfer and release the
 * rest of its reservation; returns the transfer id.
 */
PG_FUNCTION_INFO_V1(ledger_capture);
Datum
ledger_capture(PG_FUNCTION_ARGS)
{
	Movement	m;

	CheckArgNotNull(fcinfo, 0, "hold_id");
	memset(&m, 0, sizeof(m));
	m.amount_given = !PG_ARGISNULL(1);
	if (m.amount_given)
	{
		m.req.amount = PG_GETARG_AMOUNT(1);
		CheckPositiveAmount(m.req.amount);
	}
	m.req.idempotency_key = GetIdempotencyKey(fcinfo, 2);

	LedgerConnect();
	resolution(&m, MOVE_CAPTURE, PG_GETARG_INT64(0));
	PostingRunOne(&m);
	SPI_finish();
	PG_RETURN_INT64(m.id);
}

/*
 * ledger_release - cancel a pending hold's reservation.
 */
PG_FUNCTION_INFO_V1(ledger_release);
Datum
ledger_release(PG_FUNCTION_ARGS)
{
	Movement	m;

	CheckArgNotNull(fcinfo, 0, "hold_id");
	memset(&m, 0, sizeof(m));
	LedgerConnect();
	resolution(&m, MOVE_RELEASE, PG_GETARG_INT64(0));
	PostingRunOne(&m);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * ledger_expire_holds - release the expired holds of up to max_holds holds'
 * accounts; returns how many holds had reservations released.
 *
 * Picks up to max_holds expired holds that still reserve funds, and locks
 * all their accounts at once, in ascending id order; the pipeline then
 * releases every expired hold on those accounts, so the count can exceed
 * max_holds.  Nothing is left to do once it returns 0.
 */
PG_FUNCTION_INFO_V1(ledger_expire_holds);
Datum
ledger_expire_holds(PG_FUNCTION_ARGS)
{
	int32		max_holds;
	Datum		values[2];
	int64	   *ids;
	int			nids = 0;
	int			nholds;
	Posting		p;

	CheckArgNotNull(fcinfo, 0, "max_holds");
	max_holds = PG_GETARG_INT32(0);
	if (max_holds < 1)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_ARGUMENT),
				 errmsg("max_holds must be at least 1, not %d", max_holds)));

	LedgerConnect();
	values[0] = TimestampTzGetDatum(GetCurrentTimestamp());
	values[1] = Int64GetDatum(max_holds);
	LedgerExecute(&due_holds, values, NULL, 0);
	nholds = (int) SPI_processed;
	ids = palloc(sizeof(int64) * Max(nholds * 2, 1));
	for (int i = 0; i < nholds; i++)
	{
		bool		isnull;

		ids[nids++] = DatumGetInt64(LedgerGetColumn(i, 1, &isnull));
		ids[nids++] = DatumGetInt64(LedgerGetColumn(i, 2, &isnull));
	}
	memset(&p, 0, sizeof(p));
	if (nids > 0)
	{
		qsort(ids, nids, sizeof(int64), CompareAccountIds);
		p.accounts = ids;
		p.naccounts = qunique(ids, nids, sizeof(int64), CompareAccountIds);
		PostingRun(&p);
	}
	SPI_finish();
	PG_RETURN_INT32((int32) Min(p.holds_released, PG_INT32_MAX));
}
