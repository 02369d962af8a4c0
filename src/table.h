/*
 * table.h - the one writer of the ledger's tables, and reads by key.
 *
 * See table.c.  A caller opens a table for one command with
 * TableWriteBegin, hands it rows (TableWriteRow, TableWriteRowUnlessKey,
 * TableWriteUpdate) and finishes with TableWriteEnd.  Whether the rows go
 * straight into the table or through an SQL statement is table.c's
 * decision, made from what the table carries; the caller never knows which.
 */
#ifndef LEDGER_TABLE_H
#define LEDGER_TABLE_H

#include "ledger.h"

/*
 * A column a caller supplies, by name and type; on insertion every other
 * column of the table gets its default, as in INSERT INTO table
 * (columns...).
 */
typedef struct TableColumn
{
	const char *name;
	Oid			type;
} TableColumn;

typedef enum TableCommand
{
	TABLE_INSERT,				/* rows of the columns given */
	TABLE_UPDATE,				/* the columns given, in rows found by the
								 * table's one-column bigint primary key */
	TABLE_DELETE				/* rows found by the values of the columns
								 * given, the primary key's */
} TableCommand;

typedef struct TableWrite TableWrite;

extern TableWrite *TableWriteBegin(const char *table, TableCommand command,
								   const TableColumn *columns, int ncolumns);
extern void TableWriteRow(TableWrite *w, const Datum *values, const bool *nulls);
extern bool TableWriteRowUnlessKey(TableWrite *w, const int *key_columns, int nkeys,
								   const Datum *values, const bool *nulls);
extern bool TableWriteUpdate(TableWrite *w, int64 book, int64 key, ItemPointer hint,
							 const Datum *values, const bool *nulls);
extern int64 TableWriteEnd(TableWrite *w);
extern int64 TableDeleteById(const char *table, int64 id);

/* The largest number of columns a read by key returns. */
#define TABLE_FETCH_MAX_COLUMNS	16

/* The largest number of columns of a key (a book and a name or key). */
#define TABLE_KEY_MAX_COLUMNS	2

extern bool TableFetchByKey(const char *table, const TableColumn *key,
							const Datum *keyvalues, int nkeys,
							const TableColumn *columns, int ncolumns,
							Datum *values, bool *nulls);
extern int	TableFetchAll(const char *table, const TableColumn *key, Datum keyvalue,
						  const char *order, const TableColumn *columns, int ncolumns,
						  Datum **values, bool **nulls);

extern bool TableIsDistributed(Oid relid);
extern Oid	TableShardOf(Oid relid);

/* Called with each row TableScanAfter walks; returns whether to go on. */
typedef bool (*TableVisitor) (const Datum *values, const bool *nulls, void *arg);

extern void TableScanAfter(const char *table, const TableColumn *key, const Datum *after,
						   const TableColumn *columns, int ncolumns,
						   TableVisitor visit, void *arg);

#endif							/* LEDGER_TABLE_H */
