/*
 * consumer.c - reading the events: books that publish, consumers, their
 * positions, and pruning.
 *
 * A consumer reads ledger.events in the order of (xid, id) and remembers
 * the last event it acknowledged.  The trap of every outbox is that ids are
 * drawn before commit: a transaction that drew id 10 may commit after one
 * that drew id 11, and a reader that had moved past 11 never sees 10.  Here
 * an event is handed out only when its transaction, and every transaction
 * with a smaller id, has ended: its xid is below the xmin of a snapshot
 * the call takes before it reads (the fence), so that the read, with a
 * snapshot no older, sees every one of them that committed.  The events
 * are read by walking events_pkey from the position (table.c,
 * TableScanAfter) up to the fence, so that a call costs the events it
 * passes, however many were written and pruned before it.  Every
 * transaction still running then, and every
 * one that starts later, has an xid at or above that xmin, so none can add
 * an event before one already handed out; rolled-back transactions' events
 * are never visible.  The order is the same for every consumer.  The price
 * is latency: a long transaction that holds an xid (any writer, not only
 * the ledger's) holds back the events of later transactions until it ends.
 *
 * Delivery is at least once: ledger.next_events returns the events after
 * the position, and again until ledger.ack_events moves the position past
 * them; the position is a row in ledger.consumers, so it survives crashes
 * with the transaction that acknowledged it.  A consumer reads the books it
 * was created for, each of which its role must still be allowed to read at
 * every call; only the ledger's owner has consumers of every book.
 * Pruning removes what every consumer has passed: a stopped consumer holds
 * back pruning, never the writers.
 */
#include "ledger.h"

#include "table.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/xid8.h"

/* Most events one call of ledger.next_events returns. */
#define NEXT_EVENTS_MAX		10000

/* Events pruned per statement, so that memory stays bounded. */
#define PRUNE_CHUNK			10000

/* The reading statement's fence: every transaction below it has ended. */
#define FENCE_SQL "pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())"

static LedgerStatement lock_book = LEDGER_STATEMENT(
	"SELECT events FROM ledger.books WHERE id OPERATOR(pg_catalog.=) $1 FOR UPDATE", "b");

static LedgerStatement book_exists = LEDGER_STATEMENT(
	"SELECT 1 FROM ledger.books WHERE id OPERATOR(pg_catalog.=) $1", "b");

static LedgerStatement current_fence = LEDGER_STATEMENT(
	"SELECT " FENCE_SQL, "");

static LedgerStatement read_consumer = LEDGER_STATEMENT(
	"SELECT id, owner, books, position_xid, position_id FROM ledger.consumers"
	" WHERE name OPERATOR(pg_catalog.=) $1", "t");

static LedgerStatement lock_consumer = LEDGER_STATEMENT(
	"SELECT id, owner, books, position_xid, position_id FROM ledger.consumers"
	" WHERE name OPERATOR(pg_catalog.=) $1 FOR UPDATE", "t");

static LedgerStatement find_beyond = LEDGER_STATEMENT(
	"SELECT e.book_id FROM ledger.events AS e"
	" WHERE (e.xid, e.id) OPERATOR(pg_catalog.>) ($1, $2)"
	"   AND e.id OPERATOR(pg_catalog.=) $3 LIMIT 1", "xbb");

static LedgerStatement oldest_position = LEDGER_STATEMENT(
	"SELECT position_xid, position_id FROM ledger.consumers"
	" ORDER BY position_xid, position_id LIMIT 1", "");

/*
 * The next chunk to prune: after the last one (whose deleted entries the
 * index still holds until the transaction ends, so that starting from the
 * beginning again would step over them all), up to the bound.
 */
static LedgerStatement prunable = LEDGER_STATEMENT(
	"SELECT xid, id FROM ledger.events"
	" WHERE (xid, id) OPERATOR(pg_catalog.>) ($3, $4)"
	"   AND (xid, id) OPERATOR(pg_catalog.<=) ($1, $2)"
	" ORDER BY xid, id LIMIT " CppAsString2(PRUNE_CHUNK), "xbxb");

