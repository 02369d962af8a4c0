/*
 * table.h - direct writes into, and reads by key from, the ledger's tables,
 * without SQL.
 *
 * See table.c.  A caller opens a table once per call with TableInsertBegin,
 * adds rows with TableInsertRow (or TableInsertRowUnlessKey) and finishes
 * with TableInsertEnd; when TableInsertBegin returns NULL the table carries
 * something only the executor honours (a user's trigger, a rule, row
 * security...), and the caller must write through its SQL statement
 * instead.  Updates and TableFetchByKey decline likewise.
 */
#ifndef LEDGER_TABLE_H
#define LEDGER_TABLE_H

#include "ledger.h"

typedef struct TableInsert TableInsert;
typedef struct TableUpdate TableUpdate;

/*
 * The columns a caller supplies, by name and type; every other column of the
 * table gets its default, as in INSERT INTO table (columns...).
 */
typedef struct TableColumn
{
	const char *name;
	Oid			type;
} TableColumn;

extern TableInsert *TableInsertBegin(const char *table, const TableColumn *columns,
									 int ncolumns);
extern void TableInsertRow(TableInsert *ins, const Datum *values, const bool *nulls);
extern bool TableInsertRowUnlessKey(TableInsert *ins, const char *arbiter,
									const Datum *values, const bool *nulls);
extern int64 TableInsertEnd(TableInsert *ins);

/* The largest number of columns TableFetchByKey reads. */
#define TABLE_FETCH_MAX_COLUMNS	16

typedef enum TableKeyLookup
{
	TABLE_KEY_FOUND, TABLE_KEY_ABSENT, TABLE_KEY_DECLINED
} TableKeyLookup;

extern TableKeyLookup TableFetchByKey(const char *table, const char *index, Datum key,
									  const TableColumn *columns, int ncolumns,
									  Datum *values, bool *nulls);

extern TableUpdate *TableUpdateBegin(const char *table, const TableColumn *columns,
									 int ncolumns);
extern bool TableUpdateRow(TableUpdate *upd, int64 key, ItemPointer hint,
						   const Datum *values, const bool *nulls);
extern int64 TableUpdateEnd(TableUpdate *upd);

/*
 * The columns of ledger.entries a posting supplies, in the order
 * EntriesInsertBegin (transfer.c) opens them; the id is EntryIdOf.
 */
typedef enum EntryColumn
{
	ENTRY_TRANSFER, ENTRY_ACCOUNT, ENTRY_VERSION, ENTRY_DIRECTION, ENTRY_AMOUNT,
	ENTRY_BALANCE, ENTRY_CREATED_AT, ENTRY_HASH, ENTRY_ID, ENTRY_NCOLUMNS
} EntryColumn;

extern TableInsert *EntriesInsertBegin(void);

#endif							/* LEDGER_TABLE_H */
