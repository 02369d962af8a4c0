/*
 * book.c - books: separate sets of accounts in one ledger.
 *
 * A book is a tenant, a product line or a legal entity.  Every account
 * belongs to one, every row that moves money carries the book of its
 * accounts, and no movement crosses books (rules.c, CheckSameBook): a
 * book's rows can be kept, read and later distributed together.  Account
 * names and idempotency keys are unique per book.  Book 1, 'default', is
 * made by the extension's script; the calls that name no book work in it.
 * A role that creates a book, other than the ledger's owner, gets manage
 * WITH GRANT OPTION on it (grant.c).
 */
#include "ledger.h"

#include "table.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"

/* The creator of a book that is not the owner manages it, and may grant. */
static LedgerStatement creator_grant = LEDGER_STATEMENT(
	"INSERT INTO ledger.grants (book_id, grantee, privilege, grant_option, granted_by, granted_at)"
	" VALUES ($1, $2, 'manage', true, $3, pg_catalog.now())", "brr");

/* Reject a book name create_account's rules for names would reject. */
static void
check_book_name(const char *name)
{
	CheckName(name, "book");
}

/*
 * ledger_create_book - create a book; returns its id.  A name taken is
 * LG020.
 */
PG_FUNCTION_INFO_V1(ledger_create_book);
Datum
ledger_create_book(PG_FUNCTION_ARGS)
{
	TableColumn columns[] = {
		{"id", INT8OID}, {"name", TEXTOID}, {"metadata", JSONBOID},
		{"created_at", TIMESTAMPTZOID}
	};
	Datum		values[lengthof(columns)];
	bool		nulls[lengthof(columns)] = {false};
	TableWrite *w;
	bool		created;
	int64		id;

	CheckArgNotNull(fcinfo, 0, "name");
	CheckMetadata(fcinfo, 1);
	check_book_name(TextDatumGetCString(PG_GETARG_DATUM(0)));

	LedgerConnect();
	id = LedgerNextId("books_id_seq");
	values[0] = Int64GetDatum(id);
	values[1] = PG_GETARG_DATUM(0);
	nulls[2] = PG_ARGISNULL(1);
	values[2] = nulls[2] ? (Datum) 0 : PG_GETARG_DATUM(1);
	values[3] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	w = TableWriteBegin("books", TABLE_INSERT, columns, lengthof(columns));
	created = TableWriteRowUnlessKey(w, (const int[]) {1}, 1, values, nulls);
	(void) TableWriteEnd(w);
	if (!created)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_DUPLICATE_BOOK),
				 errmsg("book name \"%s\" is already taken",
						TextDatumGetCString(PG_GETARG_DATUM(0)))));
	if (!AuthorityIsOwner())
	{
		Datum		args[3];

		args[0] = Int64GetDatum(id);
		args[1] = ObjectIdGetDatum(GetUserId());
		args[2] = ObjectIdGetDatum(LedgerOwnerOid());
		LedgerExecuteWrite(&creator_grant, args, NULL, 0);
	}
	SPI_finish();
	PG_RETURN_INT64(id);
}

/*
 * ledger_book_id - the id of the book with a given name.
 */
PG_FUNCTION_INFO_V1(ledger_book_id);
Datum
ledger_book_id(PG_FUNCTION_ARGS)
{
	TableColumn key = {"name", TEXTOID};
	TableColumn column = {"id", INT8OID};
	Datum		name;
	Datum		id;
	bool		isnull;

	CheckArgNotNull(fcinfo, 0, "name");
	name = PG_GETARG_DATUM(0);
	LedgerConnect();
	if (!TableFetchByKey("books", &key, &name, 1, &column, 1, &id, &isnull))
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_UNKNOWN_BOOK),
				 errmsg("book \"%s\" does not exist", TextDatumGetCString(name))));
	SPI_finish();
	AuthorityCheckAny(DatumGetInt64(id));
	PG_RETURN_INT64(DatumGetInt64(id));
}
