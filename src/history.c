/*
 * history.c - ledger.balance_at and ledger.statement: an account's past.
 *
 * Every entry records the posted balance right after it (balance_after), and
 * an account's entries never go back in time in version order (each posting
 * is stamped no earlier than the account's last one), so the balance at any
 * moment is the balance_after of one entry: the last one at or before that
 * moment.  Versions run 1, 2, ... without a gap, so that entry is found by
 * binary search over the versions, one primary-key probe per step: about 20
 * probes for a million entries, and no index on time to maintain on every
 * posting.  Nothing is ever summed.
 *
 * A statement of a window is the run of versions after the last entry before
 * its start, up to the last entry before its end, both found the same way.
 * It is read in pages of STATEMENT_PAGE entries by keyset on the version,
 * and only the current page is held in memory, so a statement of millions
 * of entries streams in constant memory.  ledger.statement_page returns one
 * bounded page of it, oldest or newest first, from a version the client
 * passes: in a FROM clause a set-returning function is read whole before a
 * LIMIT applies, so paging must be in the call.
 */
#include "ledger.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/memutils.h"

/* Entries a statement reads at a time. */
#define STATEMENT_PAGE 1000

/* The most rows one call of ledger.statement_page returns. */
#define STATEMENT_PAGE_MAX 10000

/* Columns of ledger.statement()'s result. */
#define Natts_statement 9

/*
 * The account's last version, and what the postings of a hot account that
 * are still queued (hot.c) and stamped at or before $2 add to its balance.
 * No row: the account does not exist.
 */
static LedgerStatement account_at = LEDGER_STATEMENT(
	"SELECT a.version,"
	"       (SELECT ledger.sum(CASE WHEN q.direction OPERATOR(pg_catalog.=) a.normal_balance"
	"                               THEN q.amount ELSE OPERATOR(ledger.-) q.amount END)"
	"          FROM ledger.hot_entries AS q"
	"         WHERE a.hot AND q.account_id OPERATOR(pg_catalog.=) a.id"
	"           AND q.book_id OPERATOR(pg_catalog.=) a.book_id"
	"           AND q.created_at OPERATOR(pg_catalog.<=) $2),"
	"       a.book_id"
	"  FROM ledger.accounts AS a WHERE a.id OPERATOR(pg_catalog.=) $1", "bT");

/* The account's last version.  No row: the account does not exist. */
static LedgerStatement account_version = LEDGER_STATEMENT(
	"SELECT a.version, a.book_id FROM ledger.accounts AS a"
	" WHERE a.id OPERATOR(pg_catalog.=) $1", "b");

/* One entry's time and balance, by primary key. */
static LedgerStatement entry_at = LEDGER_STATEMENT(
	"SELECT e.created_at, e.balance_after FROM ledger.entries AS e"
	" WHERE e.account_id OPERATOR(pg_catalog.=) $1"
	"   AND e.account_version OPERATOR(pg_catalog.=) $2"
	"   AND e.book_id OPERATOR(pg_catalog.=) $3", "bbb");

/*
 * An account's entries as a statement's rows, with the other account.  The
 * statements name the account's book, by which Citus finds the shard of a
 * distributed ledger.
 */
#define STATEMENT_ROWS \
	"SELECT e.account_version, e.id, e.transfer_id, e.direction, e.amount," \
	"       e.balance_after," \
	"       CASE WHEN e.direction OPERATOR(pg_catalog.=) 'debit'" \
	"            THEN t.credit_account_id ELSE t.debit_account_id END," \
	"       t.description, e.created_at" \
	"  FROM ledger.entries AS e" \
	"  LEFT JOIN ledger.transfers AS t ON t.id OPERATOR(pg_catalog.=) e.transfer_id" \
	"                                AND t.book_id OPERATOR(pg_catalog.=) e.book_id" \
	" WHERE e.account_id OPERATOR(pg_catalog.=) $1 AND e.book_id OPERATOR(pg_catalog.=) $5"

/* One page of a statement, newest first: versions before $2, after $3. */
static LedgerStatement statement_page_desc = LEDGER_STATEMENT(
	STATEMENT_ROWS
	"   AND e.account_version OPERATOR(pg_catalog.<) $2"
	"   AND e.account_version OPERATOR(pg_catalog.>) $3"
	" ORDER BY e.account_version DESC LIMIT $4", "bbbbb");

