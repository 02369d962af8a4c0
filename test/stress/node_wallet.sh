#!/usr/bin/env bash
# test/stress/node_wallet.sh - the Node.js client in examples/node-wallet,
# tested against the server: concurrent keyed transfers replayed twice at
# once, retries on 40001 and on connections terminated mid-transaction,
# error mapping, 128-bit amounts, then ledger.verify() (examples/node-wallet/test.js).
#
# Installs node and npm from Debian if missing, installs the client's locked
# dependencies with "npm ci" in a copy of the example under /tmp (so the
# source tree is never written and two runs never share node_modules),
# creates the database ledger_node with the extension, runs "npm test" there
# and drops the database.  Exits with the test's status.
#
# Environment: PGHOST, PGPORT, PGUSER as test/run.sh exports them (a
# superuser: the test terminates its own backends); the npm registry must be
# reachable unless npm's cache already holds the packages.
set -euo pipefail

. "$(dirname "$0")/../lib/pg.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SRC=$ROOT/examples/node-wallet
DB=ledger_node

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	log "installing nodejs and npm"
	if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; then
		echo "node_wallet.sh: node and npm are missing; install them with:" >&2
		echo "    sudo apt-get install -y nodejs npm" >&2
		exit 1
	fi
fi
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)'; then
	echo "node_wallet.sh: examples/node-wallet needs Node.js 18 or later, found $(node --version)" >&2
	exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger_node.XXXXXX")
psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }
cleanup() {
	psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

cp "$SRC"/package.json "$SRC"/package-lock.json "$SRC"/*.js "$WORK"/
if ! (cd "$WORK" && npm ci --no-audit --no-fund --loglevel=error >"$WORK/npm-ci.log" 2>&1); then
	cat "$WORK/npm-ci.log" >&2
	echo "node_wallet.sh: npm ci failed (is the npm registry reachable?)" >&2
	exit 1
fi

psql_admin -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
psql_admin -c "CREATE DATABASE $DB"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "CREATE EXTENSION ledger"

status=0
(cd "$WORK" && PGDATABASE=$DB timeout 120 npm test --silent) || status=$?
exit "$status"
