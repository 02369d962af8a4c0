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
 * order, never the other way round.
 */
#include "ledger.h"

#include "catalog/pg_type.h"
#include "lib/qunique.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"

/*
 * Expired holds whose reservations this backend released, wholly or the
 * remaining side, for expire_holds() to count.
 */
static int64 holds_released = 0;

static LedgerStatement lock_due_holds = LEDGER_STATEMENT(
	"SELECT id, debit_account_id, credit_account_id, amount, status,"
	" debit_reserved, credit_reserved FROM ledger.hold_records"
	" WHERE ((debit_account_id OPERATOR(pg_catalog.=) ANY ($1) AND debit_reserved)"
	"     OR (credit_account_id OPERATOR(pg_catalog.=) ANY ($1) AND credit_reserved))"
	"   AND expires_at OPERATOR(pg_catalog.<=) $2"
	" ORDER BY id FOR UPDATE", "BT");

static LedgerStatement next_expiry = LEDGER_STATEMENT(
	"SELECT pg_catalog.min(expires_at) FROM ledger.hold_records"
	" WHERE (debit_account_id OPERATOR(pg_catalog.=) $1 AND debit_reserved)"
	"    OR (credit_account_id OPERATOR(pg_catalog.=) $1 AND credit_reserved)", "b");

static LedgerStatement expired_reservations = LEDGER_STATEMENT(
	"SELECT ledger.sum(amount) FILTER (WHERE debit_account_id OPERATOR(pg_catalog.=) $1"
	"                                   AND debit_reserved),"
	"       ledger.sum(amount) FILTER (WHERE credit_account_id OPERATOR(pg_catalog.=) $1"
	"                                   AND credit_reserved)"
	"  FROM ledger.hold_records"
	" WHERE ((debit_account_id OPERATOR(pg_catalog.=) $1 AND debit_reserved)"
	"     OR (credit_account_id OPERATOR(pg_catalog.=) $1 AND credit_reserved))"
	"   AND expires_at OPERATOR(pg_catalog.<=) $2", "bT");

static LedgerStatement resolve_hold = LEDGER_STATEMENT(
	"UPDATE ledger.hold_records SET status = $2, captured_amount = $3,"
	" capture_transfer_id = $4, resolved_at = $5, debit_reserved = $6,"
	" credit_reserved = $7 WHERE id OPERATOR(pg_catalog.=) $1", "btabToo");

static LedgerStatement release_reservations = LEDGER_STATEMENT(
	"UPDATE ledger.hold_records SET debit_reserved = $2, credit_reserved = $3"
	" WHERE id OPERATOR(pg_catalog.=) $1", "boo");

static LedgerStatement find_hold_accounts = LEDGER_STATEMENT(
	"SELECT debit_account_id, credit_account_id FROM ledger.hold_records"
	" WHERE id OPERATOR(pg_catalog.=) $1", "b");

static LedgerStatement lock_hold = LEDGER_STATEMENT(
	"SELECT amount, expires_at, description, metadata, status,"
	" debit_reserved, credit_reserved FROM ledger.hold_records"
	" WHERE id OPERATOR(pg_catalog.=) $1 FOR UPDATE", "b");

static LedgerStatement select_hold_by_key = LEDGER_STATEMENT(
	"SELECT id, debit_account_id, credit_account_id, amount,"
	" description, metadata FROM ledger.hold_records"
	" WHERE idempotency_key OPERATOR(pg_catalog.=) $1", "t");

static LedgerStatement insert_hold = LEDGER_STATEMENT(
	"INSERT INTO ledger.hold_records (debit_account_id, credit_account_id,"
	" amount, expires_at, idempotency_key, description, metadata, created_at)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
	" ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id", "bbaTttjT");

static LedgerStatement due_holds = LEDGER_STATEMENT(
	"SELECT debit_account_id, credit_account_id FROM ledger.hold_records"
	" WHERE (debit_reserved OR credit_reserved)"
	"   AND expires_at OPERATOR(pg_catalog.<=) $1"
	" ORDER BY expires_at LIMIT $2", "Tb");

