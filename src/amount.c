/*
 * amount.c - the ledger.amount SQL type: a signed 128-bit count of minor units.
 *
 * An amount never carries a currency scale of its own: 12345 is 12345 minor
 * units, and format_amount()/parse_amount() apply a scale (2 for cents) only
 * at the edge.  The type therefore needs no typmod and compares, hashes and
 * adds as a plain integer, exactly, with every overflow reported as SQLSTATE
 * 22003 instead of wrapping.
 *
 * Values are 16-byte pass-by-reference Datums aligned to 8 bytes, always
 * copied with memcpy (see ledger.h).  The text form lives in amount_text.c,
 * which has no PostgreSQL dependency so that it can be fuzzed alone; this
 * file maps its results onto PostgreSQL errors.
 *
 * Casts: smallint, integer and bigint convert implicitly (they always fit),
 * an amount converts implicitly to numeric (exact, and it lets "a > 1.5"
 * compare through numeric), numeric converts on assignment only and refuses
 * a fraction rather than rounding money, and bigint on assignment with a
 * range check.
 */
#include "ledger.h"

#include "common/hashfn.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"

/*
 * State of ledger.avg(): an exact sum and the number of non-null inputs.
 * The sum is a signed 192-bit integer, high * 2^128 + low: 2^63 amounts of
 * up to 2^127 each cannot leave it, so no count of any amounts overflows,
 * as verify()'s wide totals cannot.
 */
typedef struct AmountAvgState
{
	uint128		low;
	int64		high;
	int64		count;
} AmountAvgState;

/* Size of a serialized AmountAvgState: the sum's three 64-bit words and the count. */
#define AMOUNT_AVG_STATE_WIRE_SIZE	32

/*
 * AmountGetDatum - return a freshly palloc'd copy of a as a Datum.
 */
Datum
AmountGetDatum(Amount a)
{
	Amount	   *p = (Amount *) palloc(sizeof(Amount));

	memcpy(p, &a, sizeof(Amount));
	return PointerGetDatum(p);
}

/*
 * AmountToCString - return the canonical text form of a (an integer of minor
 * units, no scale) in a palloc'd string.
 */
char *
AmountToCString(Amount a)
{
	char	   *buf = palloc(AMOUNT_TEXT_BUFSIZE);

	amount_format(a, 0, buf);
	return buf;
}

/*
 * out_of_range - raise the error for an arithmetic result beyond 128 bits.
 */
static void
out_of_range(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("ledger.amount out of range")));
}

/*
 * check_divisor - raise division_by_zero if b is zero.
 */
static inline void
check_divisor(Amount b)
{
	if (b == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DIVISION_BY_ZERO),
				 errmsg("division by zero")));
}

/*
 * check_scale - raise invalid_parameter_value unless 0 <= scale <= 38.
 */
static inline void
check_scale(int32 scale)
{
	if (scale < 0 || scale > AMOUNT_MAX_SCALE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("scale %d is out of range for ledger.amount", scale),
				 errdetail("The scale must be between 0 and %d.",
						   AMOUNT_MAX_SCALE)));
}

/*
 * parse_or_error - parse str at the given (valid) scale, raising 22P02 for
 * malformed text or too many fractional digits and 22003 beyond 128 bits.
 */
static Amount
parse_or_error(const char *str, int scale)
{
	amount_int	value = 0;

	switch (amount_parse(str, scale, &value))
	{
		case AMOUNT_PARSE_OK:
			break;
		case AMOUNT_PARSE_SYNTAX:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type ledger.amount: \"%s\"",
							str)));
			break;
		case AMOUNT_PARSE_RANGE:
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("value \"%s\" is out of range for type ledger.amount",
							str)));
			break;
		case AMOUNT_PARSE_SCALE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("value \"%s\" has more than %d digits after the decimal point",
							str, scale),
					 errdetail("At scale %d an amount has at most %d fractional digits, and parse_amount never rounds.",
							   scale, scale),
					 errhint("Round the value to %d decimal places before parsing it.",
							 scale)));
			break;
	}
	return value;
}

/*
 * amount_to_numeric - return a as an exact numeric.
 */
