/*
 * ledger.h - declarations shared by the ledger extension's source files.
 *
 * Holds the money type's C representation, the extension's SQLSTATEs (one
 * class of our own, "LG", so callers can tell our rejections from
 * PostgreSQL's) and the helpers that several files call.
 *
 * The source files form layers, lowest first.  A file calls only into files
 * of lower layers, never into its own layer or above (test/stress/layers.sh
 * checks the built objects against this list):
 *
 *   1. amount_text.c                 decimal text of 128-bit integers
 *   2. amount.c                      the type ledger.amount
 *   3. validate.c spi.c chain.c      argument checks; prepared statements,
 *                                    catalog lookups and ids; hash chains
 *   4. rules.c velocity.c schema.c   an account's rules, in memory, and its
 *      table.c                       velocity limits' windows; the tables'
 *                                    columns and the DDL they allow; the one
 *                                    writer of the tables
 *   5. lock.c authority.c events.c   row locks and hot locks; who may
 *                                    move which money; the events a change
 *                                    publishes
 *   6. posting.c                     the posting pipeline
 *   7. asset.c book.c grant.c account.c transfer.c batch.c hold.c
 *      reverse.c hot.c history.c verify.c guard.c consumer.c monitor.c
 *      limit.c worker.c distribute.c
 *                                    the SQL-callable functions, triggers,
 *                                    statement hooks and background worker
 *   8. ledger.c                      _PG_init
 */
#ifndef LEDGER_H
#define LEDGER_H

#include "compat.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "storage/itemptr.h"
#include "utils/array.h"
#include "utils/inval.h"
#include "utils/relcache.h"
#include "utils/timestamp.h"

#include "amount_text.h"

/*
 * An amount is a signed 128-bit count of minor units.  On disk and in Datums
 * it is a 16-byte pass-by-reference value aligned to 8 bytes (typalign
 * 'double'), so it is always copied out with memcpy, never dereferenced as a
 * 16-byte-aligned object.
 */
typedef int128 Amount;

static inline Amount
DatumGetAmount(Datum d)
{
	Amount		a;

	memcpy(&a, DatumGetPointer(d), sizeof(Amount));
	return a;
}

extern Datum AmountGetDatum(Amount a);
extern char *AmountToCString(Amount a);

#define PG_GETARG_AMOUNT(n)	DatumGetAmount(PG_GETARG_DATUM(n))
#define PG_RETURN_AMOUNT(x)	return AmountGetDatum(x)

/*
 * SQLSTATEs of the extension.  Stable: clients match on them, and each one
 * is documented in docs/errors.md.  LG0xx reject arguments, LG1xx reject a
 * movement because of an account's state, LG2xx concern holds, LG9xx guard
 * the tables.
 */
#define ERRCODE_LEDGER_INVALID_AMOUNT		MAKE_SQLSTATE('L','G','0','0','1')
#define ERRCODE_LEDGER_NULL_ARGUMENT		MAKE_SQLSTATE('L','G','0','0','2')
#define ERRCODE_LEDGER_SAME_ACCOUNT			MAKE_SQLSTATE('L','G','0','0','3')
#define ERRCODE_LEDGER_UNKNOWN_ACCOUNT		MAKE_SQLSTATE('L','G','0','0','4')
#define ERRCODE_LEDGER_UNKNOWN_ASSET		MAKE_SQLSTATE('L','G','0','0','5')
#define ERRCODE_LEDGER_INVALID_ASSET		MAKE_SQLSTATE('L','G','0','0','6')
#define ERRCODE_LEDGER_DUPLICATE_ASSET		MAKE_SQLSTATE('L','G','0','0','7')
#define ERRCODE_LEDGER_DUPLICATE_ACCOUNT	MAKE_SQLSTATE('L','G','0','0','8')
#define ERRCODE_LEDGER_INVALID_NORMAL_BALANCE MAKE_SQLSTATE('L','G','0','0','9')
#define ERRCODE_LEDGER_INVALID_LIMITS		MAKE_SQLSTATE('L','G','0','1','0')
#define ERRCODE_LEDGER_INVALID_KEY			MAKE_SQLSTATE('L','G','0','1','1')
#define ERRCODE_LEDGER_IDEMPOTENCY_CONFLICT	MAKE_SQLSTATE('L','G','0','1','2')
#define ERRCODE_LEDGER_INVALID_METADATA		MAKE_SQLSTATE('L','G','0','1','3')
#define ERRCODE_LEDGER_INVALID_NAME			MAKE_SQLSTATE('L','G','0','1','4')
#define ERRCODE_LEDGER_INVALID_EXPIRY		MAKE_SQLSTATE('L','G','0','1','5')
#define ERRCODE_LEDGER_INVALID_ARGUMENT		MAKE_SQLSTATE('L','G','0','1','6')
#define ERRCODE_LEDGER_UNKNOWN_TRANSFER		MAKE_SQLSTATE('L','G','0','1','7')
#define ERRCODE_LEDGER_BATCH_TOO_LARGE		MAKE_SQLSTATE('L','G','0','1','8')
#define ERRCODE_LEDGER_UNKNOWN_BOOK			MAKE_SQLSTATE('L','G','0','1','9')
#define ERRCODE_LEDGER_DUPLICATE_BOOK		MAKE_SQLSTATE('L','G','0','2','0')
#define ERRCODE_LEDGER_DUPLICATE_CONSUMER	MAKE_SQLSTATE('L','G','0','2','1')
#define ERRCODE_LEDGER_UNKNOWN_CONSUMER		MAKE_SQLSTATE('L','G','0','2','2')
#define ERRCODE_LEDGER_UNKNOWN_EVENT		MAKE_SQLSTATE('L','G','0','2','3')

