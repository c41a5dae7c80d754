#!/usr/bin/env bash
# Fills a Signoff PostgreSQL database with synthetic users, sessions, grants and refresh tokens for scale tests
# (issue 16): bench/seed.sql in bounded batches, one transaction per batch, then ANALYZE.
#
#   bench/seed.sh DATABASE_URL TOKENS [--force]
#
# Tops the database up to TOKENS refresh tokens: TOKENS / PER_GRANT users, each with one session, one consent,
# one grant and a rotation chain of PER_GRANT tokens (10 M tokens = 1 M users, sessions and grants). Seeded
# users are seed-user-<i>; users already seeded are kept, so growing 10 k → 10 M re-seeds nothing.
# Needs a migrated database holding CLIENT (the seeded grants' client) and TEMPLATE_USER (whose argon2 hash every
# seeded user shares, so they all sign in with TEMPLATE_USER's password).
# Env: CLIENT=growth-client TEMPLATE_USER=alice PER_GRANT=10 BATCH_USERS=20000 (20 k users = 200 k tokens per
# statement) NOW=<unix seconds, default now>.
# Refuses a database whose name does not start with signoff_growth_ or signoff_seed_ unless --force: this
# writes a million fake users into whatever it is pointed at.
set -euo pipefail
url=${1:?usage: seed.sh DATABASE_URL TOKENS [--force]}
tokens=${2:?usage: seed.sh DATABASE_URL TOKENS [--force]}
force=${3:-}
CLIENT=${CLIENT:-growth-client} TEMPLATE_USER=${TEMPLATE_USER:-alice}
PER_GRANT=${PER_GRANT:-10} BATCH_USERS=${BATCH_USERS:-20000} NOW=${NOW:-$(date +%s)}
here=$(cd "$(dirname "$0")" && pwd)
q() { psql "$url" -v ON_ERROR_STOP=1 -qAt "$@"; }

db=$(q -c 'SELECT current_database()')
case "$db" in
  signoff_growth_*|signoff_seed_*) ;;
  *) [ "$force" = --force ] || { echo "seed.sh: refusing to seed database '$db' (name is not signoff_growth_*/signoff_seed_*); pass --force if it holds no real data" >&2; exit 2; } ;;
esac
[ "$(q -c "SELECT count(*) FROM clients WHERE id = '$CLIENT'")" = 1 ] || { echo "seed.sh: client $CLIENT missing" >&2; exit 2; }
[ "$(q -c "SELECT count(*) FROM users WHERE username = '$TEMPLATE_USER'")" = 1 ] || { echo "seed.sh: user $TEMPLATE_USER missing" >&2; exit 2; }

target=$(( tokens / PER_GRANT ))
# Seeded users are numbered 0..n-1 and a batch commits them all or none, so their count is the next index.
have=$(q -c "SELECT count(*) FROM users WHERE username LIKE 'seed-user-%'")
start=$(date +%s.%N)
for (( from = have; from < target; from += BATCH_USERS )); do
  to=$(( from + BATCH_USERS < target ? from + BATCH_USERS : target ))
  q -v from="$from" -v to="$to" -v now="$NOW" -v per_grant="$PER_GRANT" -v client="$CLIENT" \
    -v template_user="$TEMPLATE_USER" -f "$here/seed.sql"
  printf 'seed.sh: users %d..%d (%d refresh tokens) %.0f s\n' "$from" "$to" $(( to * PER_GRANT )) \
    "$(echo "$(date +%s.%N) - $start" | bc)" >&2
done
q -c 'ANALYZE'
printf 'seed.sh: %s now holds %d seeded users, %d refresh tokens (%.0f s)\n' "$db" "$target" \
  "$(q -c 'SELECT count(*) FROM refresh_tokens')" "$(echo "$(date +%s.%N) - $start" | bc)" >&2
