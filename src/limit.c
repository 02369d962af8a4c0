/*
 * limit.c - the SQL functions of velocity limits: how much and how often an
 * account may be debited or credited within a rolling window.
 *
 * A limit is a row of ledger.velocity_limits, for people and for dropping
 * it, and a rule in its account's row, where the posting pipeline counts
 * every movement against it under the row lock (velocity.c).  Adding or
 * dropping one is a change of the account, through the pipeline like a
 * change of its limits, and needs manage on the account's book.
 */
#include "ledger.h"

#include "posting.h"
#include "table.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

/* The longest window: a year and some, in microseconds. */
#define WINDOW_MAX		((int64) 400 * USECS_PER_DAY)

static LedgerStatement read_limit = LEDGER_STATEMENT(
	"SELECT account_id, book_id FROM ledger.velocity_limits"
	" WHERE id OPERATOR(pg_catalog.=) $1 FOR UPDATE", "b");

static LedgerStatement limit_names = LEDGER_STATEMENT(
	"SELECT id, name FROM ledger.velocity_limits"
	" WHERE account_id OPERATOR(pg_catalog.=) $1", "b");

/* A text argument that must be one of two words; true for the second. */
static bool
word_arg(FunctionCallInfo fcinfo, int argno, const char *argname,
		 const char *first, const char *second)
{
	char	   *word;

	CheckArgNotNull(fcinfo, argno, argname);
	word = TextDatumGetCString(PG_GETARG_DATUM(argno));
	if (strcmp(word, first) != 0 && strcmp(word, second) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_ARGUMENT),
				 errmsg("%s must be \"%s\" or \"%s\", not \"%s\"", argname, first, second, word)));
	return strcmp(word, second) == 0;
}

/*
 * ledger_create_velocity_limit - a limit on how much (max_amount) and how
 * often (max_count) account_id may be debited or credited (direction)
 * within a rolling window; action 'reject' refuses the movement that would
 * go beyond it, 'flag' lets it through and publishes a velocity_flagged
 * event.  Returns its id.
 */
PG_FUNCTION_INFO_V1(ledger_create_velocity_limit);
Datum
ledger_create_velocity_limit(PG_FUNCTION_ARGS)
{
	TableColumn columns[] = {
		{"id", INT8OID}, {"account_id", INT8OID}, {"book_id", INT8OID},
		{"direction", TEXTOID}, {"window", INTERVALOID},
		{"max_amount", LedgerAmountTypeOid()}, {"max_count", INT4OID},
		{"action", TEXTOID}, {"name", TEXTOID}, {"created_by", REGROLEOID}
	};
	Datum		values[lengthof(columns)];
	bool		nulls[lengthof(columns)] = {false};
	VelocityRule rule;
	AccountRequest a = {.change = CHANGE_ADD_VELOCITY};
	LedgerAccount account;
	int64		account_id;
	Interval   *window;
	TableWrite *w;

	CheckArgNotNull(fcinfo, 0, "account_id");
	account_id = PG_GETARG_INT64(0);
	memset(&rule, 0, sizeof(rule));
	rule.credit = word_arg(fcinfo, 1, "direction", "debit", "credit");
	CheckArgNotNull(fcinfo, 2, "window");
	window = PG_GETARG_INTERVAL_P(2);
	if (window->month != 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_ARGUMENT),
				 errmsg("window must be given in days, hours, minutes and seconds, not months"),
				 errhint("Months differ in length; write interval '30 days' for a month.")));
	if (__builtin_mul_overflow((int64) window->day, USECS_PER_DAY, &rule.window) ||
		__builtin_add_overflow(rule.window, window->time, &rule.window) ||
		rule.window < USECS_PER_SEC || rule.window > WINDOW_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_ARGUMENT),
				 errmsg("window must be between 1 second and 400 days")));
	rule.has_amount = !PG_ARGISNULL(3);
	if (rule.has_amount)
	{
		rule.max_amount = PG_GETARG_AMOUNT(3);
		if (rule.max_amount <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_INVALID_AMOUNT),
					 errmsg("max_amount must be positive, not %s", AmountToCString(rule.max_amount))));
	}
	rule.has_count = !PG_ARGISNULL(4);
	if (rule.has_count)
	{
		rule.max_count = PG_GETARG_INT32(4);
		if (rule.max_count < 1)
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_INVALID_ARGUMENT),
					 errmsg("max_count must be at least 1, not %lld", (long long) rule.max_count)));
	}
	if (!rule.has_amount && !rule.has_count)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_NULL_ARGUMENT),
				 errmsg("a velocity limit needs max_amount, max_count or both")));
	rule.flag = word_arg(fcinfo, 5, "action", "reject", "flag");
	if (!PG_ARGISNULL(6))
		CheckName(TextDatumGetCString(PG_GETARG_DATUM(6)), "velocity limit");

	LedgerConnect();
	if (!ReadAccountRow(account_id, false, &account))
		ReportUnknownAccount(account_id);
	AuthorityCheck(account.book_id, LEDGER_MANAGE, account_id);
	if (rule.flag && !EventsEnabled(account.book_id))
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_ARGUMENT),
				 errmsg("book %lld does not publish events, so a velocity limit of action \"flag\" would flag nothing",
						(long long) account.book_id),
				 errhint("Turn its events on with ledger.set_book_events(), or use action \"reject\".")));
	rule.id = LedgerNextId("velocity_limits_id_seq");
	SPI_finish();

	a.velocity = &rule;
	PostingChangeAccount(account_id, &a);

	LedgerConnect();
	values[0] = Int64GetDatum(rule.id);
	values[1] = Int64GetDatum(account_id);
	values[2] = Int64GetDatum(account.book_id);
	values[3] = PG_GETARG_DATUM(1);
	values[4] = PG_GETARG_DATUM(2);
	values[5] = PG_GETARG_DATUM(3);
	nulls[5] = !rule.has_amount;
	values[6] = PG_GETARG_DATUM(4);
	nulls[6] = !rule.has_count;
	values[7] = PG_GETARG_DATUM(5);
	values[8] = PG_ARGISNULL(6) ? (Datum) 0 : PG_GETARG_DATUM(6);
	nulls[8] = PG_ARGISNULL(6);
	values[9] = ObjectIdGetDatum(GetUserId());
	w = TableWriteBegin("velocity_limits", TABLE_INSERT, columns, lengthof(columns));
	TableWriteRow(w, values, nulls);
	if (TableWriteEnd(w) != 1)
		elog(ERROR, "could not insert velocity limit %lld", (long long) rule.id);
	SPI_finish();
	PG_RETURN_INT64(rule.id);
}

