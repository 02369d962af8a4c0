/*
 * verify.c - ledger.verify: recompute the ledger from its entries and report
 * every disagreement.
 *
 * Per account, its entries are replayed in version order: versions must run
 * 1..N without a gap, each balance_after must follow from the one before and
 * the entry's amount, each hash must be the chain hash of the entry and the
 * previous hash (EntryHash), time must not go back, and at the end the
 * account row's posted sums, version, last hash and pending sums must match
 * what the entries and the reserved holds say.  Over the whole ledger, the
 * debit and credit entries of each asset must balance and every transfer
 * must have exactly one debit and one credit entry that match it, and
 * every id must be unique with no sequence behind its table, and every
 * row must be of its accounts' book.  A hot
 * account's postings still queued in ledger.hot_entries (hot.c) count as
 * entries of their transfers and in their asset's totals, though not yet in
 * the account's replay.
 *
 * The tables can hold millions of rows, so nothing is loaded whole: entries
 * and accounts stream through two cursors in account id order and are merged
 * here, then transfers and entries stream through two more in transfer id
 * order.  Rows are read in batches into a memory context reset per batch;
 * memory stays bounded whatever the ledger's size, and the scan can be
 * cancelled between any two rows.  Problems go to a tuplestore, which spills
 * to disk if there are many.
 *
 * One defect is reported once, not once per later entry: after a
 * mismatching balance or hash, the next entry is accepted if it follows
 * either from the stored value or from the value that was expected, so an
 * edited amount or balance_after shows as one balance problem (and one hash
 * problem), not as a problem with every entry after it.
 */
#include "ledger.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

/* Rows fetched from a cursor at a time. */
#define VERIFY_BATCH 10000

/* Columns of ledger.verify()'s result. */
#define Natts_verify 2

/*
 * A query read through a cursor.  Its parameters are all bigint, so unlike
 * a LedgerStatement its plan never depends on the amount type's OID: when
 * the extension is dropped and created again, the plan cache re-analyses the
 * kept plan by itself.
 */
typedef struct CursorStatement
{
	const char *sql;
	int			nargs;			/* bigint parameters */
	SPIPlanPtr	plan;
} CursorStatement;

/* Columns every accounts query returns, in this order. */
#define VERIFY_ACCOUNT_COLUMNS \
	"a.id, a.asset, a.normal_balance OPERATOR(pg_catalog.=) 'credit'," \
	" a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending," \
	" a.version, a.entry_hash"

/*
 * Every account with the sums of the holds reserved on each of its sides.
 * Every join and grouping includes the book, so that on a Citus cluster
 * (tables distributed by book_id) each runs within a shard.
 */
static CursorStatement all_accounts = {
	"SELECT " VERIFY_ACCOUNT_COLUMNS ", h.debits, h.credits, a.hot,"
	"       q.debits, q.credits"
	"  FROM ledger.accounts AS a"
	"  LEFT JOIN (SELECT r.book_id, r.account_id,"
	"                    ledger.sum(r.amount) FILTER (WHERE r.debit) AS debits,"
	"                    ledger.sum(r.amount) FILTER (WHERE NOT r.debit) AS credits"
	"               FROM (SELECT book_id, debit_account_id AS account_id, amount, true AS debit"
	"                       FROM ledger.hold_records WHERE debit_reserved"
	"                     UNION ALL"
	"                     SELECT book_id, credit_account_id, amount, false"
	"                       FROM ledger.hold_records WHERE credit_reserved) AS r"
	"              GROUP BY r.book_id, r.account_id) AS h"
	"    ON h.book_id OPERATOR(pg_catalog.=) a.book_id AND h.account_id OPERATOR(pg_catalog.=) a.id"
	"  LEFT JOIN (SELECT book_id, account_id,"
	"                    ledger.sum(amount) FILTER (WHERE direction OPERATOR(pg_catalog.=) 'debit') AS debits,"
	"                    ledger.sum(amount) FILTER (WHERE direction OPERATOR(pg_catalog.=) 'credit') AS credits"
	"               FROM ledger.hot_entries GROUP BY book_id, account_id) AS q"
	"    ON q.book_id OPERATOR(pg_catalog.=) a.book_id AND q.account_id OPERATOR(pg_catalog.=) a.id"
	" ORDER BY a.id", 0, NULL};

/* One account, likewise. */
static CursorStatement one_account = {
	"SELECT " VERIFY_ACCOUNT_COLUMNS ","
	"       (SELECT ledger.sum(h.amount) FROM ledger.hold_records AS h"
	"         WHERE h.debit_account_id OPERATOR(pg_catalog.=) a.id AND h.debit_reserved"
	"           AND h.book_id OPERATOR(pg_catalog.=) a.book_id),"
	"       (SELECT ledger.sum(h.amount) FROM ledger.hold_records AS h"
	"         WHERE h.credit_account_id OPERATOR(pg_catalog.=) a.id AND h.credit_reserved"
	"           AND h.book_id OPERATOR(pg_catalog.=) a.book_id),"
	"       a.hot,"
	"       (SELECT ledger.sum(q.amount) FROM ledger.hot_entries AS q"
	"         WHERE q.account_id OPERATOR(pg_catalog.=) a.id"
	"           AND q.book_id OPERATOR(pg_catalog.=) a.book_id"
	"           AND q.direction OPERATOR(pg_catalog.=) 'debit'),"
	"       (SELECT ledger.sum(q.amount) FROM ledger.hot_entries AS q"
	"         WHERE q.account_id OPERATOR(pg_catalog.=) a.id"
	"           AND q.book_id OPERATOR(pg_catalog.=) a.book_id"
	"           AND q.direction OPERATOR(pg_catalog.=) 'credit')"
	"  FROM ledger.accounts AS a WHERE a.id OPERATOR(pg_catalog.=) $1", 1, NULL};

