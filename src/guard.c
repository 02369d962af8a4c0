/*
 * guard.c - triggers that keep the ledger's tables in the ledger's hands.
 *
 * The tables are readable for reporting but written only by the extension's
 * functions.  Privileges already keep other roles out; these triggers also
 * stop the table owner and superusers working by hand, so that history stays
 * append-only and a balance never changes without its entries.  A superuser
 * can still switch triggers off (session_replication_role = replica, as a
 * restore does); ledger.verify() is the answer to that.
 */
#include "ledger.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/rel.h"

/* Set by LedgerExecuteWrite while one of our own statements runs. */
bool		ledger_write_in_progress = false;

/* Columns of ledger.accounts, in table order. */
enum
{
	Anum_accounts_id = 1,
	Anum_accounts_asset,
	Anum_accounts_name,
	Anum_accounts_normal_balance,
	Anum_accounts_min_balance,
	Anum_accounts_max_balance,
	Anum_accounts_closed,
	Anum_accounts_metadata,
	Anum_accounts_created_at,
	Anum_accounts_debits_pending,
	Anum_accounts_credits_pending,
	Anum_accounts_holds_expire_at,
	Anum_accounts_debits_posted,
	Anum_accounts_credits_posted,
	Anum_accounts_version,
	Anum_accounts_updated_at,
	Anum_accounts_entry_hash,
	Anum_accounts_hot
};

/* Names of ledger.accounts' columns, in the order of the Anum_ constants. */
static const char *const accounts_columns[] = {
	"id", "asset", "name", "normal_balance", "min_balance", "max_balance",
	"closed", "metadata", "created_at", "debits_pending", "credits_pending",
	"holds_expire_at", "debits_posted", "credits_posted", "version",
	"updated_at", "entry_hash", "hot", NULL
};

/* Columns of ledger.hold_records, in table order. */
enum
{
	Anum_holds_id = 1,
	Anum_holds_debit_account_id,
	Anum_holds_credit_account_id,
	Anum_holds_amount,
	Anum_holds_expires_at,
	Anum_holds_idempotency_key,
	Anum_holds_description,
	Anum_holds_metadata,
	Anum_holds_created_at,		/* last of the immutable facts */
	Anum_holds_status,
	Anum_holds_captured_amount,
	Anum_holds_capture_transfer_id,
	Anum_holds_resolved_at,		/* last of the resolution */
	Anum_holds_debit_reserved,
	Anum_holds_credit_reserved
};

/* Names of ledger.hold_records' columns, in the order of the Anum_ constants. */
static const char *const holds_columns[] = {
	"id", "debit_account_id", "credit_account_id", "amount", "expires_at",
	"idempotency_key", "description", "metadata", "created_at", "status",
	"captured_amount", "capture_transfer_id", "resolved_at", "debit_reserved",
	"credit_reserved", NULL
};

/*
 * check_layout - the guards read columns by position; a table whose columns
 * are not where this library expects them (a library and an extension
 * script of different versions) is refused instead of misread.  Checked
 * once per table and backend.
 */
static void
check_layout(Relation rel, const char *const *columns, Oid *checked)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			n = 0;

	if (*checked == RelationGetRelid(rel))
		return;
	for (; columns[n]; n++)
	{
		if (n >= desc->natts ||
			strcmp(NameStr(TupleDescAttr(desc, n)->attname), columns[n]) != 0)
			break;
	}
	if (columns[n] != NULL || desc->natts != n)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" does not have the columns this version of the ledger library expects",
						RelationGetRelationName(rel)),
				 errhint("Run ALTER EXTENSION ledger UPDATE, or install the library that matches the extension's version.")));
	*checked = RelationGetRelid(rel);
}

/* Columns of ledger.assets that accounts depend on. */
#define Anum_assets_code	1
#define Anum_assets_scale	2

/* The trigger's operation, for messages. */
static const char *
trigger_operation(TriggerData *trigdata)
{
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		return "insert into";
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		return "update";
	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		return "delete from";
	return "truncate";
}

/* Reject the statement the trigger fired for. */
static void
reject_direct_write(TriggerData *trigdata, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_LEDGER_PROTECTED_TABLE),
			 errmsg("cannot %s table \"%s\"", trigger_operation(trigdata),
					RelationGetRelationName(trigdata->tg_relation)),
			 errdetail("The ledger's tables are written only by the ledger functions."),
			 errhint("%s", hint)));
}

/*
 * Reject being called other than as a trigger on one of the tables the
 * guard was written for.  The guards read columns by position, so fired on
 * any other table they would misread it; tables is a NULL-terminated list
 * of names in the extension's schema.
 */