#define ERRCODE_LEDGER_ASSET_MISMATCH		MAKE_SQLSTATE('L','G','1','0','1')
#define ERRCODE_LEDGER_ACCOUNT_CLOSED		MAKE_SQLSTATE('L','G','1','0','2')
#define ERRCODE_LEDGER_INSUFFICIENT_FUNDS	MAKE_SQLSTATE('L','G','1','0','3')
#define ERRCODE_LEDGER_LIMIT_EXCEEDED		MAKE_SQLSTATE('L','G','1','0','4')
#define ERRCODE_LEDGER_BALANCE_OVERFLOW		MAKE_SQLSTATE('L','G','1','0','5')
#define ERRCODE_LEDGER_LIMITS_EXCLUDE_BALANCE MAKE_SQLSTATE('L','G','1','0','6')
#define ERRCODE_LEDGER_ASSET_IN_USE			MAKE_SQLSTATE('L','G','1','0','7')
#define ERRCODE_LEDGER_PENDING_HOLDS		MAKE_SQLSTATE('L','G','1','0','8')
#define ERRCODE_LEDGER_REVERSAL_EXCEEDS		MAKE_SQLSTATE('L','G','1','0','9')
#define ERRCODE_LEDGER_BOOK_MISMATCH		MAKE_SQLSTATE('L','G','1','1','0')
#define ERRCODE_LEDGER_VELOCITY_EXCEEDED	MAKE_SQLSTATE('L','G','1','1','1')

#define ERRCODE_LEDGER_UNKNOWN_HOLD			MAKE_SQLSTATE('L','G','2','0','1')
#define ERRCODE_LEDGER_HOLD_CAPTURED		MAKE_SQLSTATE('L','G','2','0','2')
#define ERRCODE_LEDGER_HOLD_RELEASED		MAKE_SQLSTATE('L','G','2','0','3')
#define ERRCODE_LEDGER_HOLD_EXPIRED			MAKE_SQLSTATE('L','G','2','0','4')
#define ERRCODE_LEDGER_CAPTURE_EXCEEDS_HOLD	MAKE_SQLSTATE('L','G','2','0','5')

#define ERRCODE_LEDGER_PROTECTED_TABLE		MAKE_SQLSTATE('L','G','9','0','1')
#define ERRCODE_LEDGER_UNSUPPORTED_DDL		MAKE_SQLSTATE('L','G','9','0','2')
#define ERRCODE_LEDGER_ID_TAKEN				MAKE_SQLSTATE('L','G','9','0','3')
#define ERRCODE_LEDGER_NOT_COORDINATOR		MAKE_SQLSTATE('L','G','9','0','4')

/* Limits on caller-supplied text. */
#define LEDGER_ASSET_CODE_MAX	16
#define LEDGER_KEY_MAX			255
#define LEDGER_NAME_MAX			255

/* Most transfers one call of ledger.transfer_batch() may carry. */
#define LEDGER_BATCH_MAX		100000

/* Length of an entry's chain hash (SHA-256). */
#define LEDGER_HASH_LEN			32

/*
 * Velocity limits of an account (velocity.c): each rule's window, cut into
 * VELOCITY_SLICES buckets, and one bucket more, as a ring.
 */
