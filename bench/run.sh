#!/usr/bin/env bash
# Side-by-side load bench in one run: node oidc-provider (the shared peer, in-memory), Signoff on SQLite (WAL) and
# Signoff on PostgreSQL, the machine's ceilings (RSA-2048 signing, argon2id at Signoff's parameters, a bare axum
# server serving the discovery document), Signoff's memory, and issue 16's targets table. See bench/README.md.
# Usage (from anywhere):  bench/run.sh
#   smoke:                DURATION=2s RUNS=1 BATCH=2000 SMOKE=1 bench/run.sh
# Knobs (env): DURATION=10s RUNS=3 CONNECTIONS=32 BATCH=30000 FLOW_CONNECTIONS=8 REFRESH_CONNECTIONS=32
#   SSO_CONNECTIONS=16 MEM_SETTLE=5 (seconds idle before "RSS after the rows")
#   TARGETS="node sqlite postgres" SPEED_SECONDS=10 WARMUP=2s SMOKE=0 PG_URL=postgres://postgres@127.0.0.1:5432
#   PG_SSLMODE=disable (sqlx's default would be prefer: TLS whenever the server offers it)
#   NODE_PORT=4100 SQLITE_PORT=4200 PG_PORT=4300 BARE_PORT=4400 SHARED_BENCH=/work/shared/bench
#   SIGNOFF_BIN=(built here; the examples bare_axum and argon2_ceiling are taken from its directory's examples/)
# Writes bench/results/<date>.md (or smoke-<date>.md) and the raw per-run JSON next to it (<same name>.raw.jsonl).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
bench=$repo/bench
DURATION=${DURATION:-10s} RUNS=${RUNS:-3} CONNECTIONS=${CONNECTIONS:-32} BATCH=${BATCH:-30000}
FLOW_CONNECTIONS=${FLOW_CONNECTIONS:-8} REFRESH_CONNECTIONS=${REFRESH_CONNECTIONS:-32} SSO_CONNECTIONS=${SSO_CONNECTIONS:-16}
TARGETS=${TARGETS:-node sqlite postgres} SPEED_SECONDS=${SPEED_SECONDS:-10} SMOKE=${SMOKE:-0}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432} PG_SSLMODE=${PG_SSLMODE:-disable} WARMUP=${WARMUP:-2s}
NODE_PORT=${NODE_PORT:-4100} SQLITE_PORT=${SQLITE_PORT:-4200} PG_PORT=${PG_PORT:-4300} BARE_PORT=${BARE_PORT:-4400}
MEM_SETTLE=${MEM_SETTLE:-5}
SHARED_BENCH=${SHARED_BENCH:-/work/shared/bench}
SECS=${DURATION%s}
command_line="DURATION=$DURATION RUNS=$RUNS CONNECTIONS=$CONNECTIONS BATCH=$BATCH FLOW_CONNECTIONS=$FLOW_CONNECTIONS \
REFRESH_CONNECTIONS=$REFRESH_CONNECTIONS SSO_CONNECTIONS=$SSO_CONNECTIONS TARGETS=\"$TARGETS\" SPEED_SECONDS=$SPEED_SECONDS WARMUP=$WARMUP PG_SSLMODE=$PG_SSLMODE \
SMOKE=$SMOKE bench/run.sh"

# The bench sets every Signoff setting itself; settings from the caller's shell would make runs incomparable.
signoff_bin=${SIGNOFF_BIN:-}
while read -r v; do unset "$v"; done < <(compgen -e | grep '^SIGNOFF_' || true)

OHA=$(command -v oha || echo "$HOME/.cargo/bin/oha")
for tool in "$OHA" node npm jq curl openssl psql; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done
for f in revoke-batch.mjs authcode-flow.mjs peers/node-oidc-provider/server.mjs; do
  [ -f "$SHARED_BENCH/$f" ] || { echo "missing $SHARED_BENCH/$f (set SHARED_BENCH)" >&2; exit 1; }
done

log() { printf '[%s] %s\n' "$(date -u +%T)" "$*" >&2; }
tmp=$(mktemp -d)
pids=() pg_db=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  [ -z "$pg_db" ] || psql "$PG_URL/postgres" -qc "drop database if exists $pg_db with (force)" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
stop() { # stop PID: a process this script started
  kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true
  local keep=() p; for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done; pids=("${keep[@]}")
}
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { # free_port BASE: BASE or the next free port above it (other engineers' servers come and go)
  local p; for p in $(seq "$1" $(($1 + 50))); do port_free "$p" && { echo "$p"; return; }; done
  echo "no free port in $1..$(($1 + 50))" >&2; return 1
}
wait_for() { # wait_for URL PID LOGFILE
  for _ in $(seq 300); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "server exited, log:" >&2; tail -20 "$3" >&2; return 1; }
    sleep 0.2
  done
  echo "timeout waiting for $1" >&2; return 1
}

warm_up() { # warm_up TARGET ISSUER: untimed client_credentials burst after a (re)start (pools, caches, JIT)
  [ "${WARMUP%s}" != 0 ] || return 0
  local token_ep; token_ep=$(curl -fsS "$2/.well-known/openid-configuration" | jq -er .token_endpoint)
  "$OHA" --no-tui --output-format json -w -z "$WARMUP" -c "$CONNECTIONS" -m POST -T application/x-www-form-urlencoded \
    -a bench-client:bench-secret -d grant_type=client_credentials "$token_ep" |
    jq -c --arg t "$1" '{target:$t,row:"warm-up (untimed)",run:1,tool:"oha",result:{rps:.summary.requestsPerSec,p99:.latencyPercentiles.p99,slowest:.summary.slowest,codes:.statusCodeDistribution}}' >>"$raw"
}

