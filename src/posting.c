/*
 * posting.c - the posting pipeline: one path from locked accounts to
 * written rows, for every movement of money and every change of an account.
 *
 * A transfer, each item of a batch, a hold, a capture, a release, a
 * reversal, the expiry of holds, the application of a hot account's queue,
 * and a change of an account's limits, state or hot mode all go through
 * PostingRun, in these steps:
 *
 *  1. lock: every account the call touches, in ascending id order (the
 *     global lock order, so concurrent calls queue instead of
 *     deadlocking); a change of an account takes its hot lock first; a
 *     single transfer reads a hot account it may queue a posting for under
 *     the account's hot lock in share mode instead (lock.c);
 *  2. bring the locked accounts up to date: their queued hot postings
 *     become entries, their expired holds are released (the other side of
 *     a hold too, if its account is free);
 *  3. replays: what an idempotency key already made answers the call;
 *  4. check every rule and plan the rows, item by item, each item seeing
 *     what the ones before it did (rules.c): first that the item stays in
 *     one book and that the caller may make it there (authority.c), so a
 *     caller without the privilege learns nothing of a key's replay;
 *  5. chain: the new transfers' ids, the entries' time and hash chains;
 *  6. write: every planned row, table by table, through table.c, which
 *     decides how each table is written.
 *
 * Nothing is written before step 6, so a refused call leaves nothing
 * behind.  A key that a concurrent call committed after step 3 is found
 * when its row is written first in step 6: a single call then answers
 * with that call's result and writes only what step 2 did; a batch fails
 * with 40001.
 */
#include "ledger.h"

#include "posting.h"
#include "table.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "lib/qunique.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"

/*
 * A posting whose queue id is a multiple of this applies the account's
 * queue, if it can lock the account without waiting, so that the queue
 * stays short without a background worker.
 */
#define HOT_APPLY_EVERY		1000

static LedgerStatement lock_due_holds = LEDGER_STATEMENT(
	"SELECT id, debit_account_id, credit_account_id, amount, status,"
	" debit_reserved, credit_reserved, book_id, description, metadata, velocity"
	" FROM ledger.hold_records"
	" WHERE ((debit_account_id OPERATOR(pg_catalog.=) ANY ($1) AND debit_reserved)"
	"     OR (credit_account_id OPERATOR(pg_catalog.=) ANY ($1) AND credit_reserved))"
	"   AND expires_at OPERATOR(pg_catalog.<=) $2"
	"   AND book_id OPERATOR(pg_catalog.=) $3"
	" ORDER BY id FOR UPDATE", "BTb");

static LedgerStatement next_expiry = LEDGER_STATEMENT(
	"SELECT pg_catalog.min(expires_at) FROM ledger.hold_records"
	" WHERE (debit_account_id OPERATOR(pg_catalog.=) $1 AND debit_reserved)"
	"    OR (credit_account_id OPERATOR(pg_catalog.=) $1 AND credit_reserved)", "b");

static LedgerStatement lock_hold = LEDGER_STATEMENT(
	"SELECT amount, expires_at, description, metadata, status,"
	" debit_reserved, credit_reserved, velocity FROM ledger.hold_records"
	" WHERE id OPERATOR(pg_catalog.=) $1 AND book_id OPERATOR(pg_catalog.=) $2"
	" FOR UPDATE", "bb");

static LedgerStatement existing_keys = LEDGER_STATEMENT(
	"SELECT t.book_id, t.idempotency_key"
	"  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS k(book_id, idempotency_key)"
	"  JOIN ledger.transfers AS t"
	"    ON t.book_id OPERATOR(pg_catalog.=) k.book_id"
	"   AND t.idempotency_key OPERATOR(pg_catalog.=) k.idempotency_key"
	" WHERE t.idempotency_key IS NOT NULL", "BX");

static LedgerStatement reversed_so_far = LEDGER_STATEMENT(
	"SELECT ledger.sum(amount) FROM ledger.transfers"
	" WHERE reverses_transfer_id OPERATOR(pg_catalog.=) $1", "b");

static LedgerStatement asset_exists = LEDGER_STATEMENT(
	"SELECT 1 FROM ledger.assets WHERE code OPERATOR(pg_catalog.=) $1 FOR KEY SHARE", "t");

static LedgerStatement existing_names = LEDGER_STATEMENT(
	"SELECT a.book_id, a.name"
	"  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS k(book_id, name)"
	"  JOIN ledger.accounts AS a"
	"    ON a.book_id OPERATOR(pg_catalog.=) k.book_id AND a.name OPERATOR(pg_catalog.=) k.name", "BX");

static LedgerStatement book_exists = LEDGER_STATEMENT(
	"SELECT 1 FROM ledger.books WHERE id OPERATOR(pg_catalog.=) $1", "b");

/* A chain hash as a bytea value, in place. */
typedef union HashBytea
{
	int32		align;			/* a varlena header's alignment */
	char		data[VARHDRSZ + LEDGER_HASH_LEN];
} HashBytea;

/* An entry to write. */
typedef struct PlanEntry
{
	int			movement;		/* the item it posts, or -1: a queued posting */
	int			account;		/* among the run's accounts */
	int64		account_id;
	LedgerSide	side;
	Amount		amount;
	Amount		balance;
	int64		version;
	int64		transfer_id;	/* a queued posting's; the item's at step 5 */
	TimestampTz created_at;		/* likewise */
	HashBytea	hash;
} PlanEntry;

/* A posting queued for a hot account. */
typedef struct PlanQueued
{
	int			movement;
	int			account;
	LedgerSide	side;
	int64		queue_id;
} PlanQueued;

/* A queued posting applied, to be taken out of the queue. */
typedef struct QueueKey
{
	int64		account_id;
	int64		id;
} QueueKey;

/* A hold's new resolution, or only its reservations released. */
typedef struct PlanHold
{
	HoldRow		hold;
	bool		resolved;		/* status and resolution columns too */
	int			movement;		/* a capture: its transfer; else -1 */
	Amount		captured;
	TimestampTz resolved_at;
} PlanHold;

/* A growing array of plans. */
#define PLAN_PUSH(arr, n, cap, type) \
	(((n) == (cap) ? \
	  ((cap) = (cap) == 0 ? 8 : (cap) * 2, \
	   (arr) = (arr) == NULL ? palloc(sizeof(type) * (cap)) : repalloc((arr), sizeof(type) * (cap))) : 0), \
	 &(arr)[(n)++])

/* A movement that went beyond a flag velocity limit. */
typedef struct VelocityFlag
{
	int			movement;
	int64		account_id;
	VelocityFlagged flagged;
} VelocityFlag;

/* One run of the pipeline. */
typedef struct Run
{
	Posting    *p;
	int			naccounts;
	int64	   *ids;			/* ascending */
	LedgerAccount *accounts;
	bool	   *locked;			/* row-locked, else read for a queued side */
	bool	   *changed;		/* to be saved */
	LedgerAccount *before;		/* after step 2, should the call turn into a
								 * replay at step 6 */
	bool	   *changed_before;
	int			nbefore_entries;
	int			nbefore_holds;
	LedgerAccount *extra;		/* other sides of expired holds, locked with
								 * SKIP LOCKED */
	int			nextra;
	int			extracap;
	LedgerAccount *as_locked;	/* the accounts as locked, if monitors exist */
	LedgerAccount *extra_as_locked;
	int			nextra_as_locked;
	int			extra_as_lockedcap;
	int64	   *expired_ids;	/* holds step 2 released, for a capture or
								 * release of one of them */
	int			nexpired;
	int			expiredcap;
	TimestampTz now;
	TimestampTz time;			/* of what step 4 counts and step 5 stamps */
	VelocityFlag *flags;		/* flag velocity limits gone beyond */
	int			nflags;
	int			flagscap;

	PlanEntry  *entries;
	int			nentries;
	int			entriescap;
	PlanQueued	queued[2];
	int			nqueued;
	QueueKey   *taken;
	int			ntaken;
	int			takencap;
	PlanHold   *holds;
	int			nholds;
	int			holdscap;

	char	   *checked_asset;	/* new accounts: the asset and book last */
	int64		checked_book;	/* found to exist */

	HTAB	   *existing;		/* batch: keys already taken */
	HTAB	   *seen;			/* batch: keys of earlier items */
	bool		hot_changed;
	Datum		debit_word;
	Datum		credit_word;
} Run;

/* A key of a batch, and the item that used it first. */
typedef struct KeyEntry
{
	char	   *key;			/* hash key: the string the pointer points to */
	int			item;
} KeyEntry;

/* dynahash callbacks for string keys held by pointer. */
static uint32
key_hash(const void *key, Size keysize)
{
	const char *s = *(char *const *) key;

	return hash_bytes((const unsigned char *) s, strlen(s));
}

static int
key_match(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(char *const *) key1, *(char *const *) key2);
}

/* Position of id among the run's accounts, which must contain it. */
static int
account_index(Run *r, int64 id)
{
	int64	   *found = bsearch(&id, r->ids, r->naccounts, sizeof(int64), CompareAccountIds);

	Assert(found != NULL);
	return (int) (found - r->ids);
}

static Datum
direction_word(Run *r, LedgerSide side)
{
	return side == LEDGER_DEBIT ? r->debit_word : r->credit_word;
}

/* The hash as a bytea Datum in buf. */
static Datum
hash_datum(HashBytea *buf, const uint8 *hash)
{
	SET_VARSIZE(buf->data, VARHDRSZ + LEDGER_HASH_LEN);
	memcpy(VARDATA(buf->data), hash, LEDGER_HASH_LEN);
	return PointerGetDatum(buf->data);
}

/* Does the movement name two accounts (a transfer, hold or resolution)? */
static bool
moves_money(const Movement *m)
{
	return m->kind != MOVE_ACCOUNT && m->kind != MOVE_CREATE_ACCOUNT;
}

/* ---------------------------------------------------------------------------
 * Step 1: lock.
 * ---------------------------------------------------------------------------
 */

/*
 * report_missing - the error for an account that does not exist; in a
 * batch, naming the first item that uses it.
 */
static void
report_missing(Run *r, int64 missing)
{
	Posting    *p = r->p;

	if (p->batch)
		for (p->current = 0; p->current < p->nitems; p->current++)
			if (p->items[p->current].req.debit_account_id == missing ||
				p->items[p->current].req.credit_account_id == missing)
				break;
	ReportUnknownAccount(missing);
}

/*
 * lock_accounts - lock the run's accounts.  Returns false when a run that
 * may skip them (skip_locked, missing_ok) has nothing to do.
 */
