/*
 * amount_text.h - text form of ledger amounts, in plain C.
 *
 * This layer has no PostgreSQL dependency so that it can be linked into a
 * libFuzzer harness on its own; the SQL type in amount.c wraps it.
 */
#ifndef LEDGER_AMOUNT_TEXT_H
#define LEDGER_AMOUNT_TEXT_H

#include <stddef.h>

typedef __int128 amount_int;

/* The range of a signed 128-bit integer. */
#define AMOUNT_MAX ((amount_int) (((unsigned __int128) 1 << 127) - 1))
#define AMOUNT_MIN (-AMOUNT_MAX - 1)

/* Largest scale format/parse accept: 10^38 still fits in 128 bits. */
#define AMOUNT_MAX_SCALE 38

/*
 * Big enough for the widest text form: sign, 39 digits, a decimal point and
 * a leading "0." with up to 38 zeros of padding, plus the terminator.
 */
#define AMOUNT_TEXT_BUFSIZE 96

typedef enum AmountParseResult
{
	AMOUNT_PARSE_OK = 0,
	AMOUNT_PARSE_SYNTAX,		/* not a number of the accepted form */
	AMOUNT_PARSE_RANGE,			/* well formed, but beyond 128 bits */
	AMOUNT_PARSE_SCALE			/* more fractional digits than the scale */
} AmountParseResult;

/*
 * amount_parse - read a decimal amount with at most "scale" fractional digits
 * (0 for a plain integer) into *result, as an integer of minor units.
 *
 * Accepts surrounding white space and an optional sign; nothing else.
 */
extern AmountParseResult amount_parse(const char *str, int scale,
									  amount_int *result);

/*
 * amount_format - write value as a decimal with "scale" fractional digits
 * into buf (AMOUNT_TEXT_BUFSIZE bytes); returns the length written.
 */
extern size_t amount_format(amount_int value, int scale, char *buf);

#endif							/* LEDGER_AMOUNT_TEXT_H */