/* One page of a statement: versions after $2, up to $3, in version order. */
static LedgerStatement statement_page = LEDGER_STATEMENT(
	STATEMENT_ROWS
	"   AND e.account_version OPERATOR(pg_catalog.>) $2"
	"   AND e.account_version OPERATOR(pg_catalog.<=) $3"
	" ORDER BY e.account_version LIMIT $4", "bbbbb");

/*
 * Where a statement is between calls.  The versions it returns are those
 * after low and up to high; read in version order from low, or newest
 * first from high, at most remaining of them.
 */
typedef struct StatementState
{
	int64		account_id;
	int64		book_id;
	bool		newest_first;
	int64		low;			/* exclusive; moves up as rows are read */
	int64		high;			/* inclusive; moves down, newest first */
	int64		remaining;		/* rows still to return */
	MemoryContext page_context; /* holds the current page; reset per page */
	HeapTuple  *page;			/* the current page's rows */
	int			page_rows;
	int			next_row;		/* the next row of page to return */
} StatementState;

/*
 * read_entry - the time and balance_after of one entry of the account.
 *
 * Caller is connected to SPI.  Versions 1 up to the account's version all
 * exist unless someone has tampered with the table behind the guards.
 */
static TimestampTz
read_entry(int64 account_id, int64 book_id, int64 version, Amount *balance_after)
{
	Datum		values[3];
	bool		isnull;
	TimestampTz created_at;

	values[0] = Int64GetDatum(account_id);
	values[1] = Int64GetDatum(version);
	values[2] = Int64GetDatum(book_id);
	LedgerQuery(&entry_at, values, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("entry version %lld of account %lld is missing",
						(long long) version, (long long) account_id),
				 errhint("Run ledger.verify() to see what else is wrong.")));
	created_at = DatumGetTimestampTz(LedgerGetColumn(0, 1, &isnull));
	*balance_after = DatumGetAmount(LedgerGetColumn(0, 2, &isnull));
	return created_at;
}

/*
 * last_version_before - the highest of versions 1..version of the account
 * whose entry is stamped before `at` (at or before, if inclusive), or 0.
 *
 * Sets *balance_after to that entry's balance_after, or to 0.  Time never
 * goes back in version order, so the versions that qualify are a prefix and
 * binary search finds its end.  The last version is tried first: "now" and
 * later are the commonest questions, and then one probe answers.
 */
static int64
last_version_before(int64 account_id, int64 book_id, int64 version, TimestampTz at,
					bool inclusive, Amount *balance_after)
{
	int64		low = 0;		/* qualifies, or 0 */
	int64		high;			/* everything above it does not qualify */
	Amount		balance = 0;
	Amount		probe_balance;
	TimestampTz t;

	*balance_after = 0;
	/* Nothing is stamped -infinity: statement()'s default since. */
	if (version <= 0 || TIMESTAMP_IS_NOBEGIN(at))
		return 0;
	t = read_entry(account_id, book_id, version, &probe_balance);
	if (t < at || (inclusive && t == at))
	{
		*balance_after = probe_balance;
		return version;
	}
	high = version - 1;
	while (low < high)
	{
		/* Rounds up, so that low moves when mid qualifies. */
		int64		mid = low + (high - low + 1) / 2;

		CHECK_FOR_INTERRUPTS();
		t = read_entry(account_id, book_id, mid, &probe_balance);
		if (t < at || (inclusive && t == at))
		{
			low = mid;
			balance = probe_balance;
		}
		else
			high = mid - 1;
	}
	*balance_after = balance;
	return low;
}

/*
 * read_account - the account's last version and book and, unless queued is NULL,
 * into *queued what its queued hot postings stamped at or before `at` add
 * (0 if none).  Raises LG004 for an unknown account, and 42501 unless the
 * caller may read its book.  Caller is connected to SPI.
 */
static int64
read_account(int64 account_id, TimestampTz at, Amount *queued, int64 *book_id)
{
	Datum		values[2];
	Datum		d;
	bool		isnull;
	int64		version;

	values[0] = Int64GetDatum(account_id);
	values[1] = TimestampTzGetDatum(at);
	LedgerQuery(queued != NULL ? &account_at : &account_version, values, NULL, 1);
	if (SPI_processed == 0)
		ReportUnknownAccount(account_id);
	*book_id = DatumGetInt64(LedgerGetColumn(0, queued != NULL ? 3 : 2, &isnull));
	AuthorityCheck(*book_id, LEDGER_READ, account_id);
	version = DatumGetInt64(LedgerGetColumn(0, 1, &isnull));
	if (queued != NULL)
	{
		d = LedgerGetColumn(0, 2, &isnull);
		*queued = isnull ? 0 : DatumGetAmount(d);
	}
	return version;
}