static TriggerData *
check_trigger_call(FunctionCallInfo fcinfo, const char *name,
				   const char *const *tables)
{
	TriggerData *trigdata;
	Relation	rel;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by trigger manager", name)));
	trigdata = (TriggerData *) fcinfo->context;
	rel = trigdata->tg_relation;
	if (RelationGetNamespace(rel) == LedgerNamespaceOid())
	{
		for (const char *const *t = tables; *t; t++)
			if (strcmp(RelationGetRelationName(rel), *t) == 0)
				return trigdata;
	}
	ereport(ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg("function \"%s\" cannot guard table \"%s\"",
					name, RelationGetRelationName(rel)),
			 errdetail("It guards only the ledger's own tables.")));
	return NULL;				/* keep compiler quiet */
}

static const char *const history_tables[] = {"transfers", "entries", "accounts", "hold_records", "hot_entries", NULL};
static const char *const accounts_table[] = {"accounts", NULL};
static const char *const assets_table[] = {"assets", NULL};
static const char *const holds_table[] = {"hold_records", NULL};

/*
 * ledger_guard_history - statement trigger on the append-only tables.
 *
 * INSERT passes only from inside the ledger functions; UPDATE, DELETE and
 * TRUNCATE never pass, except the ledger functions' DELETE from a hot
 * account's queue (hot.c).
 */
PG_FUNCTION_INFO_V1(ledger_guard_history);
Datum
ledger_guard_history(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = check_trigger_call(fcinfo, "ledger.guard_history",
											   history_tables);

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) && ledger_write_in_progress)
		return PointerGetDatum(NULL);

	/* A hot account's queue is emptied as its postings become entries. */
	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) && ledger_write_in_progress &&
		strcmp(RelationGetRelationName(trigdata->tg_relation), "hot_entries") == 0)
		return PointerGetDatum(NULL);

	if (strcmp(RelationGetRelationName(trigdata->tg_relation), "accounts") == 0)
		reject_direct_write(trigdata,
							"Accounts are never deleted; close one with ledger.close_account().");
	reject_direct_write(trigdata,
						"History is append-only: correct a transfer with a reversing transfer.");
	return PointerGetDatum(NULL);	/* keep compiler quiet */
}

/* Is column attnum the same in both tuples? */
static bool
column_unchanged(HeapTuple oldtuple, HeapTuple newtuple, TupleDesc desc, int attnum)
{
	Form_pg_attribute attr = TupleDescAttr(desc, attnum - 1);
	bool		oldnull;
	bool		newnull;
	Datum		oldval = heap_getattr(oldtuple, attnum, desc, &oldnull);
	Datum		newval = heap_getattr(newtuple, attnum, desc, &newnull);

	if (oldnull || newnull)
		return oldnull == newnull;
	return datumIsEqual(oldval, newval, attr->attbyval, attr->attlen);
}

/* Fetch an amount column of an accounts tuple; *isnull says whether NULL. */
static Amount
tuple_amount(HeapTuple tuple, TupleDesc desc, int attnum, bool *isnull)
{
	Datum		d = heap_getattr(tuple, attnum, desc, isnull);

	return *isnull ? 0 : DatumGetAmount(d);
}

/*
 * check_account_row - the invariants of an account row, whoever wrote it.
 *
 * The C code checks the same rules before it writes; this is the backstop
 * that no later code path can bypass.
 */
static void
check_account_row(HeapTuple tuple, TupleDesc desc)
{
	LedgerAccount account;
	bool		isnull;
	Amount		low;
	Amount		high;

	memset(&account, 0, sizeof(account));
	account.id = DatumGetInt64(heap_getattr(tuple, Anum_accounts_id, desc, &isnull));
	account.credit_normal =
		strcmp(TextDatumGetCString(heap_getattr(tuple, Anum_accounts_normal_balance,
												desc, &isnull)), "credit") == 0;
	account.min_balance = tuple_amount(tuple, desc, Anum_accounts_min_balance, &isnull);
	account.has_min = !isnull;
	account.max_balance = tuple_amount(tuple, desc, Anum_accounts_max_balance, &isnull);
	account.has_max = !isnull;
	account.debits_posted = tuple_amount(tuple, desc, Anum_accounts_debits_posted, &isnull);
	account.credits_posted = tuple_amount(tuple, desc, Anum_accounts_credits_posted, &isnull);
	account.debits_pending = tuple_amount(tuple, desc, Anum_accounts_debits_pending, &isnull);
	account.credits_pending = tuple_amount(tuple, desc, Anum_accounts_credits_pending, &isnull);

	if (account.debits_posted < 0 || account.credits_posted < 0 ||
		account.debits_pending < 0 || account.credits_pending < 0)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_BALANCE_OVERFLOW),
				 errmsg("balance columns of account %lld cannot be negative",
						(long long) account.id)));

	low = AccountAvailableBalance(&account);
	high = AccountCeilingBalance(&account);
	if (account.has_min && low < account.min_balance)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_INSUFFICIENT_FUNDS),
				 errmsg("account %lld would fall below its minimum balance",
						(long long) account.id),
				 errdetail("The available balance would be %s; the minimum balance is %s.",
						   AmountToCString(low), AmountToCString(account.min_balance))));
	if (account.has_max && high > account.max_balance)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_LIMIT_EXCEEDED),
				 errmsg("account %lld would exceed its maximum balance",
						(long long) account.id),
				 errdetail("The balance with pending credits would be %s; the maximum balance is %s.",
						   AmountToCString(high), AmountToCString(account.max_balance))));
}

