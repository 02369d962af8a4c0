/*
 * amount_fuzzer.c - libFuzzer target for the text form of ledger amounts.
 *
 * Links src/amount_text.c alone (plain C, no PostgreSQL) and checks, for
 * every input, properties that hold for every string and every amount:
 *
 * (a) The input after its first byte, as a NUL-terminated string, is parsed
 *     with scale = first byte % 39.  amount_parse must never crash, must
 *     return what an independent reference (written here on digit strings,
 *     with no integer arithmetic to share a bug with) says: SYNTAX, SCALE,
 *     RANGE or OK with the reference's canonical text, and must leave
 *     *result alone unless it returns OK.  On OK, formatting the value gives
 *     the canonical text, and parsing that gives the value back.
 * (b) Bytes 1..16 (zero-padded) are an amount_int x: for the same scale,
 *     amount_format(x) is canonical and amount_parse(amount_format(x)) == x.
 * (c) amount_format never writes past AMOUNT_TEXT_BUFSIZE: it writes into a
 *     larger buffer whose tail is a canary, and into a heap buffer of
 *     exactly AMOUNT_TEXT_BUFSIZE bytes that AddressSanitizer watches; its
 *     return value is the length of what it wrote.  The first byte read as
 *     a signed scale (-128..127) checks that format clamps an out-of-range
 *     scale and parse refuses it with AMOUNT_PARSE_SCALE.
 *
 * Any violation calls abort(), which libFuzzer reports as a crash and saves
 * as a reproducer.  Build and run it with test/fuzz/run.sh.
 */
#include "amount_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CANARY_BYTE		0xA5
#define CANARY_LEN		64

/* magnitudes of AMOUNT_MAX and AMOUNT_MIN as digit strings */
static const char max_positive[] = "170141183460469231731687303715884105727";
static const char max_negative[] = "170141183460469231731687303715884105728";

/* the bytes isspace() accepts in the C locale, which a fuzzer runs in */
static int
ref_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
		c == '\r';
}

static int
ref_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * ref_parse - the reference: classify str as amount_parse must, and on
 * AMOUNT_PARSE_OK write the canonical text of its value into canon
 * (AMOUNT_TEXT_BUFSIZE bytes).  Works on digit strings only.
 */
static AmountParseResult
ref_parse(const char *str, int scale, char *canon)
{
	const char *p = str;
	const char *int_start;
	const char *frac_start = NULL;
	size_t		int_len;
	size_t		frac_len = 0;
	int			negative = 0;
	char		mag[AMOUNT_TEXT_BUFSIZE];
	size_t		mag_len = 0;
	size_t		total;
	size_t		pad;
	size_t		i;
	char	   *out = canon;

	if (scale < 0 || scale > AMOUNT_MAX_SCALE)
		return AMOUNT_PARSE_SCALE;

	while (ref_space(*p))
		p++;
	if (*p == '+' || *p == '-')
		negative = (*p++ == '-');
	int_start = p;
	while (ref_digit(*p))
		p++;
	int_len = (size_t) (p - int_start);
	if (int_len == 0)
		return AMOUNT_PARSE_SYNTAX;
	if (*p == '.')
	{
		if (scale == 0)
			return AMOUNT_PARSE_SYNTAX;
		frac_start = ++p;
		while (ref_digit(*p))
			p++;
		frac_len = (size_t) (p - frac_start);
		if (frac_len == 0)
			return AMOUNT_PARSE_SYNTAX;
	}
	while (ref_space(*p))
		p++;
	if (*p != '\0')
		return AMOUNT_PARSE_SYNTAX;
	if (frac_len > (size_t) scale)
		return AMOUNT_PARSE_SCALE;

	/*
	 * The magnitude in minor units: integer digits, fractional digits, zeros
	 * up to the scale, without leading zeros.  More than 39 significant
	 * digits is out of range whatever they are.
	 */
	for (i = 0; i < int_len + (size_t) scale; i++)
	{
		char		d;

		if (i < int_len)
			d = int_start[i];
		else if (i - int_len < frac_len)
			d = frac_start[i - int_len];
		else
			d = '0';
		if (mag_len == 0 && d == '0')
			continue;
		if (mag_len == sizeof(max_positive) - 1)
			return AMOUNT_PARSE_RANGE;
		mag[mag_len++] = d;
	}
	mag[mag_len] = '\0';
	if (mag_len == sizeof(max_positive) - 1 &&
		strcmp(mag, negative ? max_negative : max_positive) > 0)
		return AMOUNT_PARSE_RANGE;

	/*
	 * Canonical text: "-" only for a nonzero value, the magnitude left-padded
	 * with zeros to at least scale + 1 digits, and a point before the last
	 * scale digits when scale > 0.
	 */
	total = mag_len > (size_t) scale + 1 ? mag_len : (size_t) scale + 1;
	pad = total - mag_len;
	if (negative && mag_len > 0)
		*out++ = '-';
	for (i = 0; i < total; i++)
	{
		*out++ = i < pad ? '0' : mag[i - pad];
		if (scale > 0 && i == total - (size_t) scale - 1)
			*out++ = '.';
	}
	*out = '\0';
	return AMOUNT_PARSE_OK;
}