/* A consumer as read. */
typedef struct Consumer
{
	int64		id;
	Oid			owner;
	ArrayType  *books;			/* NULL: every book */
	FullTransactionId position_xid;
	int64		position_id;
} Consumer;

static char *
consumer_name_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *name;

	CheckArgNotNull(fcinfo, argno, "consumer");
	name = TextDatumGetCString(PG_GETARG_DATUM(argno));
	CheckName(name, "consumer");
	return name;
}

/*
 * get_consumer - read the consumer (locked, for a change of its position)
 * and refuse (42501) a role that is not its owner's or the ledger owner's,
 * or that may no longer read one of its books.  Caller is connected to SPI.
 */
static void
get_consumer(const char *name, bool lock, Consumer *c)
{
	Datum		arg = CStringGetTextDatum(name);
	Datum		value;
	bool		isnull;

	LedgerExecute(lock ? &lock_consumer : &read_consumer, &arg, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_UNKNOWN_CONSUMER),
				 errmsg("consumer \"%s\" does not exist", name),
				 errhint("Create it with ledger.create_consumer().")));
	c->id = DatumGetInt64(LedgerGetColumn(0, 1, &isnull));
	c->owner = DatumGetObjectId(LedgerGetColumn(0, 2, &isnull));
	value = LedgerGetColumn(0, 3, &isnull);
	c->books = isnull ? NULL : DatumGetArrayTypePCopy(value);
	c->position_xid = DatumGetFullTransactionId(LedgerGetColumn(0, 4, &isnull));
	c->position_id = DatumGetInt64(LedgerGetColumn(0, 5, &isnull));

	if (!AuthorityIsOwner() && !has_privs_of_role(GetUserId(), c->owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" may not use consumer \"%s\"",
						GetUserNameFromId(GetUserId(), false), name),
				 errdetail("The consumer belongs to role \"%s\".",
						   GetUserNameFromId(c->owner, true))));
	if (c->books == NULL)
	{
		if (!AuthorityIsOwner())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("role \"%s\" may not read consumer \"%s\", which reads every book",
							GetUserNameFromId(GetUserId(), false), name)));
	}
	else
	{
		Datum	   *books;
		int			nbooks;

		deconstruct_array(c->books, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
						  TYPALIGN_DOUBLE, &books, NULL, &nbooks);
		for (int b = 0; b < nbooks; b++)
			AuthorityCheck(DatumGetInt64(books[b]), LEDGER_READ, 0);
	}
}

/* The fence of a new statement: no transaction below it is still running. */
static FullTransactionId
fence(void)
{
	bool		isnull;

	LedgerExecute(&current_fence, NULL, NULL, 1);
	return DatumGetFullTransactionId(LedgerGetColumn(0, 1, &isnull));
}

/* Move the locked consumer to (xid, id). */
static void
set_position(const Consumer *c, FullTransactionId xid, int64 id)
{
	TableColumn columns[] = {
		{"position_xid", XID8OID}, {"position_id", INT8OID}, {"acked_at", TIMESTAMPTZOID}
	};
	Datum		values[3];
	bool		nulls[3] = {false};
	TableWrite *w;

	values[0] = FullTransactionIdGetDatum(xid);
	values[1] = Int64GetDatum(id);
	values[2] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	w = TableWriteBegin("consumers", TABLE_UPDATE, columns, 3);
	if (!TableWriteUpdate(w, 0, c->id, NULL, values, nulls))
		elog(ERROR, "consumer %lld vanished while locked", (long long) c->id);
	(void) TableWriteEnd(w);
}

/*
 * ledger_set_book_events - turn a book's events on or off (manage); returns
 * whether they were on.  Takes effect for the transactions that start
 * after it commits.
 */
