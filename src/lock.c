/*
 * lock.c - the locks of the ledger: accounts' row locks, taken through the
 * primary key without the executor, and hot accounts' hot locks.
 *
 * Every transfer locks two account rows and a batch thousands, and through
 * SPI that is a statement with a snapshot, executor start, plan checks, a
 * LockRows node and a result set to copy.  Here each account is one index
 * probe and one tuple lock, with the same semantics as
 * SELECT ... FOR UPDATE: a concurrent updater is waited for; at READ
 * COMMITTED the latest version is then locked and read, while at REPEATABLE
 * READ or SERIALIZABLE a row changed since the snapshot raises a
 * serialization failure (40001).  lock_timeout, statement_timeout and
 * cancellation interrupt the wait as they would the statement's.  SKIP
 * LOCKED, and reads without a lock (the queued side of a hot transfer,
 * ledger.balance), go the same way: every account the ledger reads comes
 * through here.
 *
 * Hot locks (an advisory lock tag of our own per account): a posting that
 * reads a hot account without its row lock (posting.c) holds the account's
 * hot lock in share mode, and everything that changes the account's state,
 * limits or hot mode takes it exclusively, before any row lock, so that the
 * state never changes under such a posting.  Hot locks are always taken
 * before row locks, so the two kinds of waits never close a cycle.  Which
 * accounts are hot is cached per backend and forgotten whenever
 * ledger.accounts' relcache entry is invalidated, which set_account_hot
 * forces; the cache only chooses the path, and the flag itself is read
 * again under the hot lock.
 */
#include "ledger.h"

#include "table.h"

#include "access/genam.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/*
 * field4 of our advisory lock tags: PostgreSQL's own advisory lock
 * functions use 1 and 2, so ours can never meet an application's.
 */
#define HOT_LOCK_FIELD4		0x4C47	/* "LG" */

/*
 * The index of the queue by account, in queue order: its primary key since
 * 0.4.0, a plain index before the update.
 */
#define HOT_QUEUE_INDEX		"hot_entries_pkey"
#define HOT_QUEUE_INDEX_0_3	"hot_entries_account_id_idx"

static LedgerStatement hot_account_ids = LEDGER_STATEMENT(
	"SELECT id FROM ledger.accounts WHERE hot ORDER BY id", "");

/* How read_rows reads each row: the snapshot, and the lock if any. */
typedef enum ReadMode
{
	READ_CALLER_SNAPSHOT,		/* no lock, the calling statement's snapshot,
								 * as a STABLE function's query */
	READ_NEW_SNAPSHOT,			/* no lock, a new statement's snapshot */
	READ_LOCK,					/* FOR UPDATE */
	READ_LOCK_SKIP_LOCKED		/* FOR UPDATE SKIP LOCKED */
} ReadMode;

/* Attribute numbers of the accounts' columns (schema.c), for this call. */
static const AttrNumber *column_attnum;

static inline Datum
column(TupleTableSlot *slot, int c, bool *isnull)
{
	AttrNumber	attnum = column_attnum[c];

	*isnull = slot->tts_isnull[attnum - 1];
	return slot->tts_values[attnum - 1];
}

/*
 * Copy an account row into *account: its columns in the library's order
 * (schema.c), values[c] and nulls[c] for column c.
 */
