#!/usr/bin/env bash
# test/stress/layers.sh - the source files call each other in layers.
#
# src/ledger.h lists the layers, lowest first: lines " *   N. file.c ..."
# (a line of file names may go on, indented, on the next).  This builds the
# extension if needed and reads each object's calls with nm: a symbol a
# file uses that another file defines is a call into that file, and it must
# go to a lower layer.  Every .c file of src/ must be in the list.  Prints
# each file's calls, then fails on any call into its own layer or above.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
make -s >/dev/null

declare -A LAYER=()
layer=
while IFS= read -r line; do
	if [[ $line =~ ^\ \*\ +([0-9]+)\.\ (.*)$ ]]; then
		layer=${BASH_REMATCH[1]}
		rest=${BASH_REMATCH[2]}
	elif [ -n "$layer" ] && [[ $line =~ ^\ \*\ {6,}([a-z_]+\.c.*)$ ]]; then
		rest=${BASH_REMATCH[1]}
	else
		[ -n "$layer" ] && [[ $line =~ ^\ \*/ ]] && break
		continue
	fi
	for word in $rest; do
		[[ $word == *.c ]] && LAYER[${word%.c}]=$layer
	done
done <src/ledger.h
[ "${#LAYER[@]}" -gt 0 ] || { echo "layers.sh: no layer list in src/ledger.h" >&2; exit 1; }

failed=0
for f in src/*.c; do
	b=$(basename "$f" .c)
	[ -n "${LAYER[$b]:-}" ] || { echo "layers.sh: FAIL: $f is in no layer of src/ledger.h" >&2; failed=1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger_layers.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
for o in src/*.o; do
	b=$(basename "$o" .o)
	nm --defined-only "$o" | awk -v b="$b" '$2 ~ /^[TDBR]$/ { print $3, b }'
done | sort >"$WORK/defined"
for o in src/*.o; do
	b=$(basename "$o" .o)
	nm -u "$o" | awk -v b="$b" '{ print $2, b }'
done | sort >"$WORK/used"
join "$WORK/used" "$WORK/defined" | awk '$2 != $3 { print $2, $3 }' | sort -u >"$WORK/calls"

calls=0
while read -r from to; do
	calls=$((calls + 1))
	if [ "${LAYER[$to]:-0}" -ge "${LAYER[$from]:-0}" ]; then
		echo "layers.sh: FAIL: $from.c (layer ${LAYER[$from]:-?}) calls into $to.c (layer ${LAYER[$to]:-?})" >&2
		grep "^[^ ]* $from\$" "$WORK/used" | awk '{ print $1 }' |
			grep -xFf <(awk -v t="$to" '$2 == t { print $1 }' "$WORK/defined") | sed 's/^/    /' >&2
		failed=1
	fi
done <"$WORK/calls"

awk '{ a[$1] = a[$1] " " $2 } END { for (k in a) print "  " k ".c ->" a[k] }' "$WORK/calls" | sort
if [ "$failed" -ne 0 ]; then
	echo "layers.sh: FAILED" >&2
	exit 1
fi
echo "layers.sh: all checks passed: $calls calls between $(ls src/*.c | wc -l) files, each into a lower layer of src/ledger.h's list"
