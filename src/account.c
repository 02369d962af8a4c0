/*
 * account.c - accounts: creation, limits, closing, balances and locking.
 *
 * An account's balances are four running sums kept on its row.  Every
 * movement reads the row under FOR UPDATE, changes it in memory through the
 * helpers below (which check overflow and limits), and writes it back once.
 * Rows are always locked in ascending id order, whatever order the caller
 * named them in, so two calls that share accounts queue instead of
 * deadlocking.
 */
#include "ledger.h"

#include "table.h"

#include "catalog/pg_type.h"
#include "access/htup_details.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"

static LedgerStatement save_account_pair = LEDGER_STATEMENT(
	"UPDATE ledger.accounts AS a SET min_balance = v.min_balance,"
	" max_balance = v.max_balance, debits_posted = v.debits_posted,"
	" credits_posted = v.credits_posted, debits_pending = v.debits_pending,"
	" credits_pending = v.credits_pending, version = v.version,"
	" closed = v.closed, updated_at = v.updated_at,"
	" holds_expire_at = v.holds_expire_at, entry_hash = v.entry_hash"
	" FROM (VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12),"
	"              ($13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24))"
	"   AS v(id, min_balance, max_balance, debits_posted, credits_posted,"
	"        debits_pending, credits_pending, version, closed, updated_at,"
	"        holds_expire_at, entry_hash)"
	" WHERE a.id OPERATOR(pg_catalog.=) v.id",
	"baaaaaaboTTh" "baaaaaaboTTh");

static LedgerStatement save_account = LEDGER_STATEMENT(
	"UPDATE ledger.accounts SET min_balance = $2, max_balance = $3,"
	" debits_posted = $4, credits_posted = $5, debits_pending = $6,"
	" credits_pending = $7, version = $8, closed = $9, updated_at = $10,"
	" holds_expire_at = $11, entry_hash = $12"
	" WHERE id OPERATOR(pg_catalog.=) $1", "baaaaaaboTTh");

/*
 * ReportUnknownAccount - the error for an account id that does not exist.
 */
void
ReportUnknownAccount(int64 id)
{
	ereport(ERROR,
			(errcode(ERRCODE_LEDGER_UNKNOWN_ACCOUNT),
			 errmsg("account %lld does not exist", (long long) id)));
}

/* Report that an account's balance column would leave the amount range. */
static void
balance_overflow(const LedgerAccount *account)
{
	ereport(ERROR,
			(errcode(ERRCODE_LEDGER_BALANCE_OVERFLOW),
			 errmsg("balance of account %lld would overflow", (long long) account->id),
			 errdetail("The account's lifetime total of debits or credits, or its balance, would leave the range of ledger.amount.")));
}

/*
 * TryLockAccounts - read and row-lock accounts.
 *
 * ids must be distinct and in ascending order; accounts receives them in the
 * same order.  Caller must be connected to SPI.  Returns false, with
 * *missing set to the first id that does not exist, if any does not.  Holds
 * on these accounts that have expired are released before returning, so an
 * expired reservation never counts against the caller's movement.
 */
bool
TryLockAccounts(const int64 *ids, int n, LedgerAccount *accounts, int64 *missing)
{
	TimestampTz now;

	if (!LockAccountRows(ids, n, accounts, missing))
		return false;

	/* A locked hot account is brought up to date before anyone reads it. */
	for (int i = 0; i < n; i++)
	{
		if (accounts[i].hot)
		{
			accounts[i].applied_hot_entries = ApplyHotEntries(&accounts[i]);
			if (accounts[i].applied_hot_entries > 0)
				SaveAccount(&accounts[i]);
		}
	}

	now = GetCurrentTimestamp();
	for (int i = 0; i < n; i++)
	{
		if (accounts[i].holds_expire_at <= now)
		{
			ExpireDueHolds(accounts, n, now);
			break;
		}
	}
	return true;
}

/*
 * LockAccounts - TryLockAccounts, with an error naming a missing account.
 */
void
LockAccounts(const int64 *ids, int n, LedgerAccount *accounts)
{
	int64		missing;

	if (!TryLockAccounts(ids, n, accounts, &missing))
		ReportUnknownAccount(missing);
}

/*
 * LockAccountPair - lock the two accounts of a movement in ascending id
 * order, whichever side each is on, and point debit and credit at them.
 */