/* A hold row as the functions below work on it. */
typedef struct LedgerHold
{
	int64		id;
	int64		debit_account_id;
	int64		credit_account_id;
	Amount		amount;
	char		status[16];
	bool		debit_reserved;
	bool		credit_reserved;
	bool		has_expiry;
	TimestampTz expires_at;
	Datum		description;
	bool		description_null;
	Datum		metadata;
	bool		metadata_null;
} LedgerHold;

/* Write a hold's resolution and reservation flags. */
static void
save_hold_resolution(const LedgerHold *hold, bool captured, Amount captured_amount,
					 int64 transfer_id, TimestampTz resolved_at)
{
	Datum		values[7];
	char		nulls[7];

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(hold->id);
	values[1] = CStringGetTextDatum(hold->status);
	values[2] = AmountGetDatum(captured_amount);
	nulls[2] = captured ? ' ' : 'n';
	values[3] = Int64GetDatum(transfer_id);
	nulls[3] = captured ? ' ' : 'n';
	values[4] = TimestampTzGetDatum(resolved_at);
	nulls[4] = strcmp(hold->status, "pending") == 0 ? 'n' : ' ';
	values[5] = BoolGetDatum(hold->debit_reserved);
	values[6] = BoolGetDatum(hold->credit_reserved);
	LedgerExecuteWrite(&resolve_hold, values, nulls, 0);
}

/* Index of the account with this id in accounts[], or -1. */
static int
find_account(LedgerAccount *accounts, int n, int64 id)
{
	for (int i = 0; i < n; i++)
		if (accounts[i].id == id)
			return i;
	return -1;
}

/*
 * release_side - release one side of a hold on an account the caller holds
 * locked (in memory; the caller saves the account).
 */
static void
release_side(LedgerHold *hold, LedgerAccount *account, LedgerSide side)
{
	AccountUnreserve(account, side, hold->amount);
	if (side == LEDGER_DEBIT)
		hold->debit_reserved = false;
	else
		hold->credit_reserved = false;
}

/*
 * ExpireDueHolds - release the expired holds reserved on locked accounts.
 *
 * accounts[] are locked by the caller; their pending columns and
 * holds_expire_at are brought up to date in memory and saved.  A hold's
 * other side is released too when its account is among accounts[] or can be
 * locked without waiting.
 */