/*
 * check_direct_edit - a name or metadata set by hand obeys the rules that
 * ledger.create_account() applies to them.
 */
static void
check_direct_edit(HeapTuple tuple, TupleDesc desc)
{
	bool		isnull;
	Datum		d;

	d = heap_getattr(tuple, Anum_accounts_name, desc, &isnull);
	if (!isnull)
	{
		int			len = pg_mbstrlen(TextDatumGetCString(d));

		if (len < 1 || len > LEDGER_NAME_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_LEDGER_INVALID_NAME),
					 errmsg("account name must be 1 to %d characters long", LEDGER_NAME_MAX)));
	}
	d = heap_getattr(tuple, Anum_accounts_metadata, desc, &isnull);
	if (!isnull)
		CheckMetadataDatum(d);
}

/*
 * ledger_guard_accounts - row trigger on ledger.accounts.
 *
 * Outside the ledger functions only name and metadata may change; inside
 * them anything may, as long as the row still obeys its limits.
 */
PG_FUNCTION_INFO_V1(ledger_guard_accounts);
Datum
ledger_guard_accounts(PG_FUNCTION_ARGS)
{
	static Oid	checked = InvalidOid;
	TriggerData *trigdata = check_trigger_call(fcinfo, "ledger.guard_accounts",
											   accounts_table);
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	HeapTuple	newtuple;

	check_layout(trigdata->tg_relation, accounts_columns, &checked);

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		if (!ledger_write_in_progress)
			reject_direct_write(trigdata, "Use ledger.create_account().");
		newtuple = trigdata->tg_trigtuple;
	}
	else
	{
		newtuple = trigdata->tg_newtuple;
		if (!ledger_write_in_progress)
		{
			for (int attnum = 1; attnum <= desc->natts; attnum++)
			{
				Form_pg_attribute attr = TupleDescAttr(desc, attnum - 1);

				if (attr->attisdropped || attnum == Anum_accounts_name ||
					attnum == Anum_accounts_metadata)
					continue;
				if (!column_unchanged(trigdata->tg_trigtuple, newtuple, desc, attnum))
					ereport(ERROR,
							(errcode(ERRCODE_LEDGER_PROTECTED_TABLE),
							 errmsg("cannot change column \"%s\" of table \"accounts\" directly",
									NameStr(attr->attname)),
							 errdetail("Only name and metadata may be updated directly."),
							 errhint("Balances change through ledger.transfer(); limits through ledger.set_account_limits(); state through ledger.close_account(), ledger.reopen_account() and ledger.set_account_hot().")));
			}
			check_direct_edit(newtuple, desc);
			return PointerGetDatum(newtuple);
		}
	}

	check_account_row(newtuple, desc);
	return PointerGetDatum(newtuple);
}

/*
 * ledger_guard_assets - row trigger on ledger.assets.
 *
 * Assets are created by ledger.create_asset(); an asset that accounts use
 * can be neither changed nor deleted, since its scale gives their amounts
 * meaning.
 */