void
LockAccountPair(int64 debit_id, int64 credit_id, LedgerAccount accounts[2],
				LedgerAccount **debit, LedgerAccount **credit)
{
	bool		debit_first = debit_id < credit_id;
	int64		ids[2];

	ids[0] = debit_first ? debit_id : credit_id;
	ids[1] = debit_first ? credit_id : debit_id;
	LockAccounts(ids, 2, accounts);
	*debit = &accounts[debit_first ? 0 : 1];
	*credit = &accounts[debit_first ? 1 : 0];
}

/*
 * CompareAccountIds - qsort/bsearch comparator for int64 account ids.
 */
int
CompareAccountIds(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/*
 * AccountToParams - the mutable columns of an account as
 * SAVE_ACCOUNT_PARAMS statement parameters, from values[0], in the order
 * id, min_balance, max_balance, debits_posted, credits_posted,
 * debits_pending, credits_pending, version, closed, updated_at,
 * holds_expire_at, entry_hash.
 */
void
AccountToParams(const LedgerAccount *account, Datum *values, char *nulls)
{
	memset(nulls, ' ', SAVE_ACCOUNT_PARAMS);
	values[0] = Int64GetDatum(account->id);
	values[1] = AmountGetDatum(account->min_balance);
	nulls[1] = account->has_min ? ' ' : 'n';
	values[2] = AmountGetDatum(account->max_balance);
	nulls[2] = account->has_max ? ' ' : 'n';
	values[3] = AmountGetDatum(account->debits_posted);
	values[4] = AmountGetDatum(account->credits_posted);
	values[5] = AmountGetDatum(account->debits_pending);
	values[6] = AmountGetDatum(account->credits_pending);
	values[7] = Int64GetDatum(account->version);
	values[8] = BoolGetDatum(account->closed);
	values[9] = TimestampTzGetDatum(account->updated_at);
	values[10] = TimestampTzGetDatum(account->holds_expire_at);
	nulls[10] = TIMESTAMP_NOT_FINITE(account->holds_expire_at) ? 'n' : ' ';
	values[11] = PointerGetDatum(HashToBytea(account->entry_hash));
	nulls[11] = account->has_entry_hash ? ' ' : 'n';
}

/*
 * save_accounts_direct - write n accounts, whose parameters
 * (AccountToParams) are values and nulls, straight into their rows
 * (table.c).  Returns false, having written nothing, when the table must be
 * updated through SQL.
 */
static bool
save_accounts_direct(const LedgerAccount *const *accounts, const Datum *values,
					 const char *nulls, int n)
{
	Oid			amount_oid = LedgerAmountTypeOid();
	TableColumn columns[SAVE_ACCOUNT_PARAMS - 1] = {
		{"min_balance", amount_oid}, {"max_balance", amount_oid},
		{"debits_posted", amount_oid}, {"credits_posted", amount_oid},
		{"debits_pending", amount_oid}, {"credits_pending", amount_oid},
		{"version", INT8OID}, {"closed", BOOLOID},
		{"updated_at", TIMESTAMPTZOID}, {"holds_expire_at", TIMESTAMPTZOID},
		{"entry_hash", BYTEAOID}
	};
	TableUpdate *upd = TableUpdateBegin("accounts", columns, lengthof(columns));
	int64		updated;

	if (upd == NULL)
		return false;
	for (int i = 0; i < n; i++)
	{
		const Datum *v = values + i * SAVE_ACCOUNT_PARAMS;
		const char *vn = nulls + i * SAVE_ACCOUNT_PARAMS;
		bool		isnull[SAVE_ACCOUNT_PARAMS - 1];

		for (int c = 0; c < SAVE_ACCOUNT_PARAMS - 1; c++)
			isnull[c] = vn[c + 1] == 'n';
		if (!TableUpdateRow(upd, accounts[i]->id, (ItemPointer) &accounts[i]->tid,
							v + 1, isnull))
			elog(ERROR, "account %lld vanished while locked",
				 (long long) accounts[i]->id);
	}
	updated = TableUpdateEnd(upd);
	if (updated >= 0 && updated != n)
		elog(ERROR, "an account vanished while locked");
	return updated >= 0;
}

/*
 * SaveAccount - write an account's mutable columns back to its row.
 *
 * Caller must hold the row lock taken by LockAccounts.
 */
void
SaveAccount(const LedgerAccount *account)
{
	Datum		values[SAVE_ACCOUNT_PARAMS];
	char		nulls[SAVE_ACCOUNT_PARAMS];

	AccountToParams(account, values, nulls);
	if (save_accounts_direct(&account, values, nulls, 1))
		return;
	LedgerExecuteWrite(&save_account, values, nulls, 0);
	if (SPI_processed != 1)
		elog(ERROR, "account %lld vanished while locked", (long long) account->id);
}

/*
 * SaveAccountPair - SaveAccount for the two accounts of a movement, in one
 * statement.
 */
void
SaveAccountPair(const LedgerAccount *a, const LedgerAccount *b)
{
	Datum		values[2 * SAVE_ACCOUNT_PARAMS];
	char		nulls[2 * SAVE_ACCOUNT_PARAMS];
	const LedgerAccount *pair[2] = {a, b};

	AccountToParams(a, values, nulls);
	AccountToParams(b, values + SAVE_ACCOUNT_PARAMS, nulls + SAVE_ACCOUNT_PARAMS);
	if (save_accounts_direct(pair, values, nulls, 2))
		return;
	LedgerExecuteWrite(&save_account_pair, values, nulls, 0);
	if (SPI_processed != 2)
		elog(ERROR, "accounts %lld and %lld vanished while locked",
			 (long long) a->id, (long long) b->id);
}

/*
 * HashToBytea - a chain hash as a bytea value.
 */
bytea *
HashToBytea(const uint8 *hash)
{
	bytea	   *result = palloc(VARHDRSZ + LEDGER_HASH_LEN);

	SET_VARSIZE(result, VARHDRSZ + LEDGER_HASH_LEN);
	memcpy(VARDATA(result), hash, LEDGER_HASH_LEN);
	return result;
}

/* a + b, or an overflow error naming the account. */
static Amount
add_checked(const LedgerAccount *account, Amount a, Amount b)
{
	Amount		result;

	if (__builtin_add_overflow(a, b, &result))
		balance_overflow(account);
	return result;
}

/* a - b, or an overflow error naming the account. */
static Amount
sub_checked(const LedgerAccount *account, Amount a, Amount b)
{
	Amount		result;

	if (__builtin_sub_overflow(a, b, &result))
		balance_overflow(account);
	return result;
}

/*
 * AccountPostedBalance - credits less debits for a credit-normal account,
 * debits less credits for a debit-normal one.
 */
Amount
AccountPostedBalance(const LedgerAccount *account)
{
	return account->credit_normal ?
		sub_checked(account, account->credits_posted, account->debits_posted) :
		sub_checked(account, account->debits_posted, account->credits_posted);
}

/*
 * AccountAvailableBalance - the posted balance less pending outflows, the
 * lowest the balance can go if every open hold is captured.
 */
Amount
AccountAvailableBalance(const LedgerAccount *account)
{
	return sub_checked(account, AccountPostedBalance(account),
					   account->credit_normal ? account->debits_pending :
					   account->credits_pending);
}

/*
 * AccountCeilingBalance - the posted balance plus pending inflows, the
 * highest the balance can go if every open hold is captured.
 */
Amount
AccountCeilingBalance(const LedgerAccount *account)
{
	return add_checked(account, AccountPostedBalance(account),
					   account->credit_normal ? account->credits_pending :
					   account->debits_pending);
}

/*
 * AccountPost - post one entry of amount on the given side of an account.
 *
 * Bumps the version and returns the posted balance after the entry.  Limits
 * are checked separately, by CheckAccountLimits, once all entries of the
 * movement are posted.
 */
Amount
AccountPost(LedgerAccount *account, LedgerSide side, Amount amount)
{
	if (side == LEDGER_DEBIT)
		account->debits_posted = add_checked(account, account->debits_posted, amount);
	else
		account->credits_posted = add_checked(account, account->credits_posted, amount);
	account->version++;
	return AccountPostedBalance(account);
}

/*
 * AccountAddPosted - add amount to the posted sum of a side, with no entry
 * and no new version: for balances that include queued postings.
 */
void
AccountAddPosted(LedgerAccount *account, LedgerSide side, Amount amount)
{
	if (side == LEDGER_DEBIT)
		account->debits_posted = add_checked(account, account->debits_posted, amount);
	else
		account->credits_posted = add_checked(account, account->credits_posted, amount);
}

/*
 * AccountReserve - add a hold's amount to the pending column of a side.
 *
 * Limits are checked separately, by CheckAccountLimits.
 */
void
AccountReserve(LedgerAccount *account, LedgerSide side, Amount amount)
{
	if (side == LEDGER_DEBIT)
		account->debits_pending = add_checked(account, account->debits_pending, amount);
	else
		account->credits_pending = add_checked(account, account->credits_pending, amount);
}

/*
 * AccountUnreserve - take a hold's amount off the pending column of a side.
 */
void
AccountUnreserve(LedgerAccount *account, LedgerSide side, Amount amount)
{
	Amount	   *pending = side == LEDGER_DEBIT ?
		&account->debits_pending : &account->credits_pending;

	if (*pending < amount)
		elog(ERROR, "pending %s of account %lld is below a hold it carries",
			 side == LEDGER_DEBIT ? "debits" : "credits", (long long) account->id);
	*pending -= amount;
}

/*
 * CheckAccountOpen - a closed account takes part in no new movement.
 */
void
CheckAccountOpen(const LedgerAccount *account)
{
	if (account->closed)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_ACCOUNT_CLOSED),
				 errmsg("account %lld is closed", (long long) account->id),
				 errhint("Reopen it with ledger.reopen_account() first.")));
}

