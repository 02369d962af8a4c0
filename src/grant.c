/*
 * grant.c - granting and revoking the privileges of roles on books.
 *
 * ledger.grant_privilege and ledger.revoke_privilege write ledger.grants;
 * authority.c reads it, and the trigger here tells every backend to forget
 * what it cached once a change commits.  The ledger's owner may grant any
 * privilege on any book; a role holding manage WITH GRANT OPTION on a book
 * may grant and revoke there every privilege below its own, that is all but
 * manage WITH GRANT OPTION.  A role that creates a book gets manage WITH
 * GRANT OPTION on it (book.c), as the creator of an object owns it.
 *
 * A grant names its role, book and privilege once: granting again replaces
 * the accounts it is narrowed to and its grant option.  Revoking a grant
 * leaves the grants its holder made in place: each names who made it
 * (granted_by), and the owner revokes them as needed.
 */
#include "ledger.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/rel.h"

static LedgerStatement book_exists = LEDGER_STATEMENT(
	"SELECT FROM ledger.books WHERE id OPERATOR(pg_catalog.=) $1", "b");

/* The first account of $1 that does not exist or is not of book $2. */
static LedgerStatement foreign_account = LEDGER_STATEMENT(
	"SELECT x.id, a.book_id"
	"  FROM pg_catalog.unnest($1) AS x (id)"
	"  LEFT JOIN ledger.accounts AS a ON a.id OPERATOR(pg_catalog.=) x.id"
	" WHERE a.book_id IS DISTINCT FROM $2"
	" LIMIT 1", "Bb");

static LedgerStatement upsert_grant = LEDGER_STATEMENT(
	"INSERT INTO ledger.grants (book_id, grantee, privilege, debit_accounts,"
	"                           credit_accounts, grant_option, granted_by, granted_at)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, pg_catalog.now())"
	" ON CONFLICT (book_id, grantee, privilege) DO UPDATE"
	"   SET debit_accounts = excluded.debit_accounts,"
	"       credit_accounts = excluded.credit_accounts,"
	"       grant_option = excluded.grant_option,"
	"       granted_by = excluded.granted_by,"
	"       granted_at = excluded.granted_at", "brtBBor");

static LedgerStatement delete_grant = LEDGER_STATEMENT(
	"DELETE FROM ledger.grants"
	" WHERE book_id OPERATOR(pg_catalog.=) $1 AND grantee OPERATOR(pg_catalog.=) $2"
	"   AND privilege OPERATOR(pg_catalog.=) $3"
	"   AND (NOT grant_option OR $4)"
	" RETURNING 1", "brto");

static LedgerStatement grant_exists = LEDGER_STATEMENT(
	"SELECT FROM ledger.grants"
	" WHERE book_id OPERATOR(pg_catalog.=) $1 AND grantee OPERATOR(pg_catalog.=) $2"
	"   AND privilege OPERATOR(pg_catalog.=) $3", "brt");

/* Refuse an unknown book (LG019).  Caller is connected to SPI. */
static void
check_book_exists(int64 book)
{
	Datum		arg = Int64GetDatum(book);

	LedgerQuery(&book_exists, &arg, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_UNKNOWN_BOOK),
				 errmsg("book %lld does not exist", (long long) book)));
}

/* Refuse a role that may not grant or revoke the privilege on the book. */
static void
check_may_grant(int64 book, LedgerPrivilege privilege, bool grant_option)
{
	if (AuthorityMayGrant(book, privilege, grant_option))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role \"%s\" lacks privilege manage WITH GRANT OPTION on book %lld, needed to grant or revoke %s%s",
					GetUserNameFromId(GetUserId(), false), (long long) book,
					PrivilegeName(privilege), grant_option ? " WITH GRANT OPTION" : ""),
			 privilege == LEDGER_MANAGE && grant_option ?
			 errdetail("Only the ledger's owner grants or revokes manage WITH GRANT OPTION.") : 0));
}

/*
 * check_accounts - the accounts a grant is narrowed to: at least one, none
 * NULL, each an account of the book.
 */
static void
check_accounts(FunctionCallInfo fcinfo, int argno, const char *argname, int64 book)
{
	ArrayType  *array;
	Datum		args[2];

	if (PG_ARGISNULL(argno))
		return;
	array = PG_GETARG_ARRAYTYPE_P(argno);
	if (ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array)) == 0 || array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_ARGUMENT),
				 errmsg("%s must name at least one account and no NULL", argname),
				 errhint("Pass NULL for any account.")));
	args[0] = PointerGetDatum(array);
	args[1] = Int64GetDatum(book);
	LedgerQuery(&foreign_account, args, NULL, 1);
	if (SPI_processed > 0)
	{
		bool		isnull;
		int64		id = DatumGetInt64(LedgerGetColumn(0, 1, &isnull));
		Datum		other = LedgerGetColumn(0, 2, &isnull);

		if (isnull)
			ReportUnknownAccount(id);
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_BOOK_MISMATCH),
				 errmsg("account %lld of %s is in book %lld, not in book %lld",
						(long long) id, argname, (long long) DatumGetInt64(other),
						(long long) book)));
	}
}

