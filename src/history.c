/*
 * history.c - ledger.balance_at and ledger.statement: an account's past.
 *
 * Every entry records the posted balance right after it (balance_after), and
 * an account's entries never go back in time in version order, so the
 * balance at any moment is the balance_after of one entry: the last one at or
 * before that moment, found by a single backward probe of the index on
 * (account_id, created_at, account_version).  Nothing is ever summed.
 *
 * A statement of a window is the run of versions between the first entry at
 * or after its start and the last entry before its end, both found the same
 * way.  It is read in pages of STATEMENT_PAGE entries by keyset on the
 * version, and only the current page is held in memory, so a statement of
 * millions of entries streams in constant memory.
 */
#include "ledger.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/memutils.h"

/* Entries a statement reads at a time. */
#define STATEMENT_PAGE 1000
#define STATEMENT_PAGE_STR "1000"

/* Columns of ledger.statement()'s result. */
#define Natts_statement 9

/*
 * The balance_after of the latest entry at or before $2.  Entries do not go
 * back in time in version order, so the last in (created_at, version) order
 * is the highest version.  Then what the postings of a hot account that are
 * still queued (hot.c) and stamped at or before $2 add to it.  No row: the
 * account does not exist.
 */
static LedgerStatement balance_at = LEDGER_STATEMENT(
	"SELECT (SELECT e.balance_after FROM ledger.entries AS e"
	"         WHERE e.account_id OPERATOR(pg_catalog.=) a.id"
	"           AND e.created_at OPERATOR(pg_catalog.<=) $2"
	"         ORDER BY e.created_at DESC, e.account_version DESC LIMIT 1),"
	"       (SELECT ledger.sum(CASE WHEN q.direction OPERATOR(pg_catalog.=) a.normal_balance"
	"                               THEN q.amount ELSE OPERATOR(ledger.-) q.amount END)"
	"          FROM ledger.hot_entries AS q"
	"         WHERE a.hot AND q.account_id OPERATOR(pg_catalog.=) a.id"
	"           AND q.created_at OPERATOR(pg_catalog.<=) $2)"
	"  FROM ledger.accounts AS a WHERE a.id OPERATOR(pg_catalog.=) $1", "bT");

/*
 * The first version at or after $2 and the last version before $3.  No row:
 * the account does not exist; a NULL: no entry on that side of the bound.
 */
static LedgerStatement statement_window = LEDGER_STATEMENT(
	"SELECT (SELECT e.account_version FROM ledger.entries AS e"
	"         WHERE e.account_id OPERATOR(pg_catalog.=) a.id"
	"           AND e.created_at OPERATOR(pg_catalog.>=) $2"
	"         ORDER BY e.created_at, e.account_version LIMIT 1),"
	"       (SELECT e.account_version FROM ledger.entries AS e"
	"         WHERE e.account_id OPERATOR(pg_catalog.=) a.id"
	"           AND e.created_at OPERATOR(pg_catalog.<) $3"
	"         ORDER BY e.created_at DESC, e.account_version DESC LIMIT 1)"
	"  FROM ledger.accounts AS a WHERE a.id OPERATOR(pg_catalog.=) $1", "bTT");

/* One page of a statement: versions after $2, up to $3, in version order. */
static LedgerStatement statement_page = LEDGER_STATEMENT(
	"SELECT e.account_version, e.id, e.transfer_id, e.direction, e.amount,"
	"       e.balance_after,"
	"       CASE WHEN e.direction OPERATOR(pg_catalog.=) 'debit'"
	"            THEN t.credit_account_id ELSE t.debit_account_id END,"
	"       t.description, e.created_at"
	"  FROM ledger.entries AS e"
	"  LEFT JOIN ledger.transfers AS t ON t.id OPERATOR(pg_catalog.=) e.transfer_id"
	" WHERE e.account_id OPERATOR(pg_catalog.=) $1"
	"   AND e.account_version OPERATOR(pg_catalog.>) $2"
	"   AND e.account_version OPERATOR(pg_catalog.<=) $3"
	" ORDER BY e.account_version LIMIT " STATEMENT_PAGE_STR, "bbb");

/* Where a statement is between calls. */
typedef struct StatementState
{
	int64		account_id;
	int64		last_version;	/* the last version read so far */
	int64		end_version;	/* the last version of the window */
	MemoryContext page_context; /* holds the current page; reset per page */
	HeapTuple  *page;			/* the current page's rows */
	int			page_rows;
	int			next_row;		/* the next row of page to return */
} StatementState;