void
ExpireDueHolds(LedgerAccount *accounts, int n, TimestampTz now)
{
	Datum	   *elems = palloc(sizeof(Datum) * n);
	bool	   *touched = palloc0(sizeof(bool) * n);
	Datum		values[2];
	int			nholds;
	LedgerHold *holds;

	for (int i = 0; i < n; i++)
		elems[i] = Int64GetDatum(accounts[i].id);
	values[0] = PointerGetDatum(construct_array(elems, n, INT8OID, sizeof(int64),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = TimestampTzGetDatum(now);
	LedgerExecute(&lock_due_holds, values, NULL, 0);

	nholds = (int) SPI_processed;
	holds = palloc0(sizeof(LedgerHold) * Max(nholds, 1));
	for (int i = 0; i < nholds; i++)
	{
		bool		isnull;

		holds[i].id = DatumGetInt64(LedgerGetColumn(i, 1, &isnull));
		holds[i].debit_account_id = DatumGetInt64(LedgerGetColumn(i, 2, &isnull));
		holds[i].credit_account_id = DatumGetInt64(LedgerGetColumn(i, 3, &isnull));
		holds[i].amount = DatumGetAmount(LedgerGetColumn(i, 4, &isnull));
		strlcpy(holds[i].status,
				TextDatumGetCString(LedgerGetColumn(i, 5, &isnull)),
				sizeof(holds[i].status));
		holds[i].debit_reserved = DatumGetBool(LedgerGetColumn(i, 6, &isnull));
		holds[i].credit_reserved = DatumGetBool(LedgerGetColumn(i, 7, &isnull));
	}

	for (int i = 0; i < nholds; i++)
	{
		LedgerHold *hold = &holds[i];
		LedgerSide	sides[2] = {LEDGER_DEBIT, LEDGER_CREDIT};

		CHECK_FOR_INTERRUPTS();
		for (int s = 0; s < 2; s++)
		{
			bool		reserved = sides[s] == LEDGER_DEBIT ?
				hold->debit_reserved : hold->credit_reserved;
			int64		account_id = sides[s] == LEDGER_DEBIT ?
				hold->debit_account_id : hold->credit_account_id;
			int			idx;
			LedgerAccount other;

			if (!reserved)
				continue;
			idx = find_account(accounts, n, account_id);
			if (idx >= 0)
			{
				release_side(hold, &accounts[idx], sides[s]);
				touched[idx] = true;
			}
			else if (LockAccountSkipLocked(account_id, &other))
			{
				release_side(hold, &other, sides[s]);
				SaveAccount(&other);
			}
		}
		holds_released++;
		if (strcmp(hold->status, "pending") == 0)
		{
			strlcpy(hold->status, "expired", sizeof(hold->status));
			save_hold_resolution(hold, false, 0, 0, now);
		}
		else
		{
			/* Expired earlier on one side: its resolution stays as recorded. */
			Datum		flags[3];

			flags[0] = Int64GetDatum(hold->id);
			flags[1] = BoolGetDatum(hold->debit_reserved);
			flags[2] = BoolGetDatum(hold->credit_reserved);
			LedgerExecuteWrite(&release_reservations, flags, NULL, 0);
		}
	}

	/* The next expiry of each account, now that its due holds are gone. */
	for (int i = 0; i < n; i++)
	{
		Datum		id = Int64GetDatum(accounts[i].id);
		bool		isnull;
		Datum		next;

		if (accounts[i].holds_expire_at > now)
		{
			if (touched[i])
				SaveAccount(&accounts[i]);
			continue;
		}
		LedgerExecute(&next_expiry, &id, NULL, 1);
		next = LedgerGetColumn(0, 1, &isnull);
		if (isnull)
			TIMESTAMP_NOEND(accounts[i].holds_expire_at);
		else
			accounts[i].holds_expire_at = DatumGetTimestampTz(next);
		SaveAccount(&accounts[i]);
	}
	pfree(holds);
	pfree(touched);
	pfree(elems);
}

/*
 * ExcludeExpiredHolds - take expired holds out of an account's pending
 * columns in memory, for a reader that does not lock the account.
 *
 * Shows what the next operation on the account will see, without writing.
 */
void
ExcludeExpiredHolds(LedgerAccount *account, TimestampTz now)
{
	Datum		values[2];
	bool		isnull;
	Datum		d;

	if (account->holds_expire_at > now)
		return;
	values[0] = Int64GetDatum(account->id);
	values[1] = TimestampTzGetDatum(now);
	LedgerQuery(&expired_reservations, values, NULL, 1);
	d = LedgerGetColumn(0, 1, &isnull);
	if (!isnull)
		AccountUnreserve(account, LEDGER_DEBIT, DatumGetAmount(d));
	d = LedgerGetColumn(0, 2, &isnull);
	if (!isnull)
		AccountUnreserve(account, LEDGER_CREDIT, DatumGetAmount(d));
}

/* Report an unknown hold. */
static void
unknown_hold(int64 id)
{
	ereport(ERROR,
			(errcode(ERRCODE_LEDGER_UNKNOWN_HOLD),
			 errmsg("hold %lld does not exist", (long long) id)));
}

/*
 * lock_hold_for_resolution - lock a hold's accounts, then the hold, and
 * read its current state into *hold.
 */
static void
lock_hold_for_resolution(int64 hold_id, LedgerHold *hold, LedgerAccount accounts[2],
						 LedgerAccount **debit, LedgerAccount **credit)
{
	Datum		arg = Int64GetDatum(hold_id);
	bool		isnull;

	LedgerExecute(&find_hold_accounts, &arg, NULL, 1);
	if (SPI_processed == 0)
		unknown_hold(hold_id);
	memset(hold, 0, sizeof(LedgerHold));
	hold->id = hold_id;
	hold->debit_account_id = DatumGetInt64(LedgerGetColumn(0, 1, &isnull));
	hold->credit_account_id = DatumGetInt64(LedgerGetColumn(0, 2, &isnull));

	/* Expired holds on these accounts, this one included, go first. */
	LockAccountPair(hold->debit_account_id, hold->credit_account_id, accounts, debit, credit);

	LedgerExecute(&lock_hold, &arg, NULL, 1);
	if (SPI_processed == 0)
		unknown_hold(hold_id);
	hold->amount = DatumGetAmount(LedgerGetColumn(0, 1, &isnull));
	hold->expires_at = DatumGetTimestampTz(LedgerGetColumn(0, 2, &isnull));
	hold->has_expiry = !isnull;
	hold->description = LedgerGetColumn(0, 3, &hold->description_null);
	hold->metadata = LedgerGetColumn(0, 4, &hold->metadata_null);
	strlcpy(hold->status, TextDatumGetCString(LedgerGetColumn(0, 5, &isnull)),
			sizeof(hold->status));
	hold->debit_reserved = DatumGetBool(LedgerGetColumn(0, 6, &isnull));
	hold->credit_reserved = DatumGetBool(LedgerGetColumn(0, 7, &isnull));
}

/* Reject resolving a hold that is no longer pending. */
static void
check_hold_pending(const LedgerHold *hold, TimestampTz now)
{
	if (strcmp(hold->status, "captured") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_HOLD_CAPTURED),
				 errmsg("hold %lld is already captured", (long long) hold->id)));
	if (strcmp(hold->status, "released") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_HOLD_RELEASED),
				 errmsg("hold %lld is already released", (long long) hold->id)));
	if (strcmp(hold->status, "expired") == 0 ||
		(hold->has_expiry && hold->expires_at <= now))
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_HOLD_EXPIRED),
				 errmsg("hold %lld has expired", (long long) hold->id),
				 errdetail("It expired at %s.", timestamptz_to_str(hold->expires_at)),
				 errhint("Place a new hold.")));
}

