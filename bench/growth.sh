#!/usr/bin/env bash
# Growth curve (issue 16 "Scale"): Signoff on PostgreSQL at 10 k, 100 k, 1 M and 10 M refresh tokens.
# For each scale point: top the database up with bench/seed.sh, (re)start the release binary, time start-up until
# /readyz answers 200, then bench/growth-load.mjs measures at a fixed rate p50/p99 of opaque introspection (a
# token minted over HTTP, and cold: distinct seeded tokens), refresh with rotation (chains minted over HTTP) and
# logout as RFC 7009 revocation of distinct live seeded refresh tokens. Writes a markdown table to
# bench/results/growth-<date>.md and drops the database at the end (KEEP_DB=1 keeps it).
#
#   bench/growth.sh                                  # 10k 100k 1M 10M, 200 req/s for 10 s per row
#   SCALES="10000 100000" bench/growth.sh            # a short run
#   DB=signoff_growth_big SCALES=10000000 bench/growth.sh   # measure (and top up) an existing growth database
#
# Env: SCALES PG_URL=postgres://postgres@127.0.0.1:5432 DB=signoff_growth_<random> RATE=200 ROW_SECONDS=10 CHAINS=32
#      PORT=4700 SIGNOFF_BIN=<prebuilt> (else cargo build --release) OUT=bench/results/growth-<date>.md KEEP_DB=0
#      GROWTH_MASTER_KEY (required with an existing DB). Not SECONDS: bash sets that itself (seconds since the
#      shell started, 0 here), so it would always win over the default and make every row 0 s long.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); repo=$(cd "$here/.." && pwd)
SCALES=${SCALES:-10000 100000 1000000 10000000}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
RATE=${RATE:-200} SECONDS_PER_ROW=${ROW_SECONDS:-10} CHAINS=${CHAINS:-32} PORT=${PORT:-4700} KEEP_DB=${KEEP_DB:-0}
OUT=${OUT:-$repo/bench/results/growth-$(date -u +%Y-%m-%d).md}
fresh_db=0
if [ -z "${DB:-}" ]; then DB=signoff_growth_$(openssl rand -hex 4); fresh_db=1; fi
case "$DB" in signoff_growth_*) ;; *) echo "growth.sh: DB must be named signoff_growth_*" >&2; exit 2 ;; esac
url=$PG_URL/$DB
if [ -z "${SIGNOFF_BIN:-}" ]; then
  (cd "$repo" && cargo build --release --bin signoff >&2)
  SIGNOFF_BIN=${CARGO_TARGET_DIR:-$repo/target}/release/signoff
fi
for v in $(env | grep -o '^SIGNOFF_[A-Z0-9_]*' || true); do [ "$v" = SIGNOFF_BIN ] || unset "$v"; done
export SIGNOFF_DATABASE_URL=$url SIGNOFF_BIND=127.0.0.1:$PORT SIGNOFF_ISSUER=http://127.0.0.1:$PORT SIGNOFF_LOG=warn
# The load generator is one address signing in CHAINS times: the per-address sign-in budget would answer 429.
export SIGNOFF_SESSIONS__INTERACTIONS_PER_MINUTE=0 SIGNOFF_SESSIONS__INTERACTION_BURST=0
export SIGNOFF_MASTER_KEY=${GROWTH_MASTER_KEY:-$("$SIGNOFF_BIN" keys generate-master-key | tail -1)}
server=
cleanup() {
  [ -z "$server" ] || { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; }
  if [ "$KEEP_DB" != 1 ]; then psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $DB" || true; fi
}
trap cleanup EXIT

if [ "$fresh_db" = 1 ]; then
  psql "$PG_URL/postgres" -qc "CREATE DATABASE $DB"
  "$SIGNOFF_BIN" migrate >/dev/null
  "$SIGNOFF_BIN" client add --id growth-client --secret growth-secret --redirect-uri http://127.0.0.1:9999/cb \
    --grant-type authorization_code --grant-type refresh_token --scope openid --scope offline_access \
    --access-token-format opaque >/dev/null
  printf '%s' alice-password | "$SIGNOFF_BIN" user add --username alice --password-stdin >/dev/null
elif [ -z "${GROWTH_MASTER_KEY:-}" ]; then
  # An existing database's signing keys are sealed under the key it was created with.
  echo "growth.sh: DB=$DB exists: set GROWTH_MASTER_KEY to the master key its signing keys were sealed with" >&2; exit 2
fi
# The first start of a database generates its signing keys (RSA and EC): untimed, so every point times the same work.
"$SIGNOFF_BIN" serve >"/tmp/growth-$DB.log" 2>&1 & server=$!
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")" = 200 ]; do
  kill -0 "$server" 2>/dev/null || { cat "/tmp/growth-$DB.log" >&2; exit 1; }
  sleep 0.1
