/*
 * hot.c - hot accounts: postings that do not wait for the account's lock.
 *
 * A platform's fee or treasury account takes part in nearly every payment.
 * Locked row by row, it turns every session into a queue behind one row.
 * An account set hot (ledger.set_account_hot) is not locked by
 * ledger.transfer when the posting cannot break any of its rules: the
 * posting goes to ledger.hot_entries, a queue of entries not yet applied,
 * and the rest of the transfer (the other account's entry, its lock and its
 * checks) happens as usual.  Later, under the account's row lock, the queue
 * is applied in id order: each queued posting becomes an ordinary entry with
 * its version, running balance and chain hash, and leaves the queue in the
 * same transaction.  Anything that locks the account applies its queue
 * first, so a locked account is always complete.
 *
 * Which postings may skip the lock: one that moves the balance away from
 * every bound the account has.  An account with a minimum balance takes
 * credits unlocked (for a credit-normal account), and its debits go the
 * ordinary way, under the lock, against the applied balance; postings still
 * queued or in flight only raise it, so the check is never too generous.
 * Symmetrically for a maximum balance.  Closed accounts, amounts above
 * 2^96 minor units, and transactions at REPEATABLE READ or SERIALIZABLE
 * (whose snapshot could predate a change of the account) take the ordinary
 * path too.
 *
 * The account's state must not change under a posting that read it without
 * the row lock.  Postings take a transaction-scoped share lock on the
 * account's hot lock (an advisory lock tag of our own) before reading it,
 * and everything that changes state, limits or hot mode takes it
 * exclusively, before any row lock.  Hot locks are always taken before row
 * locks, so these waits can never close a cycle with the row locks.
 *
 * Which accounts are hot is cached per backend and forgotten whenever
 * ledger.accounts' relcache entry is invalidated, which set_account_hot
 * forces.  The cache only chooses the path: the flag itself is read again
 * under the hot lock, and a stale "not hot" merely takes the ordinary path.
 */
#include "ledger.h"

#include "table.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/*
 * field4 of our advisory lock tags: PostgreSQL's own advisory lock
 * functions use 1 and 2, so ours can never meet an application's.
 */
#define HOT_LOCK_FIELD4		0x4C47	/* "LG" */

/*
 * A queued posting is added to the account's sums only when applied, with
 * no chance to refuse it then.  Bounding both the posting and the sums it
 * joins keeps any realistic queue (under 2^30 postings) from overflowing
 * them; anything bigger takes the locked path, where overflow is an error.
 */
#define HOT_MAX_AMOUNT		(((Amount) 1) << 96)
#define HOT_MAX_TOTAL		(((Amount) 1) << 120)

/*
 * A posting whose queue id is a multiple of this applies the account's
 * queue, if it can lock the account without waiting, so that the queue
 * stays short without a background worker.
 */
#define HOT_APPLY_EVERY		1000

/*
 * The index of the queue by account, in queue order: its primary key since
 * 0.4.0, a plain index before the update.
 */
#define HOT_QUEUE_INDEX		"hot_entries_pkey"
#define HOT_QUEUE_INDEX_0_3	"hot_entries_account_id_idx"

static LedgerStatement hot_account_ids = LEDGER_STATEMENT(
	"SELECT id FROM ledger.accounts WHERE hot ORDER BY id", "");

static LedgerStatement take_queue = LEDGER_STATEMENT(
	"DELETE FROM ledger.hot_entries WHERE account_id OPERATOR(pg_catalog.=) $1"
	" RETURNING id, transfer_id, direction OPERATOR(pg_catalog.=) 'debit',"
	" amount, created_at", "b");