#define VELOCITY_SLICES		32
#define VELOCITY_MAX_RULES	8

typedef struct VelocityRule
{
	int64		id;
	bool		credit;			/* counts credits, else debits */
	bool		flag;			/* flags the excess, else refuses it */
	int64		window;			/* microseconds */
	bool		has_amount;
	Amount		max_amount;
	bool		has_count;
	int64		max_count;
	int64		head;			/* the newest bucket's number */
	Amount		amount[VELOCITY_SLICES + 1];	/* by bucket number modulo */
	int64		count[VELOCITY_SLICES + 1];
} VelocityRule;

typedef struct Velocity
{
	int			nrules;
	VelocityRule rules[FLEXIBLE_ARRAY_MEMBER];	/* nrules, or room for more
												 * where made so */
} Velocity;

/* A flag rule that a movement went beyond, and what it had used before. */
typedef struct VelocityFlagged
{
	VelocityRule rule;
	Amount		amount_used;
	int64		count_used;
} VelocityFlagged;

/*
 * An account row as the C code works on it: read under the row lock, changed
 * in memory, written back once.
 */
typedef struct LedgerAccount
{
	int64		id;
	int64		book_id;
	char		asset[LEDGER_ASSET_CODE_MAX + 1];
	bool		credit_normal;	/* credits raise the balance */
	bool		has_min;		/* false: no lower bound */
	bool		has_max;		/* false: no upper bound */
	Amount		min_balance;
	Amount		max_balance;
	Amount		debits_posted;
	Amount		credits_posted;
	Amount		debits_pending;
	Amount		credits_pending;
	int64		version;
	bool		closed;
	TimestampTz updated_at;		/* time of the last entry */
	TimestampTz holds_expire_at;	/* earliest expiry of a hold reserved on
									 * the account; DT_NOEND if none */
	bool		has_entry_hash; /* false until the first entry */
	uint8		entry_hash[LEDGER_HASH_LEN];	/* hash of the last entry */
	bool		hot;			/* in hot mode (hot.c) */
	Velocity   *velocity;		/* its velocity limits; NULL: none.  Shared
								 * by copies of the struct: copy it
								 * (VelocityCopy) to keep a state */
	bool		queued;			/* read without its row lock: this call
								 * queues its posting (hot.c) */
	int64		applied_hot_entries;	/* queued postings applied when it
										 * was locked */
	ItemPointerData tid;		/* where the row lock found the row; not
								 * valid when read otherwise */
} LedgerAccount;

/* A side of a double entry. */
typedef enum LedgerSide
{
	LEDGER_DEBIT,
	LEDGER_CREDIT
} LedgerSide;

/* Does the account have a velocity limit on side? */
static inline bool
VelocityHasSide(const Velocity *v, LedgerSide side)
{
	if (v == NULL)
		return false;
	for (int i = 0; i < v->nrules; i++)
		if (v->rules[i].credit == (side == LEDGER_CREDIT))
			return true;
	return false;
}

/*
 * EntryIdOf - the id of a transfer's entry on a side: twice the transfer's
 * id, plus one for the credit.  An entry's id is thus unique (by the index
 * on it) as long as transfer ids are, and needs no sequence of its own; the
 * SQL statements that write entries compute the same (ENTRY_ID_SQL).
 */
static inline int64
EntryIdOf(int64 transfer_id, LedgerSide side)
{
	return transfer_id * 2 + (side == LEDGER_CREDIT ? 1 : 0);
}

/* EntryIdOf in SQL, of a transfer id and a direction ('debit' or 'credit'). */
#define ENTRY_ID_SQL(transfer, direction) \
	"(" transfer " OPERATOR(pg_catalog.*) 2 OPERATOR(pg_catalog.+)" \
	" CASE WHEN " direction " OPERATOR(pg_catalog.=) 'credit' THEN 1 ELSE 0 END)"

/*
 * Prepared statements, kept for the life of the backend.  argtypes has one
 * letter per parameter: b bigint, B bigint[], i integer, t text, j jsonb,
 * a ledger.amount, A ledger.amount[], T timestamptz, o boolean, h bytea,
 * r regrole, x xid8, v interval,
 * and for arrays: T timestamptz[] as "Z", t text[] as "X", h bytea[] as "H",
 * j jsonb[] as "J", o boolean[] as "O", i integer[] as "I", x xid8[] as "Y",
 * v interval[] as "V".
 */
typedef struct LedgerStatement
{
	const char *sql;
	const char *argtypes;
	SPIPlanPtr	plan;
	uint32		generation;
} LedgerStatement;