/* Columns every entries-by-account query returns, in this order. */
#define VERIFY_ENTRY_COLUMNS \
	"account_id, account_version, id, transfer_id," \
	" direction OPERATOR(pg_catalog.=) 'debit', amount, balance_after," \
	" created_at, hash"

static CursorStatement all_entries = {
	"SELECT " VERIFY_ENTRY_COLUMNS " FROM ledger.entries"
	" ORDER BY account_id, account_version", 0, NULL};

static CursorStatement account_entries = {
	"SELECT " VERIFY_ENTRY_COLUMNS " FROM ledger.entries"
	" WHERE account_id OPERATOR(pg_catalog.=) $1 ORDER BY account_version", 1, NULL};

static CursorStatement all_transfers = {
	"SELECT id, debit_account_id, credit_account_id, amount FROM ledger.transfers"
	" ORDER BY id", 0, NULL};

/* Entries and the queued postings of hot accounts (hot.c), by transfer. */
static CursorStatement entries_by_transfer = {
	"SELECT transfer_id, id, account_id, account_version,"
	" direction OPERATOR(pg_catalog.=) 'debit', amount, false AS queued"
	"  FROM ledger.entries"
	" UNION ALL "
	"SELECT transfer_id, id, account_id, 0,"
	" direction OPERATOR(pg_catalog.=) 'debit', amount, true"
	"  FROM ledger.hot_entries"
	" ORDER BY 1, 7, 2", 0, NULL};

/* A cursor and its current batch of rows. */
typedef struct Stream
{
	Portal		portal;
	SPITupleTable *batch;
	uint64		rows;
	uint64		next;
	bool		done;
} Stream;

/* An account row and the holds reserved on it. */
typedef struct VerifyAccount
{
	int64		id;
	char		asset[LEDGER_ASSET_CODE_MAX + 1];
	bool		credit_normal;
	Amount		debits_posted;
	Amount		credits_posted;
	Amount		debits_pending;
	Amount		credits_pending;
	int64		version;
	bool		has_entry_hash;
	int			entry_hash_len;
	uint8		entry_hash[LEDGER_HASH_LEN];
	Amount		held_debits;	/* sum of holds reserved on the debit side */
	Amount		held_credits;
	bool		hot;
	bool		has_queued;		/* has postings in ledger.hot_entries */
	Amount		queued_debits;	/* their sums by direction */
	Amount		queued_credits;
} VerifyAccount;

/* An entry as the account replay reads it. */
typedef struct VerifyEntry
{
	int64		account_id;
	int64		version;
	int64		id;
	int64		transfer_id;
	bool		debit;
	Amount		amount;
	Amount		balance_after;
	TimestampTz created_at;
	int			hash_len;
	uint8		hash[LEDGER_HASH_LEN];
} VerifyEntry;

/* Where the replay of one account's entries stands. */
typedef struct AccountReplay
{
	int64		entries;		/* entries seen */
	int64		last_version;
	Amount		debits;			/* sums by direction */
	Amount		credits;
	bool		sums_overflow;
	Amount		recorded_balance;	/* balance_after of the previous entry */
	Amount		expected_balance;	/* what it should have been */
	bool		expected_valid;
	uint8		stored_hash[LEDGER_HASH_LEN];	/* hash of the previous entry */
	bool		has_computed_hash;	/* previous hash mismatched: */
	uint8		computed_hash[LEDGER_HASH_LEN]; /* what it should have been */
	TimestampTz last_created_at;
} AccountReplay;

/*
 * A sum of non-negative amounts that cannot overflow: an asset's lifetime
 * volume can pass the range of ledger.amount while every balance is in it.
 * The value is carry * 2^128 + low.
 */
typedef struct WideSum
{
	uint128		low;
	uint64		carry;
} WideSum;

/* Debit and credit totals of one asset. */
typedef struct AssetTotals
{
	char		code[LEDGER_ASSET_CODE_MAX + 1];	/* hash key */
	WideSum		debits;
	WideSum		credits;
} AssetTotals;

/* *sum += x, for 0 <= x. */
static inline void
wide_add(WideSum *sum, Amount x)
{
	uint128		r = sum->low + (uint128) x;

	if (r < sum->low)
		sum->carry++;
	sum->low = r;
}

/* What the whole run shares. */
typedef struct Verify
{
	Tuplestorestate *tupstore;
	TupleDesc	desc;
	MemoryContext batch_context;	/* reset per batch of entries */
	HTAB	   *assets;			/* NULL when one account is verified */
} Verify;

/*
 * report - add a problem to the result; account_id NULL for a problem of
 * the ledger as a whole.
 */
static void
report(Verify *v, const int64 *account_id, const char *fmt,...)
pg_attribute_printf(3, 4);

static void
report(Verify *v, const int64 *account_id, const char *fmt,...)
{
	StringInfoData buf;
	Datum		values[Natts_verify];
	bool		nulls[Natts_verify] = {false, false};

	initStringInfo(&buf);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	values[0] = Int64GetDatum(account_id ? *account_id : 0);
	nulls[0] = account_id == NULL;
	values[1] = PointerGetDatum(cstring_to_text_with_len(buf.data, buf.len));
	tuplestore_putvalues(v->tupstore, v->desc, values, nulls);
	pfree(buf.data);
}

