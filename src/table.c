/*
 * table.c - the one writer of the ledger's tables, and reads by key.
 *
 * Every row the ledger writes goes through TableWriteBegin, TableWriteRow
 * (TableWriteRowUnlessKey, TableWriteUpdate) and TableWriteEnd.  A caller
 * names the table, the command and the columns and hands over rows; this
 * file decides, per table and command, whether they go straight into the
 * table or through an SQL statement, which it makes from the columns and
 * keeps, and runs once for all the rows, each column an array through
 * unnest().  Nothing is written before the decision, so either way is
 * exact.
 *
 * The direct way skips the executor's start-up and per-row cost, most of a
 * single transfer and of a batch's thousands of rows.  It inserts as COPY
 * FROM does: many heap tuples at a time, one WAL record per heap page; each
 * row checked against NOT NULL and CHECK constraints as INSERT checks it;
 * the columns not supplied get their defaults, evaluated per row; unique
 * indexes enforce themselves; btree entries are held back and inserted in
 * each index's order, so that scattered keys (an entry's account) walk the
 * index left to right with its pages still in the CPU's caches, and
 * increasing keys still append to the rightmost page.  A row with an
 * idempotency key goes in alone, as INSERT ... ON CONFLICT DO NOTHING puts
 * it.  It updates as UPDATE does, rows found by a one-column bigint primary
 * key that the caller has locked: the latest version found with the
 * statement's snapshot, passed through the extension's row guard as the
 * trigger manager calls it, checked, and written by heap_update, heap-only
 * when no indexed column changed.  What the statements would read from
 * the catalogs for each call (defaults, CHECK constraints, index
 * predicates, whether a trigger is the extension's own) is kept until the
 * catalogs change.
 *
 * SQL is used instead when the table
 *  - is not a plain heap table, or has rules, row level security or stored
 *    generated columns;
 *  - has a trigger for the command other than the extension's own guards
 *    (ledger.guard_history on INSERT, whose only work there is to let the
 *    ledger's writes through; ledger.guard_accounts, which is called for
 *    each row) and foreign key checks: so a user's audit trigger still
 *    fires.  An insertion keeps a foreign key of one column to another
 *    table itself, not deferrable, as its trigger would (the referenced
 *    row locked FOR KEY SHARE, as that table's owner), once per distinct
 *    value in a row of equal ones (check_referenced); any other foreign
 *    key takes SQL (for UPDATE, see below);
 *  - has an exclusion constraint or a deferrable unique constraint, which
 *    the executor checks apart from the index insertion;
 *  - lacks one of the caller's columns, has it with another type or a type
 *    modifier, or has it as an identity column GENERATED ALWAYS;
 *  - does not grant the statement's privileges to the current user;
 *  - is distributed by Citus, whose shards only its executor finds;
 * and for DELETE.  An update that finds at its end that a foreign key check
 * would fire for one of its rows (RI_FKey_fk_upd_check_required: the row
 * was written earlier in this transaction) runs through SQL with the rows
 * it had made.
 *
 * Reads by key (TableFetchByKey, TableFetchAll) and walks in key order
 * (TableScanAfter) see the rows as a new statement of the transaction
 * would: how a call finds the transfer that already holds its idempotency
 * key, and a consumer its next events.
 */
#include "ledger.h"

#include "table.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/nbtree.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/sysattr.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_index.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/readfuncs.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/sortsupport.h"
#include "utils/syscache.h"

typedef struct TableInsert TableInsert;
typedef struct TableUpdate TableUpdate;

static LedgerStatement *generated_statement(const char *sql, const char *argtypes);
static char type_letter(Oid type, bool array);
static HeapTuple invoke_guard(FmgrInfo *flinfo, TriggerData *trigdata);

/* Rows formed before they go to the heap together. */
#define TABLE_INSERT_CHUNK		1000

/*
 * Btree entries held back per index before they are sorted and inserted:
 * enough for the entries of a batch of 10,000 transfers in one sorted pass,
 * few enough to keep memory bounded (some 40 bytes an entry) for any batch.
 */
#define TABLE_INSERT_SORT_MAX	32768

/* The entries of one btree index that wait to be inserted in index order. */
typedef struct PendingIndex
{
	int			index;			/* position among the result relation's
								 * indexes */
	int			natts;			/* columns of an index tuple */
	int			nkeys;			/* key columns: the ones to sort on */
	bool		byref;			/* some column is passed by reference */
	SortSupport ssup;			/* nkeys sort keys, in index order */
	int			n;				/* entries held */
	int			capacity;		/* entries there is room for */
	Datum	   *values;			/* capacity * natts */
	bool	   *isnull;			/* capacity * natts */
	ItemPointerData *tids;		/* capacity */
	int		   *order;			/* capacity */
	MemoryContext cxt;			/* copies of by-reference key values */
} PendingIndex;

struct TableInsert
{
	MemoryContext cxt;			/* everything below lives here */
	MemoryContext chunk_cxt;	/* the tuples of the current chunk */
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	CommandId	cid;
	int			natts;
	int			ncolumns;
	AttrNumber *attnums;		/* caller's column i is attribute attnums[i] */
	ExprState **defaults;		/* by attribute index: default of a column the
								 * caller does not supply, or NULL */
	Datum	   *values;			/* natts: the row being formed */
	bool	   *nulls;
	TupleTableSlot **slots;		/* TABLE_INSERT_CHUNK, made when first used */
	int			nslots;			/* slots holding rows */
	PendingIndex *pending;		/* one per btree index */
	int			npending;
	int64		inserted;
	Trigger    *guard;			/* the extension's row guard, if it fires */
	FmgrInfo	guard_flinfo;
	struct InsertCheck *checks; /* foreign keys the rows must find */
	int			nchecks;
};

/*
 * A foreign key of one column to another table, checked as its trigger
 * would check it (the referenced row locked FOR KEY SHARE), but once per
 * distinct value in a row: accounts made together share their asset.
 */
typedef struct InsertCheck
{
	AttrNumber	attnum;			/* the referencing column */
	char	   *sql;			/* SELECT 1 ... FOR KEY SHARE, of $1 */
	char		argtype[2];
	char	   *constraint;
	char	   *column;
	char	   *referenced;		/* the referenced table, for messages */
	Oid			type;
	Oid			output;			/* its output function */
	Oid			owner;			/* of the referenced table: who checks */
	bool		have_last;		/* last holds the value checked last */
	Datum		last;
} InsertCheck;

/*
 * The answers of is_ledger_function, kept because finding a function's
 * extension scans pg_depend, and single transfers ask on every call.  Any
 * change to pg_proc (a function replaced, renamed or dropped) forgets them.
 */
typedef struct KnownFunction
{
	Oid			foid;
	const char *name;
	bool		ours;
} KnownFunction;

#define KNOWN_FUNCTIONS_MAX	8

static KnownFunction known_functions[KNOWN_FUNCTIONS_MAX];
static int	nknown_functions = 0;
static bool known_functions_callback = false;

static void
forget_known_functions(Datum arg, int cacheid, uint32 hashvalue)
{
	nknown_functions = 0;
}

/*
 * Is foid the function ledger.<name> of the extension itself (one of its
 * guard trigger functions)?
 */
static bool
is_ledger_function(Oid foid, const char *name)
{
	char	   *found;
	Oid			extension;
	bool		ours;

	for (int i = 0; i < nknown_functions; i++)
		if (known_functions[i].foid == foid && strcmp(known_functions[i].name, name) == 0)
			return known_functions[i].ours;

	found = get_func_name(foid);
	extension = get_extension_oid("ledger", true);
	ours = found != NULL && strcmp(found, name) == 0 &&
		get_func_namespace(foid) == LedgerNamespaceOid() &&
		OidIsValid(extension) &&
		getExtensionOfObject(ProcedureRelationId, foid) == extension;

	if (!known_functions_callback)
	{
		CacheRegisterSyscacheCallback(PROCOID, forget_known_functions, (Datum) 0);
		known_functions_callback = true;
	}
	if (nknown_functions == KNOWN_FUNCTIONS_MAX)
		nknown_functions = 0;
	known_functions[nknown_functions].foid = foid;
	known_functions[nknown_functions].name = name;
	known_functions[nknown_functions].ours = ours;
	nknown_functions++;
	return ours;
}

/*
 * A table's expressions, parsed and planned once: column defaults, CHECK
 * constraints and the predicates of partial indexes.  INSERT and UPDATE read
 * them from the catalogs' text for every statement; a single transfer opens
 * three tables, and doing the same each time cost more than its writes.
 * Kept until the relation cache says the table or one of its indexes
 * changed.  Each call initialises its own copies, so a change that arrives
 * meanwhile never pulls a tree from under a running call.
 */
typedef struct PlannedTable
{
	Oid			relid;			/* InvalidOid: slot free */
	MemoryContext cxt;			/* everything below */
	int			natts;
	Expr	  **defaults;		/* by attribute index; NULL: none */
	int			ncheck;
	Expr	  **checks;			/* as the table's constr->check[] */
	int			nindexes;
	Oid		   *index_oids;
	List	  **predicates;		/* planned, implicitly ANDed; NIL: none */
} PlannedTable;

#define PLANNED_TABLES_MAX	4

static PlannedTable planned_tables[PLANNED_TABLES_MAX];
static int	planned_tables_next = 0;
static bool planned_tables_callback = false;

static void
forget_planned_table(PlannedTable *pt)
{
	if (pt->relid == InvalidOid)
		return;
	MemoryContextDelete(pt->cxt);
	memset(pt, 0, sizeof(PlannedTable));
}

/* Relation cache callback: relid (or every relation) may have changed. */
static void
forget_planned_tables(Datum arg, Oid relid)
{
	for (int t = 0; t < PLANNED_TABLES_MAX; t++)
	{
		PlannedTable *pt = &planned_tables[t];
		bool		match = !OidIsValid(relid) || pt->relid == relid;

		for (int i = 0; i < pt->nindexes && !match; i++)
			match = pt->index_oids[i] == relid;
		if (match)
			forget_planned_table(pt);
	}
}

/* Plan rel's expressions, with the indexes rri has open, into a new entry. */
static PlannedTable *
plan_table(Relation rel, ResultRelInfo *rri)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			ncheck = desc->constr != NULL ? desc->constr->num_check : 0;
	MemoryContext cxt;
	MemoryContext oldcxt;
	PlannedTable built;
	PlannedTable *pt;

	/*
	 * Built aside and installed last: planning reads the catalogs, which may
	 * deliver invalidations that free cache entries.
	 */
	cxt = AllocSetContextCreate(CacheMemoryContext, "ledger planned table",
								ALLOCSET_SMALL_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);
	memset(&built, 0, sizeof(built));
	built.cxt = cxt;
	built.natts = desc->natts;
	built.defaults = palloc0(sizeof(Expr *) * Max(desc->natts, 1));
	for (int a = 0; a < desc->natts; a++)
	{
		Node	   *def;

		if (TupleDescAttr(desc, a)->attisdropped)
			continue;
		def = build_column_default(rel, a + 1);
		if (def != NULL)
			built.defaults[a] = expression_planner((Expr *) def);
	}
	built.ncheck = ncheck;
	built.checks = palloc0(sizeof(Expr *) * Max(ncheck, 1));
	for (int c = 0; c < ncheck; c++)
		built.checks[c] = expression_planner(stringToNode(desc->constr->check[c].ccbin));
	built.nindexes = rri->ri_NumIndices;
	built.index_oids = palloc0(sizeof(Oid) * Max(rri->ri_NumIndices, 1));
	built.predicates = palloc0(sizeof(List *) * Max(rri->ri_NumIndices, 1));
	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		IndexInfo  *info = rri->ri_IndexRelationInfo[i];

		if (rri->ri_IndexRelationDescs[i] == NULL)
			continue;
		built.index_oids[i] = RelationGetRelid(rri->ri_IndexRelationDescs[i]);
		if (info->ii_Predicate != NIL)
			built.predicates[i] = (List *) expression_planner((Expr *) copyObject(info->ii_Predicate));
	}
	MemoryContextSwitchTo(oldcxt);

	if (!planned_tables_callback)
	{
		LedgerOnRelcacheInvalidation(forget_planned_tables);
		planned_tables_callback = true;
	}
	pt = &planned_tables[planned_tables_next];
	planned_tables_next = (planned_tables_next + 1) % PLANNED_TABLES_MAX;
	forget_planned_table(pt);
	*pt = built;
	pt->relid = RelationGetRelid(rel);
	return pt;
}

/*
 * prepare_expressions - ready rri's CHECK constraints and partial index
 * predicates for this call, and the defaults of the columns the caller does
 * not supply (when defaults is not NULL: by attribute index, supplied[]
 * telling which to leave out), from the planned copies.  Everything lands in
 * the executor state's memory, as ExecConstraints and ExecPrepareQual would
 * put it.
 */