#define LEDGER_STATEMENT(sql, argtypes) { (sql), (argtypes), NULL, 0 }

/*
 * A request to move amount from one account to another, as the API
 * functions receive it.  description and metadata are text and jsonb Datums.
 */
typedef struct TransferRequest
{
	int64		debit_account_id;
	int64		credit_account_id;
	Amount		amount;
	char	   *idempotency_key;	/* NULL: none */
	Datum		description;
	bool		description_null;
	Datum		metadata;
	bool		metadata_null;
	int64		hold_id;		/* the hold a capture completes; 0: none */
	int64		reverses_transfer_id;	/* the transfer a reversal undoes; 0:
										 * none */
} TransferRequest;

/* spi.c */
typedef struct LedgerSavedUser
{
	Oid			userid;
	int			sec_context;
} LedgerSavedUser;

extern Oid	LedgerNamespaceOid(void);
extern Oid	LedgerOwnerOid(void);
extern void LedgerBecomeOwner(LedgerSavedUser *saved);
extern void LedgerRestoreUser(const LedgerSavedUser *saved);
extern Oid	LedgerAmountTypeOid(void);
extern void LedgerRegisterCacheCallbacks(void);
extern void LedgerOnRelcacheInvalidation(RelcacheCallbackFunction func);
extern void LedgerConnect(void);
extern int	LedgerExecute(LedgerStatement *stmt, Datum *values, const char *nulls,
						  long count);
extern int	LedgerQuery(LedgerStatement *stmt, Datum *values, const char *nulls,
						long count);
extern int	LedgerExecuteWrite(LedgerStatement *stmt, Datum *values,
							   const char *nulls, long count);
extern Datum LedgerGetColumn(int row, int col, bool *isnull);
extern bool ledger_write_in_progress;

/*
 * An id the ledger hands out: its table, its unique index, and the sequence
 * it derives from, each value of which gives ids_per_value ids.
 */
typedef struct LedgerIdKey
{
	const char *table;
	const char *constraint;
	const char *sequence;
	int			ids_per_value;
} LedgerIdKey;

extern int	LedgerIdKeys(const LedgerIdKey **keys);
extern int64 LedgerNextId(const char *sequence);
extern bool LedgerIsCitusWorker(void);
extern void LedgerRethrowIdCollision(MemoryContext cxt);
extern void LedgerRepairIds(void);

/* schema.c: the ledger's tables, and their columns in the library's order. */
typedef enum LedgerTable
{
	LEDGER_ASSETS, LEDGER_ACCOUNTS, LEDGER_TRANSFERS, LEDGER_ENTRIES,
	LEDGER_HOLDS, LEDGER_HOT_ENTRIES, LEDGER_BOOKS, LEDGER_GRANTS, LEDGER_EVENTS,
	LEDGER_CONSUMERS, LEDGER_MONITORS, LEDGER_VELOCITY_LIMITS, LEDGER_NTABLES
} LedgerTable;

/* The columns of ledger.assets that accounts depend on. */
typedef enum AssetsColumn
{
	ASSET_CODE, ASSET_SCALE
} AssetsColumn;

typedef enum AccountsColumn
{
	ACC_ID, ACC_ASSET, ACC_NAME, ACC_NORMAL_BALANCE, ACC_MIN_BALANCE,
	ACC_MAX_BALANCE, ACC_CLOSED, ACC_METADATA, ACC_CREATED_AT,
	ACC_DEBITS_PENDING, ACC_CREDITS_PENDING, ACC_HOLDS_EXPIRE_AT,
	ACC_DEBITS_POSTED, ACC_CREDITS_POSTED, ACC_VERSION, ACC_UPDATED_AT,
	ACC_ENTRY_HASH, ACC_HOT, ACC_BOOK_ID, ACC_VELOCITY, ACCOUNTS_NCOLUMNS
} AccountsColumn;

typedef enum HoldsColumn
{
	HOLD_ID, HOLD_DEBIT_ACCOUNT_ID, HOLD_CREDIT_ACCOUNT_ID, HOLD_AMOUNT,
	HOLD_EXPIRES_AT, HOLD_IDEMPOTENCY_KEY, HOLD_DESCRIPTION, HOLD_METADATA,
	HOLD_CREATED_AT, HOLD_STATUS, HOLD_CAPTURED_AMOUNT,
	HOLD_CAPTURE_TRANSFER_ID, HOLD_RESOLVED_AT, HOLD_DEBIT_RESERVED,
	HOLD_CREDIT_RESERVED, HOLD_BOOK_ID, HOLD_VELOCITY, HOLDS_NCOLUMNS
} HoldsColumn;