PG_FUNCTION_INFO_V1(ledger_guard_assets);
Datum
ledger_guard_assets(PG_FUNCTION_ARGS)
{
	static LedgerStatement asset_in_use = LEDGER_STATEMENT(
		"SELECT 1 FROM ledger.accounts WHERE asset OPERATOR(pg_catalog.=) $1 LIMIT 1", "t");
	TriggerData *trigdata = check_trigger_call(fcinfo, "ledger.guard_assets",
											   assets_table);
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	HeapTuple	oldtuple = trigdata->tg_trigtuple;
	bool		isnull;
	Datum		code;
	bool		in_use;

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		if (!ledger_write_in_progress)
			reject_direct_write(trigdata, "Use ledger.create_asset().");
		return PointerGetDatum(trigdata->tg_trigtuple);
	}

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		HeapTuple	newtuple = trigdata->tg_newtuple;

		if (column_unchanged(oldtuple, newtuple, desc, Anum_assets_code) &&
			column_unchanged(oldtuple, newtuple, desc, Anum_assets_scale))
			return PointerGetDatum(newtuple);
	}

	code = heap_getattr(oldtuple, Anum_assets_code, desc, &isnull);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	LedgerExecute(&asset_in_use, &code, NULL, 1);
	in_use = SPI_processed > 0;
	SPI_finish();

	if (in_use)
		ereport(ERROR,
				(errcode(ERRCODE_LEDGER_ASSET_IN_USE),
				 errmsg("asset \"%s\" is in use", TextDatumGetCString(code)),
				 errdetail("Accounts are kept in this asset, so its code and scale cannot change and it cannot be deleted.")));

	return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
						   trigdata->tg_newtuple : oldtuple);
}

/* Report a hold update that breaks the hold's life cycle. */
static void
reject_hold_change(int64 id, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_LEDGER_PROTECTED_TABLE),
			 errmsg("cannot change hold %lld this way", (long long) id),
			 errdetail("%s", detail)));
}

/*
 * ledger_guard_holds - row trigger on ledger.hold_records.
 *
 * Holds are inserted by ledger.hold() only.  An update, by the ledger
 * functions only, may move the status from 'pending' to a final status
 * together with its resolution columns, and may release a side's
 * reservation (true to false, never back).  The facts of a hold, and a
 * resolution once recorded, never change.
 */
PG_FUNCTION_INFO_V1(ledger_guard_holds);
Datum
ledger_guard_holds(PG_FUNCTION_ARGS)
{
	static Oid	checked = InvalidOid;
	TriggerData *trigdata = check_trigger_call(fcinfo, "ledger.guard_holds",
											   holds_table);
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	HeapTuple	oldtuple = trigdata->tg_trigtuple;
	HeapTuple	newtuple = trigdata->tg_newtuple;
	bool		isnull;
	int64		id;
	char	   *oldstatus;
	char	   *newstatus;

	check_layout(trigdata->tg_relation, holds_columns, &checked);

	if (!ledger_write_in_progress)
		reject_direct_write(trigdata, "Holds change through ledger.capture(), ledger.release() and ledger.expire_holds().");
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		return PointerGetDatum(oldtuple);

	id = DatumGetInt64(heap_getattr(oldtuple, Anum_holds_id, desc, &isnull));
	for (int attnum = Anum_holds_id; attnum <= Anum_holds_created_at; attnum++)
		if (!column_unchanged(oldtuple, newtuple, desc, attnum))
			reject_hold_change(id, "The accounts, amount, expiry, key, description, metadata and creation time of a hold never change.");

	oldstatus = TextDatumGetCString(heap_getattr(oldtuple, Anum_holds_status, desc, &isnull));
	newstatus = TextDatumGetCString(heap_getattr(newtuple, Anum_holds_status, desc, &isnull));
	if (strcmp(oldstatus, "pending") != 0)
	{
		for (int attnum = Anum_holds_status; attnum <= Anum_holds_resolved_at; attnum++)
			if (!column_unchanged(oldtuple, newtuple, desc, attnum))
				reject_hold_change(id, "A hold is resolved once; its resolution never changes.");
	}
	else if (strcmp(newstatus, "pending") == 0)
	{
		for (int attnum = Anum_holds_captured_amount; attnum <= Anum_holds_resolved_at; attnum++)
			if (!column_unchanged(oldtuple, newtuple, desc, attnum))
				reject_hold_change(id, "A pending hold has no resolution.");
	}

	for (int attnum = Anum_holds_debit_reserved; attnum <= Anum_holds_credit_reserved; attnum++)
	{
		bool		was = DatumGetBool(heap_getattr(oldtuple, attnum, desc, &isnull));
		bool		now = DatumGetBool(heap_getattr(newtuple, attnum, desc, &isnull));

		if (now && !was)
			reject_hold_change(id, "A released reservation is never taken again.");
		if (!now && strcmp(newstatus, "pending") == 0)
			reject_hold_change(id, "A pending hold keeps both reservations.");
	}
	return PointerGetDatum(newtuple);
}
