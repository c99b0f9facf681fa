#!/usr/bin/env bash
# Run the whole test suite: make sure the local services are up, then run every
# test target of the workspace (doc tests are not part of the suite).
#
#   ops/test.sh                     everything
#   ops/test.sh relay               only tests whose name contains "relay"
#   ops/test.sh -p eventstore       one package (replaces --workspace)
#   ops/test.sh -- --nocapture      arguments for the test binaries
#
# Exits with cargo's exit code.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash ops/services.sh

# `--workspace` would silently override `-p`, so drop it when packages are named.
scope=(--workspace)
for arg in "$@"; do
  case "$arg" in
    --) break ;;
    -p | --package | -p* | --package=*) scope=() ;;
  esac
done

exec cargo test "${scope[@]}" --all-targets "$@"
