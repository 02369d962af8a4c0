#!/usr/bin/env bash
# test/fuzz/sanitized_regress.sh - the pg_regress and isolation suites against
# a build of the extension under AddressSanitizer and UndefinedBehaviorSanitizer.
#
# How it stays private.  module_pathname is '$libdir/ledger', and a backend
# expands $libdir to its pkglibdir, which it derives from the location of its
# own executable (PostgreSQL is relocatable: the compiled-in bin, lib and
# share directories are taken relative to where the binary really is), so
# dynamic_library_path cannot redirect it.  This script therefore lays out a
# private PostgreSQL 15 tree under a temporary directory, mirroring the
# system paths:
#     $WORK/root/usr/lib/postgresql/15/bin    real copies of postgres, pg_ctl,
#                                             initdb (symlinks would resolve
#                                             back to /usr)
#     $WORK/root/usr/lib/postgresql/15/lib    symlinks to the system's files
#     $WORK/root/usr/share/postgresql/15      symlinks, and extension/ holding
#                                             symlinks to everything else
# and installs the sanitized build into it with "make install DESTDIR=...",
# which puts ledger.so, ledger.control and the scripts exactly there.  The
# system installation that others use is never touched.  Before the suites
# run, the script checks that the server's PKGLIBDIR is the private one and
# that a backend has the private, instrumented ledger.so mapped.
#
# The build is a copy of the working tree (sources, tests, expected outputs)
# made with the usual PGXS flags plus COPT="-fsanitize=address,undefined
# -fno-sanitize-recover=undefined -fno-omit-frame-pointer -fno-wrapv -g" and
# with_llvm=no (no bitcode; the server runs with jit = off).  COPT comes
# after PGXS's -fwrapv, so -fno-wrapv wins: signed overflow is then
# undefined again and UBSan checks every signed (int128 included)
# addition, subtraction and multiplication of ours, which -fwrapv would
# silently let wrap.  The server
# (only the server: initdb, psql and pg_regress run as usual) runs with
#     LD_PRELOAD="<libasan.so of the compiler PGXS builds with>
#                 <sanitizer_preload.so, built from sanitizer_preload.c>"
#     ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
#     UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1
# An instrumented module can only be loaded into a process whose ASan
# runtime came first; the shim works around two traps of preloading it into
# an uninstrumented postgres (a start-up hang, and UBSan options lost in
# backends; see sanitizer_preload.c).  Leak detection is off: PostgreSQL
# frees by memory context, not by free().  Any finding kills the backend
# with SIGABRT and a report with a stack trace in the server log.
#
# Fails if any pg_regress or isolation test fails, or if the server log
# holds "runtime error:", "AddressSanitizer", or a backend terminated by a
# signal.  On failure the diffs and the relevant log lines are printed and
# the work directory is kept.  Takes about 30 seconds on two cores.
#
# Environment: nothing; it starts and stops its own server.
set -euo pipefail

. "$(dirname "$0")/../lib/pg.sh"

SAN_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -fno-wrapv -g"
BUILD_OPTS=(with_llvm=no "COPT=$SAN_FLAGS")
ASAN_ENV="detect_leaks=0:abort_on_error=1"
UBSAN_ENV="print_stacktrace=1:halt_on_error=1:abort_on_error=1"

ledger_require_packages

SYS_BIN=$($PG_CONFIG --bindir)
SYS_LIB=$($PG_CONFIG --pkglibdir)
SYS_SHARE=$($PG_CONFIG --sharedir)
CC_USED=$($PG_CONFIG --cc)
ASAN_LIB=$($CC_USED -print-file-name=libasan.so)
if [ ! -e "$ASAN_LIB" ]; then
	echo "sanitized_regress: $CC_USED has no libasan.so (Debian: libgcc-12-dev, from build-essential)" >&2
	exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledger-asan.XXXXXX")
chmod 755 "$WORK"
ROOT=$WORK/root
TREE=$WORK/tree
SRV=$WORK/server
PRIV_BIN=$ROOT$SYS_BIN
PRIV_LIB=$ROOT$SYS_LIB
PRIV_SHARE=$ROOT$SYS_SHARE
keep_work=0
server_started=0

