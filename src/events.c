/*
 * events.c - the events a change of a book publishes, written with it.
 *
 * The posting pipeline hands this file one LedgerEvent per change it makes
 * in a book whose events are on (ledger.books.events, EventsEnabled), and
 * EventsWrite appends them to ledger.events through table.c, all of a run
 * at once, in the caller's transaction: an event commits with its change or
 * not at all.  The rows get their id from events_id_seq and their xid from
 * the writing transaction (the columns' defaults), which is what consumers
 * order and fence them by (consumer.c).
 *
 * Whether a book publishes is kept per backend and forgotten when a change
 * of ledger.books commits (set_book_events sends the invalidation), so a
 * book that does not publish costs a hash lookup per run.
 *
 * Balance monitors (ledger.monitors) are read here too, per account, when
 * a run first locks the account, and kept per backend until a change of
 * the table commits; while no monitor exists at all, a run asks nothing.
 *
 * Waking consumers.  A NOTIFY in the writing transaction would serialise
 * the commits of every writer (PostgreSQL takes one lock over the commit of
 * every notifying transaction, WAL flush included: in bench, a quarter of
 * the commit rate at 16 clients).  So when the ledger's background worker
 * runs in this database, a committing transaction that wrote events only
 * counts itself in shared memory and sets the worker's latch; the worker
 * sends one NOTIFY ledger_events for all the commits since its last
 * (EventsNotifyPending).  Without the worker (the library not preloaded,
 * or another database) the transaction sends its own NOTIFY, which
 * PostgreSQL folds into one per transaction.
 */
#include "ledger.h"

#include "table.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/sequence.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/xid8.h"

static const char *const event_kind_names[EVENT_NKINDS] = {
	"transfer_posted", "reversal_posted", "hold_created", "hold_captured",
	"hold_released", "hold_expired", "account_created", "account_limits_changed",
	"account_closed", "account_reopened", "account_hot_changed", "monitor_fired",
	"velocity_flagged"
};

/* What the worker and the writers share. */
typedef struct EventsShared
{
	slock_t		mutex;
	Oid			database;		/* the worker's, or InvalidOid */
	Latch	   *latch;			/* the worker's */
	pg_atomic_uint64 committed; /* transactions that committed events */
	pg_atomic_uint32 idle;		/* the worker sleeps until its latch is set */
} EventsShared;

static EventsShared *events_shared = NULL;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Books' settings, as last read. */
typedef struct BookEvents
{
	int64		book;
	bool		enabled;
} BookEvents;

static HTAB *book_events = NULL;

/* ledger.events_id_seq, as last looked up in the schema of that OID. */
static Oid	events_seq_oid = InvalidOid;
static Oid	events_seq_namespace = InvalidOid;
static uint64 book_events_generation = 0;
static Oid	books_relid = InvalidOid;

/* The monitors of an account, as last read. */
typedef struct AccountMonitors
{
	int64		account;
	int			n;
	LedgerMonitor *monitors;
} AccountMonitors;

static HTAB *account_monitors = NULL;
static MemoryContext monitors_context = NULL;
static uint64 monitors_generation = 0;
static Oid	monitors_relid = InvalidOid;
static int	monitors_anywhere = -1;	/* -1 unknown, 0 none, 1 some */

static LedgerStatement any_monitor = LEDGER_STATEMENT(
	"SELECT 1 FROM ledger.monitors LIMIT 1", "");

static LedgerStatement monitors_of = LEDGER_STATEMENT(
	"SELECT id, balance, op, threshold, name FROM ledger.monitors"
	" WHERE account_id OPERATOR(pg_catalog.=) $1 ORDER BY id", "b");

/* This transaction wrote events and leaves the NOTIFY to the worker. */
static bool wake_worker_at_commit = false;