static void
prepare_expressions(Relation rel, ResultRelInfo *rri, EState *estate,
					const bool *supplied, ExprState **defaults)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			ncheck = desc->constr != NULL ? desc->constr->num_check : 0;
	PlannedTable *pt = NULL;
	Expr	  **checks;
	Expr	  **defs;
	List	  **predicates;
	MemoryContext oldcxt;

	for (int t = 0; t < PLANNED_TABLES_MAX && pt == NULL; t++)
		if (planned_tables[t].relid == RelationGetRelid(rel))
			pt = &planned_tables[t];
	if (pt != NULL && (pt->natts != desc->natts || pt->ncheck != ncheck))
	{
		forget_planned_table(pt);
		pt = NULL;
	}
	if (pt == NULL)
		pt = plan_table(rel, rri);

	/* Copy first: initialising may read the catalogs (see plan_table). */
	oldcxt = MemoryContextSwitchTo(estate->es_query_cxt);
	checks = palloc0(sizeof(Expr *) * Max(ncheck, 1));
	for (int c = 0; c < ncheck; c++)
		checks[c] = copyObject(pt->checks[c]);
	defs = palloc0(sizeof(Expr *) * Max(desc->natts, 1));
	for (int a = 0; defaults != NULL && a < desc->natts; a++)
		if (!supplied[a] && pt->defaults[a] != NULL)
			defs[a] = copyObject(pt->defaults[a]);
	predicates = palloc0(sizeof(List *) * Max(rri->ri_NumIndices, 1));
	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		Relation	index = rri->ri_IndexRelationDescs[i];

		if (index == NULL || rri->ri_IndexRelationInfo[i]->ii_Predicate == NIL)
			continue;
		for (int j = 0; j < pt->nindexes; j++)
			if (pt->index_oids[j] == RelationGetRelid(index))
				predicates[i] = copyObject(pt->predicates[j]);
	}

	if (ncheck > 0)
	{
		rri->ri_ConstraintExprs = palloc(sizeof(ExprState *) * ncheck);
		for (int c = 0; c < ncheck; c++)
			rri->ri_ConstraintExprs[c] = ExecInitExpr(checks[c], NULL);
	}
	for (int i = 0; i < rri->ri_NumIndices; i++)
		if (predicates[i] != NIL)
			rri->ri_IndexRelationInfo[i]->ii_PredicateState =
				ExecInitQual(predicates[i], NULL);
	MemoryContextSwitchTo(oldcxt);
	for (int a = 0; defaults != NULL && a < desc->natts; a++)
		if (defs[a] != NULL)
			defaults[a] = ExecInitExpr(defs[a], NULL);
}

/* Would a trigger fire, as the trigger manager decides (TriggerEnabled)? */
static bool
trigger_fires(const Trigger *trigger)
{
	if (SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA)
		return trigger->tgenabled == TRIGGER_FIRES_ON_REPLICA ||
			trigger->tgenabled == TRIGGER_FIRES_ALWAYS;
	return trigger->tgenabled != TRIGGER_FIRES_ON_REPLICA &&
		trigger->tgenabled != TRIGGER_DISABLED;
}

/*
 * What Citus's catalog says of a relation: whether Citus distributes (or
 * replicates) it, and whether it is a shard, and of which table.  On every
 * node a distributed table is a shell: its rows are in its shards, which
 * only Citus's executor finds, so it is never read or written directly; a
 * shard is a table of the same schema named <table>_<shard id>, with its
 * table's triggers.  Asked once per relation and kept until a relcache
 * invalidation (Citus invalidates a table's entry when it distributes it);
 * without Citus, one catalog cache probe.
 */
#define CITUS_RELATIONS_KEPT 64

typedef struct CitusRelation
{
	Oid			relid;
	bool		distributed;
	Oid			shard_of;		/* InvalidOid: not a shard */
} CitusRelation;

static CitusRelation citus_relations[CITUS_RELATIONS_KEPT];
static int	citus_relations_count = 0;
static bool citus_relations_listening = false;

static void
forget_citus_relations(Datum arg, Oid relid)
{
	citus_relations_count = 0;
}

/* The shard id a relation's name ends with ("_<digits>"), or -1. */
static int64
shard_id_of_name(const char *name)
{
	const char *underscore = strrchr(name, '_');
	const char *digits = underscore ? underscore + 1 : NULL;

	if (digits == NULL || *digits == '\0' || strlen(digits) > 18 ||
		strspn(digits, "0123456789") != strlen(digits))
		return -1;
	return strtoll(digits, NULL, 10);
}

static const CitusRelation *
citus_relation(Oid relid)
{
	static const CitusRelation none = {InvalidOid, false, InvalidOid};
	Oid			argtypes[2] = {OIDOID, INT8OID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	char	   *name;
	int64		shardid;
	CitusRelation found = {relid, false, InvalidOid};
	bool		isnull;

	if (!OidIsValid(get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE)))
		return &none;
	for (int i = 0; i < citus_relations_count; i++)
		if (citus_relations[i].relid == relid)
			return &citus_relations[i];

	name = get_rel_name(relid);
	shardid = name ? shard_id_of_name(name) : -1;
	values[0] = ObjectIdGetDatum(relid);
	values[1] = Int64GetDatum(shardid);
	nulls[1] = shardid < 0 ? 'n' : ' ';
	LedgerConnect();
	if (SPI_execute_with_args("SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition"
							  "               WHERE logicalrelid OPERATOR(pg_catalog.=) $1),"
							  "       (SELECT logicalrelid FROM pg_catalog.pg_dist_shard"
							  "         WHERE shardid OPERATOR(pg_catalog.=) $2)",
							  2, argtypes, values, nulls, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read Citus's catalog");
	found.distributed = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 1, &isnull));
	found.shard_of = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, 2, &isnull));
	if (isnull)
		found.shard_of = InvalidOid;
	SPI_finish();

	if (!citus_relations_listening)
	{
		LedgerOnRelcacheInvalidation(forget_citus_relations);
		citus_relations_listening = true;
	}
	if (citus_relations_count == CITUS_RELATIONS_KEPT)
		citus_relations_count = 0;
	citus_relations[citus_relations_count] = found;
	return &citus_relations[citus_relations_count++];
}

/* TableIsDistributed - does Citus distribute (or replicate) relid? */
bool
TableIsDistributed(Oid relid)
{
	return citus_relation(relid)->distributed;
}

/* TableShardOf - the table relid is a Citus shard of, or InvalidOid. */
Oid
TableShardOf(Oid relid)
{
	return citus_relation(relid)->shard_of;
}

/*
 * Does rel have what only the executor honours, whatever the command: a
 * kind or access method other than a plain heap table, rules, row level
 * security, stored generated columns, or no grant of the privileges the
 * SQL statement would need; or is it a shell of Citus's?  The statement
 * would run as the ledger's owner (spi.c), not as the caller, so those are
 * the owner's privileges.
 */
static bool
relation_allows_direct(Relation rel, AclMode privileges)
{
	TupleDesc	desc = RelationGetDescr(rel);

	return rel->rd_rel->relkind == RELKIND_RELATION &&
		rel->rd_rel->relam == HEAP_TABLE_AM_OID &&
		rel->rd_rules == NULL &&
		!rel->rd_rel->relrowsecurity &&
		!(desc->constr != NULL && desc->constr->has_generated_stored) &&
		pg_class_aclcheck(RelationGetRelid(rel), LedgerOwnerOid(), privileges) == ACLCHECK_OK &&
		!TableIsDistributed(RelationGetRelid(rel));
}

/*
 * Find the caller's columns in rel: each must exist with the caller's type
 * and no type modifier (which the SQL statement would apply), and not be an
 * identity column GENERATED ALWAYS (which it would refuse).  Fills attnums[].
 */
static bool
find_columns(Relation rel, const TableColumn *columns, int ncolumns,
			 AttrNumber *attnums)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int c = 0; c < ncolumns; c++)
	{
		attnums[c] = InvalidAttrNumber;
		for (int a = 0; a < desc->natts; a++)
		{
			Form_pg_attribute attr = TupleDescAttr(desc, a);

			if (!attr->attisdropped &&
				strcmp(NameStr(attr->attname), columns[c].name) == 0)
			{
				if (attr->atttypid != columns[c].type || attr->atttypmod != -1 ||
					attr->attidentity == ATTRIBUTE_IDENTITY_ALWAYS)
					return false;
				attnums[c] = attr->attnum;
				break;
			}
		}
		if (attnums[c] == InvalidAttrNumber)
			return false;
	}
	return true;
}

/* The owner of a relation. */
static Oid
rel_owner(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * insert_check - how a direct insertion keeps the foreign key of trigger:
 * one column, not deferrable, to another table, of a type the statements
 * take as a parameter, compared deterministically; false if it cannot.
 */
static bool
insert_check(TableInsert *ins, const Trigger *trigger, InsertCheck *check)
{
	HeapTuple	tuple = SearchSysCache1(CONSTROID, ObjectIdGetDatum(trigger->tgconstraint));
	Form_pg_constraint con;
	AttrNumber	attnum = InvalidAttrNumber;
	AttrNumber	refattnum = InvalidAttrNumber;
	Oid			collation;
	bool		varlena;
	bool		ok;

	if (!HeapTupleIsValid(tuple))
		return false;
	con = (Form_pg_constraint) GETSTRUCT(tuple);
	ok = con->contype == CONSTRAINT_FOREIGN && !con->condeferrable &&
		con->confrelid != RelationGetRelid(ins->rel);
	for (int k = 0; k < 2 && ok; k++)
	{
		bool		isnull;
		Datum		d = SysCacheGetAttr(CONSTROID, tuple,
										k == 0 ? Anum_pg_constraint_conkey : Anum_pg_constraint_confkey,
										&isnull);
		Datum	   *elems;
		int			n = 0;

		if (!isnull)
			deconstruct_array(DatumGetArrayTypeP(d), INT2OID, sizeof(int16), true,
							  TYPALIGN_SHORT, &elems, NULL, &n);
		ok = n == 1;
		if (ok && k == 0)
			attnum = DatumGetInt16(elems[0]);
		else if (ok)
			refattnum = DatumGetInt16(elems[0]);
	}
	if (ok)
	{
		check->type = TupleDescAttr(RelationGetDescr(ins->rel), attnum - 1)->atttypid;
		collation = TupleDescAttr(RelationGetDescr(ins->rel), attnum - 1)->attcollation;
		ok = (check->type == TEXTOID || check->type == INT8OID) &&
			get_atttype(con->confrelid, refattnum) == check->type &&
			(!OidIsValid(collation) || get_collation_isdeterministic(collation));
	}
	if (ok)
	{
		check->attnum = attnum;
		check->constraint = pstrdup(NameStr(con->conname));
		check->column = get_attname(RelationGetRelid(ins->rel), attnum, false);
		check->referenced = get_rel_name(con->confrelid);
		check->sql = psprintf("SELECT 1 FROM ONLY %s AS x WHERE x.%s OPERATOR(pg_catalog.=) $1"
							  " FOR KEY SHARE OF x",
							  quote_qualified_identifier(get_namespace_name(get_rel_namespace(con->confrelid)),
														 check->referenced),
							  quote_identifier(get_attname(con->confrelid, refattnum, false)));
		getTypeOutputInfo(check->type, &check->output, &varlena);
		check->owner = rel_owner(con->confrelid);
		check->argtype[0] = type_letter(check->type, false);
		check->argtype[1] = '\0';
		check->have_last = false;
	}
	ReleaseSysCache(tuple);
	return ok;
}

/*
 * Can rel be written directly, as INSERT would write it?  Fills
 * ins->attnums with the attribute number of each caller's column, and the
 * row guard and foreign keys the insertion must honour.
 *
 * The INSERT triggers allowed are the extension's own guards
 * (guard_history, whose only work on INSERT is to let the ledger's writes
 * through; guard_accounts, which is called for each row as the trigger
 * manager calls it) and the checks of foreign keys insert_check can keep.
 */
static bool
direct_insert_allowed(TableInsert *ins, const TableColumn *columns, int ncolumns)
{
	/* Pointed to until the end: the result relation's copy (see updates). */
	TriggerDesc *trigdesc = ins->rri->ri_TrigDesc;

	if (!relation_allows_direct(ins->rel, ACL_INSERT))
		return false;

	if (trigdesc != NULL)
	{
		ins->checks = palloc0(sizeof(InsertCheck) * Max(trigdesc->numtriggers, 1));
		for (int i = 0; i < trigdesc->numtriggers; i++)
		{
			Trigger    *trigger = &trigdesc->triggers[i];

			if (!TRIGGER_FOR_INSERT(trigger->tgtype) ||
				is_ledger_function(trigger->tgfoid, "guard_history"))
				continue;
			if (trigger->tgqual != NULL || trigger->tgnattr > 0)
				return false;
			if (TRIGGER_FOR_ROW(trigger->tgtype) && TRIGGER_FOR_BEFORE(trigger->tgtype) &&
				ins->guard == NULL && is_ledger_function(trigger->tgfoid, "guard_accounts"))
			{
				if (trigger_fires(trigger))
				{
					ins->guard = trigger;
					fmgr_info_cxt(trigger->tgfoid, &ins->guard_flinfo, ins->cxt);
				}
			}
			else if (TRIGGER_FOR_ROW(trigger->tgtype) && TRIGGER_FOR_AFTER(trigger->tgtype) &&
					 RI_FKey_trigger_type(trigger->tgfoid) == RI_TRIGGER_FK)
			{
				if (trigger_fires(trigger) &&
					!insert_check(ins, trigger, &ins->checks[ins->nchecks++]))
					return false;
			}
			else
				return false;
		}
	}
	return find_columns(ins->rel, columns, ncolumns, ins->attnums);
}

/* Do the result relation's indexes allow their entries to be inserted alone? */
static bool
indexes_allowed(ResultRelInfo *rri)
{
	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		Relation	index = rri->ri_IndexRelationDescs[i];

		if (index == NULL)
			continue;
		if (rri->ri_IndexRelationInfo[i]->ii_ExclusionOps != NULL ||
			(index->rd_index->indisunique && !index->rd_index->indimmediate))
			return false;
	}
	return true;
}

