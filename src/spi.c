/*
 * spi.c - the extension's prepared statements.
 *
 * Every query the ledger runs is a LedgerStatement: prepared on first use,
 * kept with SPI_keepplan for the life of the backend, and executed with
 * parameters, never with text spliced into SQL.  Parameter types include
 * ledger.amount, whose OID changes when the extension is dropped and created
 * again in the same session; a syscache callback notices that and the plans
 * are prepared anew.
 */
#include "ledger.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#define LEDGER_MAX_ARGS 16

static Oid	amount_type_oid = InvalidOid;
static Oid	amount_array_type_oid = InvalidOid;

/* Bumped whenever the amount type's OID may have changed. */
static uint32 plan_generation = 1;

/* Any change to pg_type may be a DROP/CREATE EXTENSION: look again. */
static void
type_cache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	amount_type_oid = InvalidOid;
}

/*
 * LedgerRegisterCacheCallbacks - called once from _PG_init.
 */
void
LedgerRegisterCacheCallbacks(void)
{
	CacheRegisterSyscacheCallback(TYPEOID, type_cache_callback, (Datum) 0);
}

/*
 * LedgerAmountTypeOid - the OID of ledger.amount in this database.
 */
Oid
LedgerAmountTypeOid(void)
{
	if (!OidIsValid(amount_type_oid))
	{
		Oid			nsp = get_namespace_oid("ledger", false);
		Oid			typid;

		typid = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
								CStringGetDatum("amount"),
								ObjectIdGetDatum(nsp));
		if (!OidIsValid(typid))
			elog(ERROR, "type ledger.amount does not exist");
		if (typid != amount_type_oid)
			plan_generation++;
		amount_type_oid = typid;
		amount_array_type_oid = get_array_type(typid);
	}
	return amount_type_oid;
}

/* Map one argtypes letter to a type OID. */
static Oid
arg_type_oid(char letter)
{
	switch (letter)
	{
		case 'b':
			return INT8OID;
		case 'B':
			return INT8ARRAYOID;
		case 'i':
			return INT4OID;
		case 't':
			return TEXTOID;
		case 'j':
			return JSONBOID;
		case 'a':
			return LedgerAmountTypeOid();
		case 'A':
			(void) LedgerAmountTypeOid();
			return amount_array_type_oid;
		case 'T':
			return TIMESTAMPTZOID;
		case 'o':
			return BOOLOID;
		case 'h':
			return BYTEAOID;
		case 'Z':
			return TIMESTAMPTZARRAYOID;
		case 'X':
			return TEXTARRAYOID;
		case 'H':
			return BYTEAARRAYOID;
		case 'J':
			return JSONBARRAYOID;
	}
	elog(ERROR, "unknown statement argument type '%c'", letter);
	return InvalidOid;			/* keep compiler quiet */
}

/* Prepare stmt if it has no plan for the current catalog. */
static SPIPlanPtr
statement_plan(LedgerStatement *stmt)
{
	Oid			argtypes[LEDGER_MAX_ARGS];
	int			nargs = strlen(stmt->argtypes);
	SPIPlanPtr	plan;

	(void) LedgerAmountTypeOid();
	if (stmt->plan != NULL && stmt->generation == plan_generation)
		return stmt->plan;

	Assert(nargs <= LEDGER_MAX_ARGS);
	for (int i = 0; i < nargs; i++)
		argtypes[i] = arg_type_oid(stmt->argtypes[i]);

	plan = SPI_prepare(stmt->sql, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 stmt->sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	if (stmt->plan != NULL)
		SPI_freeplan(stmt->plan);
	stmt->plan = plan;
	stmt->generation = plan_generation;
	return plan;
}

/* Execute stmt, reporting failure as an error. */
static int
execute(LedgerStatement *stmt, Datum *values, const char *nulls,
		bool read_only, long count)
{
	int			rc;

	rc = SPI_execute_plan(statement_plan(stmt), values, nulls, read_only, count);
	if (rc < 0)
		elog(ERROR, "could not execute \"%s\": %s",
			 stmt->sql, SPI_result_code_string(rc));
	return rc;
}

/*
 * LedgerExecute - run a statement that does not write the guarded tables.
 *
 * Caller must be connected to SPI.  Returns the SPI result code.
 */
int
LedgerExecute(LedgerStatement *stmt, Datum *values, const char *nulls,
			  long count)
{
	return execute(stmt, values, nulls, false, count);
}

/*
 * LedgerQuery - run a read-only statement on the caller's snapshot, as a
 * STABLE function must.
 */
int
LedgerQuery(LedgerStatement *stmt, Datum *values, const char *nulls,
			long count)
{
	return execute(stmt, values, nulls, true, count);
}

/*
 * LedgerExecuteWrite - run a statement that writes the guarded tables.
 *
 * The guard triggers let a write through only while ledger_write_in_progress
 * is set, and it is set only for the duration of this call, so a direct
 * INSERT or UPDATE by any role never finds it set.
 */
int
LedgerExecuteWrite(LedgerStatement *stmt, Datum *values, const char *nulls,
				   long count)
{
	int			rc;

	PG_TRY();
	{
		ledger_write_in_progress = true;
		rc = execute(stmt, values, nulls, false, count);
	}
	PG_FINALLY();
	{
		ledger_write_in_progress = false;
	}
	PG_END_TRY();
	return rc;
}

/*
 * LedgerGetColumn - a column (1-based) of a row (0-based) of the last result.
 */
Datum
LedgerGetColumn(int row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						 col, isnull);
}
