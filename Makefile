# ledger: double-entry ledger extension for PostgreSQL (PGXS build)

EXTENSION = ledger
MODULE_big = ledger
OBJS = \
	src/amount_text.o \
	src/amount.o \
	src/spi.o \
	src/chain.o \
	src/validate.o \
	src/schema.o \
	src/table.o \
	src/lock.o \
	src/authority.o \
	src/events.o \
	src/rules.o \
	src/velocity.o \
	src/posting.o \
	src/guard.o \
	src/consumer.o \
	src/monitor.o \
	src/limit.o \
	src/asset.o \
	src/book.o \
	src/grant.o \
	src/account.o \
	src/transfer.o \
	src/batch.o \
	src/hold.o \
	src/reverse.o \
	src/hot.o \
	src/history.o \
	src/verify.o \
	src/worker.o \
	src/distribute.o \
	src/ledger.o

DATA = $(wildcard sql/ledger--*.sql)
PGFILEDESC = "ledger - double-entry ledger inside PostgreSQL"

# pg_regress: inputs in sql/, outputs in expected/
REGRESS = amount asset account transfer guard hold history batch reverse hot recipes hostile ddl sequences pipeline books authority events velocity
REGRESS_OPTS = --load-extension=ledger

# isolation tester: specs and outputs under test/
ISOLATION = transfer-deadlock transfer-overdraft transfer-idempotency transfer-close transfer-repeatable-read hold-capture-release hold-capture-capture hold-capture-expire hold-vs-debit batch-vs-transfers hot-account hot-admin-snapshot create-accounts-race authority-revoke events-late-commit velocity-last-allowance
ISOLATION_OPTS = --inputdir=test --load-extension=ledger

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Werror

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS does not track headers: a struct change must rebuild every object.
$(OBJS): src/ledger.h src/compat.h src/amount_text.h src/table.h src/posting.h