/* Prepare a cursor statement once and open it on the caller's snapshot. */
static void
stream_open(Stream *s, CursorStatement *stmt, Datum *values)
{
	if (stmt->plan == NULL)
	{
		Oid			argtypes[1] = {INT8OID};
		SPIPlanPtr	plan;

		Assert(stmt->nargs <= 1);
		plan = SPI_prepare_cursor(stmt->sql, stmt->nargs, argtypes, 0);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare_cursor failed for \"%s\": %s",
				 stmt->sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		stmt->plan = plan;
	}
	memset(s, 0, sizeof(*s));
	s->portal = SPI_cursor_open(NULL, stmt->plan, values, NULL, true);
	if (s->portal == NULL)
		elog(ERROR, "could not open a cursor for \"%s\": %s",
			 stmt->sql, SPI_result_code_string(SPI_result));
}

/*
 * stream_peek - the next row of a stream without consuming it, or NULL at
 * its end.
 *
 * The row stays valid until the stream moves past it.  Loading a new batch
 * resets the batch memory context, so nothing allocated there may outlive
 * a row.
 */
static HeapTuple
stream_peek(Verify *v, Stream *s)
{
	if (s->next >= s->rows)
	{
		if (s->batch)
			SPI_freetuptable(s->batch);
		s->batch = NULL;
		s->rows = s->next = 0;
		if (s->done)
			return NULL;
		SPI_cursor_fetch(s->portal, true, VERIFY_BATCH);
		s->batch = SPI_tuptable;
		s->rows = SPI_processed;
		if (s->rows < VERIFY_BATCH)
			s->done = true;
		/* SPI leaves us in its own context: go back to ours, emptied. */
		MemoryContextSwitchTo(v->batch_context);
		MemoryContextReset(v->batch_context);
		if (s->rows == 0)
			return NULL;
	}
	return s->batch->vals[s->next];
}

/* The next row of a stream, consumed, or NULL at its end. */
static HeapTuple
stream_next(Verify *v, Stream *s)
{
	HeapTuple	row;

	CHECK_FOR_INTERRUPTS();
	row = stream_peek(v, s);
	if (row != NULL)
		s->next++;
	return row;
}

/* Close a stream and free its last batch. */
static void
stream_close(Stream *s)
{
	if (s->batch)
		SPI_freetuptable(s->batch);
	s->batch = NULL;
	SPI_cursor_close(s->portal);
}

/* Column col (1-based) of a stream's current row; NULL means *isnull. */
static inline Datum
column(Stream *s, HeapTuple row, int col, bool *isnull)
{
	return SPI_getbinval(row, s->batch->tupdesc, col, isnull);
}

/* Copy a bytea hash into out; returns its length (only 32 is valid). */
static int
copy_hash(Datum d, uint8 *out)
{
	bytea	   *b = DatumGetByteaPP(d);
	int			len = VARSIZE_ANY_EXHDR(b);

	memset(out, 0, LEDGER_HASH_LEN);
	memcpy(out, VARDATA_ANY(b), Min(len, LEDGER_HASH_LEN));
	return len;
}

/* Read the next account of the stream into *a; false at the end. */
static bool
next_account(Verify *v, Stream *s, VerifyAccount *a)
{
	HeapTuple	row = stream_next(v, s);
	bool		isnull;
	Datum		d;

	if (row == NULL)
		return false;
	a->id = DatumGetInt64(column(s, row, 1, &isnull));
	strlcpy(a->asset, TextDatumGetCString(column(s, row, 2, &isnull)),
			sizeof(a->asset));
	a->credit_normal = DatumGetBool(column(s, row, 3, &isnull));
	a->debits_posted = DatumGetAmount(column(s, row, 4, &isnull));
	a->credits_posted = DatumGetAmount(column(s, row, 5, &isnull));
	a->debits_pending = DatumGetAmount(column(s, row, 6, &isnull));
	a->credits_pending = DatumGetAmount(column(s, row, 7, &isnull));
	a->version = DatumGetInt64(column(s, row, 8, &isnull));
	d = column(s, row, 9, &isnull);
	a->has_entry_hash = !isnull;
	a->entry_hash_len = isnull ? 0 : copy_hash(d, a->entry_hash);
	d = column(s, row, 10, &isnull);
	a->held_debits = isnull ? 0 : DatumGetAmount(d);
	d = column(s, row, 11, &isnull);
	a->held_credits = isnull ? 0 : DatumGetAmount(d);
	a->hot = DatumGetBool(column(s, row, 12, &isnull));
	d = column(s, row, 13, &isnull);
	a->has_queued = !isnull;
	a->queued_debits = isnull ? 0 : DatumGetAmount(d);
	d = column(s, row, 14, &isnull);
	a->has_queued |= !isnull;
	a->queued_credits = isnull ? 0 : DatumGetAmount(d);
	return true;
}