static Numeric
amount_to_numeric(Amount a)
{
	return DatumGetNumeric(DirectFunctionCall3(numeric_in,
											   CStringGetDatum(AmountToCString(a)),
											   ObjectIdGetDatum(InvalidOid),
											   Int32GetDatum(-1)));
}

/*
 * ledger_amount_in - type input: a decimal integer with optional sign and
 * surrounding white space.
 */
PG_FUNCTION_INFO_V1(ledger_amount_in);
Datum
ledger_amount_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);

	PG_RETURN_AMOUNT(parse_or_error(str, 0));
}

/*
 * ledger_amount_out - type output: the canonical decimal integer.
 */
PG_FUNCTION_INFO_V1(ledger_amount_out);
Datum
ledger_amount_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(AmountToCString(PG_GETARG_AMOUNT(0)));
}

/*
 * ledger_amount_recv - binary input: two big-endian 64-bit halves, the high
 * (signed) half first.
 */
PG_FUNCTION_INFO_V1(ledger_amount_recv);
Datum
ledger_amount_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	uint64		hi = (uint64) pq_getmsgint64(buf);
	uint64		lo = (uint64) pq_getmsgint64(buf);
	uint128		bits = ((uint128) hi << 64) | lo;
	Amount		a;

	memcpy(&a, &bits, sizeof(Amount));
	PG_RETURN_AMOUNT(a);
}

/*
 * ledger_amount_send - binary output, the inverse of ledger_amount_recv.
 */
PG_FUNCTION_INFO_V1(ledger_amount_send);
Datum
ledger_amount_send(PG_FUNCTION_ARGS)
{
	Amount		a = PG_GETARG_AMOUNT(0);
	uint128		bits;
	StringInfoData buf;

	memcpy(&bits, &a, sizeof(Amount));
	pq_begintypsend(&buf);
	pq_sendint64(&buf, (uint64) (bits >> 64));
	pq_sendint64(&buf, (uint64) bits);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * ledger_amount_from_int2 - cast smallint to amount; always exact.
 */
PG_FUNCTION_INFO_V1(ledger_amount_from_int2);
Datum
ledger_amount_from_int2(PG_FUNCTION_ARGS)
{
	PG_RETURN_AMOUNT((Amount) PG_GETARG_INT16(0));
}

/*
 * ledger_amount_from_int4 - cast integer to amount; always exact.
 */
PG_FUNCTION_INFO_V1(ledger_amount_from_int4);
Datum
ledger_amount_from_int4(PG_FUNCTION_ARGS)
{
	PG_RETURN_AMOUNT((Amount) PG_GETARG_INT32(0));
}

/*
 * ledger_amount_from_int8 - cast bigint to amount; always exact.
 */
PG_FUNCTION_INFO_V1(ledger_amount_from_int8);
Datum
ledger_amount_from_int8(PG_FUNCTION_ARGS)
{
	PG_RETURN_AMOUNT((Amount) PG_GETARG_INT64(0));
}

/*
 * ledger_amount_to_int8 - cast amount to bigint; 22003 if it does not fit.
 */
PG_FUNCTION_INFO_V1(ledger_amount_to_int8);
Datum
ledger_amount_to_int8(PG_FUNCTION_ARGS)
{
	Amount		a = PG_GETARG_AMOUNT(0);

	if (a < PG_INT64_MIN || a > PG_INT64_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("ledger.amount value %s is out of range for type bigint",
						AmountToCString(a))));
	PG_RETURN_INT64((int64) a);
}

/*
 * ledger_amount_from_numeric - cast numeric to amount, exactly or not at all.
 *
 * A fraction is refused (22P02, like the text '1.5') rather than rounded,
 * since silently rounding money is worse than failing; NaN and infinity are
 * refused as numeric-to-bigint refuses them (0A000); a whole number beyond
 * 128 bits is 22003.
 */
