#!/usr/bin/env bash
# Interoperability suites: a real Signoff (its own SQLite file and master key,
# on a free loopback port) driven by node openid-client + jose and by Python
# Authlib + joserfc. Clients and the user are registered with the signoff CLI.
#
#   interop/run.sh [node|python|all]    (default: all)
#
# Needs: target/debug/signoff (built if missing), node + npm, python3 with venv.
# Installs the pinned packages (npm ci; a venv from requirements.txt with
# hashes) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
which_suites="${1:-all}"

[ -x target/debug/signoff ] || cargo build --bin signoff
SIGNOFF="$PWD/target/debug/signoff"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

if [[ "$which_suites" == all || "$which_suites" == node ]] && [ ! -d interop/node/node_modules ]; then
  (cd interop/node && npm ci --no-audit --no-fund --loglevel=error)
fi
if [[ "$which_suites" == all || "$which_suites" == python ]] && [ ! -x interop/python/.venv/bin/pytest ]; then
  python3 -m venv interop/python/.venv
  interop/python/.venv/bin/pip install --quiet --disable-pip-version-check \
    --require-hashes -r interop/python/requirements.txt
fi

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

export SIGNOFF_DATABASE_URL="sqlite://$work/signoff.db?mode=rwc"
export SIGNOFF_MASTER_KEY="$("$SIGNOFF" keys generate-master-key)"
export SIGNOFF_LOG=warn
"$SIGNOFF" migrate >/dev/null

# What both suites are told (redirect URIs are never fetched: the suites read
# the Location header that would send the browser there).
export INTEROP_USERNAME=interop-user
export INTEROP_PASSWORD="interop password $(date +%s%N)"
export INTEROP_SECRET_SUFFIX="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
printf '%s' "$INTEROP_PASSWORD" |
  "$SIGNOFF" user add --username "$INTEROP_USERNAME" --email interop@example.com \
    --name "Interop User" --password-stdin >/dev/null
for rp in node python; do
  "$SIGNOFF" client add --id "$rp-rp" --secret "$rp-rp-$INTEROP_SECRET_SUFFIX" \
    --redirect-uri "http://127.0.0.1:9/$rp/callback" \
    --post-logout-redirect-uri "http://127.0.0.1:9/$rp/signed-out" >/dev/null
  "$SIGNOFF" client add --id "$rp-api-client" --secret "$rp-api-client-$INTEROP_SECRET_SUFFIX" \
    --grant-type client_credentials --scope api.read --access-token-format jwt \
    --audience "https://api.$rp.interop.test" >/dev/null
done

# A port another process may take between the probe and the bind: retry.
for attempt in 1 2 3; do
  port="$(free_port)"
  export SIGNOFF_BIND="127.0.0.1:$port" SIGNOFF_ISSUER="http://127.0.0.1:$port"
  "$SIGNOFF" serve >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    if curl -fsS "$SIGNOFF_ISSUER/healthz" >/dev/null 2>&1; then break 2; fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  echo "Signoff did not start on port $port (attempt $attempt):" >&2
  cat "$work/server.log" >&2
done
[ -n "$server_pid" ] || { echo "Signoff did not start" >&2; exit 1; }
echo "Signoff at $SIGNOFF_ISSUER (SQLite in $work)"

status=0
if [[ "$which_suites" == all || "$which_suites" == node ]]; then
  echo "--- node: openid-client + jose"
  (cd interop/node && node --test) || status=1
fi
if [[ "$which_suites" == all || "$which_suites" == python ]]; then
  echo "--- python: Authlib + joserfc"
  interop/python/.venv/bin/pytest -q -p no:cacheprovider interop/python || status=1
fi
if [ "$status" -ne 0 ]; then
  echo "--- Signoff's log" >&2
  tail -n 50 "$work/server.log" >&2
fi
exit "$status"