/* Set up the held-back entries of each btree index. */
static void
init_pending(TableInsert *ins)
{
	ResultRelInfo *rri = ins->rri;

	ins->pending = palloc0(sizeof(PendingIndex) * Max(rri->ri_NumIndices, 1));
	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		Relation	index = rri->ri_IndexRelationDescs[i];
		TupleDesc	idesc;
		PendingIndex *p;

		if (index == NULL || index->rd_rel->relam != BTREE_AM_OID)
			continue;
		idesc = RelationGetDescr(index);
		p = &ins->pending[ins->npending++];
		p->index = i;
		p->natts = IndexRelationGetNumberOfAttributes(index);
		p->nkeys = IndexRelationGetNumberOfKeyAttributes(index);
		for (int a = 0; a < p->natts; a++)
			if (!TupleDescAttr(idesc, a)->attbyval)
				p->byref = true;
		p->ssup = palloc0(sizeof(SortSupportData) * p->nkeys);
		for (int k = 0; k < p->nkeys; k++)
		{
			SortSupport ssup = &p->ssup[k];
			int16		option = index->rd_indoption[k];

			ssup->ssup_cxt = ins->cxt;
			ssup->ssup_collation = index->rd_indcollation[k];
			ssup->ssup_nulls_first = (option & INDOPTION_NULLS_FIRST) != 0;
			ssup->ssup_attno = k + 1;
			ssup->abbreviate = false;
			PrepareSortSupportFromIndexRel(index,
										   (option & INDOPTION_DESC) != 0 ?
										   BTGreaterStrategyNumber : BTLessStrategyNumber,
										   ssup);
		}
		if (p->byref)
			p->cxt = AllocSetContextCreate(ins->cxt, "ledger index keys",
										   ALLOCSET_DEFAULT_SIZES);
	}
}

/*
 * TableInsertBegin - open the ledger's table for direct insertion of rows
 * made of the given columns.
 *
 * Returns NULL, having written nothing, when the table must be written
 * through SQL instead (see the file comment).  The table stays locked in
 * RowExclusiveLock mode to the end of the transaction either way, as an
 * INSERT would leave it.
 */
static TableInsert *
TableInsertBegin(const char *table, const TableColumn *columns, int ncolumns)
{
	Oid			relid = get_relname_relid(table, LedgerNamespaceOid());
	MemoryContext cxt;
	MemoryContext oldcxt;
	TableInsert *ins;
	Relation	rel;
	TupleDesc	desc;
	bool	   *supplied;

	if (!OidIsValid(relid))
		return NULL;
	LedgerRepairIds();

	cxt = AllocSetContextCreate(CurrentMemoryContext, "ledger table insert",
								ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);
	ins = palloc0(sizeof(TableInsert));
	ins->cxt = cxt;
	ins->ncolumns = ncolumns;
	ins->attnums = palloc(sizeof(AttrNumber) * Max(ncolumns, 1));

	rel = table_open(relid, RowExclusiveLock);
	ins->rel = rel;
	desc = RelationGetDescr(rel);
	ins->estate = CreateExecutorState();
	ins->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(ins->rri, rel, 0, NULL, 0);
	ExecOpenIndices(ins->rri, false);
	if (!direct_insert_allowed(ins, columns, ncolumns) ||
		!indexes_allowed(ins->rri))
	{
		ExecCloseIndices(ins->rri);
		FreeExecutorState(ins->estate);
		table_close(rel, NoLock);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextDelete(cxt);
		return NULL;
	}

	ins->natts = desc->natts;
	ins->values = palloc0(sizeof(Datum) * ins->natts);
	ins->nulls = palloc0(sizeof(bool) * ins->natts);
	ins->defaults = palloc0(sizeof(ExprState *) * ins->natts);
	supplied = palloc0(sizeof(bool) * Max(ins->natts, 1));
	for (int c = 0; c < ncolumns; c++)
		supplied[ins->attnums[c] - 1] = true;
	prepare_expressions(rel, ins->rri, ins->estate, supplied, ins->defaults);

	ins->slots = palloc0(sizeof(TupleTableSlot *) * TABLE_INSERT_CHUNK);
	init_pending(ins);
	ins->chunk_cxt = AllocSetContextCreate(cxt, "ledger table insert chunk",
										   ALLOCSET_DEFAULT_SIZES);
	ins->cid = GetCurrentCommandId(true);
	MemoryContextSwitchTo(oldcxt);
	return ins;
}

static void form_row(TableInsert *ins, const Datum *values, const bool *nulls);

/* qsort_arg comparator: held-back entries of an index in the index's order. */
static int
compare_pending(const void *a, const void *b, void *arg)
{
	PendingIndex *p = (PendingIndex *) arg;
	int			x = *(const int *) a;
	int			y = *(const int *) b;

	for (int k = 0; k < p->nkeys; k++)
	{
		int			cmp = ApplySortComparator(p->values[x * p->natts + k],
											  p->isnull[x * p->natts + k],
											  p->values[y * p->natts + k],
											  p->isnull[y * p->natts + k],
											  &p->ssup[k]);

		if (cmp != 0)
			return cmp;
	}
	/* Equal keys sit in heap order in a btree. */
	return ItemPointerCompare(&p->tids[x], &p->tids[y]);
}

/* Make room for more held-back entries of an index. */
static void
grow_pending(TableInsert *ins, PendingIndex *p)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(ins->cxt);

	if (p->capacity == 0)
	{
		p->capacity = 1024;
		p->values = palloc(sizeof(Datum) * p->capacity * p->natts);
		p->isnull = palloc(sizeof(bool) * p->capacity * p->natts);
		p->tids = palloc(sizeof(ItemPointerData) * p->capacity);
		p->order = palloc(sizeof(int) * p->capacity);
	}
	else
	{
		p->capacity = Min(p->capacity * 2, TABLE_INSERT_SORT_MAX);
		p->values = repalloc(p->values, sizeof(Datum) * p->capacity * p->natts);
		p->isnull = repalloc(p->isnull, sizeof(bool) * p->capacity * p->natts);
		p->tids = repalloc(p->tids, sizeof(ItemPointerData) * p->capacity);
		p->order = repalloc(p->order, sizeof(int) * p->capacity);
	}
	MemoryContextSwitchTo(oldcxt);
}

/* The uniqueness check INSERT asks of an index. */
static IndexUniqueCheck
unique_check(Relation index)
{
	return index->rd_index->indisunique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO;
}

/* Insert the held-back entries of one btree index, in index order. */
static void
flush_pending(TableInsert *ins, PendingIndex *p)
{
	Relation	index = ins->rri->ri_IndexRelationDescs[p->index];
	IndexInfo  *info = ins->rri->ri_IndexRelationInfo[p->index];
	IndexUniqueCheck check = unique_check(index);

	if (p->n == 0)
		return;
	for (int i = 0; i < p->n; i++)
		p->order[i] = i;
	qsort_arg(p->order, p->n, sizeof(int), compare_pending, p);
	for (int i = 0; i < p->n; i++)
	{
		int			e = p->order[i];

		CHECK_FOR_INTERRUPTS();
		index_insert(index, &p->values[e * p->natts], &p->isnull[e * p->natts],
					 &p->tids[e], ins->rel, check, false, info);
	}
	p->n = 0;
	if (p->cxt != NULL)
		MemoryContextReset(p->cxt);
}

/*
 * Write the formed rows to the heap, and their index entries: btree entries
 * are held back for a sorted insertion, others inserted at once.
 */
static void
flush_chunk(TableInsert *ins)
{
	ResultRelInfo *rri = ins->rri;
	EState	   *estate = ins->estate;
	ExprContext *econtext = GetPerTupleExprContext(estate);
	MemoryContext oldcxt;

	if (ins->nslots == 0)
		return;

	oldcxt = MemoryContextSwitchTo(ins->chunk_cxt);
	table_multi_insert(ins->rel, ins->slots, ins->nslots, ins->cid, 0, NULL);

	for (int s = 0; s < ins->nslots; s++)
	{
		TupleTableSlot *slot = ins->slots[s];
		int			p = 0;

		CHECK_FOR_INTERRUPTS();
		econtext->ecxt_scantuple = slot;
		for (int i = 0; i < rri->ri_NumIndices; i++)
		{
			Relation	index = rri->ri_IndexRelationDescs[i];
			IndexInfo  *info = rri->ri_IndexRelationInfo[i];
			PendingIndex *pending = NULL;
			Datum		values[INDEX_MAX_KEYS];
			bool		isnull[INDEX_MAX_KEYS];

			if (index == NULL)
				continue;
			if (p < ins->npending && ins->pending[p].index == i)
				pending = &ins->pending[p++];
			if (!info->ii_ReadyForInserts)
				continue;
			if (info->ii_Predicate != NIL)
			{
				if (info->ii_PredicateState == NULL)
					info->ii_PredicateState = ExecPrepareQual(info->ii_Predicate, estate);
				if (!ExecQual(info->ii_PredicateState, econtext))
					continue;
			}

			if (pending == NULL)
			{
				FormIndexDatum(info, slot, estate, values, isnull);
				index_insert(index, values, isnull, &slot->tts_tid, ins->rel,
							 unique_check(index), false, info);
				continue;
			}

			if (pending->n == TABLE_INSERT_SORT_MAX)
				flush_pending(ins, pending);
			if (pending->n == pending->capacity)
				grow_pending(ins, pending);
			FormIndexDatum(info, slot, estate,
						   &pending->values[pending->n * pending->natts],
						   &pending->isnull[pending->n * pending->natts]);
			if (pending->byref)
			{
				TupleDesc	idesc = RelationGetDescr(index);
				MemoryContext keycxt = MemoryContextSwitchTo(pending->cxt);

				for (int a = 0; a < pending->natts; a++)
				{
					Form_pg_attribute attr = TupleDescAttr(idesc, a);
					int			v = pending->n * pending->natts + a;

					if (!pending->isnull[v])
						pending->values[v] = datumCopy(pending->values[v],
													   attr->attbyval, attr->attlen);
				}
				MemoryContextSwitchTo(keycxt);
			}
			pending->tids[pending->n++] = slot->tts_tid;
		}
	}

	ins->inserted += ins->nslots;
	for (int s = 0; s < ins->nslots; s++)
		ExecClearTuple(ins->slots[s]);
	ins->nslots = 0;
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(ins->chunk_cxt);
	ResetPerTupleExprContext(estate);
}

/*
 * flush_all - write the formed rows (flush_chunk) and, with indexes, every
 * index entry held back.  A unique violation of one of the ledger's id keys
 * is reported as the taken id it is (LedgerRethrowIdCollision).
 */