PG_FUNCTION_INFO_V1(ledger_amount_from_numeric);
Datum
ledger_amount_from_numeric(PG_FUNCTION_ARGS)
{
	Numeric		num = PG_GETARG_NUMERIC(0);
	Datum		truncated;
	char	   *str;
	amount_int	value = 0;

	if (numeric_is_nan(num))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot convert NaN to ledger.amount")));
	if (numeric_is_inf(num))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot convert infinity to ledger.amount")));

	truncated = DirectFunctionCall2(numeric_trunc, NumericGetDatum(num),
									Int32GetDatum(0));
	if (!DatumGetBool(DirectFunctionCall2(numeric_eq, NumericGetDatum(num),
										  truncated)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("cannot convert numeric %s to ledger.amount",
						DatumGetCString(DirectFunctionCall1(numeric_out,
															NumericGetDatum(num)))),
				 errdetail("The value has a fractional part, and an amount is a whole number of minor units."),
				 errhint("Round the value explicitly with round() or trunc(), or convert decimal text with ledger.parse_amount().")));

	/* a whole numeric prints as a plain integer, which amount_parse reads */
	str = DatumGetCString(DirectFunctionCall1(numeric_out, truncated));
	switch (amount_parse(str, 0, &value))
	{
		case AMOUNT_PARSE_OK:
			break;
		case AMOUNT_PARSE_RANGE:
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("numeric value %s is out of range for type ledger.amount",
							str)));
			break;
		default:
			elog(ERROR, "unexpected numeric text \"%s\"", str);
	}
	PG_RETURN_AMOUNT(value);
}

/*
 * ledger_amount_to_numeric - cast amount to numeric; always exact.
 */
PG_FUNCTION_INFO_V1(ledger_amount_to_numeric);
Datum
ledger_amount_to_numeric(PG_FUNCTION_ARGS)
{
	PG_RETURN_NUMERIC(amount_to_numeric(PG_GETARG_AMOUNT(0)));
}

/*
 * ledger_amount_pl - a + b; 22003 on overflow.
 */
PG_FUNCTION_INFO_V1(ledger_amount_pl);
Datum
ledger_amount_pl(PG_FUNCTION_ARGS)
{
	Amount		result;

	if (__builtin_add_overflow(PG_GETARG_AMOUNT(0), PG_GETARG_AMOUNT(1),
							   &result))
		out_of_range();
	PG_RETURN_AMOUNT(result);
}

/*
 * ledger_amount_mi - a - b; 22003 on overflow.
 */
PG_FUNCTION_INFO_V1(ledger_amount_mi);
Datum
ledger_amount_mi(PG_FUNCTION_ARGS)
{
	Amount		result;

	if (__builtin_sub_overflow(PG_GETARG_AMOUNT(0), PG_GETARG_AMOUNT(1),
							   &result))
		out_of_range();
	PG_RETURN_AMOUNT(result);
}

/*
 * ledger_amount_mul - a * b; 22003 on overflow.
 */
PG_FUNCTION_INFO_V1(ledger_amount_mul);
Datum
ledger_amount_mul(PG_FUNCTION_ARGS)
{
	Amount		result;

	if (__builtin_mul_overflow(PG_GETARG_AMOUNT(0), PG_GETARG_AMOUNT(1),
							   &result))
		out_of_range();
	PG_RETURN_AMOUNT(result);
}

/*
 * ledger_amount_div - a / b truncated toward zero, as for integers; 22012 if
 * b is zero, 22003 for the one overflowing case, the minimum divided by -1.
 */
PG_FUNCTION_INFO_V1(ledger_amount_div);
Datum
ledger_amount_div(PG_FUNCTION_ARGS)
{
	Amount		a = PG_GETARG_AMOUNT(0);
	Amount		b = PG_GETARG_AMOUNT(1);

	check_divisor(b);
	if (b == -1)
	{
		if (a == AMOUNT_MIN)
			out_of_range();
		PG_RETURN_AMOUNT(-a);
	}
	PG_RETURN_AMOUNT(a / b);
}

/*
 * ledger_amount_mod - remainder of a / b, with the sign of a; 22012 if b is
 * zero.  Never overflows: anything modulo -1 is 0, the minimum included.
 */