static void
account_from_values(const Datum *values, const bool *nulls, LedgerAccount *account)
{
	memset(account, 0, sizeof(LedgerAccount));
	account->id = DatumGetInt64(values[ACC_ID]);
	account->book_id = DatumGetInt64(values[ACC_BOOK_ID]);
	text_to_cstring_buffer(DatumGetTextPP(values[ACC_ASSET]),
						   account->asset, sizeof(account->asset));
	account->credit_normal =
		strcmp(TextDatumGetCString(values[ACC_NORMAL_BALANCE]), "credit") == 0;
	account->has_min = !nulls[ACC_MIN_BALANCE];
	if (account->has_min)
		account->min_balance = DatumGetAmount(values[ACC_MIN_BALANCE]);
	account->has_max = !nulls[ACC_MAX_BALANCE];
	if (account->has_max)
		account->max_balance = DatumGetAmount(values[ACC_MAX_BALANCE]);
	account->debits_posted = DatumGetAmount(values[ACC_DEBITS_POSTED]);
	account->credits_posted = DatumGetAmount(values[ACC_CREDITS_POSTED]);
	account->debits_pending = DatumGetAmount(values[ACC_DEBITS_PENDING]);
	account->credits_pending = DatumGetAmount(values[ACC_CREDITS_PENDING]);
	account->version = DatumGetInt64(values[ACC_VERSION]);
	account->closed = DatumGetBool(values[ACC_CLOSED]);
	account->updated_at = DatumGetTimestampTz(values[ACC_UPDATED_AT]);
	if (nulls[ACC_HOLDS_EXPIRE_AT])
		TIMESTAMP_NOEND(account->holds_expire_at);
	else
		account->holds_expire_at = DatumGetTimestampTz(values[ACC_HOLDS_EXPIRE_AT]);
	account->has_entry_hash = !nulls[ACC_ENTRY_HASH];
	if (account->has_entry_hash)
	{
		bytea	   *hash = DatumGetByteaPP(values[ACC_ENTRY_HASH]);

		if (VARSIZE_ANY_EXHDR(hash) != LEDGER_HASH_LEN)
			elog(ERROR, "entry hash of account %lld has the wrong length",
				 (long long) account->id);
		memcpy(account->entry_hash, VARDATA_ANY(hash), LEDGER_HASH_LEN);
	}
	account->hot = DatumGetBool(values[ACC_HOT]);
	if (!nulls[ACC_VELOCITY])
		account->velocity = VelocityDecode(DatumGetByteaPP(values[ACC_VELOCITY]),
										   account->id);
}

/* Copy the locked row in slot into *account. */
static void
account_from_slot(TupleTableSlot *slot, LedgerAccount *account)
{
	Datum		values[ACCOUNTS_NCOLUMNS];
	bool		nulls[ACCOUNTS_NCOLUMNS];

	slot_getallattrs(slot);
	for (int c = 0; c < ACCOUNTS_NCOLUMNS; c++)
		values[c] = column(slot, c, &nulls[c]);
	account_from_values(values, nulls, account);
}

/*
 * lock_row - lock the row the scan finds for id (unless mode locks nothing)
 * and read it into *account; false if there is none, or if SKIP LOCKED
 * finds it locked by another transaction.
 */
static bool
lock_row(Relation rel, IndexScanDesc scan, TupleTableSlot *slot, Snapshot snapshot,
		 bool xact_snapshot, int64 id, ReadMode mode, LedgerAccount *account)
{
	ScanKeyData key;
	ItemPointerData tid;
	TM_FailureData tmfd;
	TM_Result	result;
	bool		found = true;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(id));
	index_rescan(scan, &key, 1, NULL, 0);
	if (!index_getnext_slot(scan, ForwardScanDirection, slot))
		return false;
	if (mode == READ_CALLER_SNAPSHOT || mode == READ_NEW_SNAPSHOT)
	{
		account_from_slot(slot, account);
		ItemPointerSetInvalid(&account->tid);
		ExecClearTuple(slot);
		return true;
	}

	tid = slot->tts_tid;
	result = table_tuple_lock(rel, &tid, snapshot, slot,
							  GetCurrentCommandId(true), LockTupleExclusive,
							  mode == READ_LOCK_SKIP_LOCKED ? LockWaitSkip : LockWaitBlock,
							  TUPLE_LOCK_FLAG_LOCK_UPDATE_IN_PROGRESS |
							  (xact_snapshot ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION),
							  &tmfd);
	switch (result)
	{
		case TM_Ok:
			account_from_slot(slot, account);
			account->tid = slot->tts_tid;
			break;
		case TM_WouldBlock:
			/* Only with SKIP LOCKED: another transaction holds the row. */
			found = false;
			break;
		case TM_Updated:
		case TM_Deleted:
			/* Only reachable with a transaction snapshot. */
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to concurrent update")));
			break;
		default:
			elog(ERROR, "unexpected result %d locking account %lld",
				 (int) result, (long long) id);
	}
	ExecClearTuple(slot);
	return found;
}

