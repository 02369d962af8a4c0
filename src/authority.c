/*
 * authority.c - who may move which money: privileges of roles on books.
 *
 * ledger.grants gives a role a privilege on a book: read (balances,
 * statements, the views), post (transfers, batches, reversals), hold (holds,
 * captures, releases) or manage (accounts, their limits and modes, grants
 * below its own).  A grant of post or hold may be narrowed to named debit
 * and/or credit accounts.  The ledger's owner (the extension's owner, and
 * every role that has its privileges, superusers included) holds every
 * privilege on every book.
 *
 * Who asks is the current user when a ledger function runs: the API
 * functions are SECURITY INVOKER and only their statements run as the
 * owner (spi.c, LedgerBecomeOwner).  So the caller is the role that called
 * the function: the session's role, or the one SET ROLE chose, or the owner
 * of the SECURITY DEFINER function that made the call.  A role has the
 * grants of the roles whose privileges it has (has_privs_of_role), which is
 * how PostgreSQL counts membership for its own privileges: INHERIT, or SET
 * ROLE to the member role.
 *
 * The grants that apply to a role on a book are cached per backend, and the
 * cache is emptied when ledger.grants changes (its statement trigger sends
 * a relation cache invalidation, which every backend receives once the
 * change commits) or when roles or memberships change.  An empty entry is
 * loaded by an index scan with a fresh catalog snapshot, never the caller's,
 * so a transaction that began before a revoke cannot put the revoked grant
 * back in the cache.
 */
#include "ledger.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

static const char *const privilege_names[LEDGER_NPRIVILEGES] = {
	"read", "post", "hold", "manage"
};

/* One row of ledger.grants that applies to the cached role. */
typedef struct CachedGrant
{
	LedgerPrivilege privilege;
	bool		grant_option;
	int			ndebit;			/* -1: any debit account */
	int64	   *debit;			/* sorted */
	int			ncredit;		/* -1: any credit account */
	int64	   *credit;			/* sorted */
} CachedGrant;

typedef struct AuthorityKey
{
	Oid			role;
	int64		book;
} AuthorityKey;

typedef struct AuthorityEntry
{
	AuthorityKey key;
	bool		owner;			/* has the owner's privileges: all */
	uint8		held;			/* a bit per privilege held, narrowed or not */
	uint8		whole;			/* a bit per privilege held on every account */
	uint8		grantable;		/* a bit per privilege held WITH GRANT OPTION */
	int			ngrants;
	CachedGrant *grants;
} AuthorityEntry;

/*
 * A backend that reads many books (a report over the views) makes an entry
 * for each; past this many the cache starts again, so it stays small.
 */
#define AUTHORITY_CACHE_MAX 10000

static HTAB *authority_cache = NULL;
static MemoryContext authority_context = NULL;

/*
 * Bumped whenever the cache is emptied.  Reading grants and memberships
 * opens catalogs, which may deliver invalidations: a load is kept only if
 * none arrived while it ran, so that it cannot put back what an
 * invalidation took away.
 */
static uint64 authority_generation = 0;

/* Whether the last role asked about holds the owner's privileges. */
static Oid	owner_checked_role = InvalidOid;
static bool owner_checked_result = false;
static Oid	grants_relid = InvalidOid;
static Oid	grants_indexid = InvalidOid;

static void
forget_all(void)
{
	if (authority_context != NULL)
		MemoryContextReset(authority_context);
	authority_cache = NULL;
	owner_checked_role = InvalidOid;
	authority_generation++;
}

static void
grants_relcache_callback(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == grants_relid)
	{
		grants_relid = InvalidOid;
		grants_indexid = InvalidOid;
		forget_all();
	}
}

static void
roles_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	forget_all();
}

/*
 * AuthorityRegisterCallbacks - called once from _PG_init.
 */
void
AuthorityRegisterCallbacks(void)
{
	LedgerOnRelcacheInvalidation(grants_relcache_callback);
	CacheRegisterSyscacheCallback(AUTHOID, roles_syscache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, roles_syscache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, roles_syscache_callback, (Datum) 0);
}

const char *
PrivilegeName(LedgerPrivilege privilege)
{
	return privilege_names[privilege];
}

/*
 * PrivilegeFromName - the privilege of a name, or LG016 naming the ones
 * there are.
 */
LedgerPrivilege
PrivilegeFromName(const char *name)
{
	for (int p = 0; p < LEDGER_NPRIVILEGES; p++)
		if (strcmp(name, privilege_names[p]) == 0)
			return (LedgerPrivilege) p;
	ereport(ERROR,
			(errcode(ERRCODE_LEDGER_INVALID_ARGUMENT),
			 errmsg("unknown ledger privilege \"%s\"", name),
			 errhint("The privileges are read, post, hold and manage.")));
	return LEDGER_READ;			/* keep compiler quiet */
}

