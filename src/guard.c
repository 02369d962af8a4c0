/*
 * guard.c - triggers that keep the ledger's tables in the ledger's hands.
 *
 * The tables are readable for reporting but written only by the extension's
 * functions.  Privileges already keep other roles out; these triggers also
 * stop the table owner and superusers working by hand, so that history stays
 * append-only and a balance never changes without its entries.  A superuser
 * can still switch triggers off (session_replication_role = replica, as a
 * restore does); ledger.verify() is the answer to that.
 *
 * On a Citus cluster the triggers fire on the tables' shards, to which
 * every write comes through Citus's connections; so a statement on a
 * distributed ledger table is judged where it is issued, by statement
 * hooks, and a shard trusts what Citus sends it (the end of this file).
 */
#include "ledger.h"

#include "table.h"

#include "access/htup_details.h"
#include "catalog/pg_namespace.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "parser/analyze.h"
#include "parser/parsetree.h"
#include "tcop/utility.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"



/* The trigger's operation, for messages. */
static const char *
trigger_operation(TriggerData *trigdata)
{
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		return "insert into";
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		return "update";
	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		return "delete from";
	return "truncate";
}

/* Reject the statement the trigger fired for. */
static void
reject_direct_write(TriggerData *trigdata, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_LEDGER_PROTECTED_TABLE),
			 errmsg("cannot %s table \"%s\"", trigger_operation(trigdata),
					RelationGetRelationName(trigdata->tg_relation)),
			 errdetail("The ledger's tables are written only by the ledger functions."),
			 errhint("%s", hint)));
}

/*
 * guarded_table - the name of the ledger table rel is, among tables
 * (NULL-terminated), or that it is a Citus shard of (table.c asks Citus's
 * catalog); NULL if none.
 */
static const char *
guarded_table(Relation rel, const char *const *tables)
{
	Oid			shard_of;

	if (RelationGetNamespace(rel) != LedgerNamespaceOid())
		return NULL;
	for (const char *const *t = tables; *t; t++)
		if (strcmp(RelationGetRelationName(rel), *t) == 0)
			return *t;
	shard_of = TableShardOf(RelationGetRelid(rel));
	if (!OidIsValid(shard_of) || get_rel_namespace(shard_of) != LedgerNamespaceOid())
		return NULL;
	for (const char *const *t = tables; *t; t++)
		if (strcmp(get_rel_name(shard_of), *t) == 0)
			return *t;
	return NULL;
}

/*
 * Is the backend one of Citus's own connections?  Citus names them so
 * (application_name), and sends through them every write a node admitted
 * for another: the copies of a reference table, the statements of a
 * distributed one.
 */
static bool
citus_connection(void)
{
	return application_name != NULL &&
		(strncmp(application_name, "citus_internal gpid=", 20) == 0 ||
		 strncmp(application_name, "citus_rebalancer gpid=", 22) == 0);
}

/*
 * Is this write the ledger's?  Inside a ledger function, or, on a shard
 * (a relation whose name is not its table's), a write through Citus's
 * connections: the node that sent it refused every statement on the
 * distributed table that did not come from a ledger function
 * (ledger_guard_post_parse_analyze).  Naming a connection as Citus does
 * takes a role that may write the shards at all, the owner's: the same
 * trust as session_replication_role = replica, which also passes the
 * guards.
 */
static bool
ledger_writing(Relation rel, const char *table)
{
	if (ledger_write_in_progress)
		return true;
	return strcmp(RelationGetRelationName(rel), table) != 0 && citus_connection();
}

/*
 * Reject being called other than as a trigger on one of the tables the
 * guard was written for.  The guards read columns by position, so fired on
 * any other table they would misread it; tables is a NULL-terminated list
 * of names in the extension's schema.  *table is set to the one it fired
 * on (the table a shard is of).
 */