static void
flush_all(TableInsert *ins, bool indexes)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		flush_chunk(ins);
		for (int p = 0; indexes && p < ins->npending; p++)
			flush_pending(ins, &ins->pending[p]);
	}
	PG_CATCH();
	{
		LedgerRethrowIdCollision(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/*
 * TableInsertRow - add a row: values and nulls of the columns given to
 * TableInsertBegin, in that order.
 *
 * The row is checked against the table's constraints at once; it reaches
 * the table by the end of TableInsertEnd.
 */
static void
TableInsertRow(TableInsert *ins, const Datum *values, const bool *nulls)
{
	form_row(ins, values, nulls);
	ins->nslots++;
	if (ins->nslots == TABLE_INSERT_CHUNK)
		flush_all(ins, false);
}

/*
 * At REPEATABLE READ and SERIALIZABLE a key held by a row that the
 * transaction's snapshot cannot see, one committed since, is a
 * serialization failure, as for INSERT ... ON CONFLICT DO NOTHING; unless
 * this transaction wrote that row.
 */
static void
check_conflict_visible(TableInsert *ins, ItemPointer tid)
{
	TupleTableSlot *slot;
	bool		isnull;

	if (!IsolationUsesXactSnapshot())
		return;
	slot = table_slot_create(ins->rel, NULL);
	if (!table_tuple_fetch_row_version(ins->rel, tid, SnapshotAny, slot))
		elog(ERROR, "row holding the key in table %s not found",
			 RelationGetRelationName(ins->rel));
	if (!table_tuple_satisfies_snapshot(ins->rel, slot, GetTransactionSnapshot()) &&
		!TransactionIdIsCurrentTransactionId(
			DatumGetTransactionId(slot_getsysattr(slot, MinTransactionIdAttributeNumber,
												  &isnull))))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to concurrent update")));
	ExecDropSingleTupleTableSlot(slot);
}

/*
 * insert_speculative_entries - the index entries of a row inserted
 * speculatively; true if the arbiter found its key taken meanwhile.  A
 * unique violation of one of the ledger's id keys is reported as the taken
 * id it is (LedgerRethrowIdCollision).
 */
static bool
insert_speculative_entries(TableInsert *ins, TupleTableSlot *slot, List *arbiters)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool		lost_race = false;

	PG_TRY();
	{
#if PG_VERSION_NUM >= 160000
		(void) ExecInsertIndexTuples(ins->rri, slot, ins->estate, false, true, &lost_race,
									 arbiters, false);
#else
		(void) ExecInsertIndexTuples(ins->rri, slot, ins->estate, false, true, &lost_race,
									 arbiters);
#endif
	}
	PG_CATCH();
	{
		LedgerRethrowIdCollision(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return lost_race;
}

/*
 * TableInsertRowUnlessKey - add a row as INSERT ... ON CONFLICT DO NOTHING
 * would, arbitrated by the unique index on exactly the caller's columns
 * key_columns (in any order): written at once, with its index entries,
 * returning true; or, when a row of this transaction, a committed one or
 * one of a concurrent transaction that then commits holds the same key,
 * nothing written and false.  A concurrent holder of the key is waited for,
 * as by the statement.  Rows added before are written first.
 */
static bool
TableInsertRowUnlessKey(TableInsert *ins, const int *key_columns, int nkeys,
						const Datum *values, const bool *nulls)
{
	ResultRelInfo *rri = ins->rri;
	Oid			arbiter_oid = InvalidOid;
	List	   *arbiters;
	TupleTableSlot *slot;
	MemoryContext oldcxt;

	flush_all(ins, true);

	/*
	 * The arbiter is the unique index on the key columns alone, and its
	 * conflict check needs its equality operators.
	 */
	for (int i = 0; i < rri->ri_NumIndices && !OidIsValid(arbiter_oid); i++)
	{
		Relation	index = rri->ri_IndexRelationDescs[i];
		IndexInfo  *info = rri->ri_IndexRelationInfo[i];
		bool		match;

		if (index == NULL || !index->rd_index->indisunique ||
			info->ii_NumIndexKeyAttrs != nkeys || info->ii_Expressions != NIL)
			continue;
		match = true;
		for (int k = 0; k < nkeys && match; k++)
		{
			match = false;
			for (int j = 0; j < nkeys; j++)
				match |= info->ii_IndexAttrNumbers[j] == ins->attnums[key_columns[k]];
		}
		if (!match)
			continue;
		if (info->ii_UniqueOps == NULL)
		{
			oldcxt = MemoryContextSwitchTo(ins->cxt);
			BuildSpeculativeIndexInfo(index, info);
			MemoryContextSwitchTo(oldcxt);
		}
		arbiter_oid = RelationGetRelid(index);
	}
	if (!OidIsValid(arbiter_oid))
		elog(ERROR, "table %s has no unique index on its column %d and %d others",
			 RelationGetRelationName(ins->rel), (int) ins->attnums[key_columns[0]], nkeys - 1);

	form_row(ins, values, nulls);
	slot = ins->slots[ins->nslots];
	oldcxt = MemoryContextSwitchTo(ins->chunk_cxt);
	arbiters = list_make1_oid(arbiter_oid);
	for (;;)
	{
		ItemPointerData conflict;
		bool		lost_race = false;
		uint32		token;

		CHECK_FOR_INTERRUPTS();
		if (!ExecCheckIndexConstraints(rri, slot, ins->estate, &conflict, arbiters))
		{
			check_conflict_visible(ins, &conflict);
			ExecClearTuple(slot);
			MemoryContextSwitchTo(oldcxt);
			MemoryContextReset(ins->chunk_cxt);
			ResetPerTupleExprContext(ins->estate);
			return false;
		}

		/*
		 * Another call may take the key between the check and the index
		 * insertion: the row goes in speculatively, and is taken back if the
		 * index then finds the key taken, as ExecInsert does.
		 */
		token = SpeculativeInsertionLockAcquire(GetCurrentTransactionId());
		table_tuple_insert_speculative(ins->rel, slot, ins->cid, 0, NULL, token);
		lost_race = insert_speculative_entries(ins, slot, arbiters);
		table_tuple_complete_speculative(ins->rel, slot, token, !lost_race);
		SpeculativeInsertionLockRelease(GetCurrentTransactionId());
		if (!lost_race)
			break;
	}
	ins->inserted++;
	ExecClearTuple(slot);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(ins->chunk_cxt);
	ResetPerTupleExprContext(ins->estate);
	return true;
}

/*
 * check_referenced - the row just formed finds the row its foreign key
 * refers to, as the key's trigger would find it: locked FOR KEY SHARE, so
 * that it cannot go before this transaction ends.  A value is checked once
 * in a row of equal ones.
 */
static void
check_referenced(TableInsert *ins, InsertCheck *check)
{
	Datum		value = ins->values[check->attnum - 1];
	int16		typlen;
	bool		typbyval;
	MemoryContext oldcxt;
	Oid			userid;
	int			sec_context;

	if (ins->nulls[check->attnum - 1])
		return;
	get_typlenbyval(check->type, &typlen, &typbyval);
	if (check->have_last && datumIsEqual(value, check->last, typbyval, typlen))
		return;
	/* As the key's trigger, as the referenced table's owner, past its RLS. */
	GetUserIdAndSecContext(&userid, &sec_context);
	SetUserIdAndSecContext(check->owner,
						   sec_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_NOFORCE_RLS);
	LedgerExecute(generated_statement(check->sql, check->argtype), &value, NULL, 1);
	SetUserIdAndSecContext(userid, sec_context);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("insert or update on table \"%s\" violates foreign key constraint \"%s\"",
						RelationGetRelationName(ins->rel), check->constraint),
				 errdetail("Key (%s)=(%s) is not present in table \"%s\".",
						   check->column,
						   OidOutputFunctionCall(check->output, value),
						   check->referenced),
				 errtableconstraint(ins->rel, check->constraint)));
	oldcxt = MemoryContextSwitchTo(ins->cxt);
	if (check->have_last && !typbyval)
		pfree(DatumGetPointer(check->last));
	check->last = datumCopy(value, typbyval, typlen);
	check->have_last = true;
	MemoryContextSwitchTo(oldcxt);
}

/*
 * form_row - form a row into the next free slot (ins->slots[ins->nslots])
 * from the caller's values and the other columns' defaults, and check it
 * against the table's constraints.
 */
static void
form_row(TableInsert *ins, const Datum *values, const bool *nulls)
{
	ExprContext *econtext = GetPerTupleExprContext(ins->estate);
	TupleDesc	desc = RelationGetDescr(ins->rel);
	MemoryContext oldcxt;
	TupleTableSlot *slot = ins->slots[ins->nslots];
	HeapTuple	tuple;
	LedgerSavedUser saved;

	if (slot == NULL)
	{
		oldcxt = MemoryContextSwitchTo(ins->cxt);
		slot = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
		ins->slots[ins->nslots] = slot;
		MemoryContextSwitchTo(oldcxt);
	}
	oldcxt = MemoryContextSwitchTo(ins->chunk_cxt);

	/* Defaults are evaluated as the owner, as the SQL statements run. */
	LedgerBecomeOwner(&saved);
	for (int a = 0; a < ins->natts; a++)
	{
		ins->nulls[a] = true;
		ins->values[a] = (Datum) 0;
		if (ins->defaults[a] != NULL)
			ins->values[a] = ExecEvalExpr(ins->defaults[a], econtext, &ins->nulls[a]);
	}
	LedgerRestoreUser(&saved);
	for (int c = 0; c < ins->ncolumns; c++)
	{
		ins->values[ins->attnums[c] - 1] = values[c];
		ins->nulls[ins->attnums[c] - 1] = nulls[c];
	}
	tuple = heap_form_tuple(desc, ins->values, ins->nulls);
	ExecStoreHeapTuple(tuple, slot, true);
	slot->tts_tableOid = RelationGetRelid(ins->rel);
	if (ins->guard != NULL)
	{
		TriggerData trigdata;
		HeapTuple	guarded;

		memset(&trigdata, 0, sizeof(trigdata));
		trigdata.type = T_TriggerData;
		trigdata.tg_event = TRIGGER_EVENT_INSERT | TRIGGER_EVENT_ROW | TRIGGER_EVENT_BEFORE;
		trigdata.tg_relation = ins->rel;
		trigdata.tg_trigtuple = tuple;
		trigdata.tg_trigger = ins->guard;
		trigdata.tg_trigslot = slot;
		guarded = invoke_guard(&ins->guard_flinfo, &trigdata);
		if (guarded != tuple)
			elog(ERROR, "the row guard of table %s changed a row it was handed",
				 RelationGetRelationName(ins->rel));
	}
	if (desc->constr != NULL)
		ExecConstraints(ins->rri, slot, ins->estate);
	MemoryContextSwitchTo(oldcxt);
	for (int k = 0; k < ins->nchecks; k++)
		check_referenced(ins, &ins->checks[k]);
}

/*
 * TableInsertEnd - write what is left, close the table and free everything;
 * returns the number of rows inserted.
 *
 * The rows are visible to the statements the caller runs next.
 */
static int64
TableInsertEnd(TableInsert *ins)
{
	int64		inserted;

	flush_all(ins, true);
	inserted = ins->inserted;

	for (int i = 0; i < TABLE_INSERT_CHUNK && ins->slots[i] != NULL; i++)
		ExecDropSingleTupleTableSlot(ins->slots[i]);
	ExecCloseIndices(ins->rri);
	FreeExecutorState(ins->estate);
	table_close(ins->rel, NoLock);
	MemoryContextDelete(ins->cxt);
	CommandCounterIncrement();
	return inserted;
}

/*
 * Reads by key, as a new statement of this transaction would see the rows
 * (TableFetchByKey, TableFetchAll): through an index and the heap, or, when
 * the table needs the executor (row security, a rule...), through SQL.
 */

/*
 * The index of a table whose leading columns are a key's, unique on them
 * alone or the primary key, remembered until the relation cache changes:
 * keyed transfers ask on every call.
 */
typedef struct KeyIndex
{
	Oid			relid;			/* InvalidOid: slot free */
	AttrNumber	attnums[TABLE_KEY_MAX_COLUMNS];
	int			nkeys;
	bool		unique;
	Oid			indexid;
} KeyIndex;

#define KEY_INDEXES_MAX	8

static KeyIndex key_indexes[KEY_INDEXES_MAX];
static int	key_indexes_next = 0;
static bool key_indexes_callback = false;

static void
forget_key_indexes(Datum arg, Oid relid)
{
	memset(key_indexes, 0, sizeof(key_indexes));
}

/* The access method of a relation. */
static Oid
index_am(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			am = InvalidOid;

	if (HeapTupleIsValid(tuple))
	{
		am = ((Form_pg_class) GETSTRUCT(tuple))->relam;
		ReleaseSysCache(tuple);
	}
	return am;
}

/* Does the index lead with the columns attnums, in order? */
static bool
index_leads_with(Form_pg_index form, const AttrNumber *attnums, int nkeys)
{
	if (form->indnkeyatts < nkeys)
		return false;
	for (int k = 0; k < nkeys; k++)
		if (form->indkey.values[k] != attnums[k])
			return false;
	return true;
}

static Oid
index_on_columns(Relation rel, const AttrNumber *attnums, int nkeys, bool unique)
{
	List	   *indexes;
	Oid			found = InvalidOid;
	ListCell   *lc;
	KeyIndex   *slot;

	Assert(nkeys >= 1 && nkeys <= TABLE_KEY_MAX_COLUMNS);
	for (int i = 0; i < KEY_INDEXES_MAX; i++)
		if (key_indexes[i].relid == RelationGetRelid(rel) &&
			key_indexes[i].nkeys == nkeys && key_indexes[i].unique == unique &&
			memcmp(key_indexes[i].attnums, attnums, sizeof(AttrNumber) * nkeys) == 0)
			return key_indexes[i].indexid;

	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		HeapTuple	tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index form;

		if (!HeapTupleIsValid(tuple))
			continue;
		form = (Form_pg_index) GETSTRUCT(tuple);
		if (!OidIsValid(found) && form->indisvalid && index_leads_with(form, attnums, nkeys) &&
			heap_attisnull(tuple, Anum_pg_index_indexprs, NULL) &&
			index_am(form->indexrelid) == BTREE_AM_OID &&
			(unique ? form->indisunique && form->indnkeyatts == nkeys : form->indisprimary))
			found = form->indexrelid;
		ReleaseSysCache(tuple);
	}
	list_free(indexes);

	if (!key_indexes_callback)
	{
		LedgerOnRelcacheInvalidation(forget_key_indexes);
		key_indexes_callback = true;
	}
	slot = &key_indexes[key_indexes_next];
	memset(slot, 0, sizeof(KeyIndex));
	slot->relid = RelationGetRelid(rel);
	memcpy(slot->attnums, attnums, sizeof(AttrNumber) * nkeys);
	slot->nkeys = nkeys;
	slot->unique = unique;
	slot->indexid = found;
	key_indexes_next = (key_indexes_next + 1) % KEY_INDEXES_MAX;
	return found;
}

/*
 * A direct read's snapshot: a new statement's, which sees this
 * transaction's writes.  Popped by end_index_read.
 */
static void
begin_index_read(void)
{
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();
}

static void
end_index_read(IndexScanDesc scan, TupleTableSlot *slot, Relation index, Relation rel)
{
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	PopActiveSnapshot();
	index_close(index, NoLock);
	table_close(rel, NoLock);
}

/*
 * fetch_direct - the rows of rel whose key columns equal keyvalues, through
 * the index on them, into a growing array of ncolumns values per row; the
 * number of rows, or -1 when the table must be read through SQL.
 */