/* Release both sides of a pending hold whose accounts are locked. */
static void
release_both_sides(LedgerHold *hold, LedgerAccount *debit, LedgerAccount *credit)
{
	release_side(hold, debit, LEDGER_DEBIT);
	release_side(hold, credit, LEDGER_CREDIT);
}

/*
 * find_hold_by_key - the id of the hold with this key when its arguments
 * match, an idempotency conflict when they do not, 0 when the key is new.
 *
 * A replay must repeat the accounts, the amount, the description and the
 * metadata.  Not the expiry: a client that asks for "a week from now" on
 * every attempt, as ledger.hold(..., expires_at => now() + interval '7 days')
 * does, computes another time on each retry, and the hold it retries is the
 * one already placed, with the expiry of the first call.
 */
static int64
find_hold_by_key(const TransferRequest *req)
{
	Datum		key = CStringGetTextDatum(req->idempotency_key);
	bool		isnull;
	bool		description_null;
	bool		metadata_null;
	Datum		description;
	Datum		metadata;
	int64		id;
	int64		debit_id;
	int64		credit_id;
	Amount		amount;
	bool		same;

	LedgerExecute(&select_hold_by_key, &key, NULL, 1);
	if (SPI_processed == 0)
		return 0;
	id = DatumGetInt64(LedgerGetColumn(0, 1, &isnull));
	debit_id = DatumGetInt64(LedgerGetColumn(0, 2, &isnull));
	credit_id = DatumGetInt64(LedgerGetColumn(0, 3, &isnull));
	amount = DatumGetAmount(LedgerGetColumn(0, 4, &isnull));
	description = LedgerGetColumn(0, 5, &description_null);
	metadata = LedgerGetColumn(0, 6, &metadata_null);

	same = debit_id == req->debit_account_id &&
		credit_id == req->credit_account_id &&
		amount == req->amount &&
		description_null == req->description_null &&
		(description_null ||
		 strcmp(TextDatumGetCString(description),
				TextDatumGetCString(req->description)) == 0) &&
		metadata_null == req->metadata_null &&
		(metadata_null ||
		 DatumGetBool(DirectFunctionCall2(jsonb_eq, metadata, req->metadata)));
	if (!same)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_IDEMPOTENCY_CONFLICT),
				 errmsg("idempotency key \"%s\" was already used with different arguments",
						req->idempotency_key),
				 errdetail("The key belongs to hold %lld of %s from account %lld to account %lld.",
						   (long long) id, AmountToCString(amount),
						   (long long) debit_id, (long long) credit_id),
				 errhint("Use a new key for a new hold, or repeat the original arguments to get its id.")));
	return id;
}

/*
 * ledger_hold - reserve an amount for a later capture; returns the hold id.
 */