static void
books_relcache_callback(Datum arg, Oid relid)
{
	/* The sequence dropped (DROP EXTENSION) is looked up again. */
	if (!OidIsValid(relid) || relid == events_seq_oid)
		events_seq_oid = InvalidOid;

	if (!OidIsValid(relid) || relid == books_relid)
	{
		books_relid = InvalidOid;
		if (book_events != NULL)
		{
			hash_destroy(book_events);
			book_events = NULL;
		}
		book_events_generation++;
	}
}

static void
monitors_relcache_callback(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == monitors_relid)
	{
		monitors_relid = InvalidOid;
		if (monitors_context != NULL)
			MemoryContextReset(monitors_context);
		account_monitors = NULL;
		monitors_anywhere = -1;
		monitors_generation++;
	}
}

static void
events_xact_callback(XactEvent event, void *arg)
{
	/*
	 * Count the commit; wake the worker only if it sleeps.  While commits
	 * keep coming it is not sleeping but pausing between two NOTIFYs, and
	 * finds the count changed without a signal from each writer.  The add
	 * is a full barrier, as is the worker's between marking itself idle
	 * and reading the count (EventsWorkerIdle): one of the two sees the
	 * other's write.
	 */
	if (event == XACT_EVENT_COMMIT && wake_worker_at_commit && events_shared != NULL)
	{
		pg_atomic_fetch_add_u64(&events_shared->committed, 1);
		if (pg_atomic_read_u32(&events_shared->idle) != 0)
		{
			Latch	   *latch;

			SpinLockAcquire(&events_shared->mutex);
			latch = events_shared->latch;
			SpinLockRelease(&events_shared->mutex);
			if (latch != NULL)
				SetLatch(latch);
		}
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		wake_worker_at_commit = false;
}

static Size
events_shmem_size(void)
{
	return MAXALIGN(sizeof(EventsShared));
}

#if PG_VERSION_NUM >= 150000
static void
events_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(events_shmem_size());
}
#endif