typedef enum GrantsColumn
{
	GRANT_BOOK_ID, GRANT_GRANTEE, GRANT_PRIVILEGE, GRANT_DEBIT_ACCOUNTS,
	GRANT_CREDIT_ACCOUNTS, GRANT_GRANT_OPTION, GRANT_GRANTED_BY,
	GRANT_GRANTED_AT, GRANTS_NCOLUMNS
} GrantsColumn;

extern const AttrNumber *LedgerTableColumns(Relation rel, LedgerTable table);
extern bool LedgerDistributing;

/* chain.c */
extern void EntryHash(const uint8 *prev, int64 transfer_id, int64 account_id,
					  int64 version, LedgerSide side, Amount amount,
					  Amount balance_after, TimestampTz created_at, uint8 *out);

/* validate.c */
typedef struct ItemContext
{
	ErrorContextCallback callback;
	const char *function;
	int		   *current;		/* the item being processed, from 0; -1:
								 * none */
} ItemContext;

extern void CheckArgNotNull(FunctionCallInfo fcinfo, int argno, const char *argname);
extern void CheckPositiveAmount(Amount amount);
extern void CheckName(const char *name, const char *what);
extern char *GetIdempotencyKey(FunctionCallInfo fcinfo, int argno);
extern char *IdempotencyKeyFromDatum(Datum datum);
extern void GetRequestTexts(FunctionCallInfo fcinfo, int argno, TransferRequest *req);
extern void CheckMetadata(FunctionCallInfo fcinfo, int argno);
extern void CheckMetadataDatum(Datum datum);
extern void PushItemContext(ItemContext *c, const char *function, int *current);
extern void PopItemContext(ItemContext *c);
extern int	GetRequestItems(ArrayType *array, int natts, const char *what, int *current,
							Datum **values, bool **nulls);

/* lock.c */
extern bool LockAccountRows(const int64 *ids, int n, LedgerAccount *accounts,
							int64 *missing);
extern bool LockAccountSkipLocked(int64 id, LedgerAccount *account);
extern bool ReadAccountRow(int64 id, bool caller_snapshot, LedgerAccount *account);
extern void LedgerRegisterHotCallbacks(void);
extern bool AccountMayBeHot(int64 id);
extern void LockHotAccount(int64 id, int mode);
extern void LockAccountState(int64 id);

/* authority.c: privileges of roles on books, in the order of their bits. */
typedef enum LedgerPrivilege
{
	LEDGER_READ, LEDGER_POST, LEDGER_HOLD, LEDGER_MANAGE, LEDGER_NPRIVILEGES
} LedgerPrivilege;

extern void AuthorityRegisterCallbacks(void);
extern const char *PrivilegeName(LedgerPrivilege privilege);
extern LedgerPrivilege PrivilegeFromName(const char *name);
extern bool AuthorityIsOwner(void);
extern bool AuthorityHas(int64 book, LedgerPrivilege privilege);
extern bool AuthorityHasAny(int64 book);
extern bool AuthorityMayGrant(int64 book, LedgerPrivilege privilege, bool grant_option);
extern void AuthorityCheck(int64 book, LedgerPrivilege privilege, int64 account);
extern void AuthorityCheckAny(int64 book);
extern void AuthorityCheckMovement(int64 book, LedgerPrivilege privilege,
								   int64 debit, int64 credit);

/* events.c: the kinds of event, in the order of their names. */
typedef enum EventKind
{
	EVENT_TRANSFER_POSTED, EVENT_REVERSAL_POSTED, EVENT_HOLD_CREATED,
	EVENT_HOLD_CAPTURED, EVENT_HOLD_RELEASED, EVENT_HOLD_EXPIRED,
	EVENT_ACCOUNT_CREATED, EVENT_ACCOUNT_LIMITS_CHANGED, EVENT_ACCOUNT_CLOSED,
	EVENT_ACCOUNT_REOPENED, EVENT_ACCOUNT_HOT_CHANGED, EVENT_MONITOR_FIRED,
	EVENT_VELOCITY_FLAGGED, EVENT_NKINDS
} EventKind;

/* The channel consumers LISTEN on. */
#define LEDGER_EVENTS_CHANNEL	"ledger_events"

