/*
 * velocity.c - velocity limits: how much and how often an account may be
 * debited or credited within a rolling window, kept in the account's row.
 *
 * A rule's window is cut into VELOCITY_SLICES buckets of equal width; the
 * rule keeps one more, as a ring, each holding the amount and the number
 * of the movements counted in it.  A movement at time t is checked against
 * the sum of the buckets from bucket(t) - VELOCITY_SLICES to bucket(t):
 * they cover all of (t - window, t] and at most one bucket's width before
 * it, so a movement counts for at least the window and at most
 * window * (VELOCITY_SLICES + 1) / VELOCITY_SLICES after it was made.  The
 * rule may thus refuse early (by up to one bucket), never late.  The work
 * per movement and rule is bounded by the ring's size, whatever the number
 * of movements in the window.
 *
 * The rules and their buckets are the account row's column velocity, so
 * that they are read and written with the row, under the row lock the
 * posting pipeline takes anyway: no other row is written for them, and no
 * cache can be out of date.  The table ledger.velocity_limits lists the
 * rules for people and for ledger.drop_velocity_limit.
 *
 * The column's format (little-endian, so that a dump restores anywhere):
 * a format byte (1), the number of rules, then per rule its id (8 bytes),
 * flags (1), window in microseconds (8), max_amount (16, if set),
 * max_count (4, if set), the newest bucket's number (8), the number of
 * buckets that are not empty (1) and, for each, its age from the newest
 * (1), amount and count (unsigned LEB128).
 */
#include "ledger.h"

#include "utils/builtins.h"
#include "utils/timestamp.h"

#define VELOCITY_FORMAT		1

#define RULE_CREDIT			0x01
#define RULE_FLAG			0x02
#define RULE_HAS_AMOUNT		0x04
#define RULE_HAS_COUNT		0x08

static LedgerStatement rule_name = LEDGER_STATEMENT(
	"SELECT name FROM ledger.velocity_limits WHERE id OPERATOR(pg_catalog.=) $1", "b");

static void
put_u64(StringInfo buf, uint64 v)
{
	for (int i = 0; i < 8; i++)
		appendStringInfoChar(buf, (char) ((v >> (8 * i)) & 0xff));
}

static void
put_leb(StringInfo buf, unsigned __int128 v)
{
	do
	{
		uint8		b = v & 0x7f;

		v >>= 7;
		if (v != 0)
			b |= 0x80;
		appendStringInfoChar(buf, (char) b);
	} while (v != 0);
}

/* A reader of the column; any overrun is corruption. */
typedef struct Reader
{
	const uint8 *p;
	const uint8 *end;
	int64		account;
} Reader;

static void
corrupt(const Reader *r)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("velocity state of account %lld is corrupt", (long long) r->account)));
}

static uint8
get_u8(Reader *r)
{
	if (r->p >= r->end)
		corrupt(r);
	return *r->p++;
}

static uint64
get_u64(Reader *r)
{
	uint64		v = 0;

	if (r->end - r->p < 8)
		corrupt(r);
	for (int i = 0; i < 8; i++)
		v |= (uint64) r->p[i] << (8 * i);
	r->p += 8;
	return v;
}

static unsigned __int128
get_leb(Reader *r)
{
	unsigned __int128		v = 0;

	for (int shift = 0;; shift += 7)
	{
		uint8		b = get_u8(r);

		if (shift > 126)
			corrupt(r);
		v |= (unsigned __int128) (b & 0x7f) << shift;
		if ((b & 0x80) == 0)
			return v;
	}
}

/* The width of a rule's buckets, in microseconds (at least 1). */
static int64
slice_width(const VelocityRule *rule)
{
	return Max(rule->window / VELOCITY_SLICES, 1);
}

static inline int
slot_of(int64 bucket)
{
	int64		s = bucket % (VELOCITY_SLICES + 1);

	return (int) (s < 0 ? s + VELOCITY_SLICES + 1 : s);
}

/* The bucket of time t: floor(t / width), also for times before 2000. */
int64
VelocityBucket(const VelocityRule *rule, TimestampTz t)
{
	int64		w = slice_width(rule);
	int64		b = t / w;

	if (t % w != 0 && t < 0)
		b--;
	return b;
}

/*
 * VelocityDecode - the rules of an account's velocity column.
 */