static int
compare_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* The ids of an int8[] column, sorted, in the current memory context; -1: NULL. */
static int
copy_accounts(Datum d, bool isnull, int64 **out)
{
	ArrayType  *array;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			kept = 0;

	*out = NULL;
	if (isnull)
		return -1;
	array = DatumGetArrayTypeP(d);
	deconstruct_array(array, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
					  TYPALIGN_DOUBLE, &elems, &nulls, &n);
	*out = palloc(sizeof(int64) * Max(n, 1));
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			(*out)[kept++] = DatumGetInt64(elems[i]);
	qsort(*out, kept, sizeof(int64), compare_int64);
	return kept;
}

/* Find ledger.grants and its primary key, as they are now. */
static void
find_grants_table(void)
{
	Oid			ns = LedgerNamespaceOid();

	if (OidIsValid(grants_relid))
		return;
	grants_relid = get_relname_relid("grants", ns);
	grants_indexid = get_relname_relid("grants_pkey", ns);
	if (!OidIsValid(grants_relid) || !OidIsValid(grants_indexid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table ledger.grants or its primary key does not exist"),
				 errhint("Run ALTER EXTENSION ledger UPDATE, or install the library that matches the extension's version.")));
}

/*
 * Read the grants of the book that apply to the role into entry, in the
 * current memory context.
 */
static void
load_entry(AuthorityEntry *entry)
{
	Relation	rel;
	const AttrNumber *col;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	int			allocated = 4;

	entry->owner = false;
	entry->held = entry->whole = entry->grantable = 0;
	entry->ngrants = 0;
	entry->grants = NULL;

	find_grants_table();
	rel = table_open(grants_relid, AccessShareLock);
	col = LedgerTableColumns(rel, LEDGER_GRANTS);
	ScanKeyInit(&key, col[GRANT_BOOK_ID], BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(entry->key.book));
	scan = systable_beginscan(rel, grants_indexid, true, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull;
		Oid			grantee;
		CachedGrant *g;
		Datum		d;

		grantee = DatumGetObjectId(heap_getattr(tuple, col[GRANT_GRANTEE], desc, &isnull));
		if (isnull || !has_privs_of_role(entry->key.role, grantee))
			continue;
		if (entry->grants == NULL)
			entry->grants = palloc(sizeof(CachedGrant) * allocated);
		else if (entry->ngrants == allocated)
		{
			allocated *= 2;
			entry->grants = repalloc(entry->grants, sizeof(CachedGrant) * allocated);
		}
		g = &entry->grants[entry->ngrants++];
		d = heap_getattr(tuple, col[GRANT_PRIVILEGE], desc, &isnull);
		g->privilege = PrivilegeFromName(TextDatumGetCString(d));
		d = heap_getattr(tuple, col[GRANT_GRANT_OPTION], desc, &isnull);
		g->grant_option = !isnull && DatumGetBool(d);
		d = heap_getattr(tuple, col[GRANT_DEBIT_ACCOUNTS], desc, &isnull);
		g->ndebit = copy_accounts(d, isnull, &g->debit);
		d = heap_getattr(tuple, col[GRANT_CREDIT_ACCOUNTS], desc, &isnull);
		g->ncredit = copy_accounts(d, isnull, &g->credit);

		entry->held |= 1 << g->privilege;
		if (g->ndebit < 0 && g->ncredit < 0)
			entry->whole |= 1 << g->privilege;
		if (g->grant_option)
			entry->grantable |= 1 << g->privilege;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/* Does the current user hold the ledger owner's privileges? */
bool
AuthorityIsOwner(void)
{
	Oid			role = GetUserId();

	while (role != owner_checked_role)
	{
		uint64		generation = authority_generation;
		bool		result = has_privs_of_role(role, LedgerOwnerOid());

		if (generation == authority_generation)
		{
			owner_checked_result = result;
			owner_checked_role = role;
		}
	}
	return owner_checked_result;
}

/* A copy of a grant's accounts in the cache's memory. */
static int64 *
cache_accounts(const int64 *ids, int n)
{
	int64	   *copy;

	if (n < 0)
		return NULL;
	copy = MemoryContextAlloc(authority_context, sizeof(int64) * Max(n, 1));
	memcpy(copy, ids, sizeof(int64) * n);
	return copy;
}

/*
 * The cached grants of the current user on a book.  The owner needs none:
 * it gets an entry that says so, the same for every book.
 */
static AuthorityEntry *
lookup(int64 book)
{
	static AuthorityEntry owner_entry = {.owner = true};
	AuthorityKey key;
	AuthorityEntry loaded;
	AuthorityEntry *entry;
	bool		found;

	if (AuthorityIsOwner())
		return &owner_entry;
	memset(&key, 0, sizeof(key));
	key.role = GetUserId();
	key.book = book;
	if (authority_cache != NULL)
	{
		entry = hash_search(authority_cache, &key, HASH_FIND, NULL);
		if (entry != NULL)
			return entry;
	}

	/* Load until no invalidation arrives meanwhile; then nothing reads a catalog. */
	for (;;)
	{
		uint64		generation = authority_generation;

		memset(&loaded, 0, sizeof(loaded));
		loaded.key = key;
		load_entry(&loaded);
		if (generation == authority_generation)
			break;
	}

	if (authority_cache != NULL && hash_get_num_entries(authority_cache) >= AUTHORITY_CACHE_MAX)
		forget_all();
	if (authority_cache == NULL)
	{
		HASHCTL		ctl;

		if (authority_context == NULL)
			authority_context = AllocSetContextCreate(CacheMemoryContext,
													  "ledger authority",
													  ALLOCSET_SMALL_SIZES);
		ctl.keysize = sizeof(AuthorityKey);
		ctl.entrysize = sizeof(AuthorityEntry);
		ctl.hcxt = authority_context;
		authority_cache = hash_create("ledger authority", 64, &ctl,
									  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	entry = hash_search(authority_cache, &key, HASH_ENTER, &found);
	*entry = loaded;
	entry->grants = NULL;
	if (loaded.ngrants > 0)
	{
		entry->grants = MemoryContextAlloc(authority_context,
										   sizeof(CachedGrant) * loaded.ngrants);
		for (int i = 0; i < loaded.ngrants; i++)
		{
			entry->grants[i] = loaded.grants[i];
			entry->grants[i].debit = cache_accounts(loaded.grants[i].debit, loaded.grants[i].ndebit);
			entry->grants[i].credit = cache_accounts(loaded.grants[i].credit, loaded.grants[i].ncredit);
		}
	}
	return entry;
}

static bool
contains(const int64 *ids, int n, int64 id)
{
	return n < 0 || bsearch(&id, ids, n, sizeof(int64), compare_int64) != NULL;
}

/* Does the current user hold the privilege on the book, on some accounts at least? */
bool
AuthorityHas(int64 book, LedgerPrivilege privilege)
{
	AuthorityEntry *entry = lookup(book);

	return entry->owner || (entry->held & (1 << privilege)) != 0;
}

/* Does the current user hold any privilege on the book? */
bool
AuthorityHasAny(int64 book)
{
	AuthorityEntry *entry = lookup(book);

	return entry->owner || entry->held != 0;
}

/*
 * AuthorityMayGrant - may the current user grant or revoke the privilege
 * on the book?  The owner may grant anything; a role holding manage WITH
 * GRANT OPTION may grant any privilege below its own: all but manage WITH
 * GRANT OPTION.
 */
bool
AuthorityMayGrant(int64 book, LedgerPrivilege privilege, bool grant_option)
{
	AuthorityEntry *entry = lookup(book);

	if (entry->owner)
		return true;
	if ((entry->grantable & (1 << LEDGER_MANAGE)) == 0)
		return false;
	return !(privilege == LEDGER_MANAGE && grant_option);
}

static char *
role_name(void)
{
	char	   *name = GetUserNameFromId(GetUserId(), true);

	return name != NULL ? name : psprintf("%u", GetUserId());
}

/*
 * AuthorityCheck - refuse (42501) unless the current user holds the
 * privilege on the book.  account, if not 0, is the account the call
 * concerns, named in the message.
 */
void
AuthorityCheck(int64 book, LedgerPrivilege privilege, int64 account)
{
	if (AuthorityHas(book, privilege))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 account != 0 ?
			 errmsg("role \"%s\" lacks privilege %s on book %lld, which holds account %lld",
					role_name(), PrivilegeName(privilege), (long long) book,
					(long long) account) :
			 errmsg("role \"%s\" lacks privilege %s on book %lld",
					role_name(), PrivilegeName(privilege), (long long) book),
			 errhint("The ledger's owner, or a role with manage WITH GRANT OPTION on the book, grants it with ledger.grant_privilege().")));
}

/* AuthorityCheckAny - refuse (42501) unless the current user holds some privilege on the book. */
void
AuthorityCheckAny(int64 book)
{
	if (AuthorityHasAny(book))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role \"%s\" holds no privilege on book %lld", role_name(), (long long) book),
			 errhint("The ledger's owner, or a role with manage WITH GRANT OPTION on the book, grants one with ledger.grant_privilege().")));
}

