/*
 * schema.c - what the library needs of the ledger's tables, and the event
 * trigger that holds DDL to it.
 *
 * The C code reads and writes the tables' columns by name: each table's
 * columns are listed here once, with their types, and a table's attribute
 * numbers are looked up by name when first needed and kept until the
 * relation cache says the table changed (LedgerTableColumns).  A column a
 * DBA adds is therefore invisible to the library, and a dropped one leaves
 * no trace: every insertion gives an added column its default, every update
 * keeps its value.
 *
 * What the library cannot honour is refused when the DDL runs, not
 * discovered later by an unrelated call: the event triggers
 * ledger_guard_ddl and ledger_guard_ddl_drop check, after any DDL that
 * touched a table, index or sequence of the ledger, that
 *  - every table, index and sequence the library names still exists, under
 *    its name, in the extension's schema, and every index it relies on is
 *    still a valid unique index of its table;
 *  - every column the library reads or writes still exists with its type;
 *  - every other column can be left out of an INSERT: nullable, or with a
 *    default (an identity or generated column has one).
 * The extension's own scripts (CREATE EXTENSION, ALTER EXTENSION UPDATE)
 * are not checked: they change the tables in steps that the library of
 * their version expects only once they are done.
 */
#include "ledger.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

/* A column the library uses: its name and a type letter as in spi.c. */
typedef struct ColumnSpec
{
	const char *name;
	char		type;
} ColumnSpec;

static const ColumnSpec assets_spec[] = {
	{"code", 't'}, {"scale", 'i'}, {"created_at", 'T'}
};

static const ColumnSpec accounts_spec[] = {
	{"id", 'b'}, {"asset", 't'}, {"name", 't'}, {"normal_balance", 't'},
	{"min_balance", 'a'}, {"max_balance", 'a'}, {"closed", 'o'},
	{"metadata", 'j'}, {"created_at", 'T'}, {"debits_pending", 'a'},
	{"credits_pending", 'a'}, {"holds_expire_at", 'T'}, {"debits_posted", 'a'},
	{"credits_posted", 'a'}, {"version", 'b'}, {"updated_at", 'T'},
	{"entry_hash", 'h'}, {"hot", 'o'}, {"book_id", 'b'}, {"velocity", 'h'}
};

static const ColumnSpec transfers_spec[] = {
	{"id", 'b'}, {"debit_account_id", 'b'}, {"credit_account_id", 'b'},
	{"amount", 'a'}, {"idempotency_key", 't'}, {"description", 't'},
	{"metadata", 'j'}, {"created_at", 'T'}, {"hold_id", 'b'},
	{"reverses_transfer_id", 'b'}, {"book_id", 'b'}
};

static const ColumnSpec entries_spec[] = {
	{"id", 'b'}, {"transfer_id", 'b'}, {"account_id", 'b'},
	{"account_version", 'b'}, {"direction", 't'}, {"amount", 'a'},
	{"balance_after", 'a'}, {"created_at", 'T'}, {"hash", 'h'}, {"book_id", 'b'}
};

static const ColumnSpec holds_spec[] = {
	{"id", 'b'}, {"debit_account_id", 'b'}, {"credit_account_id", 'b'},
	{"amount", 'a'}, {"expires_at", 'T'}, {"idempotency_key", 't'},
	{"description", 't'}, {"metadata", 'j'}, {"created_at", 'T'},
	{"status", 't'}, {"captured_amount", 'a'}, {"capture_transfer_id", 'b'},
	{"resolved_at", 'T'}, {"debit_reserved", 'o'}, {"credit_reserved", 'o'},
	{"book_id", 'b'}, {"velocity", 'h'}
};

static const ColumnSpec hot_entries_spec[] = {
	{"id", 'b'}, {"account_id", 'b'}, {"transfer_id", 'b'}, {"direction", 't'},
	{"amount", 'a'}, {"created_at", 'T'}, {"book_id", 'b'}
};

static const ColumnSpec books_spec[] = {
	{"id", 'b'}, {"name", 't'}, {"metadata", 'j'}, {"created_at", 'T'},
	{"events", 'o'}
};

static const ColumnSpec grants_spec[] = {
	{"book_id", 'b'}, {"grantee", 'r'}, {"privilege", 't'},
	{"debit_accounts", 'B'}, {"credit_accounts", 'B'}, {"grant_option", 'o'},
	{"granted_by", 'r'}, {"granted_at", 'T'}
};

static const ColumnSpec events_spec[] = {
	{"id", 'b'}, {"xid", 'x'}, {"book_id", 'b'}, {"kind", 't'},
	{"account_id", 'b'}, {"debit_account_id", 'b'}, {"credit_account_id", 'b'},
	{"amount", 'a'}, {"transfer_id", 'b'}, {"hold_id", 'b'},
	{"idempotency_key", 't'}, {"description", 't'}, {"metadata", 'j'},
	{"detail", 'j'}, {"created_at", 'T'}
};