/*
 * ledger_balance_at - an account's posted balance as of a moment: the
 * balance right after its last entry at or before it, 0 before the first.
 */
PG_FUNCTION_INFO_V1(ledger_balance_at);
Datum
ledger_balance_at(PG_FUNCTION_ARGS)
{
	Datum		values[2];
	Datum		balance;
	bool		isnull;
	Amount		result = 0;

	CheckArgNotNull(fcinfo, 0, "account_id");
	CheckArgNotNull(fcinfo, 1, "at");
	values[0] = PG_GETARG_DATUM(0);
	values[1] = PG_GETARG_DATUM(1);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	LedgerQuery(&balance_at, values, NULL, 1);
	if (SPI_processed == 0)
		ReportUnknownAccount(PG_GETARG_INT64(0));
	balance = LedgerGetColumn(0, 1, &isnull);
	if (!isnull)
		result = DatumGetAmount(balance);
	balance = LedgerGetColumn(0, 2, &isnull);
	if (!isnull && __builtin_add_overflow(result, DatumGetAmount(balance), &result))
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_BALANCE_OVERFLOW),
				 errmsg("balance of account %lld would overflow", (long long) PG_GETARG_INT64(0))));
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
	Datum		values[3];
	MemoryContext oldcontext;

	MemoryContextReset(state->page_context);
	state->page = NULL;
	state->page_rows = 0;
	state->next_row = 0;
	if (state->last_version >= state->end_version)
		return;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = Int64GetDatum(state->account_id);
	values[1] = Int64GetDatum(state->last_version);
	values[2] = Int64GetDatum(state->end_version);
	LedgerQuery(&statement_page, values, NULL, STATEMENT_PAGE);

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

	if (state->page_rows > 0)
	{
		bool		isnull;

		state->last_version =
			DatumGetInt64(heap_getattr(state->page[state->page_rows - 1], 1,
									   desc, &isnull));
	}
	/* A short page means the window is exhausted. */
	if (state->page_rows < STATEMENT_PAGE)
		state->last_version = state->end_version;
}

/*
 * ledger_statement - an account's entries with since <= created_at < until,
 * in version order, each with its counterparty and description.
 *
 * Value per call: one page of entries is in memory at a time.
 */
PG_FUNCTION_INFO_V1(ledger_statement);
Datum
ledger_statement(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	StatementState *state;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext oldcontext;
		TupleDesc	desc;
		Datum		values[3];
		Datum		d;
		bool		first_null;
		bool		last_null;
		int64		first_version = 0;
		int64		last_version = 0;

		CheckArgNotNull(fcinfo, 0, "account_id");
		CheckArgNotNull(fcinfo, 1, "since");
		CheckArgNotNull(fcinfo, 2, "until");

		funcctx = SRF_FIRSTCALL_INIT();
		oldcontext = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		if (desc->natts != Natts_statement)
			elog(ERROR, "return type must have %d columns", Natts_statement);
		funcctx->tuple_desc = BlessTupleDesc(desc);

		state = palloc0(sizeof(StatementState));
		state->account_id = PG_GETARG_INT64(0);
		state->page_context = AllocSetContextCreate(funcctx->multi_call_memory_ctx,
													"ledger statement page",
													ALLOCSET_DEFAULT_SIZES);
		funcctx->user_fctx = state;
		MemoryContextSwitchTo(oldcontext);

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		values[0] = PG_GETARG_DATUM(0);
		values[1] = PG_GETARG_DATUM(1);
		values[2] = PG_GETARG_DATUM(2);
		LedgerQuery(&statement_window, values, NULL, 1);
		if (SPI_processed == 0)
			ReportUnknownAccount(state->account_id);
		d = LedgerGetColumn(0, 1, &first_null);
		if (!first_null)
			first_version = DatumGetInt64(d);
		d = LedgerGetColumn(0, 2, &last_null);
		if (!last_null)
			last_version = DatumGetInt64(d);
		SPI_finish();

		/* Versions first_version .. last_version; empty if either is missing. */
		if (first_null || last_null || first_version > last_version)
		{
			state->last_version = 0;
			state->end_version = 0;
		}
		else
		{
			state->last_version = first_version - 1;
			state->end_version = last_version;
		}
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
