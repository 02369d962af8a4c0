/*
 * validate.c - checks of caller-supplied arguments shared by the API.
 *
 * Every function checks its arguments before it takes a lock or writes a
 * row, so a bad call costs nothing and leaves nothing behind.
 */
#include "ledger.h"

#include "access/htup_details.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

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

/* Reject a name of what (an account, a book, ...) that is empty or too long. */
void
CheckName(const char *name, const char *what)
{
	int			len = pg_mbstrlen(name);

	if (len < 1 || len > LEDGER_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_NAME),
				 errmsg("%s name must be 1 to %d characters long", what, LEDGER_NAME_MAX)));
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

/* Error context: which item of a call's array failed. */
static void
item_context(void *arg)
{
	ItemContext *c = (ItemContext *) arg;

	if (*c->current >= 0)
		errcontext("%s item %d", c->function, *c->current + 1);
}

/*
 * PushItemContext - name the item *current (from 0; -1: none) of a call of
 * function in the CONTEXT of errors until PopItemContext.
 */
void
PushItemContext(ItemContext *c, const char *function, int *current)
{
	c->function = function;
	c->current = current;
	*current = -1;
	c->callback.callback = item_context;
	c->callback.arg = c;
	c->callback.previous = error_context_stack;
	error_context_stack = &c->callback;
}

void
PopItemContext(ItemContext *c)
{
	error_context_stack = c->callback.previous;
}

/*
 * GetRequestItems - the fields of each element of an array of requests (a
 * composite type of natts fields), element i's at values[i * natts]; returns
 * how many.  The array is one-dimensional, of at most LEDGER_BATCH_MAX
 * elements, none of them null; what names the elements in messages, and
 * *current is the element being read (for an ItemContext).
 */
int
GetRequestItems(ArrayType *array, int natts, const char *what, int *current,
				Datum **values, bool **nulls)
{
	Datum	   *elems;
	bool	   *elemnulls;
	int			n;
	TupleDesc	desc = NULL;
	Oid			elemtype = ARR_ELEMTYPE(array);
	int16		typlen;
	bool		typbyval;
	char		typalign;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_ARGUMENT),
				 errmsg("%ss must be a one-dimensional array", what)));
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(array, elemtype, typlen, typbyval, typalign,
					  &elems, &elemnulls, &n);
	if (n > LEDGER_BATCH_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_BATCH_TOO_LARGE),
				 errmsg("batch of %d %ss exceeds the limit of %d", n, what, LEDGER_BATCH_MAX),
				 errhint("Split it into several calls in one transaction.")));

	*values = palloc(sizeof(Datum) * natts * Max(n, 1));
	*nulls = palloc(sizeof(bool) * natts * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTupleHeader th;
		HeapTupleData tuple;

		*current = i;
		if (elemnulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_NULL_ARGUMENT),
					 errmsg("%s must not be null", what)));
		th = DatumGetHeapTupleHeader(elems[i]);
		if (desc == NULL)
		{
			desc = lookup_rowtype_tupdesc_copy(HeapTupleHeaderGetTypeId(th),
											   HeapTupleHeaderGetTypMod(th));
			if (desc->natts != natts)
				elog(ERROR, "%s has %d fields, not %d", format_type_be(elemtype),
					 desc->natts, natts);
		}
		tuple.t_len = HeapTupleHeaderGetDatumLength(th);
		ItemPointerSetInvalid(&tuple.t_self);
		tuple.t_tableOid = InvalidOid;
		tuple.t_data = th;
		heap_deform_tuple(&tuple, desc, *values + i * natts, *nulls + i * natts);
	}
	*current = -1;
	return n;
}