/* Read the next entry of the stream into *e; false at the end. */
static bool
next_entry(Verify *v, Stream *s, VerifyEntry *e)
{
	HeapTuple	row = stream_next(v, s);
	bool		isnull;

	if (row == NULL)
		return false;
	e->account_id = DatumGetInt64(column(s, row, 1, &isnull));
	e->version = DatumGetInt64(column(s, row, 2, &isnull));
	e->id = DatumGetInt64(column(s, row, 3, &isnull));
	e->transfer_id = DatumGetInt64(column(s, row, 4, &isnull));
	e->debit = DatumGetBool(column(s, row, 5, &isnull));
	e->amount = DatumGetAmount(column(s, row, 6, &isnull));
	e->balance_after = DatumGetAmount(column(s, row, 7, &isnull));
	e->created_at = DatumGetTimestampTz(column(s, row, 8, &isnull));
	e->hash_len = copy_hash(column(s, row, 9, &isnull), e->hash);
	return true;
}

/* *sum += x; false (and *sum unchanged) if that leaves the amount range. */
static inline bool
add_amount(Amount *sum, Amount x)
{
	Amount		r;

	if (__builtin_add_overflow(*sum, x, &r))
		return false;
	*sum = r;
	return true;
}

/*
 * replay_entry - check one entry of account a against the entries before it.
 */
static void
replay_entry(Verify *v, const VerifyAccount *a, AccountReplay *r,
			 const VerifyEntry *e)
{
	Amount		delta = 0;
	bool		delta_ok;
	Amount		from_recorded = 0;
	Amount		from_expected = 0;
	bool		recorded_ok;
	bool		expected_ok;
	uint8		computed[LEDGER_HASH_LEN];
	bool		hash_ok;

	/* Versions run 1, 2, 3... */
	if (e->version != r->last_version + 1)
	{
		if (r->entries == 0)
			report(v, &a->id, "versions start at %lld, expected 1",
				   (long long) e->version);
		else
			report(v, &a->id, "versions jump from %lld to %lld",
				   (long long) r->last_version, (long long) e->version);
	}

	if (e->amount <= 0)
		report(v, &a->id, "entry %lld (version %lld): amount is %s, expected a positive amount",
			   (long long) e->id, (long long) e->version,
			   AmountToCString(e->amount));

	if (!add_amount(e->debit ? &r->debits : &r->credits, e->amount))
		r->sums_overflow = true;

	/*
	 * balance_after follows from the previous one.  After a mismatch, either
	 * the previous stored value or the expected one may be the base.
	 */
	if (e->debit != a->credit_normal)
	{
		delta = e->amount;
		delta_ok = true;
	}
	else
		delta_ok = !__builtin_sub_overflow((Amount) 0, e->amount, &delta);
	recorded_ok = delta_ok &&
		!__builtin_add_overflow(r->recorded_balance, delta, &from_recorded);
	expected_ok = delta_ok && r->expected_valid &&
		!__builtin_add_overflow(r->expected_balance, delta, &from_expected);
	if ((recorded_ok && e->balance_after == from_recorded) ||
		(expected_ok && e->balance_after == from_expected))
	{
		r->expected_balance = e->balance_after;
		r->expected_valid = true;
	}
	else
	{
		if (!expected_ok)
		{
			from_expected = from_recorded;
			expected_ok = recorded_ok;
		}
		if (expected_ok)
			report(v, &a->id, "entry %lld (version %lld): balance_after is %s, expected %s",
				   (long long) e->id, (long long) e->version,
				   AmountToCString(e->balance_after),
				   AmountToCString(from_expected));
		else
			report(v, &a->id, "entry %lld (version %lld): balance_after is %s, expected a balance beyond the amount range",
				   (long long) e->id, (long long) e->version,
				   AmountToCString(e->balance_after));
		r->expected_balance = from_expected;
		r->expected_valid = expected_ok;
	}
	r->recorded_balance = e->balance_after;

	/* The hash chains the entry to the previous one, likewise. */
	EntryHash(r->entries > 0 ? r->stored_hash : NULL, e->transfer_id,
			  a->id, e->version, e->debit ? LEDGER_DEBIT : LEDGER_CREDIT,
			  e->amount, e->balance_after, e->created_at, computed);
	hash_ok = e->hash_len == LEDGER_HASH_LEN &&
		memcmp(computed, e->hash, LEDGER_HASH_LEN) == 0;
	if (!hash_ok && r->has_computed_hash && e->hash_len == LEDGER_HASH_LEN)
	{
		uint8		alternative[LEDGER_HASH_LEN];

		EntryHash(r->computed_hash, e->transfer_id, a->id, e->version,
				  e->debit ? LEDGER_DEBIT : LEDGER_CREDIT, e->amount,
				  e->balance_after, e->created_at, alternative);
		hash_ok = memcmp(alternative, e->hash, LEDGER_HASH_LEN) == 0;
	}
	if (!hash_ok)
	{
		if (e->hash_len != LEDGER_HASH_LEN)
			report(v, &a->id, "entry %lld (version %lld): hash has length %d, expected %d",
				   (long long) e->id, (long long) e->version, e->hash_len,
				   LEDGER_HASH_LEN);
		else
			report(v, &a->id, "entry %lld (version %lld): hash does not match the entry and the previous hash",
				   (long long) e->id, (long long) e->version);
		memcpy(r->computed_hash, computed, LEDGER_HASH_LEN);
	}
	r->has_computed_hash = !hash_ok;
	memcpy(r->stored_hash, e->hash, LEDGER_HASH_LEN);

	if (r->entries > 0 && e->created_at < r->last_created_at)
	{
		char	   *before = pstrdup(timestamptz_to_str(r->last_created_at));

		report(v, &a->id, "entry %lld (version %lld): created_at %s is earlier than %s of the entry before",
			   (long long) e->id, (long long) e->version,
			   timestamptz_to_str(e->created_at), before);
	}
	r->last_created_at = e->created_at;

	r->last_version = e->version;
	r->entries++;
}

