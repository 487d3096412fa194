#!/usr/bin/env bash
# The management API against its own OpenAPI document, with schemathesis (pinned in .ci/run):
# a demo server on a free port, every default check, a fixed seed so that a run is repeatable.
#
# Excluded, each for a rule the document cannot state, so that any schema-valid request is
# refused for a reason the generator cannot know (see the README, "The management API"):
#   upload_dataset  the body must be a CSV table;      import_version  a model archive (tar);
#   submit_job      a train job's options depend on its model and data;
#   submit_sweep    so do a sweep's trials' options;
#   create_key      expires_at_ms must be in the future;
#   feedback        a label must be one of the model's classes;
#   revoke_key      it would revoke the key the run itself uses.
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=${AIAAS_BINARY:-${CARGO_TARGET_DIR:-target}/debug/aiaas}
data=$(mktemp -d)
log="$data/server.log"
"$binary" serve --addr 127.0.0.1:0 --grpc-addr 127.0.0.1:0 --data-dir "$data/data" --demo >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 600); do
  url=$(sed -n 's/^aiaas listening on //p' "$log" | head -n 1)
  if [ -n "$url" ] && grep -q '^demo ready' "$log"; then break; fi
  sleep 0.2
done
grep -q '^demo ready' "$log" || { echo "the demo server did not start:"; cat "$log"; exit 1; }
key=$(cat "$data/data/admin.key")
schemathesis run "$url/api/v1/openapi.json" \
  --header "Authorization: Bearer $key" \
  --max-examples 30 --seed 1 \
  --exclude-operation-id upload_dataset --exclude-operation-id import_version \
  --exclude-operation-id submit_job --exclude-operation-id submit_sweep \
  --exclude-operation-id create_key \
  --exclude-operation-id feedback --exclude-operation-id revoke_key