PG_FUNCTION_INFO_V1(ledger_amount_mod);
Datum
ledger_amount_mod(PG_FUNCTION_ARGS)
{
	Amount		a = PG_GETARG_AMOUNT(0);
	Amount		b = PG_GETARG_AMOUNT(1);

	check_divisor(b);
	/* the C expression AMOUNT_MIN % -1 is undefined, so never evaluate it */
	if (b == -1)
		PG_RETURN_AMOUNT(0);
	PG_RETURN_AMOUNT(a % b);
}

/*
 * ledger_amount_uminus - -a; 22003 for the minimum, which has no negation.
 */
PG_FUNCTION_INFO_V1(ledger_amount_uminus);
Datum
ledger_amount_uminus(PG_FUNCTION_ARGS)
{
	Amount		a = PG_GETARG_AMOUNT(0);

	if (a == AMOUNT_MIN)
		out_of_range();
	PG_RETURN_AMOUNT(-a);
}

/*
 * The comparison operators, each a function of two amounts: ledger_amount_eq
 * is a = b, _ne a <> b, _lt a < b, _le a <= b, _gt a > b and _ge a >= b.
 */
#define AMOUNT_COMPARISON(name, op) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	PG_RETURN_BOOL(PG_GETARG_AMOUNT(0) op PG_GETARG_AMOUNT(1)); \
}

AMOUNT_COMPARISON(ledger_amount_eq, ==)
AMOUNT_COMPARISON(ledger_amount_ne, !=)
AMOUNT_COMPARISON(ledger_amount_lt, <)
AMOUNT_COMPARISON(ledger_amount_le, <=)
AMOUNT_COMPARISON(ledger_amount_gt, >)
AMOUNT_COMPARISON(ledger_amount_ge, >=)

/*
 * ledger_amount_cmp - btree support: -1, 0 or 1 as a is below, equal to or
 * above b.
 */
PG_FUNCTION_INFO_V1(ledger_amount_cmp);
Datum
ledger_amount_cmp(PG_FUNCTION_ARGS)
{
	Amount		a = PG_GETARG_AMOUNT(0);
	Amount		b = PG_GETARG_AMOUNT(1);

	PG_RETURN_INT32((a > b) - (a < b));
}

/*
 * ledger_amount_hash - hash support: a 32-bit hash of the 16 bytes; equal
 * amounts have equal bytes, so equal hashes.
 */
PG_FUNCTION_INFO_V1(ledger_amount_hash);
Datum
ledger_amount_hash(PG_FUNCTION_ARGS)
{
	Amount		a = PG_GETARG_AMOUNT(0);

	return hash_any((const unsigned char *) &a, sizeof(Amount));
}

/*
 * ledger_amount_hash_extended - hash support 2: a seeded 64-bit hash that
 * equals ledger_amount_hash's in its low 32 bits when the seed is 0.
 */
PG_FUNCTION_INFO_V1(ledger_amount_hash_extended);
Datum
ledger_amount_hash_extended(PG_FUNCTION_ARGS)
{
	Amount		a = PG_GETARG_AMOUNT(0);

	return hash_any_extended((const unsigned char *) &a, sizeof(Amount),
							 PG_GETARG_INT64(1));
}

/*
 * ledger_amount_smaller - the lesser of a and b; transition and combine
 * function of ledger.min().
 */
PG_FUNCTION_INFO_V1(ledger_amount_smaller);
Datum
ledger_amount_smaller(PG_FUNCTION_ARGS)
{
	Amount		a = PG_GETARG_AMOUNT(0);
	Amount		b = PG_GETARG_AMOUNT(1);

	PG_RETURN_DATUM(a <= b ? PG_GETARG_DATUM(0) : PG_GETARG_DATUM(1));
}

/*
 * ledger_amount_larger - the greater of a and b; transition and combine
 * function of ledger.max().
 */
PG_FUNCTION_INFO_V1(ledger_amount_larger);
Datum
ledger_amount_larger(PG_FUNCTION_ARGS)
{
	Amount		a = PG_GETARG_AMOUNT(0);
	Amount		b = PG_GETARG_AMOUNT(1);

	PG_RETURN_DATUM(a >= b ? PG_GETARG_DATUM(0) : PG_GETARG_DATUM(1));
}

