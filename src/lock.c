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

/* The columns LedgerAccount holds, by name. */
static const char *const account_columns[] = {
	"id", "asset", "normal_balance", "min_balance", "max_balance",
	"debits_posted", "credits_posted", "debits_pending", "credits_pending",
	"version", "closed", "updated_at", "holds_expire_at", "entry_hash", "hot"
};

#define NUM_ACCOUNT_COLUMNS lengthof(account_columns)

enum
{
	COL_ID, COL_ASSET, COL_NORMAL_BALANCE, COL_MIN, COL_MAX, COL_DEBITS_POSTED,
	COL_CREDITS_POSTED, COL_DEBITS_PENDING, COL_CREDITS_PENDING, COL_VERSION,
	COL_CLOSED, COL_UPDATED_AT, COL_HOLDS_EXPIRE_AT, COL_ENTRY_HASH, COL_HOT
};

/* How read_rows reads each row: the snapshot, and the lock if any. */
typedef enum ReadMode
{
	READ_CALLER_SNAPSHOT,		/* no lock, the calling statement's snapshot,
								 * as a STABLE function's query */
	READ_NEW_SNAPSHOT,			/* no lock, a new statement's snapshot */
	READ_LOCK,					/* FOR UPDATE */
	READ_LOCK_SKIP_LOCKED		/* FOR UPDATE SKIP LOCKED */
} ReadMode;

/* Attribute numbers of account_columns in the table as last seen. */
static Oid	mapped_relid = InvalidOid;
static AttrNumber column_attnum[NUM_ACCOUNT_COLUMNS];

/* Find account_columns in the table; a missing one is a version mismatch. */
static void
map_columns(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

	if (mapped_relid == RelationGetRelid(rel))
		return;
	for (int c = 0; c < (int) NUM_ACCOUNT_COLUMNS; c++)
	{
		column_attnum[c] = InvalidAttrNumber;
		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute attr = TupleDescAttr(desc, i);

			if (!attr->attisdropped &&
				strcmp(NameStr(attr->attname), account_columns[c]) == 0)
				column_attnum[c] = attr->attnum;
		}
		if (column_attnum[c] == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table \"accounts\" does not have the columns this version of the ledger library expects"),
					 errhint("Run ALTER EXTENSION ledger UPDATE, or install the library that matches the extension's version.")));
	}
	mapped_relid = RelationGetRelid(rel);
}

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
	account->id = DatumGetInt64(column(slot, COL_ID, &isnull));
	text_to_cstring_buffer(DatumGetTextPP(column(slot, COL_ASSET, &isnull)),
						   account->asset, sizeof(account->asset));
	account->credit_normal =
		strcmp(TextDatumGetCString(column(slot, COL_NORMAL_BALANCE, &isnull)),
			   "credit") == 0;
	d = column(slot, COL_MIN, &isnull);
	account->has_min = !isnull;
	if (!isnull)
		account->min_balance = DatumGetAmount(d);
	d = column(slot, COL_MAX, &isnull);
	account->has_max = !isnull;
	if (!isnull)
		account->max_balance = DatumGetAmount(d);
	account->debits_posted = DatumGetAmount(column(slot, COL_DEBITS_POSTED, &isnull));
	account->credits_posted = DatumGetAmount(column(slot, COL_CREDITS_POSTED, &isnull));
	account->debits_pending = DatumGetAmount(column(slot, COL_DEBITS_PENDING, &isnull));
	account->credits_pending = DatumGetAmount(column(slot, COL_CREDITS_PENDING, &isnull));
	account->version = DatumGetInt64(column(slot, COL_VERSION, &isnull));
	account->closed = DatumGetBool(column(slot, COL_CLOSED, &isnull));
	account->updated_at = DatumGetTimestampTz(column(slot, COL_UPDATED_AT, &isnull));
	d = column(slot, COL_HOLDS_EXPIRE_AT, &isnull);
	if (isnull)
		TIMESTAMP_NOEND(account->holds_expire_at);
	else
		account->holds_expire_at = DatumGetTimestampTz(d);
	d = column(slot, COL_ENTRY_HASH, &isnull);
	account->has_entry_hash = !isnull;
	if (!isnull)
	{
		bytea	   *hash = DatumGetByteaPP(d);

		if (VARSIZE_ANY_EXHDR(hash) != LEDGER_HASH_LEN)
			elog(ERROR, "entry hash of account %lld has the wrong length",
				 (long long) account->id);
		memcpy(account->entry_hash, VARDATA_ANY(hash), LEDGER_HASH_LEN);
	}
	account->hot = DatumGetBool(column(slot, COL_HOT, &isnull));
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
	map_columns(rel);

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