static const ColumnSpec consumers_spec[] = {
	{"id", 'b'}, {"name", 't'}, {"owner", 'r'}, {"books", 'B'}, {"position_xid", 'x'},
	{"position_id", 'b'}, {"created_at", 'T'}, {"acked_at", 'T'}
};

static const ColumnSpec monitors_spec[] = {
	{"id", 'b'}, {"account_id", 'b'}, {"book_id", 'b'}, {"name", 't'},
	{"balance", 't'}, {"op", 't'}, {"threshold", 'a'}, {"created_by", 'r'},
	{"created_at", 'T'}
};

static const ColumnSpec velocity_limits_spec[] = {
	{"id", 'b'}, {"account_id", 'b'}, {"book_id", 'b'}, {"direction", 't'},
	{"window", 'v'}, {"max_amount", 'a'}, {"max_count", 'i'}, {"action", 't'},
	{"name", 't'}, {"created_by", 'r'}, {"created_at", 'T'}
};

/*
 * The unique indexes the library names (arbiters, lookups by key, the
 * primary keys it probes) or whose uniqueness a rule of money rests on.
 */
static const char *const assets_indexes[] = {"assets_pkey", NULL};
static const char *const accounts_indexes[] = {"accounts_pkey", "accounts_book_id_name_key", NULL};
static const char *const transfers_indexes[] = {"transfers_pkey", "transfers_book_id_idempotency_key_key", NULL};
static const char *const entries_indexes[] = {"entries_pkey", "entries_id_key", NULL};
static const char *const holds_indexes[] = {"hold_records_pkey", "hold_records_book_id_idempotency_key_key", NULL};
static const char *const hot_entries_indexes[] = {"hot_entries_pkey", NULL};
static const char *const books_indexes[] = {"books_pkey", "books_name_key", NULL};
static const char *const grants_indexes[] = {"grants_pkey", NULL};
static const char *const events_indexes[] = {"events_pkey", NULL};
static const char *const consumers_indexes[] = {"consumers_pkey", "consumers_name_key", NULL};
static const char *const monitors_indexes[] = {"monitors_pkey", NULL};
static const char *const velocity_limits_indexes[] = {"velocity_limits_pkey", NULL};

typedef struct TableSpec
{
	const char *name;
	const ColumnSpec *columns;
	int			ncolumns;
	const char *const *indexes;
	const char *sequence;		/* of its ids, or NULL */
} TableSpec;

/* In the order of LedgerTable. */
static const TableSpec table_specs[LEDGER_NTABLES] = {
	{"assets", assets_spec, lengthof(assets_spec), assets_indexes, NULL},
	{"accounts", accounts_spec, lengthof(accounts_spec), accounts_indexes, "accounts_id_seq"},
	{"transfers", transfers_spec, lengthof(transfers_spec), transfers_indexes, "transfers_id_seq"},
	{"entries", entries_spec, lengthof(entries_spec), entries_indexes, "entries_id_seq"},
	{"hold_records", holds_spec, lengthof(holds_spec), holds_indexes, "hold_records_id_seq"},
	{"hot_entries", hot_entries_spec, lengthof(hot_entries_spec), hot_entries_indexes, "hot_entries_id_seq"},
	{"books", books_spec, lengthof(books_spec), books_indexes, "books_id_seq"},
	{"grants", grants_spec, lengthof(grants_spec), grants_indexes, NULL},
	{"events", events_spec, lengthof(events_spec), events_indexes, "events_id_seq"},
	{"consumers", consumers_spec, lengthof(consumers_spec), consumers_indexes, "consumers_id_seq"},
	{"monitors", monitors_spec, lengthof(monitors_spec), monitors_indexes, "monitors_id_seq"},
	{"velocity_limits", velocity_limits_spec, lengthof(velocity_limits_spec),
	 velocity_limits_indexes, "velocity_limits_id_seq"}
};

StaticAssertDecl(lengthof(accounts_spec) == ACCOUNTS_NCOLUMNS,
				 "accounts_spec matches AccountsColumn");
StaticAssertDecl(lengthof(holds_spec) == HOLDS_NCOLUMNS,
				 "holds_spec matches HoldsColumn");
StaticAssertDecl(lengthof(grants_spec) == GRANTS_NCOLUMNS,
				 "grants_spec matches GrantsColumn");

/* Attribute numbers by column, per table, as last looked up. */
typedef struct ColumnMap
{
	Oid			relid;			/* InvalidOid: not looked up */
	AttrNumber	attnums[32];
} ColumnMap;