/*
 * ledger_amount_sum_accum - state + value; transition and combine function
 * of ledger.sum(), 22003 on overflow.
 *
 * Called as an aggregate, the state is the aggregate's private copy, so it
 * is updated in place instead of allocating 16 bytes per row; called
 * directly, it behaves like +.
 */
PG_FUNCTION_INFO_V1(ledger_amount_sum_accum);
Datum
ledger_amount_sum_accum(PG_FUNCTION_ARGS)
{
	Amount		result;

	if (__builtin_add_overflow(PG_GETARG_AMOUNT(0), PG_GETARG_AMOUNT(1),
							   &result))
		out_of_range();

	if (AggCheckCallContext(fcinfo, NULL))
	{
		Pointer		state = PG_GETARG_POINTER(0);

		memcpy(state, &result, sizeof(Amount));
		PG_RETURN_POINTER(state);
	}
	PG_RETURN_AMOUNT(result);
}

/*
 * avg_state - the ledger.avg() state in argument argno, or a new zero state
 * in the aggregate's memory context if that argument is NULL.  Errors out
 * unless called as an aggregate support function.
 */
static AmountAvgState *
avg_state(FunctionCallInfo fcinfo, int argno)
{
	MemoryContext agg_context;
	AmountAvgState *state;

	if (!AggCheckCallContext(fcinfo, &agg_context))
		elog(ERROR, "aggregate function called in non-aggregate context");
	if (!PG_ARGISNULL(argno))
		return (AmountAvgState *) PG_GETARG_POINTER(argno);

	state = (AmountAvgState *) MemoryContextAllocZero(agg_context,
													  sizeof(AmountAvgState));
	return state;
}

/* state's sum += high * 2^128 + low, in 192-bit two's complement. */
static inline void
avg_add(AmountAvgState *state, uint128 low, int64 high)
{
	uint128		sum = state->low + low;

	state->high = (int64) ((uint64) state->high + (uint64) high + (sum < low ? 1 : 0));
	state->low = sum;
}

/*
 * ledger_amount_avg_accum - transition function of ledger.avg(): add a
 * non-null value to the exact sum and count it.
 */
PG_FUNCTION_INFO_V1(ledger_amount_avg_accum);
Datum
ledger_amount_avg_accum(PG_FUNCTION_ARGS)
{
	AmountAvgState *state = avg_state(fcinfo, 0);

	if (!PG_ARGISNULL(1))
	{
		Amount		x = PG_GETARG_AMOUNT(1);

		avg_add(state, (uint128) x, x < 0 ? -1 : 0);
		state->count++;
	}
	PG_RETURN_POINTER(state);
}

/*
 * ledger_amount_avg_combine - combine function of ledger.avg(): merge the
 * second state into the first (created if NULL).
 */
PG_FUNCTION_INFO_V1(ledger_amount_avg_combine);
Datum
ledger_amount_avg_combine(PG_FUNCTION_ARGS)
{
	AmountAvgState *state = avg_state(fcinfo, 0);
	AmountAvgState *other;

	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(state);
	other = (AmountAvgState *) PG_GETARG_POINTER(1);

	avg_add(state, other->low, other->high);
	state->count += other->count;
	PG_RETURN_POINTER(state);
}

/*
 * ledger_amount_avg_serialize - serial function of ledger.avg(): the state
 * as 32 bytes (the sum's high word and low 128 bits, big-endian, then the
 * count).
 */
PG_FUNCTION_INFO_V1(ledger_amount_avg_serialize);
Datum
ledger_amount_avg_serialize(PG_FUNCTION_ARGS)
{
	AmountAvgState *state;
	uint128		bits;
	StringInfoData buf;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "aggregate function called in non-aggregate context");
	state = (AmountAvgState *) PG_GETARG_POINTER(0);

	bits = state->low;
	pq_begintypsend(&buf);
	pq_sendint64(&buf, (uint64) state->high);
	pq_sendint64(&buf, (uint64) (bits >> 64));
	pq_sendint64(&buf, (uint64) bits);
	pq_sendint64(&buf, (uint64) state->count);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * ledger_amount_avg_deserialize - deserial function of ledger.avg(): the
 * inverse of ledger_amount_avg_serialize, in the current memory context.
 */