PG_FUNCTION_INFO_V1(ledger_hold);
Datum
ledger_hold(PG_FUNCTION_ARGS)
{
	TransferRequest req;
	LedgerAccount accounts[2];
	LedgerAccount *debit;
	LedgerAccount *credit;
	bool		has_expiry;
	TimestampTz expires_at = 0;
	TimestampTz now = GetCurrentTimestamp();
	int64		id;

	CheckArgNotNull(fcinfo, 0, "debit_account_id");
	CheckArgNotNull(fcinfo, 1, "credit_account_id");
	CheckArgNotNull(fcinfo, 2, "amount");
	CheckMetadata(fcinfo, 6);

	memset(&req, 0, sizeof(req));
	req.debit_account_id = PG_GETARG_INT64(0);
	req.credit_account_id = PG_GETARG_INT64(1);
	req.amount = PG_GETARG_AMOUNT(2);
	has_expiry = !PG_ARGISNULL(3);
	if (has_expiry)
		expires_at = PG_GETARG_TIMESTAMPTZ(3);
	req.idempotency_key = GetIdempotencyKey(fcinfo, 4);
	req.description_null = PG_ARGISNULL(5);
	req.description = req.description_null ? (Datum) 0 : PG_GETARG_DATUM(5);
	req.metadata_null = PG_ARGISNULL(6);
	req.metadata = req.metadata_null ? (Datum) 0 : PG_GETARG_DATUM(6);
	CheckTransferRequest(&req);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	LockAccountPair(req.debit_account_id, req.credit_account_id, accounts, &debit, &credit);

	id = req.idempotency_key ? find_hold_by_key(&req) : 0;
	if (id == 0)
	{
		Datum		values[8];
		char		nulls[8];
		bool		isnull;

		if (has_expiry && (expires_at <= now || TIMESTAMP_NOT_FINITE(expires_at)))
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_INVALID_EXPIRY),
					 errmsg("expiry time %s is not in the future",
							timestamptz_to_str(expires_at)),
					 errhint("Pass a future time, or NULL for a hold that never expires.")));
		CheckTransferAccounts(debit, credit);
		AccountReserve(debit, LEDGER_DEBIT, req.amount);
		AccountReserve(credit, LEDGER_CREDIT, req.amount);
		CheckAccountLimits(debit, LEDGER_DEBIT, req.amount);
		CheckAccountLimits(credit, LEDGER_CREDIT, req.amount);
		if (has_expiry)
		{
			debit->holds_expire_at = Min(debit->holds_expire_at, expires_at);
			credit->holds_expire_at = Min(credit->holds_expire_at, expires_at);
		}

		memset(nulls, ' ', sizeof(nulls));
		values[0] = Int64GetDatum(req.debit_account_id);
		values[1] = Int64GetDatum(req.credit_account_id);
		values[2] = AmountGetDatum(req.amount);
		values[3] = TimestampTzGetDatum(expires_at);
		nulls[3] = has_expiry ? ' ' : 'n';
		values[4] = req.idempotency_key ? CStringGetTextDatum(req.idempotency_key) : (Datum) 0;
		nulls[4] = req.idempotency_key ? ' ' : 'n';
		values[5] = req.description;
		nulls[5] = req.description_null ? 'n' : ' ';
		values[6] = req.metadata;
		nulls[6] = req.metadata_null ? 'n' : ' ';
		values[7] = TimestampTzGetDatum(now);
		LedgerExecuteWrite(&insert_hold, values, nulls, 0);
		if (SPI_processed == 0)
		{
			/* A concurrent call on other accounts committed the key first. */
			id = find_hold_by_key(&req);
		}
		else
		{
			id = DatumGetInt64(LedgerGetColumn(0, 1, &isnull));
			SaveAccountPair(debit, credit);
		}
	}

	SPI_finish();
	PG_RETURN_INT64(id);
}

/*
 * ledger_capture - post all or part of a hold as a transfer and release the
 * rest of its reservation; returns the transfer id.
 */