/*
 * AuthorityCheckMovement - refuse (42501) unless the current user may move
 * money (post or hold) from the debit account to the credit account of the
 * book: some grant of the privilege that applies to the role admits both.
 */
void
AuthorityCheckMovement(int64 book, LedgerPrivilege privilege, int64 debit, int64 credit)
{
	AuthorityEntry *entry = lookup(book);

	if (entry->owner || (entry->whole & (1 << privilege)) != 0)
		return;
	for (int i = 0; i < entry->ngrants; i++)
	{
		CachedGrant *g = &entry->grants[i];

		if (g->privilege == privilege &&
			contains(g->debit, g->ndebit, debit) &&
			contains(g->credit, g->ncredit, credit))
			return;
	}
	if ((entry->held & (1 << privilege)) == 0)
		AuthorityCheck(book, privilege, 0);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role \"%s\" lacks privilege %s from account %lld to account %lld in book %lld",
					role_name(), PrivilegeName(privilege), (long long) debit,
					(long long) credit, (long long) book),
			 errdetail("The role's grants of %s on book %lld are limited to other debit or credit accounts.",
					   PrivilegeName(privilege), (long long) book),
			 errhint("The ledger's owner, or a role with manage WITH GRANT OPTION on the book, grants it with ledger.grant_privilege().")));
}