static LedgerStatement insert_applied_entries = LEDGER_STATEMENT(
	"INSERT INTO ledger.entries (id, transfer_id, account_id, account_version,"
	" direction, amount, balance_after, created_at, hash)"
	" SELECT " ENTRY_ID_SQL("u.transfer_id", "u.direction") ","
	"        u.transfer_id, $2, u.version, u.direction, u.amount, u.balance,"
	"        u.created_at, u.hash"
	"   FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($3),"
	"        pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6),"
	"        pg_catalog.unnest($7), pg_catalog.unnest($8))"
	"     AS u(transfer_id, version, direction, amount, balance, created_at, hash)",
	"BbBXAAZH");

static LedgerStatement queued_sums = LEDGER_STATEMENT(
	"SELECT ledger.sum(amount) FILTER (WHERE direction OPERATOR(pg_catalog.=) 'debit'),"
	"       ledger.sum(amount) FILTER (WHERE direction OPERATOR(pg_catalog.=) 'credit')"
	"  FROM ledger.hot_entries WHERE account_id OPERATOR(pg_catalog.=) $1", "b");

static LedgerStatement set_hot_flag = LEDGER_STATEMENT(
	"UPDATE ledger.accounts SET hot = $2 WHERE id OPERATOR(pg_catalog.=) $1", "bo");

static LedgerStatement hot_accounts_with_queue = LEDGER_STATEMENT(
	"SELECT a.id FROM ledger.accounts AS a WHERE a.hot"
	"   AND EXISTS (SELECT 1 FROM ledger.hot_entries AS q"
	"                WHERE q.account_id OPERATOR(pg_catalog.=) a.id)"
	" ORDER BY a.id", "");

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
	CacheRegisterRelcacheCallback(hot_ids_invalidate, (Datum) 0);
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

/* One queued posting as the queue hands it over. */
typedef struct QueuedEntry
{
	int64		id;
	int64		transfer_id;
	bool		debit;
	Amount		amount;
	TimestampTz created_at;
} QueuedEntry;

static int
compare_queued(const void *a, const void *b)
{
	return CompareAccountIds(&((const QueuedEntry *) a)->id,
							 &((const QueuedEntry *) b)->id);
}

/* An array Datum of n elements of a type. */
static Datum
make_array(Datum *elems, int n, Oid type, int16 len, bool byval, char align)
{
	return PointerGetDatum(construct_array(elems, n, type, len, byval, align));
}

/*
 * insert_applied_direct - the entries ApplyHotEntries made, straight into
 * ledger.entries (table.c), as insert_applied_entries would write them.
 * Returns false, having written nothing, when the table must be written
 * through SQL.
 */
static bool
insert_applied_direct(int64 account_id, const Datum *ids, const Datum *transfer_ids,
					  const Datum *versions, const Datum *directions,
					  const Datum *amounts, const Datum *balances,
					  const Datum *times, const Datum *hashes, int n)
{
	TableInsert *entries = EntriesInsertBegin();
	bool		nulls[ENTRY_NCOLUMNS] = {false};

	if (entries == NULL)
		return false;
	for (int i = 0; i < n; i++)
	{
		Datum		values[ENTRY_NCOLUMNS];

		CHECK_FOR_INTERRUPTS();
		values[ENTRY_TRANSFER] = transfer_ids[i];
		values[ENTRY_ACCOUNT] = Int64GetDatum(account_id);
		values[ENTRY_VERSION] = versions[i];
		values[ENTRY_DIRECTION] = directions[i];
		values[ENTRY_AMOUNT] = amounts[i];
		values[ENTRY_BALANCE] = balances[i];
		values[ENTRY_CREATED_AT] = times[i];
		values[ENTRY_HASH] = hashes[i];
		values[ENTRY_ID] = ids[i];
		TableInsertRow(entries, values, nulls);
	}
	(void) TableInsertEnd(entries);
	return true;
}

/*
 * ApplyHotEntries - apply the committed queue of a locked account.
 *
 * Takes every queued posting of the account that the statement can see,
 * turns them into entries in queue order, and adds them to the account in
 * memory; the caller saves it.  A posting that commits meanwhile stays
 * queued for next time.  Returns how many were applied.  Caller holds the
 * account's row lock and is connected to SPI.
 */
