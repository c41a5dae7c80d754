#!/usr/bin/env bash
# Start a signoff binary as the container image does (SQLite file, master key
# file, bound to all interfaces, issuer on loopback), wait for the image's
# HEALTHCHECK command to pass, check discovery, stop it.
#   packaging/smoke-test.sh target/release/signoff
set -euo pipefail
binary="$(realpath "${1:?usage: smoke-test.sh path/to/signoff}")"
work="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
(umask 077 && "$binary" keys generate-master-key >"$work/master.key")
cd "$work"
SIGNOFF_BIND="0.0.0.0:$port" SIGNOFF_ISSUER="http://127.0.0.1:$port" \
  SIGNOFF_DATABASE_URL="sqlite://$work/signoff.db?mode=rwc" SIGNOFF_MASTER_KEY_FILE="$work/master.key" \
  "$binary" serve >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  # The Dockerfile's HEALTHCHECK command.
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
    issuer="$(curl -fsS "http://127.0.0.1:$port/.well-known/openid-configuration" |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["issuer"])')"
    [ "$issuer" = "http://127.0.0.1:$port" ] || { echo "discovery names $issuer" >&2; exit 1; }
    echo "smoke test passed: $binary serves /healthz and discovery"
    exit 0
  fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
echo "signoff did not become healthy:" >&2
cat "$work/log" >&2
exit 1