Velocity *
VelocityDecode(const bytea *raw, int64 account)
{
	Reader		r;
	Velocity   *v;
	int			n;

	r.p = (const uint8 *) VARDATA_ANY(raw);
	r.end = r.p + VARSIZE_ANY_EXHDR(raw);
	r.account = account;
	if (get_u8(&r) != VELOCITY_FORMAT)
		corrupt(&r);
	n = get_u8(&r);
	if (n > VELOCITY_MAX_RULES)
		corrupt(&r);
	v = VelocityAlloc(n);
	v->nrules = n;
	for (int i = 0; i < n; i++)
	{
		VelocityRule *rule = &v->rules[i];
		uint8		flags;
		int			nonempty;

		rule->id = (int64) get_u64(&r);
		flags = get_u8(&r);
		rule->credit = (flags & RULE_CREDIT) != 0;
		rule->flag = (flags & RULE_FLAG) != 0;
		rule->has_amount = (flags & RULE_HAS_AMOUNT) != 0;
		rule->has_count = (flags & RULE_HAS_COUNT) != 0;
		rule->window = (int64) get_u64(&r);
		if (rule->window <= 0)
			corrupt(&r);
		if (rule->has_amount)
		{
			uint64		lo = get_u64(&r);
			uint64		hi = get_u64(&r);

			rule->max_amount = (Amount) (((unsigned __int128) hi << 64) | lo);
		}
		if (rule->has_count)
			rule->max_count = (int64) get_u64(&r);
		rule->head = (int64) get_u64(&r);
		nonempty = get_u8(&r);
		for (int k = 0; k < nonempty; k++)
		{
			int			age = get_u8(&r);
			int			slot;

			if (age > VELOCITY_SLICES)
				corrupt(&r);
			slot = slot_of(rule->head - age);
			rule->amount[slot] = (Amount) get_leb(&r);
			rule->count[slot] = (int64) get_leb(&r);
			if (rule->amount[slot] < 0 || rule->count[slot] < 0)
				corrupt(&r);
		}
	}
	if (r.p != r.end)
		corrupt(&r);
	return v;
}

/*
 * VelocityEncode - the column of an account's rules; NULL if it has none.
 */
bytea *
VelocityEncode(const Velocity *v)
{
	StringInfoData buf;
	bytea	   *out;

	if (v == NULL || v->nrules == 0)
		return NULL;
	initStringInfo(&buf);
	appendStringInfoSpaces(&buf, VARHDRSZ);
	appendStringInfoChar(&buf, VELOCITY_FORMAT);
	appendStringInfoChar(&buf, (char) v->nrules);
	for (int i = 0; i < v->nrules; i++)
	{
		const VelocityRule *rule = &v->rules[i];
		int			nonempty = 0;

		put_u64(&buf, (uint64) rule->id);
		appendStringInfoChar(&buf, (char) ((rule->credit ? RULE_CREDIT : 0) |
										   (rule->flag ? RULE_FLAG : 0) |
										   (rule->has_amount ? RULE_HAS_AMOUNT : 0) |
										   (rule->has_count ? RULE_HAS_COUNT : 0)));
		put_u64(&buf, (uint64) rule->window);
		if (rule->has_amount)
		{
			put_u64(&buf, (uint64) ((unsigned __int128) rule->max_amount & PG_UINT64_MAX));
			put_u64(&buf, (uint64) ((unsigned __int128) rule->max_amount >> 64));
		}
		if (rule->has_count)
			put_u64(&buf, (uint64) rule->max_count);
		put_u64(&buf, (uint64) rule->head);
		for (int age = 0; age <= VELOCITY_SLICES; age++)
			if (rule->count[slot_of(rule->head - age)] != 0 ||
				rule->amount[slot_of(rule->head - age)] != 0)
				nonempty++;
		appendStringInfoChar(&buf, (char) nonempty);
		for (int age = 0; age <= VELOCITY_SLICES; age++)
		{
			int			slot = slot_of(rule->head - age);

			if (rule->count[slot] == 0 && rule->amount[slot] == 0)
				continue;
			appendStringInfoChar(&buf, (char) age);
			put_leb(&buf, (unsigned __int128) rule->amount[slot]);
			put_leb(&buf, (unsigned __int128) rule->count[slot]);
		}
	}
	out = (bytea *) buf.data;
	SET_VARSIZE(out, buf.len);
	return out;
}

/* Room for nrules rules, zeroed, none in use. */
Velocity *
VelocityAlloc(int nrules)
{
	return palloc0(offsetof(Velocity, rules) + sizeof(VelocityRule) * Max(nrules, 1));
}

/* A copy of the rules that the caller may change, with room for extra more. */
Velocity *
VelocityCopy(const Velocity *v, int extra)
{
	Velocity   *copy = VelocityAlloc(v->nrules + extra);

	memcpy(copy, v, offsetof(Velocity, rules) + sizeof(VelocityRule) * v->nrules);
	return copy;
}

/*
 * VelocityEarliest - the earliest time a movement may be counted at: no
 * earlier than any rule's newest bucket, so that each rule counts in time
 * order and never drops a bucket that a later check would still need.
 */
