/*
 * lock.c - row-lock accounts through the primary key, without the executor.
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
 */
#include "ledger.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

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

/* Copy the locked row in slot into *account. */
static void
account_from_slot(TupleTableSlot *slot, LedgerAccount *account)
{
	bool		isnull;
	Datum		d;

	slot_getallattrs(slot);
	memset(account, 0, sizeof(LedgerAccount));
	account->id = DatumGetInt64(column(slot, ACC_ID, &isnull));
	text_to_cstring_buffer(DatumGetTextPP(column(slot, ACC_ASSET, &isnull)),
						   account->asset, sizeof(account->asset));
	account->credit_normal =
		strcmp(TextDatumGetCString(column(slot, ACC_NORMAL_BALANCE, &isnull)),
			   "credit") == 0;
	d = column(slot, ACC_MIN_BALANCE, &isnull);
	account->has_min = !isnull;
	if (!isnull)
		account->min_balance = DatumGetAmount(d);
	d = column(slot, ACC_MAX_BALANCE, &isnull);
	account->has_max = !isnull;
	if (!isnull)
		account->max_balance = DatumGetAmount(d);
	account->debits_posted = DatumGetAmount(column(slot, ACC_DEBITS_POSTED, &isnull));
	account->credits_posted = DatumGetAmount(column(slot, ACC_CREDITS_POSTED, &isnull));
	account->debits_pending = DatumGetAmount(column(slot, ACC_DEBITS_PENDING, &isnull));
	account->credits_pending = DatumGetAmount(column(slot, ACC_CREDITS_PENDING, &isnull));
	account->version = DatumGetInt64(column(slot, ACC_VERSION, &isnull));
	account->closed = DatumGetBool(column(slot, ACC_CLOSED, &isnull));
	account->updated_at = DatumGetTimestampTz(column(slot, ACC_UPDATED_AT, &isnull));
	d = column(slot, ACC_HOLDS_EXPIRE_AT, &isnull);
	if (isnull)
		TIMESTAMP_NOEND(account->holds_expire_at);
	else
		account->holds_expire_at = DatumGetTimestampTz(d);
	d = column(slot, ACC_ENTRY_HASH, &isnull);
	account->has_entry_hash = !isnull;
	if (!isnull)
	{
		bytea	   *hash = DatumGetByteaPP(d);

		if (VARSIZE_ANY_EXHDR(hash) != LEDGER_HASH_LEN)
			elog(ERROR, "entry hash of account %lld has the wrong length",
				 (long long) account->id);
		memcpy(account->entry_hash, VARDATA_ANY(hash), LEDGER_HASH_LEN);
	}
	account->hot = DatumGetBool(column(slot, ACC_HOT, &isnull));
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