static bool
lock_accounts(Run *r)
{
	Posting    *p = r->p;
	int			n = 0;
	int64	   *to_lock;
	int			nlock = 0;
	LedgerAccount *locked;
	int64		missing;

	r->ids = palloc(sizeof(int64) * (p->nitems * 2 + p->naccounts + 1));
	for (int i = 0; i < p->nitems; i++)
	{
		Movement   *m = &p->items[i];

		if (m->kind == MOVE_CREATE_ACCOUNT)
			continue;
		r->ids[n++] = m->req.debit_account_id;
		if (moves_money(m))
			r->ids[n++] = m->req.credit_account_id;
	}
	for (int i = 0; i < p->naccounts; i++)
		r->ids[n++] = p->accounts[i];
	qsort(r->ids, n, sizeof(int64), CompareAccountIds);
	n = qunique(r->ids, n, sizeof(int64), CompareAccountIds);
	r->naccounts = n;
	r->accounts = palloc(sizeof(LedgerAccount) * Max(n, 1));
	r->locked = palloc0(sizeof(bool) * Max(n, 1));
	r->changed = palloc0(sizeof(bool) * Max(n, 1));
	if (n == 0)
		return true;

	/* A change of an account waits for the postings in flight on it. */
	for (int i = 0; i < p->nitems; i++)
		if (p->items[i].kind == MOVE_ACCOUNT)
			LockAccountState(p->items[i].req.debit_account_id);

	/*
	 * A single transfer reads a hot account under its hot lock, and queues
	 * its posting there if that cannot break the account's rules; hot locks
	 * first, in ascending id order, then row locks in ascending id order.
	 */
	to_lock = palloc(sizeof(int64) * n);
	for (int a = 0; a < n; a++)
	{
		if (p->may_queue && AccountMayBeHot(r->ids[a]))
		{
			Movement   *m = &p->items[0];
			LedgerSide	side = r->ids[a] == m->req.debit_account_id ? LEDGER_DEBIT : LEDGER_CREDIT;

			LockHotAccount(r->ids[a], ShareLock);
			if (!ReadAccountRow(r->ids[a], false, &r->accounts[a]))
				ReportUnknownAccount(r->ids[a]);
			if (HotPostingAllowed(&r->accounts[a], side, m->req.amount))
			{
				if (side == LEDGER_DEBIT)
					m->debit_queued = true;
				else
					m->credit_queued = true;
				continue;
			}
		}
		to_lock[nlock++] = r->ids[a];
	}

	locked = palloc(sizeof(LedgerAccount) * Max(nlock, 1));
	if (p->skip_locked)
	{
		p->locked_all = true;
		for (int i = 0; i < nlock; i++)
			if (!LockAccountSkipLocked(to_lock[i], &locked[i]))
				p->locked_all = false;
		if (!p->locked_all)
			return false;
	}
	else if (!LockAccountRows(to_lock, nlock, locked, &missing))
	{
		if (p->missing_ok)
			return false;
		report_missing(r, missing);
	}
	for (int a = 0, j = 0; a < n; a++)
	{
		if (j < nlock && to_lock[j] == r->ids[a])
		{
			r->accounts[a] = locked[j++];
			r->locked[a] = true;
		}
	}
	return true;
}

/* ---------------------------------------------------------------------------
 * Step 2: bring the locked accounts up to date.
 * ---------------------------------------------------------------------------
 */

/*
 * apply_queue - the committed queue of a locked hot account becomes its
 * entries, in queue order, in memory; the rows are written at step 6.  A
 * posting that commits meanwhile stays queued for next time.  Returns
 * whether any was applied.
 */
static bool
apply_queue(Run *r, int a)
{
	LedgerAccount *account = &r->accounts[a];
	TableColumn key = {"account_id", INT8OID};
	TableColumn columns[] = {
		{"id", INT8OID}, {"transfer_id", INT8OID}, {"direction", TEXTOID},
		{"amount", LedgerAmountTypeOid()}, {"created_at", TIMESTAMPTZOID}
	};
	Datum	   *values;
	bool	   *nulls;
	int			n = TableFetchAll("hot_entries", &key, Int64GetDatum(account->id), "id",
								  columns, lengthof(columns), &values, &nulls);

	for (int q = 0; q < n; q++)
	{
		Datum	   *row = &values[q * lengthof(columns)];
		char	   *direction = TextDatumGetCString(row[2]);
		PlanEntry  *e = PLAN_PUSH(r->entries, r->nentries, r->entriescap, PlanEntry);
		QueueKey   *k = PLAN_PUSH(r->taken, r->ntaken, r->takencap, QueueKey);

		CHECK_FOR_INTERRUPTS();
		e->movement = -1;
		e->account = a;
		e->account_id = account->id;
		e->side = direction[0] == 'd' ? LEDGER_DEBIT : LEDGER_CREDIT;
		e->amount = DatumGetAmount(row[3]);
		e->balance = AccountPost(account, e->side, e->amount);
		e->version = account->version;
		e->transfer_id = DatumGetInt64(row[1]);
		/* Never back in time in version order, as for any entry. */
		account->updated_at = Max(account->updated_at, DatumGetTimestampTz(row[4]));
		e->created_at = account->updated_at;
		k->account_id = account->id;
		k->id = DatumGetInt64(row[0]);
	}
	if (n > 0)
		r->changed[a] = true;
	r->p->postings_applied += n;
	return n > 0;
}

/* The velocity marks of a hold, column col of row of the SPI result. */
static void
hold_marks(HoldRow *hold, int row, int col)
{
	bool		isnull;
	Datum		d = LedgerGetColumn(row, col, &isnull);

	hold->velocity_marks = NULL;
	hold->nvelocity_marks = 0;
	if (!isnull)
		hold->velocity_marks = VelocityMarksDecode(DatumGetByteaPP(d), hold->id,
												   &hold->nvelocity_marks);
}

/*
 * Release one side of a hold on an account (in memory), and give back to
 * the account's velocity limits what the hold took of them but captured
 * does not keep.
 */
static void
release_side(HoldRow *hold, LedgerAccount *account, LedgerSide side, Amount captured)
{
	AccountUnreserve(account, side, hold->amount);
	VelocityGiveBack(account, side, hold->amount - captured, captured == 0,
					 hold->velocity_marks, hold->nvelocity_marks);
	if (side == LEDGER_DEBIT)
		hold->debit_reserved = false;
	else
		hold->credit_reserved = false;
}

/* Plan the release of the due holds lock_due_holds found, nholds rows. */
static void
read_due_holds(Run *r, int nholds)
{
	for (int h = 0; h < nholds; h++)
	{
		PlanHold   *plan = PLAN_PUSH(r->holds, r->nholds, r->holdscap, PlanHold);
		HoldRow    *hold = &plan->hold;
		bool		isnull;

		memset(plan, 0, sizeof(PlanHold));
		plan->movement = -1;
		hold->id = DatumGetInt64(LedgerGetColumn(h, 1, &isnull));
		hold->debit_account_id = DatumGetInt64(LedgerGetColumn(h, 2, &isnull));
		hold->credit_account_id = DatumGetInt64(LedgerGetColumn(h, 3, &isnull));
		hold->amount = DatumGetAmount(LedgerGetColumn(h, 4, &isnull));
		strlcpy(hold->status, TextDatumGetCString(LedgerGetColumn(h, 5, &isnull)),
				sizeof(hold->status));
		hold->debit_reserved = DatumGetBool(LedgerGetColumn(h, 6, &isnull));
		hold->credit_reserved = DatumGetBool(LedgerGetColumn(h, 7, &isnull));
		hold->book_id = DatumGetInt64(LedgerGetColumn(h, 8, &isnull));
		hold->description = LedgerGetColumn(h, 9, &hold->description_null);
		hold->metadata = LedgerGetColumn(h, 10, &hold->metadata_null);
		hold_marks(hold, h, 11);
	}
}

/*
 * expire_holds - release the expired holds reserved on the locked accounts.
 *
 * A hold's other side is released too when its account is among the run's
 * or can be locked without waiting (a caller that locks in ascending order
 * would deadlock with a wait here); otherwise that side stays reserved
 * until its own account is next locked.  Hence each side of a hold is
 * released on its own, and an account's pending column is always the sum
 * of the holds reserved on it.
 */
static void
expire_holds(Run *r)
{
	Datum	   *elems = palloc(sizeof(Datum) * r->naccounts);
	int64	   *due_books = palloc(sizeof(int64) * r->naccounts);
	int			ndue_books = 0;
	int			first_hold = r->nholds;

	for (int a = 0; a < r->naccounts; a++)
	{
		bool		known = false;

		if (!r->locked[a] || r->accounts[a].holds_expire_at > r->now)
			continue;
		for (int b = 0; b < ndue_books && !known; b++)
			known = due_books[b] == r->accounts[a].book_id;
		if (!known)
			due_books[ndue_books++] = r->accounts[a].book_id;
	}

	/*
	 * One statement per book with a due account (a batch may span books):
	 * the holds of a book are in its shard when Citus distributes them.
	 */
	for (int b = 0; b < ndue_books; b++)
	{
		int			nlocked = 0;
		Datum		values[3];

		for (int a = 0; a < r->naccounts; a++)
			if (r->locked[a] && r->accounts[a].book_id == due_books[b])
				elems[nlocked++] = Int64GetDatum(r->ids[a]);
		values[0] = PointerGetDatum(construct_array(elems, nlocked, INT8OID, sizeof(int64),
													FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[1] = TimestampTzGetDatum(r->now);
		values[2] = Int64GetDatum(due_books[b]);
		LedgerExecute(&lock_due_holds, values, NULL, 0);
		read_due_holds(r, (int) SPI_processed);
	}

	for (int h = first_hold; h < r->nholds; h++)
	{
		PlanHold   *plan = &r->holds[h];
		HoldRow    *hold = &plan->hold;

		CHECK_FOR_INTERRUPTS();
		for (int s = 0; s < 2; s++)
		{
			LedgerSide	side = s == 0 ? LEDGER_DEBIT : LEDGER_CREDIT;
			bool		reserved = s == 0 ? hold->debit_reserved : hold->credit_reserved;
			int64		account_id = s == 0 ? hold->debit_account_id : hold->credit_account_id;
			int64	   *found;
			LedgerAccount *account = NULL;

			if (!reserved)
				continue;
			found = bsearch(&account_id, r->ids, r->naccounts, sizeof(int64), CompareAccountIds);
			if (found != NULL && r->locked[found - r->ids])
			{
				account = &r->accounts[found - r->ids];
				r->changed[found - r->ids] = true;
			}
			for (int x = 0; x < r->nextra && account == NULL; x++)
				if (r->extra[x].id == account_id)
					account = &r->extra[x];
			if (account == NULL)
			{
				account = PLAN_PUSH(r->extra, r->nextra, r->extracap, LedgerAccount);
				if (!LockAccountSkipLocked(account_id, account))
				{
					/* Taken: released when its own account is next locked. */
					r->nextra--;
					account = NULL;
				}
				else if (r->as_locked != NULL)
					*PLAN_PUSH(r->extra_as_locked, r->nextra_as_locked,
							   r->extra_as_lockedcap, LedgerAccount) = *account;
			}
			if (account != NULL)
				release_side(hold, account, side, 0);
		}
		r->p->holds_released++;
		*PLAN_PUSH(r->expired_ids, r->nexpired, r->expiredcap, int64) = hold->id;
		if (strcmp(hold->status, "pending") == 0)
		{
			/* Expired earlier on one side: its resolution stays as recorded. */
			strlcpy(hold->status, "expired", sizeof(hold->status));
			plan->resolved = true;
			plan->resolved_at = r->now;
		}
	}

	/* The next expiry of each account, now that its due holds are gone. */
	for (int a = 0; a < r->naccounts; a++)
	{
		Datum		id = Int64GetDatum(r->ids[a]);
		bool		isnull;
		Datum		next;

		if (!r->locked[a] || r->accounts[a].holds_expire_at > r->now)
			continue;
		LedgerExecute(&next_expiry, &id, NULL, 1);
		next = LedgerGetColumn(0, 1, &isnull);
		if (isnull)
			TIMESTAMP_NOEND(r->accounts[a].holds_expire_at);
		else
			r->accounts[a].holds_expire_at = DatumGetTimestampTz(next);
		r->changed[a] = true;
	}
}

/* ---------------------------------------------------------------------------
 * Step 3: replays.
 * ---------------------------------------------------------------------------
 */

/* Are two nullable text Datums equal? */
static bool
text_equal(Datum a, bool anull, Datum b, bool bnull)
{
	if (anull || bnull)
		return anull && bnull;
	return strcmp(TextDatumGetCString(a), TextDatumGetCString(b)) == 0;
}

/* Are two nullable jsonb Datums equal? */
static bool
jsonb_equal(Datum a, bool anull, Datum b, bool bnull)
{
	if (anull || bnull)
		return anull && bnull;
	return DatumGetBool(DirectFunctionCall2(jsonb_eq, a, b));
}

/* Would two requests make the same transfer? */
static bool
same_transfer(const TransferRequest *a, const TransferRequest *b)
{
	return a->debit_account_id == b->debit_account_id &&
		a->credit_account_id == b->credit_account_id &&
		a->amount == b->amount &&
		a->hold_id == b->hold_id &&
		a->reverses_transfer_id == b->reverses_transfer_id &&
		text_equal(a->description, a->description_null,
				   b->description, b->description_null) &&
		jsonb_equal(a->metadata, a->metadata_null,
					b->metadata, b->metadata_null);
}

/*
 * find_by_key - the id of the transfer (of the hold, for a hold) that holds
 * the movement's key in its book when it was made with the same arguments,
 * an idempotency conflict when it was not, 0 when the key is unused.
 *
 * A hold's replay must repeat the accounts, the amount, the description
 * and the metadata.  Not the expiry: a client that asks for "a week from
 * now" on every attempt, as ledger.hold(..., expires_at => now() +
 * interval '7 days') does, computes another time on each retry, and the
 * hold it retries is the one already placed, with the expiry of the first
 * call.
 */
static int64
find_by_key(const Movement *m, bool hold)
{
	const TransferRequest *req = &m->req;
	TableColumn key[] = {{"book_id", INT8OID}, {"idempotency_key", TEXTOID}};
	Datum		keyvalues[2];
	TableColumn columns[] = {
		{"id", INT8OID}, {"debit_account_id", INT8OID},
		{"credit_account_id", INT8OID}, {"amount", LedgerAmountTypeOid()},
		{"description", TEXTOID}, {"metadata", JSONBOID},
		{"hold_id", INT8OID}, {"reverses_transfer_id", INT8OID}
	};
	Datum		values[lengthof(columns)];
	bool		nulls[lengthof(columns)];
	TransferRequest found;

	if (req->idempotency_key == NULL)
		return 0;
	keyvalues[0] = Int64GetDatum(m->book_id);
	keyvalues[1] = CStringGetTextDatum(req->idempotency_key);
	if (!TableFetchByKey(hold ? "hold_records" : "transfers", key, keyvalues, 2,
						 columns, lengthof(columns) - (hold ? 2 : 0), values, nulls))
		return 0;

	memset(&found, 0, sizeof(found));
	found.debit_account_id = DatumGetInt64(values[1]);
	found.credit_account_id = DatumGetInt64(values[2]);
	found.amount = DatumGetAmount(values[3]);
	found.description = values[4];
	found.description_null = nulls[4];
	found.metadata = values[5];
	found.metadata_null = nulls[5];
	if (!hold)
	{
		found.hold_id = nulls[6] ? 0 : DatumGetInt64(values[6]);
		found.reverses_transfer_id = nulls[7] ? 0 : DatumGetInt64(values[7]);
	}
	if (!same_transfer(req, &found))
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_IDEMPOTENCY_CONFLICT),
				 errmsg("idempotency key \"%s\" was already used with different arguments",
						req->idempotency_key),
				 errdetail("The key belongs to %s %lld of %s from account %lld to account %lld.",
						   hold ? "hold" : "transfer",
						   (long long) DatumGetInt64(values[0]), AmountToCString(found.amount),
						   (long long) found.debit_account_id,
						   (long long) found.credit_account_id),
				 hold ?
				 errhint("Use a new key for a new hold, or repeat the original arguments to get its id.") :
				 errhint("Use a new key for a new transfer, or repeat the original arguments to get its id.")));
	return DatumGetInt64(values[0]);
}

