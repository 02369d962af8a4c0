/*
 * spi.c - the extension's prepared statements.
 *
 * Every query the ledger runs is a LedgerStatement: prepared on first use,
 * kept with SPI_keepplan for the life of the backend, and executed with
 * parameters, never with text spliced into SQL.  Parameter types include
 * ledger.amount, whose OID changes when the extension is dropped and created
 * again in the same session; a syscache callback notices that and the plans
 * are prepared anew.
 *
 * Every statement runs as the extension's owner, which owns the tables,
 * and only the statement: the API functions are SECURITY INVOKER, so that
 * between statements the current user is the role that called them, whose
 * privileges on books authority.c checks (LedgerBecomeOwner).
 *
 * The ids the ledger hands out come from its sequences, and each is unique
 * by an index.  A sequence set back (setval() by a role with
 * pg_write_all_data, a restore of an old dump of it) would hand out ids
 * already taken: the write that hits one fails with LG903, naming the
 * sequence, instead of a bare unique violation, and the backend moves every
 * ledger sequence past its table's highest id before its next write, so the
 * ledger heals instead of failing until the sequence catches up.
 */
#include "ledger.h"

#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "commands/sequence.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

static int	errtableconstraint_name(const ErrorData *edata);

static Oid	ledger_namespace_oid = InvalidOid;
static Oid	ledger_owner_oid = InvalidOid;
static Oid	amount_type_oid = InvalidOid;
static Oid	amount_array_type_oid = InvalidOid;

/*
 * The ids the ledger draws: the table, its unique index on them, and the
 * sequence they come from, with how many ids one value of it gives (an
 * entry's id is EntryIdOf its transfer's).
 */
static const LedgerIdKey id_keys[] = {
	{"accounts", "accounts_pkey", "accounts_id_seq", 1},
	{"transfers", "transfers_pkey", "transfers_id_seq", 1},
	{"entries", "entries_id_key", "transfers_id_seq", 2},	/* EntryIdOf */
	{"hold_records", "hold_records_pkey", "hold_records_id_seq", 1},
	{"hot_entries", "hot_entries_pkey", "hot_entries_id_seq", 1},
	{"books", "books_pkey", "books_id_seq", 1},
	{"monitors", "monitors_pkey", "monitors_id_seq", 1},
	{"velocity_limits", "velocity_limits_pkey", "velocity_limits_id_seq", 1}
};

/*
 * Set while one of the ledger's own writes runs (LedgerExecuteWrite, and
 * table.c around a row guard it calls): the guard triggers let a write
 * through only then.
 */
bool		ledger_write_in_progress = false;

/* The sequences of id_keys, as last looked up in the schema of that OID. */
static Oid	sequence_oids[lengthof(id_keys)];
static Oid	sequence_namespace[lengthof(id_keys)];

/* A write of this backend met an id already taken: repair before the next. */
static bool ids_need_repair = false;

/* Bumped whenever the amount type's OID may have changed. */
static uint32 plan_generation = 1;

/*
 * Any change to pg_type or pg_namespace may be a DROP/CREATE EXTENSION or a
 * renamed schema: look again before the next statement.
 */
static void
catalog_cache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	ledger_namespace_oid = InvalidOid;
	ledger_owner_oid = InvalidOid;
	amount_type_oid = InvalidOid;
	memset(sequence_oids, 0, sizeof(sequence_oids));
}

/*
 * PostgreSQL keeps room for ten relcache callbacks in a backend, for the
 * core and every library together (MAX_RELCACHE_CALLBACKS), and Citus takes
 * several: a ledger registering one per cache made every connection to a
 * server preloading both fail ("out of relcache_callback_list slots").
 * The ledger's caches therefore listen through one callback of its own.
 */
#define MAX_RELCACHE_LISTENERS 16

static RelcacheCallbackFunction relcache_listeners[MAX_RELCACHE_LISTENERS];
static int	relcache_listener_count = 0;

static void
relcache_dispatch(Datum arg, Oid relid)
{
	for (int i = 0; i < relcache_listener_count; i++)
		relcache_listeners[i] (arg, relid);
}

/*
 * LedgerOnRelcacheInvalidation - have func called on every relcache
 * invalidation of this backend, as CacheRegisterRelcacheCallback would.
 */
void
LedgerOnRelcacheInvalidation(RelcacheCallbackFunction func)
{
	if (relcache_listener_count >= MAX_RELCACHE_LISTENERS)
		elog(FATAL, "out of ledger relcache listener slots");
	if (relcache_listener_count == 0)
		CacheRegisterRelcacheCallback(relcache_dispatch, (Datum) 0);
	relcache_listeners[relcache_listener_count++] = func;
}