PG_FUNCTION_INFO_V1(ledger_set_book_events);
Datum
ledger_set_book_events(PG_FUNCTION_ARGS)
{
	int64		book;
	bool		enabled;
	bool		was;
	bool		isnull;
	Datum		arg;

	CheckArgNotNull(fcinfo, 0, "book_id");
	CheckArgNotNull(fcinfo, 1, "enabled");
	book = PG_GETARG_INT64(0);
	enabled = PG_GETARG_BOOL(1);
	arg = Int64GetDatum(book);

	LedgerConnect();
	LedgerExecute(&lock_book, &arg, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_UNKNOWN_BOOK),
				 errmsg("book %lld does not exist", (long long) book)));
	was = DatumGetBool(LedgerGetColumn(0, 1, &isnull));
	AuthorityCheck(book, LEDGER_MANAGE, 0);
	if (was != enabled)
	{
		TableColumn column = {"events", BOOLOID};
		Datum		value = BoolGetDatum(enabled);
		bool		null = false;
		TableWrite *w = TableWriteBegin("books", TABLE_UPDATE, &column, 1);

		if (!TableWriteUpdate(w, 0, book, NULL, &value, &null))
			elog(ERROR, "book %lld vanished while locked", (long long) book);
		(void) TableWriteEnd(w);
		/* Every backend forgets what it knew of the books at our commit. */
		CacheInvalidateRelcacheByRelid(get_relname_relid("books", LedgerNamespaceOid()));
	}
	SPI_finish();
	PG_RETURN_BOOL(was);
}