/* A batch item's key as its hash key: unique per book. */
static char *
book_key(int64 book_id, const char *key)
{
	return psprintf(INT64_FORMAT ":%s", book_id, key);
}

/*
 * A batch's keys already taken in their books, in one query, and its own
 * keys so far: the idempotency keys of its transfers, or the names of the
 * accounts it creates.
 */
static void
batch_keys(Run *r)
{
	Posting    *p = r->p;
	HASHCTL		ctl;
	Datum	   *books = palloc(sizeof(Datum) * Max(p->nitems, 1));
	Datum	   *keyvals = palloc(sizeof(Datum) * Max(p->nitems, 1));
	int			nkeys = 0;
	bool		names = false;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(KeyEntry);
	ctl.hash = key_hash;
	ctl.match = key_match;
	ctl.hcxt = CurrentMemoryContext;
	r->seen = hash_create("ledger batch keys", Max(p->nitems, 16), &ctl,
						  HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	r->existing = hash_create("ledger batch existing keys", 16, &ctl,
							  HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	for (int i = 0; i < p->nitems; i++)
	{
		Movement   *m = &p->items[i];

		if (m->kind == MOVE_CREATE_ACCOUNT && !m->account->name_null)
		{
			books[nkeys] = Int64GetDatum(m->account->book_id);
			keyvals[nkeys++] = m->account->name;
			names = true;
		}
		else if (m->kind == MOVE_TRANSFER && m->req.idempotency_key)
		{
			int			a = account_index(r, m->req.debit_account_id);

			books[nkeys] = Int64GetDatum(r->accounts[a].book_id);
			keyvals[nkeys++] = CStringGetTextDatum(m->req.idempotency_key);
		}
	}
	if (nkeys > 0)
	{
		Datum		args[2];

		args[0] = PointerGetDatum(construct_array(books, nkeys, INT8OID, sizeof(int64),
												  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		args[1] = PointerGetDatum(construct_array(keyvals, nkeys, TEXTOID, -1, false,
												  TYPALIGN_INT));
		LedgerExecute(names ? &existing_names : &existing_keys, args, NULL, 0);
		for (uint64 row = 0; row < SPI_processed; row++)
		{
			bool		isnull;
			int64		book = DatumGetInt64(LedgerGetColumn(row, 1, &isnull));
			char	   *k = book_key(book, TextDatumGetCString(LedgerGetColumn(row, 2, &isnull)));
			KeyEntry   *e = hash_search(r->existing, &k, HASH_ENTER, NULL);

			e->key = k;
			e->item = -1;
		}
	}
}

/*
 * batch_replay - true when a batch item's key makes it no new transfer: a
 * replay of an earlier call (its id), or the key of an earlier item of the
 * batch in the same book with the same arguments (same_as).
 */
static bool
batch_replay(Run *r, int i)
{
	Movement   *m = &r->p->items[i];
	KeyEntry   *e;
	bool		found;
	char	   *k;

	if (m->req.idempotency_key == NULL)
		return false;
	k = book_key(m->book_id, m->req.idempotency_key);
	if (hash_search(r->existing, &k, HASH_FIND, NULL))
	{
		m->id = find_by_key(m, false);
		return true;
	}
	e = hash_search(r->seen, &k, HASH_ENTER, &found);
	if (found)
	{
		if (!same_transfer(&m->req, &r->p->items[e->item].req))
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_IDEMPOTENCY_CONFLICT),
					 errmsg("idempotency key \"%s\" was already used with different arguments",
							m->req.idempotency_key),
					 errdetail("Item %d of the batch uses the same key.", e->item + 1)));
		m->same_as = e->item;
		return true;
	}
	e->key = k;
	e->item = i;
	return false;
}

/* ---------------------------------------------------------------------------
 * Step 4: check every rule and plan the rows, item by item.
 * ---------------------------------------------------------------------------
 */

/* An entry of the item on a locked account, planned. */
static void
plan_entry(Run *r, int movement, int a, LedgerSide side, Amount amount, Amount balance)
{
	PlanEntry  *e = PLAN_PUSH(r->entries, r->nentries, r->entriescap, PlanEntry);

	e->movement = movement;
	e->account = a;
	e->account_id = r->accounts[a].id;
	e->side = side;
	e->amount = amount;
	e->balance = balance;
	e->version = r->accounts[a].version;
	r->changed[a] = true;
}

/*
 * count_velocity - count item i's movement on one side of it against the
 * account's velocity limits (a reject limit refuses it here); the flag
 * limits it goes beyond are kept for its events.  A hold records which
 * limits counted it; a capture is not counted again by those that counted
 * its hold.
 */
static void
count_velocity(Run *r, int i, LedgerAccount *account, LedgerSide side, Movement *hold)
{
	Movement   *m = &r->p->items[i];
	VelocityFlagged flagged[VELOCITY_MAX_RULES];
	int			nflagged;
	const int64 *skip = NULL;
	int			nskip = 0;
	int64	   *marks = NULL;
	int			nmarks = 0;

	if (account->velocity == NULL)
		return;
	if (m->kind == MOVE_CAPTURE)
	{
		skip = m->hold->velocity_marks;
		nskip = m->hold->nvelocity_marks;
	}
	if (hold != NULL)
	{
		marks = palloc(sizeof(int64) * 2 * (hold->nvelocity_marks + VELOCITY_MAX_RULES));
		if (hold->nvelocity_marks > 0)
			memcpy(marks, hold->velocity_marks, sizeof(int64) * 2 * hold->nvelocity_marks);
	}
	VelocityCount(account, side, m->req.amount, r->time, skip, nskip, flagged, &nflagged,
				  marks ? marks + 2 * (hold ? hold->nvelocity_marks : 0) : NULL, &nmarks);
	if (hold != NULL)
	{
		hold->velocity_marks = marks;
		hold->nvelocity_marks += nmarks;
	}
	for (int k = 0; k < nflagged; k++)
	{
		VelocityFlag *f = PLAN_PUSH(r->flags, r->nflags, r->flagscap, VelocityFlag);

		f->movement = i;
		f->account_id = account->id;
		f->flagged = flagged[k];
	}
}

/*
 * plan_transfer - post a checked transfer: an entry on each locked side,
 * checked against its limits, or a queued posting for a side queued.
 */
static void
plan_transfer(Run *r, int i)
{
	Movement   *m = &r->p->items[i];
	LedgerAccount *debit = &r->accounts[m->debit];
	LedgerAccount *credit = &r->accounts[m->credit];
	Amount		debit_balance = 0;
	Amount		credit_balance = 0;

	if (!m->debit_queued)
		debit_balance = AccountPost(debit, LEDGER_DEBIT, m->req.amount);
	if (!m->credit_queued)
		credit_balance = AccountPost(credit, LEDGER_CREDIT, m->req.amount);
	if (!m->debit_queued)
		CheckAccountLimits(debit, LEDGER_DEBIT, m->req.amount);
	if (!m->credit_queued)
		CheckAccountLimits(credit, LEDGER_CREDIT, m->req.amount);
	/* A reversal takes no allowance; a capture's hold took it already. */
	if (m->kind != MOVE_REVERSAL)
	{
		if (!m->debit_queued)
			count_velocity(r, i, debit, LEDGER_DEBIT, NULL);
		if (!m->credit_queued)
			count_velocity(r, i, credit, LEDGER_CREDIT, NULL);
	}

	for (int s = 0; s < 2; s++)
	{
		LedgerSide	side = s == 0 ? LEDGER_DEBIT : LEDGER_CREDIT;
		int			a = s == 0 ? m->debit : m->credit;

		if (s == 0 ? m->debit_queued : m->credit_queued)
		{
			PlanQueued *q = &r->queued[r->nqueued++];

			q->movement = i;
			q->account = a;
			q->side = side;
		}
		else
			plan_entry(r, i, a, side, m->req.amount, s == 0 ? debit_balance : credit_balance);
	}
	m->posts = true;
	m->created = true;
}

/*
 * lock_hold_row - lock the hold a capture or release resolves, after its
 * accounts, and read it.  A hold that step 2 released as expired reads so.
 */
static void
lock_hold_row(Run *r, Movement *m)
{
	Datum		args[2] = {Int64GetDatum(m->req.hold_id), Int64GetDatum(m->book_id)};
	HoldRow    *hold = palloc0(sizeof(HoldRow));
	bool		isnull;

	m->hold = hold;
	LedgerExecute(&lock_hold, args, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_UNKNOWN_HOLD),
				 errmsg("hold %lld does not exist", (long long) m->req.hold_id)));
	hold->id = m->req.hold_id;
	hold->debit_account_id = m->req.debit_account_id;
	hold->credit_account_id = m->req.credit_account_id;
	hold->amount = DatumGetAmount(LedgerGetColumn(0, 1, &isnull));
	hold->expires_at = DatumGetTimestampTz(LedgerGetColumn(0, 2, &isnull));
	hold->has_expiry = !isnull;
	hold->description = LedgerGetColumn(0, 3, &hold->description_null);
	hold->metadata = LedgerGetColumn(0, 4, &hold->metadata_null);
	strlcpy(hold->status, TextDatumGetCString(LedgerGetColumn(0, 5, &isnull)),
			sizeof(hold->status));
	hold->debit_reserved = DatumGetBool(LedgerGetColumn(0, 6, &isnull));
	hold->credit_reserved = DatumGetBool(LedgerGetColumn(0, 7, &isnull));
	hold_marks(hold, 0, 8);
	hold->book_id = m->book_id;
	for (int x = 0; x < r->nexpired; x++)
		if (r->expired_ids[x] == hold->id)
			strlcpy(hold->status, "expired", sizeof(hold->status));
}

