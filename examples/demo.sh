#!/usr/bin/env bash
# examples/demo.sh - show the ledger at work on a throwaway PostgreSQL server.
#
# Installs what is missing, builds and installs the extension, starts a private
# PostgreSQL 15, runs examples/demo.sql through psql and stops the server.
set -euo pipefail

. "$(dirname "$0")/../test/lib/pg.sh"
cd "$LEDGER_ROOT"

ledger_require_packages
ledger_build_install
trap ledger_stop_server EXIT
ledger_start_server ledger-demo

psql -X -q -c "CREATE EXTENSION ledger"
log "running examples/demo.sql"
psql -X -q --echo-all -v ON_ERROR_STOP=1 -P null='(null)' -f examples/demo.sql