TimestampTz
VelocityEarliest(const Velocity *v)
{
	TimestampTz t = DT_NOBEGIN;

	if (v == NULL)
		return t;
	for (int i = 0; i < v->nrules; i++)
	{
		const VelocityRule *rule = &v->rules[i];
		int64		start;

		if (__builtin_mul_overflow(rule->head, slice_width(rule), &start))
			continue;
		t = Max(t, start);
	}
	return t;
}

/* Move the rule's newest bucket to bucket, emptying those that fall out. */
static void
advance(VelocityRule *rule, int64 bucket)
{
	if (bucket <= rule->head)
		return;
	if (bucket - rule->head > VELOCITY_SLICES)
	{
		memset(rule->amount, 0, sizeof(rule->amount));
		memset(rule->count, 0, sizeof(rule->count));
	}
	else
		for (int64 b = rule->head + 1; b <= bucket; b++)
		{
			rule->amount[slot_of(b)] = 0;
			rule->count[slot_of(b)] = 0;
		}
	rule->head = bucket;
}

/*
 * What the rule has counted in its window, as of its newest bucket.  A sum
 * beyond the largest amount (only flag rules let one grow so far) stays at
 * the largest, which is beyond any limit all the same.
 */
static void
used(const VelocityRule *rule, Amount *amount, int64 *count)
{
	*amount = 0;
	*count = 0;
	for (int s = 0; s <= VELOCITY_SLICES; s++)
	{
		if (__builtin_add_overflow(*amount, rule->amount[s], amount))
			*amount = AMOUNT_MAX;
		*count += rule->count[s];
	}
}

/*
 * A window as text for messages and events, whatever the session's
 * IntervalStyle: in its largest whole unit ("1 day", "90 minutes"), else
 * in seconds.
 */
char *
VelocityWindowText(int64 window)
{
	static const struct
	{
		int64		usecs;
		const char *unit;
	}			units[] = {
		{USECS_PER_DAY, "day"}, {USECS_PER_HOUR, "hour"},
		{USECS_PER_MINUTE, "minute"}, {USECS_PER_SEC, "second"}
	};

	for (int u = 0; u < (int) lengthof(units); u++)
		if (window % units[u].usecs == 0)
		{
			int64		n = window / units[u].usecs;

			return psprintf("%lld %s%s", (long long) n, units[u].unit, n == 1 ? "" : "s");
		}
	return psprintf("%lld.%06lld seconds", (long long) (window / USECS_PER_SEC),
					(long long) (window % USECS_PER_SEC));
}

/* "1 movement", "2 movements". */
static char *
movements(int64 n)
{
	return psprintf("%lld movement%s", (long long) n, n == 1 ? "" : "s");
}

/* The rule as its message names it: its id, and its name if it has one. */
static char *
rule_label(int64 id)
{
	Datum		arg = Int64GetDatum(id);
	bool		isnull = true;
	Datum		name = (Datum) 0;

	LedgerExecute(&rule_name, &arg, NULL, 1);
	if (SPI_processed > 0)
		name = LedgerGetColumn(0, 1, &isnull);
	if (isnull)
		return psprintf("%lld", (long long) id);
	return psprintf("%lld (\"%s\")", (long long) id, TextDatumGetCString(name));
}

/*
 * VelocityCount - count a movement of amount on account's side at time t
 * (at least VelocityEarliest) against each of its rules on that side.  A
 * reject rule that the movement would take beyond its limit refuses it; a
 * flag rule counts it and is returned in flagged (a copy of the rule and
 * what it had used before), *nflagged of them.  Each rule that counted it is
 * recorded in marks (its id and the bucket, two values), so that a hold's
 * reservation can be given back (VelocityGiveBack); *nmarks of them.  The
 * rules in skip (marks of a hold being captured) do not count it again.
 *
 * Refusals come before anything is counted, so a refused movement leaves
 * the rules as they were.
 */