/* Reject resolving a hold that is no longer pending. */
static void
check_hold_pending(const HoldRow *hold, TimestampTz now)
{
	if (strcmp(hold->status, "captured") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_HOLD_CAPTURED),
				 errmsg("hold %lld is already captured", (long long) hold->id)));
	if (strcmp(hold->status, "released") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_HOLD_RELEASED),
				 errmsg("hold %lld is already released", (long long) hold->id)));
	if (strcmp(hold->status, "expired") == 0 ||
		(hold->has_expiry && hold->expires_at <= now))
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_HOLD_EXPIRED),
				 errmsg("hold %lld has expired", (long long) hold->id),
				 errdetail("It expired at %s.", timestamptz_to_str(hold->expires_at)),
				 errhint("Place a new hold.")));
}

/* Plan a hold's resolution by a capture or release of item movement. */
static void
plan_resolution(Run *r, int movement, const char *status, Amount captured)
{
	Movement   *m = &r->p->items[movement];
	PlanHold   *plan = PLAN_PUSH(r->holds, r->nholds, r->holdscap, PlanHold);

	release_side(m->hold, &r->accounts[m->debit], LEDGER_DEBIT, captured);
	release_side(m->hold, &r->accounts[m->credit], LEDGER_CREDIT, captured);
	r->changed[m->debit] = r->changed[m->credit] = true;
	strlcpy(m->hold->status, status, sizeof(m->hold->status));
	plan->hold = *m->hold;
	plan->resolved = true;
	plan->movement = strcmp(status, "captured") == 0 ? movement : -1;
	plan->captured = captured;
	plan->resolved_at = m->now;
}

/* The checks and plans of a reversal: what is left of the original. */
static void
plan_reversal(Run *r, int i)
{
	Movement   *m = &r->p->items[i];
	Datum		arg = Int64GetDatum(m->req.reverses_transfer_id);
	Amount		reversed = 0;
	Amount		remaining;
	bool		isnull;
	Datum		d;

	LedgerExecute(&reversed_so_far, &arg, NULL, 1);
	d = LedgerGetColumn(0, 1, &isnull);
	if (!isnull)
		reversed = DatumGetAmount(d);
	remaining = m->original_amount - reversed;

	if (!m->amount_given)
	{
		TableColumn key[] = {{"book_id", INT8OID}, {"idempotency_key", TEXTOID}};
		TableColumn columns[] = {
			{"amount", LedgerAmountTypeOid()}, {"reverses_transfer_id", INT8OID}
		};
		Datum		keyvalues[2];
		Datum		values[2];
		bool		nulls[2];

		m->req.amount = remaining;
		/* A replay without an amount means the amount the key was used with. */
		if (m->req.idempotency_key)
		{
			keyvalues[0] = Int64GetDatum(m->book_id);
			keyvalues[1] = CStringGetTextDatum(m->req.idempotency_key);
			if (TableFetchByKey("transfers", key, keyvalues, 2, columns, 2, values, nulls) &&
				!nulls[1] && DatumGetInt64(values[1]) == m->req.reverses_transfer_id)
				m->req.amount = DatumGetAmount(values[0]);
		}
	}

	m->id = find_by_key(m, false);
	if (m->id != 0)
		return;
	if (remaining == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_REVERSAL_EXCEEDS),
				 errmsg("transfer %lld is already fully reversed",
						(long long) m->req.reverses_transfer_id),
				 errdetail("Transfer %lld moved %s.", (long long) m->req.reverses_transfer_id,
						   AmountToCString(m->original_amount))));
	if (m->req.amount > remaining)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_REVERSAL_EXCEEDS),
				 errmsg("reversal of %s exceeds what remains of transfer %lld",
						AmountToCString(m->req.amount), (long long) m->req.reverses_transfer_id),
				 errdetail("Transfer %lld moved %s, of which %s is already reversed.",
						   (long long) m->req.reverses_transfer_id,
						   AmountToCString(m->original_amount),
						   AmountToCString(reversed))));
	CheckTransferAccounts(&r->accounts[m->debit], &r->accounts[m->credit]);
	plan_transfer(r, i);
}

/* The checks and plans of a hold: a reservation on both sides. */
static void
plan_hold(Run *r, int i)
{
	Movement   *m = &r->p->items[i];
	LedgerAccount *debit = &r->accounts[m->debit];
	LedgerAccount *credit = &r->accounts[m->credit];

	if ((m->id = find_by_key(m, true)) != 0)
		return;
	if (m->has_expiry && (m->expires_at <= m->now || TIMESTAMP_NOT_FINITE(m->expires_at)))
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_EXPIRY),
				 errmsg("expiry time %s is not in the future",
						timestamptz_to_str(m->expires_at)),
				 errhint("Pass a future time, or NULL for a hold that never expires.")));
	CheckTransferAccounts(debit, credit);
	AccountReserve(debit, LEDGER_DEBIT, m->req.amount);
	AccountReserve(credit, LEDGER_CREDIT, m->req.amount);
	CheckAccountLimits(debit, LEDGER_DEBIT, m->req.amount);
	CheckAccountLimits(credit, LEDGER_CREDIT, m->req.amount);
	/* A reservation takes its allowance until it is released. */
	count_velocity(r, i, debit, LEDGER_DEBIT, m);
	count_velocity(r, i, credit, LEDGER_CREDIT, m);
	if (m->has_expiry)
	{
		debit->holds_expire_at = Min(debit->holds_expire_at, m->expires_at);
		credit->holds_expire_at = Min(credit->holds_expire_at, m->expires_at);
	}
	r->changed[m->debit] = r->changed[m->credit] = true;
	m->created = true;
}

/* The checks and plans of a capture: the hold released, a transfer posted. */
static void
plan_capture(Run *r, int i)
{
	Movement   *m = &r->p->items[i];

	lock_hold_row(r, m);
	m->req.amount = m->amount_given ? m->req.amount : m->hold->amount;
	m->req.description = m->hold->description;
	m->req.description_null = m->hold->description_null;
	m->req.metadata = m->hold->metadata;
	m->req.metadata_null = m->hold->metadata_null;

	/* A replay of a capture that committed returns its transfer. */
	if ((m->id = find_by_key(m, false)) != 0)
		return;
	check_hold_pending(m->hold, m->now);
	if (m->req.amount > m->hold->amount)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_CAPTURE_EXCEEDS_HOLD),
				 errmsg("capture amount %s exceeds hold %lld",
						AmountToCString(m->req.amount), (long long) m->hold->id),
				 errdetail("The hold is for %s.", AmountToCString(m->hold->amount))));
	plan_resolution(r, i, "captured", m->req.amount);
	plan_transfer(r, i);
}

/*
 * A velocity limit added to the account, counting from now, or one taken
 * off (m->created says whether it was there).
 */
static void
change_velocity(Run *r, Movement *m, LedgerAccount *account)
{
	VelocityRule *rule = m->account->velocity;
	Velocity   *v;

	v = account->velocity != NULL ? VelocityCopy(account->velocity, 1) : VelocityAlloc(1);
	if (m->account->change == CHANGE_ADD_VELOCITY)
	{
		if (v->nrules >= VELOCITY_MAX_RULES)
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_INVALID_ARGUMENT),
					 errmsg("account %lld already has %d velocity limits",
							(long long) account->id, VELOCITY_MAX_RULES),
					 errhint("Drop one with ledger.drop_velocity_limit() first.")));
		v->rules[v->nrules] = *rule;
		v->rules[v->nrules].head = VelocityBucket(rule, r->time);
		v->nrules++;
		m->created = true;
	}
	else
	{
		for (int k = 0; k < v->nrules; k++)
			if (v->rules[k].id == rule->id)
			{
				memmove(&v->rules[k], &v->rules[k + 1],
						sizeof(VelocityRule) * (v->nrules - k - 1));
				v->nrules--;
				m->created = true;
				break;
			}
	}
	account->velocity = v->nrules > 0 ? v : NULL;
}

/* The checks and plans of a change of an account. */
static void
plan_account_change(Run *r, int i)
{
	Movement   *m = &r->p->items[i];
	int			a = account_index(r, m->req.debit_account_id);
	LedgerAccount *account = &r->accounts[a];

	AuthorityCheck(account->book_id, LEDGER_MANAGE, account->id);
	switch (m->account->change)
	{
		case CHANGE_LIMITS:
			/* The limits are in place since step 1 (set_new_limits). */
			CheckLimitsIncludeBalance(account);
			r->changed[a] = true;
			m->created = true;
			break;
		case CHANGE_CLOSE:
			if (account->debits_pending != 0 || account->credits_pending != 0)
				ereport(ERROR,
						(errcode(ERRCODE_LEDGER_PENDING_HOLDS),
						 errmsg("account %lld has pending holds", (long long) account->id),
						 errdetail("Pending debits are %s and pending credits are %s.",
								   AmountToCString(account->debits_pending),
								   AmountToCString(account->credits_pending)),
						 errhint("Capture or release its holds before closing it.")));
			/* FALLTHROUGH */
		case CHANGE_REOPEN:
			if (account->closed != (m->account->change == CHANGE_CLOSE))
			{
				account->closed = m->account->change == CHANGE_CLOSE;
				r->changed[a] = true;
				m->created = true;
			}
			break;
		case CHANGE_HOT:
			if (account->hot != m->account->hot)
			{
				account->hot = m->account->hot;
				r->changed[a] = true;
				r->hot_changed = true;
				m->created = true;
			}
			break;
		case CHANGE_ADD_VELOCITY:
		case CHANGE_DROP_VELOCITY:
			change_velocity(r, m, account);
			r->changed[a] = m->created;
			break;
	}
}