/*
 * CheckAccountLimits - after amount was added on side of the account, the
 * balance must still lie within the account's limits.
 *
 * A movement that lowers the balance is checked against min_balance using
 * the available balance; one that raises it against max_balance using the
 * balance with pending inflows.  The other bound cannot have been crossed by
 * it.
 */
void
CheckAccountLimits(const LedgerAccount *account, LedgerSide side, Amount amount)
{
	bool		lowers = (side == LEDGER_DEBIT) == account->credit_normal;

	/*
	 * Both derived balances are computed whatever the limits, so that one
	 * leaving the amount range is refused here, before anything is written.
	 */
	Amount		available = AccountAvailableBalance(account);
	Amount		ceiling = AccountCeilingBalance(account);

	if (lowers && account->has_min)
	{
		if (available < account->min_balance)
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_INSUFFICIENT_FUNDS),
					 errmsg("account %lld has insufficient funds", (long long) account->id),
					 errdetail("The available balance is %s, the amount is %s and the minimum balance is %s.",
							   AmountToCString(available + amount),
							   AmountToCString(amount),
							   AmountToCString(account->min_balance)),
					 errhint("Lower the amount, or raise the account's funds or lower its minimum balance.")));
	}
	else if (!lowers && account->has_max)
	{
		if (ceiling > account->max_balance)
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_LIMIT_EXCEEDED),
					 errmsg("account %lld would exceed its maximum balance", (long long) account->id),
					 errdetail("The balance with pending inflows would be %s and the maximum balance is %s.",
							   AmountToCString(ceiling),
							   AmountToCString(account->max_balance)),
					 errhint("Lower the amount or raise the account's maximum balance.")));
	}
}

