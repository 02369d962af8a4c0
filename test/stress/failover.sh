#!/usr/bin/env bash
# test/stress/failover.sh - the failover test (test/crash/failover.sh), run with the other stress scripts.
exec bash "$(dirname "$0")/../crash/failover.sh"