# show_findings - print what the sanitizers wrote to the server log, if anything;
# returns 1 when there is something.
show_findings() {
	local findings
	[ -f "$SRV/server.log" ] || return 0
	findings=$(grep -E -n 'runtime error:|AddressSanitizer|LeakSanitizer|terminated by signal|was terminated by exception' \
		"$SRV/server.log" || true)
	[ -n "$findings" ] || return 0
	echo "$findings" | head -n 40 >&2
	grep -E -A 40 'runtime error:|ERROR: AddressSanitizer' "$SRV/server.log" | head -n 120 >&2 || true
	return 1
}
stop_server() {
	[ "$server_started" -eq 1 ] || return 0
	as_server_user "$PRIV_BIN/pg_ctl" -D "$SRV/data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
		as_server_user "$PRIV_BIN/pg_ctl" -D "$SRV/data" -m immediate -w -t 60 stop >/dev/null 2>&1 || true
	server_started=0
}
cleanup() {
	local rc=$?
	stop_server
	if [ "$rc" -ne 0 ] && [ "$keep_work" -eq 0 ]; then
		# an unexpected exit (set -e): say why if the server log knows
		show_findings || true
		echo "sanitized_regress: FAILED (exit status $rc)" >&2
		keep_work=1
	fi
	if [ "$keep_work" -eq 0 ]; then
		rm -rf "$WORK"
	else
		echo "sanitized_regress: work directory kept: $WORK" >&2
	fi
}
trap cleanup EXIT

# fail MESSAGE - report, keep the work directory, exit non-zero.
fail() {
	echo "sanitized_regress: FAILED: $*" >&2
	keep_work=1
	exit 1
}

log "copying the working tree to $TREE"
mkdir -p "$TREE/src" "$TREE/test"
cp "$LEDGER_ROOT/Makefile" "$LEDGER_ROOT"/*.control "$TREE/"
cp "$LEDGER_ROOT"/src/*.c "$LEDGER_ROOT"/src/*.h "$TREE/src/"
cp -R "$LEDGER_ROOT/sql" "$LEDGER_ROOT/expected" "$TREE/"
cp -R "$LEDGER_ROOT/test/specs" "$LEDGER_ROOT/test/expected" "$TREE/test/"

log "laying out a private PostgreSQL tree in $ROOT"
mkdir -p "$PRIV_BIN" "$PRIV_LIB" "$PRIV_SHARE/extension"
cp "$SYS_BIN/postgres" "$SYS_BIN/pg_ctl" "$SYS_BIN/initdb" "$PRIV_BIN/"
for f in "$SYS_LIB"/*; do
	case ${f##*/} in
		ledger.so | bitcode) ;;
		*) ln -s "$f" "$PRIV_LIB/" ;;
	esac
done
for f in "$SYS_SHARE"/*; do
	[ "${f##*/}" = extension ] || ln -s "$f" "$PRIV_SHARE/"
done
for f in "$SYS_SHARE"/extension/*; do
	case ${f##*/} in
		ledger.control | ledger--*) ;;
		*) ln -s "$f" "$PRIV_SHARE/extension/" ;;
	esac
done

log "building with $SAN_FLAGS"
make -C "$TREE" -s "${BUILD_OPTS[@]}" >"$WORK/build.log" 2>&1 ||
	{ cat "$WORK/build.log" >&2; fail "build"; }
make -C "$TREE" -s "${BUILD_OPTS[@]}" install DESTDIR="$ROOT" >>"$WORK/build.log" 2>&1 ||
	{ cat "$WORK/build.log" >&2; fail "install into $ROOT"; }
nm -D "$PRIV_LIB/ledger.so" >"$WORK/ledger.syms"
grep -q ' U __asan_report' "$WORK/ledger.syms" ||
	fail "$PRIV_LIB/ledger.so is not instrumented by ASan"
grep -q ' U __ubsan_handle' "$WORK/ledger.syms" ||
	fail "$PRIV_LIB/ledger.so is not instrumented by UBSan"

# See sanitizer_preload.c: it makes ASan initialise before any other
# library (without it every PostgreSQL binary hangs at start) and gives
# UBSan its options in backends, whose environment area the ps title
# overwrites.  libasan must come first in LD_PRELOAD, the shim before any
# libubsan so that its __ubsan_default_options() is the one found.
"$CC_USED" -shared -fPIC -Wl,-z,initfirst -o "$WORK/sanitizer_preload.so" \
	"$LEDGER_ROOT/test/fuzz/sanitizer_preload.c"