/* qsort comparator for book ids. */
static int
compare_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * ledger_create_consumer - a consumer of the given books' events (manage
 * on each), or of every book (the ledger's owner only), placed just before
 * the first transaction that had not ended when it was created.
 */
PG_FUNCTION_INFO_V1(ledger_create_consumer);
Datum
ledger_create_consumer(PG_FUNCTION_ARGS)
{
	char	   *name = consumer_name_arg(fcinfo, 0);
	TableColumn columns[] = {
		{"name", TEXTOID}, {"owner", REGROLEOID}, {"books", INT8ARRAYOID},
		{"position_xid", XID8OID}, {"position_id", INT8OID}
	};
	Datum		values[lengthof(columns)];
	bool		nulls[lengthof(columns)] = {false};
	TableWrite *w;
	bool		created;

	/*
	 * A consumer's position is a transaction id of the node it reads on;
	 * on a Citus cluster a transaction's events on two workers become
	 * visible there one after the other, after the coordinator's commit,
	 * so the fence could pass events not yet visible: a skip.
	 */
	if (TableIsDistributed(get_relname_relid("events", LedgerNamespaceOid())))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("event consumers are not supported on a distributed ledger"),
				 errdetail("A transaction's events on two nodes become visible one after the other, which a consumer's position cannot order."),
				 errhint("Read the events of a Citus cluster with logical decoding on each worker.")));
	LedgerConnect();
	if (PG_ARGISNULL(1))
	{
		if (!AuthorityIsOwner())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("role \"%s\" may not create a consumer of every book",
							GetUserNameFromId(GetUserId(), false)),
					 errhint("Name the books, each of which the role manages.")));
		nulls[2] = true;
		values[2] = (Datum) 0;
	}
	else
	{
		ArrayType  *array = PG_GETARG_ARRAYTYPE_P(1);
		Datum	   *elems;
		bool	   *elemnulls;
		int			n;
		int64	   *books;
		int			nbooks = 0;

		if (ARR_NDIM(array) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_INVALID_ARGUMENT),
					 errmsg("books must be a one-dimensional array")));
		deconstruct_array(array, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
						  &elems, &elemnulls, &n);
		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_INVALID_ARGUMENT),
					 errmsg("books must name at least one book"),
					 errhint("Pass NULL for every book.")));
		books = palloc(sizeof(int64) * n);
		for (int i = 0; i < n; i++)
		{
			if (elemnulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_LEDGER_NULL_ARGUMENT),
						 errmsg("books must not contain NULL")));
			books[i] = DatumGetInt64(elems[i]);
		}
		qsort(books, n, sizeof(int64), compare_int64);
		for (int i = 0; i < n; i++)
		{
			Datum		arg = Int64GetDatum(books[i]);

			if (nbooks > 0 && books[nbooks - 1] == books[i])
				continue;
			LedgerExecute(&book_exists, &arg, NULL, 1);
			if (SPI_processed == 0)
				ereport(ERROR,
						(errcode(ERRCODE_LEDGER_UNKNOWN_BOOK),
						 errmsg("book %lld does not exist", (long long) books[i])));
			AuthorityCheck(books[i], LEDGER_MANAGE, 0);
			books[nbooks++] = books[i];
		}
		for (int i = 0; i < nbooks; i++)
			elems[i] = Int64GetDatum(books[i]);
		values[2] = PointerGetDatum(construct_array(elems, nbooks, INT8OID, sizeof(int64),
													FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	}
	values[0] = CStringGetTextDatum(name);
	values[1] = ObjectIdGetDatum(GetUserId());
	values[3] = FullTransactionIdGetDatum(fence());
	values[4] = Int64GetDatum(0);
	w = TableWriteBegin("consumers", TABLE_INSERT, columns, lengthof(columns));
	created = TableWriteRowUnlessKey(w, (const int[]) {0}, 1, values, nulls);
	(void) TableWriteEnd(w);
	if (!created)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_DUPLICATE_CONSUMER),
				 errmsg("consumer \"%s\" already exists", name)));
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * ledger_drop_consumer - remove a consumer (its owner's role or the
 * ledger's owner); returns whether it existed.  What only it held back
 * can then be pruned.
 */
PG_FUNCTION_INFO_V1(ledger_drop_consumer);
Datum
ledger_drop_consumer(PG_FUNCTION_ARGS)
{
	char	   *name = consumer_name_arg(fcinfo, 0);
	Datum		arg = CStringGetTextDatum(name);
	bool		isnull;
	int64		id;
	Oid			owner;

	LedgerConnect();
	LedgerExecute(&lock_consumer, &arg, NULL, 1);
	if (SPI_processed == 0)
	{
		SPI_finish();
		PG_RETURN_BOOL(false);
	}
	id = DatumGetInt64(LedgerGetColumn(0, 1, &isnull));
	owner = DatumGetObjectId(LedgerGetColumn(0, 2, &isnull));
	if (!AuthorityIsOwner() && !has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" may not drop consumer \"%s\"",
						GetUserNameFromId(GetUserId(), false), name),
				 errdetail("The consumer belongs to role \"%s\".",
						   GetUserNameFromId(owner, true))));
	if (TableDeleteById("consumers", id) != 1)
		elog(ERROR, "consumer \"%s\" vanished while locked", name);
	SPI_finish();
	PG_RETURN_BOOL(true);
}

/* The events read by the first call of next_events, handed out one a call. */
typedef struct NextEventsState
{
	HeapTuple  *rows;
	int			nrows;
	int			next;
} NextEventsState;

/*
 * The books a walk of the events keeps: those of a consumer's array
 * (bigint[], no NULLs), or every book.
 */
typedef struct BookFilter
{
	bool		all;
	int64	   *books;
	int			nbooks;
} BookFilter;

static void
book_filter(ArrayType *books, BookFilter *filter)
{
	Datum	   *elems;

	filter->all = books == NULL;
	filter->books = NULL;
	filter->nbooks = 0;
	if (filter->all)
		return;
	deconstruct_array(books, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
					  TYPALIGN_DOUBLE, &elems, NULL, &filter->nbooks);
	filter->books = palloc(sizeof(int64) * Max(filter->nbooks, 1));
	for (int i = 0; i < filter->nbooks; i++)
		filter->books[i] = DatumGetInt64(elems[i]);
}

