#!/usr/bin/env bash
# CI: install exactly the locked packages, run the unit tests, build, and fail when the
# committed build (src/agentdeck/console/static) differs from what the sources build to.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
npm test
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
CONSOLE_OUT_DIR="$out" npm run build
if ! diff -r "$out" ../src/agentdeck/console/static; then
  echo "src/agentdeck/console/static differs from a fresh build of console/: run 'make console' and commit the result" >&2
  exit 1
fi
echo "console build matches the committed files"
