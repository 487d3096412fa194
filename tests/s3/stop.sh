#!/usr/bin/env bash
# Stops the Garage tests/s3/start.sh started in directory $1 and removes its data.
set -euo pipefail
dir="$1"
if [ -f "$dir/garage.pid" ]; then kill "$(cat "$dir/garage.pid")" 2>/dev/null || true; fi
rm -rf "$dir"
