/*
 * ledger.c - module entry point.
 *
 * Everything that belongs to the library as a whole rather than to one SQL
 * object lives here: the module magic block and _PG_init.
 */
#include "ledger.h"

#include "miscadmin.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * _PG_init - called once when a backend loads the library.
 */
void
_PG_init(void)
{
	LedgerRegisterCacheCallbacks();
	LedgerRegisterHotCallbacks();
	AuthorityRegisterCallbacks();
	EventsRegisterCallbacks();
	GuardRegisterHooks();
	LedgerDefineExpiryGucs();
	MarkGUCPrefixReserved("ledger");
	if (process_shared_preload_libraries_in_progress)
		LedgerRegisterExpiryWorker();
}