static int
fetch_direct(const char *table, const TableColumn *key, const Datum *keyvalues, int nkeys,
			 bool unique, const TableColumn *columns, int ncolumns, Datum **values,
			 bool **nulls)
{
	Oid			relid = get_relname_relid(table, LedgerNamespaceOid());
	AttrNumber	attnums[TABLE_FETCH_MAX_COLUMNS];
	AttrNumber	keyatts[TABLE_KEY_MAX_COLUMNS];
	Relation	rel;
	Relation	index;
	Oid			indexid;
	ScanKeyData scankeys[TABLE_KEY_MAX_COLUMNS];
	IndexScanDesc scan;
	TupleTableSlot *slot;
	int			n = 0;
	int			capacity = 4;

	Assert(ncolumns <= TABLE_FETCH_MAX_COLUMNS);
	if (!OidIsValid(relid))
		return -1;
	rel = table_open(relid, AccessShareLock);
	if (!relation_allows_direct(rel, ACL_SELECT) ||
		!find_columns(rel, columns, ncolumns, attnums) ||
		!find_columns(rel, key, nkeys, keyatts) ||
		!OidIsValid(indexid = index_on_columns(rel, keyatts, nkeys, unique)))
	{
		table_close(rel, NoLock);
		return -1;
	}
	index = index_open(indexid, AccessShareLock);
	for (int k = 0; k < nkeys; k++)
	{
		Oid			eqop = get_opfamily_member(index->rd_opfamily[k], index->rd_opcintype[k],
											   index->rd_opcintype[k], BTEqualStrategyNumber);

		if (!OidIsValid(eqop))
		{
			index_close(index, NoLock);
			table_close(rel, NoLock);
			return -1;
		}
		/* Compared in the index's collation, as the index is ordered. */
		ScanKeyEntryInitialize(&scankeys[k], 0, k + 1, BTEqualStrategyNumber,
							   index->rd_opcintype[k], index->rd_indcollation[k],
							   get_opcode(eqop), keyvalues[k]);
	}

	begin_index_read();

	*values = palloc(sizeof(Datum) * ncolumns * capacity);
	*nulls = palloc(sizeof(bool) * ncolumns * capacity);
	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, index, GetActiveSnapshot(), nkeys, 0);
	index_rescan(scan, scankeys, nkeys, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		TupleDesc	desc = RelationGetDescr(rel);

		CHECK_FOR_INTERRUPTS();
		if (n == capacity)
		{
			capacity *= 2;
			*values = repalloc(*values, sizeof(Datum) * ncolumns * capacity);
			*nulls = repalloc(*nulls, sizeof(bool) * ncolumns * capacity);
		}
		slot_getallattrs(slot);
		for (int c = 0; c < ncolumns; c++)
		{
			Form_pg_attribute attr = TupleDescAttr(desc, attnums[c] - 1);
			bool		isnull = slot->tts_isnull[attnums[c] - 1];

			(*nulls)[n * ncolumns + c] = isnull;
			(*values)[n * ncolumns + c] = isnull ? (Datum) 0 :
				datumCopy(slot->tts_values[attnums[c] - 1], attr->attbyval, attr->attlen);
		}
		n++;
		if (unique)
			break;
	}
	end_index_read(scan, slot, index, rel);
	return n;
}

/*
 * fetch_sql - fetch_direct through SELECT ... WHERE key = $1 [AND ...]
 * ORDER BY the order: the way to read a table that needs the executor.
 * Caller is connected to SPI.
 */
static int
fetch_sql(const char *table, const TableColumn *key, const Datum *keyvalues, int nkeys,
		  const TableColumn *columns, int ncolumns, const char *order,
		  Datum **values, bool **nulls)
{
	StringInfoData sql;
	char		argtypes[TABLE_KEY_MAX_COLUMNS + 1];
	int			n;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int c = 0; c < ncolumns; c++)
		appendStringInfo(&sql, "%s%s", c > 0 ? ", " : "", quote_identifier(columns[c].name));
	appendStringInfo(&sql, " FROM ledger.%s WHERE ", quote_identifier(table));
	for (int k = 0; k < nkeys; k++)
	{
		appendStringInfo(&sql, "%s%s OPERATOR(pg_catalog.=) $%d", k > 0 ? " AND " : "",
						 quote_identifier(key[k].name), k + 1);
		argtypes[k] = type_letter(key[k].type, false);
	}
	argtypes[nkeys] = '\0';
	if (order != NULL)
		appendStringInfo(&sql, " ORDER BY %s", order);
	LedgerExecute(generated_statement(sql.data, argtypes), (Datum *) keyvalues, NULL, 0);
	n = (int) SPI_processed;
	*values = palloc(sizeof(Datum) * ncolumns * Max(n, 1));
	*nulls = palloc(sizeof(bool) * ncolumns * Max(n, 1));
	for (int r = 0; r < n; r++)
		for (int c = 0; c < ncolumns; c++)
		{
			int16		typlen;
			bool		typbyval;
			bool	   *isnull = &(*nulls)[r * ncolumns + c];
			Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, c + 1, isnull);

			get_typlenbyval(columns[c].type, &typlen, &typbyval);
			(*values)[r * ncolumns + c] = *isnull ? (Datum) 0 : datumCopy(d, typbyval, typlen);
		}
	pfree(sql.data);
	return n;
}

/*
 * TableFetchByKey - read the row of the ledger's table whose key columns,
 * which a unique index keys alone (in this order), are keyvalues: the given
 * columns into values and nulls (copied into the caller's memory context),
 * as a new statement of this transaction would see it.  If the index is
 * partial, the caller knows that its predicate admits the key (an
 * idempotency key is not null).  Returns whether there is such a row.
 * Caller is connected to SPI.
 */
bool
TableFetchByKey(const char *table, const TableColumn *key, const Datum *keyvalues, int nkeys,
				const TableColumn *columns, int ncolumns, Datum *values, bool *nulls)
{
	Datum	   *rows;
	bool	   *rownulls;
	int			n = fetch_direct(table, key, keyvalues, nkeys, true, columns, ncolumns,
								 &rows, &rownulls);

	if (n < 0)
		n = fetch_sql(table, key, keyvalues, nkeys, columns, ncolumns, NULL, &rows, &rownulls);
	if (n == 0)
		return false;
	memcpy(values, rows, sizeof(Datum) * ncolumns);
	memcpy(nulls, rownulls, sizeof(bool) * ncolumns);
	return true;
}

/*
 * TableFetchAll - the rows of the ledger's table whose key column, the
 * leading column of its primary key, is keyvalue, in primary key order: the
 * given columns of row r at values[r * ncolumns], as a new statement of this
 * transaction would see them; returns how many.  Caller is connected to SPI.
 */
int
TableFetchAll(const char *table, const TableColumn *key, Datum keyvalue, const char *order,
			  const TableColumn *columns, int ncolumns, Datum **values, bool **nulls)
{
	int			n = fetch_direct(table, key, &keyvalue, 1, false, columns, ncolumns,
								 values, nulls);

	if (n < 0)
		n = fetch_sql(table, key, &keyvalue, 1, columns, ncolumns, order, values, nulls);
	return n;
}

/* Rows of a walk read through SQL at a time. */
#define TABLE_SCAN_CHUNK	1000

/*
 * scan_after_sql - TableScanAfter through SELECT ... WHERE (key) > ($1, $2)
 * ORDER BY key LIMIT a chunk, again from the last row of each chunk.  Caller
 * is connected to SPI.
 */
static void
scan_after_sql(const char *table, const TableColumn *key, const Datum *after,
			   const TableColumn *columns, int ncolumns, TableVisitor visit, void *arg)
{
	StringInfoData sql;
	char		argtypes[3];
	LedgerStatement *stmt;
	Datum		from[2] = {after[0], after[1]};
	int			keycol[2] = {-1, -1};
	Datum	   *values;
	bool	   *nulls;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int c = 0; c < ncolumns; c++)
	{
		appendStringInfo(&sql, "%s%s", c > 0 ? ", " : "", quote_identifier(columns[c].name));
		for (int k = 0; k < 2; k++)
			if (strcmp(columns[c].name, key[k].name) == 0)
				keycol[k] = c;
	}
	/* The next chunk starts from the last key, kept past its tuple table. */
	if (keycol[0] < 0 || keycol[1] < 0 ||
		!get_typbyval(key[0].type) || !get_typbyval(key[1].type))
		elog(ERROR, "a walk of table \"%s\" needs its key among the columns, passed by value", table);
	appendStringInfo(&sql, " FROM ledger.%s WHERE (%s, %s) OPERATOR(pg_catalog.>) ($1, $2)"
					 " ORDER BY %s, %s LIMIT " CppAsString2(TABLE_SCAN_CHUNK),
					 quote_identifier(table), quote_identifier(key[0].name),
					 quote_identifier(key[1].name), quote_identifier(key[0].name),
					 quote_identifier(key[1].name));
	argtypes[0] = type_letter(key[0].type, false);
	argtypes[1] = type_letter(key[1].type, false);
	argtypes[2] = '\0';
	stmt = generated_statement(sql.data, argtypes);
	pfree(sql.data);

	values = palloc(sizeof(Datum) * ncolumns);
	nulls = palloc(sizeof(bool) * ncolumns);
	for (;;)
	{
		uint64		n;
		SPITupleTable *tuptable;

		LedgerExecute(stmt, from, NULL, 0);
		n = SPI_processed;
		tuptable = SPI_tuptable;
		for (uint64 r = 0; r < n; r++)
		{
			CHECK_FOR_INTERRUPTS();
			for (int c = 0; c < ncolumns; c++)
				values[c] = SPI_getbinval(tuptable->vals[r], tuptable->tupdesc, c + 1, &nulls[c]);
			if (!visit(values, nulls, arg))
				return;
			from[0] = values[keycol[0]];
			from[1] = values[keycol[1]];
		}
		if (n < TABLE_SCAN_CHUNK)
			return;
	}
}

/*
 * TableScanAfter - walk the rows of the ledger's table whose two key
 * columns, which a unique index keys alone (in this order), come after the
 * values after, in the index's order, as a new statement of this
 * transaction would see them; visit gets the given columns of each row, in
 * its memory context, and says whether to go on.  What the walk costs is
 * the rows it visits, whatever the table's size or statistics: a query
 * the planner chooses a plan for could, when its estimates are off, read
 * the whole table to find the row that ends the walk.  The values are the
 * row's own: valid until visit returns.  Caller is connected to SPI.
 */
void
TableScanAfter(const char *table, const TableColumn *key, const Datum *after,
			   const TableColumn *columns, int ncolumns, TableVisitor visit, void *arg)
{
	Oid			relid = get_relname_relid(table, LedgerNamespaceOid());
	AttrNumber *attnums;
	AttrNumber	keyatts[2];
	Relation	rel;
	Relation	index;
	Oid			indexid = InvalidOid;
	Oid			geop;
	ScanKeyData scankey;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	FmgrInfo   *order[2];
	Datum	   *values;
	bool	   *nulls;
	bool		past_start = false;

	if (!OidIsValid(relid))
		return;
	attnums = palloc(sizeof(AttrNumber) * ncolumns);
	values = palloc(sizeof(Datum) * ncolumns);
	nulls = palloc(sizeof(bool) * ncolumns);
	rel = table_open(relid, AccessShareLock);
	if (!relation_allows_direct(rel, ACL_SELECT) ||
		!find_columns(rel, columns, ncolumns, attnums) ||
		!find_columns(rel, key, 2, keyatts) ||
		!OidIsValid(indexid = index_on_columns(rel, keyatts, 2, true)) ||
		index_am(indexid) != BTREE_AM_OID)
	{
		table_close(rel, NoLock);
		scan_after_sql(table, key, after, columns, ncolumns, visit, arg);
		return;
	}
	index = index_open(indexid, AccessShareLock);
	geop = get_opfamily_member(index->rd_opfamily[0], index->rd_opcintype[0],
							   index->rd_opcintype[0], BTGreaterEqualStrategyNumber);
	if (!OidIsValid(geop))
		elog(ERROR, "no >= operator for the first column of index %u", indexid);
	ScanKeyEntryInitialize(&scankey, 0, 1, BTGreaterEqualStrategyNumber,
						   index->rd_opcintype[0], index->rd_indcollation[0],
						   get_opcode(geop), after[0]);
	order[0] = index_getprocinfo(index, 1, BTORDER_PROC);
	order[1] = index_getprocinfo(index, 2, BTORDER_PROC);

	begin_index_read();

	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, index, GetActiveSnapshot(), 1, 0);
	index_rescan(scan, &scankey, 1, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		CHECK_FOR_INTERRUPTS();
		slot_getallattrs(slot);

		/* The rows of the first value up to and with the start: skipped. */
		if (!past_start)
		{
			Datum		k0 = slot->tts_values[keyatts[0] - 1];
			Datum		k1 = slot->tts_values[keyatts[1] - 1];

			if (DatumGetInt32(FunctionCall2Coll(order[0], index->rd_indcollation[0],
												k0, after[0])) == 0 &&
				DatumGetInt32(FunctionCall2Coll(order[1], index->rd_indcollation[1],
												k1, after[1])) <= 0)
				continue;
			past_start = true;
		}
		for (int c = 0; c < ncolumns; c++)
		{
			nulls[c] = slot->tts_isnull[attnums[c] - 1];
			values[c] = nulls[c] ? (Datum) 0 : slot->tts_values[attnums[c] - 1];
		}
		if (!visit(values, nulls, arg))
			break;
	}
	end_index_read(scan, slot, index, rel);
}