static ColumnMap column_maps[LEDGER_NTABLES];
static bool column_maps_callback = false;

static void
forget_column_maps(Datum arg, Oid relid)
{
	for (int t = 0; t < LEDGER_NTABLES; t++)
		if (!OidIsValid(relid) || column_maps[t].relid == relid)
			column_maps[t].relid = InvalidOid;
}

/* The type OID of a type letter. */
static Oid
spec_type(char letter)
{
	switch (letter)
	{
		case 'b':
			return INT8OID;
		case 'B':
			return INT8ARRAYOID;
		case 'r':
			return REGROLEOID;
		case 'x':
			return XID8OID;
		case 'i':
			return INT4OID;
		case 't':
			return TEXTOID;
		case 'o':
			return BOOLOID;
		case 'T':
			return TIMESTAMPTZOID;
		case 'j':
			return JSONBOID;
		case 'h':
			return BYTEAOID;
		case 'v':
			return INTERVALOID;
		case 'a':
			return LedgerAmountTypeOid();
	}
	elog(ERROR, "unknown column type letter '%c'", letter);
	return InvalidOid;			/* keep compiler quiet */
}

/* The live attribute of rel named name, or NULL. */
static Form_pg_attribute
find_attribute(TupleDesc desc, const char *name)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);

		if (!attr->attisdropped && strcmp(NameStr(attr->attname), name) == 0)
			return attr;
	}
	return NULL;
}

/*
 * LedgerTableColumns - the attribute numbers of the ledger table's columns in
 * rel, indexed by the table's column enum (AccountsColumn, HoldsColumn...).
 *
 * A column the library expects but rel lacks means that the library and the
 * extension's tables are of different versions, and is reported as such.
 */
const AttrNumber *
LedgerTableColumns(Relation rel, LedgerTable table)
{
	const TableSpec *spec = &table_specs[table];
	ColumnMap  *map = &column_maps[table];
	TupleDesc	desc = RelationGetDescr(rel);

	if (map->relid == RelationGetRelid(rel))
		return map->attnums;
	if (!column_maps_callback)
	{
		LedgerOnRelcacheInvalidation(forget_column_maps);
		column_maps_callback = true;
	}
	Assert(spec->ncolumns <= (int) lengthof(map->attnums));
	for (int c = 0; c < spec->ncolumns; c++)
	{
		Form_pg_attribute attr = find_attribute(desc, spec->columns[c].name);

		if (attr == NULL || attr->atttypid != spec_type(spec->columns[c].type))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table \"%s\" does not have the columns this version of the ledger library expects",
							spec->name),
					 errdetail("Column \"%s\" is missing or has another type.",
							   spec->columns[c].name),
					 errhint("Run ALTER EXTENSION ledger UPDATE, or install the library that matches the extension's version.")));
		map->attnums[c] = attr->attnum;
	}
	map->relid = RelationGetRelid(rel);
	return map->attnums;
}

/* Refuse the DDL that broke the ledger's tables. */
static void
refuse_ddl(const char *what, const char *detail, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_LEDGER_UNSUPPORTED_DDL),
			 errmsg("%s", what),
			 errdetail("%s", detail),
			 errhint("%s", hint)));
}

