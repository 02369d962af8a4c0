/*
 * distribute.c - ledger.distribute(): the ledger over a Citus cluster, by
 * book.
 *
 * Books, assets, grants and consumers become reference tables (a copy on
 * every node); accounts, transfers, entries, holds, the hot queue, events,
 * monitors and velocity limits become tables distributed by book_id, all
 * colocated, so that every row of a book is in one shard group on one
 * node.  Citus requires every unique key of a distributed table to include
 * its distribution column, so the keys on id alone become (book_id, id);
 * ids stay unique over the whole ledger, being drawn from the
 * coordinator's sequences only (spi.c refuses to draw them on a worker).
 *
 * Each node's tables are the extension's own, made by its CREATE
 * EXTENSION, and Citus propagates later DDL of a distributed table to the
 * workers' copies: so the keys change alike on every node, first on the
 * workers (ledger.prepare_distribution(), through Citus's
 * run_command_on_workers, each a transaction of its own that a second run
 * finds done), then here, where the rest is one transaction.  The foreign
 * keys to books and assets are dropped while the tables are distributed
 * and made again after: Citus would otherwise convert the referring tables
 * on the way, renaming them.  The DDL guard (schema.c) stands aside for
 * these steps only.
 *
 * Only an empty ledger is distributed: create_distributed_table would copy
 * the rows into the shards through this backend, around the guards.
 */
#include "ledger.h"

#include "table.h"

#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

/* The tables of a book, distributed by book_id with accounts. */
static const char *const distributed_tables[] = {
	"accounts", "transfers", "entries", "hold_records", "hot_entries", "events",
	"monitors", "velocity_limits"
};

/* The tables every node keeps whole. */
static const char *const reference_tables[] = {
	"books", "assets", "grants", "consumers"
};

/* The key changes, in order; each node's tables go through the same. */
static const char *const key_changes[] = {
	"ALTER TABLE ledger.accounts DROP CONSTRAINT IF EXISTS accounts_asset_fkey",
	"ALTER TABLE ledger.grants DROP CONSTRAINT IF EXISTS grants_book_id_fkey",
	"ALTER TABLE ledger.accounts DROP CONSTRAINT accounts_pkey,"
	" ADD CONSTRAINT accounts_pkey PRIMARY KEY (book_id, id)",
	"ALTER TABLE ledger.transfers DROP CONSTRAINT transfers_pkey,"
	" ADD CONSTRAINT transfers_pkey PRIMARY KEY (book_id, id)",
	"ALTER TABLE ledger.entries DROP CONSTRAINT entries_pkey,"
	" ADD CONSTRAINT entries_pkey PRIMARY KEY (book_id, account_id, account_version)",
	"DROP INDEX ledger.entries_id_key",
	"CREATE UNIQUE INDEX entries_id_key ON ledger.entries (book_id, id)",
	"ALTER TABLE ledger.hold_records DROP CONSTRAINT hold_records_pkey,"
	" ADD CONSTRAINT hold_records_pkey PRIMARY KEY (book_id, id)",
	"ALTER TABLE ledger.hot_entries DROP CONSTRAINT hot_entries_pkey,"
	" ADD CONSTRAINT hot_entries_pkey PRIMARY KEY (book_id, account_id, id)",
	"ALTER TABLE ledger.events DROP CONSTRAINT events_pkey,"
	" ADD CONSTRAINT events_pkey PRIMARY KEY (book_id, xid, id)",
	"ALTER TABLE ledger.monitors DROP CONSTRAINT monitors_pkey,"
	" ADD CONSTRAINT monitors_pkey PRIMARY KEY (book_id, id)",
	"ALTER TABLE ledger.velocity_limits DROP CONSTRAINT velocity_limits_pkey,"
	" ADD CONSTRAINT velocity_limits_pkey PRIMARY KEY (book_id, id)"
};