int64
ApplyHotEntries(LedgerAccount *account)
{
	Datum		arg = Int64GetDatum(account->id);
	QueuedEntry *queue;
	int			n;
	Datum	   *ids;
	Datum	   *transfer_ids;
	Datum	   *versions;
	Datum	   *directions;
	Datum	   *amounts;
	Datum	   *balances;
	Datum	   *times;
	Datum	   *hashes;
	Datum		values[8];

	LedgerExecuteWrite(&take_queue, &arg, NULL, 0);
	n = (int) SPI_processed;
	if (n == 0)
		return 0;

	queue = palloc(sizeof(QueuedEntry) * n);
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		queue[i].id = DatumGetInt64(LedgerGetColumn(i, 1, &isnull));
		queue[i].transfer_id = DatumGetInt64(LedgerGetColumn(i, 2, &isnull));
		queue[i].debit = DatumGetBool(LedgerGetColumn(i, 3, &isnull));
		queue[i].amount = DatumGetAmount(LedgerGetColumn(i, 4, &isnull));
		queue[i].created_at = DatumGetTimestampTz(LedgerGetColumn(i, 5, &isnull));
	}
	qsort(queue, n, sizeof(QueuedEntry), compare_queued);

	ids = palloc(sizeof(Datum) * n);
	transfer_ids = palloc(sizeof(Datum) * n);
	versions = palloc(sizeof(Datum) * n);
	directions = palloc(sizeof(Datum) * n);
	amounts = palloc(sizeof(Datum) * n);
	balances = palloc(sizeof(Datum) * n);
	times = palloc(sizeof(Datum) * n);
	hashes = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
	{
		LedgerSide	side = queue[i].debit ? LEDGER_DEBIT : LEDGER_CREDIT;
		Amount		balance = AccountPost(account, side, queue[i].amount);

		/* Never back in time in version order, as for any entry. */
		account->updated_at = Max(account->updated_at, queue[i].created_at);
		EntryHash(account->has_entry_hash ? account->entry_hash : NULL,
				  queue[i].transfer_id, account->id, account->version, side,
				  queue[i].amount, balance, account->updated_at,
				  account->entry_hash);
		account->has_entry_hash = true;

		ids[i] = Int64GetDatum(EntryIdOf(queue[i].transfer_id, side));
		transfer_ids[i] = Int64GetDatum(queue[i].transfer_id);
		versions[i] = Int64GetDatum(account->version);
		directions[i] = CStringGetTextDatum(queue[i].debit ? "debit" : "credit");
		amounts[i] = AmountGetDatum(queue[i].amount);
		balances[i] = AmountGetDatum(balance);
		times[i] = TimestampTzGetDatum(account->updated_at);
		hashes[i] = PointerGetDatum(HashToBytea(account->entry_hash));
	}

	if (insert_applied_direct(account->id, ids, transfer_ids, versions, directions,
							  amounts, balances, times, hashes, n))
		return n;

	values[0] = make_array(transfer_ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	values[1] = Int64GetDatum(account->id);
	values[2] = make_array(versions, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	values[3] = make_array(directions, n, TEXTOID, -1, false, TYPALIGN_INT);
	values[4] = make_array(amounts, n, LedgerAmountTypeOid(), sizeof(Amount), false, TYPALIGN_DOUBLE);
	values[5] = make_array(balances, n, LedgerAmountTypeOid(), sizeof(Amount), false, TYPALIGN_DOUBLE);
	values[6] = make_array(times, n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	values[7] = make_array(hashes, n, BYTEAOID, -1, false, TYPALIGN_INT);
	LedgerExecuteWrite(&insert_applied_entries, values, NULL, 0);
	return n;
}

/*
 * AddQueuedPostings - add an account's queued postings to its posted sums
 * in memory, for a balance read without the lock.  Caller is connected to
 * SPI.
 */
void
AddQueuedPostings(LedgerAccount *account)
{
	Datum		arg = Int64GetDatum(account->id);
	bool		isnull;
	Datum		d;

	LedgerQuery(&queued_sums, &arg, NULL, 1);
	d = LedgerGetColumn(0, 1, &isnull);
	if (!isnull)
		AccountAddPosted(account, LEDGER_DEBIT, DatumGetAmount(d));
	d = LedgerGetColumn(0, 2, &isnull);
	if (!isnull)
		AccountAddPosted(account, LEDGER_CREDIT, DatumGetAmount(d));
}

/*
 * HotPostingAllowed - may this posting on an account read without its row
 * lock be queued?  It must move the balance away from every bound the
 * account has; see the file header for the rest.
 */
bool
HotPostingAllowed(const LedgerAccount *account, LedgerSide side, Amount amount)
{
	bool		lowers = (side == LEDGER_DEBIT) == account->credit_normal;

	if (!account->hot || account->closed || IsolationUsesXactSnapshot())
		return false;
	if (amount > HOT_MAX_AMOUNT ||
		account->debits_posted > HOT_MAX_TOTAL ||
		account->credits_posted > HOT_MAX_TOTAL)
		return false;
	return lowers ? !account->has_min : !account->has_max;
}

/*
 * QueueHotPosting - queue a posting for a hot account; after every
 * HOT_APPLY_EVERY postings, apply the account's queue if its row lock is
 * free.  Caller holds the account's hot lock in share mode and is connected
 * to SPI.
 */
void
QueueHotPosting(int64 account_id, int64 transfer_id, LedgerSide side,
				Amount amount, TimestampTz created_at)
{
	static LedgerStatement insert_queued = LEDGER_STATEMENT(
		"INSERT INTO ledger.hot_entries (account_id, transfer_id, direction,"
		" amount, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id", "bbtaT");
	Datum		values[5];
	bool		isnull;
	int64		queue_id;

	values[0] = Int64GetDatum(account_id);
	values[1] = Int64GetDatum(transfer_id);
	values[2] = CStringGetTextDatum(side == LEDGER_DEBIT ? "debit" : "credit");
	values[3] = AmountGetDatum(amount);
	values[4] = TimestampTzGetDatum(created_at);
	LedgerExecuteWrite(&insert_queued, values, NULL, 0);
	queue_id = DatumGetInt64(LedgerGetColumn(0, 1, &isnull));
	HotPostingQueued(account_id, queue_id);
}

/*
 * HotPostingQueued - after a posting got queue id queue_id: every
 * HOT_APPLY_EVERY postings, apply the account's queue if its row lock is
 * free.
 */
void
HotPostingQueued(int64 account_id, int64 queue_id)
{
	LedgerAccount account;

	/* SKIP LOCKED: never waits, so lock order does not matter here. */
	if (queue_id % HOT_APPLY_EVERY == 0 &&
		LockAccountSkipLocked(account_id, &account) &&
		ApplyHotEntries(&account) > 0)
		SaveAccount(&account);
}

/*
 * LockHotTransferPair - LockAccountPair for a transfer that may touch a hot
 * account.
 *
 * A side whose account is hot and whose posting HotPostingAllowed accepts
 * is read under the account's hot lock, without its row lock, and marked
 * queued; the other accounts are row-locked as usual.  Hot locks first,
 * in ascending id order, then row locks in ascending id order.
 */
void
LockHotTransferPair(const TransferRequest *req, LedgerAccount accounts[2],
					LedgerAccount **debit, LedgerAccount **credit)
{
	bool		debit_first = req->debit_account_id < req->credit_account_id;
	int64		ids[2];
	int64		to_lock[2];
	int			nlock = 0;
	LedgerAccount locked[2];

	memset(accounts, 0, sizeof(LedgerAccount) * 2);
	ids[0] = debit_first ? req->debit_account_id : req->credit_account_id;
	ids[1] = debit_first ? req->credit_account_id : req->debit_account_id;
	for (int i = 0; i < 2; i++)
	{
		LedgerSide	side = (ids[i] == req->debit_account_id) ? LEDGER_DEBIT : LEDGER_CREDIT;

		if (AccountMayBeHot(ids[i]))
		{
			LockHotAccount(ids[i], ShareLock);
			if (!ReadAccountRow(ids[i], false, &accounts[i]))
				ReportUnknownAccount(ids[i]);
			if (HotPostingAllowed(&accounts[i], side, req->amount))
			{
				accounts[i].queued = true;
				continue;
			}
		}
		to_lock[nlock++] = ids[i];
	}

	LockAccounts(to_lock, nlock, locked);
	for (int i = 0, j = 0; i < 2; i++)
		if (!accounts[i].queued)
			accounts[i] = locked[j++];

	*debit = &accounts[debit_first ? 0 : 1];
	*credit = &accounts[debit_first ? 1 : 0];
}

/*
 * ledger_set_account_hot - switch an account's hot mode on or off.
 *
 * Switching off applies the queue, so only hot accounts ever have queued
 * postings.  Waits for postings in flight on the account.
 */
PG_FUNCTION_INFO_V1(ledger_set_account_hot);
Datum
ledger_set_account_hot(PG_FUNCTION_ARGS)
{
	LedgerAccount account;
	int64		id;
	bool		hot;
	Datum		values[2];

	CheckArgNotNull(fcinfo, 0, "account_id");
	CheckArgNotNull(fcinfo, 1, "hot");
	id = PG_GETARG_INT64(0);
	hot = PG_GETARG_BOOL(1);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	LockAccountState(id);
	LockAccounts(&id, 1, &account);	/* applies the queue */
	if (account.hot != hot)
	{
		values[0] = Int64GetDatum(id);
		values[1] = BoolGetDatum(hot);
		LedgerExecuteWrite(&set_hot_flag, values, NULL, 0);
		/* Every backend forgets its cache of hot accounts at our commit. */
		CacheInvalidateRelcacheByRelid(get_relname_relid("accounts",
														 LedgerNamespaceOid()));
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * ledger_apply_hot_entries - apply the queued postings of one account, or
 * of every hot account that has some; returns how many were applied.
 *
 * Waits for each account's row lock in turn, holding no other.
 */
PG_FUNCTION_INFO_V1(ledger_apply_hot_entries);
Datum
ledger_apply_hot_entries(PG_FUNCTION_ARGS)
{
	int64		applied = 0;
	int64	   *ids;
	int			n;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!PG_ARGISNULL(0))
	{
		n = 1;
		ids = palloc(sizeof(int64));
		ids[0] = PG_GETARG_INT64(0);
	}
	else
	{
		LedgerExecute(&hot_accounts_with_queue, NULL, NULL, 0);
		n = (int) SPI_processed;
		ids = palloc(sizeof(int64) * Max(n, 1));
		for (int i = 0; i < n; i++)
		{
			bool		isnull;

			ids[i] = DatumGetInt64(LedgerGetColumn(i, 1, &isnull));
		}
	}

	for (int i = 0; i < n; i++)
	{
		LedgerAccount account;
		int64		missing;

		CHECK_FOR_INTERRUPTS();

		/*
		 * TryLockAccounts applies the queue itself; count what it took by
		 * the versions it added.  An account gone meanwhile has no queue.
		 */
		if (!TryLockAccounts(&ids[i], 1, &account, &missing))
		{
			if (!PG_ARGISNULL(0))
				ReportUnknownAccount(missing);
			continue;
		}
		applied += account.applied_hot_entries;
	}
	SPI_finish();
	PG_RETURN_INT64(applied);
}