/* An event to append; ids of 0 and has_amount false are NULL columns. */
typedef struct LedgerEvent
{
	EventKind	kind;
	int64		book_id;
	int64		account_id;
	int64		debit_account_id;
	int64		credit_account_id;
	bool		has_amount;
	Amount		amount;
	int64		transfer_id;
	int64		hold_id;
	const char *idempotency_key;	/* NULL: none */
	Datum		description;
	bool		description_null;
	Datum		metadata;
	bool		metadata_null;
	Datum		detail;
	bool		detail_null;
	TimestampTz created_at;
} LedgerEvent;

extern void EventsRegisterCallbacks(void);
extern const char *EventKindName(EventKind kind);
extern bool EventsEnabled(int64 book);
extern Datum EventDetail(const char *json);
extern void EventsWrite(const LedgerEvent *events, int n);
extern void EventsWorkerAttach(void);

/* A balance monitor, as the pipeline checks it. */
typedef enum MonitorOp
{
	MONITOR_LT, MONITOR_LE, MONITOR_GE, MONITOR_GT
} MonitorOp;

typedef struct LedgerMonitor
{
	int64		id;
	bool		available;		/* the available balance, else the posted */
	MonitorOp	op;
	Amount		threshold;
	char	   *name;			/* NULL: none */
} LedgerMonitor;

extern bool MonitorsAnywhere(void);
extern int	MonitorsOf(int64 account, const LedgerMonitor **monitors);
extern bool MonitorHolds(const LedgerMonitor *monitor, const LedgerAccount *account);
extern Datum MonitorDetail(const LedgerMonitor *monitor);
extern const char *MonitorOpName(MonitorOp op);
extern uint64 EventsCommitted(void);
extern uint64 EventsWorkerIdle(bool idle);
extern void EventsNotify(void);

/* rules.c */
extern void ReportUnknownAccount(int64 id) pg_attribute_noreturn();
extern int	CompareAccountIds(const void *a, const void *b);
extern Amount AccountPostedBalance(const LedgerAccount *account);
extern Amount AccountAvailableBalance(const LedgerAccount *account);
extern Amount AccountPost(LedgerAccount *account, LedgerSide side, Amount amount);
extern void AccountAddPosted(LedgerAccount *account, LedgerSide side, Amount amount);
extern void AccountReserve(LedgerAccount *account, LedgerSide side, Amount amount);
extern void AccountUnreserve(LedgerAccount *account, LedgerSide side, Amount amount);
extern void CheckAccountRow(const LedgerAccount *account);
extern void CheckAccountLimits(const LedgerAccount *account, LedgerSide side,
							   Amount amount);
extern void CheckLimitsIncludeBalance(const LedgerAccount *account);
extern void CheckTransferRequest(const TransferRequest *req);
extern void CheckTransferAccounts(const LedgerAccount *debit,
								  const LedgerAccount *credit);
extern void CheckSameBook(const LedgerAccount *debit, const LedgerAccount *credit);
extern bool HotPostingAllowed(const LedgerAccount *account, LedgerSide side,
							  Amount amount);

/* velocity.c */
extern Velocity *VelocityDecode(const bytea *raw, int64 account);
extern bytea *VelocityEncode(const Velocity *v);
extern Velocity *VelocityAlloc(int nrules);
extern Velocity *VelocityCopy(const Velocity *v, int extra);
extern TimestampTz VelocityEarliest(const Velocity *v);
extern int64 VelocityBucket(const VelocityRule *rule, TimestampTz t);
extern char *VelocityWindowText(int64 window);
extern void VelocityCount(LedgerAccount *account, LedgerSide side, Amount amount,
						  TimestampTz t, const int64 *skip, int nskip,
						  VelocityFlagged *flagged, int *nflagged,
						  int64 *marks, int *nmarks);
extern void VelocityGiveBack(LedgerAccount *account, LedgerSide side, Amount amount,
							 bool count, const int64 *marks, int nmarks);
extern bool VelocityMarked(int64 rule, const int64 *marks, int nmarks);
extern bytea *VelocityMarksEncode(const int64 *marks, int nmarks);
extern int64 *VelocityMarksDecode(const bytea *raw, int64 hold, int *nmarks);
extern void VelocityUsage(const VelocityRule *rule, TimestampTz t, Amount *amount,
						  int64 *count);

/* guard.c */
extern void GuardRegisterHooks(void);

/* worker.c */
extern void LedgerDefineExpiryGucs(void);
extern void LedgerRegisterExpiryWorker(void);

#endif							/* LEDGER_H */