/* Check one table against what the library needs of it. */
static void
check_table(Oid ns, const TableSpec *spec)
{
	Oid			relid = get_relname_relid(spec->name, ns);
	Relation	rel;
	TupleDesc	desc;

	if (!OidIsValid(relid) || get_rel_relkind(relid) != RELKIND_RELATION)
		refuse_ddl(psprintf("cannot rename table \"%s\" of the ledger or move it out of its schema",
							spec->name),
				   "The ledger's functions find their tables by name in the extension's schema.",
				   "Rename it back, or move it back into the schema.");
	rel = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);

	for (int c = 0; c < spec->ncolumns; c++)
	{
		Form_pg_attribute attr = find_attribute(desc, spec->columns[c].name);

		if (attr == NULL)
			refuse_ddl(psprintf("cannot drop or rename column \"%s\" of table \"%s\"",
								spec->columns[c].name, spec->name),
					   "The ledger's functions read and write this column.",
					   "Keep the ledger's columns; add columns of your own beside them.");
		if (attr->atttypid != spec_type(spec->columns[c].type) || attr->atttypmod != -1)
			refuse_ddl(psprintf("cannot change the type of column \"%s\" of table \"%s\"",
								spec->columns[c].name, spec->name),
					   psprintf("The ledger's functions read and write it as %s.",
								format_type_be(spec_type(spec->columns[c].type))),
					   "Keep the ledger's columns as they are; add columns of your own beside them.");
	}

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);
		bool		ours = false;

		if (attr->attisdropped || !attr->attnotnull || attr->atthasdef ||
			attr->attidentity != '\0' || attr->attgenerated != '\0')
			continue;
		for (int c = 0; c < spec->ncolumns && !ours; c++)
			ours = strcmp(NameStr(attr->attname), spec->columns[c].name) == 0;
		if (!ours)
			refuse_ddl(psprintf("column \"%s\" of table \"%s\" must be nullable or have a default",
								NameStr(attr->attname), spec->name),
					   "The ledger inserts rows without the columns it does not know of, which then get their defaults.",
					   "Add the column with a DEFAULT, or without NOT NULL.");
	}
	table_close(rel, AccessShareLock);

	for (const char *const *index = spec->indexes; *index != NULL; index++)
	{
		Oid			indexid = get_relname_relid(*index, ns);
		HeapTuple	tuple;
		bool		valid = false;

		if (OidIsValid(indexid) &&
			HeapTupleIsValid(tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexid))))
		{
			Form_pg_index form = (Form_pg_index) GETSTRUCT(tuple);

			valid = form->indrelid == relid && form->indisunique && form->indisvalid;
			ReleaseSysCache(tuple);
		}
		if (!valid)
			refuse_ddl(psprintf("cannot drop or rename index \"%s\" of table \"%s\"",
								*index, spec->name),
					   "The ledger's functions rely on this unique index by name.",
					   "Keep the ledger's unique indexes; create indexes of your own beside them.");
	}
	if (spec->sequence != NULL &&
		get_rel_relkind(get_relname_relid(spec->sequence, ns)) != RELKIND_SEQUENCE)
		refuse_ddl(psprintf("cannot rename sequence \"%s\" of the ledger or move it out of its schema",
							spec->sequence),
				   "The ledger's functions draw ids from it by name.",
				   "Rename it back, or move it back into the schema.");
}

/* Set by ledger.distribute() (distribute.c) around its changes of the keys. */
bool		LedgerDistributing = false;

/*
 * check_ledger_schema_if - check every ledger table if the query over the
 * event trigger's commands (which names the ledger's schema as $1) finds
 * one that concerns the ledger.  Returns without a look otherwise.
 */
static void
check_ledger_schema_if(const char *query)
{
	Oid			ns;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	bool		concerned;

	/* The extension's own scripts, and ledger.distribute(), change the tables in steps. */
	if (creating_extension || LedgerDistributing ||
		!OidIsValid(get_extension_oid("ledger", true)))
		return;
	ns = LedgerNamespaceOid();
	LedgerConnect();
	values[0] = CStringGetTextDatum(get_namespace_name(ns));
	if (SPI_execute_with_args(query, 1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the event trigger's commands");
	concerned = SPI_processed > 0;
	SPI_finish();
	if (!concerned)
		return;
	for (int t = 0; t < LEDGER_NTABLES; t++)
		check_table(ns, &table_specs[t]);
}

/*
 * ledger_guard_ddl - event trigger on ddl_command_end: refuse a change to a
 * table, index or sequence of the ledger that the library cannot work
 * with.  A table moved out of the schema is still found: it stays a member
 * of the extension.
 */
PG_FUNCTION_INFO_V1(ledger_guard_ddl);
Datum
ledger_guard_ddl(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"ledger.guard_ddl\" was not called by the event trigger manager")));
	check_ledger_schema_if(
		"SELECT 1 FROM pg_catalog.pg_event_trigger_ddl_commands() AS c"
		" WHERE c.schema_name OPERATOR(pg_catalog.=) $1"
		"    OR (c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
		"        AND EXISTS (SELECT FROM pg_catalog.pg_depend AS d"
		"                     JOIN pg_catalog.pg_extension AS e ON e.oid OPERATOR(pg_catalog.=) d.refobjid"
		"                    WHERE d.classid OPERATOR(pg_catalog.=) c.classid"
		"                      AND d.objid OPERATOR(pg_catalog.=) c.objid"
		"                      AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass"
		"                      AND d.deptype OPERATOR(pg_catalog.=) 'e'"
		"                      AND e.extname OPERATOR(pg_catalog.=) 'ledger'))"
		" LIMIT 1");
	PG_RETURN_VOID();
}

/*
 * ledger_guard_ddl_drop - event trigger on sql_drop: refuse dropping a
 * column, index or anything else of the ledger's schema that the library
 * needs.
 */
PG_FUNCTION_INFO_V1(ledger_guard_ddl_drop);
Datum
ledger_guard_ddl_drop(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"ledger.guard_ddl_drop\" was not called by the event trigger manager")));
	check_ledger_schema_if(
		"SELECT 1 FROM pg_catalog.pg_event_trigger_dropped_objects() AS o"
		" WHERE o.schema_name OPERATOR(pg_catalog.=) $1 LIMIT 1");
	PG_RETURN_VOID();
}