/*
 * finish_account - compare the account row with what its entries and the
 * holds reserved on it add up to.
 */
static void
finish_account(Verify *v, const VerifyAccount *a, const AccountReplay *r)
{
	if (r->entries == 0)
	{
		if (a->version != 0)
			report(v, &a->id, "version is %lld, but the account has no entries",
				   (long long) a->version);
		if (a->has_entry_hash)
			report(v, &a->id, "entry_hash is set, but the account has no entries");
	}
	else
	{
		if (a->version != r->last_version)
			report(v, &a->id, "version is %lld, but the last entry is version %lld",
				   (long long) a->version, (long long) r->last_version);
		if (!a->has_entry_hash)
			report(v, &a->id, "entry_hash is null, expected the hash of version %lld",
				   (long long) r->last_version);
		else if (a->entry_hash_len != LEDGER_HASH_LEN ||
				 (memcmp(a->entry_hash, r->stored_hash, LEDGER_HASH_LEN) != 0 &&
				  !(r->has_computed_hash &&
					memcmp(a->entry_hash, r->computed_hash, LEDGER_HASH_LEN) == 0)))
			report(v, &a->id, "entry_hash does not match the hash of version %lld",
				   (long long) r->last_version);
	}

	if (r->sums_overflow)
		report(v, &a->id, "entries sum beyond the range of ledger.amount");
	else
	{
		if (a->debits_posted != r->debits)
			report(v, &a->id, "debits_posted is %s, entries sum to %s",
				   AmountToCString(a->debits_posted), AmountToCString(r->debits));
		if (a->credits_posted != r->credits)
			report(v, &a->id, "credits_posted is %s, entries sum to %s",
				   AmountToCString(a->credits_posted), AmountToCString(r->credits));
	}
	if (a->debits_pending != a->held_debits)
		report(v, &a->id, "debits_pending is %s, reserved holds sum to %s",
			   AmountToCString(a->debits_pending), AmountToCString(a->held_debits));
	if (a->credits_pending != a->held_credits)
		report(v, &a->id, "credits_pending is %s, reserved holds sum to %s",
			   AmountToCString(a->credits_pending), AmountToCString(a->held_credits));

	/* Switching hot mode off applies the queue: only hot accounts have one. */
	if (a->has_queued && !a->hot)
		report(v, &a->id, "has queued postings, but is not hot");

	if (v->assets && !r->sums_overflow)
	{
		bool		found;
		AssetTotals *t = hash_search(v->assets, a->asset, HASH_ENTER, &found);

		if (!found)
		{
			memset(&t->debits, 0, sizeof(WideSum));
			memset(&t->credits, 0, sizeof(WideSum));
		}
		wide_add(&t->debits, r->debits);
		wide_add(&t->credits, r->credits);
		wide_add(&t->debits, a->queued_debits);
		wide_add(&t->credits, a->queued_credits);
	}
}

/*
 * verify_accounts - replay the entries of every account the accounts stream
 * yields, merged with the entries stream in account id order.
 */
static void
verify_accounts(Verify *v, Stream *accounts, Stream *entries)
{
	VerifyAccount a;
	VerifyEntry e;
	bool		have_entry = next_entry(v, entries, &e);
	bool		have_account = next_account(v, accounts, &a);

	while (have_account || have_entry)
	{
		AccountReplay r;

		/* Entries of an account that does not exist. */
		if (have_entry && (!have_account || e.account_id < a.id))
		{
			int64		orphan = e.account_id;
			int64		count = 0;

			while (have_entry && e.account_id == orphan)
			{
				count++;
				have_entry = next_entry(v, entries, &e);
			}
			report(v, &orphan, "%lld %s account %lld, which does not exist",
				   (long long) count, count == 1 ? "entry names" : "entries name",
				   (long long) orphan);
			continue;
		}

		memset(&r, 0, sizeof(r));
		r.expected_valid = true;
		while (have_entry && e.account_id == a.id)
		{
			replay_entry(v, &a, &r, &e);
			have_entry = next_entry(v, entries, &e);
		}
		finish_account(v, &a, &r);
		have_account = next_account(v, accounts, &a);
	}
}

/* Order assets by code. */
static int
asset_cmp(const void *x, const void *y)
{
	return strcmp(((const AssetTotals *) x)->code, ((const AssetTotals *) y)->code);
}

/* Each asset's debit entries must sum to its credit entries. */
static void
verify_assets(Verify *v)
{
	long		n = hash_get_num_entries(v->assets);
	AssetTotals *all = palloc(sizeof(AssetTotals) * Max(n, 1));
	HASH_SEQ_STATUS seq;
	AssetTotals *t;
	long		i = 0;

	hash_seq_init(&seq, v->assets);
	while ((t = hash_seq_search(&seq)) != NULL)
		all[i++] = *t;
	qsort(all, n, sizeof(AssetTotals), asset_cmp);
	for (i = 0; i < n; i++)
	{
		WideSum    *d = &all[i].debits;
		WideSum    *c = &all[i].credits;

		if (d->low == c->low && d->carry == c->carry)
			continue;
		if (d->carry == 0 && c->carry == 0 && d->low <= (uint128) AMOUNT_MAX &&
			c->low <= (uint128) AMOUNT_MAX)
			report(v, NULL, "asset %s: debit entries sum to %s, credit entries sum to %s",
				   all[i].code, AmountToCString((Amount) d->low),
				   AmountToCString((Amount) c->low));
		else
			report(v, NULL, "asset %s: debit and credit entries sum to different totals beyond the range of ledger.amount",
				   all[i].code);
	}
	pfree(all);
}