/*
 * Direct update of rows found by their primary key.
 *
 * A table is updated directly only if, besides what relation_allows_direct
 * asks, its UPDATE triggers are the extension's own row guard (called here
 * exactly as the trigger manager calls it, before each row is written) and
 * foreign key checks on the referencing side, which the executor skips when
 * the key is unchanged and the row was not written by this transaction, as
 * RI_FKey_fk_upd_check_required decides; when it would not skip one, the
 * whole update declines before writing anything.
 */

/* The largest number of columns a direct update sets. */
#define TABLE_UPDATE_MAX_COLUMNS	16

/* A row found, and its new version, waiting to be written. */
typedef struct UpdateTarget
{
	ItemPointerData tid;
	HeapTuple	newtuple;
} UpdateTarget;

struct TableUpdate
{
	MemoryContext cxt;			/* everything below lives here */
	MemoryContext row_cxt;		/* reset per row */
	Relation	rel;
	Relation	pkey;			/* the primary key: one bigint column */
	EState	   *estate;
	ResultRelInfo *rri;
	int			ncolumns;
	AttrNumber	attnums[TABLE_UPDATE_MAX_COLUMNS];
	Trigger    *guard;			/* the row guard, if it fires; else NULL */
	FmgrInfo	guard_flinfo;
	Trigger   **ri_checks;		/* foreign key checks that fire */
	int			nri_checks;
	Bitmapset  *updated;		/* the caller's columns, as attribute numbers
								 * less FirstLowInvalidHeapAttributeNumber */
	bool		declined;		/* a foreign key check would fire */
	Snapshot	snapshot;
	IndexScanDesc scan;
	TupleTableSlot *oldslot;
	TupleTableSlot *newslot;
	Datum	   *values;			/* natts, for heap_modify_tuple */
	bool	   *nulls;
	bool	   *replace;
	UpdateTarget *targets;
	int			ntargets;
	int			capacity;
};

/*
 * Can rel be updated directly, the caller's columns set in rows found by a
 * one-column bigint primary key?  Sets up upd's triggers and columns.
 */
static bool
direct_update_allowed(TableUpdate *upd, const TableColumn *columns, int ncolumns)
{
	Relation	rel = upd->rel;
	TriggerDesc *trigdesc;
	Oid			pkey;

	if (ncolumns > TABLE_UPDATE_MAX_COLUMNS ||
		!relation_allows_direct(rel, ACL_UPDATE | ACL_SELECT) ||
		!find_columns(rel, columns, ncolumns, upd->attnums))
		return false;

	pkey = RelationGetPrimaryKeyIndex(rel);
	if (!OidIsValid(pkey))
		return false;
	upd->pkey = index_open(pkey, RowExclusiveLock);
	if (upd->pkey->rd_rel->relam != BTREE_AM_OID ||
		upd->pkey->rd_index->indnatts != 1 ||
		upd->pkey->rd_index->indkey.values[0] <= 0 ||
		TupleDescAttr(RelationGetDescr(rel),
					  upd->pkey->rd_index->indkey.values[0] - 1)->atttypid != INT8OID ||
		upd->pkey->rd_opfamily[0] != INTEGER_BTREE_FAM_OID)
		return false;

	/*
	 * The triggers kept are pointed to until the end of the update, and the
	 * relation cache may rebuild the table's entry, trigger descriptor
	 * included, whenever an invalidation is processed (each lock taken can
	 * do it): so they point into the result relation's copy.
	 */
	trigdesc = upd->rri->ri_TrigDesc;
	upd->ri_checks = palloc(sizeof(Trigger *) *
							Max(trigdesc ? trigdesc->numtriggers : 0, 1));
	if (trigdesc != NULL)
	{
		for (int i = 0; i < trigdesc->numtriggers; i++)
		{
			Trigger    *trigger = &trigdesc->triggers[i];

			if (!TRIGGER_FOR_UPDATE(trigger->tgtype))
				continue;
			if (trigger->tgqual != NULL || trigger->tgnattr > 0)
				return false;
			if (TRIGGER_FOR_ROW(trigger->tgtype) && TRIGGER_FOR_BEFORE(trigger->tgtype) &&
				upd->guard == NULL && is_ledger_function(trigger->tgfoid, "guard_accounts"))
			{
				if (trigger_fires(trigger))
				{
					upd->guard = trigger;
					fmgr_info(trigger->tgfoid, &upd->guard_flinfo);
				}
			}
			else if (TRIGGER_FOR_ROW(trigger->tgtype) && TRIGGER_FOR_AFTER(trigger->tgtype) &&
					 RI_FKey_trigger_type(trigger->tgfoid) == RI_TRIGGER_FK)
			{
				if (trigger_fires(trigger))
					upd->ri_checks[upd->nri_checks++] = trigger;
			}
			else
				return false;
		}
	}

	for (int c = 0; c < ncolumns; c++)
		upd->updated = bms_add_member(upd->updated,
									  upd->attnums[c] - FirstLowInvalidHeapAttributeNumber);
	return true;
}

/*
 * TableUpdateBegin - open the ledger's table for direct updates of the
 * given columns in rows found by primary key.
 *
 * Returns NULL, having written nothing, when the table must be updated
 * through SQL instead.  The table stays locked in RowExclusiveLock mode to
 * the end of the transaction either way.
 */
static TableUpdate *
TableUpdateBegin(const char *table, const TableColumn *columns, int ncolumns)
{
	Oid			relid = get_relname_relid(table, LedgerNamespaceOid());
	MemoryContext cxt;
	MemoryContext oldcxt;
	TableUpdate *upd;
	TupleDesc	desc;

	if (!OidIsValid(relid))
		return NULL;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "ledger table update",
								ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);
	upd = palloc0(sizeof(TableUpdate));
	upd->cxt = cxt;
	upd->ncolumns = ncolumns;
	upd->rel = table_open(relid, RowExclusiveLock);
	upd->estate = CreateExecutorState();
	upd->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(upd->rri, upd->rel, 0, NULL, 0);
	ExecOpenIndices(upd->rri, false);
	if (!direct_update_allowed(upd, columns, ncolumns) || !indexes_allowed(upd->rri))
	{
		ExecCloseIndices(upd->rri);
		if (upd->pkey != NULL)
			index_close(upd->pkey, NoLock);
		FreeExecutorState(upd->estate);
		table_close(upd->rel, NoLock);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextDelete(cxt);
		return NULL;
	}

	/* As UPDATE does: refuse it on a published table without a key. */
	CheckCmdReplicaIdentity(upd->rel, CMD_UPDATE);
	desc = RelationGetDescr(upd->rel);
	prepare_expressions(upd->rel, upd->rri, upd->estate, NULL, NULL);

	/*
	 * Rows are found with the snapshot the SQL statement would use.  The
	 * caller holds their locks, so the version found is the latest one.
	 */
	upd->snapshot = RegisterSnapshot(GetTransactionSnapshot());
	upd->scan = index_beginscan(upd->rel, upd->pkey, upd->snapshot, 1, 0);
	upd->oldslot = table_slot_create(upd->rel, NULL);
	upd->newslot = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
	upd->values = palloc0(sizeof(Datum) * desc->natts);
	upd->nulls = palloc0(sizeof(bool) * desc->natts);
	upd->replace = palloc0(sizeof(bool) * desc->natts);
	for (int c = 0; c < ncolumns; c++)
		upd->replace[upd->attnums[c] - 1] = true;
	upd->row_cxt = AllocSetContextCreate(cxt, "ledger table update row",
										 ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(oldcxt);
	return upd;
}

/* Call the row guard on an update, as the trigger manager would. */
static HeapTuple
call_guard(TableUpdate *upd, HeapTuple oldtuple, HeapTuple newtuple)
{
	TriggerData trigdata;

	memset(&trigdata, 0, sizeof(trigdata));
	trigdata.type = T_TriggerData;
	trigdata.tg_event = TRIGGER_EVENT_UPDATE | TRIGGER_EVENT_ROW | TRIGGER_EVENT_BEFORE;
	trigdata.tg_relation = upd->rel;
	trigdata.tg_trigtuple = oldtuple;
	trigdata.tg_newtuple = newtuple;
	trigdata.tg_trigger = upd->guard;
	trigdata.tg_trigslot = upd->oldslot;
	trigdata.tg_newslot = upd->newslot;
	trigdata.tg_updatedcols = upd->updated;

	return invoke_guard(&upd->guard_flinfo, &trigdata);
}

/*
 * invoke_guard - call the extension's row guard as the trigger manager
 * calls it, for one of the ledger's writes; returns the row it passes.
 */
static HeapTuple
invoke_guard(FmgrInfo *flinfo, TriggerData *trigdata)
{
	LOCAL_FCINFO(fcinfo, 0);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, flinfo, 0, InvalidOid, (Node *) trigdata, NULL);

	/* The guard passes the ledger's writes: this is one (see spi.c). */
	PG_TRY();
	{
		ledger_write_in_progress = true;
		result = FunctionCallInvoke(fcinfo);
	}
	PG_FINALLY();
	{
		ledger_write_in_progress = false;
	}
	PG_END_TRY();

	if (fcinfo->isnull)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger function %u returned null value",
						fcinfo->flinfo->fn_oid)));
	return (HeapTuple) DatumGetPointer(result);
}

/*
 * Is the version of the row at hint the one the update would find for key?
 * It is when the snapshot sees it and it carries the key: the caller holds
 * the row's lock, so no other version can be visible.  A version this
 * transaction has replaced since is not seen, and the index is asked.
 */
static bool
fetch_hinted_row(TableUpdate *upd, int64 key, ItemPointer hint)
{
	AttrNumber	keyatt = upd->pkey->rd_index->indkey.values[0];
	bool		isnull;

	if (hint == NULL || !ItemPointerIsValid(hint) ||
		!table_tuple_fetch_row_version(upd->rel, hint, upd->snapshot, upd->oldslot))
		return false;
	if (DatumGetInt64(slot_getattr(upd->oldslot, keyatt, &isnull)) == key && !isnull)
		return true;
	ExecClearTuple(upd->oldslot);
	return false;
}

/*
 * TableUpdateRow - set the columns given to TableUpdateBegin in the row
 * whose primary key is key, which is looked for at hint (where the caller
 * locked it; NULL if unknown) before the index is asked.  Caller must hold
 * the row's lock.
 *
 * The row is read, and its new version made and passed through the guard,
 * at once (values are not kept); it is written by TableUpdateEnd.  Returns
 * false if there is no such row, or the guard skips it.
 */
static bool
TableUpdateRow(TableUpdate *upd, int64 key, ItemPointer hint, const Datum *values,
			   const bool *nulls)
{
	TupleDesc	desc = RelationGetDescr(upd->rel);
	ScanKeyData scankey;
	HeapTuple	oldtuple;
	HeapTuple	newtuple;
	bool		shouldfree;
	MemoryContext oldcxt;

	oldcxt = MemoryContextSwitchTo(upd->cxt);
	if (!fetch_hinted_row(upd, key, hint))
	{
		ScanKeyInit(&scankey, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(key));
		index_rescan(upd->scan, &scankey, 1, NULL, 0);
		if (!index_getnext_slot(upd->scan, ForwardScanDirection, upd->oldslot))
		{
			MemoryContextSwitchTo(oldcxt);
			return false;
		}
	}

	oldtuple = ExecFetchSlotHeapTuple(upd->oldslot, false, &shouldfree);
	for (int c = 0; c < upd->ncolumns; c++)
	{
		upd->values[upd->attnums[c] - 1] = values[c];
		upd->nulls[upd->attnums[c] - 1] = nulls[c];
	}
	newtuple = heap_modify_tuple(oldtuple, desc, upd->values, upd->nulls, upd->replace);

	/* What the guard and the checks allocate goes with the row. */
	MemoryContextSwitchTo(upd->row_cxt);
	if (upd->guard != NULL)
	{
		HeapTuple	returned;

		ExecStoreHeapTuple(newtuple, upd->newslot, false);
		returned = call_guard(upd, oldtuple, newtuple);
		if (returned != newtuple)
		{
			MemoryContextSwitchTo(upd->cxt);
			newtuple = returned == NULL ? NULL : heap_copytuple(returned);
			MemoryContextSwitchTo(upd->row_cxt);
		}
	}
	if (newtuple != NULL && upd->nri_checks > 0)
	{
		ExecStoreHeapTuple(newtuple, upd->newslot, false);
		for (int t = 0; t < upd->nri_checks; t++)
			if (RI_FKey_fk_upd_check_required(upd->ri_checks[t], upd->rel,
											  upd->oldslot, upd->newslot))
				upd->declined = true;
	}
	ExecClearTuple(upd->newslot);
	MemoryContextSwitchTo(upd->cxt);
	MemoryContextReset(upd->row_cxt);

	if (newtuple != NULL)
	{
		if (upd->ntargets == upd->capacity)
		{
			upd->capacity = upd->capacity == 0 ? 256 : upd->capacity * 2;
			upd->targets = upd->targets == NULL ?
				palloc(sizeof(UpdateTarget) * upd->capacity) :
				repalloc(upd->targets, sizeof(UpdateTarget) * upd->capacity);
		}
		upd->targets[upd->ntargets].tid = upd->oldslot->tts_tid;
		upd->targets[upd->ntargets].newtuple = newtuple;
		upd->ntargets++;
	}
	if (shouldfree)
		heap_freetuple(oldtuple);
	ExecClearTuple(upd->oldslot);
	MemoryContextSwitchTo(oldcxt);
	return newtuple != NULL;
}

