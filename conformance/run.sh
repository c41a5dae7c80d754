#!/usr/bin/env bash
# Runs every conformance plan against a freshly started provider.
#
#   conformance/run.sh signoff   [runner args...]   # builds Signoff, fresh SQLite database
#   conformance/run.sh reference [runner args...]   # node oidc-provider (OpenID Certified)
#   conformance/run.sh faults                       # the reference with one defect at a time:
#                                                   # each must make its module FAIL
#   conformance/run.sh ssf-faults                   # Signoff, each openid-ssf-* module against a
#                                                   # defective transmitter (--ssf-fault): each must FAIL
#
# Extra arguments go to signoff-conformance (e.g. --module oidcc-server, --verbose).
# Exits non-zero when any module FAILED; the last line printed is the summary line
# "PASSED n, FAILED n, WARNING n, SKIPPED n, REVIEW n".
# Ports: PROVIDER_PORT (default 4300 for signoff, 4200 for reference), RP_PORT (8975).
# The JSON report lands in conformance/out/report-TARGET.json.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
target="${1:-}"
[[ $# -gt 0 ]] && shift
target_dir="${CARGO_TARGET_DIR:-$root/target}"
rp_port="${RP_PORT:-8975}"
out="$here/out"
mkdir -p "$out"
work="$(mktemp -d)"
server_pid=""

fatal() {
    echo "run.sh: $*" >&2
    echo "PASSED 0, FAILED 1, WARNING 0, SKIPPED 0, REVIEW 0"
    exit 1
}

cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

wait_for_discovery() {
    local issuer="$1" log="$2"
    for _ in $(seq 1 60); do
        if curl -fsS -o /dev/null "$issuer/.well-known/openid-configuration" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            tail -n 20 "$log" >&2
            fatal "the provider exited before serving discovery"
        fi
        sleep 0.5
    done
    tail -n 20 "$log" >&2
    fatal "the provider did not serve $issuer/.well-known/openid-configuration within 30s"
}

build_runner() {
    (cd "$root" && cargo build --quiet -p signoff-conformance) || fatal "cannot build signoff-conformance"
}

# The private_key_jwt and fapi2 clients' P-256 key, a throwaway one per run; the runner
# signs client assertions with it and prints the public JWK Set the provider registers.
client_key() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/client-key.pem" 2>/dev/null \
        || fatal "openssl cannot generate the client key"
    "$target_dir/debug/signoff-conformance" --print-jwks "$work/client-key.pem" >"$work/client-jwks.json" \
        || fatal "cannot print the client JWK Set"
}

# The reference's configuration, plus the key file of the private_key_jwt clients.
reference_config() {
    cat "$here/reference/conformance.toml"
    cat <<EOF

[clients.private_key_jwt]
id = "conformance-private-key-jwt"
auth = "private_key_jwt"
key = "$work/client-key.pem"

[clients.fapi2]
id = "conformance-fapi2"
auth = "private_key_jwt"
key = "$work/client-key.pem"
EOF
}

start_reference() {
    local port="$1" fault="$2" log="$3"
    (cd "$here/reference" && PORT="$port" RP_BASE="http://127.0.0.1:$rp_port" REFERENCE_FAULT="$fault" \
        CLIENT_JWKS="$work/client-jwks.json" exec node server.mjs) >"$log" 2>&1 &
    server_pid=$!
    wait_for_discovery "http://127.0.0.1:$port" "$log"
}

stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

prepare_reference() {
    command -v node >/dev/null || fatal "node is not installed"
    (cd "$here/reference" && npm ci --silent --no-audit --no-fund >/dev/null 2>&1) || fatal "npm ci failed in conformance/reference"
    build_runner
    client_key
    reference_config >"$work/reference.toml"
}

run_reference() {
    local port="${PROVIDER_PORT:-4200}"
    prepare_reference
    start_reference "$port" "" "$out/reference.log"
    "$target_dir/debug/signoff-conformance" --config "$work/reference.toml" \
        --issuer "http://127.0.0.1:$port" --receiver-bind "127.0.0.1:$rp_port" \
        --report "$out/report-reference.json" "$@"
}

# Every fault of reference/faults.mjs must turn its module FAILED (or the result it names);
# a fault the runner does not catch is a runner defect.
run_faults() {
    local port="${PROVIDER_PORT:-4200}" caught=0 missed=0 fault module expect verdict
    prepare_reference
    local list
    list="$(cd "$here/reference" && node --input-type=module -e \
        "import { FAULTS } from './faults.mjs'; for (const [f, m] of Object.entries(FAULTS)) console.log(f, m);")"
    while read -r fault module expect; do
        # FAULTS_ONLY="name ..." runs just those faults (when working on one).
        if [[ -n "${FAULTS_ONLY:-}" && " $FAULTS_ONLY " != *" $fault "* ]]; then
            continue
        fi
        expect="${expect:-FAILED}"
        # PLAN/MODULE names a module of one plan (a variant plan shares the Basic plan's names).
        local plan_args=()
        if [[ "$module" == */* ]]; then
            plan_args=(--plan "${module%%/*}")
            module="${module#*/}"
        fi
        start_reference "$port" "$fault" "$out/fault-$fault.provider.log"
        "$target_dir/debug/signoff-conformance" --config "$work/reference.toml" \
            --issuer "http://127.0.0.1:$port" --receiver-bind "127.0.0.1:$rp_port" --fast \
            "${plan_args[@]}" --module "$module" --report "$work/fault.json" >"$out/fault-$fault.log" 2>&1 || true
        stop_server
        verdict="$(node -e '
            const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).modules[0];
            const f = r.findings.find((x) => x.status === r.status);
            console.log(r.status + (f ? ` [${f.spec}] ${f.message}` : ""));' "$work/fault.json" 2>/dev/null || echo "NO REPORT")"
        rm -f "$work/fault.json"
        if [[ "$verdict" == "$expect"* ]]; then
            caught=$((caught + 1))
            echo "caught  $fault -> $module $verdict"
        else
            missed=$((missed + 1))
            echo "MISSED  $fault -> $module $verdict (see conformance/out/fault-$fault.log)"
        fi
    done <<<"$list"
    echo "faults: $caught passed, $missed failed"
    [[ $missed -eq 0 ]]
}

run_signoff() {
    local port="${PROVIDER_PORT:-4300}"
    local issuer="http://127.0.0.1:$port"
    local rp="http://127.0.0.1:$rp_port"
    local password
    password="conformance-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
    (cd "$root" && cargo build --quiet --bin signoff) || fatal "cannot build signoff"
    build_runner
    client_key
    local signoff="$target_dir/debug/signoff"
    export SIGNOFF_DATABASE_URL="sqlite://$work/signoff.db?mode=rwc"
    export SIGNOFF_BIND="127.0.0.1:$port"
    export SIGNOFF_ISSUER="$issuer"
    # Every module signs in from this one address at machine speed: a budget
    # far above the per-address default (60), so the plans test the protocol.
    export SIGNOFF_SESSIONS__INTERACTIONS_PER_MINUTE=600
    export SIGNOFF_SESSIONS__INTERACTION_BURST=600
    # The SSF push modules push to the runner's receiver, plain http on loopback.
    export SIGNOFF_SSF__PUSH_ALLOW_PRIVATE=true
    local log="$out/signoff.log"
    : >"$log"
    # serve seals its signing keys with a master key; a throwaway one per run.
    SIGNOFF_MASTER_KEY="$("$signoff" keys generate-master-key 2>>"$log")" || fatal "signoff keys generate-master-key failed (see $log)"
    export SIGNOFF_MASTER_KEY
    # oidcc-backchannel-idp-initiated-logout ends the session from the provider's side with this.
    export CONFORMANCE_SIGNOFF_BIN="$signoff"
    "$signoff" migrate >>"$log" 2>&1 || fatal "signoff migrate failed (see $log)"

    local common=(--redirect-uri "$rp/cb" --post-logout-redirect-uri "$rp/logged-out"
        --scope openid --scope profile --scope email --scope address --scope phone --scope offline_access
        --grant-type authorization_code --grant-type refresh_token)
    add_client() { "$signoff" client add "$@" >>"$log" 2>&1 || fatal "signoff client add $2 failed (see $log)"; }
    add_client --id conformance-main --secret conformance-main-secret-0123456789abcdef "${common[@]}"
    add_client --id conformance-post --secret conformance-post-secret-0123456789abcdef "${common[@]}"
    add_client --id conformance-second --secret conformance-second-secret-0123456789abcdef "${common[@]}"
    add_client --id conformance-backchannel --secret conformance-backchannel-secret-0123456789abcdef \
        "${common[@]}" --backchannel-logout-uri "$rp/backchannel"
    add_client --id conformance-frontchannel --secret conformance-frontchannel-secret-0123456789abcdef \
        "${common[@]}" --frontchannel-logout-uri "$rp/frontchannel"
    # private_key_jwt (RFC 7523): the Basic plan's private_key_jwt variant, and the FAPI2
    # modules' client, which also has DPoP-bound tokens (RFC 9449).
    add_client --id conformance-private-key-jwt --jwks "$work/client-jwks.json" "${common[@]}"
    add_client --id conformance-fapi2 --jwks "$work/client-jwks.json" --dpop-bound \
        --redirect-uri "$rp/cb" --scope openid --scope offline_access \
        --grant-type authorization_code --grant-type refresh_token
    # Shared Signals receivers (openid-ssf-transmitter-test-plan): one that manages streams, one read-only.
    add_client --id conformance-ssf --secret conformance-ssf-secret-0123456789abcdef \
        --grant-type client_credentials --scope ssf.manage
    add_client --id conformance-ssf-read --secret conformance-ssf-read-secret-0123456789abcdef \
        --grant-type client_credentials --scope ssf.read
    printf '%s' "$password" | "$signoff" user add --username alice --email alice@example.test --name "Alice Example" \
        --phone +15551234567 --address "1 Conformance Way, Springfield" \
        --password-stdin >>"$log" 2>&1 || fatal "signoff user add failed (see $log)"

    "$signoff" serve >>"$log" 2>&1 &
    server_pid=$!
    wait_for_discovery "$issuer" "$log"

    cat >"$work/conformance.toml" <<EOF
receiver_bind = "127.0.0.1:$rp_port"
plans = ["all"]
idp_logout_command = '"\$CONFORMANCE_SIGNOFF_BIN" user logout-everywhere "\$CONFORMANCE_USERNAME"'

[user]
username = "alice"
password = "$password"

[clients.main]
id = "conformance-main"
secret = "conformance-main-secret-0123456789abcdef"

[clients.post]
id = "conformance-post"
secret = "conformance-post-secret-0123456789abcdef"
auth = "client_secret_post"

[clients.second]
id = "conformance-second"
secret = "conformance-second-secret-0123456789abcdef"

[clients.backchannel]
id = "conformance-backchannel"
secret = "conformance-backchannel-secret-0123456789abcdef"

[clients.frontchannel]
id = "conformance-frontchannel"
secret = "conformance-frontchannel-secret-0123456789abcdef"

[clients.private_key_jwt]
id = "conformance-private-key-jwt"
auth = "private_key_jwt"
key = "$work/client-key.pem"

[clients.fapi2]
id = "conformance-fapi2"
auth = "private_key_jwt"
key = "$work/client-key.pem"

[clients.ssf]
id = "conformance-ssf"
secret = "conformance-ssf-secret-0123456789abcdef"

[clients.ssf_read]
id = "conformance-ssf-read"
secret = "conformance-ssf-read-secret-0123456789abcdef"
EOF
    if [[ "${SSF_FAULTS:-}" == 1 ]]; then
        # Each openid-ssf-* module against a defective transmitter (--ssf-fault) must FAIL.
        local caught=0 missed=0 module
        for module in $(grep -o '"openid-ssf-[]a-z[-]*"' "$here/src/plans/ssf.rs" | tr -d '"' | sort -u); do
            if "$target_dir/debug/signoff-conformance" --config "$work/conformance.toml" --issuer "$issuer" \
                --module "$module" --ssf-fault "$module" >"$out/ssf-fault-$module.log" 2>&1; then
                missed=$((missed + 1))
                echo "MISSED  $module (see conformance/out/ssf-fault-$module.log)"
            else
                caught=$((caught + 1))
                echo "caught  $module"
            fi
        done
        echo "ssf faults: $caught passed, $missed failed"
        [[ $missed -eq 0 ]]
        return
    fi
    "$target_dir/debug/signoff-conformance" --config "$work/conformance.toml" --issuer "$issuer" \
        --report "$out/report-signoff.json" "$@"
}

case "$target" in
    reference) run_reference "$@" ;;
    signoff) run_signoff "$@" ;;
    faults) run_faults ;;
    ssf-faults) SSF_FAULTS=1 run_signoff ;;
    *)
        echo "usage: conformance/run.sh signoff|reference|faults|ssf-faults [signoff-conformance args...]" >&2
        exit 2
        ;;
esac