/*
 * set_new_limits - a change of limits is in place before the account is
 * brought up to date and saved: an account whose queue or holds its old
 * limits cannot take (only reachable by editing the tables behind the
 * guards) is repaired by limits that include its balance, never stuck
 * behind the old ones.
 */
static bool
set_new_limits(Run *r)
{
	bool		any = false;

	for (int i = 0; i < r->p->nitems; i++)
	{
		Movement   *m = &r->p->items[i];
		LedgerAccount *account;

		if (m->kind != MOVE_ACCOUNT || m->account->change != CHANGE_LIMITS)
			continue;
		account = &r->accounts[account_index(r, m->req.debit_account_id)];
		account->has_min = m->account->has_min;
		account->min_balance = m->account->min_balance;
		account->has_max = m->account->has_max;
		account->max_balance = m->account->max_balance;
		any = true;
	}
	return any;
}

/* A new account's name is taken in its book. */
static void
report_name_taken(const AccountRequest *a)
{
	ereport(ERROR,
			(errcode(ERRCODE_LEDGER_DUPLICATE_ACCOUNT),
			 errmsg("account name \"%s\" is already taken", TextDatumGetCString(a->name)),
			 a->book_id != 1 ?
			 errdetail("Book %lld has an account of that name.", (long long) a->book_id) : 0));
}

/*
 * The checks of a new account: its book and its asset exist (the asset kept
 * from change).  Accounts made together are mostly of one asset and book,
 * each looked up once in a row.
 */
static void
plan_create_account(Run *r, int i)
{
	Movement   *m = &r->p->items[i];
	char	   *asset = TextDatumGetCString(m->account->asset);
	Datum		book = Int64GetDatum(m->account->book_id);

	if (r->checked_book != m->account->book_id)
	{
		LedgerExecute(&book_exists, &book, NULL, 1);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_UNKNOWN_BOOK),
					 errmsg("book %lld does not exist", (long long) m->account->book_id),
					 errhint("Create it with ledger.create_book().")));
		AuthorityCheck(m->account->book_id, LEDGER_MANAGE, 0);
		r->checked_book = m->account->book_id;
	}
	if (r->checked_asset == NULL || strcmp(r->checked_asset, asset) != 0)
	{
		LedgerExecute(&asset_exists, &m->account->asset, NULL, 1);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_UNKNOWN_ASSET),
					 errmsg("asset \"%s\" does not exist", asset),
					 errhint("Create it with ledger.create_asset().")));
		r->checked_asset = asset;
	}
	m->book_id = m->account->book_id;
	m->created = true;

	/* A batch's names are checked here, item by item; a single name when written. */
	if (r->p->batch && !m->account->name_null)
	{
		char	   *k = book_key(m->book_id, TextDatumGetCString(m->account->name));
		bool		found;
		KeyEntry   *e;

		if (!hash_search(r->existing, &k, HASH_FIND, NULL))
		{
			e = hash_search(r->seen, &k, HASH_ENTER, &found);
			if (!found)
			{
				e->key = k;
				e->item = i;
				return;
			}
		}
		report_name_taken(m->account);
	}
}

/*
 * run_time - the time of the run's movements: the wall clock, but never
 * earlier than the locked accounts' last entry, so that an account's
 * entries never go back in time in version order even when the clock
 * steps back or an older transaction commits later, nor than what their
 * velocity limits last counted, so that each limit counts in time order.
 */
static TimestampTz
run_time(Run *r)
{
	TimestampTz t = GetCurrentTimestamp();

	for (int a = 0; a < r->naccounts; a++)
		if (r->locked[a])
		{
			t = Max(t, r->accounts[a].updated_at);
			t = Max(t, VelocityEarliest(r->accounts[a].velocity));
		}
	return t;
}

/* Step 4 for one item. */
static void
check_and_plan(Run *r, int i)
{
	Movement   *m = &r->p->items[i];

	if (moves_money(m))
	{
		m->debit = account_index(r, m->req.debit_account_id);
		m->credit = account_index(r, m->req.credit_account_id);
		CheckSameBook(&r->accounts[m->debit], &r->accounts[m->credit]);
		m->book_id = r->accounts[m->debit].book_id;
		AuthorityCheckMovement(m->book_id,
							   m->kind == MOVE_TRANSFER || m->kind == MOVE_REVERSAL ?
							   LEDGER_POST : LEDGER_HOLD,
							   m->req.debit_account_id, m->req.credit_account_id);
	}
	switch (m->kind)
	{
		case MOVE_TRANSFER:
			if (r->p->batch ? batch_replay(r, i) :
				(m->id = find_by_key(m, false)) != 0)
				return;
			CheckTransferAccounts(&r->accounts[m->debit], &r->accounts[m->credit]);
			plan_transfer(r, i);
			break;
		case MOVE_REVERSAL:
			plan_reversal(r, i);
			break;
		case MOVE_HOLD:
			plan_hold(r, i);
			break;
		case MOVE_CAPTURE:
			plan_capture(r, i);
			break;
		case MOVE_RELEASE:
			lock_hold_row(r, m);
			check_hold_pending(m->hold, m->now);
			plan_resolution(r, i, "released", 0);
			m->created = true;
			break;
		case MOVE_ACCOUNT:
			plan_account_change(r, i);
			break;
		case MOVE_CREATE_ACCOUNT:
			plan_create_account(r, i);
			break;
	}
}

/* ---------------------------------------------------------------------------
 * Step 5: chain.
 * ---------------------------------------------------------------------------
 */

/*
 * chain - give the posting items their transfer ids, in item order, stamp
 * their entries, and link every new entry onto its account's hash chain in
 * version order.
 *
 * The time is the run's (run_time), which step 4 counted the velocity
 * limits at.
 */
static void
chain(Run *r)
{
	Posting    *p = r->p;
	TimestampTz created_at = r->time;
	bool		posts = false;

	for (int i = 0; i < p->nitems; i++)
		posts |= p->items[i].posts;
	if (!posts && r->nentries == 0)
		return;
	for (int i = 0; i < p->nitems; i++)
		if (p->items[i].posts)
			p->items[i].id = LedgerNextId("transfers_id_seq");

	for (int e = 0; e < r->nentries; e++)
	{
		PlanEntry  *entry = &r->entries[e];
		LedgerAccount *account = &r->accounts[entry->account];

		if (entry->movement >= 0)
		{
			entry->transfer_id = p->items[entry->movement].id;
			entry->created_at = created_at;
		}
		EntryHash(account->has_entry_hash ? account->entry_hash : NULL,
				  entry->transfer_id, account->id, entry->version, entry->side,
				  entry->amount, entry->balance, entry->created_at, account->entry_hash);
		account->has_entry_hash = true;
		account->updated_at = entry->created_at;
		(void) hash_datum(&entry->hash, account->entry_hash);
	}
	for (int i = 0; i < p->nitems; i++)
		p->items[i].created_at = created_at;
}

/* ---------------------------------------------------------------------------
 * Step 6: write.
 * ---------------------------------------------------------------------------
 */

/* Columns of ledger.transfers a movement writes. */
enum
{
	TR_ID, TR_DEBIT, TR_CREDIT, TR_AMOUNT, TR_DESCRIPTION, TR_METADATA,
	TR_CREATED_AT, TR_HOLD, TR_REVERSES, TR_KEY, TR_BOOK, TR_NCOLUMNS
};

/* The columns of ledger.transfers' unique key on idempotency keys. */
static const int transfer_key[] = {TR_BOOK, TR_KEY};

/* The transfer row of a posting item; its amount Datum points into m. */
static void
transfer_row(Movement *m, Datum *values, bool *nulls)
{
	memset(nulls, 0, sizeof(bool) * TR_NCOLUMNS);
	values[TR_ID] = Int64GetDatum(m->id);
	values[TR_DEBIT] = Int64GetDatum(m->req.debit_account_id);
	values[TR_CREDIT] = Int64GetDatum(m->req.credit_account_id);
	values[TR_AMOUNT] = PointerGetDatum(&m->req.amount);
	values[TR_DESCRIPTION] = m->req.description;
	nulls[TR_DESCRIPTION] = m->req.description_null;
	values[TR_METADATA] = m->req.metadata;
	nulls[TR_METADATA] = m->req.metadata_null;
	values[TR_CREATED_AT] = TimestampTzGetDatum(m->created_at);
	values[TR_HOLD] = Int64GetDatum(m->req.hold_id);
	nulls[TR_HOLD] = m->req.hold_id == 0;
	values[TR_REVERSES] = Int64GetDatum(m->req.reverses_transfer_id);
	nulls[TR_REVERSES] = m->req.reverses_transfer_id == 0;
	nulls[TR_KEY] = m->req.idempotency_key == NULL;
	values[TR_KEY] = nulls[TR_KEY] ? (Datum) 0 : CStringGetTextDatum(m->req.idempotency_key);
	values[TR_BOOK] = Int64GetDatum(m->book_id);
}

/* qsort comparator: items by idempotency key and book. */
static int
compare_item_keys(const void *a, const void *b)
{
	const Movement *ma = *(Movement *const *) a;
	const Movement *mb = *(Movement *const *) b;
	int			c = strcmp(ma->req.idempotency_key, mb->req.idempotency_key);

	if (c != 0)
		return c;
	return ma->book_id < mb->book_id ? -1 : ma->book_id > mb->book_id ? 1 : 0;
}

/*
 * replayed_meanwhile - a single call's key, free at step 3, was taken by a
 * concurrent call that committed since: the call answers with that call's
 * result, and what it planned beyond step 2 is dropped.
 */
static void
replayed_meanwhile(Run *r, Movement *m)
{
	m->posts = false;
	m->created = false;
	m->id = find_by_key(m, m->kind == MOVE_HOLD);
	if (m->id == 0)
		elog(ERROR, "idempotency key \"%s\" conflicted but was not found",
			 m->req.idempotency_key);
	memcpy(r->accounts, r->before, sizeof(LedgerAccount) * r->naccounts);
	memcpy(r->changed, r->changed_before, sizeof(bool) * r->naccounts);
	r->nentries = r->nbefore_entries;
	r->nholds = r->nbefore_holds;
	r->nqueued = 0;
	r->nflags = 0;
}

/*
 * write_transfers - the transfer rows.  Rows with a key go first, in key
 * and book order: two batches on disjoint accounts that share new keys
 * would otherwise each insert one key and wait for the other's in the
 * unique index, and in one global key order such waits cannot form a cycle.
 */
static void
write_transfers(Run *r)
{
	Posting    *p = r->p;
	Oid			amount_oid = LedgerAmountTypeOid();
	TableColumn columns[TR_NCOLUMNS] = {
		{"id", INT8OID}, {"debit_account_id", INT8OID},
		{"credit_account_id", INT8OID}, {"amount", amount_oid},
		{"description", TEXTOID}, {"metadata", JSONBOID},
		{"created_at", TIMESTAMPTZOID}, {"hold_id", INT8OID},
		{"reverses_transfer_id", INT8OID}, {"idempotency_key", TEXTOID},
		{"book_id", INT8OID}
	};
	Movement  **order = palloc(sizeof(Movement *) * Max(p->nitems, 1));
	int			n = 0;
	int			nkeyed;
	TableWrite *w;
	Datum		values[TR_NCOLUMNS];
	bool		nulls[TR_NCOLUMNS];

	for (int i = 0; i < p->nitems; i++)
		if (p->items[i].posts && p->items[i].req.idempotency_key != NULL)
			order[n++] = &p->items[i];
	nkeyed = n;
	for (int i = 0; i < p->nitems; i++)
		if (p->items[i].posts && p->items[i].req.idempotency_key == NULL)
			order[n++] = &p->items[i];
	if (n == 0)
		return;
	qsort(order, nkeyed, sizeof(Movement *), compare_item_keys);
	w = TableWriteBegin("transfers", TABLE_INSERT, columns, TR_NCOLUMNS);
	for (int t = 0; t < n; t++)
	{
		Movement   *m = order[t];

		CHECK_FOR_INTERRUPTS();
		transfer_row(m, values, nulls);
		if (m->req.idempotency_key == NULL)
			TableWriteRow(w, values, nulls);
		else if (!TableWriteRowUnlessKey(w, transfer_key, 2, values, nulls))
		{
			(void) TableWriteEnd(w);
			if (!p->batch)
			{
				replayed_meanwhile(r, m);
				return;
			}

			/*
			 * A concurrent call committed one of the keys after step 3.  It
			 * cannot have used the same accounts, whose locks we hold, so
			 * its arguments differ: report the conflict for that item.
			 */
			for (p->current = 0; p->current < p->nitems; p->current++)
				if (p->items[p->current].posts && p->items[p->current].req.idempotency_key)
					(void) find_by_key(&p->items[p->current], false);
			p->current = -1;
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize the batch: a concurrent call committed one of its idempotency keys"),
					 errhint("Retry the batch.")));
		}
	}
	if (TableWriteEnd(w) != n)
		elog(ERROR, "could not insert %d transfers", n);
}