/*
 * NextEntryTimestamp - the time to stamp a movement on these accounts with.
 *
 * The wall clock, but never earlier than the accounts' last change, so that
 * an account's entries never go back in time in version order even when the
 * clock steps back or an older transaction commits later.  Caller must hold
 * the accounts' locks.
 */
TimestampTz
NextEntryTimestamp(const LedgerAccount *accounts, int n)
{
	TimestampTz ts = GetCurrentTimestamp();

	for (int i = 0; i < n; i++)
		if (accounts[i].updated_at > ts)
			ts = accounts[i].updated_at;
	return ts;
}

/* Check a pair of limits and that they include the account's balances. */
static void
check_limits(LedgerAccount *account)
{
	Amount		low;
	Amount		high;

	if (account->has_min && account->has_max &&
		account->min_balance > account->max_balance)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_LIMITS),
				 errmsg("minimum balance %s is greater than maximum balance %s",
						AmountToCString(account->min_balance),
						AmountToCString(account->max_balance))));

	low = AccountAvailableBalance(account);
	high = AccountCeilingBalance(account);
	if ((account->has_min && low < account->min_balance) ||
		(account->has_max && high > account->max_balance))
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_LIMITS_EXCLUDE_BALANCE),
				 account->id != 0 ?
				 errmsg("limits exclude the balance of account %lld", (long long) account->id) :
				 errmsg("limits exclude the opening balance of zero"),
				 errdetail("The available balance is %s and the balance with pending inflows is %s.",
						   AmountToCString(low), AmountToCString(high)),
				 errhint("Limits must include the current balance; move funds first.")));
}

/*
 * ledger_create_account - create an account in an asset; returns its id.
 */