static TriggerData *
check_trigger_call(FunctionCallInfo fcinfo, const char *name,
				   const char *const *tables, const char **table)
{
	TriggerData *trigdata;
	Relation	rel;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by trigger manager", name)));
	trigdata = (TriggerData *) fcinfo->context;
	rel = trigdata->tg_relation;
	if ((*table = guarded_table(rel, tables)) != NULL)
		return trigdata;
	ereport(ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg("function \"%s\" cannot guard table \"%s\"",
					name, RelationGetRelationName(rel)),
			 errdetail("It guards only the ledger's own tables.")));
	return NULL;				/* keep compiler quiet */
}

static const char *const history_tables[] = {"transfers", "entries", "accounts", "hold_records", "hot_entries", "books", "events", "consumers", "monitors", "velocity_limits", NULL};
static const char *const accounts_table[] = {"accounts", NULL};
static const char *const assets_table[] = {"assets", NULL};
static const char *const holds_table[] = {"hold_records", NULL};

/*
 * ledger_guard_history - statement trigger on the append-only tables.
 *
 * INSERT passes only from inside the ledger functions; UPDATE, DELETE and
 * TRUNCATE never pass, except from inside the ledger functions: a DELETE
 * from a hot account's queue (hot.c) or of acknowledged events
 * (consumer.c), an UPDATE of a book's events setting, and any change of a
 * consumer, a monitor or a velocity limit.
 */
PG_FUNCTION_INFO_V1(ledger_guard_history);
Datum
ledger_guard_history(PG_FUNCTION_ARGS)
{
	const char *table;
	TriggerData *trigdata = check_trigger_call(fcinfo, "ledger.guard_history",
											   history_tables, &table);

	bool		writing = ledger_writing(trigdata->tg_relation, table);

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) && writing)
		return PointerGetDatum(NULL);

	if (writing && !TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
	{
		/*
		 * A hot account's queue is emptied as its postings become entries;
		 * events go once every consumer has passed them.
		 */
		if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) &&
			(strcmp(table, "hot_entries") == 0 || strcmp(table, "events") == 0))
			return PointerGetDatum(NULL);
		if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) && strcmp(table, "books") == 0)
			return PointerGetDatum(NULL);
		if (strcmp(table, "consumers") == 0 || strcmp(table, "monitors") == 0 ||
			strcmp(table, "velocity_limits") == 0)
			return PointerGetDatum(NULL);
	}

	if (strcmp(table, "accounts") == 0)
		reject_direct_write(trigdata,
							"Accounts are never deleted; close one with ledger.close_account().");
	if (strcmp(table, "books") == 0)
		reject_direct_write(trigdata,
							"Books are made by ledger.create_book(); only their events setting changes, by ledger.set_book_events().");
	if (strcmp(table, "events") == 0)
		reject_direct_write(trigdata,
							"Events are appended by the ledger functions and removed by ledger.prune_events().");
	if (strcmp(table, "monitors") == 0)
		reject_direct_write(trigdata,
							"Monitors are changed by ledger.create_monitor() and ledger.drop_monitor().");
	if (strcmp(table, "velocity_limits") == 0)
		reject_direct_write(trigdata,
							"Velocity limits are changed by ledger.create_velocity_limit() and ledger.drop_velocity_limit().");
	if (strcmp(table, "consumers") == 0)
		reject_direct_write(trigdata,
							"Consumers are changed by ledger.create_consumer(), ledger.ack_events() and ledger.drop_consumer().");
	reject_direct_write(trigdata,
						"History is append-only: correct a transfer with a reversing transfer.");
	return PointerGetDatum(NULL);	/* keep compiler quiet */
}

/* Is column attnum the same in both tuples? */
static bool
column_unchanged(HeapTuple oldtuple, HeapTuple newtuple, TupleDesc desc, int attnum)
{
	Form_pg_attribute attr = TupleDescAttr(desc, attnum - 1);
	bool		oldnull;
	bool		newnull;
	Datum		oldval = heap_getattr(oldtuple, attnum, desc, &oldnull);
	Datum		newval = heap_getattr(newtuple, attnum, desc, &newnull);

	if (oldnull || newnull)
		return oldnull == newnull;
	return datumIsEqual(oldval, newval, attr->attbyval, attr->attlen);
}