/* Columns of ledger.hold_records a new hold writes. */
enum
{
	HO_ID, HO_DEBIT, HO_CREDIT, HO_AMOUNT, HO_EXPIRES_AT, HO_KEY, HO_DESCRIPTION,
	HO_METADATA, HO_CREATED_AT, HO_BOOK, HO_VELOCITY, HO_NCOLUMNS
};

/* The new holds, each with a new id; a key taken meanwhile as above. */
static void
write_new_holds(Run *r)
{
	Posting    *p = r->p;
	TableColumn columns[HO_NCOLUMNS] = {
		{"id", INT8OID}, {"debit_account_id", INT8OID},
		{"credit_account_id", INT8OID}, {"amount", LedgerAmountTypeOid()},
		{"expires_at", TIMESTAMPTZOID}, {"idempotency_key", TEXTOID},
		{"description", TEXTOID}, {"metadata", JSONBOID},
		{"created_at", TIMESTAMPTZOID}, {"book_id", INT8OID}, {"velocity", BYTEAOID}
	};
	TableWrite *w = NULL;

	for (int i = 0; i < p->nitems; i++)
	{
		Movement   *m = &p->items[i];
		Datum		values[HO_NCOLUMNS];
		bool		nulls[HO_NCOLUMNS] = {false};

		if (m->kind != MOVE_HOLD || !m->created)
			continue;
		if (w == NULL)
			w = TableWriteBegin("hold_records", TABLE_INSERT, columns, HO_NCOLUMNS);
		m->id = LedgerNextId("hold_records_id_seq");
		values[HO_ID] = Int64GetDatum(m->id);
		values[HO_DEBIT] = Int64GetDatum(m->req.debit_account_id);
		values[HO_CREDIT] = Int64GetDatum(m->req.credit_account_id);
		values[HO_AMOUNT] = PointerGetDatum(&m->req.amount);
		values[HO_EXPIRES_AT] = TimestampTzGetDatum(m->expires_at);
		nulls[HO_EXPIRES_AT] = !m->has_expiry;
		nulls[HO_KEY] = m->req.idempotency_key == NULL;
		values[HO_KEY] = nulls[HO_KEY] ? (Datum) 0 : CStringGetTextDatum(m->req.idempotency_key);
		values[HO_DESCRIPTION] = m->req.description;
		nulls[HO_DESCRIPTION] = m->req.description_null;
		values[HO_METADATA] = m->req.metadata;
		nulls[HO_METADATA] = m->req.metadata_null;
		values[HO_CREATED_AT] = TimestampTzGetDatum(r->time);
		values[HO_BOOK] = Int64GetDatum(m->book_id);
		nulls[HO_VELOCITY] = m->nvelocity_marks == 0;
		if (!nulls[HO_VELOCITY])
			values[HO_VELOCITY] = PointerGetDatum(VelocityMarksEncode(m->velocity_marks,
																	  m->nvelocity_marks));
		if (nulls[HO_KEY])
			TableWriteRow(w, values, nulls);
		else if (!TableWriteRowUnlessKey(w, (const int[]) {HO_BOOK, HO_KEY}, 2, values, nulls))
		{
			/* A concurrent call on other accounts committed the key first. */
			(void) TableWriteEnd(w);
			replayed_meanwhile(r, m);
			return;
		}
	}
	if (w != NULL)
		(void) TableWriteEnd(w);
}

/*
 * The new accounts; a name taken in the book is LG008.  A single account is
 * written arbitrated by the unique key on (book, name).  A batch's names
 * were checked at step 4, so its rows are written together; a name that a
 * concurrent call takes after that check is a unique violation of the key
 * when the rows reach the index, and is reported as LG008 too.
 */
static void
write_new_accounts(Run *r)
{
	Posting    *p = r->p;
	Oid			amount_oid = LedgerAmountTypeOid();
	TableColumn columns[] = {
		{"id", INT8OID}, {"asset", TEXTOID}, {"name", TEXTOID},
		{"normal_balance", TEXTOID}, {"min_balance", amount_oid},
		{"max_balance", amount_oid}, {"metadata", JSONBOID},
		{"created_at", TIMESTAMPTZOID}, {"updated_at", TIMESTAMPTZOID},
		{"book_id", INT8OID}
	};
	TableWrite *volatile w = NULL;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		for (int i = 0; i < p->nitems; i++)
		{
			Movement   *m = &p->items[i];
			Datum		values[lengthof(columns)];
			bool		nulls[lengthof(columns)] = {false};

			if (m->kind != MOVE_CREATE_ACCOUNT)
				continue;
			CHECK_FOR_INTERRUPTS();
			if (w == NULL)
				w = TableWriteBegin("accounts", TABLE_INSERT, columns, lengthof(columns));
			m->id = LedgerNextId("accounts_id_seq");
			values[0] = Int64GetDatum(m->id);
			values[1] = m->account->asset;
			values[2] = m->account->name;
			nulls[2] = m->account->name_null;
			values[3] = m->account->credit_normal ? r->credit_word : r->debit_word;
			values[4] = PointerGetDatum(&m->account->min_balance);
			nulls[4] = !m->account->has_min;
			values[5] = PointerGetDatum(&m->account->max_balance);
			nulls[5] = !m->account->has_max;
			values[6] = m->req.metadata;
			nulls[6] = m->req.metadata_null;
			values[7] = TimestampTzGetDatum(now);
			values[8] = TimestampTzGetDatum(now);
			values[9] = Int64GetDatum(m->account->book_id);
			if (nulls[2] || p->batch)
				TableWriteRow(w, values, nulls);
			else if (!TableWriteRowUnlessKey(w, (const int[]) {9, 2}, 2, values, nulls))
				report_name_taken(m->account);
		}
		if (w != NULL)
			(void) TableWriteEnd(w);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		if (geterrcode() != ERRCODE_UNIQUE_VIOLATION)
			PG_RE_THROW();
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (edata->constraint_name == NULL ||
			strcmp(edata->constraint_name, "accounts_book_id_name_key") != 0)
			PG_RE_THROW();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_DUPLICATE_ACCOUNT),
				 errmsg("an account name is already taken"),
				 errdetail("%s A concurrent call created an account of that name.",
						   edata->detail ? edata->detail : "")));
	}
	PG_END_TRY();
}

/* The entries, and the hot queue's new and applied postings. */
static void
write_entries(Run *r)
{
	Oid			amount_oid = LedgerAmountTypeOid();
	TableColumn en_columns[] = {
		{"id", INT8OID}, {"transfer_id", INT8OID}, {"account_id", INT8OID},
		{"account_version", INT8OID}, {"direction", TEXTOID},
		{"amount", amount_oid}, {"balance_after", amount_oid},
		{"created_at", TIMESTAMPTZOID}, {"hash", BYTEAOID}, {"book_id", INT8OID}
	};
	TableColumn hq_columns[] = {
		{"id", INT8OID}, {"account_id", INT8OID}, {"transfer_id", INT8OID},
		{"direction", TEXTOID}, {"amount", amount_oid},
		{"created_at", TIMESTAMPTZOID}, {"book_id", INT8OID}
	};
	TableColumn key_columns[] = {{"account_id", INT8OID}, {"id", INT8OID}};
	TableWrite *w;
	bool		nulls[10] = {false};

	if (r->nentries > 0)
	{
		w = TableWriteBegin("entries", TABLE_INSERT, en_columns, lengthof(en_columns));
		for (int e = 0; e < r->nentries; e++)
		{
			PlanEntry  *entry = &r->entries[e];
			Datum		values[10];

			CHECK_FOR_INTERRUPTS();
			values[0] = Int64GetDatum(EntryIdOf(entry->transfer_id, entry->side));
			values[1] = Int64GetDatum(entry->transfer_id);
			values[2] = Int64GetDatum(entry->account_id);
			values[3] = Int64GetDatum(entry->version);
			values[4] = direction_word(r, entry->side);
			values[5] = PointerGetDatum(&entry->amount);
			values[6] = PointerGetDatum(&entry->balance);
			values[7] = TimestampTzGetDatum(entry->created_at);
			values[8] = PointerGetDatum(entry->hash.data);
			values[9] = Int64GetDatum(r->accounts[entry->account].book_id);
			TableWriteRow(w, values, nulls);
		}
		if (TableWriteEnd(w) != r->nentries)
			elog(ERROR, "could not insert %d entries", r->nentries);
	}

	if (r->nqueued > 0)
	{
		w = TableWriteBegin("hot_entries", TABLE_INSERT, hq_columns, lengthof(hq_columns));
		for (int q = 0; q < r->nqueued; q++)
		{
			PlanQueued *queued = &r->queued[q];
			Movement   *m = &r->p->items[queued->movement];
			Datum		values[7];

			queued->queue_id = LedgerNextId("hot_entries_id_seq");
			values[0] = Int64GetDatum(queued->queue_id);
			values[1] = Int64GetDatum(r->accounts[queued->account].id);
			values[2] = Int64GetDatum(m->id);
			values[3] = direction_word(r, queued->side);
			values[4] = PointerGetDatum(&m->req.amount);
			values[5] = TimestampTzGetDatum(m->created_at);
			values[6] = Int64GetDatum(r->accounts[queued->account].book_id);
			TableWriteRow(w, values, nulls);
		}
		(void) TableWriteEnd(w);
	}

	if (r->ntaken > 0)
	{
		w = TableWriteBegin("hot_entries", TABLE_DELETE, key_columns, 2);
		for (int k = 0; k < r->ntaken; k++)
		{
			Datum		values[2];

			values[0] = Int64GetDatum(r->taken[k].account_id);
			values[1] = Int64GetDatum(r->taken[k].id);
			TableWriteRow(w, values, nulls);
		}
		if (TableWriteEnd(w) != r->ntaken)
			elog(ERROR, "queued postings of a locked account vanished");
	}
}