/*
 * LedgerRegisterCacheCallbacks - called once from _PG_init.
 */
void
LedgerRegisterCacheCallbacks(void)
{
	CacheRegisterSyscacheCallback(TYPEOID, catalog_cache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, catalog_cache_callback, (Datum) 0);
}

/*
 * The schema an extension was created in (PostgreSQL 16 exports its own),
 * and the role that owns the extension.
 */
static Oid
extension_schema(Oid extension, Oid *owner)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			result = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extension));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		result = ((Form_pg_extension) GETSTRUCT(tuple))->extnamespace;
		*owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

/*
 * LedgerNamespaceOid - the OID of the schema "ledger", checked to be the
 * extension's own.
 *
 * Every query names its tables as ledger.<table> and runs with the rights of
 * the extension's owner.  Were the extension's schema renamed and another
 * schema called "ledger" put in its place, those names would reach objects
 * of someone else's choosing; so the schema found by name must be the one
 * the extension was created in.
 */
Oid
LedgerNamespaceOid(void)
{
	if (!OidIsValid(ledger_namespace_oid))
	{
		Oid			extension = get_extension_oid("ledger", true);
		Oid			nsp = get_namespace_oid("ledger", true);
		Oid			owner = InvalidOid;

		if (!OidIsValid(extension))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("extension \"ledger\" is not installed in this database")));
		if (!OidIsValid(nsp) || nsp != extension_schema(extension, &owner))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("schema \"ledger\" is not the schema of extension \"ledger\""),
					 errhint("The extension's schema was renamed or replaced; restore its name.")));
		ledger_namespace_oid = nsp;
		ledger_owner_oid = owner;
	}
	return ledger_namespace_oid;
}

/*
 * LedgerOwnerOid - the role that owns the extension: it owns the tables,
 * and every statement of the ledger runs as it.
 */
Oid
LedgerOwnerOid(void)
{
	(void) LedgerNamespaceOid();
	return ledger_owner_oid;
}

/*
 * LedgerBecomeOwner - run as the ledger's owner until LedgerRestoreUser.
 *
 * The API functions are SECURITY INVOKER, so that the role that called one
 * stays the current user (GetUserId()) and authority.c can tell who asks.
 * Only the ledger's own statements run with the owner's rights: each
 * statement is wrapped in these two calls.  An error needs no restoring:
 * the abort of the (sub)transaction resets the user, as it does after a
 * SECURITY DEFINER function's error.
 */
void
LedgerBecomeOwner(LedgerSavedUser *saved)
{
	Oid			owner = LedgerOwnerOid();

	GetUserIdAndSecContext(&saved->userid, &saved->sec_context);
	if (saved->userid != owner)
		SetUserIdAndSecContext(owner, saved->sec_context | SECURITY_LOCAL_USERID_CHANGE);
}

void
LedgerRestoreUser(const LedgerSavedUser *saved)
{
	SetUserIdAndSecContext(saved->userid, saved->sec_context);
}

/*
 * LedgerAmountTypeOid - the OID of ledger.amount in this database.
 */
Oid
LedgerAmountTypeOid(void)
{
	if (!OidIsValid(amount_type_oid))
	{
		Oid			nsp = LedgerNamespaceOid();
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
		case 'O':
			return BOOLARRAYOID;
		case 'I':
			return INT4ARRAYOID;
		case 'r':
			return REGROLEOID;
		case 'x':
			return XID8OID;
		case 'Y':
			return XID8ARRAYOID;
		case 'v':
			return INTERVALOID;
		case 'V':
			return INTERVALARRAYOID;
	}
	elog(ERROR, "unknown statement argument type '%c'", letter);
	return InvalidOid;			/* keep compiler quiet */
}

/*
 * The cursor options the statements are prepared with: always the generic
 * plan, except beside Citus.  The statements are short and keyed by their
 * parameters, so a custom plan is never better, and the plan cache would
 * otherwise re-plan some of them (an array parameter looks costly in a
 * generic plan) on every call.  Citus plans a statement on a distributed
 * table that it cannot route to one shard by the parameters only once
 * their values are known, and makes such generic plans look costly so
 * that the plan cache plans each execution with its values.
 */
static int
plan_options(void)
{
	if (OidIsValid(get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE)))
		return 0;
	return CURSOR_OPT_GENERIC_PLAN;
}