/* Fetch an amount column of an accounts tuple; *isnull says whether NULL. */
static Amount
tuple_amount(HeapTuple tuple, TupleDesc desc, int attnum, bool *isnull)
{
	Datum		d = heap_getattr(tuple, attnum, desc, isnull);

	return *isnull ? 0 : DatumGetAmount(d);
}

/*
 * check_account_row - the invariants of an account row, whoever wrote it.
 *
 * The C code checks the same rules before it writes; this is the backstop
 * that no later code path can bypass.
 */
static void
check_account_row(HeapTuple tuple, TupleDesc desc, const AttrNumber *att)
{
	LedgerAccount account;
	bool		isnull;

	memset(&account, 0, sizeof(account));
	account.id = DatumGetInt64(heap_getattr(tuple, att[ACC_ID], desc, &isnull));
	account.credit_normal =
		strcmp(TextDatumGetCString(heap_getattr(tuple, att[ACC_NORMAL_BALANCE],
												desc, &isnull)), "credit") == 0;
	account.min_balance = tuple_amount(tuple, desc, att[ACC_MIN_BALANCE], &isnull);
	account.has_min = !isnull;
	account.max_balance = tuple_amount(tuple, desc, att[ACC_MAX_BALANCE], &isnull);
	account.has_max = !isnull;
	account.debits_posted = tuple_amount(tuple, desc, att[ACC_DEBITS_POSTED], &isnull);
	account.credits_posted = tuple_amount(tuple, desc, att[ACC_CREDITS_POSTED], &isnull);
	account.debits_pending = tuple_amount(tuple, desc, att[ACC_DEBITS_PENDING], &isnull);
	account.credits_pending = tuple_amount(tuple, desc, att[ACC_CREDITS_PENDING], &isnull);

	CheckAccountRow(&account);
}

/*
 * check_direct_edit - a name or metadata set by hand obeys the rules that
 * ledger.create_account() applies to them.
 */
static void
check_direct_edit(HeapTuple tuple, TupleDesc desc, const AttrNumber *att)
{
	bool		isnull;
	Datum		d;

	d = heap_getattr(tuple, att[ACC_NAME], desc, &isnull);
	if (!isnull)
		CheckName(TextDatumGetCString(d), "account");
	d = heap_getattr(tuple, att[ACC_METADATA], desc, &isnull);
	if (!isnull)
		CheckMetadataDatum(d);
}

/*
 * ledger_guard_accounts - row trigger on ledger.accounts.
 *
 * Outside the ledger functions only name and metadata may change; inside
 * them anything may, as long as the row still obeys its limits.
 */
PG_FUNCTION_INFO_V1(ledger_guard_accounts);
Datum
ledger_guard_accounts(PG_FUNCTION_ARGS)
{
	const char *table;
	TriggerData *trigdata = check_trigger_call(fcinfo, "ledger.guard_accounts",
											   accounts_table, &table);
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	const AttrNumber *att = LedgerTableColumns(trigdata->tg_relation, LEDGER_ACCOUNTS);
	HeapTuple	newtuple;

	bool		writing = ledger_writing(trigdata->tg_relation, table);

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		if (!writing)
			reject_direct_write(trigdata, "Use ledger.create_account().");
		newtuple = trigdata->tg_trigtuple;
	}
	else
	{
		newtuple = trigdata->tg_newtuple;
		if (!writing)
		{
			/* The ledger's columns but name and metadata; not a DBA's own. */
			for (int c = 0; c < ACCOUNTS_NCOLUMNS; c++)
			{
				if (c == ACC_NAME || c == ACC_METADATA)
					continue;
				if (!column_unchanged(trigdata->tg_trigtuple, newtuple, desc, att[c]))
					ereport(ERROR,
							(errcode(ERRCODE_LEDGER_PROTECTED_TABLE),
							 errmsg("cannot change column \"%s\" of table \"accounts\" directly",
									NameStr(TupleDescAttr(desc, att[c] - 1)->attname)),
							 errdetail("Only name, metadata and columns added to the table may be updated directly."),
							 errhint("Balances change through ledger.transfer(); limits through ledger.set_account_limits(); state through ledger.close_account(), ledger.reopen_account() and ledger.set_account_hot().")));
			}
			check_direct_edit(newtuple, desc, att);
			return PointerGetDatum(newtuple);
		}
	}

	check_account_row(newtuple, desc, att);
	return PointerGetDatum(newtuple);
}