# ---- output files ---------------------------------------------------------------------------------------------
mkdir -p "$bench/results"
stem=$(date -u +%F); [ "$SMOKE" = 1 ] && stem="smoke-$stem"
[ -e "$bench/results/$stem.md" ] && stem="$stem-$(date -u +%H%M)"
out=$bench/results/$stem.md raw=$bench/results/$stem.raw.jsonl
: >"$raw"
notes=$tmp/notes; : >"$notes"
note() { printf -- '- %s\n' "$*" >>"$notes"; }

# ---- build ----------------------------------------------------------------------------------------------------
SIGNOFF_BIN=$signoff_bin
if [ -z "$SIGNOFF_BIN" ]; then
  log "cargo build --release --bin signoff --example bare_axum --example argon2_ceiling"
  (cd "$repo" && nice -n 10 cargo build --release --bin signoff --example bare_axum --example argon2_ceiling)
  SIGNOFF_BIN=${CARGO_TARGET_DIR:-$repo/target}/release/signoff
fi
# The ceilings' binaries come from the same build as Signoff (same axum/hyper/tokio, same argon2 code).
BARE_AXUM_BIN=$(dirname "$SIGNOFF_BIN")/examples/bare_axum ARGON2_BIN=$(dirname "$SIGNOFF_BIN")/examples/argon2_ceiling
for b in "$SIGNOFF_BIN" "$BARE_AXUM_BIN" "$ARGON2_BIN"; do
  [ -x "$b" ] || { echo "missing $b (cargo build --release --bin signoff --example bare_axum --example argon2_ceiling)" >&2; exit 1; }
done