/*
 * ledger_balance_at - an account's posted balance as of a moment: the
 * balance right after its last entry at or before it, 0 before the first.
 */
PG_FUNCTION_INFO_V1(ledger_balance_at);
Datum
ledger_balance_at(PG_FUNCTION_ARGS)
{
	int64		account_id;
	TimestampTz at;
	int64		version;
	int64		book_id;
	Amount		queued;
	Amount		result;

	CheckArgNotNull(fcinfo, 0, "account_id");
	CheckArgNotNull(fcinfo, 1, "at");
	account_id = PG_GETARG_INT64(0);
	at = PG_GETARG_TIMESTAMPTZ(1);

	LedgerConnect();
	version = read_account(account_id, at, &queued, &book_id);
	(void) last_version_before(account_id, book_id, version, at, true, &result);
	if (__builtin_add_overflow(result, queued, &result))
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_BALANCE_OVERFLOW),
				 errmsg("balance of account %lld would overflow", (long long) account_id)));
	SPI_finish();

	PG_RETURN_AMOUNT(result);
}

/*
 * read_page - read the next page of a statement into state->page.
 *
 * The previous page is freed first.  Caller must not be connected to SPI.
 */
static void
read_page(StatementState *state, TupleDesc desc)
{
	Datum		values[5];
	MemoryContext oldcontext;
	int64		limit = Min(state->remaining, STATEMENT_PAGE);

	MemoryContextReset(state->page_context);
	state->page = NULL;
	state->page_rows = 0;
	state->next_row = 0;
	if (state->low >= state->high || limit <= 0)
		return;

	LedgerConnect();
	values[0] = Int64GetDatum(state->account_id);
	values[3] = Int64GetDatum(limit);
	values[4] = Int64GetDatum(state->book_id);
	if (state->newest_first)
	{
		values[1] = Int64GetDatum(state->high + 1);
		values[2] = Int64GetDatum(state->low);
		LedgerQuery(&statement_page_desc, values, NULL, limit);
	}
	else
	{
		values[1] = Int64GetDatum(state->low);
		values[2] = Int64GetDatum(state->high);
		LedgerQuery(&statement_page, values, NULL, limit);
	}

	/* The rows are returned as they are, so their layout must be ours. */
	if (SPI_tuptable->tupdesc->natts != desc->natts)
		elog(ERROR, "statement page has %d columns, expected %d",
			 SPI_tuptable->tupdesc->natts, desc->natts);
	for (int i = 0; i < desc->natts; i++)
		if (TupleDescAttr(SPI_tuptable->tupdesc, i)->atttypid !=
			TupleDescAttr(desc, i)->atttypid)
			elog(ERROR, "statement page column %d has the wrong type", i + 1);

	oldcontext = MemoryContextSwitchTo(state->page_context);
	state->page = palloc(sizeof(HeapTuple) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
		state->page[i] = heap_copytuple(SPI_tuptable->vals[i]);
	state->page_rows = (int) SPI_processed;
	MemoryContextSwitchTo(oldcontext);
	SPI_finish();

	state->remaining -= state->page_rows;
	if (state->page_rows > 0)
	{
		bool		isnull;
		int64		last = DatumGetInt64(heap_getattr(state->page[state->page_rows - 1],
													  1, desc, &isnull));

		if (state->newest_first)
			state->high = last - 1;
		else
			state->low = last;
	}
	/* A short page means the window is exhausted. */
	if (state->page_rows < limit)
		state->low = state->high;
}

/*
 * statement_rows - the value-per-call body of ledger.statement and
 * ledger.statement_page: the entries of the account in the window
 * since <= created_at < until, also after after_version and before
 * before_version (0 and PG_INT64_MAX: no bound), at most max_rows of them,
 * in version order or newest first.
 */
static Datum
statement_rows(FunctionCallInfo fcinfo, int64 account_id, TimestampTz since,
			   TimestampTz until, int64 after_version, int64 before_version,
			   int64 max_rows, bool newest_first)
{
	FuncCallContext *funcctx;
	StatementState *state;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext oldcontext;
		TupleDesc	desc;
		int64		version;
		Amount		unused;

		funcctx = SRF_FIRSTCALL_INIT();
		oldcontext = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		if (desc->natts != Natts_statement)
			elog(ERROR, "return type must have %d columns", Natts_statement);
		funcctx->tuple_desc = BlessTupleDesc(desc);

		state = palloc0(sizeof(StatementState));
		state->account_id = account_id;
		state->newest_first = newest_first;
		state->remaining = max_rows;
		state->page_context = AllocSetContextCreate(funcctx->multi_call_memory_ctx,
													"ledger statement page",
													ALLOCSET_DEFAULT_SIZES);
		funcctx->user_fctx = state;
		MemoryContextSwitchTo(oldcontext);

		/*
		 * The window is the versions after the last entry before since, up
		 * to the last entry before until; empty when that is none.
		 */
		LedgerConnect();
		version = read_account(account_id, until, NULL, &state->book_id);
		state->low = last_version_before(account_id, state->book_id, version, since, false,
										 &unused);
		state->high = last_version_before(account_id, state->book_id, version, until, false,
										  &unused);
		SPI_finish();
		state->low = Max(state->low, after_version);
		if (before_version <= state->high)
			state->high = before_version - 1;
		if (state->high < state->low)
			state->high = state->low;
	}

	funcctx = SRF_PERCALL_SETUP();
	state = (StatementState *) funcctx->user_fctx;

	if (state->next_row >= state->page_rows)
	{
		CHECK_FOR_INTERRUPTS();
		read_page(state, funcctx->tuple_desc);
	}
	if (state->next_row < state->page_rows)
	{
		HeapTuple	tuple = state->page[state->next_row++];

		SRF_RETURN_NEXT(funcctx, heap_copy_tuple_as_datum(tuple, funcctx->tuple_desc));
	}
	SRF_RETURN_DONE(funcctx);
}