/*
 * verify_transfers - every transfer has one debit entry on its debit account
 * and one credit entry on its credit account, each of its amount; every
 * entry belongs to a transfer.  Merges the two streams in transfer id order.
 */
static void
verify_transfers(Verify *v, Stream *transfers, Stream *entries)
{
	HeapTuple	t = stream_next(v, transfers);
	HeapTuple	e = stream_next(v, entries);
	bool		isnull;

	while (t || e)
	{
		int64		id;
		int64		debit_account;
		int64		credit_account;
		Amount		amount;
		int			debits = 0;
		int			credits = 0;

		if (e && (!t || DatumGetInt64(column(entries, e, 1, &isnull)) <
				  DatumGetInt64(column(transfers, t, 1, &isnull))))
		{
			int64		account = DatumGetInt64(column(entries, e, 3, &isnull));

			if (DatumGetBool(column(entries, e, 7, &isnull)))
				report(v, &account, "queued posting %lld belongs to transfer %lld, which does not exist",
					   (long long) DatumGetInt64(column(entries, e, 2, &isnull)),
					   (long long) DatumGetInt64(column(entries, e, 1, &isnull)));
			else
				report(v, &account, "entry %lld (version %lld) belongs to transfer %lld, which does not exist",
					   (long long) DatumGetInt64(column(entries, e, 2, &isnull)),
					   (long long) DatumGetInt64(column(entries, e, 4, &isnull)),
					   (long long) DatumGetInt64(column(entries, e, 1, &isnull)));
			e = stream_next(v, entries);
			continue;
		}

		id = DatumGetInt64(column(transfers, t, 1, &isnull));
		debit_account = DatumGetInt64(column(transfers, t, 2, &isnull));
		credit_account = DatumGetInt64(column(transfers, t, 3, &isnull));
		amount = DatumGetAmount(column(transfers, t, 4, &isnull));

		while (e && DatumGetInt64(column(entries, e, 1, &isnull)) == id)
		{
			int64		entry_id = DatumGetInt64(column(entries, e, 2, &isnull));
			int64		account = DatumGetInt64(column(entries, e, 3, &isnull));
			bool		debit = DatumGetBool(column(entries, e, 5, &isnull));
			Amount		entry_amount = DatumGetAmount(column(entries, e, 6, &isnull));
			const char *kind = DatumGetBool(column(entries, e, 7, &isnull)) ?
				"queued posting" : "entry";
			int64		expected = debit ? debit_account : credit_account;

			if (debit)
				debits++;
			else
				credits++;
			if (account != expected)
				report(v, &account, "transfer %lld: %s %s %lld is on account %lld, expected account %lld",
					   (long long) id, debit ? "debit" : "credit", kind,
					   (long long) entry_id, (long long) account,
					   (long long) expected);
			if (entry_amount != amount)
				report(v, &account, "transfer %lld: %s %s %lld has amount %s, expected %s",
					   (long long) id, debit ? "debit" : "credit", kind,
					   (long long) entry_id, AmountToCString(entry_amount),
					   AmountToCString(amount));
			e = stream_next(v, entries);
		}

		if (debits != 1 || credits != 1)
		{
			/* Name the account when only one side is wrong. */
			const int64 *account = NULL;

			if (debits == 1)
				account = &credit_account;
			else if (credits == 1)
				account = &debit_account;
			report(v, account, "transfer %lld has %d debit and %d credit entries, expected one of each",
				   (long long) id, debits, credits);
		}
		t = stream_next(v, transfers);
	}
}

/*
 * verify_ids - every id the ledger hands out is unique, and no sequence
 * would hand out one already taken: its next value is above its table's
 * highest id.  Ids that a valid unique index on them alone keeps unique are
 * not counted again.
 */
