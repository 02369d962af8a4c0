/*
 * rules.c - the rules every movement obeys on an account, in memory.
 *
 * An account's balances are four running sums kept on its row.  A movement
 * reads the row under its lock, changes the sums here (each change
 * overflow-checked), checks the account's limits and state here, and the
 * pipeline (posting.c) writes the row back once.  Nothing here reads or
 * writes a table: these are the rules themselves, shared by every kind of
 * movement, and by the guard trigger that re-checks every row written.
 */
#include "ledger.h"

#include "access/xact.h"

/*
 * A queued posting is added to the account's sums only when applied, with
 * no chance to refuse it then.  Bounding both the posting and the sums it
 * joins keeps any realistic queue (under 2^30 postings) from overflowing
 * them; anything bigger takes the locked path, where overflow is an error.
 */
#define HOT_MAX_AMOUNT		(((Amount) 1) << 96)
#define HOT_MAX_TOTAL		(((Amount) 1) << 120)

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

/* Report that an account's balance column would leave the amount range. */
static void
balance_overflow(const LedgerAccount *account)
{
	ereport(ERROR,
			(errcode(ERRCODE_LEDGER_BALANCE_OVERFLOW),
			 errmsg("balance of account %lld would overflow", (long long) account->id),
			 errdetail("The account's lifetime total of debits or credits, or its balance, would leave the range of ledger.amount.")));
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
static Amount
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
	AccountAddPosted(account, side, amount);
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
static void
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
 * CheckLimitsIncludeBalance - a pair of limits in order, and including the
 * account's balances: a limit that the balance already breaks would make
 * every later check ambiguous, so it is refused rather than half-applied.
 * An account id of 0 is a new account, whose balance is zero.
 */
void
CheckLimitsIncludeBalance(const LedgerAccount *account)
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
 * CheckTransferRequest - the checks that need no lock: a positive amount,
 * two different accounts.
 */
void
CheckTransferRequest(const TransferRequest *req)
{
	CheckPositiveAmount(req->amount);
	if (req->debit_account_id == req->credit_account_id)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_SAME_ACCOUNT),
				 errmsg("cannot move money from account %lld to itself",
						(long long) req->debit_account_id)));
}

/*
 * CheckTransferAccounts - the checks that need the locked rows: both
 * accounts open and in the same asset.
 */
void
CheckTransferAccounts(const LedgerAccount *debit, const LedgerAccount *credit)
{
	CheckAccountOpen(debit);
	CheckAccountOpen(credit);
	if (strcmp(debit->asset, credit->asset) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_ASSET_MISMATCH),
				 errmsg("accounts %lld and %lld hold different assets",
						(long long) debit->id, (long long) credit->id),
				 errdetail("Account %lld holds %s and account %lld holds %s.",
						   (long long) debit->id, debit->asset,
						   (long long) credit->id, credit->asset),
				 errhint("Move value between assets with one transfer per asset through exchange accounts.")));
}

/*
 * CheckSameBook - a movement stays inside one book.  Checked before
 * anything else of a movement, replays included: no call can ever have
 * made a movement across books, so none can be replayed either.
 */
void
CheckSameBook(const LedgerAccount *debit, const LedgerAccount *credit)
{
	if (debit->book_id != credit->book_id)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_BOOK_MISMATCH),
				 errmsg("accounts %lld and %lld belong to different books",
						(long long) debit->id, (long long) credit->id),
				 errdetail("Account %lld belongs to book %lld and account %lld to book %lld.",
						   (long long) debit->id, (long long) debit->book_id,
						   (long long) credit->id, (long long) credit->book_id),
				 errhint("Money moves only within a book; move it between books through an account of each book and a transfer in each.")));
}

/*
 * HotPostingAllowed - may this posting on a hot account read without its
 * row lock be queued?  It must move the balance away from every bound the
 * account has, so that no posting still queued or in flight can make a
 * check on the applied balance too generous; a closed account, a huge
 * amount or a transaction snapshot that could predate a change of the
 * account takes the locked path (operations.md, "Hot accounts").
 */
bool
HotPostingAllowed(const LedgerAccount *account, LedgerSide side, Amount amount)
{
	bool		lowers = (side == LEDGER_DEBIT) == account->credit_normal;

	if (!account->hot || account->closed || IsolationUsesXactSnapshot())
		return false;
	/* Velocity limits count each movement under the row lock. */
	if (VelocityHasSide(account->velocity, side))
		return false;
	if (amount > HOT_MAX_AMOUNT ||
		account->debits_posted > HOT_MAX_TOTAL ||
		account->credits_posted > HOT_MAX_TOTAL)
		return false;
	return lowers ? !account->has_min : !account->has_max;
}

/*
 * CheckAccountRow - the invariants of an account's balance columns, checked
 * on every row written (by guard.c's trigger) and on an account that its
 * hot queue has just brought up to date, before anything else moves it.
 */
void
CheckAccountRow(const LedgerAccount *account)
{
	Amount		low;
	Amount		high;

	if (account->debits_posted < 0 || account->credits_posted < 0 ||
		account->debits_pending < 0 || account->credits_pending < 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_BALANCE_OVERFLOW),
				 errmsg("balance columns of account %lld cannot be negative",
						(long long) account->id)));

	low = AccountAvailableBalance(account);
	high = AccountCeilingBalance(account);
	if (account->has_min && low < account->min_balance)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INSUFFICIENT_FUNDS),
				 errmsg("account %lld would fall below its minimum balance",
						(long long) account->id),
				 errdetail("The available balance would be %s; the minimum balance is %s.",
						   AmountToCString(low), AmountToCString(account->min_balance))));
	if (account->has_max && high > account->max_balance)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_LIMIT_EXCEEDED),
				 errmsg("account %lld would exceed its maximum balance",
						(long long) account->id),
				 errdetail("The balance with pending credits would be %s; the maximum balance is %s.",
						   AmountToCString(high), AmountToCString(account->max_balance))));
}