/*
 * On a Citus cluster ledger.accounts is distributed by book_id: its rows are
 * in shards on the workers, which only Citus's executor reaches, and it
 * runs a statement with a row lock only when the statement names one
 * shard, by the book.  So the rows are read through SQL, one statement per
 * book, and the book of each account is found first: a read of every
 * shard the first time this backend meets the account, then from a cache,
 * since an account never changes book and ids are never used again.  The
 * rows of one call are locked book by book, in ascending (book, account)
 * order: a total order that every call on a cluster follows, so that two
 * calls never wait for each other in a cycle.
 */
#define ACCOUNT_COLUMNS_SQL \
	"id, asset, name, normal_balance, min_balance, max_balance, closed, metadata," \
	" created_at, debits_pending, credits_pending, holds_expire_at, debits_posted," \
	" credits_posted, version, updated_at, entry_hash, hot, book_id, velocity"
#define ACCOUNTS_OF_BOOK_SQL \
	"SELECT " ACCOUNT_COLUMNS_SQL " FROM ledger.accounts" \
	" WHERE book_id OPERATOR(pg_catalog.=) $1 AND id OPERATOR(pg_catalog.=) ANY ($2)" \
	" ORDER BY id"

static LedgerStatement books_of_accounts = LEDGER_STATEMENT(
	"SELECT id, book_id FROM ledger.accounts WHERE id OPERATOR(pg_catalog.=) ANY ($1)", "B");
static LedgerStatement read_in_book = LEDGER_STATEMENT(ACCOUNTS_OF_BOOK_SQL, "bB");
static LedgerStatement lock_in_book = LEDGER_STATEMENT(
	ACCOUNTS_OF_BOOK_SQL " FOR UPDATE", "bB");
static LedgerStatement lock_in_book_skip_locked = LEDGER_STATEMENT(
	ACCOUNTS_OF_BOOK_SQL " FOR UPDATE SKIP LOCKED", "bB");

/* The cache of accounts' books; cleared when it is full, and with the relcache. */
#define ACCOUNT_BOOKS_KEPT	65536

typedef struct AccountBook
{
	int64		id;				/* hash key */
	int64		book_id;
} AccountBook;

static HTAB *account_books = NULL;
static bool account_books_stale = false;

/*
 * An invalidation can arrive in the middle of find_books, while it reads
 * (relations are opened), so the cache is only marked here, and made anew
 * when find_books next starts.
 */
static void
forget_account_books(Datum arg, Oid relid)
{
	account_books_stale = true;
}

/* An account and its book, sorted by book, then account. */
typedef struct BookAccount
{
	int64		book_id;
	int64		id;
} BookAccount;

static int
compare_book_accounts(const void *a, const void *b)
{
	const BookAccount *x = a;
	const BookAccount *y = b;

	if (x->book_id != y->book_id)
		return x->book_id < y->book_id ? -1 : 1;
	return x->id < y->id ? -1 : (x->id > y->id ? 1 : 0);
}

static int
compare_accounts_by_id(const void *a, const void *b)
{
	const LedgerAccount *x = a;
	const LedgerAccount *y = b;

	return x->id < y->id ? -1 : (x->id > y->id ? 1 : 0);
}

/*
 * Find the books of ids[] into books[]: 0 for an account that does not
 * exist.  Caller is connected to SPI.
 */
