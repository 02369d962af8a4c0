#!/usr/bin/env bash
# examples/node-wallet/run.sh - the Node.js example in one command, against
# a throwaway PostgreSQL server.
#
# Installs what is missing (the project's Debian packages, nodejs and npm),
# builds and installs the extension, starts a private PostgreSQL 15 on a
# socket under /tmp, creates the database wallet with the extension, runs
# "npm ci", the demo ("npm start") and the test ("npm test") in this
# directory, and stops the server.  Exits with the test's status.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# A server of the caller's is never used.
unset PGHOST PGPORT PGDATABASE PGUSER
. "$HERE/../../test/lib/pg.sh"

ledger_require_packages
# Node from Debian only if there is none: a newer one (NodeSource's) already
# carries npm, and Debian's npm would want Debian's nodejs instead.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || ledger_require_packages nodejs npm
ledger_build_install
trap ledger_stop_server EXIT
ledger_start_server node-wallet

createdb wallet
psql -X -q -d wallet -c 'CREATE EXTENSION ledger'
cd "$HERE"
log "npm ci"
npm ci --no-audit --no-fund --loglevel=error
export PGDATABASE=wallet
log "npm start: the demo"
npm start --silent
log "npm test: the test"
npm test --silent
