/*
 * validate.c - checks of caller-supplied arguments shared by the API.
 *
 * Every function checks its arguments before it takes a lock or writes a
 * row, so a bad call costs nothing and leaves nothing behind.
 */
#include "ledger.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

/*
 * CheckArgNotNull - reject a NULL where the API needs a value.
 */
void
CheckArgNotNull(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_NULL_ARGUMENT),
				 errmsg("%s must not be null", argname)));
}

/*
 * CheckPositiveAmount - reject an amount of zero or less.
 */
void
CheckPositiveAmount(Amount amount)
{
	if (amount <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_AMOUNT),
				 errmsg("amount %s is not positive", AmountToCString(amount)),
				 errhint("Amounts count minor units and must be greater than zero.")));
}

/*
 * IdempotencyKeyFromDatum - a key as a C string, checked.
 *
 * A key is 1 to 255 characters without control characters, so that it can
 * be quoted in messages and logs as it is.
 */
char *
IdempotencyKeyFromDatum(Datum datum)
{
	char	   *key = TextDatumGetCString(datum);
	int			len = pg_mbstrlen(key);

	if (len < 1 || len > LEDGER_KEY_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_KEY),
				 errmsg("idempotency key must be 1 to %d characters long", LEDGER_KEY_MAX),
				 errdetail("The key given has %d characters.", len)));
	for (const unsigned char *p = (const unsigned char *) key; *p; p++)
	{
		/* C0 controls and DEL; in UTF-8 also the C1 controls U+0080..U+009F. */
		bool		c1 = GetDatabaseEncoding() == PG_UTF8 &&
			p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F;

		if (*p < 0x20 || *p == 0x7f || c1)
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_INVALID_KEY),
					 errmsg("idempotency key \"%s\" contains a control character", key)));
	}
	return key;
}

/*
 * GetIdempotencyKey - the key argument as a checked C string, or NULL if none.
 */
char *
GetIdempotencyKey(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		return NULL;
	return IdempotencyKeyFromDatum(PG_GETARG_DATUM(argno));
}

/*
 * GetRequestTexts - the three arguments every movement ends with, from
 * argno on: the idempotency key (checked), the description and the metadata
 * (NULL kept as NULL).
 */
void
GetRequestTexts(FunctionCallInfo fcinfo, int argno, TransferRequest *req)
{
	req->idempotency_key = GetIdempotencyKey(fcinfo, argno);
	req->description_null = PG_ARGISNULL(argno + 1);
	req->description = req->description_null ? (Datum) 0 : PG_GETARG_DATUM(argno + 1);
	req->metadata_null = PG_ARGISNULL(argno + 2);
	req->metadata = req->metadata_null ? (Datum) 0 : PG_GETARG_DATUM(argno + 2);
}

/*
 * CheckMetadataDatum - metadata is a JSON object.
 */
void
CheckMetadataDatum(Datum datum)
{
	Jsonb	   *metadata = DatumGetJsonbP(datum);

	if (!JB_ROOT_IS_OBJECT(metadata) || JB_ROOT_IS_SCALAR(metadata))
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_METADATA),
				 errmsg("metadata must be a JSON object"),
				 errdetail("The value given is %s.",
						   JsonbToCString(NULL, &metadata->root, VARSIZE(metadata)))));
}

/*
 * CheckMetadata - the metadata argument, when given, is a JSON object.
 */
void
CheckMetadata(FunctionCallInfo fcinfo, int argno)
{
	if (!PG_ARGISNULL(argno))
		CheckMetadataDatum(PG_GETARG_DATUM(argno));
}