/*
 * ledger_guard_assets - row trigger on ledger.assets.
 *
 * Assets are created by ledger.create_asset(); an asset that accounts use
 * can be neither changed nor deleted, since its scale gives their amounts
 * meaning.
 */
PG_FUNCTION_INFO_V1(ledger_guard_assets);
Datum
ledger_guard_assets(PG_FUNCTION_ARGS)
{
	static LedgerStatement asset_in_use = LEDGER_STATEMENT(
		"SELECT 1 FROM ledger.accounts WHERE asset OPERATOR(pg_catalog.=) $1 LIMIT 1", "t");
	const char *table;
	TriggerData *trigdata = check_trigger_call(fcinfo, "ledger.guard_assets",
											   assets_table, &table);
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	const AttrNumber *att = LedgerTableColumns(trigdata->tg_relation, LEDGER_ASSETS);
	HeapTuple	oldtuple = trigdata->tg_trigtuple;
	bool		isnull;
	Datum		code;
	bool		in_use;

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		if (!ledger_writing(trigdata->tg_relation, table))
			reject_direct_write(trigdata, "Use ledger.create_asset().");
		return PointerGetDatum(trigdata->tg_trigtuple);
	}

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		HeapTuple	newtuple = trigdata->tg_newtuple;

		if (column_unchanged(oldtuple, newtuple, desc, att[ASSET_CODE]) &&
			column_unchanged(oldtuple, newtuple, desc, att[ASSET_SCALE]))
			return PointerGetDatum(newtuple);
	}

	code = heap_getattr(oldtuple, att[ASSET_CODE], desc, &isnull);
	LedgerConnect();
	LedgerExecute(&asset_in_use, &code, NULL, 1);
	in_use = SPI_processed > 0;
	SPI_finish();

	if (in_use)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_ASSET_IN_USE),
				 errmsg("asset \"%s\" is in use", TextDatumGetCString(code)),
				 errdetail("Accounts are kept in this asset, so its code and scale cannot change and it cannot be deleted.")));

	return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
						   trigdata->tg_newtuple : oldtuple);
}

/* Report a hold update that breaks the hold's life cycle. */
static void
reject_hold_change(int64 id, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_LEDGER_PROTECTED_TABLE),
			 errmsg("cannot change hold %lld this way", (long long) id),
			 errdetail("%s", detail)));
}

/*
 * ledger_guard_holds - row trigger on ledger.hold_records.
 *
 * Holds are inserted by ledger.hold() only.  An update, by the ledger
 * functions only, may move the status from 'pending' to a final status
 * together with its resolution columns, and may release a side's
 * reservation (true to false, never back).  The facts of a hold, and a
 * resolution once recorded, never change.
 */
