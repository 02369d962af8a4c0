/*
 * chain.c - the hash chain that makes an account's history tamper-evident.
 *
 * Each entry's hash is SHA-256 over the previous entry's hash of the same
 * account (32 zero bytes for the first) and the entry's own fields in a
 * fixed binary layout.  The account row keeps the last hash, read and
 * written under the account's lock like its balances, so the chain costs no
 * query and no lock of its own.  ledger.verify() recomputes it.
 */
#include "ledger.h"

#include "common/cryptohash.h"
#include "port/pg_bswap.h"

/* Append an integer in network byte order. */
static uint8 *
put_int64(uint8 *p, int64 v)
{
	uint64		be = pg_hton64((uint64) v);

	memcpy(p, &be, sizeof(be));
	return p + sizeof(be);
}

/* Append an amount as its high then low 64-bit halves, big-endian. */
static uint8 *
put_amount(uint8 *p, Amount a)
{
	p = put_int64(p, (int64) (a >> 64));
	return put_int64(p, (int64) (uint64) a);
}

/*
 * EntryHash - the chain hash of one entry.
 *
 * prev is the account's previous entry hash, or NULL for its first entry.
 */
void
EntryHash(const uint8 *prev, int64 transfer_id, int64 account_id,
		  int64 version, LedgerSide side, Amount amount, Amount balance_after,
		  TimestampTz created_at, uint8 *out)
{
	uint8		buf[LEDGER_HASH_LEN + 8 * 3 + 1 + 16 * 2 + 8];
	uint8	   *p = buf;
	pg_cryptohash_ctx *ctx;

	if (prev)
		memcpy(p, prev, LEDGER_HASH_LEN);
	else
		memset(p, 0, LEDGER_HASH_LEN);
	p += LEDGER_HASH_LEN;
	p = put_int64(p, transfer_id);
	p = put_int64(p, account_id);
	p = put_int64(p, version);
	*p++ = side == LEDGER_DEBIT ? 'D' : 'C';
	p = put_amount(p, amount);
	p = put_amount(p, balance_after);
	p = put_int64(p, created_at);
	Assert(p == buf + sizeof(buf));

	ctx = pg_cryptohash_create(PG_SHA256);
	if (ctx == NULL ||
		pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, buf, sizeof(buf)) < 0 ||
		pg_cryptohash_final(ctx, out, LEDGER_HASH_LEN) < 0)
		elog(ERROR, "could not compute SHA-256 of an entry");
	pg_cryptohash_free(ctx);
}