PG_FUNCTION_INFO_V1(ledger_create_account);
Datum
ledger_create_account(PG_FUNCTION_ARGS)
{
	static LedgerStatement asset_exists = LEDGER_STATEMENT(
		"SELECT 1 FROM ledger.assets WHERE code OPERATOR(pg_catalog.=) $1 FOR KEY SHARE", "t");
	static LedgerStatement insert_account = LEDGER_STATEMENT(
		"INSERT INTO ledger.accounts (asset, name, normal_balance, min_balance,"
		" max_balance, metadata, created_at, updated_at)"
		" VALUES ($1, $2, $3, $4, $5, $6, pg_catalog.now(), pg_catalog.now())"
		" ON CONFLICT (name) DO NOTHING RETURNING id", "tttaaj");
	LedgerAccount account;
	char	   *normal_balance;
	Datum		values[6];
	char		nulls[6];
	bool		isnull;
	int64		id;

	CheckArgNotNull(fcinfo, 0, "asset");
	CheckArgNotNull(fcinfo, 2, "normal_balance");
	CheckMetadata(fcinfo, 5);

	if (!PG_ARGISNULL(1))
	{
		char	   *name = TextDatumGetCString(PG_GETARG_DATUM(1));
		int			len = pg_mbstrlen(name);

		if (len < 1 || len > LEDGER_NAME_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_INVALID_NAME),
					 errmsg("account name must be 1 to %d characters long", LEDGER_NAME_MAX)));
	}

	normal_balance = TextDatumGetCString(PG_GETARG_DATUM(2));
	if (strcmp(normal_balance, "credit") != 0 && strcmp(normal_balance, "debit") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INVALID_NORMAL_BALANCE),
				 errmsg("invalid normal balance \"%s\"", normal_balance),
				 errhint("Use 'credit' for liabilities such as user wallets, 'debit' for assets such as cash.")));

	/* The new account's balance is zero: its limits must include zero. */
	memset(&account, 0, sizeof(account));
	account.credit_normal = normal_balance[0] == 'c';
	account.has_min = !PG_ARGISNULL(3);
	account.min_balance = account.has_min ? PG_GETARG_AMOUNT(3) : 0;
	account.has_max = !PG_ARGISNULL(4);
	account.max_balance = account.has_max ? PG_GETARG_AMOUNT(4) : 0;
	check_limits(&account);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	values[0] = PG_GETARG_DATUM(0);
	LedgerExecute(&asset_exists, values, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_UNKNOWN_ASSET),
				 errmsg("asset \"%s\" does not exist", TextDatumGetCString(values[0])),
				 errhint("Create it with ledger.create_asset().")));

	for (int i = 0; i < 6; i++)
	{
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	LedgerExecuteWrite(&insert_account, values, nulls, 0);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_DUPLICATE_ACCOUNT),
				 errmsg("account name \"%s\" is already taken",
						TextDatumGetCString(PG_GETARG_DATUM(1)))));
	id = DatumGetInt64(LedgerGetColumn(0, 1, &isnull));

	SPI_finish();
	PG_RETURN_INT64(id);
}

/*
 * ledger_account_id - the id of the account with a given name.
 */
PG_FUNCTION_INFO_V1(ledger_account_id);
Datum
ledger_account_id(PG_FUNCTION_ARGS)
{
	static LedgerStatement find_account = LEDGER_STATEMENT(
		"SELECT id FROM ledger.accounts WHERE name OPERATOR(pg_catalog.=) $1", "t");
	Datum		name;
	bool		isnull;
	int64		id;

	CheckArgNotNull(fcinfo, 0, "name");
	name = PG_GETARG_DATUM(0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	LedgerQuery(&find_account, &name, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_UNKNOWN_ACCOUNT),
				 errmsg("account \"%s\" does not exist", TextDatumGetCString(name))));
	id = DatumGetInt64(LedgerGetColumn(0, 1, &isnull));
	SPI_finish();
	PG_RETURN_INT64(id);
}

/*
 * ledger_set_account_limits - set min_balance and max_balance (NULL:
 * unbounded).
 *
 * New limits must include the account's current balances, available and
 * with pending inflows: a limit that the balance already breaks would make
 * every later check ambiguous, so it is refused rather than half-applied.
 */