/* The holds' resolutions, and the reservations released. */
static void
write_hold_changes(Run *r)
{
	TableColumn columns[] = {
		{"status", TEXTOID}, {"captured_amount", LedgerAmountTypeOid()},
		{"capture_transfer_id", INT8OID}, {"resolved_at", TIMESTAMPTZOID},
		{"debit_reserved", BOOLOID}, {"credit_reserved", BOOLOID}
	};
	TableWrite *resolutions = NULL;
	TableWrite *releases = NULL;

	for (int h = 0; h < r->nholds; h++)
	{
		PlanHold   *plan = &r->holds[h];
		Datum		values[6];
		bool		nulls[6] = {false};

		if (plan->resolved)
		{
			bool		captured = plan->movement >= 0;

			if (resolutions == NULL)
				resolutions = TableWriteBegin("hold_records", TABLE_UPDATE, columns, 6);
			values[0] = CStringGetTextDatum(plan->hold.status);
			values[1] = PointerGetDatum(&plan->captured);
			nulls[1] = !captured;
			values[2] = Int64GetDatum(captured ? r->p->items[plan->movement].id : 0);
			nulls[2] = !captured;
			values[3] = TimestampTzGetDatum(plan->resolved_at);
			values[4] = BoolGetDatum(plan->hold.debit_reserved);
			values[5] = BoolGetDatum(plan->hold.credit_reserved);
			if (!TableWriteUpdate(resolutions, plan->hold.book_id, plan->hold.id, NULL, values, nulls))
				elog(ERROR, "hold %lld vanished while locked", (long long) plan->hold.id);
		}
		else
		{
			if (releases == NULL)
				releases = TableWriteBegin("hold_records", TABLE_UPDATE, columns + 4, 2);
			values[0] = BoolGetDatum(plan->hold.debit_reserved);
			values[1] = BoolGetDatum(plan->hold.credit_reserved);
			if (!TableWriteUpdate(releases, plan->hold.book_id, plan->hold.id, NULL, values, nulls))
				elog(ERROR, "hold %lld vanished while locked", (long long) plan->hold.id);
		}
	}
	if (resolutions != NULL)
		(void) TableWriteEnd(resolutions);
	if (releases != NULL)
		(void) TableWriteEnd(releases);
}

/* Columns of ledger.accounts a movement writes. */
enum
{
	AC_MIN, AC_MAX, AC_DEBITS_POSTED, AC_CREDITS_POSTED, AC_DEBITS_PENDING,
	AC_CREDITS_PENDING, AC_VERSION, AC_CLOSED, AC_UPDATED_AT, AC_HOLDS_EXPIRE_AT,
	AC_ENTRY_HASH, AC_HOT, AC_VELOCITY, AC_NCOLUMNS
};

/* Add the account's new state to w; the Datums point into the account. */
static void
save_account(TableWrite *w, LedgerAccount *account, HashBytea *hash)
{
	Datum		values[AC_NCOLUMNS];
	bool		nulls[AC_NCOLUMNS] = {false};
	bytea	   *velocity;

	values[AC_MIN] = PointerGetDatum(&account->min_balance);
	nulls[AC_MIN] = !account->has_min;
	values[AC_MAX] = PointerGetDatum(&account->max_balance);
	nulls[AC_MAX] = !account->has_max;
	values[AC_DEBITS_POSTED] = PointerGetDatum(&account->debits_posted);
	values[AC_CREDITS_POSTED] = PointerGetDatum(&account->credits_posted);
	values[AC_DEBITS_PENDING] = PointerGetDatum(&account->debits_pending);
	values[AC_CREDITS_PENDING] = PointerGetDatum(&account->credits_pending);
	values[AC_VERSION] = Int64GetDatum(account->version);
	values[AC_CLOSED] = BoolGetDatum(account->closed);
	values[AC_UPDATED_AT] = TimestampTzGetDatum(account->updated_at);
	values[AC_HOLDS_EXPIRE_AT] = TimestampTzGetDatum(account->holds_expire_at);
	nulls[AC_HOLDS_EXPIRE_AT] = TIMESTAMP_NOT_FINITE(account->holds_expire_at);
	values[AC_ENTRY_HASH] = hash_datum(hash, account->entry_hash);
	nulls[AC_ENTRY_HASH] = !account->has_entry_hash;
	values[AC_HOT] = BoolGetDatum(account->hot);
	velocity = VelocityEncode(account->velocity);
	values[AC_VELOCITY] = PointerGetDatum(velocity);
	nulls[AC_VELOCITY] = velocity == NULL;
	if (!TableWriteUpdate(w, account->book_id, account->id, &account->tid, values, nulls))
		elog(ERROR, "account %lld vanished while locked", (long long) account->id);
}

/* The accounts' new sums and state, each row once. */
static void
write_accounts(Run *r)
{
	Oid			amount_oid = LedgerAmountTypeOid();
	TableColumn columns[AC_NCOLUMNS] = {
		{"min_balance", amount_oid}, {"max_balance", amount_oid},
		{"debits_posted", amount_oid}, {"credits_posted", amount_oid},
		{"debits_pending", amount_oid}, {"credits_pending", amount_oid},
		{"version", INT8OID}, {"closed", BOOLOID},
		{"updated_at", TIMESTAMPTZOID}, {"holds_expire_at", TIMESTAMPTZOID},
		{"entry_hash", BYTEAOID}, {"hot", BOOLOID}, {"velocity", BYTEAOID}
	};
	HashBytea  *hashes = palloc(sizeof(HashBytea) * (r->naccounts + r->nextra + 1));
	int			n = 0;
	TableWrite *w = NULL;

	for (int a = 0; a < r->naccounts + r->nextra; a++)
	{
		bool		extra = a >= r->naccounts;

		if (!extra && !r->changed[a])
			continue;
		if (w == NULL)
			w = TableWriteBegin("accounts", TABLE_UPDATE, columns, AC_NCOLUMNS);
		CHECK_FOR_INTERRUPTS();
		save_account(w, extra ? &r->extra[a - r->naccounts] : &r->accounts[a], &hashes[n++]);
	}
	if (w != NULL && TableWriteEnd(w) != n)
		elog(ERROR, "an account vanished while locked");
	/* Every backend forgets its cache of hot accounts at our commit. */
	if (r->hot_changed)
		CacheInvalidateRelcacheByRelid(get_relname_relid("accounts", LedgerNamespaceOid()));
}

/* An amount as a JSON string (amounts exceed what JSON numbers keep). */
static void
json_amount(StringInfo buf, const char *key, bool has, Amount amount)
{
	appendStringInfo(buf, "%s\"%s\": ", buf->len > 1 ? ", " : "", key);
	if (has)
		appendStringInfo(buf, "\"%s\"", AmountToCString(amount));
	else
		appendStringInfoString(buf, "null");
}

/* A velocity limit's direction, window and maximums, as JSON members. */
static void
json_velocity_terms(StringInfo buf, const VelocityRule *rule)
{
	appendStringInfo(buf, ", \"direction\": \"%s\", \"window\": ",
					 rule->credit ? "credit" : "debit");
	escape_json(buf, VelocityWindowText(rule->window));
	json_amount(buf, "max_amount", rule->has_amount, rule->max_amount);
	if (rule->has_count)
		appendStringInfo(buf, ", \"max_count\": %lld", (long long) rule->max_count);
	else
		appendStringInfoString(buf, ", \"max_count\": null");
}

/* The detail of an account's event: what it now is. */
static Datum
account_detail(const Movement *m, const LedgerAccount *account)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	switch (m->kind == MOVE_CREATE_ACCOUNT ? CHANGE_LIMITS : m->account->change)
	{
		case CHANGE_LIMITS:
			if (m->kind == MOVE_CREATE_ACCOUNT)
			{
				appendStringInfoString(&buf, "\"asset\": ");
				escape_json(&buf, TextDatumGetCString(m->account->asset));
				appendStringInfoString(&buf, ", \"name\": ");
				if (m->account->name_null)
					appendStringInfoString(&buf, "null");
				else
					escape_json(&buf, TextDatumGetCString(m->account->name));
				appendStringInfo(&buf, ", \"normal_balance\": \"%s\"",
								 m->account->credit_normal ? "credit" : "debit");
			}
			json_amount(&buf, "min_balance", m->account->has_min, m->account->min_balance);
			json_amount(&buf, "max_balance", m->account->has_max, m->account->max_balance);
			break;
		case CHANGE_HOT:
			appendStringInfo(&buf, "\"hot\": %s", account->hot ? "true" : "false");
			break;
		case CHANGE_CLOSE:
		case CHANGE_REOPEN:
			appendStringInfo(&buf, "\"closed\": %s", account->closed ? "true" : "false");
			break;
		case CHANGE_ADD_VELOCITY:
		case CHANGE_DROP_VELOCITY:
			{
				const VelocityRule *rule = m->account->velocity;

				appendStringInfo(&buf, "\"velocity_limit_id\": %lld, \"velocity_limit\": \"%s\"",
								 (long long) rule->id,
								 m->account->change == CHANGE_ADD_VELOCITY ? "added" : "dropped");
				if (m->account->change == CHANGE_DROP_VELOCITY)
					break;
				json_velocity_terms(&buf, rule);
				appendStringInfo(&buf, ", \"action\": \"%s\"", rule->flag ? "flag" : "reject");
			}
			break;
	}
	appendStringInfoChar(&buf, '}');
	return EventDetail(buf.data);
}

/* The events of a run, as they are planned. */
typedef struct EventList
{
	LedgerEvent *events;
	int			n;
	int			cap;
} EventList;

/* A new event of the run: its kind, book and time, every other column NULL. */
static LedgerEvent *
push_event(EventList *list, EventKind kind, int64 book, TimestampTz at)
{
	LedgerEvent *e = PLAN_PUSH(list->events, list->n, list->cap, LedgerEvent);

	memset(e, 0, sizeof(LedgerEvent));
	e->kind = kind;
	e->book_id = book;
	e->description_null = e->metadata_null = e->detail_null = true;
	e->created_at = at;
	return e;
}

/* A hold's columns in its event: accounts, amount, description, metadata. */
static void
hold_columns(LedgerEvent *e, const HoldRow *hold)
{
	e->debit_account_id = hold->debit_account_id;
	e->credit_account_id = hold->credit_account_id;
	e->has_amount = true;
	e->amount = hold->amount;
	e->hold_id = hold->id;
	e->description = hold->description;
	e->description_null = hold->description_null;
	e->metadata = hold->metadata;
	e->metadata_null = hold->metadata_null;
}

/* A velocity_flagged event's detail: the limit, and what it had used. */
static Datum
velocity_detail(const VelocityFlagged *f)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"velocity_limit_id\": %lld", (long long) f->rule.id);
	json_velocity_terms(&buf, &f->rule);
	json_amount(&buf, "amount_used", true, f->amount_used);
	appendStringInfo(&buf, ", \"count_used\": %lld}", (long long) f->count_used);
	return EventDetail(buf.data);
}

/* The kind of event a movement's item publishes. */
static EventKind
movement_event_kind(const Movement *m)
{
	switch (m->kind)
	{
		case MOVE_TRANSFER:
			return EVENT_TRANSFER_POSTED;
		case MOVE_REVERSAL:
			return EVENT_REVERSAL_POSTED;
		case MOVE_HOLD:
			return EVENT_HOLD_CREATED;
		case MOVE_CAPTURE:
			return EVENT_HOLD_CAPTURED;
		case MOVE_RELEASE:
			return EVENT_HOLD_RELEASED;
		case MOVE_CREATE_ACCOUNT:
			return EVENT_ACCOUNT_CREATED;
		case MOVE_ACCOUNT:
			break;
	}
	return m->account->change == CHANGE_LIMITS ||
		m->account->change == CHANGE_ADD_VELOCITY ||
		m->account->change == CHANGE_DROP_VELOCITY ? EVENT_ACCOUNT_LIMITS_CHANGED :
		m->account->change == CHANGE_CLOSE ? EVENT_ACCOUNT_CLOSED :
		m->account->change == CHANGE_REOPEN ? EVENT_ACCOUNT_REOPENED :
		EVENT_ACCOUNT_HOT_CHANGED;
}