static bool
book_kept(const BookFilter *filter, int64 book)
{
	if (filter->all)
		return true;
	for (int i = 0; i < filter->nbooks; i++)
		if (filter->books[i] == book)
			return true;
	return false;
}

/* What next_events takes as it walks the events after a position. */
typedef struct NextWalk
{
	FullTransactionId fence;	/* every transaction below it has ended */
	BookFilter	books;			/* the consumer's */
	int32		max;
	TupleDesc	desc;			/* the result's row type */
	int		   *attnos;			/* each walked column's attribute index */
	int			ncolumns;
	int			xid_col;		/* the walked columns xid and book_id */
	int			book_col;
	MemoryContext cxt;			/* where the rows are formed */
	NextEventsState *state;
} NextWalk;

/*
 * take_event - a TableScanAfter visitor over the events' columns: form the
 * row of each event of the consumer's books, up to max, and stop at the
 * fence, beyond which nothing is deliverable.
 */
static bool
take_event(const Datum *values, const bool *nulls, void *arg)
{
	NextWalk   *walk = (NextWalk *) arg;
	NextEventsState *state = walk->state;
	Datum	   *row;
	bool	   *rownulls;
	MemoryContext oldcxt;

	if (!FullTransactionIdPrecedes(DatumGetFullTransactionId(values[walk->xid_col]), walk->fence))
		return false;
	if (!book_kept(&walk->books, DatumGetInt64(values[walk->book_col])))
		return true;

	oldcxt = MemoryContextSwitchTo(walk->cxt);
	row = palloc(sizeof(Datum) * walk->desc->natts);
	rownulls = palloc(sizeof(bool) * walk->desc->natts);
	for (int a = 0; a < walk->desc->natts; a++)
		rownulls[a] = true;
	for (int c = 0; c < walk->ncolumns; c++)
	{
		row[walk->attnos[c]] = values[c];
		rownulls[walk->attnos[c]] = nulls[c];
	}
	state->rows[state->nrows++] = heap_form_tuple(walk->desc, row, rownulls);
	pfree(row);
	pfree(rownulls);
	MemoryContextSwitchTo(oldcxt);
	return state->nrows < walk->max;
}

/*
 * ledger_next_events - up to max events after the consumer's position, in
 * order; the same ones again until they are acknowledged.  Like
 * ack_events, it walks the events from the position (TableScanAfter), so
 * that it costs the events it passes.
 */