PG_FUNCTION_INFO_V1(ledger_set_account_limits);
Datum
ledger_set_account_limits(PG_FUNCTION_ARGS)
{
	LedgerAccount account;
	int64		id;

	LedgerAccount with_expiry;
	int64		missing;
	TimestampTz now = GetCurrentTimestamp();

	CheckArgNotNull(fcinfo, 0, "account_id");
	id = PG_GETARG_INT64(0);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	LockAccountState(id);

	/*
	 * The new limits are in place before the account is brought up to date
	 * and saved: an account whose queue or holds its old limits cannot take
	 * (only reachable by editing the tables behind the guards) is repaired by
	 * limits that include its balance, never stuck behind the old ones.
	 */
	if (!LockAccountRows(&id, 1, &account, &missing))
		ReportUnknownAccount(id);
	account.has_min = !PG_ARGISNULL(1);
	account.min_balance = account.has_min ? PG_GETARG_AMOUNT(1) : 0;
	account.has_max = !PG_ARGISNULL(2);
	account.max_balance = account.has_max ? PG_GETARG_AMOUNT(2) : 0;
	if (account.hot)
		(void) ApplyHotEntries(&account);
	with_expiry = account;
	ExcludeExpiredHolds(&with_expiry, now);
	check_limits(&with_expiry);
	if (account.holds_expire_at <= now)
		ExpireDueHolds(&account, 1, now);
	SaveAccount(&account);
	SPI_finish();
	PG_RETURN_VOID();
}

/* Set an account's closed flag under its lock. */
static void
set_account_closed(int64 id, bool closed)
{
	LedgerAccount account;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	LockAccountState(id);
	LockAccounts(&id, 1, &account);
	if (closed && (account.debits_pending != 0 || account.credits_pending != 0))
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_PENDING_HOLDS),
				 errmsg("account %lld has pending holds", (long long) id),
				 errdetail("Pending debits are %s and pending credits are %s.",
						   AmountToCString(account.debits_pending),
						   AmountToCString(account.credits_pending)),
				 errhint("Capture or release its holds before closing it.")));
	if (account.closed != closed)
	{
		account.closed = closed;
		SaveAccount(&account);
	}
	SPI_finish();
}

/*
 * ledger_close_account - close an account; closing a closed one does nothing.
 */
PG_FUNCTION_INFO_V1(ledger_close_account);
Datum
ledger_close_account(PG_FUNCTION_ARGS)
{
	CheckArgNotNull(fcinfo, 0, "account_id");
	set_account_closed(PG_GETARG_INT64(0), true);
	PG_RETURN_VOID();
}

/*
 * ledger_reopen_account - reopen an account; reopening an open one does
 * nothing.
 */
PG_FUNCTION_INFO_V1(ledger_reopen_account);
Datum
ledger_reopen_account(PG_FUNCTION_ARGS)
{
	CheckArgNotNull(fcinfo, 0, "account_id");
	set_account_closed(PG_GETARG_INT64(0), false);
	PG_RETURN_VOID();
}

/*
 * ledger_balance - one row: posted, pending debits, pending credits and
 * available balance of an account, as of the caller's snapshot.
 */
PG_FUNCTION_INFO_V1(ledger_balance);
Datum
ledger_balance(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;

	if (SRF_IS_FIRSTCALL())
	{
		Datum		id;
		LedgerAccount account;
		TupleDesc	desc;
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		MemoryContext oldcontext;

		CheckArgNotNull(fcinfo, 0, "account_id");
		id = PG_GETARG_DATUM(0);
		funcctx = SRF_FIRSTCALL_INIT();
		oldcontext = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (!ReadAccountRow(DatumGetInt64(id), true, &account))
			ReportUnknownAccount(DatumGetInt64(id));
		ExcludeExpiredHolds(&account, GetCurrentTimestamp());
		if (account.hot)
			AddQueuedPostings(&account);
		SPI_finish();

		values[0] = AmountGetDatum(AccountPostedBalance(&account));
		values[1] = AmountGetDatum(account.debits_pending);
		values[2] = AmountGetDatum(account.credits_pending);
		values[3] = AmountGetDatum(AccountAvailableBalance(&account));
		funcctx->user_fctx = heap_form_tuple(BlessTupleDesc(desc), values, nulls);
		funcctx->max_calls = 1;
		MemoryContextSwitchTo(oldcontext);
	}

	funcctx = SRF_PERCALL_SETUP();
	if (funcctx->call_cntr < funcctx->max_calls)
		SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum((HeapTuple) funcctx->user_fctx));
	SRF_RETURN_DONE(funcctx);
}