static void
verify_ids(Verify *v)
{
	const LedgerIdKey *keys;
	int			nkeys = LedgerIdKeys(&keys);

	for (int k = 0; k < nkeys; k++)
	{
		char	   *sql;
		bool		isnull;
		Datum		d;

		CHECK_FOR_INTERRUPTS();
		sql = psprintf("SELECT t.m, %d OPERATOR(pg_catalog.*) CASE WHEN s.is_called"
					   "       THEN s.last_value OPERATOR(pg_catalog.+) 1 ELSE s.last_value END"
					   "  FROM (SELECT pg_catalog.max(id) AS m FROM ledger.%s) AS t, ledger.%s AS s"
					   " WHERE t.m OPERATOR(pg_catalog.>=) (%d OPERATOR(pg_catalog.*) CASE WHEN s.is_called"
					   "       THEN s.last_value OPERATOR(pg_catalog.+) 1 ELSE s.last_value END)",
					   keys[k].ids_per_value, keys[k].table, keys[k].sequence,
					   keys[k].ids_per_value);
		if (SPI_execute(sql, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read sequence ledger.%s", keys[k].sequence);
		if (SPI_processed > 0)
		{
			int64		highest = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
															  SPI_tuptable->tupdesc, 1, &isnull));
			int64		next = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
														   SPI_tuptable->tupdesc, 2, &isnull));

			report(v, NULL, "sequence ledger.%s is behind table %s: the next id it gives is %lld, not above the highest id %lld",
				   keys[k].sequence, keys[k].table, (long long) next, (long long) highest);
		}

		sql = psprintf("SELECT EXISTS (SELECT FROM pg_catalog.pg_index AS i"
					   "  JOIN pg_catalog.pg_attribute AS a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid"
					   "   AND a.attnum OPERATOR(pg_catalog.=) i.indkey[0]"
					   " WHERE i.indrelid OPERATOR(pg_catalog.=) 'ledger.%s'::pg_catalog.regclass"
					   "   AND i.indisunique AND i.indisvalid AND i.indnkeyatts OPERATOR(pg_catalog.=) 1"
					   "   AND a.attname OPERATOR(pg_catalog.=) 'id'"
					   "   AND i.indpred IS NULL AND i.indexprs IS NULL)", keys[k].table);
		if (SPI_execute(sql, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read the indexes of table ledger.%s", keys[k].table);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (DatumGetBool(d))
			continue;
		sql = psprintf("SELECT id, pg_catalog.count(*) FROM ledger.%s GROUP BY id"
					   " HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1 ORDER BY id",
					   keys[k].table);
		if (SPI_execute(sql, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the ids of table ledger.%s", keys[k].table);
		for (uint64 r = 0; r < SPI_processed; r++)
			report(v, NULL, "id %lld of table %s is used by %lld rows",
				   (long long) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r],
														   SPI_tuptable->tupdesc, 1, &isnull)),
				   keys[k].table,
				   (long long) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r],
														   SPI_tuptable->tupdesc, 2, &isnull)));
	}
}

/*
 * verify_books - every row that moves money is of its accounts' book, and
 * every account of a book that exists: no movement crosses books, and a
 * book's rows can be read (and distributed) by book_id alone.  For one
 * account (account_id not NULL), its book, entries and queued postings,
 * each through the index that leads with the account.
 */
static void
verify_books(Verify *v, const Datum *account_id)
{
	/*
	 * The rows whose account is not in their book, found within each book
	 * (a shard, on a Citus cluster), then joined to their accounts for the
	 * book those are in.  %1$s narrows to one account, if any.
	 */
	static const char *const accounts_part =
		"SELECT 1 AS kind, e.id, e.transfer_id, e.book_id, e.account_id FROM ledger.entries AS e"
		" WHERE NOT EXISTS (SELECT FROM ledger.accounts AS a"
		"                    WHERE a.book_id OPERATOR(pg_catalog.=) e.book_id"
		"                      AND a.id OPERATOR(pg_catalog.=) e.account_id)%1$s"
		" UNION ALL "
		"SELECT 2, q.id, q.transfer_id, q.book_id, q.account_id FROM ledger.hot_entries AS q"
		" WHERE NOT EXISTS (SELECT FROM ledger.accounts AS a"
		"                    WHERE a.book_id OPERATOR(pg_catalog.=) q.book_id"
		"                      AND a.id OPERATOR(pg_catalog.=) q.account_id)%2$s";
	static const char *const movements_part =
		" UNION ALL "
		"SELECT 3, t.id, NULL, t.book_id, s.account_id FROM ledger.transfers AS t"
		" CROSS JOIN LATERAL (VALUES (t.debit_account_id), (t.credit_account_id)) AS s(account_id)"
		" WHERE NOT EXISTS (SELECT FROM ledger.accounts AS a"
		"                    WHERE a.book_id OPERATOR(pg_catalog.=) t.book_id"
		"                      AND a.id OPERATOR(pg_catalog.=) s.account_id)"
		" UNION ALL "
		"SELECT 4, h.id, NULL, h.book_id, s.account_id FROM ledger.hold_records AS h"
		" CROSS JOIN LATERAL (VALUES (h.debit_account_id), (h.credit_account_id)) AS s(account_id)"
		" WHERE NOT EXISTS (SELECT FROM ledger.accounts AS a"
		"                    WHERE a.book_id OPERATOR(pg_catalog.=) h.book_id"
		"                      AND a.id OPERATOR(pg_catalog.=) s.account_id)";
	static const char *const report_part =
		"SELECT a.id, pg_catalog.format('account %%s belongs to book %%s, which does not exist', a.id, a.book_id)"
		"  FROM ledger.accounts AS a"
		" WHERE NOT EXISTS (SELECT FROM ledger.books AS b WHERE b.id OPERATOR(pg_catalog.=) a.book_id)%s"
		" UNION ALL "
		"SELECT a.id, CASE bad.kind"
		"  WHEN 1 THEN pg_catalog.format('entry %%s (transfer %%s) is in book %%s, its account in book %%s',"
		"                                bad.id, bad.transfer_id, bad.book_id, a.book_id)"
		"  WHEN 2 THEN pg_catalog.format('queued posting %%s (transfer %%s) is in book %%s, its account in book %%s',"
		"                                bad.id, bad.transfer_id, bad.book_id, a.book_id)"
		"  WHEN 3 THEN pg_catalog.format('transfer %%s is in book %%s, its account %%s in book %%s',"
		"                                bad.id, bad.book_id, a.id, a.book_id)"
		"  ELSE pg_catalog.format('hold %%s is in book %%s, its account %%s in book %%s',"
		"                         bad.id, bad.book_id, a.id, a.book_id) END"
		"  FROM bad JOIN ledger.accounts AS a ON a.id OPERATOR(pg_catalog.=) bad.account_id"
		" ORDER BY 1, 2";
	Oid			argtypes[1] = {INT8OID};
	char	   *bad;
	char	   *sql;
	bool		isnull;

	CHECK_FOR_INTERRUPTS();
	if (account_id != NULL)
		bad = psprintf(accounts_part, " AND e.account_id OPERATOR(pg_catalog.=) $1",
					   " AND q.account_id OPERATOR(pg_catalog.=) $1");
	else
		bad = psprintf("%s%s", psprintf(accounts_part, "", ""), movements_part);
	sql = psprintf("WITH bad AS MATERIALIZED (%s) %s", bad,
				   psprintf(report_part,
							account_id != NULL ? " AND a.id OPERATOR(pg_catalog.=) $1" : ""));
	if (SPI_execute_with_args(sql, account_id != NULL ? 1 : 0, argtypes, (Datum *) account_id,
							  NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the books of the ledger's rows");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r],
													 SPI_tuptable->tupdesc, 1, &isnull));

		report(v, &id, "%s",
			   TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[r],
												 SPI_tuptable->tupdesc, 2, &isnull)));
	}
}