static void
find_books(const int64 *ids, int n, int64 *books)
{
	Datum	   *unknown = palloc(sizeof(Datum) * n);
	int			nunknown = 0;

	if (account_books == NULL || account_books_stale ||
		hash_get_num_entries(account_books) >= ACCOUNT_BOOKS_KEPT)
	{
		HASHCTL		ctl;
		static bool listening = false;

		if (account_books != NULL)
			hash_destroy(account_books);
		account_books_stale = false;
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(AccountBook);
		account_books = hash_create("ledger account books", 1024, &ctl,
									HASH_ELEM | HASH_BLOBS);
		if (!listening)
		{
			LedgerOnRelcacheInvalidation(forget_account_books);
			listening = true;
		}
	}
	for (int i = 0; i < n; i++)
	{
		AccountBook *known = hash_search(account_books, &ids[i], HASH_FIND, NULL);

		books[i] = known ? known->book_id : 0;
		if (!known)
			unknown[nunknown++] = Int64GetDatum(ids[i]);
	}
	if (nunknown > 0)
	{
		Datum		arg = PointerGetDatum(construct_array(unknown, nunknown, INT8OID,
														  sizeof(int64), FLOAT8PASSBYVAL,
														  TYPALIGN_DOUBLE));

		LedgerQuery(&books_of_accounts, &arg, NULL, 0);
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			int64		id = DatumGetInt64(LedgerGetColumn(r, 1, &isnull));
			AccountBook *entry = hash_search(account_books, &id, HASH_ENTER, NULL);

			entry->book_id = DatumGetInt64(LedgerGetColumn(r, 2, &isnull));
			for (int i = 0; i < n; i++)
				if (ids[i] == id)
					books[i] = entry->book_id;
		}
	}
	pfree(unknown);
}

/* read_rows on a cluster: see above. */
static bool
read_rows_distributed(const int64 *ids, int n, ReadMode mode, LedgerAccount *accounts,
					  int64 *missing)
{
	MemoryContext caller = CurrentMemoryContext;
	int64	   *books = palloc(sizeof(int64) * n);
	BookAccount *order = palloc(sizeof(BookAccount) * n);
	LedgerAccount *found = palloc(sizeof(LedgerAccount) * n);
	int			nfound = 0;
	LedgerStatement *stmt = mode == READ_LOCK ? &lock_in_book :
		mode == READ_LOCK_SKIP_LOCKED ? &lock_in_book_skip_locked : &read_in_book;

	LedgerConnect();
	find_books(ids, n, books);
	for (int i = 0; i < n; i++)
	{
		if (books[i] == 0)
		{
			SPI_finish();
			*missing = ids[i];
			return false;
		}
		order[i].book_id = books[i];
		order[i].id = ids[i];
	}
	qsort(order, n, sizeof(BookAccount), compare_book_accounts);
	for (int first = 0; first < n;)
	{
		int			last = first;
		Datum	   *of_book;
		Datum		args[2];

		CHECK_FOR_INTERRUPTS();
		while (last + 1 < n && order[last + 1].book_id == order[first].book_id)
			last++;
		of_book = palloc(sizeof(Datum) * (last - first + 1));
		for (int i = first; i <= last; i++)
			of_book[i - first] = Int64GetDatum(order[i].id);
		args[0] = Int64GetDatum(order[first].book_id);
		args[1] = PointerGetDatum(construct_array(of_book, last - first + 1, INT8OID,
												  sizeof(int64), FLOAT8PASSBYVAL,
												  TYPALIGN_DOUBLE));
		if (mode == READ_CALLER_SNAPSHOT)
			LedgerQuery(stmt, args, NULL, 0);
		else
			LedgerExecute(stmt, args, NULL, 0);
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			Datum		values[ACCOUNTS_NCOLUMNS];
			bool		nulls[ACCOUNTS_NCOLUMNS];
			MemoryContext spi = MemoryContextSwitchTo(caller);

			for (int c = 0; c < ACCOUNTS_NCOLUMNS; c++)
				values[c] = LedgerGetColumn(r, c + 1, &nulls[c]);
			account_from_values(values, nulls, &found[nfound]);
			ItemPointerSetInvalid(&found[nfound].tid);
			nfound++;
			MemoryContextSwitchTo(spi);
		}
		first = last + 1;
	}
	SPI_finish();

	qsort(found, nfound, sizeof(LedgerAccount), compare_accounts_by_id);
	for (int i = 0; i < n; i++)
	{
		LedgerAccount key;
		LedgerAccount *row;

		key.id = ids[i];
		row = bsearch(&key, found, nfound, sizeof(LedgerAccount), compare_accounts_by_id);
		if (row == NULL)
		{
			*missing = ids[i];
			return false;
		}
		accounts[i] = *row;
	}
	return true;
}

/*
 * read_rows - read the accounts of ids into accounts[] as mode says; see
 * LockAccountRows.
 */
