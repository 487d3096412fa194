#!/usr/bin/env bash
# Builds Garage (https://garagehq.deuxfleurs.fr), a real S3-compatible object store written in
# Rust, from crates.io into target/tools/garage (kept with the build cache, so only the first
# run compiles it), and prints the path of its binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="${CARGO_TARGET_DIR:-target}/tools/garage"
if [ ! -x "$root/bin/garage" ]; then
  # SQLite for its metadata: no other native library to build. A test server needs no more
  # than basic optimisation, which halves the build.
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=false \
    cargo install garage --version 2.5.0 --locked --no-default-features \
    --features bundled-libs,sqlite --root "$root" >&2
fi
echo "$root/bin/garage"
