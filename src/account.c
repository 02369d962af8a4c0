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
#include "table.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
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
 * Fields of ledger.account_request, in order: ledger.create_book_account's
 * arguments.
 */
enum
{
	AR_BOOK_ID, AR_ASSET, AR_NAME, AR_NORMAL_BALANCE, AR_MIN_BALANCE, AR_MAX_BALANCE,
	AR_METADATA, Natts_account_request
};

/*
 * account_request - the new account of one request, checked as far as it
 * can be without a lock, into m and a.
 */
static void
account_request(const Datum *values, const bool *nulls, Movement *m, AccountRequest *a)
{
	static const int required[] = {AR_BOOK_ID, AR_ASSET, AR_NORMAL_BALANCE};
	static const char *const names[] = {"book_id", "asset", "normal_balance"};
	LedgerAccount account;
	char	   *normal_balance;

	for (int f = 0; f < (int) lengthof(required); f++)
		if (nulls[required[f]])
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_NULL_ARGUMENT),
					 errmsg("%s must not be null", names[f])));
	if (!nulls[AR_METADATA])
		CheckMetadataDatum(values[AR_METADATA]);
	if (!nulls[AR_NAME])
		CheckName(TextDatumGetCString(values[AR_NAME]), "account");
	normal_balance = TextDatumGetCString(values[AR_NORMAL_BALANCE]);
	if (strcmp(normal_balance, "credit") != 0 && strcmp(normal_balance, "debit") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_NORMAL_BALANCE),
				 errmsg("invalid normal balance \"%s\"", normal_balance),
				 errhint("Use 'credit' for liabilities such as user wallets, 'debit' for assets such as cash.")));

	memset(m, 0, sizeof(Movement));
	memset(a, 0, sizeof(AccountRequest));
	m->account = a;
	m->kind = MOVE_CREATE_ACCOUNT;
	a->book_id = DatumGetInt64(values[AR_BOOK_ID]);
	a->asset = values[AR_ASSET];
	a->name_null = nulls[AR_NAME];
	a->name = a->name_null ? (Datum) 0 : values[AR_NAME];
	a->credit_normal = normal_balance[0] == 'c';
	a->has_min = !nulls[AR_MIN_BALANCE];
	a->min_balance = a->has_min ? DatumGetAmount(values[AR_MIN_BALANCE]) : 0;
	a->has_max = !nulls[AR_MAX_BALANCE];
	a->max_balance = a->has_max ? DatumGetAmount(values[AR_MAX_BALANCE]) : 0;
	m->req.metadata_null = nulls[AR_METADATA];
	m->req.metadata = m->req.metadata_null ? (Datum) 0 : values[AR_METADATA];

	/* The new account's balance is zero: its limits must include zero. */
	memset(&account, 0, sizeof(account));
	account.credit_normal = a->credit_normal;
	account.has_min = a->has_min;
	account.min_balance = a->min_balance;
	account.has_max = a->has_max;
	account.max_balance = a->max_balance;
	CheckLimitsIncludeBalance(&account);
}

/*
 * create_account - an account of the request in the call's arguments, from
 * argument 0 on: the book (if with_book) and the arguments of
 * ledger.create_account.
 */
static int64
create_account(FunctionCallInfo fcinfo, bool with_book)
{
	int			shift = with_book ? 0 : 1;
	Datum		values[Natts_account_request];
	bool		nulls[Natts_account_request];
	Movement	m;
	AccountRequest a;

	values[AR_BOOK_ID] = Int64GetDatum(1);
	nulls[AR_BOOK_ID] = false;
	for (int f = shift; f < Natts_account_request; f++)
	{
		nulls[f] = PG_ARGISNULL(f - shift);
		values[f] = nulls[f] ? (Datum) 0 : PG_GETARG_DATUM(f - shift);
	}
	account_request(values, nulls, &m, &a);

	LedgerConnect();
	PostingRunOne(&m);
	SPI_finish();
	return m.id;
}

/*
 * ledger_create_account - create an account of book 1 in an asset; returns
 * its id.
 */
PG_FUNCTION_INFO_V1(ledger_create_account);
Datum
ledger_create_account(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(create_account(fcinfo, false));
}

/*
 * ledger_create_book_account - create an account of a book in an asset;
 * returns its id.
 */
PG_FUNCTION_INFO_V1(ledger_create_book_account);
Datum
ledger_create_book_account(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(create_account(fcinfo, true));
}

/*
 * ledger_create_accounts - create an array of accounts atomically; returns
 * their ids in input order.  As one call of create_account each, in
 * order, but with the rows written together.
 */
PG_FUNCTION_INFO_V1(ledger_create_accounts);
Datum
ledger_create_accounts(PG_FUNCTION_ARGS)
{
	ItemContext context;
	Posting		p;
	Datum	   *fields;
	bool	   *fieldnulls;
	AccountRequest *requests;
	ArrayType  *result;

	CheckArgNotNull(fcinfo, 0, "accounts");
	memset(&p, 0, sizeof(p));
	p.batch = true;
	PushItemContext(&context, "create_accounts", &p.current);
	p.nitems = GetRequestItems(PG_GETARG_ARRAYTYPE_P(0), Natts_account_request, "account",
							   &p.current, &fields, &fieldnulls);
	p.items = palloc(sizeof(Movement) * Max(p.nitems, 1));
	requests = palloc(sizeof(AccountRequest) * Max(p.nitems, 1));
	for (p.current = 0; p.current < p.nitems; p.current++)
		account_request(fields + p.current * Natts_account_request,
						fieldnulls + p.current * Natts_account_request,
						&p.items[p.current], &requests[p.current]);
	p.current = -1;
	result = PostingRunBatch(&p);
	PopItemContext(&context);
	PG_RETURN_ARRAYTYPE_P(result);
}

/*
 * ledger_account_id - the id of the account of a book (book 1 if not
 * given) with a given name.
 */
PG_FUNCTION_INFO_V1(ledger_account_id);
Datum
ledger_account_id(PG_FUNCTION_ARGS)
{
	TableColumn key[] = {{"book_id", INT8OID}, {"name", TEXTOID}};
	TableColumn column = {"id", INT8OID};
	int			shift = PG_NARGS() == 2 ? 1 : 0;
	Datum		keyvalues[2];
	Datum		id;
	bool		isnull;

	if (shift)
		CheckArgNotNull(fcinfo, 0, "book_id");
	CheckArgNotNull(fcinfo, shift, "name");
	keyvalues[0] = shift ? PG_GETARG_DATUM(0) : Int64GetDatum(1);
	keyvalues[1] = PG_GETARG_DATUM(shift);
	/* First, so that a role learns nothing of the names of a book not its own. */
	AuthorityCheckAny(DatumGetInt64(keyvalues[0]));
	LedgerConnect();
	if (!TableFetchByKey("accounts", key, keyvalues, 2, &column, 1, &id, &isnull))
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_UNKNOWN_ACCOUNT),
				 shift ?
				 errmsg("account \"%s\" does not exist in book %lld",
						TextDatumGetCString(keyvalues[1]),
						(long long) DatumGetInt64(keyvalues[0])) :
				 errmsg("account \"%s\" does not exist", TextDatumGetCString(keyvalues[1]))));
	SPI_finish();
	PG_RETURN_INT64(DatumGetInt64(id));
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
		AuthorityCheck(account.book_id, LEDGER_READ, account.id);
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
