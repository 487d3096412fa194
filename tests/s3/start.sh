#!/usr/bin/env bash
# Starts a throwaway single-node Garage on loopback with one bucket and one key, in directory $1
# (default: a new temp directory), and prints what the tests need as shell assignments, for
#   eval "$(bash tests/s3/start.sh DIR)"
# AIAAS_TEST_S3 (an s3:// URL of the bucket) and the AWS_* variables object_store reads.
# tests/s3/stop.sh DIR stops it.
set -euo pipefail
garage=$(bash "$(dirname "$0")/install.sh")
garage=$(realpath "$garage")
dir="${1:-$(mktemp -d)}"
mkdir -p "$dir"
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
rpc=$(free_port)
s3=$(free_port)
cat >"$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$(python3 -c 'import secrets; print(secrets.token_hex(32))')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3"
root_domain = ".s3.garage.localhost"
TOML
g() { "$garage" -c "$dir/garage.toml" "$@"; }
# The binary itself in the background (not through `g`), so that $! is the server's own pid.
RUST_LOG=warn "$garage" -c "$dir/garage.toml" server >"$dir/server.log" 2>&1 &
echo $! >"$dir/garage.pid"
for _ in $(seq 100); do
  if g status >/dev/null 2>&1; then break; fi
  sleep 0.1
done
node=$(g node id -q 2>/dev/null | cut -d@ -f1)
g layout assign -z local -c 1G "$node" >/dev/null
g layout apply --version 1 >/dev/null
g bucket create aiaas-test >/dev/null
keys=$(g key create aiaas-test-key)
key_id=$(echo "$keys" | awk '/Key ID/ {print $NF}')
secret=$(echo "$keys" | awk '/Secret key/ {print $NF}')
g bucket allow --read --write --owner aiaas-test --key aiaas-test-key >/dev/null
echo "Garage $("$garage" --version 2>/dev/null | head -1) on 127.0.0.1:$s3, data in $dir" >&2
cat <<ENV
export AIAAS_TEST_S3=s3://aiaas-test
export AWS_ACCESS_KEY_ID=$key_id
export AWS_SECRET_ACCESS_KEY=$secret
export AWS_REGION=garage
export AWS_ENDPOINT=http://127.0.0.1:$s3
export AWS_ALLOW_HTTP=true
ENV
