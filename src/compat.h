/*
 * compat.h - every PG_VERSION_NUM shim the extension needs, in one place.
 *
 * The code targets PostgreSQL 15 and is kept compilable on 14 through 17;
 * where an API moved between those releases, the difference is bridged here
 * so the rest of the source reads as if there were one version.
 */
#ifndef LEDGER_COMPAT_H
#define LEDGER_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 140000
#error "ledger requires PostgreSQL 14 or later"
#endif

#ifndef HAVE_INT128
#error "ledger requires a compiler with a 128-bit integer type"
#endif

/* PostgreSQL 15 renamed EmitWarningsOnPlaceholders. */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

#endif							/* LEDGER_COMPAT_H */
