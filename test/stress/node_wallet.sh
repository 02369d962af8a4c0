#!/usr/bin/env bash
# test/stress/node_wallet.sh - the Node.js client in examples/node-wallet,
# run the way its README says, against the suite's server: concurrent keyed
# transfers replayed twice at once, retries on 40001 and on connections
# terminated mid-transaction, error mapping, 128-bit amounts, then
# ledger.verify() (examples/node-wallet/test.js), after the demo.
#
# The commands are the sh block under "### Against Debian's server" in
# examples/node-wallet/README.md, read out of it, so that the text cannot
# drift from what is tested; they run as they are written, from the top of
# a copy of the example (so the source tree is never written and two runs
# never share node_modules), with PGHOST, PGPORT and PGUSER naming the
# suite's server instead of Debian's.  As root without sudo, "sudo" runs
# its command directly.  The database wallet is dropped before and after.
# Then examples/node-wallet/run.sh, the README's one command, which starts
# a throwaway server of its own.
#
# Environment: PGHOST, PGPORT, PGUSER as test/run.sh exports them (a
# superuser: the test terminates its own backends); the npm registry must be
# reachable unless npm's cache already holds the packages.
set -euo pipefail

. "$(dirname "$0")/../lib/pg.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SRC=$ROOT/examples/node-wallet
DB=wallet

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger_node.XXXXXX")
psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }
cleanup() {
	psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

awk '
	$0 == "### Against Debian'"'"'s server" { found = 1; next }
	found && /^#/ { exit }
	found && /^```sh$/ { inside = 1; next }
	inside && /^```$/ { exit }
	inside { print }' "$SRC/README.md" >"$WORK/steps.sh"
grep -q 'npm test' "$WORK/steps.sh" ||
	{ echo "node_wallet.sh: no steps running npm test under \"### Against Debian's server\" in $SRC/README.md" >&2; exit 1; }

mkdir -p "$WORK/tree/examples/node-wallet"
cp "$SRC"/package.json "$SRC"/package-lock.json "$SRC"/*.js "$WORK/tree/examples/node-wallet/"
psql_admin -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"

log "the README's steps: $(grep -c . "$WORK/steps.sh") commands"
status=0
(
	cd "$WORK/tree"
	if ! command -v sudo >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
		sudo() { "$@"; }
		export -f sudo
	fi
	export npm_config_audit=false npm_config_fund=false npm_config_loglevel=error
	timeout 300 bash -euo pipefail -x "$WORK/steps.sh"
) || status=$?
if [ "$status" -ne 0 ]; then
	echo "node_wallet.sh: FAILED: the steps of examples/node-wallet/README.md exited with $status" >&2
	exit "$status"
fi

# The README's one command, against a throwaway server of its own.
log "examples/node-wallet/run.sh"
if ! (cd "$ROOT" && timeout 300 bash examples/node-wallet/run.sh) >"$WORK/run.log" 2>&1; then
	cat "$WORK/run.log" >&2
	echo "node_wallet.sh: FAILED: examples/node-wallet/run.sh" >&2
	exit 1
fi
echo "node_wallet.sh: the steps of examples/node-wallet/README.md ran as written, and so did examples/node-wallet/run.sh: the demo and the test passed both ways"
