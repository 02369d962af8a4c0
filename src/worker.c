/*
 * worker.c - the background worker that expires holds on its own, and
 * wakes the consumers of events.
 *
 * Lazy expiry already stops an expired hold from counting against an
 * account the next time the account is locked; the worker makes the
 * release visible in ledger.hold_records without waiting for that, so that
 * reports and the holds view need no interpretation.  It runs only when the
 * library is in shared_preload_libraries, connects to one database
 * (ledger.expiry_database) and calls ledger.expire_holds() every
 * ledger.expiry_interval, batch after batch until a batch releases nothing.
 * Each round also applies the queued postings of hot accounts
 * (ledger.apply_hot_entries), so that their statements stay current even
 * when nothing else locks them.
 *
 * It also sends the NOTIFY ledger_events of the transactions in its
 * database that commit events (events.c): the worker notifies once for
 * every commit since its last NOTIFY, at most once every
 * NOTIFY_MIN_INTERVAL_MS, so that the writers never wait for each other's
 * NOTIFY.  A committing transaction counts itself, and sets the worker's
 * latch only when the worker sleeps; while commits keep coming, the worker
 * pauses between NOTIFYs and finds them counted, so that no writer pays
 * for a signal.
 *
 * An error ends the worker; the postmaster starts it again after
 * EXPIRY_WORKER_RESTART_SECONDS, which is all the recovery a retry of
 * expire_holds() needs.
 */
#include "ledger.h"

#include "access/xact.h"
#include "commands/async.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

#define EXPIRY_WORKER_RESTART_SECONDS 10
#define EXPIRY_BATCH 1000
#define NOTIFY_MIN_INTERVAL_MS 5

static char *expiry_database = NULL;
static int	expiry_interval_ms = 1000;

PGDLLEXPORT void ledger_expiry_worker_main(Datum main_arg);

/*
 * LedgerDefineExpiryGucs - the worker's settings.
 *
 * The database can only be chosen at server start, so it exists only when
 * the library is preloaded.  The interval is defined whenever the library
 * is loaded; without preloading, a session knows it only after its first
 * call of a ledger function, as with any extension's settings.
 */
void
LedgerDefineExpiryGucs(void)
{
	if (process_shared_preload_libraries_in_progress)
		DefineCustomStringVariable("ledger.expiry_database",
								   "Database in which the hold expiry worker runs.",
								   "Takes effect at server start.",
								   &expiry_database,
								   "postgres",
								   PGC_POSTMASTER,
								   0,
								   NULL, NULL, NULL);
	DefineCustomIntVariable("ledger.expiry_interval",
							"Time between two runs of the hold expiry worker.",
							NULL,
							&expiry_interval_ms,
							1000,
							10,
							INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
}

/*
 * LedgerRegisterExpiryWorker - called from _PG_init while the library is
 * being preloaded.
 */
void
LedgerRegisterExpiryWorker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = EXPIRY_WORKER_RESTART_SECONDS;
	strlcpy(worker.bgw_library_name, "ledger", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "ledger_expiry_worker_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "ledger hold expiry worker", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "ledger hold expiry worker", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/*
 * expire_batch - one transaction: expire up to EXPIRY_BATCH holds.
 *
 * Returns how many holds it released, or -1 when the extension is not
 * installed in the worker's database.
 */
static int
expire_batch(void)
{
	int			expired = -1;
	bool		isnull;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	LedgerConnect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "SELECT ledger.expire_holds()");

	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_extension"
					" WHERE extname OPERATOR(pg_catalog.=) 'ledger'", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the ledger extension");
	/*
	 * On a Citus worker the shards' holds are expired by the coordinator's
	 * worker, through which every write goes.
	 */
	if (SPI_processed > 0 && LedgerIsCitusWorker())
		expired = 0;
	else if (SPI_processed > 0)
	{
		if (SPI_execute("SELECT ledger.expire_holds(" CppAsString2(EXPIRY_BATCH) ")",
						false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not run ledger.expire_holds()");
		expired = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1, &isnull));

		/* Hot accounts' queues too, once the extension has them (0.2.0). */
		if (SPI_execute("SELECT ledger.apply_hot_entries()"
						" WHERE pg_catalog.to_regprocedure('ledger.apply_hot_entries(bigint)')"
						" IS NOT NULL", false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not run ledger.apply_hot_entries()");
	}

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	return expired;
}

/*
 * One transaction: NOTIFY ledger_events.  A wake-up needs no durability, so
 * its commit does not wait for the WAL flush.
 */
static void
notify_consumers(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) set_config_option("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	EventsNotify();
	CommitTransactionCommand();
#if PG_VERSION_NUM < 150000
	ProcessCompletedNotifies();
#endif
}

/*
 * ledger_expiry_worker_main - entry point of the background worker.
 */
void
ledger_expiry_worker_main(Datum main_arg)
{
	bool		reported_missing = false;
	uint64		notified;
	TimestampTz next_expiry;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(expiry_database, NULL, 0);
	pgstat_report_appname("ledger hold expiry worker");
	ereport(LOG,
			(errmsg("ledger hold expiry worker started in database \"%s\"",
					expiry_database)));

	EventsWorkerAttach();
	notified = EventsCommitted();
	next_expiry = GetCurrentTimestamp();

	for (;;)
	{
		int			expired;
		uint64		committed;
		TimestampTz now;
		long		wait_ms;

		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		committed = EventsCommitted();
		if (committed != notified)
		{
			notified = committed;
			notify_consumers();
			/* Commits meanwhile share the next NOTIFY. */
			(void) WaitLatch(MyLatch, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 NOTIFY_MIN_INTERVAL_MS, PG_WAIT_EXTENSION);
		}

		now = GetCurrentTimestamp();
		if (now >= next_expiry)
		{
			do
			{
				expired = expire_batch();
				CHECK_FOR_INTERRUPTS();
			} while (expired > 0);

			if (expired < 0 && !reported_missing)
				ereport(LOG,
						(errmsg("ledger hold expiry worker is waiting for CREATE EXTENSION ledger in database \"%s\"",
								expiry_database)));
			reported_missing = expired < 0;
			now = GetCurrentTimestamp();
			next_expiry = TimestampTzPlusMilliseconds(now, expiry_interval_ms);
		}

		/* Asleep: a committing writer sets the latch. */
		if (EventsWorkerIdle(true) != notified)
		{
			(void) EventsWorkerIdle(false);
			continue;
		}
		wait_ms = (long) ((next_expiry - now + 999) / 1000);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(wait_ms, 1), PG_WAIT_EXTENSION);
		(void) EventsWorkerIdle(false);
	}
}