PG_FUNCTION_INFO_V1(ledger_amount_avg_deserialize);
Datum
ledger_amount_avg_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *serial;
	StringInfoData buf;
	AmountAvgState *state;
	uint64		hi;
	uint64		lo;
	uint128		bits;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "aggregate function called in non-aggregate context");
	serial = PG_GETARG_BYTEA_PP(0);
	if (VARSIZE_ANY_EXHDR(serial) != AMOUNT_AVG_STATE_WIRE_SIZE)
		elog(ERROR, "invalid serialized ledger.avg state of %zu bytes",
			 (size_t) VARSIZE_ANY_EXHDR(serial));

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, VARDATA_ANY(serial),
						   VARSIZE_ANY_EXHDR(serial));
	state = (AmountAvgState *) palloc(sizeof(AmountAvgState));
	state->high = pq_getmsgint64(&buf);
	hi = (uint64) pq_getmsgint64(&buf);
	lo = (uint64) pq_getmsgint64(&buf);
	bits = ((uint128) hi << 64) | lo;
	state->low = bits;
	state->count = pq_getmsgint64(&buf);
	pq_getmsgend(&buf);
	PG_RETURN_POINTER(state);
}

/* A numeric from decimal text. */
static Numeric
numeric_from_text(const char *text)
{
	return DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(text),
											   ObjectIdGetDatum(InvalidOid),
											   Int32GetDatum(-1)));
}

/* high * 2^128 + low as an exact numeric. */
static Numeric
wide_to_numeric(uint128 low, int64 high)
{
	Numeric		two64 = numeric_from_text("18446744073709551616");
	Datum		result;

	result = NumericGetDatum(int64_to_numeric(high));
	result = DirectFunctionCall2(numeric_mul, result, NumericGetDatum(two64));
	result = DirectFunctionCall2(numeric_add, result,
								 NumericGetDatum(numeric_from_text(psprintf(UINT64_FORMAT,
																			(uint64) (low >> 64)))));
	result = DirectFunctionCall2(numeric_mul, result, NumericGetDatum(two64));
	result = DirectFunctionCall2(numeric_add, result,
								 NumericGetDatum(numeric_from_text(psprintf(UINT64_FORMAT,
																			(uint64) low))));
	return DatumGetNumeric(result);
}

/*
 * ledger_amount_avg_final - final function of ledger.avg(): sum / count as
 * an exact numeric division, or NULL if no non-null value was seen.
 */
PG_FUNCTION_INFO_V1(ledger_amount_avg_final);
Datum
ledger_amount_avg_final(PG_FUNCTION_ARGS)
{
	AmountAvgState *state;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (AmountAvgState *) PG_GETARG_POINTER(0);
	if (state->count == 0)
		PG_RETURN_NULL();

	PG_RETURN_DATUM(DirectFunctionCall2(numeric_div,
										NumericGetDatum(wide_to_numeric(state->low, state->high)),
										NumericGetDatum(int64_to_numeric(state->count))));
}

/*
 * ledger_format_amount - a as a decimal with exactly scale fractional
 * digits (12345 at scale 2 is '123.45'); 22023 unless 0 <= scale <= 38.
 */
PG_FUNCTION_INFO_V1(ledger_format_amount);
Datum
ledger_format_amount(PG_FUNCTION_ARGS)
{
	Amount		a = PG_GETARG_AMOUNT(0);
	int32		scale = PG_GETARG_INT32(1);
	char		buf[AMOUNT_TEXT_BUFSIZE];

	check_scale(scale);
	amount_format(a, scale, buf);
	PG_RETURN_TEXT_P(cstring_to_text(buf));
}

/*
 * ledger_parse_amount - the inverse of ledger_format_amount: '123.45' at
 * scale 2 is 12345.  Never rounds: more fractional digits than the scale is
 * 22P02, like malformed text; beyond 128 bits is 22003; a bad scale 22023.
 */
PG_FUNCTION_INFO_V1(ledger_parse_amount);
Datum
ledger_parse_amount(PG_FUNCTION_ARGS)
{
	char	   *str = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int32		scale = PG_GETARG_INT32(1);

	check_scale(scale);
	PG_RETURN_AMOUNT(parse_or_error(str, scale));
}
