#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the tests and prints its URL on stdout; the tests
# create their own databases on it (crates/aiaas-store/tests/it/main.rs). Debian's `postgresql`
# package is installed when missing. The cluster lives in $1 (default: a new temp directory),
# listens on 127.0.0.1 on a free port, trusts local connections (it holds nothing but test data)
# and is stopped by tests/postgres/stop.sh with the same directory.
set -euo pipefail
dir="${1:-$(mktemp -d)}"
log() { echo "$@" >&2; }

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    postgresql >/dev/null
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi

# PostgreSQL refuses to run as root: as root, run it as the package's `postgres` user.
as_owner=()
if [ "$(id -u)" = 0 ]; then
  as_owner=(runuser -u postgres --)
  mkdir -p "$dir"
  chown postgres "$dir"
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${as_owner[@]}" "$bin/initdb" --pgdata="$dir/data" --username=aiaas --auth=trust \
  --encoding=UTF8 --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
# fsync off: a crash loses test data only, and the tests run faster.
"${as_owner[@]}" "$bin/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait \
  -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir/data \
      -c fsync=off -c max_connections=400" start >&2 \
  || { cat "$dir/server.log" >&2; exit 1; }
log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $dir"
echo "postgres://aiaas@127.0.0.1:$port/postgres"