/* Prepare stmt if it has no plan for the current catalog. */
static SPIPlanPtr
statement_plan(LedgerStatement *stmt)
{
	int			nargs = strlen(stmt->argtypes);
	Oid		   *argtypes;
	SPIPlanPtr	plan;

	(void) LedgerAmountTypeOid();
	if (stmt->plan != NULL && stmt->generation == plan_generation)
		return stmt->plan;

	/* Many, for the rows of an INSERT ... VALUES into a Citus table. */
	argtypes = palloc(sizeof(Oid) * Max(nargs, 1));
	for (int i = 0; i < nargs; i++)
		argtypes[i] = arg_type_oid(stmt->argtypes[i]);

	plan = SPI_prepare_cursor(stmt->sql, nargs, argtypes, plan_options());
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 stmt->sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	if (stmt->plan != NULL)
		SPI_freeplan(stmt->plan);
	stmt->plan = plan;
	stmt->generation = plan_generation;
	pfree(argtypes);
	return plan;
}

/* Execute stmt, reporting failure as an error. */
static int
execute(LedgerStatement *stmt, Datum *values, const char *nulls,
		bool read_only, long count)
{
	int			rc;
	LedgerSavedUser saved;

	LedgerBecomeOwner(&saved);
	rc = SPI_execute_plan(statement_plan(stmt), values, nulls, read_only, count);
	LedgerRestoreUser(&saved);
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
	MemoryContext cxt = CurrentMemoryContext;
	int			rc;

	LedgerRepairIds();
	PG_TRY();
	{
		ledger_write_in_progress = true;
		rc = execute(stmt, values, nulls, false, count);
	}
	PG_CATCH();
	{
		ledger_write_in_progress = false;
		LedgerRethrowIdCollision(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	ledger_write_in_progress = false;
	return rc;
}

/*
 * LedgerIdKeys - the ids the ledger hands out, for verify(); returns how many.
 */
int
LedgerIdKeys(const LedgerIdKey **keys)
{
	*keys = id_keys;
	return lengthof(id_keys);
}

/*
 * Whether this server is a worker of a Citus cluster over which the ledger
 * is distributed: -1 unknown, until a relcache invalidation (Citus
 * invalidates a table's entry when it distributes it) asks again.
 */
static int	citus_worker = -1;

static void
forget_citus_worker(Datum arg, Oid relid)
{
	citus_worker = -1;
}

/*
 * LedgerIsCitusWorker - is this a Citus worker holding shards of the
 * ledger's tables?  There the ledger writes nothing of its own: each node
 * has its own copy of the ledger's sequences, so ids drawn on two nodes
 * would meet, and the calls go through the coordinator.
 */
bool
LedgerIsCitusWorker(void)
{
	static bool listening = false;
	bool		isnull;

	if (citus_worker >= 0)
		return citus_worker == 1;
	if (!listening)
	{
		LedgerOnRelcacheInvalidation(forget_citus_worker);
		listening = true;
	}
	if (!OidIsValid(get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE)) ||
		!OidIsValid(get_relname_relid("pg_dist_local_group", PG_CATALOG_NAMESPACE)))
	{
		citus_worker = 0;
		return false;
	}
	LedgerConnect();
	if (SPI_execute("SELECT (SELECT groupid FROM pg_catalog.pg_dist_local_group)"
					"       OPERATOR(pg_catalog.<>) 0"
					"   AND EXISTS (SELECT FROM pg_catalog.pg_dist_partition"
					"                WHERE logicalrelid OPERATOR(pg_catalog.=)"
					"                      pg_catalog.to_regclass('ledger.accounts'))",
					true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read Citus's catalog");
	citus_worker = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1, &isnull)) &&
		!isnull ? 1 : 0;
	SPI_finish();
	return citus_worker == 1;
}

/*
 * LedgerNextId - the next id of a ledger table's sequence (one of id_keys'),
 * drawn as nextval() draws it.  Refused on a Citus worker: see
 * LedgerIsCitusWorker.
 */
int64
LedgerNextId(const char *sequence)
{
	Oid			ns = LedgerNamespaceOid();
	int			k;

	/* The sequences' OIDs are kept while the schema's is (a batch asks often). */
	for (k = 0; k < (int) lengthof(id_keys); k++)
		if (strcmp(id_keys[k].sequence, sequence) == 0)
			break;
	if (k == lengthof(id_keys))
		elog(ERROR, "sequence ledger.%s gives no ids of the ledger's", sequence);
	if (sequence_namespace[k] != ns || !OidIsValid(sequence_oids[k]))
	{
		sequence_oids[k] = get_relname_relid(sequence, ns);
		sequence_namespace[k] = ns;
		if (!OidIsValid(sequence_oids[k]))
			elog(ERROR, "sequence ledger.%s does not exist", sequence);
	}
	if (LedgerIsCitusWorker())
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_NOT_COORDINATOR),
				 errmsg("the ledger writes through the Citus coordinator, and this node is a worker"),
				 errdetail("The ledger's tables are distributed; each node has its own sequence ledger.%s.",
						   sequence),
				 errhint("Connect to the coordinator.")));
	LedgerRepairIds();
	return nextval_internal(sequence_oids[k], false);
}

