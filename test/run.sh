#!/usr/bin/env bash
# test/run.sh - run every test of the ledger extension against a throwaway server.
#
# Installs what is missing, builds, installs, starts PostgreSQL 15 privately,
# then runs pg_regress, the isolation specs, pgTAP and the stress scripts.
# Every suite runs even when an earlier one fails; the server is stopped
# whatever happens.  The last line is "N passed, N failed", counting test
# files; a suite that cannot run here (the Citus suite on a machine with
# neither Citus nor its source snapshot) is counted as skipped, never as
# passed.  Exit status is non-zero on any failure.
set -uo pipefail

. "$(dirname "$0")/lib/pg.sh"
cd "$LEDGER_ROOT"

ledger_require_packages
ledger_build_install
trap ledger_stop_server EXIT
ledger_start_server ledger-test

passed=0
failed=0
skipped=0
run_started=$SECONDS

# progress WHAT START - a line saying WHAT ended, how long it took and how
# long the run has taken so far, so that a long suite is seen to move.
progress() {
	local took=$((SECONDS - $2)) total=$((SECONDS - run_started))
	printf '==> %s (%dm%02ds; %dm%02ds so far; %d passed, %d failed)\n' "$1" \
		$((took / 60)) $((took % 60)) $((total / 60)) $((total % 60)) "$passed" "$failed" >&2
}

# count_pg_regress OUTPUT_FILE - add a pg_regress run's totals to the counters.
count_pg_regress() {
	local line total bad
	line=$(grep -E 'All [0-9]+ tests passed|[0-9]+ of [0-9]+ tests (failed|passed)' "$1" | tail -n 1)
	if [[ $line =~ All\ ([0-9]+)\ tests\ passed ]]; then
		passed=$((passed + BASH_REMATCH[1]))
	elif [[ $line =~ ([0-9]+)\ of\ ([0-9]+)\ tests\ failed ]]; then
		bad=${BASH_REMATCH[1]}
		total=${BASH_REMATCH[2]}
		passed=$((passed + total - bad))
		failed=$((failed + bad))
	else
		failed=$((failed + 1))
	fi
}

# pg_regress suites through PGXS, so "make installcheck" and this script agree.
log "pg_regress"
t0=$SECONDS
out=$(mktemp)
make -s installcheck ISOLATION= 2>&1 | tee "$out"
count_pg_regress "$out"
[ -s regression.diffs ] && cat regression.diffs
progress "pg_regress done" "$t0"

log "isolation tests"
t0=$SECONDS
if compgen -G "test/specs/*.spec" >/dev/null; then
	make -s installcheck REGRESS= 2>&1 | tee "$out"
	count_pg_regress "$out"
	[ -s output_iso/regression.diffs ] && cat output_iso/regression.diffs
fi
progress "isolation tests done" "$t0"

log "pgTAP"
t0=$SECONDS
psql -X -q -c "CREATE DATABASE ledger_tap" >/dev/null
psql -X -q -d ledger_tap -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION ledger" >/dev/null
for t in test/pgtap/*.sql; do
	[ -e "$t" ] || continue
	if pg_prove -d ledger_tap "$t"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
progress "pgTAP done" "$t0"

# run_script SCRIPT - run one script and count it: exit status 0 passed,
# 77 skipped (it cannot run on this machine), anything else failed.
run_script() {
	local t0=$SECONDS rc
	log "$1"
	bash "$1"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		progress "$1 passed" "$t0"
	elif [ "$rc" -eq 77 ]; then
		skipped=$((skipped + 1))
		progress "$1 SKIPPED" "$t0"
	else
		echo "FAILED: $1" >&2
		failed=$((failed + 1))
		progress "$1 FAILED" "$t0"
	fi
}

log "stress and scenario scripts"
for t in test/stress/*.sh; do
	[ -e "$t" ] && run_script "$t"
done

# The cluster suite: each script starts its own Citus cluster (building
# Citus first if need be) and exits 77 when Citus cannot be had.
log "Citus cluster scripts"
for t in test/citus/*.sh; do
	[ -e "$t" ] && run_script "$t"
done

rm -f "$out"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
