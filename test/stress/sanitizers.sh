#!/usr/bin/env bash
# test/stress/sanitizers.sh - the amount fuzzer and the sanitized regression.
#
# Fuzzes the amount parser and formatter for 20 seconds under ASan and UBSan
# (test/fuzz/run.sh; "test/fuzz/run.sh 3600" is the long form), then runs
# the pg_regress and isolation suites against a build of the extension under
# ASan and UBSan in a private PostgreSQL tree and server
# (test/fuzz/sanitized_regress.sh).  Neither touches the server test/run.sh
# started nor the system installation.  About a minute on two cores.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/fuzz/run.sh" 20 && bash "$here/fuzz/sanitized_regress.sh"