/*
 * format_checked - amount_format into a canary-guarded buffer and into an
 * exact-size heap buffer; abort unless both agree, the canary is intact and
 * the returned length is the string's.  Result copied into text.
 */
static size_t
format_checked(amount_int value, int scale, char *text)
{
	unsigned char guarded[AMOUNT_TEXT_BUFSIZE + CANARY_LEN];
	char	   *exact;
	size_t		len;
	size_t		exact_len;
	size_t		i;

	memset(guarded, CANARY_BYTE, sizeof(guarded));
	len = amount_format(value, scale, (char *) guarded);
	for (i = AMOUNT_TEXT_BUFSIZE; i < sizeof(guarded); i++)
		if (guarded[i] != CANARY_BYTE)
			abort();
	if (len >= AMOUNT_TEXT_BUFSIZE || guarded[len] != '\0' ||
		strlen((char *) guarded) != len)
		abort();

	exact = malloc(AMOUNT_TEXT_BUFSIZE);
	if (exact == NULL)
		abort();
	exact_len = amount_format(value, scale, exact);
	if (exact_len != len || memcmp(exact, guarded, len + 1) != 0)
		abort();
	free(exact);

	memcpy(text, guarded, len + 1);
	return len;
}

/*
 * check_canonical_roundtrip - text is amount_format(value, scale): it must be
 * its own reference canonical form and parse back to value.
 */
static void
check_canonical_roundtrip(amount_int value, int scale, const char *text)
{
	char		canon[AMOUNT_TEXT_BUFSIZE];
	amount_int	back = 0;

	if (ref_parse(text, scale, canon) != AMOUNT_PARSE_OK ||
		strcmp(canon, text) != 0)
		abort();
	if (amount_parse(text, scale, &back) != AMOUNT_PARSE_OK || back != value)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const amount_int sentinel = (amount_int) 0x5eed;
	int			scale;
	int			raw_scale;
	int			clamped;
	char	   *str;
	char		text[AMOUNT_TEXT_BUFSIZE];
	char		canon[AMOUNT_TEXT_BUFSIZE];
	char		clamped_text[AMOUNT_TEXT_BUFSIZE];
	AmountParseResult expected;
	AmountParseResult got;
	amount_int	value;
	amount_int	x = 0;
	unsigned char xbytes[sizeof(amount_int)] = {0};

	if (size == 0)
		return 0;
	scale = data[0] % (AMOUNT_MAX_SCALE + 1);
	raw_scale = (int) (int8_t) data[0];

	/* (a) parse arbitrary text; a heap copy so ASan sees any overread */
	str = malloc(size);
	if (str == NULL)
		abort();
	memcpy(str, data + 1, size - 1);
	str[size - 1] = '\0';

	value = sentinel;
	expected = ref_parse(str, scale, canon);
	got = amount_parse(str, scale, &value);
	if (got != expected)
		abort();
	if (got != AMOUNT_PARSE_OK)
	{
		if (value != sentinel)
			abort();
	}
	else
	{
		format_checked(value, scale, text);
		if (strcmp(text, canon) != 0)
			abort();
		check_canonical_roundtrip(value, scale, text);
	}

	/* a scale outside 0..38 is refused by parse, whatever the text */
	if (raw_scale < 0 || raw_scale > AMOUNT_MAX_SCALE)
	{
		value = sentinel;
		if (amount_parse(str, raw_scale, &value) != AMOUNT_PARSE_SCALE ||
			value != sentinel)
			abort();
	}
	free(str);

	/* (b) format then parse an arbitrary 128-bit value */
	memcpy(xbytes, data + 1,
		   size - 1 < sizeof(xbytes) ? size - 1 : sizeof(xbytes));
	memcpy(&x, xbytes, sizeof(x));
	format_checked(x, scale, text);
	check_canonical_roundtrip(x, scale, text);

	/* (c) format clamps any scale into 0..38, never writing past the end */
	clamped = raw_scale < 0 ? 0 :
		raw_scale > AMOUNT_MAX_SCALE ? AMOUNT_MAX_SCALE : raw_scale;
	format_checked(x, raw_scale, text);
	format_checked(x, clamped, clamped_text);
	if (strcmp(text, clamped_text) != 0)
		abort();

	return 0;
}