# ---- node peer (a copy: the shared folder is read-only) -------------------------------------------------------
peer=$tmp/node-peer
if [[ " $TARGETS " == *" node "* ]]; then
  cp -r "$SHARED_BENCH/peers/node-oidc-provider/." "$peer"
  # Same rotation policy as Signoff: oidc-provider rotates a confidential client's refresh token only after 70%
  # of its lifetime by default; the refresh row must measure rotation on both sides.
  sed -i 's|^  pkce: { required: () => false },$|&\n  rotateRefreshToken: true, // added by bench/run.sh|' "$peer/server.mjs"
  grep -q 'rotateRefreshToken: true' "$peer/server.mjs" || { echo "could not enable rotateRefreshToken in the peer" >&2; exit 1; }
  log "npm ci (node peer)"
  (cd "$peer" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# ---- machine facts --------------------------------------------------------------------------------------------
ver() { "$@" 2>/dev/null | head -1 || echo unknown; }
facts=$tmp/facts
{
  # shellcheck source=/dev/null
  echo "- **Machine**: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)"
  echo "- **Load average at start**: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- **Versions**: $(ver "$OHA" --version), node $(node --version), oidc-provider $( [ -d "$peer/node_modules" ] && node -p "require('$peer/node_modules/oidc-provider/package.json').version" || echo '-'), $(ver openssl version), $(ver rustc --version), PostgreSQL server $(psql "$PG_URL/postgres" -tAc 'show server_version' 2>/dev/null || echo unreachable), libsqlite3-sys $(grep -A1 '^name = "libsqlite3-sys"' "$repo/Cargo.lock" | sed -n 's/version = "\(.*\)"/\1/p') (bundled SQLite)"
  echo "- **Signoff**: \`$SIGNOFF_BIN\`, commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown), $(git -C "$repo" status --porcelain 2>/dev/null | wc -l) changed/untracked files in the working tree"
  echo "- **Shared helpers** ($SHARED_BENCH): $(cd "$SHARED_BENCH" && sha256sum revoke-batch.mjs authcode-flow.mjs peers/node-oidc-provider/server.mjs | awk '{printf "%s %s, ", $2, substr($1,1,12)}' | sed 's/, $//') (sha256)"
} >"$facts"

# ---- RSA-2048 signing ceiling -----------------------------------------------------------------------------------
log "openssl speed -multi 2 rsa2048"
openssl speed -seconds "$SPEED_SECONDS" -multi 2 rsa2048 >"$tmp/speed.txt" 2>/dev/null
rsa_sign=$(awk '/^rsa +2048 +bits/ {s=$(NF-1)} END {print s}' "$tmp/speed.txt")
rsa_verify=$(awk '/^rsa +2048 +bits/ {s=$NF} END {print s}' "$tmp/speed.txt")
jq -nc --arg out "$(cat "$tmp/speed.txt")" '{target:"machine",row:"openssl speed -multi 2 rsa2048",run:1,tool:"openssl",result:$out}' >>"$raw"

# ---- argon2id ceiling: Signoff's own verify_password at its own parameters, 2 threads ---------------------------
log "argon2_ceiling $SPEED_SECONDS 2"
"$ARGON2_BIN" "$SPEED_SECONDS" 2 >"$tmp/argon2.json"
argon2_rate=$(jq -er .hashes_per_s "$tmp/argon2.json")
jq -c '{target:"machine",row:"argon2id ceiling (examples/argon2_ceiling.rs)",run:1,tool:"argon2_ceiling",result:.}' "$tmp/argon2.json" >>"$raw"

# ---- measurement helpers --------------------------------------------------------------------------------------
# Each row appends "row<TAB>rps<TAB>p50<TAB>p99<TAB>errors<TAB>per-run" to $tmp/<target>.rows.
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# ROWS_SUFFIX=half sends a row to $tmp/<target>.half instead: the ½-peak runs, reported in their own table.
emit() { # emit TARGET ROW RPS... P50... P99... ERRORS PER_RUN
  printf '%s\t%.0f\t%.2f\t%.2f\t%s\t%s\n' "$2" "$(median <<<"$3")" "$(median <<<"$4")" "$(median <<<"$5")" "$6" "$7" \
    >>"$tmp/$1.${ROWS_SUFFIX:-rows}"
}
skip_row() { printf '%s\t-\t-\t-\t%s\t-\n' "$2" "$3" >>"$tmp/$1.rows"; }
oha_row() { # oha_row TARGET ROW oha-args...   RUNS oha runs of DURATION with CONNECTIONS keep-alive connections
  local target=$1 name=$2 tag=""; shift 2
  [ "${ROWS_SUFFIX:-rows}" = half ] && tag=" (½ peak)"
  log "$target: $name$tag"
  rm -f "$tmp"/run*.json
  for i in $(seq "$RUNS"); do
    "$OHA" --no-tui --output-format json -w -z "${SECS}s" -c "$CONNECTIONS" "$@" >"$tmp/run$i.json"
    jq -c --arg t "$target" --arg r "$name$tag" --argjson i "$i" --arg args "$*" \
      '{target:$t,row:$r,run:$i,tool:"oha",args:$args,result:.}' "$tmp/run$i.json" >>"$raw"
  done
  local s; s=$(jq -s '{rps: map(.summary.requestsPerSec), p50: map(.latencyPercentiles.p50 * 1000), p99: map(.latencyPercentiles.p99 * 1000),
    errs: (map((.statusCodeDistribution | to_entries | map(select(.key | test("^2") | not)) | map(.value) | add // 0)
               + (.errorDistribution | to_entries | map(.value) | add // 0)) | add),
    detail: (map(.statusCodeDistribution + .errorDistribution) | reduce .[] as $d ({}; reduce ($d | to_entries[]) as $e (.; .[$e.key] += $e.value)))}' "$tmp"/run*.json)
  local errs; errs=$(jq -r 'if .errs == 0 then "0" else "\(.errs) \(.detail | with_entries(select(.key | test("^2") | not)) | tojson)" end' <<<"$s")
  emit "$target" "$name" "$(jq -r '.rps[]' <<<"$s")" "$(jq -r '.p50[]' <<<"$s")" "$(jq -r '.p99[]' <<<"$s")" "$errs" \
    "${PER_RUN_PREFIX:-}$(jq -r '.rps | map(. * 10 | round / 10) | join(" / ")' <<<"$s")"
  LAST_RPS=$(jq -r '.rps[]' <<<"$s" | median)
}
node_row() { # node_row TARGET ROW SCRIPT RPSFIELD   (env for the helper is set by the caller)
  local target=$1 name=$2 script=$3 field=$4 tag=""
  [ "${ROWS_SUFFIX:-rows}" = half ] && tag=" (½ peak, RATE=${RATE:-})"
  log "$target: $name$tag"
  : >"$tmp/node.jsonl"
  for i in $(seq "$RUNS"); do
    # A crashed helper (e.g. the provider refused to mint) counts as one error instead of ending the whole bench.
    node "$script" >"$tmp/one.json" 2>"$tmp/one.err" ||
      jq -nc --arg e "$(tail -c 300 "$tmp/one.err")" '{errors: 1, first_error: ("helper failed: " + $e)}' >"$tmp/one.json"
    tail -1 "$tmp/one.json" | tee -a "$tmp/node.jsonl" |
      jq -c --arg t "$target" --arg r "$name$tag" --argjson i "$i" '{target:$t,row:$r,run:$i,tool:"node",result:.}' >>"$raw"
  done
  local s; s=$(jq -s '.' "$tmp/node.jsonl")
  local errs; errs=$(jq -r 'map(.errors) | add | tostring' <<<"$s")
  [ "$errs" != 0 ] && errs="$errs $(jq -c 'map(.first_error // .status)' <<<"$s")"
  emit "$target" "$name" "$(jq -r ".[].$field // empty" <<<"$s")" "$(jq -r '.[].p50_ms // empty' <<<"$s")" "$(jq -r '.[].p99_ms // empty' <<<"$s")" "$errs" \
    "${PER_RUN_PREFIX:-}$(jq -r "map(.$field) | join(\" / \")" <<<"$s")"
  LAST_JSON=$s LAST_RPS=$(jq -r ".[].$field // empty" <<<"$s" | median)
}
half_q() { local q=$(( ${LAST_RPS%.*} / 2 )); (( q > 0 )) || q=1; echo "$q"; }
# Issue 16: "every row at half its own peak has p99 <= 5 ms". One open-loop run at half the row's median peak,
# latency measured from each request's scheduled start (oha --latency-correction), so queueing is not hidden.
oha_pair() { # oha_pair TARGET ROW oha-args...   the peak row (RUNS runs), then one run at ½ of its median
  oha_row "$@"
  local t=$1 r=$2 q; shift 2; q=$(half_q)
  RUNS=1 ROWS_SUFFIX=half PER_RUN_PREFIX="q=$q: " oha_row "$t" "$r" -q "$q" --latency-correction "$@"
}
jwt_alg() { # header alg of a JWT, empty for anything else
  local h=${1%%.*}; [[ $1 == *.*.* ]] || return 0
  h=$(tr '_-' '/+' <<<"$h"); while (( ${#h} % 4 )); do h+='='; done
  base64 -d <<<"$h" 2>/dev/null | jq -r '.alg // empty' 2>/dev/null || true
}
mint() { # mint CLIENT SECRET TOKEN_EP [resource]  -> access token (fails the run if the provider refuses)
  curl -fsS -u "$1:$2" -d grant_type=client_credentials ${4:+-d "resource=$4"} "$3" | jq -er .access_token
}

# bench_rows TARGET ISSUER JWT_CLIENT: every row except the ES256 one, against a running server that signs RS256.
bench_rows() {
  local t=$1 issuer=$2 jwt_client=$3 conf
  conf=$(curl -fsS "$issuer/.well-known/openid-configuration")
  local token_ep jwks intro revoke
  token_ep=$(jq -er .token_endpoint <<<"$conf") jwks=$(jq -er .jwks_uri <<<"$conf")
  intro=$(jq -er .introspection_endpoint <<<"$conf") revoke=$(jq -er .revocation_endpoint <<<"$conf")
  local form=(-m POST -T application/x-www-form-urlencoded -a bench-client:bench-secret)
  local jform=(-m POST -T application/x-www-form-urlencoded -a "$jwt_client:bench-secret")

  oha_pair "$t" "GET discovery" "$issuer/.well-known/openid-configuration"
  oha_pair "$t" "GET jwks_uri" "$jwks"

  local at; at=$(mint bench-client bench-secret "$token_ep")
  [ -z "$(jwt_alg "$at")" ] || note "WARNING $t: the \"opaque\" client_credentials token is a JWT ($(jwt_alg "$at"))."
  oha_pair "$t" "client_credentials, opaque" "${form[@]}" -d grant_type=client_credentials "$token_ep"

  local jwt; jwt=$(mint "$jwt_client" bench-secret "$token_ep" urn:bench:api)
  [ "$(jwt_alg "$jwt")" = RS256 ] || note "WARNING $t: the RS256 row's token has alg '$(jwt_alg "$jwt")'."
  oha_pair "$t" "client_credentials, JWT RS256" "${jform[@]}" -d "grant_type=client_credentials&resource=urn%3Abench%3Aapi" "$token_ep"

  # Introspection of one valid token, minted right before its rows and checked before and after.
  at=$(mint bench-client bench-secret "$token_ep")
  oha_pair "$t" "introspection, opaque token" "${form[@]}" -d "token=$at" "$intro"
  local active; active=$(curl -fsS -u bench-client:bench-secret -d "token=$at" "$intro" | jq -r .active)
  [ "$active" = true ] || note "WARNING $t: the introspected opaque token reported active=$active after its rows."

  jwt=$(mint "$jwt_client" bench-secret "$token_ep" urn:bench:api)
  local probe; probe=$(curl -sS -u "$jwt_client:bench-secret" -d "token=$jwt" "$intro")
  if [ "$(jq -r .active <<<"$probe" 2>/dev/null)" = true ]; then
    oha_pair "$t" "introspection, JWT access token (RS256)" "${jform[@]}" -d "token=$jwt" "$intro"
    active=$(curl -fsS -u "$jwt_client:bench-secret" -d "token=$jwt" "$intro" | jq -r .active)
    [ "$active" = true ] || note "WARNING $t: the introspected JWT reported active=$active after its row."
  else
    skip_row "$t" "introspection, JWT access token (RS256)" \
      "not supported: $(jq -r 'if .active == false then "active=false" else .error // "?" end' <<<"$probe" 2>/dev/null || echo "${probe:0:80}")"
  fi

  oha_pair "$t" "revocation, unknown token" "${form[@]}" \
    -d "token=unknown-$RANDOM$RANDOM&token_type_hint=access_token" "$revoke"

  if [ "$BATCH" != 0 ]; then
    local batch_name="revocation batch ($BATCH pre-minted, each once)"
    # BATCH=$BATCH exports it to the helper (the script's own knobs are not exported).
    ISSUER=$issuer CLIENT_ID=bench-client CLIENT_SECRET=bench-secret BATCH=$BATCH CONNECTIONS=$CONNECTIONS \
      node_row "$t" "$batch_name" "$SHARED_BENCH/revoke-batch.mjs" rps
    local bad; bad=$(jq '[.[] | select((.sample_active_before | split("/") | .[0] != .[1]) or (.sample_active_after | startswith("0/") | not))] | length' <<<"$LAST_JSON")
    [ "$bad" = 0 ] || note "WARNING $t: revocation batch: in $bad run(s) sampled tokens were not active before or still active after."
  fi

  # Env prefixes on a function call reach the node helper it starts; CONNECTIONS and RATE are set per call.
  user_row() { ISSUER=$issuer CLIENT_ID=bench-client CLIENT_SECRET=bench-secret USERNAME=alice PASSWORD=alice-password \
    REDIRECT_URI=http://127.0.0.1:9999/cb DURATION=$SECS node_row "$@"; }
  local refresh="refresh_token grant, rotating chains"
  CONNECTIONS=$REFRESH_CONNECTIONS user_row "$t" "$refresh" "$bench/refresh-chain.mjs" rps
  local unrotated; unrotated=$(jq '[.[] | (.status["200"] // 0) - .rotated] | add' <<<"$LAST_JSON")
  [ "$unrotated" = 0 ] || note "WARNING $t: $unrotated successful refreshes returned no new refresh token (no rotation)."
  local q; q=$(half_q)
  CONNECTIONS=$REFRESH_CONNECTIONS RATE=$q PER_RUN_PREFIX="RATE=$q: " RUNS=1 ROWS_SUFFIX=half \
    user_row "$t" "$refresh" "$bench/refresh-chain.mjs" rps

  CONNECTIONS=$FLOW_CONNECTIONS user_row "$t" "authorization_code flow (flows/s)" "$SHARED_BENCH/authcode-flow.mjs" flows_per_s
  note "$t: authorization_code flow: $(jq -r 'map(.http_requests / ([.flows + .errors, 1] | max)) | add / length * 10 | round / 10' <<<"$LAST_JSON") HTTP requests per flow (token call included)."

  # Sign in once per connection, then authorize (session cookie) -> code -> token, no password (bench/sso-flow.mjs).
  local sso="authorization_code flow, SSO session (flows/s)" forms
  CONNECTIONS=$SSO_CONNECTIONS user_row "$t" "$sso" "$bench/sso-flow.mjs" flows_per_s
  forms=$(jq '[.[].forms // 0] | add' <<<"$LAST_JSON")
  note "$t: SSO flow: $(jq -r 'map(.requests_per_flow // 0) | add / length' <<<"$LAST_JSON") HTTP requests per flow (token call included), $forms pages shown in the timed window$([ "$forms" = 0 ] || echo ' (the provider asked again: each was submitted as the real flow would, so these flows are not session-only)')."
  q=$(half_q)
  CONNECTIONS=$SSO_CONNECTIONS RATE=$q PER_RUN_PREFIX="RATE=$q: " RUNS=1 ROWS_SUFFIX=half \
    user_row "$t" "$sso" "$bench/sso-flow.mjs" flows_per_s
}

es256_row() { # es256_row TARGET ISSUER CLIENT
  local token_ep; token_ep=$(curl -fsS "$2/.well-known/openid-configuration" | jq -er .token_endpoint)
  local jwt; jwt=$(mint "$3" bench-secret "$token_ep" urn:bench:api:es256)
  [ "$(jwt_alg "$jwt")" = ES256 ] || note "WARNING $1: the ES256 row's token has alg '$(jwt_alg "$jwt")'."
  oha_pair "$1" "client_credentials, JWT ES256" -m POST -T application/x-www-form-urlencoded -a "$3:bench-secret" \
    -d "grant_type=client_credentials&resource=urn%3Abench%3Aapi%3Aes256" "$token_ep"
}

# ---- memory ---------------------------------------------------------------------------------------------------
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; } # status_kb PID FIELD -> kB
# mem_after TARGET PID IDLE_KB: after the rows, MEM_SETTLE s idle, then the high-water mark (peak RSS over the
# process's whole life) and the resident set, both read just before the stop. One line in $tmp/<target>.mem.
mem_after() {
  sleep "$MEM_SETTLE"
  printf '%s\t%s\t%s\n' "$3" "$(status_kb "$2" VmHWM)" "$(status_kb "$2" VmRSS)" >"$tmp/$1.mem"
}

# ---- targets --------------------------------------------------------------------------------------------------
run_node() {
  NODE_PORT=$(free_port "$NODE_PORT")
  (cd "$peer" && NODE_ENV=production PORT=$NODE_PORT exec node server.mjs) >"$tmp/node.log" 2>&1 &
  local pid=$!; pids+=("$pid")
  local issuer=http://127.0.0.1:$NODE_PORT
  wait_for "$issuer/.well-known/openid-configuration" "$pid" "$tmp/node.log"
  local idle; idle=$(status_kb "$pid" VmRSS)
  warm_up node "$issuer"
  bench_rows node "$issuer" bench-client
  es256_row node "$issuer" bench-client
  mem_after node "$pid" "$idle"
  stop "$pid"
  local errs; errs=$(grep -c server_error "$tmp/node.log" || true)
  [ "$errs" = 0 ] || note "node: $errs server_error lines in the peer's log."
}

signoff() { "$SIGNOFF_BIN" "$@"; }
# Signing keys are sealed under a master key in newer builds (docs/keys.md); older builds reject the unknown
# setting. Probe once with `signoff migrate` and keep whatever this build accepts.
master_key_env() {
  export SIGNOFF_MASTER_KEY; SIGNOFF_MASTER_KEY=$(openssl rand -base64 32)
  if ! signoff migrate >"$tmp/migrate.log" 2>&1; then
    if grep -qi 'master' "$tmp/migrate.log" && grep -qi 'unknown' "$tmp/migrate.log"; then
      unset SIGNOFF_MASTER_KEY; signoff migrate >"$tmp/migrate.log" 2>&1 || { cat "$tmp/migrate.log" >&2; return 1; }
    else
      cat "$tmp/migrate.log" >&2; return 1
    fi
  fi
}
start_signoff() { # start_signoff TARGET ALG   -> SIGNOFF_PID
  # The binary itself, not the `signoff` function: $! must be the server's pid.
  SIGNOFF_KEYS__DEFAULT_ALG=$2 "$SIGNOFF_BIN" serve >>"$tmp/$1.log" 2>&1 &
  SIGNOFF_PID=$!; pids+=("$SIGNOFF_PID")
  wait_for "$SIGNOFF_ISSUER/.well-known/openid-configuration" "$SIGNOFF_PID" "$tmp/$1.log"
  IDLE_KB=$(status_kb "$SIGNOFF_PID" VmRSS) # right after start: before the warm-up
  warm_up "$1" "$SIGNOFF_ISSUER"
}
run_signoff() { # run_signoff TARGET DATABASE_URL PORT
  local t=$1 port; port=$(free_port "$3")
  export SIGNOFF_DATABASE_URL=$2 SIGNOFF_BIND=127.0.0.1:$port SIGNOFF_ISSUER=http://127.0.0.1:$port SIGNOFF_LOG=warn
  # The load generator is one address signing in over and over: the per-address sign-in budget (README,
  # "Password checks and brute force") would answer it 429, so the flow row turns the budget off. Failed-password
  # throttling stays on (the bench never fails a password).
  export SIGNOFF_SESSIONS__INTERACTIONS_PER_MINUTE=0 SIGNOFF_SESSIONS__INTERACTION_BURST=0
  master_key_env
  local common=(--secret bench-secret --redirect-uri http://127.0.0.1:9999/cb --grant-type authorization_code
    --grant-type refresh_token --grant-type client_credentials --scope openid --scope profile --scope offline_access
    --scope api:read --audience urn:bench:api --audience urn:bench:api:es256)
  signoff client add --id bench-client "${common[@]}" --access-token-format opaque >/dev/null
  signoff client add --id bench-jwt "${common[@]}" --access-token-format jwt >/dev/null
  printf '%s' alice-password | signoff user add --username alice --password-stdin >/dev/null
  # JWT access tokens are signed with the global keys.default_alg: RS256 for every row but one, then a restart.
  start_signoff "$t" RS256
  # The bare axum reference serves these bytes (the first Signoff target's document; only the port differs).
  [ -s "$tmp/discovery.json" ] || curl -fsS -o "$tmp/discovery.json" "$SIGNOFF_ISSUER/.well-known/openid-configuration"
  bench_rows "$t" "$SIGNOFF_ISSUER" bench-jwt
  # Memory is the RS256 process's: it serves every row but ES256 (which needs a restart with another key).
  mem_after "$t" "$SIGNOFF_PID" "$IDLE_KB"
  stop "$SIGNOFF_PID"
  start_signoff "$t" ES256
  es256_row "$t" "$SIGNOFF_ISSUER" bench-jwt
  stop "$SIGNOFF_PID"
  # The log may carry ANSI colours; strip them, then group lines by level, target and message (fields dropped).
  sed -E 's/\x1b\[[0-9;]*m//g' "$tmp/$t.log" | grep -E '^[^ ]+ +(WARN|ERROR) ' | sed -E 's/^[^ ]+ +//; s/ [a-z_]+=.*$//' >"$tmp/$t.warn" || true
  if [ -s "$tmp/$t.warn" ]; then
    note "$t: $(wc -l <"$tmp/$t.warn") WARN/ERROR lines in Signoff's log (SIGNOFF_LOG=warn, warm-up included), most frequent:"
    sort "$tmp/$t.warn" | uniq -c | sort -rn | head -5 | cut -c1-200 | sed 's/^ */    - /' >>"$notes"
  fi
  unset SIGNOFF_DATABASE_URL SIGNOFF_BIND SIGNOFF_ISSUER SIGNOFF_LOG SIGNOFF_MASTER_KEY
}

for t in $TARGETS; do
  case $t in
    node) run_node ;;
    sqlite)
      mkdir -p "$tmp/sqlite"
      run_signoff sqlite "sqlite://$tmp/sqlite/signoff.db?mode=rwc" "$SQLITE_PORT"
      [ -e "$tmp/sqlite/signoff.db-wal" ] && note "sqlite: journal in WAL mode (signoff.db-wal present)." ;;
    postgres)
      pg_db=signoff_bench_$(openssl rand -hex 4)
      psql "$PG_URL/postgres" -v ON_ERROR_STOP=1 -qc "create database $pg_db" >/dev/null
      run_signoff postgres "$PG_URL/$pg_db?sslmode=$PG_SSLMODE" "$PG_PORT"
      psql "$PG_URL/postgres" -qc "drop database $pg_db with (force)" >/dev/null && pg_db="" ;;
    *) echo "unknown target $t (node, sqlite, postgres)" >&2; exit 1 ;;
  esac
done

# ---- bare axum reference: same axum/hyper/tokio, no middleware, Signoff's discovery document as fixed bytes ----
if [ -s "$tmp/discovery.json" ]; then
  BARE_PORT=$(free_port "$BARE_PORT")
  "$BARE_AXUM_BIN" "$tmp/discovery.json" "127.0.0.1:$BARE_PORT" >"$tmp/bare.log" 2>&1 &
  bare_pid=$!; pids+=("$bare_pid")
  wait_for "http://127.0.0.1:$BARE_PORT/.well-known/openid-configuration" "$bare_pid" "$tmp/bare.log"
  cmp -s "$tmp/discovery.json" <(curl -fsS "http://127.0.0.1:$BARE_PORT/.well-known/openid-configuration") ||
    note "WARNING: the bare axum server did not return the discovery document's bytes."
  oha_pair machine "bare axum, fixed discovery bytes" "http://127.0.0.1:$BARE_PORT/.well-known/openid-configuration"
  stop "$bare_pid"
fi

# ---- report ---------------------------------------------------------------------------------------------------
refresh_row="refresh_token grant, rotating chains" flow_row="authorization_code flow (flows/s)"
sso_row="authorization_code flow, SSO session (flows/s)" batch_row="revocation batch ($BATCH pre-minted, each once)"
rows=("GET discovery" "GET jwks_uri" "client_credentials, opaque" "client_credentials, JWT RS256"
  "client_credentials, JWT ES256" "introspection, opaque token" "introspection, JWT access token (RS256)"
  "revocation, unknown token" "$batch_row" "$refresh_row" "$flow_row" "$sso_row")
cell() { # cell TARGET ROW [SUFFIX] -> "rps | p50 / p99 | errors"
  awk -F'\t' -v r="$2" '$1 == r { printf "%s | %s / %s | %s", $2, $3, $4, $5; found=1 } END { if (!found) printf "- | - | -" }' \
    "$tmp/$1.${3:-rows}" 2>/dev/null || printf -- '- | - | -'
}
val() { # val TARGET ROW [COLUMN=2 (req/s), 4 = p99] [SUFFIX=rows] -> the number, or nothing (a row that failed
  # outright has rate 0: "not measured" rather than a ratio of 0). Errors of a row that ran are in its Results cell.
  awk -F'\t' -v r="$2" -v c="${3:-2}" '$1 == r && $c != "-" && !(c == 2 && $c + 0 == 0) { print $c; exit }' \
    "$tmp/$1.${4:-rows}" 2>/dev/null || true
}
# Checks for the targets table: each prints "<measured> (<target>): HOLDS|MISSED", or "n/a (<why>)".
pct_check() { # pct_check VALUE REFERENCE MIN_PERCENT WHAT
  { [ -n "$1" ] && [ -n "$2" ]; } || { echo "n/a ($4 not measured)"; return; }
  awk -v a="$1" -v b="$2" -v m="$3" -v w="$4" 'BEGIN { p = b > 0 ? 100 * a / b : 0
    printf "%.0f %% of %s (%.0f / %.0f; ≥ %s %%): %s", p, w, a, b, m, (p >= m ? "HOLDS" : "MISSED") }'
}
times_check() { # times_check VALUE REFERENCE MIN_TIMES WHAT
  { [ -n "$1" ] && [ -n "$2" ]; } || { echo "n/a ($4 not measured)"; return; }
  awk -v a="$1" -v b="$2" -v m="$3" -v w="$4" 'BEGIN { x = b > 0 ? a / b : 0
    printf "%.2f× %s (%.0f / %.0f; ≥ %s×): %s", x, w, a, b, m, (x >= m ? "HOLDS" : "MISSED") }'
}
max_check() { # max_check VALUE MAX UNIT
  [ -n "$1" ] || { echo "n/a (not measured)"; return; }
  awk -v a="$1" -v m="$2" -v u="$3" 'BEGIN { printf "%.1f %s (≤ %s %s): %s", a, u, m, u, (a <= m ? "HOLDS" : "MISSED") }'
}
both() { printf '%s; %s' "$1" "$2"; } # two conditions of one target, both must hold
verdict() { # the row's verdict: MISSED if any condition missed, else n/a if any was not measured, else HOLDS
  case $1 in *MISSED*) echo "**MISSED**" ;; *n/a*) echo "n/a" ;; *) echo "**HOLDS**" ;; esac
}
mem_mb() { # mem_mb TARGET FIELD(1 idle, 2 peak, 3 after) -> MB
  if [ -s "$tmp/$1.mem" ]; then awk -F'\t' -v f="$2" '$f != "" { printf "%.1f", $f / 1024 }' "$tmp/$1.mem"; fi
}
half_check() { # half_check TARGET: every ½-peak run's p99 ≤ 5 ms, and without errors (a failed run has no p99)
  [ -s "$tmp/$1.half" ] || { echo "n/a (no ½-peak runs)"; return; }
  awk -F'\t' '$4 != "-" { n++; if ($4 + 0 > 5 || $5 != "0") { miss = miss sprintf("%s%s %s", (miss ? ", " : ""), $1, ($5 != "0" ? "errors" : sprintf("%.1f ms", $4))) }
      if ($4 + 0 > worst) { worst = $4 + 0; w = $1 } }
    END { printf "%d rows, worst p99 %.2f ms (%s)%s: %s", n, worst, w, (miss ? "; over 5 ms: " miss : ""), (miss ? "MISSED" : "HOLDS") }' "$tmp/$1.half"
}
signoff_targets=() # the Signoff targets of this run, in order
for t in $TARGETS; do [ "$t" = node ] || signoff_targets+=("$t"); done
target_line() { # target_line TARGET-NAME CHECK-FUNCTION: one row of the targets table, a cell per Signoff target
  local name=$1 fn=$2 t c; printf '| %s |' "$name"
  for t in "${signoff_targets[@]}"; do c=$("$fn" "$t"); printf ' %s %s |' "$(verdict "$c")" "${c//|//}"; done; echo
}
bare_rps=$(val machine "bare axum, fixed discovery bytes")
t_disc() { pct_check "$(val "$1" "GET discovery")" "$bare_rps" 80 "bare axum"; }
t_intro() { both "$(pct_check "$(val "$1" "introspection, opaque token")" "$(val "$1" "GET discovery")" 50 discovery)" \
  "$(times_check "$(val "$1" "introspection, opaque token")" "$(val node "introspection, opaque token")" 3 node)"; }