/*
 * ledger_grant_privilege - give a role a privilege on a book, narrowed for
 * post and hold to debit and/or credit accounts (NULL: any).
 */
PG_FUNCTION_INFO_V1(ledger_grant_privilege);
Datum
ledger_grant_privilege(PG_FUNCTION_ARGS)
{
	int64		book;
	LedgerPrivilege privilege;
	bool		grant_option;
	Datum		values[7];
	char		nulls[7] = "       ";

	CheckArgNotNull(fcinfo, 0, "book_id");
	CheckArgNotNull(fcinfo, 1, "role");
	CheckArgNotNull(fcinfo, 2, "privilege");
	CheckArgNotNull(fcinfo, 5, "with_grant_option");
	book = PG_GETARG_INT64(0);
	privilege = PrivilegeFromName(TextDatumGetCString(PG_GETARG_DATUM(2)));
	grant_option = PG_GETARG_BOOL(5);
	if ((!PG_ARGISNULL(3) || !PG_ARGISNULL(4)) &&
		privilege != LEDGER_POST && privilege != LEDGER_HOLD)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_ARGUMENT),
				 errmsg("privilege %s cannot be narrowed to accounts", PrivilegeName(privilege)),
				 errhint("Only post and hold take debit_accounts and credit_accounts.")));
	if (grant_option && privilege != LEDGER_MANAGE)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_ARGUMENT),
				 errmsg("privilege %s cannot be granted WITH GRANT OPTION", PrivilegeName(privilege)),
				 errhint("Grants are made by roles holding manage WITH GRANT OPTION.")));

	LedgerConnect();
	check_book_exists(book);
	check_may_grant(book, privilege, grant_option);
	check_accounts(fcinfo, 3, "debit_accounts", book);
	check_accounts(fcinfo, 4, "credit_accounts", book);

	values[0] = Int64GetDatum(book);
	values[1] = PG_GETARG_DATUM(1);
	values[2] = PG_GETARG_DATUM(2);
	values[3] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	nulls[3] = PG_ARGISNULL(3) ? 'n' : ' ';
	values[4] = PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4);
	nulls[4] = PG_ARGISNULL(4) ? 'n' : ' ';
	values[5] = BoolGetDatum(grant_option);
	values[6] = ObjectIdGetDatum(GetUserId());
	LedgerExecuteWrite(&upsert_grant, values, nulls, 0);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * ledger_revoke_privilege - take a privilege on a book from a role; returns
 * whether it had one.
 */
PG_FUNCTION_INFO_V1(ledger_revoke_privilege);
Datum
ledger_revoke_privilege(PG_FUNCTION_ARGS)
{
	int64		book;
	LedgerPrivilege privilege;
	Datum		values[4];
	bool		revoked;

	CheckArgNotNull(fcinfo, 0, "book_id");
	CheckArgNotNull(fcinfo, 1, "role");
	CheckArgNotNull(fcinfo, 2, "privilege");
	book = PG_GETARG_INT64(0);
	privilege = PrivilegeFromName(TextDatumGetCString(PG_GETARG_DATUM(2)));

	LedgerConnect();
	check_book_exists(book);
	check_may_grant(book, privilege, false);
	values[0] = Int64GetDatum(book);
	values[1] = PG_GETARG_DATUM(1);
	values[2] = PG_GETARG_DATUM(2);
	values[3] = BoolGetDatum(AuthorityIsOwner());
	LedgerExecuteWrite(&delete_grant, values, NULL, 0);
	revoked = SPI_processed > 0;
	if (!revoked)
	{
		/* Left alone: a grant WITH GRANT OPTION, which only the owner revokes. */
		LedgerQuery(&grant_exists, values, NULL, 1);
		if (SPI_processed > 0)
			check_may_grant(book, privilege, true);
	}
	SPI_finish();
	PG_RETURN_BOOL(revoked);
}

/*
 * ledger_has_book_privilege - does the current user hold the privilege on
 * the book (on some of its accounts, for a narrowed post or hold)?  The
 * views show the rows of the books it may read through it.
 */
PG_FUNCTION_INFO_V1(ledger_has_book_privilege);
Datum
ledger_has_book_privilege(PG_FUNCTION_ARGS)
{
	int64		book = PG_GETARG_INT64(0);
	LedgerPrivilege privilege = PrivilegeFromName(TextDatumGetCString(PG_GETARG_DATUM(1)));

	PG_RETURN_BOOL(AuthorityHas(book, privilege));
}

/*
 * ledger_grants_changed - statement trigger on ledger.grants: once the
 * change commits, every backend forgets the grants it cached (authority.c).
 */
PG_FUNCTION_INFO_V1(ledger_grants_changed);
Datum
ledger_grants_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "ledger_grants_changed: not called as a trigger");
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}