static void
events_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	events_shared = ShmemInitStruct("ledger events", events_shmem_size(), &found);
	if (!found)
	{
		SpinLockInit(&events_shared->mutex);
		events_shared->database = InvalidOid;
		events_shared->latch = NULL;
		pg_atomic_init_u64(&events_shared->committed, 0);
		pg_atomic_init_u32(&events_shared->idle, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * EventsRegisterCallbacks - called once from _PG_init; the shared memory
 * only while the library is preloaded.
 */
void
EventsRegisterCallbacks(void)
{
	LedgerOnRelcacheInvalidation(books_relcache_callback);
	LedgerOnRelcacheInvalidation(monitors_relcache_callback);
	RegisterXactCallback(events_xact_callback, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;
#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = events_shmem_request;
#else
	RequestAddinShmemSpace(events_shmem_size());
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = events_shmem_startup;
}

/* Is the worker running in this database, to send the NOTIFY? */
static bool
events_worker_serves_database(void)
{
	bool		serves;

	if (events_shared == NULL)
		return false;
	SpinLockAcquire(&events_shared->mutex);
	serves = events_shared->database == MyDatabaseId && events_shared->latch != NULL;
	SpinLockRelease(&events_shared->mutex);
	return serves;
}

static void
events_worker_detach(int code, Datum arg)
{
	SpinLockAcquire(&events_shared->mutex);
	events_shared->database = InvalidOid;
	events_shared->latch = NULL;
	SpinLockRelease(&events_shared->mutex);
}

/*
 * EventsWorkerAttach - the worker, connected to its database, takes over
 * the NOTIFY of the transactions there that write events, until it exits.
 */
void
EventsWorkerAttach(void)
{
	if (events_shared == NULL)
		return;
	SpinLockAcquire(&events_shared->mutex);
	events_shared->database = MyDatabaseId;
	events_shared->latch = MyLatch;
	SpinLockRelease(&events_shared->mutex);
	before_shmem_exit(events_worker_detach, (Datum) 0);
}

/*
 * EventsCommitted - how many transactions have committed events since the
 * server started; the worker notifies when it changed.
 */
uint64
EventsCommitted(void)
{
	return events_shared == NULL ? 0 : pg_atomic_read_u64(&events_shared->committed);
}

/*
 * EventsWorkerIdle - the worker is about to sleep on its latch (idle), or
 * has woken; returns the count of commits as read after marking itself
 * idle, so that a commit counted before the mark is not slept through.
 */
uint64
EventsWorkerIdle(bool idle)
{
	if (events_shared == NULL)
		return 0;
	pg_atomic_write_u32(&events_shared->idle, idle ? 1 : 0);
	pg_memory_barrier();
	return pg_atomic_read_u64(&events_shared->committed);
}

/* EventsNotify - in the worker's transaction: wake every listener. */
void
EventsNotify(void)
{
	Async_Notify(LEDGER_EVENTS_CHANNEL, NULL);
}

/*
 * EventDetail - a jsonb Datum of an object built by the caller as text
 * (keys and values it escaped with escape_json).
 */
Datum
EventDetail(const char *json)
{
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
}

const char *
EventKindName(EventKind kind)
{
	return event_kind_names[kind];
}

/*
 * EventsEnabled - does the book publish events?  A book that does not
 * exist does not.  Caller is connected to SPI.
 */
bool
EventsEnabled(int64 book)
{
	BookEvents *entry;
	bool		found;

	if (book_events != NULL &&
		(entry = hash_search(book_events, &book, HASH_FIND, NULL)) != NULL)
		return entry->enabled;

	for (;;)
	{
		uint64		generation = book_events_generation;
		TableColumn key = {"id", INT8OID};
		TableColumn column = {"events", BOOLOID};
		Datum		keyvalue = Int64GetDatum(book);
		Datum		value;
		bool		isnull;
		bool		enabled;

		if (!OidIsValid(books_relid))
			books_relid = get_relname_relid("books", LedgerNamespaceOid());
		enabled = TableFetchByKey("books", &key, &keyvalue, 1, &column, 1, &value, &isnull) &&
			!isnull && DatumGetBool(value);
		if (generation != book_events_generation)
			continue;			/* an invalidation arrived meanwhile */
		if (book_events == NULL)
		{
			HASHCTL		ctl;

			ctl.keysize = sizeof(int64);
			ctl.entrysize = sizeof(BookEvents);
			ctl.hcxt = CacheMemoryContext;
			book_events = hash_create("ledger book events", 64, &ctl,
									  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		}
		entry = hash_search(book_events, &book, HASH_ENTER, &found);
		entry->enabled = enabled;
		return enabled;
	}
}

static const char *const monitor_op_names[] = {"<", "<=", ">=", ">"};

const char *
MonitorOpName(MonitorOp op)
{
	return monitor_op_names[op];
}

/*
 * MonitorsAnywhere - does any monitor exist?  Caller is connected to SPI.
 */
bool
MonitorsAnywhere(void)
{
	while (monitors_anywhere < 0)
	{
		uint64		generation = monitors_generation;
		bool		some;

		if (!OidIsValid(monitors_relid))
			monitors_relid = get_relname_relid("monitors", LedgerNamespaceOid());
		LedgerExecute(&any_monitor, NULL, NULL, 1);
		some = SPI_processed > 0;
		if (generation == monitors_generation)
			monitors_anywhere = some ? 1 : 0;
	}
	return monitors_anywhere == 1;
}

/*
 * MonitorsOf - the monitors on an account, in id order; returns how many.
 * Caller is connected to SPI.
 */
int
MonitorsOf(int64 account, const LedgerMonitor **monitors)
{
	AccountMonitors *entry;
	bool		found;

	*monitors = NULL;
	if (!MonitorsAnywhere())
		return 0;
	if (account_monitors != NULL &&
		(entry = hash_search(account_monitors, &account, HASH_FIND, NULL)) != NULL)
	{
		*monitors = entry->monitors;
		return entry->n;
	}

	for (;;)
	{
		uint64		generation = monitors_generation;
		Datum		arg = Int64GetDatum(account);
		int			n;
		LedgerMonitor *list;
		MemoryContext oldcxt;

		LedgerExecute(&monitors_of, &arg, NULL, 0);
		if (generation != monitors_generation)
			continue;			/* an invalidation arrived meanwhile */
		if (monitors_context == NULL)
			monitors_context = AllocSetContextCreate(CacheMemoryContext, "ledger monitors",
													 ALLOCSET_SMALL_SIZES);
		if (account_monitors == NULL)
		{
			HASHCTL		ctl;

			ctl.keysize = sizeof(int64);
			ctl.entrysize = sizeof(AccountMonitors);
			ctl.hcxt = monitors_context;
			account_monitors = hash_create("ledger account monitors", 256, &ctl,
										   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		}
		n = (int) SPI_processed;
		oldcxt = MemoryContextSwitchTo(monitors_context);
		list = n > 0 ? palloc(sizeof(LedgerMonitor) * n) : NULL;
		for (int r = 0; r < n; r++)
		{
			bool		isnull;
			char	   *op;
			Datum		name;

			list[r].id = DatumGetInt64(LedgerGetColumn(r, 1, &isnull));
			list[r].available =
				strcmp(TextDatumGetCString(LedgerGetColumn(r, 2, &isnull)), "available") == 0;
			op = TextDatumGetCString(LedgerGetColumn(r, 3, &isnull));
			list[r].op = strcmp(op, "<") == 0 ? MONITOR_LT : strcmp(op, "<=") == 0 ? MONITOR_LE :
				strcmp(op, ">=") == 0 ? MONITOR_GE : MONITOR_GT;
			list[r].threshold = DatumGetAmount(LedgerGetColumn(r, 4, &isnull));
			name = LedgerGetColumn(r, 5, &isnull);
			list[r].name = isnull ? NULL : TextDatumGetCString(name);
		}
		MemoryContextSwitchTo(oldcxt);
		entry = hash_search(account_monitors, &account, HASH_ENTER, &found);
		entry->n = n;
		entry->monitors = list;
		*monitors = list;
		return n;
	}
}

/* MonitorHolds - is the monitor's condition true of the account now? */
bool
MonitorHolds(const LedgerMonitor *monitor, const LedgerAccount *account)
{
	Amount		balance = monitor->available ? AccountAvailableBalance(account) :
		AccountPostedBalance(account);

	switch (monitor->op)
	{
		case MONITOR_LT:
			return balance < monitor->threshold;
		case MONITOR_LE:
			return balance <= monitor->threshold;
		case MONITOR_GE:
			return balance >= monitor->threshold;
		case MONITOR_GT:
			return balance > monitor->threshold;
	}
	return false;				/* keep compiler quiet */
}

/* MonitorDetail - a monitor_fired event's detail: the monitor. */
Datum
MonitorDetail(const LedgerMonitor *monitor)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"monitor_id\": " INT64_FORMAT ", \"name\": ", monitor->id);
	if (monitor->name == NULL)
		appendStringInfoString(&buf, "null");
	else
		escape_json(&buf, monitor->name);
	appendStringInfo(&buf, ", \"balance\": \"%s\", \"op\": \"%s\", \"threshold\": \"%s\"}",
					 monitor->available ? "available" : "posted", monitor_op_names[monitor->op],
					 AmountToCString(monitor->threshold));
	return EventDetail(buf.data);
}

/* Columns of ledger.events the pipeline writes. */
enum
{
	EV_ID, EV_XID, EV_BOOK, EV_KIND, EV_ACCOUNT, EV_DEBIT, EV_CREDIT, EV_AMOUNT, EV_TRANSFER,
	EV_HOLD, EV_KEY, EV_DESCRIPTION, EV_METADATA, EV_DETAIL, EV_CREATED_AT,
	EV_NCOLUMNS
};

/*
 * EventsWrite - append the events, in order, in the caller's transaction.
 * Caller is connected to SPI.
 */
void
EventsWrite(const LedgerEvent *events, int n)
{
	TableColumn columns[EV_NCOLUMNS] = {
		{"id", INT8OID}, {"xid", XID8OID}, {"book_id", INT8OID}, {"kind", TEXTOID}, {"account_id", INT8OID},
		{"debit_account_id", INT8OID}, {"credit_account_id", INT8OID},
		{"amount", LedgerAmountTypeOid()}, {"transfer_id", INT8OID},
		{"hold_id", INT8OID}, {"idempotency_key", TEXTOID},
		{"description", TEXTOID}, {"metadata", JSONBOID}, {"detail", JSONBOID},
		{"created_at", TIMESTAMPTZOID}
	};
	Datum		kinds[EVENT_NKINDS] = {0};
	Datum		xid;
	Oid			ns = LedgerNamespaceOid();
	TableWrite *w;

	if (n == 0)
		return;
	/* The sequence as nextval() would find it, kept while the schema is. */
	if (events_seq_namespace != ns || !OidIsValid(events_seq_oid))
	{
		events_seq_oid = get_relname_relid("events_id_seq", ns);
		events_seq_namespace = ns;
		if (!OidIsValid(events_seq_oid))
			elog(ERROR, "sequence ledger.events_id_seq does not exist");
	}
	xid = FullTransactionIdGetDatum(GetTopFullTransactionId());
	w = TableWriteBegin("events", TABLE_INSERT, columns, EV_NCOLUMNS);
	for (int i = 0; i < n; i++)
	{
		const LedgerEvent *e = &events[i];
		Datum		values[EV_NCOLUMNS];
		bool		nulls[EV_NCOLUMNS] = {false};

		CHECK_FOR_INTERRUPTS();
		if (kinds[e->kind] == (Datum) 0)
			kinds[e->kind] = CStringGetTextDatum(event_kind_names[e->kind]);
		values[EV_ID] = Int64GetDatum(nextval_internal(events_seq_oid, false));
		values[EV_XID] = xid;
		values[EV_BOOK] = Int64GetDatum(e->book_id);
		values[EV_KIND] = kinds[e->kind];
		values[EV_ACCOUNT] = Int64GetDatum(e->account_id);
		nulls[EV_ACCOUNT] = e->account_id == 0;
		values[EV_DEBIT] = Int64GetDatum(e->debit_account_id);
		nulls[EV_DEBIT] = e->debit_account_id == 0;
		values[EV_CREDIT] = Int64GetDatum(e->credit_account_id);
		nulls[EV_CREDIT] = e->credit_account_id == 0;
		values[EV_AMOUNT] = PointerGetDatum(&e->amount);
		nulls[EV_AMOUNT] = !e->has_amount;
		values[EV_TRANSFER] = Int64GetDatum(e->transfer_id);
		nulls[EV_TRANSFER] = e->transfer_id == 0;
		values[EV_HOLD] = Int64GetDatum(e->hold_id);
		nulls[EV_HOLD] = e->hold_id == 0;
		nulls[EV_KEY] = e->idempotency_key == NULL;
		values[EV_KEY] = nulls[EV_KEY] ? (Datum) 0 : CStringGetTextDatum(e->idempotency_key);
		values[EV_DESCRIPTION] = e->description;
		nulls[EV_DESCRIPTION] = e->description_null;
		values[EV_METADATA] = e->metadata;
		nulls[EV_METADATA] = e->metadata_null;
		values[EV_DETAIL] = e->detail;
		nulls[EV_DETAIL] = e->detail_null;
		values[EV_CREATED_AT] = TimestampTzGetDatum(e->created_at);
		TableWriteRow(w, values, nulls);
	}
	if (TableWriteEnd(w) != n)
		elog(ERROR, "could not insert %d events", n);

	if (events_worker_serves_database())
		wake_worker_at_commit = true;
	else
		Async_Notify(LEDGER_EVENTS_CHANNEL, NULL);
}