void
VelocityCount(LedgerAccount *account, LedgerSide side, Amount amount, TimestampTz t,
			  const int64 *skip, int nskip,
			  VelocityFlagged *flagged, int *nflagged, int64 *marks, int *nmarks)
{
	Velocity   *v = account->velocity;
	bool		credit = side == LEDGER_CREDIT;

	*nflagged = 0;
	if (nmarks)
		*nmarks = 0;
	if (v == NULL)
		return;
	for (int i = 0; i < v->nrules; i++)
	{
		VelocityRule *rule = &v->rules[i];
		Amount		amount_used;
		int64		count_used;
		bool		over;

		if (rule->credit != credit || VelocityMarked(rule->id, skip, nskip))
			continue;
		advance(rule, VelocityBucket(rule, t));
		used(rule, &amount_used, &count_used);
		over = (rule->has_amount &&
				(amount > rule->max_amount || amount_used > rule->max_amount - amount)) ||
			(rule->has_count && count_used + 1 > rule->max_count);
		if (!over)
			continue;
		if (rule->flag)
		{
			flagged[*nflagged].rule = *rule;
			flagged[*nflagged].amount_used = amount_used;
			flagged[*nflagged].count_used = count_used;
			(*nflagged)++;
			continue;
		}
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_VELOCITY_EXCEEDED),
				 errmsg("velocity limit %s of account %lld refuses a %s of %s",
						rule_label(rule->id), (long long) account->id,
						credit ? "credit" : "debit", AmountToCString(amount)),
				 errdetail("In the last %s the account's %s add up to %s in %s; the limit is %s%s%s.",
						   VelocityWindowText(rule->window),
						   credit ? "credits" : "debits",
						   AmountToCString(amount_used), movements(count_used),
						   rule->has_amount ? AmountToCString(rule->max_amount) : "",
						   rule->has_amount && rule->has_count ? " and " : "",
						   rule->has_count ? movements(rule->max_count) : "")));
	}
	for (int i = 0; i < v->nrules; i++)
	{
		VelocityRule *rule = &v->rules[i];
		int64		bucket;
		int			slot;

		if (rule->credit != credit || VelocityMarked(rule->id, skip, nskip))
			continue;
		bucket = VelocityBucket(rule, t);
		slot = slot_of(bucket);
		if (__builtin_add_overflow(rule->amount[slot], amount, &rule->amount[slot]))
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_BALANCE_OVERFLOW),
					 errmsg("velocity limit %lld of account %lld cannot count %s more",
							(long long) rule->id, (long long) account->id,
							AmountToCString(amount))));
		rule->count[slot]++;
		if (marks != NULL)
		{
			marks[2 * *nmarks] = rule->id;
			marks[2 * *nmarks + 1] = bucket;
			(*nmarks)++;
		}
	}
}

/*
 * VelocityGiveBack - a hold's reservation on account's side, counted as
 * marks recorded, released: amount (and the movement itself, if count) is
 * taken out of each rule that counted it, if its bucket is still in the
 * rule's window.  A rule that did not count it (made after the hold) gives
 * nothing back.
 */
void
VelocityGiveBack(LedgerAccount *account, LedgerSide side, Amount amount, bool count,
				 const int64 *marks, int nmarks)
{
	Velocity   *v = account->velocity;

	if (v == NULL)
		return;
	for (int i = 0; i < v->nrules; i++)
	{
		VelocityRule *rule = &v->rules[i];

		if (rule->credit != (side == LEDGER_CREDIT))
			continue;
		for (int k = 0; k < nmarks; k++)
		{
			int64		bucket = marks[2 * k + 1];
			int			slot = slot_of(bucket);

			if (marks[2 * k] != rule->id || bucket > rule->head ||
				bucket < rule->head - VELOCITY_SLICES)
				continue;
			rule->amount[slot] = Max(rule->amount[slot] - amount, 0);
			if (count && rule->count[slot] > 0)
				rule->count[slot]--;
		}
	}
}

/*
 * The column hold_records.velocity: nmarks pairs of a limit's id and a
 * bucket, each a 64-bit little-endian integer.
 */
bytea *
VelocityMarksEncode(const int64 *marks, int nmarks)
{
	StringInfoData buf;
	bytea	   *out;

	initStringInfo(&buf);
	appendStringInfoSpaces(&buf, VARHDRSZ);
	for (int k = 0; k < 2 * nmarks; k++)
		put_u64(&buf, (uint64) marks[k]);
	out = (bytea *) buf.data;
	SET_VARSIZE(out, buf.len);
	return out;
}

/* The marks of hold in raw, *nmarks pairs of them. */
int64 *
VelocityMarksDecode(const bytea *raw, int64 hold, int *nmarks)
{
	Reader		r;
	int64	   *marks;
	int			n;

	r.p = (const uint8 *) VARDATA_ANY(raw);
	r.end = r.p + VARSIZE_ANY_EXHDR(raw);
	r.account = 0;
	if ((r.end - r.p) % 16 != 0)
		elog(ERROR, "velocity marks of hold %lld are malformed", (long long) hold);
	n = (int) ((r.end - r.p) / 8);
	marks = palloc(sizeof(int64) * Max(n, 1));
	for (int k = 0; k < n; k++)
		marks[k] = (int64) get_u64(&r);
	*nmarks = n / 2;
	return marks;
}

/* Does the hold's marks include rule? */
bool
VelocityMarked(int64 rule, const int64 *marks, int nmarks)
{
	for (int k = 0; k < nmarks; k++)
		if (marks[2 * k] == rule)
			return true;
	return false;
}

/*
 * VelocityUsage - what a rule has counted in its window as of time t,
 * without changing it.
 */
void
VelocityUsage(const VelocityRule *rule, TimestampTz t, Amount *amount, int64 *count)
{
	VelocityRule copy = *rule;

	advance(&copy, VelocityBucket(&copy, t));
	used(&copy, amount, count);
}
