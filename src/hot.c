/*
 * hot.c - hot accounts: postings that do not wait for the account's lock.
 *
 * A platform's fee or treasury account takes part in nearly every payment.
 * Locked row by row, it turns every session into a queue behind one row.
 * An account set hot (ledger.set_account_hot) is not locked by
 * ledger.transfer when the posting cannot break any of its rules: the
 * posting goes to ledger.hot_entries, a queue of entries not yet applied,
 * and the rest of the transfer (the other account's entry, its lock and its
 * checks) happens as usual.  Later, under the account's row lock, the queue
 * is applied in id order: each queued posting becomes an ordinary entry with
 * its version, running balance and chain hash, and leaves the queue in the
 * same transaction.  Anything that locks the account applies its queue
 * first, so a locked account is always complete.
 *
 * Which postings may skip the lock: one that moves the balance away from
 * every bound the account has.  An account with a minimum balance takes
 * credits unlocked (for a credit-normal account), and its debits go the
 * ordinary way, under the lock, against the applied balance; postings still
 * queued or in flight only raise it, so the check is never too generous.
 * Symmetrically for a maximum balance.  Closed accounts, amounts above
 * 2^96 minor units, and transactions at REPEATABLE READ or SERIALIZABLE
 * (whose snapshot could predate a change of the account) take the ordinary
 * path too.
 *
 * The account's state must not change under a posting that read it without
 * the row lock: such postings hold the account's hot lock in share mode,
 * and every change of its state, limits or hot mode takes it exclusively
 * first (lock.c).  Queueing a posting, and applying the queue of an account
 * that is locked, are steps of the posting pipeline (posting.c) and rules
 * of the account (HotPostingAllowed, rules.c); this file holds the two
 * calls that concern hot mode itself.
 */
#include "ledger.h"

#include "posting.h"

#include "miscadmin.h"

static LedgerStatement hot_accounts_with_queue = LEDGER_STATEMENT(
	"SELECT a.id FROM ledger.accounts AS a WHERE a.hot"
	"   AND EXISTS (SELECT 1 FROM ledger.hot_entries AS q"
	"                WHERE q.book_id OPERATOR(pg_catalog.=) a.book_id"
	"                  AND q.account_id OPERATOR(pg_catalog.=) a.id)"
	" ORDER BY a.id", "");

/*
 * ledger_set_account_hot - switch an account's hot mode on or off.
 *
 * Switching off applies the queue, so only hot accounts ever have queued
 * postings.  Waits for postings in flight on the account.
 */
PG_FUNCTION_INFO_V1(ledger_set_account_hot);
Datum
ledger_set_account_hot(PG_FUNCTION_ARGS)
{
	AccountRequest a = {.change = CHANGE_HOT};

	CheckArgNotNull(fcinfo, 0, "account_id");
	CheckArgNotNull(fcinfo, 1, "hot");
	a.hot = PG_GETARG_BOOL(1);
	PostingChangeAccount(PG_GETARG_INT64(0), &a);
	PG_RETURN_VOID();
}

/*
 * ledger_apply_hot_entries - apply the queued postings of one account, or
 * of every hot account that has some; returns how many were applied.
 *
 * Waits for each account's row lock in turn, in ascending id order.
 */
PG_FUNCTION_INFO_V1(ledger_apply_hot_entries);
Datum
ledger_apply_hot_entries(PG_FUNCTION_ARGS)
{
	int64		applied = 0;
	int64	   *ids;
	int			n;

	LedgerConnect();
	if (!PG_ARGISNULL(0))
	{
		n = 1;
		ids = palloc(sizeof(int64));
		ids[0] = PG_GETARG_INT64(0);
	}
	else
	{
		LedgerExecute(&hot_accounts_with_queue, NULL, NULL, 0);
		n = (int) SPI_processed;
		ids = palloc(sizeof(int64) * Max(n, 1));
		for (int i = 0; i < n; i++)
		{
			bool		isnull;

			ids[i] = DatumGetInt64(LedgerGetColumn(i, 1, &isnull));
		}
	}

	for (int i = 0; i < n; i++)
	{
		Posting		p;

		CHECK_FOR_INTERRUPTS();
		memset(&p, 0, sizeof(p));
		p.accounts = &ids[i];
		p.naccounts = 1;
		/* An account gone meanwhile has no queue. */
		p.missing_ok = PG_ARGISNULL(0);
		PostingRun(&p);
		applied += p.postings_applied;
	}
	SPI_finish();
	PG_RETURN_INT64(applied);
}