PG_FUNCTION_INFO_V1(ledger_guard_holds);
Datum
ledger_guard_holds(PG_FUNCTION_ARGS)
{
	const char *table;
	TriggerData *trigdata = check_trigger_call(fcinfo, "ledger.guard_holds",
											   holds_table, &table);
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	const AttrNumber *att = LedgerTableColumns(trigdata->tg_relation, LEDGER_HOLDS);
	HeapTuple	oldtuple = trigdata->tg_trigtuple;
	HeapTuple	newtuple = trigdata->tg_newtuple;
	bool		isnull;
	int64		id;
	char	   *oldstatus;
	char	   *newstatus;

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		if (!ledger_writing(trigdata->tg_relation, table))
			reject_direct_write(trigdata, "Holds change through ledger.capture(), ledger.release() and ledger.expire_holds().");
		return PointerGetDatum(oldtuple);
	}

	id = DatumGetInt64(heap_getattr(oldtuple, att[HOLD_ID], desc, &isnull));
	if (!ledger_writing(trigdata->tg_relation, table))
	{
		/* Only the columns a DBA added may be updated directly. */
		for (int c = 0; c < HOLDS_NCOLUMNS; c++)
			if (!column_unchanged(oldtuple, newtuple, desc, att[c]))
				reject_direct_write(trigdata, "Holds change through ledger.capture(), ledger.release() and ledger.expire_holds().");
		return PointerGetDatum(newtuple);
	}

	for (int c = HOLD_ID; c < HOLDS_NCOLUMNS; c++)
		if ((c <= HOLD_CREATED_AT || c >= HOLD_BOOK_ID) &&
			!column_unchanged(oldtuple, newtuple, desc, att[c]))
			reject_hold_change(id, "The accounts, amount, expiry, key, description, metadata, creation time, book and velocity limits of a hold never change.");

	oldstatus = TextDatumGetCString(heap_getattr(oldtuple, att[HOLD_STATUS], desc, &isnull));
	newstatus = TextDatumGetCString(heap_getattr(newtuple, att[HOLD_STATUS], desc, &isnull));
	if (strcmp(oldstatus, "pending") != 0)
	{
		for (int c = HOLD_STATUS; c <= HOLD_RESOLVED_AT; c++)
			if (!column_unchanged(oldtuple, newtuple, desc, att[c]))
				reject_hold_change(id, "A hold is resolved once; its resolution never changes.");
	}
	else if (strcmp(newstatus, "pending") == 0)
	{
		for (int c = HOLD_CAPTURED_AMOUNT; c <= HOLD_RESOLVED_AT; c++)
			if (!column_unchanged(oldtuple, newtuple, desc, att[c]))
				reject_hold_change(id, "A pending hold has no resolution.");
	}

	for (int c = HOLD_DEBIT_RESERVED; c <= HOLD_CREDIT_RESERVED; c++)
	{
		bool		was = DatumGetBool(heap_getattr(oldtuple, att[c], desc, &isnull));
		bool		now = DatumGetBool(heap_getattr(newtuple, att[c], desc, &isnull));

		if (now && !was)
			reject_hold_change(id, "A released reservation is never taken again.");
		if (!now && strcmp(newstatus, "pending") == 0)
			reject_hold_change(id, "A pending hold keeps both reservations.");
	}
	return PointerGetDatum(newtuple);
}

/*
 * On a Citus cluster a ledger table is a shell on every node, and Citus
 * carries out a statement on it by sending statements on its shards,
 * whose guards (above) trust Citus's connections.  So a statement on the
 * table itself is refused where it is issued, unless a ledger function
 * issued it: at parse analysis for INSERT, UPDATE, DELETE and MERGE
 * (which for the ledger's own statements happens inside
 * LedgerExecuteWrite, ledger_write_in_progress set, whether preparing
 * them or planning them again), and for TRUNCATE and COPY FROM before
 * Citus's own handling of them.  Without Citus none of this applies (the
 * triggers fire on the tables themselves), at the cost of one catalog
 * cache probe per statement that writes.
 */
static post_parse_analyze_hook_type prev_post_parse_analyze_hook = NULL;
static ProcessUtility_hook_type prev_process_utility_hook = NULL;

/* Refuse a write to relid if it is a distributed table of the ledger's. */
static void
check_distributed_write(Oid relid, const char *operation)
{
	Oid			nsp;
	char	   *nspname;

	if (ledger_write_in_progress || !OidIsValid(relid))
		return;
	if (!OidIsValid(get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE)))
		return;
	nsp = get_rel_namespace(relid);
	nspname = OidIsValid(nsp) ? get_namespace_name(nsp) : NULL;
	if (nspname == NULL || strcmp(nspname, "ledger") != 0 || !TableIsDistributed(relid))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_LEDGER_PROTECTED_TABLE),
			 errmsg("cannot %s table \"%s\"", operation, get_rel_name(relid)),
			 errdetail("The ledger's tables are written only by the ledger functions."),
			 errhint("The table is distributed by Citus; write it through the ledger functions.")));
}

