# ledger: double-entry ledger extension for PostgreSQL (PGXS build)

EXTENSION = ledger
MODULE_big = ledger
OBJS = \
	src/ledger.o \
	src/amount_text.o \
	src/amount.o \
	src/spi.o \
	src/validate.o \
	src/guard.o \
	src/asset.o \
	src/account.o \
	src/transfer.o \
	src/chain.o \
	src/reverse.o \
	src/batch.o \
	src/hold.o \
	src/worker.o

DATA = $(wildcard sql/ledger--*.sql)
PGFILEDESC = "ledger - double-entry ledger inside PostgreSQL"

# pg_regress: inputs in sql/, outputs in expected/
REGRESS = amount asset account transfer guard
REGRESS_OPTS = --load-extension=ledger

# isolation tester: specs and outputs under test/
ISOLATION = transfer-deadlock transfer-overdraft transfer-idempotency transfer-close transfer-repeatable-read
ISOLATION_OPTS = --inputdir=test --load-extension=ledger

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Werror

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
