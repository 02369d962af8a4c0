#!/usr/bin/env bash
# test/stress/crash.sh - the crash test's short form (test/crash/crash.sh), run with the other stress scripts.
exec bash "$(dirname "$0")/../crash/crash.sh"
