/*
 * monitor.c - balance monitors: an account's posted or available balance
 * watched against a threshold.
 *
 * A monitor is a row of ledger.monitors.  The posting pipeline reads the
 * monitors of the accounts it locks (events.c) and, when a call makes a
 * monitor's condition true that was false before the call, writes a
 * monitor_fired event in the same transaction: an edge, once per
 * crossing, not every movement while the condition stays true.  Creating
 * or dropping one needs manage on the account's book; every backend
 * forgets the monitors it read when the change commits.
 */
#include "ledger.h"

#include "table.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"

static LedgerStatement read_monitor = LEDGER_STATEMENT(
	"SELECT account_id, book_id FROM ledger.monitors"
	" WHERE id OPERATOR(pg_catalog.=) $1 FOR UPDATE", "b");

/* Every backend forgets the monitors it read at our commit. */
static void
monitors_changed(void)
{
	CacheInvalidateRelcacheByRelid(get_relname_relid("monitors", LedgerNamespaceOid()));
}

/*
 * ledger_create_monitor - a monitor of an account's posted or available
 * balance (op one of <, <=, >=, >, against threshold); returns its id.
 */
PG_FUNCTION_INFO_V1(ledger_create_monitor);
Datum
ledger_create_monitor(PG_FUNCTION_ARGS)
{
	TableColumn columns[] = {
		{"id", INT8OID}, {"account_id", INT8OID}, {"book_id", INT8OID},
		{"name", TEXTOID}, {"balance", TEXTOID}, {"op", TEXTOID},
		{"threshold", LedgerAmountTypeOid()}, {"created_by", REGROLEOID}
	};
	Datum		values[lengthof(columns)];
	bool		nulls[lengthof(columns)] = {false};
	LedgerAccount account;
	int64		account_id;
	char	   *balance;
	char	   *op;
	int64		id;
	TableWrite *w;

	CheckArgNotNull(fcinfo, 0, "account_id");
	CheckArgNotNull(fcinfo, 1, "balance");
	CheckArgNotNull(fcinfo, 2, "op");
	CheckArgNotNull(fcinfo, 3, "threshold");
	account_id = PG_GETARG_INT64(0);
	balance = TextDatumGetCString(PG_GETARG_DATUM(1));
	op = TextDatumGetCString(PG_GETARG_DATUM(2));
	if (strcmp(balance, "posted") != 0 && strcmp(balance, "available") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_ARGUMENT),
				 errmsg("balance must be \"posted\" or \"available\", not \"%s\"", balance)));
	if (strcmp(op, "<") != 0 && strcmp(op, "<=") != 0 &&
		strcmp(op, ">=") != 0 && strcmp(op, ">") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_ARGUMENT),
				 errmsg("op must be one of <, <=, >=, >, not \"%s\"", op)));
	if (!PG_ARGISNULL(4))
		CheckName(TextDatumGetCString(PG_GETARG_DATUM(4)), "monitor");

	LedgerConnect();
	if (!ReadAccountRow(account_id, false, &account))
		ReportUnknownAccount(account_id);
	AuthorityCheck(account.book_id, LEDGER_MANAGE, account_id);
	id = LedgerNextId("monitors_id_seq");
	values[0] = Int64GetDatum(id);
	values[1] = Int64GetDatum(account_id);
	values[2] = Int64GetDatum(account.book_id);
	nulls[3] = PG_ARGISNULL(4);
	values[3] = nulls[3] ? (Datum) 0 : PG_GETARG_DATUM(4);
	values[4] = PG_GETARG_DATUM(1);
	values[5] = PG_GETARG_DATUM(2);
	values[6] = PG_GETARG_DATUM(3);
	values[7] = ObjectIdGetDatum(GetUserId());
	w = TableWriteBegin("monitors", TABLE_INSERT, columns, lengthof(columns));
	TableWriteRow(w, values, nulls);
	if (TableWriteEnd(w) != 1)
		elog(ERROR, "could not insert monitor %lld", (long long) id);
	monitors_changed();
	SPI_finish();
	PG_RETURN_INT64(id);
}

/*
 * ledger_drop_monitor - remove a monitor (manage on its account's book);
 * returns whether it existed.
 */
PG_FUNCTION_INFO_V1(ledger_drop_monitor);
Datum
ledger_drop_monitor(PG_FUNCTION_ARGS)
{
	Datum		arg;
	bool		isnull;

	CheckArgNotNull(fcinfo, 0, "monitor_id");
	arg = PG_GETARG_DATUM(0);
	LedgerConnect();
	LedgerExecute(&read_monitor, &arg, NULL, 1);
	if (SPI_processed == 0)
	{
		SPI_finish();
		PG_RETURN_BOOL(false);
	}
	AuthorityCheck(DatumGetInt64(LedgerGetColumn(0, 2, &isnull)), LEDGER_MANAGE,
				   DatumGetInt64(LedgerGetColumn(0, 1, &isnull)));
	if (TableDeleteById("monitors", DatumGetInt64(arg)) != 1)
		elog(ERROR, "monitor %lld vanished while locked", (long long) DatumGetInt64(arg));
	monitors_changed();
	SPI_finish();
	PG_RETURN_BOOL(true);
}
