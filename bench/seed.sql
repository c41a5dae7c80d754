-- One batch of the growth seed (bench/seed.sh runs it): users [:from, :to) of a Signoff PostgreSQL database,
-- each with one session (seen by :'client'), one consent, one offline_access grant and a rotation chain of
-- :per_grant refresh tokens (all consumed but the last, as Signoff's rotation leaves them). Rows are what
-- src/store/{users,sessions,grants}.rs write: 16-byte base64url ids, SHA-256 base64url hashes of 43-character
-- base64url secrets, unix seconds, scope as a space-separated string, consent scopes as a JSON list.
-- Everything is a function of the user index, so a batch never duplicates a row and bench/growth-load.mjs can
-- recompute any seeded refresh token's plaintext. The helpers are STABLE, not IMMUTABLE: convert_to is STABLE,
-- and PostgreSQL inlines a SQL function only when it is no stricter than its body (not inlined: 3× slower).
\set ON_ERROR_STOP on
CREATE FUNCTION pg_temp.b64u(bytea) RETURNS text STABLE LANGUAGE sql
  AS $$ SELECT translate(rtrim(encode($1, 'base64'), '='), '+/', '-_') $$;
-- random.rs identifier(): 128 bits, base64url (22 chars).
CREATE FUNCTION pg_temp.ident(text, bigint) RETURNS text STABLE LANGUAGE sql
  AS $$ SELECT pg_temp.b64u(substr(sha256(convert_to('signoff-seed:' || $1 || ':' || $2, 'UTF8')), 1, 16)) $$;
-- The plaintext a client would hold: 43 base64url characters like random.rs secret_token(), but spelled out
-- from (user, k) rather than random, so the load script can present any seeded token without a list (and
-- without a second SHA-256 per row). Only its hash is stored, as for real tokens.
CREATE FUNCTION pg_temp.rt_plain(bigint, int) RETURNS text STABLE LANGUAGE sql
  AS $$ SELECT 'seedRt' || lpad($1::text, 30, '0') || lpad($2::text, 7, '0') $$;
-- secrets.rs token_hash(): SHA-256 of the plaintext, base64url.
CREATE FUNCTION pg_temp.th(text) RETURNS text STABLE LANGUAGE sql
  AS $$ SELECT pg_temp.b64u(sha256(convert_to($1, 'UTF8'))) $$;

BEGIN;
-- Each user was created up to 30 days ago and signed in up to 7 days ago (within the 30-day absolute and
-- 14-day refresh lifetimes of the defaults, so the chain's last token is live), and was last seen within the
-- last 20 hours, so no session is past its 24-hour idle timeout: a seeded backlog of expired-but-not-ended
-- sessions would make the maintenance sweep end (and log) hundreds of thousands of them during the measurement,
-- which a running deployment ends as they expire.
CREATE TEMP TABLE seed_u ON COMMIT DROP AS
SELECT i,
       pg_temp.ident('u', i) AS uid,
       pg_temp.ident('s', i) AS sid,
       pg_temp.ident('g', i) AS gid,
       :now - 2592000 + (i * 7919) % 2592000 / 2 AS created,
       :now - 604800 + (i * 104729) % 604800 AS auth
FROM generate_series(:from::bigint, :to::bigint - 1) AS i;

INSERT INTO users (id, username, email, email_verified, name, password_hash, disabled, created_at, updated_at,
                   token_version)
SELECT uid, 'seed-user-' || i, 'seed-user-' || i || '@example.test', true, 'Seed User ' || i,
       (SELECT password_hash FROM users WHERE username = :'template_user'), false, created, created, 0
FROM seed_u;

INSERT INTO sessions (id, cookie_hash, user_id, auth_time, amr, created_at, last_seen_at, idle_expires_at,
                      absolute_expires_at, ended_at, user_agent, ip, user_version)
SELECT sid, pg_temp.th('signoff-seed-cookie:' || i), uid, auth, 'pwd', auth, seen, seen + 86400,
       auth + 2592000, NULL,
       'Mozilla/5.0 (X11; Linux x86_64) seed', '10.' || (i >> 16) % 256 || '.' || (i >> 8) % 256 || '.' || i % 256, 0
FROM (SELECT *, greatest(auth + 60, :now - (i * 7919) % 72000) AS seen FROM seed_u) AS u;

INSERT INTO session_clients (session_id, client_id, first_seen_at)
SELECT sid, :'client', auth FROM seed_u;

INSERT INTO consents (user_id, client_id, scopes, granted_at)
SELECT uid, :'client', '["openid","offline_access"]', auth FROM seed_u;

INSERT INTO grants (id, client_id, user_id, session_id, scope, auth_time, created_at, revoked_at, user_version,
                    client_version)
SELECT gid, :'client', uid, sid, 'openid offline_access', auth, auth, NULL, 0, 0 FROM seed_u;

-- The chain: token k was issued at auth + k·step and consumed when k+1 was issued (successor_hash = hash of
-- k+1). successor_sealed, the encrypted successor response Signoff keeps for the reuse grace period (about
-- 1.4 KB of base64 in a real row), is left NULL: it is only read within the grace period, which every seeded
-- rotation is past; see docs/design.md "At 10 M tokens" for what that means for the table's size.
INSERT INTO refresh_tokens (token_hash, grant_id, client_id, user_id, scope, issued_at, expires_at, consumed_at,
                            revoked_at, successor_hash, successor_sealed, user_version, client_version, jkt)
SELECT h, gid, :'client', uid, 'openid offline_access', auth + k * step, auth + k * step + 1209600,
       CASE WHEN k < :per_grant - 1 THEN auth + (k + 1) * step END, NULL,
       lead(h) OVER (PARTITION BY i ORDER BY k), NULL, 0, 0, NULL
FROM (SELECT i, gid, uid, auth, (:now - auth) / :per_grant AS step, k, pg_temp.th(pg_temp.rt_plain(i, k)) AS h
      FROM seed_u, generate_series(0, :per_grant - 1) AS k) AS chain;
COMMIT;
