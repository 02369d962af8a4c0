/*
 * posting.h - what the API functions hand the posting pipeline (posting.c).
 *
 * A call describes its movements (transfers, holds, captures, releases,
 * reversals, changes of an account) as an array of Movement, and the
 * accounts it must lock for them, and PostingRun does the rest: locks,
 * brings the accounts up to date, finds replays, checks every rule, plans
 * the rows, chains and writes them.
 */
#ifndef LEDGER_POSTING_H
#define LEDGER_POSTING_H

#include "ledger.h"

typedef enum MovementKind
{
	MOVE_TRANSFER,				/* ledger.transfer, an item of a batch */
	MOVE_REVERSAL,				/* ledger.reverse: a transfer back */
	MOVE_HOLD,					/* ledger.hold: a reservation */
	MOVE_CAPTURE,				/* ledger.capture: the hold's reservation
								 * released and a transfer posted */
	MOVE_RELEASE,				/* ledger.release */
	MOVE_ACCOUNT,				/* a change of an account (AccountChange) */
	MOVE_CREATE_ACCOUNT			/* ledger.create_account */
} MovementKind;

typedef enum AccountChange
{
	CHANGE_LIMITS, CHANGE_CLOSE, CHANGE_REOPEN, CHANGE_HOT,
	CHANGE_ADD_VELOCITY, CHANGE_DROP_VELOCITY
} AccountChange;

/* A hold row as the pipeline locks and resolves it. */
typedef struct HoldRow
{
	int64		id;
	int64		debit_account_id;
	int64		credit_account_id;
	Amount		amount;
	char		status[16];
	bool		debit_reserved;
	bool		credit_reserved;
	bool		has_expiry;
	TimestampTz expires_at;
	Datum		description;
	bool		description_null;
	Datum		metadata;
	bool		metadata_null;
	int64		book_id;
	int64	   *velocity_marks;	/* the velocity limits that counted it:
								 * pairs of a rule and its bucket */
	int			nvelocity_marks;
} HoldRow;

/* A change of an account, or a new one: what the call asks for. */
typedef struct AccountRequest
{
	AccountChange change;
	bool		has_min;
	Amount		min_balance;
	bool		has_max;
	Amount		max_balance;
	bool		hot;
	bool		credit_normal;
	int64		book_id;
	Datum		asset;
	Datum		name;
	bool		name_null;
	VelocityRule *velocity;		/* CHANGE_ADD_VELOCITY: the rule; DROP: its
								 * id */
} AccountRequest;

typedef struct Movement
{
	MovementKind kind;

	/*
	 * Transfers, reversals, holds, captures: the accounts, amount, key,
	 * description and metadata; a capture's hold_id, a reversal's
	 * reverses_transfer_id.  A change of an account names it as
	 * debit_account_id; a new account's metadata is req's.
	 */
	TransferRequest req;
	bool		amount_given;	/* capture, reversal: false means all that
								 * is held or left */
	bool		has_expiry;		/* hold */
	TimestampTz expires_at;
	TimestampTz now;			/* hold, capture, release: the call's time */
	Amount		original_amount;	/* reversal: what the transfer moved */

	AccountRequest *account;	/* MOVE_ACCOUNT, MOVE_CREATE_ACCOUNT */

	/* Results */
	int64		id;				/* the transfer, hold or account made or
								 * replayed */
	bool		created;		/* made by this call, not a replay */

	/* The pipeline's own */
	int64		book_id;		/* of its accounts, or of the new account */
	int			same_as;		/* batch: an earlier item with the same key */
	int			debit;			/* positions among the run's accounts */
	int			credit;
	bool		debit_queued;	/* the side is queued for a hot account */
	bool		credit_queued;
	bool		posts;			/* writes a transfer */
	TimestampTz created_at;		/* of the transfer it writes */
	HoldRow    *hold;			/* capture, release: the hold as locked */
	int64	   *velocity_marks; /* hold: the velocity limits that counted it */
	int			nvelocity_marks;
} Movement;

/* A call of the pipeline. */
typedef struct Posting
{
	Movement   *items;
	int			nitems;
	bool		batch;			/* ledger.transfer_batch: errors name their
								 * item, keys are looked up in one query, a
								 * key taken meanwhile is 40001 */
	bool		may_queue;		/* a single ledger.transfer: a hot side may
								 * be queued without its row lock */

	/* Accounts to lock and bring up to date besides the items' own */
	const int64 *accounts;
	int			naccounts;
	bool		skip_locked;	/* lock them only if free */
	bool		missing_ok;		/* skip those that do not exist */

	/* Results */
	int			current;		/* batch: the item being processed, for
								 * error messages; -1: none */
	int64		holds_released; /* expired holds whose reservations the run
								 * released */
	int64		postings_applied;	/* queued hot postings it applied */
	bool		locked_all;		/* skip_locked: every account was free */
} Posting;

extern void PostingRun(Posting *p);
extern void PostingRunOne(Movement *m);
extern ArrayType *PostingRunBatch(Posting *p);
extern void PostingChangeAccount(int64 account_id, AccountRequest *a);

#endif							/* LEDGER_POSTING_H */