t_jwt() { pct_check "$(val "$1" "introspection, JWT access token (RS256)")" "$(val "$1" "GET discovery")" 50 discovery; }
t_cc() { both "$(pct_check "$(val "$1" "client_credentials, opaque")" "$(val "$1" "GET discovery")" 40 discovery)" \
  "$(times_check "$(val "$1" "client_credentials, opaque")" "$(val node "client_credentials, opaque")" 3 node)"; }
t_es() { pct_check "$(val "$1" "client_credentials, JWT ES256")" "$(val "$1" "GET discovery")" 40 discovery; }
t_rs() { pct_check "$(val "$1" "client_credentials, JWT RS256")" "$rsa_sign" 85 "RSA-2048 sign/s"; }
t_refresh() { times_check "$(val "$1" "$refresh_row")" "$(val node "$refresh_row")" 2 "node"; }
t_batch() { times_check "$(val "$1" "$batch_row")" "$(val node "$batch_row")" 2 "node"; }
t_flow() { pct_check "$(val "$1" "$flow_row")" "$argon2_rate" 90 "argon2id hashes/s"; }
t_sso() { times_check "$(val "$1" "$sso_row")" "$(val node "$sso_row")" 5 "node's SSO flow row"; }
t_half() { half_check "$1"; }
t_idle() { max_check "$(mem_mb "$1" 1)" 25 MB; }
t_peak() { max_check "$(mem_mb "$1" 2)" 100 MB; }
t_after() { max_check "$(mem_mb "$1" 3)" 60 MB; }
{
  echo "# Signoff vs node-oidc-provider: load bench, $(date -u +%F)"
  echo
  if [ "$SMOKE" = 1 ]; then
    echo "> **Smoke run, machine busy, not for comparison.** Other builds shared the 2 cores; this run only shows that"
    echo "> \`bench/run.sh\` works end to end."
    echo
  fi
  echo "- **Command**: \`$command_line\` ($(date -u +%FT%TZ) end)"
  cat "$facts"
  echo "- **Load average at end**: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- **Method**: $CONNECTIONS keep-alive connections, ${SECS}s × $RUNS runs per row, medians; errors = non-2xx +"
  echo "  transport errors summed over runs. Targets run one after another, each alone on the machine, each (re)start"
  echo "  followed by an untimed $WARMUP client_credentials warm-up. PostgreSQL over TCP with sslmode=$PG_SSLMODE."
  echo "  Every row then runs once more, open loop at half its own median peak (½-peak table). Setup: bench/README.md."
  echo "- **Raw JSON**: \`$stem.raw.jsonl\` (one line per run: target, row, tool, oha/helper output)."
  echo
  echo "## Results"
  echo
  printf '| row |'; for t in $TARGETS; do printf ' %s req/s | %s p50 / p99 ms | %s errors |' "$t" "$t" "$t"; done; echo
  printf '|---|'; for _ in $TARGETS; do printf -- '---:|---:|---|'; done; echo
  for r in "${rows[@]}"; do
    printf '| %s |' "$r"; for t in $TARGETS; do printf ' %s |' "$(cell "$t" "$r")"; done; echo
  done
  echo
  echo "## Ceilings (same run)"
  echo
  echo "| ceiling | rate | how |"
  echo "|---|---:|---|"
  bare_lat=""; [ -z "$bare_rps" ] || bare_lat=" (p50 / p99 $(val machine "bare axum, fixed discovery bytes" 3) / $(val machine "bare axum, fixed discovery bytes" 4) ms)"
  echo "| bare axum, fixed discovery bytes | ${bare_rps:--} req/s$bare_lat | \`examples/bare_axum.rs\`: same axum/hyper/tokio, no middleware, oha like the discovery row (not run without a Signoff target) |"
  echo "| RSA-2048 sign | $rsa_sign sign/s (verify $rsa_verify/s) | \`openssl speed -seconds $SPEED_SECONDS -multi 2 rsa2048\` |"
  echo "| argon2id at Signoff's parameters | $argon2_rate hashes/s | \`examples/argon2_ceiling.rs $SPEED_SECONDS 2\`: \`secrets::verify_password\` on 2 threads |"
  echo
  echo "## At half peak (one open-loop run per row, p99 target ≤ 5 ms)"
  echo
  echo "oha rows: \`oha -q <½ median peak> --latency-correction\`; refresh and SSO rows: the helper's \`RATE\` (open loop,"
  echo "timed from each request's scheduled start). Not run at half peak: the revocation batch (the shared"
  echo "revoke-batch.mjs has no rate knob; its batch is a fixed amount of work) and the password code flow (the shared"
  echo "authcode-flow.mjs has none either)."
  echo
  printf '| row |'; for t in $TARGETS machine; do [ -s "$tmp/$t.half" ] && printf ' %s rate (req/s) | %s p50 / p99 ms | %s errors |' "$t" "$t" "$t"; done; echo
  printf '|---|'; for t in $TARGETS machine; do [ -s "$tmp/$t.half" ] && printf -- '---:|---:|---|'; done; echo
  for r in "${rows[@]}" "bare axum, fixed discovery bytes"; do
    printf '| %s |' "$r"; for t in $TARGETS machine; do [ -s "$tmp/$t.half" ] && printf ' %s |' "$(cell "$t" "$r" half)"; done; echo
  done
  echo
  echo "## Memory (RSS of the server process, MB)"
  echo
  echo "Idle: right after start, before the warm-up. Peak: VmHWM just before the stop (the whole run). After: VmRSS just"
  echo "before the stop, ${MEM_SETTLE}s idle after the last row. Signoff: the RS256 process, which serves every row but"
  echo "ES256 (run.sh restarts Signoff for that row)."
  echo
  echo "| target | idle | peak | after |"
  echo "|---|---:|---:|---:|"
  for t in $TARGETS; do printf '| %s | %s | %s | %s |\n' "$t" "$(mem_mb "$t" 1)" "$(mem_mb "$t" 2)" "$(mem_mb "$t" 3)"; done
  echo
  if [ ${#signoff_targets[@]} -gt 0 ]; then
    echo "## Issue 16 targets"
    echo
    printf '| target |'; for t in "${signoff_targets[@]}"; do printf ' %s |' "$t"; done; echo
    printf '|---|'; for _ in "${signoff_targets[@]}"; do printf -- '---|'; done; echo
    target_line "GET discovery ≥ 80 % of the bare axum server" t_disc
    target_line "introspection, opaque: ≥ 50 % of discovery and ≥ 3× node" t_intro
    target_line "introspection, JWT: ≥ 50 % of discovery" t_jwt
    target_line "client_credentials, opaque, durable: ≥ 40 % of discovery and ≥ 3× node" t_cc
    target_line "client_credentials, ES256 JWT: ≥ 40 % of discovery (the RS256 process's discovery)" t_es
    target_line "client_credentials, RS256 JWT: ≥ 85 % of the RSA signing ceiling" t_rs
    target_line "refresh with rotation: ≥ 2× node" t_refresh
    target_line "revocation of real tokens (batch): ≥ 2× node" t_batch
    target_line "code flow, real password: ≥ 90 % of the argon2id ceiling" t_flow
    target_line "code flow, SSO session: ≥ 5× node (node's SSO flow row, same script)" t_sso
    target_line "every row at half its own peak: p99 ≤ 5 ms (rows of the ½-peak table)" t_half
    target_line "memory: idle RSS ≤ 25 MB" t_idle
    target_line "memory: peak RSS during the whole run ≤ 100 MB" t_peak
    target_line "memory: RSS after the run ≤ 60 MB" t_after
    echo
  fi
  echo "## Per target (req/s of every run)"
  for t in $TARGETS machine; do
    [ -s "$tmp/$t.rows" ] || continue
    echo; echo "### $t"; echo
    echo "| row | req/s | p50 ms | p99 ms | errors | req/s per run |"
    echo "|---|---:|---:|---:|---|---|"
    awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$tmp/$t.rows"
    [ -s "$tmp/$t.half" ] && awk -F'\t' '{ printf "| %s, ½ peak | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$tmp/$t.half"
  done
  echo
  echo "## Checks and notes"
  echo
  if [ -s "$notes" ]; then cat "$notes"; else echo "- none"; fi
} >"$out"
log "wrote $out and $raw"
cat "$out"