static void
check_query_writes(Query *query)
{
	ListCell   *lc;

	if (query->resultRelation > 0 &&
		(query->commandType == CMD_INSERT || query->commandType == CMD_UPDATE ||
		 query->commandType == CMD_DELETE
#if PG_VERSION_NUM >= 150000
		 || query->commandType == CMD_MERGE
#endif
		 ))
	{
		RangeTblEntry *rte = rt_fetch(query->resultRelation, query->rtable);

		check_distributed_write(rte->relid,
								query->commandType == CMD_INSERT ? "insert into" :
								query->commandType == CMD_UPDATE ? "update" :
								query->commandType == CMD_DELETE ? "delete from" : "merge into");
	}
	foreach(lc, query->cteList)
	{
		CommonTableExpr *cte = lfirst_node(CommonTableExpr, lc);

		if (IsA(cte->ctequery, Query))
			check_query_writes((Query *) cte->ctequery);
	}
}

static void
ledger_guard_post_parse_analyze(ParseState *pstate, Query *query, JumbleState *jstate)
{
	if (prev_post_parse_analyze_hook)
		prev_post_parse_analyze_hook(pstate, query, jstate);
	if (query->commandType != CMD_SELECT || query->hasModifyingCTE)
		check_query_writes(query);
}

/*
 * Refuse DROP EXTENSION ledger on a distributed ledger: Citus would drop
 * the distributed tables' metadata and shell tables on every node but
 * leave their shards, with the ledger's rows, in schema ledger, where a
 * later CREATE EXTENSION ledger fails on them.
 */
static void
check_drop_extension(DropStmt *stmt)
{
	ListCell   *lc;
	Oid			nsp;
	Oid			accounts;

	if (!OidIsValid(get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE)))
		return;
	foreach(lc, stmt->objects)
	{
		if (strcmp(strVal(lfirst(lc)), "ledger") != 0)
			continue;
		nsp = get_namespace_oid("ledger", true);
		accounts = OidIsValid(nsp) ? get_relname_relid("accounts", nsp) : InvalidOid;
		if (OidIsValid(accounts) && TableIsDistributed(accounts))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot drop extension \"ledger\" while the ledger is distributed by Citus"),
					 errdetail("Citus would leave the shards of the ledger's tables, and their rows, on every node."),
					 errhint("To remove a distributed ledger, drop its database on every node.")));
	}
}

static void
ledger_guard_process_utility(PlannedStmt *pstmt, const char *queryString,
							 bool readOnlyTree, ProcessUtilityContext context,
							 ParamListInfo params, QueryEnvironment *queryEnv,
							 DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (IsA(parsetree, TruncateStmt))
	{
		ListCell   *lc;

		foreach(lc, ((TruncateStmt *) parsetree)->relations)
			check_distributed_write(RangeVarGetRelid(lfirst_node(RangeVar, lc), NoLock, true),
									"truncate");
	}
	else if (IsA(parsetree, CopyStmt) && ((CopyStmt *) parsetree)->is_from &&
			 ((CopyStmt *) parsetree)->relation != NULL)
		check_distributed_write(RangeVarGetRelid(((CopyStmt *) parsetree)->relation, NoLock, true),
								"copy into");

	else if (IsA(parsetree, DropStmt) && ((DropStmt *) parsetree)->removeType == OBJECT_EXTENSION)
		check_drop_extension((DropStmt *) parsetree);

	if (prev_process_utility_hook)
		prev_process_utility_hook(pstmt, queryString, readOnlyTree, context, params,
								  queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}

/*
 * GuardRegisterHooks - called once from _PG_init.
 */
void
GuardRegisterHooks(void)
{
	prev_post_parse_analyze_hook = post_parse_analyze_hook;
	post_parse_analyze_hook = ledger_guard_post_parse_analyze;
	prev_process_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = ledger_guard_process_utility;
}