/* The event of one item of the run, which made a change. */
static void
item_event(Run *r, EventList *list, Movement *m, int64 book)
{
	LedgerEvent *e = push_event(list, movement_event_kind(m), book, r->now);
	char		buf[MAXDATELEN + 1];

	if (moves_money(m) && m->kind != MOVE_RELEASE)
	{
		e->debit_account_id = m->req.debit_account_id;
		e->credit_account_id = m->req.credit_account_id;
		e->has_amount = true;
		e->amount = m->req.amount;
		e->idempotency_key = m->req.idempotency_key;
		e->description = m->req.description;
		e->description_null = m->req.description_null;
		e->metadata = m->req.metadata;
		e->metadata_null = m->req.metadata_null;
	}
	switch (m->kind)
	{
		case MOVE_TRANSFER:
			e->transfer_id = m->id;
			e->created_at = m->created_at;
			break;
		case MOVE_REVERSAL:
			e->transfer_id = m->id;
			e->created_at = m->created_at;
			e->detail = EventDetail(psprintf("{\"reverses_transfer_id\": %lld}",
											 (long long) m->req.reverses_transfer_id));
			e->detail_null = false;
			break;
		case MOVE_HOLD:
			e->hold_id = m->id;
			if (m->has_expiry)
			{
				e->detail = EventDetail(psprintf("{\"expires_at\": \"%s\"}",
												 JsonEncodeDateTime(buf, TimestampTzGetDatum(m->expires_at),
																	TIMESTAMPTZOID, NULL)));
				e->detail_null = false;
			}
			break;
		case MOVE_CAPTURE:
			e->hold_id = m->req.hold_id;
			e->transfer_id = m->id;
			e->created_at = m->created_at;
			e->detail = EventDetail(psprintf("{\"hold_amount\": \"%s\"}",
											 AmountToCString(m->hold->amount)));
			e->detail_null = false;
			break;
		case MOVE_RELEASE:
			hold_columns(e, m->hold);
			break;
		case MOVE_CREATE_ACCOUNT:
			e->account_id = m->id;
			e->metadata = m->req.metadata;
			e->metadata_null = m->req.metadata_null;
			e->created_at = GetCurrentTransactionStartTimestamp();
			e->detail = account_detail(m, NULL);
			e->detail_null = false;
			break;
		case MOVE_ACCOUNT:
			e->account_id = m->req.debit_account_id;
			e->detail = account_detail(m, &r->accounts[account_index(r, m->req.debit_account_id)]);
			e->detail_null = false;
			break;
	}
}

/*
 * write_events - one event per change the run made in a book that
 * publishes them, in item order, then the holds that expired, then the
 * monitors the run set off; a replay changes nothing and publishes
 * nothing.
 */
static void
write_events(Run *r)
{
	Posting    *p = r->p;
	EventList	list = {NULL, 0, 0};
	int64		last_book = 0;
	bool		last_enabled = false;

#define PUBLISHES(book) \
	((book) == last_book ? last_enabled : \
	 (last_book = (book), last_enabled = EventsEnabled(book)))

	for (int i = 0; i < p->nitems; i++)
	{
		Movement   *m = &p->items[i];
		int64		book;

		if (!m->created)
			continue;
		book = m->kind == MOVE_ACCOUNT ?
			r->accounts[account_index(r, m->req.debit_account_id)].book_id : m->book_id;
		CHECK_FOR_INTERRUPTS();
		if (PUBLISHES(book))
			item_event(r, &list, m, book);
	}

	/* Holds whose expiry this run recorded. */
	for (int h = 0; h < r->nholds; h++)
	{
		PlanHold   *plan = &r->holds[h];

		if (plan->resolved && plan->movement < 0 &&
			strcmp(plan->hold.status, "expired") == 0 && PUBLISHES(plan->hold.book_id))
			hold_columns(push_event(&list, EVENT_HOLD_EXPIRED, plan->hold.book_id,
									plan->resolved_at), &plan->hold);
	}

	/* Monitors whose condition the run made true. */
	for (int a = 0; r->as_locked != NULL && a < r->naccounts + r->nextra; a++)
	{
		bool		extra = a >= r->naccounts;
		LedgerAccount *account = extra ? &r->extra[a - r->naccounts] : &r->accounts[a];
		LedgerAccount *before = extra ? &r->extra_as_locked[a - r->naccounts] : &r->as_locked[a];
		const LedgerMonitor *monitors;
		int			n;

		if (!extra && (!r->locked[a] || !r->changed[a]))
			continue;
		n = MonitorsOf(account->id, &monitors);
		for (int k = 0; k < n; k++)
		{
			LedgerEvent *e;

			if (MonitorHolds(&monitors[k], before) || !MonitorHolds(&monitors[k], account) ||
				!PUBLISHES(account->book_id))
				continue;
			e = push_event(&list, EVENT_MONITOR_FIRED, account->book_id, r->now);
			e->account_id = account->id;
			e->has_amount = true;
			e->amount = monitors[k].available ? AccountAvailableBalance(account) :
				AccountPostedBalance(account);
			if (p->nitems == 1 && p->items[0].posts)
				e->transfer_id = p->items[0].id;
			e->detail = MonitorDetail(&monitors[k]);
			e->detail_null = false;
		}
	}
	/* Velocity limits of action flag that a movement went beyond. */
	for (int f = 0; f < r->nflags; f++)
	{
		VelocityFlag *flag = &r->flags[f];
		Movement   *m = &p->items[flag->movement];
		LedgerEvent *e;

		if (!m->created || !PUBLISHES(m->book_id))
			continue;
		e = push_event(&list, EVENT_VELOCITY_FLAGGED, m->book_id, r->time);
		e->account_id = flag->account_id;
		e->debit_account_id = m->req.debit_account_id;
		e->credit_account_id = m->req.credit_account_id;
		e->has_amount = true;
		e->amount = m->req.amount;
		if (m->kind == MOVE_HOLD)
			e->hold_id = m->id;
		else
		{
			e->transfer_id = m->id;
			e->hold_id = m->req.hold_id;
		}
		e->idempotency_key = m->req.idempotency_key;
		e->detail = velocity_detail(&flag->flagged);
		e->detail_null = false;
	}
#undef PUBLISHES
	EventsWrite(list.events, list.n);
}

/* ---------------------------------------------------------------------------
 * The pipeline.
 * ---------------------------------------------------------------------------
 */

/*
 * apply_queue_if_free - apply an account's queue if its row lock is
 * free.  Never waits, so it may be called holding other accounts' locks.
 */
static void
apply_queue_if_free(int64 account_id)
{
	Posting		p;

	memset(&p, 0, sizeof(p));
	p.accounts = &account_id;
	p.naccounts = 1;
	p.skip_locked = true;
	PostingRun(&p);
}

/*
 * PostingRun - carry out a call's movements (see the file header).  Caller
 * is connected to SPI and has checked the arguments; the results are in
 * the items (id, created) and in p.
 */
void
PostingRun(Posting *p)
{
	Run			r;
	bool		single_keyed;
	bool		new_limits;

	memset(&r, 0, sizeof(r));
	r.p = p;
	p->current = -1;
	r.debit_word = CStringGetTextDatum("debit");
	r.credit_word = CStringGetTextDatum("credit");
	for (int i = 0; i < p->nitems; i++)
		p->items[i].same_as = -1;

	/* 1. lock */
	if (!lock_accounts(&r))
		return;
	if (MonitorsAnywhere())
	{
		/* Monitors compare each account as locked with what the run writes. */
		r.as_locked = palloc(sizeof(LedgerAccount) * Max(r.naccounts, 1));
		memcpy(r.as_locked, r.accounts, sizeof(LedgerAccount) * r.naccounts);
	}
	new_limits = set_new_limits(&r);

	/*
	 * 2. bring the locked accounts up to date.  An account's limits must
	 * hold once its queue is applied, before anything else moves it; new
	 * limits are instead checked against the result, as the repair.
	 */
	for (int a = 0; a < r.naccounts; a++)
		if (r.locked[a] && r.accounts[a].hot && apply_queue(&r, a) && !new_limits)
			CheckAccountRow(&r.accounts[a]);
	r.now = GetCurrentTimestamp();
	expire_holds(&r);

	/*
	 * 3. replays: a batch's keys at once; a single call's key as its item
	 * is checked.  A single call whose key is free now may find it taken
	 * when its row is written, and must then go back to this state.
	 */
	if (p->batch)
		batch_keys(&r);
	single_keyed = !p->batch && p->nitems == 1 && p->items[0].req.idempotency_key != NULL;
	if (single_keyed)
	{
		r.before = palloc(sizeof(LedgerAccount) * Max(r.naccounts, 1));
		r.changed_before = palloc(sizeof(bool) * Max(r.naccounts, 1));
		memcpy(r.before, r.accounts, sizeof(LedgerAccount) * r.naccounts);
		for (int a = 0; a < r.naccounts; a++)
			if (r.before[a].velocity != NULL)
				r.before[a].velocity = VelocityCopy(r.before[a].velocity, 0);
		memcpy(r.changed_before, r.changed, sizeof(bool) * r.naccounts);
		r.nbefore_entries = r.nentries;
		r.nbefore_holds = r.nholds;
	}

	/* 4. check every rule and plan the rows, item by item */
	r.time = run_time(&r);
	for (int i = 0; i < p->nitems; i++)
	{
		p->current = p->batch ? i : -1;
		CHECK_FOR_INTERRUPTS();
		check_and_plan(&r, i);
	}
	p->current = -1;

	/* 5. chain */
	chain(&r);

	/* 6. write: the rows whose keys may be taken first */
	write_transfers(&r);
	write_new_holds(&r);
	write_new_accounts(&r);
	write_entries(&r);
	write_hold_changes(&r);
	write_accounts(&r);
	write_events(&r);

	/* Every so many postings, a hot account's queue is applied. */
	for (int q = 0; q < r.nqueued; q++)
		if (r.queued[q].queue_id % HOT_APPLY_EVERY == 0)
			apply_queue_if_free(r.accounts[r.queued[q].account].id);
}

/*
 * PostingRunOne - PostingRun for a call of one movement.  Caller is
 * connected to SPI.
 */
void
PostingRunOne(Movement *m)
{
	Posting		p;

	memset(&p, 0, sizeof(p));
	p.items = m;
	p.nitems = 1;
	PostingRun(&p);
}

/*
 * PostingRunBatch - PostingRun for an array of items (p->batch), connected
 * to SPI for it; returns the ids each item made or replayed, in item order.
 */
ArrayType *
PostingRunBatch(Posting *p)
{
	Datum	   *ids = palloc(sizeof(Datum) * Max(p->nitems, 1));

	Assert(p->batch);
	if (p->nitems > 0)
	{
		LedgerConnect();
		PostingRun(p);
		SPI_finish();
	}
	for (int i = 0; i < p->nitems; i++)
		ids[i] = Int64GetDatum(p->items[i].same_as >= 0 ?
							   p->items[p->items[i].same_as].id : p->items[i].id);
	return construct_array(ids, p->nitems, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
						   TYPALIGN_DOUBLE);
}

/*
 * PostingChangeAccount - run one change of an account through the
 * pipeline.
 */
void
PostingChangeAccount(int64 account_id, AccountRequest *a)
{
	Movement	m;

	memset(&m, 0, sizeof(m));
	m.kind = MOVE_ACCOUNT;
	m.req.debit_account_id = account_id;
	m.account = a;
	LedgerConnect();
	PostingRunOne(&m);
	SPI_finish();
}