/*
 * ledger_drop_velocity_limit - remove a velocity limit (manage on its
 * account's book); returns whether it existed.
 */
PG_FUNCTION_INFO_V1(ledger_drop_velocity_limit);
Datum
ledger_drop_velocity_limit(PG_FUNCTION_ARGS)
{
	AccountRequest a = {.change = CHANGE_DROP_VELOCITY};
	VelocityRule rule;
	Datum		arg;
	bool		isnull;
	int64		account_id;

	CheckArgNotNull(fcinfo, 0, "velocity_limit_id");
	arg = PG_GETARG_DATUM(0);
	LedgerConnect();
	LedgerExecute(&read_limit, &arg, NULL, 1);
	if (SPI_processed == 0)
	{
		SPI_finish();
		PG_RETURN_BOOL(false);
	}
	account_id = DatumGetInt64(LedgerGetColumn(0, 1, &isnull));
	AuthorityCheck(DatumGetInt64(LedgerGetColumn(0, 2, &isnull)), LEDGER_MANAGE, account_id);
	SPI_finish();

	memset(&rule, 0, sizeof(rule));
	rule.id = DatumGetInt64(arg);
	a.velocity = &rule;
	PostingChangeAccount(account_id, &a);

	LedgerConnect();
	if (TableDeleteById("velocity_limits", rule.id) != 1)
		elog(ERROR, "velocity limit %lld vanished while locked", (long long) rule.id);
	SPI_finish();
	PG_RETURN_BOOL(true);
}

/*
 * ledger_account_velocity - the velocity limits of an account and what
 * each has counted in its window now (read on the account's book).
 */
PG_FUNCTION_INFO_V1(ledger_account_velocity);
Datum
ledger_account_velocity(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LedgerAccount account;
	TupleDesc	desc;
	Tuplestorestate *store;
	MemoryContext oldcontext;
	TimestampTz now = GetCurrentTimestamp();
	int64		account_id;
	int			nnames;
	Datum	   *ids;
	Datum	   *names;
	bool	   *names_null;

	CheckArgNotNull(fcinfo, 0, "account_id");
	account_id = PG_GETARG_INT64(0);
	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	LedgerConnect();
	if (!ReadAccountRow(account_id, true, &account))
		ReportUnknownAccount(account_id);
	AuthorityCheck(account.book_id, LEDGER_READ, account_id);
	{
		Datum		arg = Int64GetDatum(account_id);

		LedgerExecute(&limit_names, &arg, NULL, 0);
		nnames = (int) SPI_processed;
		ids = palloc(sizeof(Datum) * Max(nnames, 1));
		names = palloc(sizeof(Datum) * Max(nnames, 1));
		names_null = palloc(sizeof(bool) * Max(nnames, 1));
		for (int k = 0; k < nnames; k++)
		{
			bool		isnull;

			ids[k] = LedgerGetColumn(k, 1, &isnull);
			names[k] = LedgerGetColumn(k, 2, &names_null[k]);
			if (!names_null[k])
				names[k] = PointerGetDatum(DatumGetTextPCopy(names[k]));
		}
	}

	oldcontext = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	desc = CreateTupleDescCopy(desc);
	store = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(oldcontext);
	for (int i = 0; account.velocity != NULL && i < account.velocity->nrules; i++)
	{
		const VelocityRule *rule = &account.velocity->rules[i];
		Datum		values[9];
		bool		nulls[9] = {false};
		Amount		amount_used;
		int64		count_used;
		Interval	iv;

		VelocityUsage(rule, now, &amount_used, &count_used);
		memset(&iv, 0, sizeof(iv));
		iv.day = (int32) (rule->window / USECS_PER_DAY);
		iv.time = rule->window % USECS_PER_DAY;
		values[0] = Int64GetDatum(rule->id);
		values[1] = CStringGetTextDatum(rule->credit ? "credit" : "debit");
		values[2] = PointerGetDatum(&iv);
		values[3] = AmountGetDatum(rule->max_amount);
		nulls[3] = !rule->has_amount;
		values[4] = Int32GetDatum((int32) rule->max_count);
		nulls[4] = !rule->has_count;
		values[5] = CStringGetTextDatum(rule->flag ? "flag" : "reject");
		nulls[6] = true;
		for (int k = 0; k < nnames; k++)
			if (DatumGetInt64(ids[k]) == rule->id && !names_null[k])
			{
				values[6] = names[k];
				nulls[6] = false;
			}
		values[7] = AmountGetDatum(amount_used);
		values[8] = Int64GetDatum(count_used);
		tuplestore_putvalues(store, desc, values, nulls);
	}
	SPI_finish();
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = desc;
	return (Datum) 0;
}