PRELOAD="$ASAN_LIB $WORK/sanitizer_preload.so"

log "starting the private server with $PRELOAD preloaded"
mkdir "$SRV"
[ "$(id -u)" -eq 0 ] && chown postgres: "$SRV"
as_server_user "$PRIV_BIN/initdb" -D "$SRV/data" -U postgres -A trust --no-sync \
	-E UTF8 --locale=C >"$WORK/initdb.log" 2>&1 ||
	{ cat "$WORK/initdb.log" >&2; fail "initdb"; }
{
	echo "listen_addresses = ''"
	echo "unix_socket_directories = '$SRV'"
	echo "port = 5432"
	echo "max_connections = 40"
	echo "fsync = off"
	echo "jit = off"
	echo "log_min_messages = warning"
	echo "log_line_prefix = '%m [%p] '"
} | as_server_user tee -a "$SRV/data/postgresql.conf" >/dev/null
as_server_user env LD_PRELOAD="$PRELOAD" ASAN_OPTIONS="$ASAN_ENV" UBSAN_OPTIONS="$UBSAN_ENV" \
	"$PRIV_BIN/pg_ctl" -D "$SRV/data" -l "$SRV/server.log" -w -t 120 start >/dev/null ||
	{ cat "$SRV/server.log" >&2; fail "server start"; }
server_started=1
export PGHOST=$SRV PGPORT=5432 PGUSER=postgres PGDATABASE=postgres

# The server must resolve $libdir to the private tree and load the
# instrumented module from there, or this run would test the wrong build.
libdir=$(psql -X -At -c "SELECT setting FROM pg_catalog.pg_config WHERE name = 'PKGLIBDIR'")
[ "$libdir" = "$PRIV_LIB" ] || fail "server PKGLIBDIR is $libdir, not $PRIV_LIB"
psql -X -q -c "CREATE DATABASE ledger_asan_probe" >/dev/null || fail "probe: CREATE DATABASE"
psql -X -q -d ledger_asan_probe -c "CREATE EXTENSION ledger" >/dev/null ||
	{ show_findings || true; fail "probe: CREATE EXTENSION ledger"; }
# a psql that keeps its backend alive while /proc/PID/maps is read
coproc PROBE { psql -X -At -d ledger_asan_probe; }
# bash unsets PROBE_PID as soon as it reaps the coprocess: keep a copy.
probe_pid=$PROBE_PID
echo "SELECT ledger.format_amount(15, 1); SELECT pg_catalog.pg_backend_pid();" >&"${PROBE[1]}"
read -r -t 30 formatted <&"${PROBE[0]}" || { show_findings || true; fail "probe query"; }
read -r -t 30 pid <&"${PROBE[0]}" || { show_findings || true; fail "probe query"; }
[ "$formatted" = "1.5" ] || fail "probe: format_amount(15, 1) gave $formatted"
grep -q "$PRIV_LIB/ledger.so" "/proc/$pid/maps" ||
	fail "backend $pid has not mapped $PRIV_LIB/ledger.so"
grep -q "libasan" "/proc/$pid/maps" || fail "backend $pid has no ASan runtime"
exec {PROBE[1]}>&-
wait "$probe_pid" || true
psql -X -q -c "DROP DATABASE ledger_asan_probe" >/dev/null || fail "probe: DROP DATABASE"

# print_diffs FILE - show the first 300 lines of a regression.diffs, if any.
print_diffs() {
	[ -s "$1" ] || return 0
	head -n 300 "$1"
	[ "$(wc -l <"$1")" -le 300 ] || echo "... (truncated; all of it is in $1)"
}

status=0
log "pg_regress suite (sanitized)"
timeout 600 make -C "$TREE" -s installcheck ISOLATION= >"$WORK/regress.out" 2>&1 || status=1
cat "$WORK/regress.out"
print_diffs "$TREE/regression.diffs"
log "isolation suite (sanitized)"
timeout 600 make -C "$TREE" -s installcheck REGRESS= >"$WORK/isolation.out" 2>&1 || status=1
cat "$WORK/isolation.out"
print_diffs "$TREE/output_iso/regression.diffs"

stop_server
show_findings || fail "sanitizer findings in $SRV/server.log"
[ "$status" -eq 0 ] || fail "regression or isolation tests failed"
log "sanitized regression: pg_regress and isolation suites passed, no sanitizer finding"