done
kill "$server"; wait "$server" 2>/dev/null || true; server=

ms() { date +%s%3N; }
rows=()
started=$(date -u +%FT%TZ); t_run=$(ms)
for scale in $SCALES; do
  t0=$(ms); "$here/seed.sh" "$url" "$scale"; seed_s=$(( ($(ms) - t0) / 1000 ))
  t0=$(ms)
  "$SIGNOFF_BIN" serve >"/tmp/growth-$DB.log" 2>&1 & server=$!
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")" = 200 ]; do
    kill -0 "$server" 2>/dev/null || { cat "/tmp/growth-$DB.log" >&2; exit 1; }
    sleep 0.02
  done
  startup=$(echo "scale=2; ($(ms) - $t0) / 1000" | bc)
  seeded=$(psql "$url" -qAtc "SELECT count(*) FROM users WHERE username LIKE 'seed-user-%'")
  json=$(ISSUER=http://127.0.0.1:$PORT CLIENT_ID=growth-client CLIENT_SECRET=growth-secret USERNAME=alice \
    PASSWORD=alice-password RATE=$RATE SECONDS=$SECONDS_PER_ROW CHAINS=$CHAINS SEEDED_USERS=$seeded \
    node "$here/growth-load.mjs")
  kill "$server"; wait "$server" 2>/dev/null || true; server=
  tokens=$(psql "$url" -qAtc "SELECT count(*) FROM refresh_tokens")
  size=$(psql "$url" -qAtc "SELECT pg_size_pretty(pg_database_size(current_database()))")
  echo "$json" >>"${OUT%.md}.raw.jsonl"
  # A row that could not keep up with RATE measured a growing queue: say what rate it did sustain.
  cell() { jq -r --arg r "$1" --argjson rate "$RATE" '.[$r] | "\(.p50_ms) / \(.p99_ms)"
    + (if .achieved_rps < 0.9 * $rate then " (kept up with \(.achieved_rps)/s only)" else "" end)
    + (if .errors > 0 then " (\(.errors) errors)" else "" end)' <<<"$json"; }
  row="| $scale ($tokens rows) | $startup | $(cell introspection) | $(cell introspection_cold) | $(cell refresh) | $(cell logout) | $size | $seed_s |"
  echo "$row" >&2; rows+=("$row")
  bad=$(jq -r '.logout.sampled_still_active' <<<"$json")
  [ "$bad" = 0 ] || echo "WARNING: $bad sampled revoked tokens still active at $scale" >&2
done
run_s=$(( ($(ms) - t_run) / 1000 ))

mkdir -p "$(dirname "$OUT")"
{
  [ -s "$OUT" ] || cat <<HDR
# Growth curve: Signoff on PostgreSQL at 10 k … 10 M refresh tokens

Produced by \`bench/growth.sh\` (seed: \`bench/seed.sh\`, load: \`bench/growth-load.mjs\`). Latencies are p50 / p99 in ms
at a fixed $RATE req/s for $SECONDS_PER_ROW s per row, open loop (each latency from its scheduled send time).
Rows: **introspection** of one opaque access token minted over HTTP; **introspection, cold** of a different live seeded
refresh token per request (a primary-key lookup anywhere in the table); **refresh** with rotation on $CHAINS chains
minted over HTTP (code flow); **logout** = RFC 7009 revocation of a different live seeded refresh token per request
(revokes its grant). A cell marked "kept up with N/s only" did not sustain the rate: its latencies measure a
growing queue, and N is the rate it did serve (requests / time until the last answer). Start-up: from \`signoff serve\` to the first 200 from /readyz. Seed s: time to top up to the point.
Seeded rows: bench/seed.sql (users, sessions, consents, grants, rotation chains of 10 refresh tokens per grant).

HDR
  cat <<RUN
## Run $started

Command: \`SCALES="$SCALES" RATE=$RATE ROW_SECONDS=$SECONDS_PER_ROW bench/growth.sh\` on database $DB; $(nproc) CPUs,
$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg);
PostgreSQL $(psql "$url" -qAtc 'SHOW server_version'); Signoff $(git -C "$repo" rev-parse --short HEAD); whole run ${run_s} s.
${NOTE:-}

| scale (refresh tokens) | start-up s | introspection p50/p99 | introspection, cold p50/p99 | refresh p50/p99 | logout p50/p99 | DB size | seed s |
|---|---:|---:|---:|---:|---:|---:|---:|
RUN
  printf '%s\n' "${rows[@]}"
  echo
} >>"$OUT"
echo "growth.sh: wrote $OUT" >&2