/*
 * Is an index's entry the same before and after the update?  The hint
 * index_insert() takes for a version that is not heap-only: no column of
 * the index is among the updated ones, and it has no expression.
 */
static bool
index_unchanged(TableUpdate *upd, IndexInfo *info)
{
	if (info->ii_Expressions != NIL || info->ii_Predicate != NIL)
		return false;
	for (int a = 0; a < info->ii_NumIndexAttrs; a++)
		if (bms_is_member(info->ii_IndexAttrNumbers[a] - FirstLowInvalidHeapAttributeNumber,
						  upd->updated))
			return false;
	return true;
}

/* Insert the index entries of a new row version that is not heap-only. */
static void
insert_update_index_entries(TableUpdate *upd, TupleTableSlot *slot, bool summarizing_only)
{
	ResultRelInfo *rri = upd->rri;
	ExprContext *econtext = GetPerTupleExprContext(upd->estate);

	econtext->ecxt_scantuple = slot;
	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		Relation	index = rri->ri_IndexRelationDescs[i];
		IndexInfo  *info = rri->ri_IndexRelationInfo[i];
		Datum		values[INDEX_MAX_KEYS];
		bool		isnull[INDEX_MAX_KEYS];

		if (index == NULL || !info->ii_ReadyForInserts)
			continue;
#if PG_VERSION_NUM >= 160000
		if (summarizing_only && !info->ii_Summarizing)
			continue;
#endif
		if (info->ii_Predicate != NIL)
		{
			if (info->ii_PredicateState == NULL)
				info->ii_PredicateState = ExecPrepareQual(info->ii_Predicate, upd->estate);
			if (!ExecQual(info->ii_PredicateState, econtext))
				continue;
		}
		FormIndexDatum(info, slot, upd->estate, values, isnull);
		index_insert(index, values, isnull, &slot->tts_tid, upd->rel,
					 unique_check(index), index_unchanged(upd, info), info);
	}
}

/*
 * TableUpdateEnd - write the rows' new versions as UPDATE would (checked
 * against the table's constraints, heap-only when heapam can, index entries
 * otherwise), close the table and free everything.
 *
 * Returns the number of rows updated, or -1 when a foreign key check would
 * have had to fire: then nothing was written, and the caller must run its
 * SQL statement instead.  The new versions are visible to the statements
 * the caller runs next.
 */
static int64
TableUpdateEnd(TableUpdate *upd)
{
	Relation	rel = upd->rel;
	TupleDesc	desc = RelationGetDescr(rel);
	TupleTableSlot *slot = upd->newslot;
	int64		updated = -1;
	MemoryContext oldcxt = MemoryContextSwitchTo(upd->cxt);

	index_endscan(upd->scan);
	UnregisterSnapshot(upd->snapshot);

	if (!upd->declined)
	{
		updated = 0;
		for (int t = 0; t < upd->ntargets; t++)
		{
			HeapTuple	newtuple = upd->targets[t].newtuple;
#if PG_VERSION_NUM >= 160000
			TU_UpdateIndexes update_indexes;
#endif

			CHECK_FOR_INTERRUPTS();
			ExecStoreHeapTuple(newtuple, slot, false);
			if (desc->constr != NULL)
				ExecConstraints(upd->rri, slot, upd->estate);
#if PG_VERSION_NUM >= 160000
			simple_heap_update(rel, &upd->targets[t].tid, newtuple, &update_indexes);
			slot->tts_tid = newtuple->t_self;
			if (update_indexes != TU_None)
				insert_update_index_entries(upd, slot, update_indexes == TU_Summarizing);
#else
			simple_heap_update(rel, &upd->targets[t].tid, newtuple);
			slot->tts_tid = newtuple->t_self;
			if (!HeapTupleIsHeapOnly(newtuple))
				insert_update_index_entries(upd, slot, false);
#endif
			ExecClearTuple(slot);
			ResetPerTupleExprContext(upd->estate);
			updated++;
		}
	}

	ExecDropSingleTupleTableSlot(upd->oldslot);
	ExecDropSingleTupleTableSlot(upd->newslot);
	ExecCloseIndices(upd->rri);
	FreeExecutorState(upd->estate);
	index_close(upd->pkey, NoLock);
	table_close(rel, NoLock);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(upd->cxt);
	if (updated >= 0)
		CommandCounterIncrement();
	return updated;
}

/*
 * The writer: the choice, and the SQL way.
 */

/* Rows gathered for one SQL statement, a column at a time. */
typedef struct SqlRows
{
	int			ncolumns;
	Oid		   *types;
	int16	   *typlen;
	bool	   *typbyval;
	int			n;
	int			capacity;
	Datum	  **values;			/* ncolumns arrays of capacity */
	bool	  **nulls;
} SqlRows;

struct TableWrite
{
	MemoryContext cxt;			/* everything below */
	TableCommand command;
	char	   *table;
	int			ncolumns;
	TableColumn *columns;
	char	   *key_name;		/* UPDATE: the primary key's column */
	bool		distributed;	/* Citus distributes (or replicates) it */
	bool		by_book;		/* UPDATE of a table Citus distributes by
								 * book_id: one statement per book */
	int64		sql_book;		/* the book of the rows in sql */
	TableInsert *ins;			/* direct insertion, or NULL */
	TableUpdate *upd;			/* direct update, or NULL */
	SqlRows		sql;			/* rows for SQL (UPDATE: the key first) */
	int64		written;
};

/* The statements made here: their text, kept plan and argument types. */
typedef struct Generated
{
	char	   *sql;
	char	   *argtypes;
	LedgerStatement stmt;
} Generated;

#define GENERATED_MAX	64

static Generated generated[GENERATED_MAX];
static int	ngenerated = 0;

/* The statement of this text and argument types, made on first use. */
static LedgerStatement *
generated_statement(const char *sql, const char *argtypes)
{
	Generated  *g;

	for (int i = 0; i < ngenerated; i++)
		if (strcmp(generated[i].sql, sql) == 0 && strcmp(generated[i].argtypes, argtypes) == 0)
			return &generated[i].stmt;
	if (ngenerated == GENERATED_MAX)
		elog(ERROR, "too many generated ledger statements");
	g = &generated[ngenerated++];
	g->sql = MemoryContextStrdup(TopMemoryContext, sql);
	g->argtypes = MemoryContextStrdup(TopMemoryContext, argtypes);
	g->stmt.sql = g->sql;
	g->stmt.argtypes = g->argtypes;
	g->stmt.plan = NULL;
	g->stmt.generation = 0;
	return &g->stmt;
}

/* The statement parameter letter (spi.c) of a type, or of an array of it. */
static char
type_letter(Oid type, bool array)
{
	if (type == LedgerAmountTypeOid())
		return array ? 'A' : 'a';
	switch (type)
	{
		case INT8OID:
			return array ? 'B' : 'b';
		case INT4OID:
			return array ? 'I' : 'i';
		case TEXTOID:
			return array ? 'X' : 't';
		case JSONBOID:
			return array ? 'J' : 'j';
		case BOOLOID:
			return array ? 'O' : 'o';
		case TIMESTAMPTZOID:
			return array ? 'Z' : 'T';
		case BYTEAOID:
			return array ? 'H' : 'h';
		case XID8OID:
			return array ? 'Y' : 'x';
		case INTERVALOID:
			return array ? 'V' : 'v';
	}
	elog(ERROR, "no statement parameter for type %u", type);
	return '\0';				/* keep compiler quiet */
}

static void
sql_rows_init(SqlRows *rows, const Oid *types, int ncolumns)
{
	rows->ncolumns = ncolumns;
	rows->n = 0;
	rows->capacity = 0;
	rows->types = palloc(sizeof(Oid) * ncolumns);
	rows->typlen = palloc(sizeof(int16) * ncolumns);
	rows->typbyval = palloc(sizeof(bool) * ncolumns);
	rows->values = palloc0(sizeof(Datum *) * ncolumns);
	rows->nulls = palloc0(sizeof(bool *) * ncolumns);
	for (int c = 0; c < ncolumns; c++)
	{
		rows->types[c] = types[c];
		get_typlenbyval(types[c], &rows->typlen[c], &rows->typbyval[c]);
	}
}

/* Add a row, copying its values; the first `shift` columns come from key. */
static void
sql_rows_add(SqlRows *rows, const Datum *key, int shift, const Datum *values,
			 const bool *nulls)
{
	if (rows->n == rows->capacity)
	{
		rows->capacity = rows->capacity == 0 ? 16 : rows->capacity * 2;
		for (int c = 0; c < rows->ncolumns; c++)
		{
			rows->values[c] = rows->values[c] == NULL ?
				palloc(sizeof(Datum) * rows->capacity) :
				repalloc(rows->values[c], sizeof(Datum) * rows->capacity);
			rows->nulls[c] = rows->nulls[c] == NULL ?
				palloc(sizeof(bool) * rows->capacity) :
				repalloc(rows->nulls[c], sizeof(bool) * rows->capacity);
		}
	}
	for (int c = 0; c < rows->ncolumns; c++)
	{
		bool		isnull = c < shift ? false : nulls[c - shift];
		Datum		v = c < shift ? key[c] : values[c - shift];

		rows->nulls[c][rows->n] = isnull;
		rows->values[c][rows->n] = isnull ? (Datum) 0 :
			datumCopy(v, rows->typbyval[c], rows->typlen[c]);
	}
	rows->n++;
}

/* The rows' columns as array parameters, with their argtypes letters. */
static Datum *
sql_rows_params(SqlRows *rows, char *argtypes)
{
	Datum	   *params = palloc(sizeof(Datum) * rows->ncolumns);

	for (int c = 0; c < rows->ncolumns; c++)
	{
		bool		anynull = false;
		int			dims[1] = {rows->n};
		int			lbs[1] = {1};
		char		align;

		for (int r = 0; r < rows->n && !anynull; r++)
			anynull = rows->nulls[c][r];
		get_typlenbyvalalign(rows->types[c], &rows->typlen[c], &rows->typbyval[c], &align);
		params[c] = PointerGetDatum(construct_md_array(rows->values[c],
													   anynull ? rows->nulls[c] : NULL,
													   1, dims, lbs, rows->types[c],
													   rows->typlen[c], rows->typbyval[c], align));
		argtypes[c] = type_letter(rows->types[c], true);
	}
	argtypes[rows->ncolumns] = '\0';
	return params;
}

/* ", pg_catalog.unnest($1), ..." for n arrays. */
static void
append_unnests(StringInfo sql, int n)
{
	appendStringInfoString(sql, " ROWS FROM (");
	for (int c = 0; c < n; c++)
		appendStringInfo(sql, "%spg_catalog.unnest($%d)", c > 0 ? ", " : "", c + 1);
	appendStringInfoChar(sql, ')');
}

/*
 * Rows per INSERT ... VALUES statement into a table Citus distributes:
 * the largest that the rows left fill, so that a few statements of a few
 * shapes carry any number of rows.
 */
static const int values_chunks[] = {512, 64, 8, 2, 1};

/*
 * Insert the rows gathered into a table Citus distributes, as INSERT ...
 * VALUES statements, which Citus routes row by row to their shards.  It
 * would run INSERT ... SELECT FROM unnest() on the coordinator and COPY
 * the rows into the shards, and a COPY always commits by two-phase commit,
 * even when one node has all the rows.
 */
static void
sql_rows_insert_values(TableWrite *w)
{
	SqlRows    *rows = &w->sql;
	int			ncols = rows->ncolumns;

	for (int first = 0; first < rows->n;)
	{
		int			chunk = 1;
		StringInfoData sql;
		char	   *argtypes;
		Datum	   *params;
		char	   *nulls;
		int			p = 0;

		for (int k = 0; k < (int) lengthof(values_chunks); k++)
			if (values_chunks[k] <= rows->n - first)
			{
				chunk = values_chunks[k];
				break;
			}
		argtypes = palloc(chunk * ncols + 1);
		params = palloc(sizeof(Datum) * chunk * ncols);
		nulls = palloc(chunk * ncols);
		initStringInfo(&sql);
		appendStringInfo(&sql, "INSERT INTO ledger.%s (", quote_identifier(w->table));
		for (int c = 0; c < w->ncolumns; c++)
			appendStringInfo(&sql, "%s%s", c > 0 ? ", " : "",
							 quote_identifier(w->columns[c].name));
		appendStringInfoString(&sql, ") VALUES ");
		for (int r = first; r < first + chunk; r++)
		{
			appendStringInfoString(&sql, r > first ? ", (" : "(");
			for (int c = 0; c < ncols; c++)
			{
				appendStringInfo(&sql, "%s$%d", c > 0 ? ", " : "", p + 1);
				argtypes[p] = type_letter(rows->types[c], false);
				params[p] = rows->values[c][r];
				nulls[p] = rows->nulls[c][r] ? 'n' : ' ';
				p++;
			}
			appendStringInfoChar(&sql, ')');
		}
		argtypes[p] = '\0';
		LedgerExecuteWrite(generated_statement(sql.data, argtypes), params, nulls, 0);
		w->written += (int64) SPI_processed;
		pfree(sql.data);
		first += chunk;
	}
	rows->n = 0;
}