static bool
read_rows(const int64 *ids, int n, ReadMode mode, LedgerAccount *accounts, int64 *missing)
{
	Oid			ns = LedgerNamespaceOid();
	Oid			relid = get_relname_relid("accounts", ns);
	Oid			indexid = get_relname_relid("accounts_pkey", ns);
	Relation	rel;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	Snapshot	snapshot;
	bool		found = true;
	bool		xact_snapshot = IsolationUsesXactSnapshot();

	if (!OidIsValid(relid) || !OidIsValid(indexid))
		elog(ERROR, "table ledger.accounts or its primary key does not exist");
	if (TableIsDistributed(relid))
		return read_rows_distributed(ids, n, mode, accounts, missing);
	rel = table_open(relid, mode == READ_LOCK || mode == READ_LOCK_SKIP_LOCKED ?
					 RowShareLock : AccessShareLock);
	index = index_open(indexid, AccessShareLock);
	column_attnum = LedgerTableColumns(rel, LEDGER_ACCOUNTS);

	/*
	 * See our own earlier writes, as a new statement would: a new command id,
	 * and a snapshot (at REPEATABLE READ a copy of the transaction's) that
	 * carries it.  A STABLE function's read must not move the command id
	 * under its caller, and sees what the caller's statement sees.
	 */
	if (mode == READ_CALLER_SNAPSHOT)
		PushActiveSnapshot(GetActiveSnapshot());
	else
	{
		CommandCounterIncrement();
		PushActiveSnapshot(GetTransactionSnapshot());
		UpdateActiveSnapshotCommandId();
	}
	snapshot = GetActiveSnapshot();

	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, index, snapshot, 1, 0);
	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (!lock_row(rel, scan, slot, snapshot, xact_snapshot, ids[i], mode,
					  &accounts[i]))
		{
			*missing = ids[i];
			found = false;
			break;
		}
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	PopActiveSnapshot();
	index_close(index, NoLock);
	table_close(rel, NoLock);
	return found;
}

/*
 * LockAccountRows - SELECT ... FROM ledger.accounts WHERE id = ANY (ids)
 * ORDER BY id FOR UPDATE, into accounts[], one primary-key probe per id in
 * the order given (callers pass ascending ids: the global lock order).
 *
 * Returns false, with *missing set to the first id that does not exist, if
 * any does not; rows locked before it stay locked, as they would by the
 * statement.
 */
bool
LockAccountRows(const int64 *ids, int n, LedgerAccount *accounts, int64 *missing)
{
	return read_rows(ids, n, READ_LOCK, accounts, missing);
}

/*
 * LockAccountSkipLocked - lock one more account if nobody holds it.
 *
 * For a caller that already holds other accounts' locks, possibly of higher
 * ids: it never waits, so it cannot deadlock.  Returns false when the row is
 * locked by another transaction (or does not exist).
 */
bool
LockAccountSkipLocked(int64 id, LedgerAccount *account)
{
	int64		missing;

	return read_rows(&id, 1, READ_LOCK_SKIP_LOCKED, account, &missing);
}

/*
 * ReadAccountRow - SELECT ... FROM ledger.accounts WHERE id = $1 into
 * *account, without a lock; false if there is no such account.  With
 * caller_snapshot, as a query of a STABLE function (ledger.balance) would
 * run it; otherwise as a new statement of a VOLATILE one.
 */
bool
ReadAccountRow(int64 id, bool caller_snapshot, LedgerAccount *account)
{
	int64		missing;

	return read_rows(&id, 1, caller_snapshot ? READ_CALLER_SNAPSHOT : READ_NEW_SNAPSHOT,
					 account, &missing);
}

/* The backend's cache of hot account ids, sorted; see the file header. */
static int64 *hot_ids = NULL;
static int	hot_count = 0;
static bool hot_ids_valid = false;
static uint64 hot_ids_generation = 0;

static void
hot_ids_invalidate(Datum arg, Oid relid)
{
	hot_ids_valid = false;
	hot_ids_generation++;
}

/*
 * LedgerRegisterHotCallbacks - called once from _PG_init.
 *
 * Any relcache invalidation may concern ledger.accounts (its OID can change
 * with the extension), and they are rare, so all of them clear the cache.
 */
