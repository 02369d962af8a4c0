#!/usr/bin/env bash
# test/fuzz/run.sh [SECONDS] - fuzz the amount parser and formatter.
#
# Builds test/fuzz/amount_fuzzer.c with src/amount_text.c alone (plain C,
# no PostgreSQL) as a libFuzzer target under AddressSanitizer and
# UndefinedBehaviorSanitizer, every finding fatal, into a temporary
# directory (never into the source tree), and runs it for SECONDS (default
# 20) on a copy of test/fuzz/corpus/ with test/fuzz/amount.dict.  The long
# form is just a larger SECONDS, e.g. "test/fuzz/run.sh 3600".
#
# Needs clang 14 and its libFuzzer runtime (Debian: clang-14,
# libclang-rt-14-dev); installs them when missing, or prints the apt
# command and exits 1.
#
# Exits non-zero on any crash, sanitizer report, property violation
# (abort() in the target), timeout or out-of-memory.  The work directory is
# then kept and the reproduction command printed: the reproducer is the
# crash-* file libFuzzer saved there.
set -euo pipefail

. "$(dirname "$0")/../lib/pg.sh"
FUZZ_DIR=$LEDGER_ROOT/test/fuzz

duration=${1:-20}
if ! [[ $duration =~ ^[1-9][0-9]*$ ]]; then
	echo "usage: $0 [SECONDS]   (a positive whole number; default 20)" >&2
	exit 2
fi

# clang 14 and libFuzzer.
ledger_require_packages clang-14 libclang-rt-14-dev
CC=${FUZZ_CC:-$(command -v clang-14 || command -v clang)}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger-fuzz.XXXXXX")
keep_work=0
cleanup() {
	if [ "$keep_work" -eq 0 ]; then
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

log "building amount_fuzzer with $CC in $WORK"
"$CC" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-Wall -Wextra -Werror -I"$LEDGER_ROOT/src" \
	"$FUZZ_DIR/amount_fuzzer.c" "$LEDGER_ROOT/src/amount_text.c" \
	-o "$WORK/amount_fuzzer"

cp -R "$FUZZ_DIR/corpus" "$WORK/corpus"
mkdir "$WORK/artifacts"

log "fuzzing for ${duration}s"
status=0
(
	cd "$WORK"
	ASAN_OPTIONS=abort_on_error=0:detect_leaks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		./amount_fuzzer -max_total_time="$duration" -max_len=256 -timeout=10 \
		-dict="$FUZZ_DIR/amount.dict" -artifact_prefix="$WORK/artifacts/" \
		-print_final_stats=1 corpus
) >"$WORK/fuzz.log" 2>&1 || status=$?

runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/fuzz.log")
if [ "$status" -ne 0 ] || ! grep -q '^Done ' "$WORK/fuzz.log"; then
	keep_work=1
	tail -n 60 "$WORK/fuzz.log" >&2
	echo "fuzz: amount_fuzzer FAILED (exit status $status); log and reproducer kept in $WORK" >&2
	for artifact in "$WORK"/artifacts/*; do
		[ -e "$artifact" ] || continue
		echo "fuzz: reproduce with: $WORK/amount_fuzzer $artifact" >&2
		echo "fuzz: input bytes (first byte is the scale):" >&2
		od -A d -t x1z "$artifact" | head -n 20 >&2
	done
	exit 1
fi
log "amount_fuzzer: ${runs:-?} inputs in ${duration}s, $(ls "$WORK/corpus" | wc -l) in the corpus, no failure"
