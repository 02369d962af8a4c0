/*
 * amount_text.c - decimal text form of ledger amounts, in plain C.
 *
 * An amount is a signed 128-bit count of minor units; "scale" says how many
 * of its least significant decimal digits are written after a decimal
 * point.  This file knows nothing of PostgreSQL (no palloc, no ereport) so
 * that a libFuzzer harness can link it alone and check that
 * amount_parse(amount_format(x)) == x for every x and every scale.
 *
 * Both directions work on the magnitude as an unsigned 128-bit integer:
 * the magnitude of AMOUNT_MIN (2^127) fits there, every step is defined
 * behaviour, and an overflow is caught before it happens rather than
 * detected after.
 */
#include "amount_text.h"

#include <ctype.h>

typedef unsigned __int128 amount_uint;

/* Magnitudes of the two ends of the range: 2^127 - 1 and 2^127. */
#define AMOUNT_UMAX_POSITIVE	((((amount_uint) 1) << 127) - 1)
#define AMOUNT_UMAX_NEGATIVE	(((amount_uint) 1) << 127)

/*
 * accumulate - append the decimal digit "digit" to *acc, refusing to pass
 * "limit".  Returns 0 and leaves *acc untouched if the result would exceed
 * limit, 1 otherwise.
 */
static int
accumulate(amount_uint *acc, unsigned digit, amount_uint limit)
{
	if (*acc > (limit - digit) / 10)
		return 0;
	*acc = *acc * 10 + digit;
	return 1;
}

/*
 * amount_parse - see amount_text.h.
 *
 * The whole string is checked against the grammar before any digit is
 * accumulated, so a malformed string is always AMOUNT_PARSE_SYNTAX, a well
 * formed one with too many fractional digits AMOUNT_PARSE_SCALE, and only a
 * well formed one within the scale can be AMOUNT_PARSE_RANGE.  A scale
 * outside 0..AMOUNT_MAX_SCALE is a caller bug and yields AMOUNT_PARSE_SCALE.
 * *result is written only on AMOUNT_PARSE_OK.
 */
AmountParseResult
amount_parse(const char *str, int scale, amount_int *result)
{
	const char *p = str;
	const char *int_start;
	const char *frac_start = NULL;
	size_t		int_len;
	size_t		frac_len = 0;
	int			negative = 0;
	amount_uint limit;
	amount_uint acc = 0;
	size_t		i;

	if (scale < 0 || scale > AMOUNT_MAX_SCALE)
		return AMOUNT_PARSE_SCALE;

	/* grammar: space* [+-]? digit+ ('.' digit+)? space* */
	while (isspace((unsigned char) *p))
		p++;
	if (*p == '+' || *p == '-')
	{
		negative = (*p == '-');
		p++;
	}
	int_start = p;
	while (*p >= '0' && *p <= '9')
		p++;
	int_len = (size_t) (p - int_start);
	if (int_len == 0)
		return AMOUNT_PARSE_SYNTAX;
	if (*p == '.')
	{
		/* with scale 0 an amount is a plain integer: no point at all */
		if (scale == 0)
			return AMOUNT_PARSE_SYNTAX;
		p++;
		frac_start = p;
		while (*p >= '0' && *p <= '9')
			p++;
		frac_len = (size_t) (p - frac_start);
		if (frac_len == 0)
			return AMOUNT_PARSE_SYNTAX;
	}
	while (isspace((unsigned char) *p))
		p++;
	if (*p != '\0')
		return AMOUNT_PARSE_SYNTAX;

	if (frac_len > (size_t) scale)
		return AMOUNT_PARSE_SCALE;

	/* value = integer digits, fractional digits, then zeros up to scale */
	limit = negative ? AMOUNT_UMAX_NEGATIVE : AMOUNT_UMAX_POSITIVE;
	for (i = 0; i < int_len; i++)
		if (!accumulate(&acc, (unsigned) (int_start[i] - '0'), limit))
			return AMOUNT_PARSE_RANGE;
	for (i = 0; i < frac_len; i++)
		if (!accumulate(&acc, (unsigned) (frac_start[i] - '0'), limit))
			return AMOUNT_PARSE_RANGE;
	for (i = frac_len; i < (size_t) scale; i++)
		if (!accumulate(&acc, 0, limit))
			return AMOUNT_PARSE_RANGE;

	if (!negative)
		*result = (amount_int) acc;
	else if (acc == AMOUNT_UMAX_NEGATIVE)
		*result = AMOUNT_MIN;
	else
		*result = -(amount_int) acc;
	return AMOUNT_PARSE_OK;
}

/*
 * amount_format - see amount_text.h.
 *
 * Writes an optional '-', at least one integer digit, and, when scale > 0,
 * a '.' and exactly scale fractional digits; the result is NUL-terminated.
 * A scale outside 0..AMOUNT_MAX_SCALE is a caller bug and is clamped into
 * that range so the function stays total.
 */
size_t
amount_format(amount_int value, int scale, char *buf)
{
	char		digits[AMOUNT_MAX_SCALE + 2];
	int			ndigits = 0;
	amount_uint magnitude;
	char	   *out = buf;
	int			i;

	if (scale < 0)
		scale = 0;
	if (scale > AMOUNT_MAX_SCALE)
		scale = AMOUNT_MAX_SCALE;

	/* unsigned negation is defined for every value, AMOUNT_MIN included */
	magnitude = (amount_uint) value;
	if (value < 0)
		magnitude = (amount_uint) 0 - magnitude;

	/* least significant digit first; 2^127 has 39 digits */
	do
	{
		digits[ndigits++] = (char) ('0' + (int) (magnitude % 10));
		magnitude /= 10;
	} while (magnitude != 0);

	/* pad with zeros so there is one integer digit before the point */
	while (ndigits < scale + 1)
		digits[ndigits++] = '0';

	if (value < 0)
		*out++ = '-';
	for (i = ndigits - 1; i >= 0; i--)
	{
		*out++ = digits[i];
		if (i == scale && scale > 0)
			*out++ = '.';
	}
	*out = '\0';
	return (size_t) (out - buf);
}