/*
 * LedgerRethrowIdCollision - in a PG_CATCH block around a write: if the
 * error is a unique violation of one of the ledger's id keys, replace it by
 * LG903, which names the sequence that handed out a taken id, and repair
 * the sequences before this backend's next write.  Returns, with the error
 * untouched, for any other error; the caller then re-throws it.  cxt is a
 * memory context outside ErrorContext.
 */
void
LedgerRethrowIdCollision(MemoryContext cxt)
{
	ErrorData  *edata;

	if (geterrcode() != ERRCODE_UNIQUE_VIOLATION)
		return;
	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	for (int k = 0; k < (int) lengthof(id_keys); k++)
	{
		if (edata->constraint_name == NULL || edata->table_name == NULL ||
			edata->schema_name == NULL ||
			strcmp(edata->schema_name, "ledger") != 0 ||
			strcmp(edata->table_name, id_keys[k].table) != 0 ||
			strcmp(edata->constraint_name, id_keys[k].constraint) != 0)
			continue;
		FlushErrorState();
		ids_need_repair = true;
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_ID_TAKEN),
				 errmsg("could not use a new id of table \"%s\": it is already taken",
						id_keys[k].table),
				 errdetail("%s Sequence ledger.%s%s is behind the table's highest id: it was set back, by setval() or by restoring an older copy of it. This session moves every ledger sequence past its table's highest id before its next write.",
						   edata->detail ? edata->detail : "", id_keys[k].sequence,
						   id_keys[k].ids_per_value == 1 ? "" :
						   ", from which an entry's id is derived (twice its transfer's id, plus one for the credit),"),
				 errhint("Retry the call."),
				 errtableconstraint_name(edata)));
	}
	FreeErrorData(edata);
}

/* errtableconstraint for an error copied earlier (the relation is gone). */
static int
errtableconstraint_name(const ErrorData *edata)
{
	err_generic_string(PG_DIAG_SCHEMA_NAME, edata->schema_name);
	err_generic_string(PG_DIAG_TABLE_NAME, edata->table_name);
	err_generic_string(PG_DIAG_CONSTRAINT_NAME, edata->constraint_name);
	return 0;
}

/* SPI_connect, for a function that runs statements. */
void
LedgerConnect(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/*
 * LedgerRepairIds - after a write met a taken id: set every ledger sequence
 * that is behind its table's highest id to that id, so the next draws are
 * free.  Costs nothing otherwise.
 */
void
LedgerRepairIds(void)
{
	LedgerSavedUser saved;

	if (!ids_need_repair)
		return;
	LedgerConnect();
	LedgerBecomeOwner(&saved);
	for (int k = 0; k < (int) lengthof(id_keys); k++)
	{
		char	   *sql = psprintf(
								   "SELECT pg_catalog.setval('ledger.%s'::pg_catalog.regclass,"
								   "                         t.m OPERATOR(pg_catalog./) %d)"
								   "  FROM (SELECT pg_catalog.max(id) AS m FROM ledger.%s) AS t,"
								   "       ledger.%s AS s"
								   " WHERE t.m OPERATOR(pg_catalog.>=) (%d OPERATOR(pg_catalog.*) CASE WHEN s.is_called"
								   "       THEN s.last_value OPERATOR(pg_catalog.+) 1 ELSE s.last_value END)",
								   id_keys[k].sequence, id_keys[k].ids_per_value,
								   id_keys[k].table, id_keys[k].sequence,
								   id_keys[k].ids_per_value);

		if (SPI_execute(sql, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not repair sequence ledger.%s", id_keys[k].sequence);
		pfree(sql);
	}
	LedgerRestoreUser(&saved);
	SPI_finish();
	ids_need_repair = false;
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