/* Run the statement for the rows gathered, and forget them. */
static void
sql_rows_run(TableWrite *w)
{
	SqlRows    *rows = &w->sql;
	StringInfoData sql;
	char		argtypes[TABLE_UPDATE_MAX_COLUMNS + 3];
	Datum	   *params;
	const char *t = quote_identifier(w->table);

	if (rows->n == 0)
		return;
	if (w->command == TABLE_INSERT && w->distributed)
	{
		sql_rows_insert_values(w);
		return;
	}
	Assert(rows->ncolumns <= TABLE_UPDATE_MAX_COLUMNS + 1);
	params = sql_rows_params(rows, argtypes);
	initStringInfo(&sql);
	switch (w->command)
	{
		case TABLE_INSERT:
			appendStringInfo(&sql, "INSERT INTO ledger.%s (", t);
			for (int c = 0; c < w->ncolumns; c++)
				appendStringInfo(&sql, "%s%s", c > 0 ? ", " : "",
								 quote_identifier(w->columns[c].name));
			appendStringInfoString(&sql, ") SELECT * FROM");
			append_unnests(&sql, rows->ncolumns);
			break;
		case TABLE_UPDATE:
			appendStringInfo(&sql, "UPDATE ledger.%s AS t SET ", t);
			for (int c = 0; c < w->ncolumns; c++)
				appendStringInfo(&sql, "%s%s = u.v%d", c > 0 ? ", " : "",
								 quote_identifier(w->columns[c].name), c + 1);
			appendStringInfoString(&sql, " FROM");
			append_unnests(&sql, rows->ncolumns);
			appendStringInfoString(&sql, " AS u(k");
			for (int c = 0; c < w->ncolumns; c++)
				appendStringInfo(&sql, ", v%d", c + 1);
			appendStringInfo(&sql, ") WHERE t.%s OPERATOR(pg_catalog.=) u.k",
							 quote_identifier(w->key_name));
			if (w->by_book)
			{
				/* The book as a value of its own, by which Citus routes it. */
				appendStringInfo(&sql, " AND t.book_id OPERATOR(pg_catalog.=) $%d",
								 rows->ncolumns + 1);
				params = repalloc(params, sizeof(Datum) * (rows->ncolumns + 1));
				params[rows->ncolumns] = Int64GetDatum(w->sql_book);
				strcat(argtypes, "b");
			}
			break;
		case TABLE_DELETE:
			appendStringInfo(&sql, "DELETE FROM ledger.%s AS t USING", t);
			append_unnests(&sql, rows->ncolumns);
			appendStringInfoString(&sql, " AS u(");
			for (int c = 0; c < w->ncolumns; c++)
				appendStringInfo(&sql, "%sv%d", c > 0 ? ", " : "", c + 1);
			appendStringInfoString(&sql, ") WHERE ");
			for (int c = 0; c < w->ncolumns; c++)
				appendStringInfo(&sql, "%st.%s OPERATOR(pg_catalog.=) u.v%d", c > 0 ? " AND " : "",
								 quote_identifier(w->columns[c].name), c + 1);
			break;
	}
	LedgerExecuteWrite(generated_statement(sql.data, argtypes), params, NULL, 0);
	w->written += (int64) SPI_processed;
	pfree(sql.data);
	rows->n = 0;
}

/* The one bigint column of the table's primary key, for a SQL update. */
static char *
primary_key_column(const char *table, bool *by_book)
{
	int			form_nkeys = 0;
	Relation	rel = table_open(get_relname_relid(table, LedgerNamespaceOid()), AccessShareLock);
	Oid			pkey = RelationGetPrimaryKeyIndex(rel);
	HeapTuple	tuple = OidIsValid(pkey) ?
		SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pkey)) : NULL;
	char	   *name = NULL;

	if (tuple != NULL && HeapTupleIsValid(tuple))
	{
		Form_pg_index form = (Form_pg_index) GETSTRUCT(tuple);

		form_nkeys = form->indnkeyatts;
		if (form->indnkeyatts == 1)
			name = get_attname(RelationGetRelid(rel), form->indkey.values[0], false);
		else if (form->indnkeyatts == 2 && TableIsDistributed(RelationGetRelid(rel)) &&
				 strcmp(get_attname(RelationGetRelid(rel), form->indkey.values[0], false),
						"book_id") == 0)
			name = get_attname(RelationGetRelid(rel), form->indkey.values[1], false);
		ReleaseSysCache(tuple);
	}
	table_close(rel, AccessShareLock);
	if (name == NULL)
		elog(ERROR, "table ledger.%s has no one-column primary key", table);
	if (by_book)
		*by_book = form_nkeys == 2;
	return name;
}

/* Gather the rows for SQL from now on. */
static void
sql_mode(TableWrite *w)
{
	Oid			types[TABLE_UPDATE_MAX_COLUMNS + 1];
	int			shift = w->command == TABLE_UPDATE ? 1 : 0;
	MemoryContext oldcxt;

	w->cxt = AllocSetContextCreate(CurrentMemoryContext, "ledger table write",
								   ALLOCSET_SMALL_SIZES);
	oldcxt = MemoryContextSwitchTo(w->cxt);
	w->distributed = TableIsDistributed(get_relname_relid(w->table, LedgerNamespaceOid()));
	if (w->command == TABLE_UPDATE)
	{
		w->key_name = primary_key_column(w->table, &w->by_book);
		types[0] = INT8OID;
	}
	for (int c = 0; c < w->ncolumns; c++)
		types[c + shift] = w->columns[c].type;
	sql_rows_init(&w->sql, types, w->ncolumns + shift);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * TableWriteBegin - open the ledger's table to write rows of the given
 * columns: inserted (every other column gets its default, as in INSERT
 * INTO table (columns...)), set by the table's one-column bigint primary
 * key (TableWriteUpdate), or deleted by the values of all the columns
 * given, which are the primary key's.  Caller is connected to SPI, and
 * keeps columns valid until TableWriteEnd.
 */
TableWrite *
TableWriteBegin(const char *table, TableCommand command, const TableColumn *columns,
				int ncolumns)
{
	TableWrite *w = palloc0(sizeof(TableWrite));

	Assert(ncolumns <= TABLE_UPDATE_MAX_COLUMNS);
	w->command = command;
	w->table = (char *) table;
	w->ncolumns = ncolumns;
	w->columns = (TableColumn *) columns;
	if (command == TABLE_INSERT)
		w->ins = TableInsertBegin(table, columns, ncolumns);
	else if (command == TABLE_UPDATE)
		w->upd = TableUpdateBegin(table, columns, ncolumns);
	if (w->ins == NULL && w->upd == NULL)
		sql_mode(w);
	return w;
}

/*
 * TableWriteRow - add a row to insert or delete: values and nulls of the
 * columns given to TableWriteBegin, in that order.  It reaches the table by
 * the end of TableWriteEnd.
 */
void
TableWriteRow(TableWrite *w, const Datum *values, const bool *nulls)
{
	MemoryContext oldcxt;

	Assert(w->command != TABLE_UPDATE);
	if (w->ins != NULL)
	{
		TableInsertRow(w->ins, values, nulls);
		return;
	}
	oldcxt = MemoryContextSwitchTo(w->cxt);
	sql_rows_add(&w->sql, NULL, 0, values, nulls);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * TableWriteRowUnlessKey - insert a row at once as INSERT ... ON CONFLICT
 * DO NOTHING would, arbitrated by the unique index on exactly the columns
 * key_columns (their positions among the columns given); false, with
 * nothing written, when a row of this transaction, a committed one or one
 * of a concurrent transaction that then commits holds the key.  A
 * concurrent holder of the key is waited for, as by the statement.  Rows
 * added before are written first.  The key's columns are not null: the
 * index may be partial on that.
 */
bool
TableWriteRowUnlessKey(TableWrite *w, const int *key_columns, int nkeys, const Datum *values,
					   const bool *nulls)
{
	StringInfoData sql;
	char		argtypes[TABLE_UPDATE_MAX_COLUMNS + 1];
	char		nullflags[TABLE_UPDATE_MAX_COLUMNS];

	Assert(w->command == TABLE_INSERT);
	if (w->ins != NULL)
		return TableInsertRowUnlessKey(w->ins, key_columns, nkeys, values, nulls);

	sql_rows_run(w);
	initStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO ledger.%s (", quote_identifier(w->table));
	for (int c = 0; c < w->ncolumns; c++)
	{
		appendStringInfo(&sql, "%s%s", c > 0 ? ", " : "", quote_identifier(w->columns[c].name));
		argtypes[c] = type_letter(w->columns[c].type, false);
		nullflags[c] = nulls[c] ? 'n' : ' ';
	}
	argtypes[w->ncolumns] = '\0';
	appendStringInfoString(&sql, ") VALUES (");
	for (int c = 0; c < w->ncolumns; c++)
		appendStringInfo(&sql, "%s$%d", c > 0 ? ", " : "", c + 1);
	appendStringInfoString(&sql, ") ON CONFLICT (");
	for (int k = 0; k < nkeys; k++)
		appendStringInfo(&sql, "%s%s", k > 0 ? ", " : "",
						 quote_identifier(w->columns[key_columns[k]].name));
	appendStringInfoString(&sql, ") WHERE ");
	for (int k = 0; k < nkeys; k++)
		appendStringInfo(&sql, "%s%s IS NOT NULL", k > 0 ? " AND " : "",
						 quote_identifier(w->columns[key_columns[k]].name));
	appendStringInfoString(&sql, " DO NOTHING");
	LedgerExecuteWrite(generated_statement(sql.data, argtypes), (Datum *) values, nullflags, 0);
	pfree(sql.data);
	w->written += (int64) SPI_processed;
	return SPI_processed > 0;
}

/*
 * TableWriteUpdate - set the columns given to TableWriteBegin in the row
 * whose primary key is key, which is looked for at hint (where the caller
 * locked it; NULL if unknown) first.  Caller holds the row's lock.  False if
 * a direct update finds no such row (or the guard skips it); through SQL the
 * row is found when the statement runs, and TableWriteEnd counts it.  book
 * is the row's book, by which a table that Citus distributes is updated
 * (one statement for each run of rows of one book); 0 for other tables.
 */
bool
TableWriteUpdate(TableWrite *w, int64 book, int64 key, ItemPointer hint,
				 const Datum *values, const bool *nulls)
{
	Datum		k = Int64GetDatum(key);
	MemoryContext oldcxt;

	Assert(w->command == TABLE_UPDATE);
	if (w->upd != NULL)
		return TableUpdateRow(w->upd, key, hint, values, nulls);
	if (w->by_book && book != w->sql_book)
	{
		sql_rows_run(w);
		w->sql_book = book;
	}
	oldcxt = MemoryContextSwitchTo(w->cxt);
	sql_rows_add(&w->sql, &k, 1, values, nulls);
	MemoryContextSwitchTo(oldcxt);
	return true;
}

/*
 * update_declined - the rows a direct update made, as SQL rows: the key and
 * the caller's columns of each new version.
 */
static void
update_declined(TableWrite *w)
{
	TableUpdate *upd = w->upd;
	TupleDesc	desc = RelationGetDescr(upd->rel);
	AttrNumber	keyatt = upd->pkey->rd_index->indkey.values[0];
	MemoryContext oldcxt;
	Datum		values[TABLE_UPDATE_MAX_COLUMNS];
	bool		nulls[TABLE_UPDATE_MAX_COLUMNS];

	sql_mode(w);
	oldcxt = MemoryContextSwitchTo(w->cxt);
	for (int t = 0; t < upd->ntargets; t++)
	{
		HeapTuple	tuple = upd->targets[t].newtuple;
		bool		isnull;
		Datum		key = heap_getattr(tuple, keyatt, desc, &isnull);

		for (int c = 0; c < upd->ncolumns; c++)
			values[c] = heap_getattr(tuple, upd->attnums[c], desc, &nulls[c]);
		sql_rows_add(&w->sql, &key, 1, values, nulls);
	}
	MemoryContextSwitchTo(oldcxt);
}

/*
 * TableWriteEnd - write what is left, close the table and free everything;
 * returns the number of rows written.  The rows are visible to the
 * statements the caller runs next.
 */
int64
TableWriteEnd(TableWrite *w)
{
	int64		written;

	if (w->ins != NULL)
		w->written += TableInsertEnd(w->ins);
	else if (w->upd != NULL)
	{
		if (w->upd->declined)
			update_declined(w);
		written = TableUpdateEnd(w->upd);
		if (written >= 0)
			w->written += written;
		else
			sql_rows_run(w);
	}
	else
		sql_rows_run(w);
	written = w->written;
	if (w->cxt != NULL)
		MemoryContextDelete(w->cxt);
	pfree(w);
	return written;
}

/*
 * TableDeleteById - delete the row of the ledger's table whose id (its
 * bigint primary key) is id; returns how many rows went.  Caller is
 * connected to SPI.
 */
int64
TableDeleteById(const char *table, int64 id)
{
	TableColumn key = {"id", INT8OID};
	Datum		value = Int64GetDatum(id);
	bool		null = false;
	TableWrite *w = TableWriteBegin(table, TABLE_DELETE, &key, 1);

	TableWriteRow(w, &value, &null);
	return TableWriteEnd(w);
}