/* Run one statement of ours; the result, if any, is the first column. */
static char *
run(const char *sql)
{
	bool		isnull;
	Datum		d;

	if (SPI_execute(sql, false, 0) < 0)
		elog(ERROR, "could not run \"%s\"", sql);
	if (SPI_tuptable == NULL || SPI_processed == 0 ||
		SPI_gettypeid(SPI_tuptable->tupdesc, 1) != TEXTOID)
		return NULL;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? NULL : TextDatumGetCString(d);
}

/* Is this node a worker of a Citus cluster (its group not the coordinator's)? */
static bool
is_worker(void)
{
	char	   *group = run("SELECT (SELECT groupid FROM pg_catalog.pg_dist_local_group)::text");

	return group != NULL && strcmp(group, "0") != 0;
}

/* Refuse a caller that may not change the ledger's tables. */
static void
check_superuser(const char *function)
{
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s", function),
				 errdetail("Only a superuser may change the keys of the ledger's tables.")));
}

/*
 * Change this node's keys, unless done before: true if it changed them.
 * The workers' book 1 goes too (keep_books false): their books table is
 * about to be a shell, and the coordinator's copy is the one every node
 * gets.
 */
static bool
prepare_tables(bool keep_books)
{
	char	   *nkeys;

	nkeys = run("SELECT pg_catalog.array_length(i.indkey, 1)::text"
					  "  FROM pg_catalog.pg_index AS i"
					  " WHERE i.indexrelid OPERATOR(pg_catalog.=)"
					  "       'ledger.accounts_pkey'::pg_catalog.regclass");
	if (nkeys != NULL && strcmp(nkeys, "2") == 0)
		return false;

	LedgerDistributing = true;
	PG_TRY();
	{
		for (int i = 0; i < (int) lengthof(key_changes); i++)
			(void) run(key_changes[i]);
		if (!keep_books)
		{
			/* The guards would refuse it: they are not to fire. */
			(void) run("SELECT pg_catalog.set_config('session_replication_role', 'replica', true)");
			(void) run("TRUNCATE ledger.books");
			(void) run("SELECT pg_catalog.set_config('session_replication_role', 'origin', true)");
		}
	}
	PG_FINALLY();
	{
		LedgerDistributing = false;
	}
	PG_END_TRY();
	return true;
}

/*
 * ledger_prepare_distribution - ledger.prepare_distribution(): a worker's
 * part of ledger.distribute(), which calls it on each worker, and the step
 * that readies a new server before citus_add_node adds it to a
 * distributed ledger; true if it changed the keys, false if a run before
 * had.  Refused on a coordinator.
 */
PG_FUNCTION_INFO_V1(ledger_prepare_distribution);
Datum
ledger_prepare_distribution(PG_FUNCTION_ARGS)
{
	bool		changed;

	check_superuser("ledger.prepare_distribution");
	LedgerConnect();
	/* A worker, or a server not yet in a cluster (about to be added). */
	if (!is_worker() &&
		run("SELECT 'x' FROM pg_catalog.pg_dist_node LIMIT 1") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("ledger.prepare_distribution() runs on the workers only"),
				 errhint("Call ledger.distribute() on the coordinator.")));
	changed = prepare_tables(false);
	SPI_finish();
	PG_RETURN_BOOL(changed);
}

/* Run a query on every worker through Citus; refuse any failure or answer but want. */
static void
on_workers(const char *query, const char *want, const char *what)
{
	char	   *sql = psprintf("SELECT nodename || ':' || nodeport, success, result"
							   "  FROM pg_catalog.run_command_on_workers(%s)",
							   quote_literal_cstr(query));

	if (SPI_execute(sql, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not run \"%s\" on the workers", query);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		char	   *node = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[r],
															 SPI_tuptable->tupdesc, 1, &isnull));
		bool		success = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[r],
														 SPI_tuptable->tupdesc, 2, &isnull));
		Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3, &isnull);
		char	   *result = isnull ? "" : TextDatumGetCString(d);

		if (!success || (want != NULL && strcmp(result, want) != 0))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot distribute the ledger: %s on worker %s", what, node),
					 errdetail("The worker answered: %s", result[0] ? result : "(nothing)"),
					 errhint("Every worker needs CREATE EXTENSION ledger at the coordinator's version, by a superuser.")));
	}
}