static LedgerStatement account_book = LEDGER_STATEMENT(
	"SELECT book_id FROM ledger.accounts WHERE id OPERATOR(pg_catalog.=) $1", "b");

/*
 * check_may_verify_account - verify() of an account is for roles that
 * manage its book.  An unknown account is an error, not a problem of the
 * ledger.
 */
static void
check_may_verify_account(int64 account_id)
{
	Datum		arg = Int64GetDatum(account_id);
	bool		isnull;

	LedgerQuery(&account_book, &arg, NULL, 1);
	if (SPI_processed == 0)
		ReportUnknownAccount(account_id);
	AuthorityCheck(DatumGetInt64(LedgerGetColumn(0, 1, &isnull)), LEDGER_MANAGE, account_id);
}

/*
 * ledger_verify - check the ledger, or one account, against its entries;
 * returns one row per problem found, none when all is consistent.
 */
PG_FUNCTION_INFO_V1(ledger_verify);
Datum
ledger_verify(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext oldcontext;
	MemoryContext verify_context;
	TupleDesc	desc;
	Verify		v;
	Stream		accounts;
	Stream		entries;
	bool		one = !PG_ARGISNULL(0);
	Datum		account_id = one ? PG_GETARG_DATUM(0) : (Datum) 0;
	LedgerSavedUser saved;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("materialize mode required, but it is not allowed in this context")));

	/* The result lives in the query's memory, the work in our own. */
	oldcontext = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (desc->natts != Natts_verify)
		elog(ERROR, "return type must have %d columns", Natts_verify);
	v.desc = desc;
	v.tupstore = tuplestore_begin_heap(rsinfo->allowedModes & SFRM_Materialize_Random,
									   false, work_mem);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = v.tupstore;
	rsinfo->setDesc = desc;
	MemoryContextSwitchTo(oldcontext);

	verify_context = AllocSetContextCreate(CurrentMemoryContext,
										   "ledger verify",
										   ALLOCSET_DEFAULT_SIZES);
	v.batch_context = AllocSetContextCreate(verify_context,
											"ledger verify batch",
											ALLOCSET_DEFAULT_SIZES);
	v.assets = NULL;
	if (!one)
	{
		HASHCTL		ctl;

		ctl.keysize = LEDGER_ASSET_CODE_MAX + 1;
		ctl.entrysize = sizeof(AssetTotals);
		ctl.hcxt = verify_context;
		v.assets = hash_create("ledger verify assets", 16, &ctl,
							   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}

	LedgerConnect();
	if (one)
		check_may_verify_account(DatumGetInt64(account_id));
	else if (!AuthorityIsOwner())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" lacks the ledger owner's privileges, needed to verify the whole ledger",
						GetUserNameFromId(GetUserId(), false)),
				 errhint("A role with manage on a book verifies its accounts one by one: ledger.verify(account_id).")));
	LedgerBecomeOwner(&saved);
	MemoryContextSwitchTo(v.batch_context);

	if (one)
	{
		stream_open(&accounts, &one_account, &account_id);
		stream_open(&entries, &account_entries, &account_id);
		/* An unknown account is an error, not a problem of the ledger. */
		if (stream_peek(&v, &accounts) == NULL)
			ReportUnknownAccount(DatumGetInt64(account_id));
	}
	else
	{
		stream_open(&accounts, &all_accounts, NULL);
		stream_open(&entries, &all_entries, NULL);
	}
	verify_accounts(&v, &accounts, &entries);
	stream_close(&accounts);
	stream_close(&entries);
	if (one)
		verify_books(&v, &account_id);

	if (!one)
	{
		Stream		transfers;

		verify_assets(&v);
		verify_ids(&v);
		verify_books(&v, NULL);
		stream_open(&transfers, &all_transfers, NULL);
		stream_open(&entries, &entries_by_transfer, NULL);
		verify_transfers(&v, &transfers, &entries);
		stream_close(&transfers);
		stream_close(&entries);
	}

	LedgerRestoreUser(&saved);
	SPI_finish();
	MemoryContextSwitchTo(oldcontext);
	MemoryContextDelete(verify_context);
	return (Datum) 0;
}