PG_FUNCTION_INFO_V1(ledger_next_events);
Datum
ledger_next_events(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	NextEventsState *state;

	if (SRF_IS_FIRSTCALL())
	{
		char	   *name = consumer_name_arg(fcinfo, 0);
		MemoryContext oldcontext;
		TupleDesc	desc;
		Consumer	c;
		int32		max;
		TableColumn key[] = {{"xid", XID8OID}, {"id", INT8OID}};
		TableColumn *columns;
		int			ncolumns = 0;
		NextWalk	walk;
		Datum		args[2];
		bool		isnull;

		CheckArgNotNull(fcinfo, 1, "max");
		max = PG_GETARG_INT32(1);
		if (max < 1 || max > NEXT_EVENTS_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_INVALID_ARGUMENT),
					 errmsg("max must be between 1 and %d", NEXT_EVENTS_MAX)));

		funcctx = SRF_FIRSTCALL_INIT();
		oldcontext = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		funcctx->tuple_desc = BlessTupleDesc(desc);
		state = palloc0(sizeof(NextEventsState));
		funcctx->user_fctx = state;
		MemoryContextSwitchTo(oldcontext);

		LedgerConnect();
		get_consumer(name, false, &c);
		LedgerExecute(&current_fence, NULL, NULL, 1);
		walk.fence = DatumGetFullTransactionId(LedgerGetColumn(0, 1, &isnull));
		book_filter(c.books, &walk.books);
		walk.max = max;
		walk.desc = funcctx->tuple_desc;
		walk.cxt = funcctx->multi_call_memory_ctx;
		walk.state = state;
		state->rows = MemoryContextAlloc(walk.cxt, sizeof(HeapTuple) * max);

		/* The row type's live attributes, as the walk's columns. */
		columns = palloc(sizeof(TableColumn) * desc->natts);
		walk.attnos = palloc(sizeof(int) * desc->natts);
		walk.xid_col = walk.book_col = -1;
		for (int a = 0; a < desc->natts; a++)
		{
			Form_pg_attribute attr = TupleDescAttr(desc, a);

			if (attr->attisdropped)
				continue;
			columns[ncolumns].name = NameStr(attr->attname);
			columns[ncolumns].type = attr->atttypid;
			if (strcmp(columns[ncolumns].name, "xid") == 0)
				walk.xid_col = ncolumns;
			else if (strcmp(columns[ncolumns].name, "book_id") == 0)
				walk.book_col = ncolumns;
			walk.attnos[ncolumns++] = a;
		}
		if (walk.xid_col < 0 || walk.book_col < 0)
			elog(ERROR, "the row type of ledger.events lacks xid or book_id");
		walk.ncolumns = ncolumns;
		args[0] = FullTransactionIdGetDatum(c.position_xid);
		args[1] = Int64GetDatum(c.position_id);
		TableScanAfter("events", key, args, columns, ncolumns, take_event, &walk);
		SPI_finish();
	}

	funcctx = SRF_PERCALL_SETUP();
	state = (NextEventsState *) funcctx->user_fctx;
	if (state->next < state->nrows)
		SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum(state->rows[state->next++]));
	SRF_RETURN_DONE(funcctx);
}

/* What ack_events looks for as it walks the events after a position. */
typedef struct AckWalk
{
	FullTransactionId fence;	/* every transaction below it has ended */
	int64		up_to;
	BookFilter	books;			/* the consumer's */
	bool		found;			/* up_to is deliverable; its xid: */
	FullTransactionId xid;
} AckWalk;

/*
 * find_up_to - a TableScanAfter visitor over (xid, id, book_id): stop at
 * the event sought, deliverable if of one of the consumer's books, or at
 * the fence, beyond which nothing is.
 */
static bool
find_up_to(const Datum *values, const bool *nulls, void *arg)
{
	AckWalk    *walk = (AckWalk *) arg;
	FullTransactionId xid = DatumGetFullTransactionId(values[0]);

	if (!FullTransactionIdPrecedes(xid, walk->fence))
		return false;
	if (DatumGetInt64(values[1]) != walk->up_to)
		return true;
	if (!book_kept(&walk->books, DatumGetInt64(values[2])))
		return false;
	walk->found = true;
	walk->xid = xid;
	return false;
}

/*
 * ledger_ack_events - move the consumer past the event up_to, which
 * next_events could hand it (LG023 otherwise); returns false, changing
 * nothing, when the consumer is already past it.  Concurrent calls for one
 * consumer queue on its row.
 */
