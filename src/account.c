/*
 * account.c - accounts: creation, limits, closing, and their balances.
 *
 * An account's balances are four running sums kept on its row, changed only
 * by movements (posting.c).  Creating an account and changing its limits,
 * state or hot mode are movements of their own kind: they lock the account
 * (after its hot lock: they wait for postings in flight on it), bring it up
 * to date, check its rules and write it through the same pipeline.  A
 * balance is read here, without a lock, as the next movement would see it.
 */
#include "ledger.h"

#include "posting.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

static LedgerStatement expired_reservations = LEDGER_STATEMENT(
	"SELECT ledger.sum(amount) FILTER (WHERE debit_account_id OPERATOR(pg_catalog.=) $1"
	"                                   AND debit_reserved),"
	"       ledger.sum(amount) FILTER (WHERE credit_account_id OPERATOR(pg_catalog.=) $1"
	"                                   AND credit_reserved)"
	"  FROM ledger.hold_records"
	" WHERE ((debit_account_id OPERATOR(pg_catalog.=) $1 AND debit_reserved)"
	"     OR (credit_account_id OPERATOR(pg_catalog.=) $1 AND credit_reserved))"
	"   AND expires_at OPERATOR(pg_catalog.<=) $2", "bT");

static LedgerStatement queued_sums = LEDGER_STATEMENT(
	"SELECT ledger.sum(amount) FILTER (WHERE direction OPERATOR(pg_catalog.=) 'debit'),"
	"       ledger.sum(amount) FILTER (WHERE direction OPERATOR(pg_catalog.=) 'credit')"
	"  FROM ledger.hot_entries WHERE account_id OPERATOR(pg_catalog.=) $1", "b");

/*
 * ledger_create_account - create an account in an asset; returns its id.
 */
PG_FUNCTION_INFO_V1(ledger_create_account);
Datum
ledger_create_account(PG_FUNCTION_ARGS)
{
	LedgerAccount account;
	Movement	m;
	AccountRequest a;
	char	   *normal_balance;

	CheckArgNotNull(fcinfo, 0, "asset");
	CheckArgNotNull(fcinfo, 2, "normal_balance");
	CheckMetadata(fcinfo, 5);

	if (!PG_ARGISNULL(1))
	{
		char	   *name = TextDatumGetCString(PG_GETARG_DATUM(1));
		int			len = pg_mbstrlen(name);

		if (len < 1 || len > LEDGER_NAME_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_INVALID_NAME),
					 errmsg("account name must be 1 to %d characters long", LEDGER_NAME_MAX)));
	}

	normal_balance = TextDatumGetCString(PG_GETARG_DATUM(2));
	if (strcmp(normal_balance, "credit") != 0 && strcmp(normal_balance, "debit") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_NORMAL_BALANCE),
				 errmsg("invalid normal balance \"%s\"", normal_balance),
				 errhint("Use 'credit' for liabilities such as user wallets, 'debit' for assets such as cash.")));

	memset(&m, 0, sizeof(m));
	memset(&a, 0, sizeof(a));
	m.account = &a;
	m.kind = MOVE_CREATE_ACCOUNT;
	a.asset = PG_GETARG_DATUM(0);
	a.name_null = PG_ARGISNULL(1);
	a.name = a.name_null ? (Datum) 0 : PG_GETARG_DATUM(1);
	a.credit_normal = normal_balance[0] == 'c';
	a.has_min = !PG_ARGISNULL(3);
	a.min_balance = a.has_min ? PG_GETARG_AMOUNT(3) : 0;
	a.has_max = !PG_ARGISNULL(4);
	a.max_balance = a.has_max ? PG_GETARG_AMOUNT(4) : 0;
	m.req.metadata_null = PG_ARGISNULL(5);
	m.req.metadata = m.req.metadata_null ? (Datum) 0 : PG_GETARG_DATUM(5);

	/* The new account's balance is zero: its limits must include zero. */
	memset(&account, 0, sizeof(account));
	account.credit_normal = a.credit_normal;
	account.has_min = a.has_min;
	account.min_balance = a.min_balance;
	account.has_max = a.has_max;
	account.max_balance = a.max_balance;
	CheckLimitsIncludeBalance(&account);

	LedgerConnect();
	PostingRunOne(&m);
	SPI_finish();
	PG_RETURN_INT64(m.id);
}

/*
 * ledger_account_id - the id of the account with a given name.
 */
PG_FUNCTION_INFO_V1(ledger_account_id);
Datum
ledger_account_id(PG_FUNCTION_ARGS)
{
	static LedgerStatement find_account = LEDGER_STATEMENT(
		"SELECT id FROM ledger.accounts WHERE name OPERATOR(pg_catalog.=) $1", "t");
	Datum		name;
	bool		isnull;
	int64		id;

	CheckArgNotNull(fcinfo, 0, "name");
	name = PG_GETARG_DATUM(0);
	LedgerConnect();
	LedgerQuery(&find_account, &name, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_UNKNOWN_ACCOUNT),
				 errmsg("account \"%s\" does not exist", TextDatumGetCString(name))));
	id = DatumGetInt64(LedgerGetColumn(0, 1, &isnull));
	SPI_finish();
	PG_RETURN_INT64(id);
}