/*
 * ledger_statement - an account's entries with since <= created_at < until,
 * in version order, each with its counterparty and description.
 *
 * Value per call: one page of entries is in memory at a time.  In a FROM
 * clause PostgreSQL reads a set-returning function to its end before a
 * LIMIT applies: ledger.statement_page is the one to page with.
 */
PG_FUNCTION_INFO_V1(ledger_statement);
Datum
ledger_statement(PG_FUNCTION_ARGS)
{
	if (SRF_IS_FIRSTCALL())
	{
		CheckArgNotNull(fcinfo, 0, "account_id");
		CheckArgNotNull(fcinfo, 1, "since");
		CheckArgNotNull(fcinfo, 2, "until");
	}
	return statement_rows(fcinfo, PG_GETARG_INT64(0), PG_GETARG_TIMESTAMPTZ(1),
						  PG_GETARG_TIMESTAMPTZ(2), 0, PG_INT64_MAX, PG_INT64_MAX,
						  false);
}

/*
 * ledger_statement_page - one page of an account's statement: at most
 * max_rows entries after after_version (oldest first) or before
 * before_version (newest first), within since <= created_at < until.  A
 * client follows the pages by passing the last version it got back.
 */
PG_FUNCTION_INFO_V1(ledger_statement_page);
Datum
ledger_statement_page(PG_FUNCTION_ARGS)
{
	int32		max_rows;

	CheckArgNotNull(fcinfo, 0, "account_id");
	CheckArgNotNull(fcinfo, 1, "max_rows");
	CheckArgNotNull(fcinfo, 4, "newest_first");
	CheckArgNotNull(fcinfo, 5, "since");
	CheckArgNotNull(fcinfo, 6, "until");
	max_rows = PG_GETARG_INT32(1);
	if (max_rows < 1 || max_rows > STATEMENT_PAGE_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_ARGUMENT),
				 errmsg("max_rows must be 1 to %d, not %d", STATEMENT_PAGE_MAX, max_rows)));
	return statement_rows(fcinfo, PG_GETARG_INT64(0), PG_GETARG_TIMESTAMPTZ(5),
						  PG_GETARG_TIMESTAMPTZ(6),
						  PG_ARGISNULL(2) ? 0 : PG_GETARG_INT64(2),
						  PG_ARGISNULL(3) ? PG_INT64_MAX : PG_GETARG_INT64(3),
						  max_rows, PG_GETARG_BOOL(4));
}
