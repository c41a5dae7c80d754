#!/bin/sh
# The release build of the signoff binary. The Dockerfile runs this script and
# so does .ci/run, so CI builds exactly what the container image ships.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --locked --bin signoff