void
LedgerRegisterHotCallbacks(void)
{
	LedgerOnRelcacheInvalidation(hot_ids_invalidate);
}

/* Load the cache if an invalidation cleared it.  Caller is connected to SPI. */
static void
load_hot_ids(void)
{
	uint64		generation = hot_ids_generation;
	int64	   *ids;
	int			n;

	if (hot_ids_valid)
		return;
	LedgerQuery(&hot_account_ids, NULL, NULL, 0);
	n = (int) SPI_processed;
	ids = MemoryContextAlloc(TopMemoryContext, sizeof(int64) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		ids[i] = DatumGetInt64(LedgerGetColumn(i, 1, &isnull));
	}
	if (hot_ids)
		pfree(hot_ids);
	hot_ids = ids;
	hot_count = n;
	/* An invalidation that arrived while we read makes us read again. */
	hot_ids_valid = generation == hot_ids_generation;
}

/*
 * AccountMayBeHot - does the cache say this account is hot?  Caller is
 * connected to SPI.
 */
bool
AccountMayBeHot(int64 id)
{
	load_hot_ids();
	return hot_count > 0 &&
		bsearch(&id, hot_ids, hot_count, sizeof(int64), CompareAccountIds) != NULL;
}

/*
 * LockHotAccount - take an account's hot lock in the given mode (ShareLock
 * for a posting, ExclusiveLock for a change of state) until the end of the
 * transaction.  Must come before any account row lock of the call.
 */
void
LockHotAccount(int64 id, LOCKMODE mode)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) ((uint64) id >> 32),
						 (uint32) id, HOT_LOCK_FIELD4);
	(void) LockAcquire(&tag, mode, false, false);
}

/*
 * check_queue_in_snapshot - fail with 40001 if a posting queued for the
 * account committed after the transaction's snapshot was taken.
 *
 * At REPEATABLE READ and SERIALIZABLE the snapshot predates the wait for
 * the hot lock, so the postings that finished during that wait are not
 * visible to the call; acting on the account without them would apply (or
 * check limits against) a queue that lacks them.  PostgreSQL answers a row
 * changed after the snapshot with a serialization failure, and so does this:
 * once the hot lock is held no posting can be queued, so the latest snapshot
 * shows every posting there is, and one it shows that the transaction's
 * snapshot does not is the conflict.
 */
static void
check_queue_in_snapshot(int64 id)
{
	Oid			ns = LedgerNamespaceOid();
	Oid			relid = get_relname_relid("hot_entries", ns);
	Oid			indexid = get_relname_relid(HOT_QUEUE_INDEX, ns);
	Relation	rel;
	Relation	index;
	Snapshot	latest;
	Snapshot	xact = GetTransactionSnapshot();
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData key;
	bool		unseen = false;

	if (!OidIsValid(indexid))
		indexid = get_relname_relid(HOT_QUEUE_INDEX_0_3, ns);
	if (!OidIsValid(relid) || !OidIsValid(indexid))
		elog(ERROR, "table ledger.hot_entries or its index %s does not exist",
			 HOT_QUEUE_INDEX);
	rel = table_open(relid, AccessShareLock);
	index = index_open(indexid, AccessShareLock);
	latest = RegisterSnapshot(GetLatestSnapshot());
	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, index, latest, 1, 0);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(id));
	index_rescan(scan, &key, 1, NULL, 0);
	while (!unseen && index_getnext_slot(scan, ForwardScanDirection, slot))
		unseen = !table_tuple_satisfies_snapshot(rel, slot, xact);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(latest);
	index_close(index, NoLock);
	table_close(rel, NoLock);
	if (unseen)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access to account %lld due to a concurrent posting",
						(long long) id),
				 errdetail("A posting queued for the hot account committed after this transaction's snapshot was taken."),
				 errhint("Retry the transaction.")));
}

/*
 * LockAccountState - called by everything that changes an account's state,
 * limits or hot mode, before it locks the row: waits for the postings that
 * read the account without its row lock to finish, and makes sure the call
 * will see them.
 */
void
LockAccountState(int64 id)
{
	LockHotAccount(id, ExclusiveLock);
	if (IsolationUsesXactSnapshot())
		check_queue_in_snapshot(id);
}

