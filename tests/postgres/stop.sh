#!/usr/bin/env bash
# Stops the server tests/postgres/start.sh started in directory $1 and removes its data.
set -euo pipefail
dir="$1"
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_owner=()
if [ "$(id -u)" = 0 ]; then as_owner=(runuser -u postgres --); fi
"${as_owner[@]}" "$bin/pg_ctl" --pgdata="$dir/data" --mode=fast stop >/dev/null 2>&1 || true
rm -rf "$dir"
