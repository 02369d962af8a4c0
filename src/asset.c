/*
 * asset.c - assets, the units accounts are kept in.
 *
 * An asset fixes the scale of its amounts' display form; the amounts
 * themselves are always integers of minor units, so the scale never takes
 * part in arithmetic.
 */
#include "ledger.h"

#include "table.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

/*
 * ledger_create_asset - create an asset; returns its code.
 *
 * Codes are 1 to 16 upper-case letters, digits and underscores, so that
 * they read the same in every locale and need no quoting.
 */
PG_FUNCTION_INFO_V1(ledger_create_asset);
Datum
ledger_create_asset(PG_FUNCTION_ARGS)
{
	TableColumn columns[] = {{"code", TEXTOID}, {"scale", INT4OID}};
	bool		nulls[2] = {false, false};
	TableWrite *w;
	bool		created;
	char	   *code;
	int32		scale;
	size_t		len;
	Datum		values[2];

	CheckArgNotNull(fcinfo, 0, "code");
	CheckArgNotNull(fcinfo, 1, "scale");
	code = TextDatumGetCString(PG_GETARG_DATUM(0));
	scale = PG_GETARG_INT32(1);

	len = strlen(code);
	if (len < 1 || len > LEDGER_ASSET_CODE_MAX ||
		strspn(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != len)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_ASSET),
				 errmsg("invalid asset code \"%s\"", code),
				 errdetail("An asset code is 1 to %d upper-case letters, digits and underscores.",
						   LEDGER_ASSET_CODE_MAX)));
	if (scale < 0 || scale > AMOUNT_MAX_SCALE)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_ASSET),
				 errmsg("invalid scale %d for asset \"%s\"", scale, code),
				 errdetail("The scale is the number of decimal places, from 0 to %d.",
						   AMOUNT_MAX_SCALE)));

	LedgerConnect();
	values[0] = PG_GETARG_DATUM(0);
	values[1] = Int32GetDatum(scale);
	w = TableWriteBegin("assets", TABLE_INSERT, columns, 2);
	created = TableWriteRowUnlessKey(w, (const int[]) {0}, 1, values, nulls);
	(void) TableWriteEnd(w);
	if (!created)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_DUPLICATE_ASSET),
				 errmsg("asset \"%s\" already exists", code)));
	SPI_finish();

	PG_RETURN_TEXT_P(cstring_to_text(code));
}