PG_FUNCTION_INFO_V1(ledger_ack_events);
Datum
ledger_ack_events(PG_FUNCTION_ARGS)
{
	char	   *name = consumer_name_arg(fcinfo, 0);
	Consumer	c;
	int64		up_to;
	TableColumn key[] = {{"xid", XID8OID}, {"id", INT8OID}};
	TableColumn columns[] = {{"xid", XID8OID}, {"id", INT8OID}, {"book_id", INT8OID}};
	AckWalk		walk;
	Datum		args[3];
	bool		isnull;

	CheckArgNotNull(fcinfo, 1, "up_to");
	up_to = PG_GETARG_INT64(1);

	LedgerConnect();
	get_consumer(name, true, &c);
	LedgerExecute(&current_fence, NULL, NULL, 1);
	walk.fence = DatumGetFullTransactionId(LedgerGetColumn(0, 1, &isnull));
	walk.up_to = up_to;
	book_filter(c.books, &walk.books);
	walk.found = false;
	args[0] = FullTransactionIdGetDatum(c.position_xid);
	args[1] = Int64GetDatum(c.position_id);
	TableScanAfter("events", key, args, columns, lengthof(columns), find_up_to, &walk);
	if (!walk.found)
	{
		/* Not ahead of the position and deliverable: behind it, or wrong. */
		args[2] = Int64GetDatum(up_to);
		LedgerExecute(&find_beyond, args, NULL, 1);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_UNKNOWN_EVENT),
					 errmsg("consumer \"%s\" cannot acknowledge event %lld",
							name, (long long) up_to),
					 errdetail("The event is of a book the consumer does not read, or of a transaction that has not ended or that a running one precedes."),
					 errhint("Acknowledge only events that ledger.next_events() returned.")));
		SPI_finish();
		PG_RETURN_BOOL(false);
	}
	set_position(&c, walk.xid, up_to);
	SPI_finish();
	PG_RETURN_BOOL(true);
}

/*
 * ledger_prune_events - delete the events every consumer has passed (with
 * no consumer, every event whose transaction has ended); returns how many.
 */
PG_FUNCTION_INFO_V1(ledger_prune_events);
Datum
ledger_prune_events(PG_FUNCTION_ARGS)
{
	TableColumn key[] = {{"xid", XID8OID}, {"id", INT8OID}};
	FullTransactionId bound_xid;
	int64		bound_id;
	FullTransactionId after_xid;
	int64		after_id;
	int64		pruned = 0;
	bool		isnull;

	LedgerConnect();
	LedgerExecute(&oldest_position, NULL, NULL, 1);
	if (SPI_processed > 0)
	{
		bound_xid = DatumGetFullTransactionId(LedgerGetColumn(0, 1, &isnull));
		bound_id = DatumGetInt64(LedgerGetColumn(0, 2, &isnull));
	}
	else
	{
		/* Below the fence, with any id: (fence - 1, max). */
		FullTransactionId f = fence();

		bound_xid = FullTransactionIdFromU64(U64FromFullTransactionId(f) - 1);
		bound_id = PG_INT64_MAX;
	}

	after_xid = FullTransactionIdFromU64(0);
	after_id = 0;
	for (;;)
	{
		Datum		args[4];
		int			n;
		TableWrite *w;
		Datum	   *xids;
		Datum	   *ids;

		CHECK_FOR_INTERRUPTS();
		args[0] = FullTransactionIdGetDatum(bound_xid);
		args[1] = Int64GetDatum(bound_id);
		args[2] = FullTransactionIdGetDatum(after_xid);
		args[3] = Int64GetDatum(after_id);
		LedgerExecute(&prunable, args, NULL, 0);
		n = (int) SPI_processed;
		if (n == 0)
			break;
		xids = palloc(sizeof(Datum) * n);
		ids = palloc(sizeof(Datum) * n);
		for (int r = 0; r < n; r++)
		{
			xids[r] = LedgerGetColumn(r, 1, &isnull);
			ids[r] = LedgerGetColumn(r, 2, &isnull);
		}
		w = TableWriteBegin("events", TABLE_DELETE, key, 2);
		for (int r = 0; r < n; r++)
		{
			Datum		values[2] = {xids[r], ids[r]};
			bool		nulls[2] = {false, false};

			TableWriteRow(w, values, nulls);
		}
		pruned += TableWriteEnd(w);
		after_xid = DatumGetFullTransactionId(xids[n - 1]);
		after_id = DatumGetInt64(ids[n - 1]);
		pfree(xids);
		pfree(ids);
		if (n < PRUNE_CHUNK)
			break;
	}
	SPI_finish();
	PG_RETURN_INT64(pruned);
}