PG_FUNCTION_INFO_V1(ledger_capture);
Datum
ledger_capture(PG_FUNCTION_ARGS)
{
	LedgerHold	hold;
	LedgerAccount accounts[2];
	LedgerAccount *debit;
	LedgerAccount *credit;
	TransferRequest req;
	TimestampTz now = GetCurrentTimestamp();
	int64		id;
	bool		created;

	CheckArgNotNull(fcinfo, 0, "hold_id");
	if (!PG_ARGISNULL(1))
		CheckPositiveAmount(PG_GETARG_AMOUNT(1));
	memset(&req, 0, sizeof(req));
	req.idempotency_key = GetIdempotencyKey(fcinfo, 2);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	lock_hold_for_resolution(PG_GETARG_INT64(0), &hold, accounts, &debit, &credit);

	req.debit_account_id = hold.debit_account_id;
	req.credit_account_id = hold.credit_account_id;
	req.amount = PG_ARGISNULL(1) ? hold.amount : PG_GETARG_AMOUNT(1);
	req.description = hold.description;
	req.description_null = hold.description_null;
	req.metadata = hold.metadata;
	req.metadata_null = hold.metadata_null;
	req.hold_id = hold.id;

	/* A replay of a capture that committed returns its transfer. */
	id = FindTransferByKey(&req);
	if (id == 0)
	{
		check_hold_pending(&hold, now);
		if (req.amount > hold.amount)
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_CAPTURE_EXCEEDS_HOLD),
					 errmsg("capture amount %s exceeds hold %lld",
							AmountToCString(req.amount), (long long) hold.id),
					 errdetail("The hold is for %s.", AmountToCString(hold.amount))));

		release_both_sides(&hold, debit, credit);
		id = PostTransfer(&req, debit, credit, &created);
		if (created)
		{
			strlcpy(hold.status, "captured", sizeof(hold.status));
			save_hold_resolution(&hold, true, req.amount, id, now);
		}
	}

	SPI_finish();
	PG_RETURN_INT64(id);
}

/*
 * ledger_release - cancel a pending hold's reservation.
 */
PG_FUNCTION_INFO_V1(ledger_release);
Datum
ledger_release(PG_FUNCTION_ARGS)
{
	LedgerHold	hold;
	LedgerAccount accounts[2];
	LedgerAccount *debit;
	LedgerAccount *credit;
	TimestampTz now = GetCurrentTimestamp();

	CheckArgNotNull(fcinfo, 0, "hold_id");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	lock_hold_for_resolution(PG_GETARG_INT64(0), &hold, accounts, &debit, &credit);
	check_hold_pending(&hold, now);

	release_both_sides(&hold, debit, credit);
	strlcpy(hold.status, "released", sizeof(hold.status));
	save_hold_resolution(&hold, false, 0, 0, now);
	SaveAccountPair(debit, credit);

	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * ledger_expire_holds - release the expired holds of up to max_holds holds'
 * accounts; returns how many holds had reservations released.
 *
 * Picks up to max_holds expired holds that still reserve funds, and locks
 * all their accounts at once, in ascending id order; the lock itself
 * releases every expired hold on those accounts (ExpireDueHolds), so the
 * count can exceed max_holds.  Nothing is left to do once it returns 0.
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
	int64		before = holds_released;

	CheckArgNotNull(fcinfo, 0, "max_holds");
	max_holds = PG_GETARG_INT32(0);
	if (max_holds < 1)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_ARGUMENT),
				 errmsg("max_holds must be at least 1, not %d", max_holds)));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = TimestampTzGetDatum(GetCurrentTimestamp());
	values[1] = Int64GetDatum(max_holds);
	LedgerExecute(&due_holds, values, NULL, 0);
	nholds = (int) SPI_processed;

	if (nholds > 0)
	{
		ids = palloc(sizeof(int64) * nholds * 2);
		for (int i = 0; i < nholds; i++)
		{
			bool		isnull;

			ids[nids++] = DatumGetInt64(LedgerGetColumn(i, 1, &isnull));
			ids[nids++] = DatumGetInt64(LedgerGetColumn(i, 2, &isnull));
		}
		qsort(ids, nids, sizeof(int64), CompareAccountIds);
		nids = qunique(ids, nids, sizeof(int64), CompareAccountIds);
		{
			LedgerAccount *accounts = palloc(sizeof(LedgerAccount) * nids);

			LockAccounts(ids, nids, accounts);
			pfree(accounts);
		}
		pfree(ids);
	}

	SPI_finish();
	PG_RETURN_INT32((int32) Min(holds_released - before, PG_INT32_MAX));
}