/*
 * ledger_distribute - ledger.distribute(): distribute the ledger's tables
 * over the Citus cluster; see the file header.  Run once, on the
 * coordinator, by a superuser, after CREATE EXTENSION citus and ledger on
 * every node and citus_add_node for each worker.
 */
PG_FUNCTION_INFO_V1(ledger_distribute);
Datum
ledger_distribute(PG_FUNCTION_ARGS)
{
	Oid			ns = LedgerNamespaceOid();
	char	   *version;
	int			gucs;

	check_superuser("ledger.distribute");
	if (!OidIsValid(get_extension_oid("citus", true)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot distribute the ledger: extension \"citus\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION citus on every node first.")));
	if (TableIsDistributed(get_relname_relid("accounts", ns)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the ledger is distributed already")));

	LedgerConnect();
	if (is_worker())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot distribute the ledger from a worker"),
				 errhint("Call ledger.distribute() on the coordinator.")));
	for (int t = 0; t < (int) lengthof(distributed_tables); t++)
		if (run(psprintf("SELECT 'x' FROM ledger.%s LIMIT 1", distributed_tables[t])) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot distribute the ledger: table ledger.%s has rows",
							distributed_tables[t]),
					 errhint("Distribute the ledger before its first account.")));

	/*
	 * Settings for this call only, undone on return as a SET clause would
	 * be: Citus's NOTICEs for each table are quieted; Citus copies a
	 * reference table's rows into its placement on this node through this
	 * backend, which is not a ledger function, so the guards are off for
	 * it; and a foreign key to a reference table wants one connection per
	 * node.
	 */
	gucs = NewGUCNestLevel();
	(void) set_config_option("client_min_messages", "warning", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("citus.enable_unsafe_triggers", "on", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("citus.multi_shard_modify_mode", "sequential", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	version = run("SELECT extversion FROM pg_catalog.pg_extension"
				  " WHERE extname OPERATOR(pg_catalog.=) 'ledger'");
	on_workers("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'ledger'",
			   version, psprintf("the ledger is not at version %s", version));
	on_workers("SELECT ledger.prepare_distribution()", NULL,
			   "the keys of the ledger's tables could not be changed");

	(void) prepare_tables(true);
	LedgerDistributing = true;
	PG_TRY();
	{
		for (int t = 0; t < (int) lengthof(reference_tables); t++)
		{
			const char *name = reference_tables[t];

			(void) run(psprintf("ALTER TABLE ledger.%s DISABLE TRIGGER USER", name));
			(void) run(psprintf("SELECT pg_catalog.create_reference_table('ledger.%s')", name));
			(void) run(psprintf("SELECT pg_catalog.truncate_local_data_after_distributing_table('ledger.%s')",
								name));
			(void) run(psprintf("ALTER TABLE ledger.%s ENABLE TRIGGER USER", name));
		}
		(void) run("SELECT pg_catalog.create_distributed_table('ledger.accounts', 'book_id')");
		for (int t = 1; t < (int) lengthof(distributed_tables); t++)
			(void) run(psprintf("SELECT pg_catalog.create_distributed_table('ledger.%s', 'book_id',"
								" colocate_with => 'ledger.accounts')", distributed_tables[t]));
		(void) run("ALTER TABLE ledger.accounts ADD CONSTRAINT accounts_asset_fkey"
				   " FOREIGN KEY (asset) REFERENCES ledger.assets (code)");
		(void) run("ALTER TABLE ledger.grants ADD CONSTRAINT grants_book_id_fkey"
				   " FOREIGN KEY (book_id) REFERENCES ledger.books (id)");
	}
	PG_FINALLY();
	{
		LedgerDistributing = false;
	}
	PG_END_TRY();
	AtEOXact_GUC(true, gucs);
	SPI_finish();
	PG_RETURN_VOID();
}