/*
 * ledger_set_account_limits - set min_balance and max_balance (NULL:
 * unbounded).
 *
 * New limits must include the account's current balances, available and
 * with pending inflows: a limit that the balance already breaks would make
 * every later check ambiguous, so it is refused rather than half-applied.
 */
PG_FUNCTION_INFO_V1(ledger_set_account_limits);
Datum
ledger_set_account_limits(PG_FUNCTION_ARGS)
{
	AccountRequest a = {.change = CHANGE_LIMITS};

	CheckArgNotNull(fcinfo, 0, "account_id");
	a.has_min = !PG_ARGISNULL(1);
	a.min_balance = a.has_min ? PG_GETARG_AMOUNT(1) : 0;
	a.has_max = !PG_ARGISNULL(2);
	a.max_balance = a.has_max ? PG_GETARG_AMOUNT(2) : 0;
	PostingChangeAccount(PG_GETARG_INT64(0), &a);
	PG_RETURN_VOID();
}

/*
 * ledger_close_account - close an account; closing a closed one does nothing.
 */
PG_FUNCTION_INFO_V1(ledger_close_account);
Datum
ledger_close_account(PG_FUNCTION_ARGS)
{
	AccountRequest a = {.change = CHANGE_CLOSE};

	CheckArgNotNull(fcinfo, 0, "account_id");
	PostingChangeAccount(PG_GETARG_INT64(0), &a);
	PG_RETURN_VOID();
}

/*
 * ledger_reopen_account - reopen an account; reopening an open one does
 * nothing.
 */
PG_FUNCTION_INFO_V1(ledger_reopen_account);
Datum
ledger_reopen_account(PG_FUNCTION_ARGS)
{
	AccountRequest a = {.change = CHANGE_REOPEN};

	CheckArgNotNull(fcinfo, 0, "account_id");
	PostingChangeAccount(PG_GETARG_INT64(0), &a);
	PG_RETURN_VOID();
}

/*
 * exclude_expired_holds - take expired holds out of an account's pending
 * columns in memory: what the next movement on it will see.
 */
static void
exclude_expired_holds(LedgerAccount *account, TimestampTz now)
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

/* Add a hot account's queued postings to its posted sums in memory. */
static void
add_queued_postings(LedgerAccount *account)
{
	Datum		arg = Int64GetDatum(account->id);
	bool		isnull;
	Datum		d;

	LedgerQuery(&queued_sums, &arg, NULL, 1);
	d = LedgerGetColumn(0, 1, &isnull);
	if (!isnull)
		AccountAddPosted(account, LEDGER_DEBIT, DatumGetAmount(d));
	d = LedgerGetColumn(0, 2, &isnull);
	if (!isnull)
		AccountAddPosted(account, LEDGER_CREDIT, DatumGetAmount(d));
}

/*
 * ledger_balance - one row: posted, pending debits, pending credits and
 * available balance of an account, as of the caller's snapshot.
 */
PG_FUNCTION_INFO_V1(ledger_balance);
Datum
ledger_balance(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;

	if (SRF_IS_FIRSTCALL())
	{
		Datum		id;
		LedgerAccount account;
		TupleDesc	desc;
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		MemoryContext oldcontext;

		CheckArgNotNull(fcinfo, 0, "account_id");
		id = PG_GETARG_DATUM(0);
		funcctx = SRF_FIRSTCALL_INIT();
		oldcontext = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");

		LedgerConnect();
		if (!ReadAccountRow(DatumGetInt64(id), true, &account))
			ReportUnknownAccount(DatumGetInt64(id));
		exclude_expired_holds(&account, GetCurrentTimestamp());
		if (account.hot)
			add_queued_postings(&account);
		SPI_finish();

		values[0] = AmountGetDatum(AccountPostedBalance(&account));
		values[1] = AmountGetDatum(account.debits_pending);
		values[2] = AmountGetDatum(account.credits_pending);
		values[3] = AmountGetDatum(AccountAvailableBalance(&account));
		funcctx->user_fctx = heap_form_tuple(BlessTupleDesc(desc), values, nulls);
		funcctx->max_calls = 1;
		MemoryContextSwitchTo(oldcontext);
	}

	funcctx = SRF_PERCALL_SETUP();
	if (funcctx->call_cntr < funcctx->max_calls)
		SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum((HeapTuple) funcctx->user_fctx));
	SRF_RETURN_DONE(funcctx);
}
