//! How secrets are kept: passwords and client secrets with argon2id (they may be
//! low-entropy), bearer artefacts (codes, tokens, cookies) with SHA-256 (they
//! are 256-bit random values, so a fast hash is enough and keeps lookups cheap).

use argon2::password_hash::{PasswordHasher, PasswordVerifier as Argon2Verify};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::sha::{Sha256, sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

use crate::random::Random;

fn argon2() -> Argon2<'static> {
    // OWASP's argon2id recommendation: 19 MiB, 2 iterations, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash_password(password: &str, rng: &dyn Random) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rng.fill(&mut salt);
    let hash = argon2()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    Ok(hash.to_string())
}

/// A malformed stored hash verifies as false rather than failing the request.
pub fn verify_password(password: &str, stored: &str) -> bool {
    Argon2Verify::<str>::verify_password(&argon2(), password.as_bytes(), stored).is_ok()
}

/// [`verify_password`] with the working memory given: `area` when it is
/// large enough for the stored hash's parameters (argon2 writes every block
/// it reads, so what a previous verification left there does not matter).
fn verify_password_in(password: &str, stored: &str, area: &mut [Block]) -> bool {
    let Ok(hash) = argon2::PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(hash.algorithm.as_str()),
        Params::try_from(&hash),
    ) else {
        return false;
    };
    // As the argon2 crate reads a PHC string: no version means the current.
    let version = match hash.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    if params.block_count() > area.len() {
        return verify_password(password, stored);
    }
    let mut out = [0u8; 64];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt.as_ref(), out, &mut *area)
        .is_ok()
        && constant_time_eq_bytes(out, expected.as_bytes())
}

/// argon2id working areas (19 MiB each) kept between verifications: at most
/// one per verification slot, all dropped once no verification has started
/// for [`AREA_IDLE`]. A fresh area costs a page fault per 4 KiB (about 4,900
/// per verification, paid in system time), so a busy login path reuses them;
/// an idle instance gives them back (`crate::allocator` makes the free reach
/// the system).
#[derive(Default)]
struct Areas {
    inner: Mutex<AreasInner>,
}

#[derive(Default)]
struct AreasInner {
    free: Vec<Vec<Block>>,
    /// Areas handed out so far: the reaper's sign of activity.
    taken: u64,
    reaper: bool,
}

const AREA_IDLE: Duration = Duration::from_secs(2);

impl Areas {
    fn lock(&self) -> std::sync::MutexGuard<'_, AreasInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take(&self) -> Vec<Block> {
        let reused = {
            let mut inner = self.lock();
            inner.taken += 1;
            inner.free.pop()
        };
        reused.unwrap_or_else(|| vec![Block::new(); argon2().params().block_count()])
    }

    /// Give an area back; the caller still holds its slot, so the free list
    /// never holds more areas than there are slots.
    fn put(self: &Arc<Self>, area: Vec<Block>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut inner = self.lock();
        inner.free.push(area);
        if !inner.reaper {
            inner.reaper = true;
            runtime.spawn(self.clone().reap());
        }
    }

    async fn reap(self: Arc<Self>) {
        loop {
            let seen = self.lock().taken;
            tokio::time::sleep(AREA_IDLE).await;
            if self.release_if_idle(seen) {
                return;
            }
        }
    }

    /// Drop the free areas if none was taken since `seen`; then the reaper
    /// ends (under the lock, so a later `put` starts a new one).
    fn release_if_idle(&self, seen: u64) -> bool {
        let mut inner = self.lock();
        if inner.taken != seen {
            return false;
        }
        inner.free = Vec::new();
        inner.reaper = false;
        true
    }
}

/// Every password verification is busy: the caller answers 503 with
/// `Retry-After` instead of queueing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// Seconds a client is told to wait after [`Busy`]: a verification takes
/// tens of milliseconds, so a slot is free again well within one.
pub const BUSY_RETRY_AFTER: u64 = 1;

/// Runs `verify_password` on the blocking thread pool, at most
/// `max_concurrent` at a time. argon2id costs tens of milliseconds of CPU
/// and 19 MiB, and must not stall the async workers that serve every other
/// request; without a bound, a burst of wrong passwords grows Tokio's
/// blocking pool to 512 threads (about 9.5 GiB of argon2 memory).
pub struct PasswordVerifier {
    permits: Arc<Semaphore>,
    max_concurrent: usize,
    wait: Duration,
    verifications: AtomicU64,
    /// Checks waiting for a slot now.
    waiting: Arc<std::sync::atomic::AtomicUsize>,
    areas: Arc<Areas>,
}

/// Counts a check as waiting while it lives.
struct Waiting(Arc<std::sync::atomic::AtomicUsize>);

impl Waiting {
    fn new(count: &Arc<std::sync::atomic::AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Waiting(count.clone())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl PasswordVerifier {
    pub fn new(max_concurrent: usize, wait: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent,
            wait,
            verifications: AtomicU64::new(0),
            waiting: Arc::default(),
            areas: Arc::default(),
        }
    }

    /// Waits at most the configured time for a slot; then [`Busy`].
    pub async fn verify(&self, password: &str, stored: &str) -> Result<bool, Busy> {
        let waiting = Waiting::new(&self.waiting);
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| Busy)?
            .map_err(|_| Busy)?;
        drop(waiting);
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let (password, stored) = (password.to_owned(), stored.to_owned());
        let areas = self.areas.clone();
        // The permit moves into the task: a request abandoned mid-hash keeps
        // its slot until the hashing really ends.
        let job = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut area = areas.take();
            let ok = verify_password_in(&password, &stored, &mut area);
            areas.put(area);
            ok
        });
        Ok(job.await.unwrap_or(false))
    }

    /// The longest a check waits for its turn.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// Verifications running now, and checks waiting for a slot (metrics).
    pub fn load(&self) -> (usize, usize) {
        let busy = self
            .max_concurrent
            .saturating_sub(self.permits.available_permits());
        (busy, self.waiting.load(Ordering::Relaxed))
    }

    /// How many argon2 verifications this instance has started.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }
}

/// Remembers client secrets that passed argon2 verification, so the token
/// endpoint pays for argon2 once per secret rather than per request, and
/// verifies each (client, stored hash) once at a time: concurrent first
/// requests of one client wait for the first result instead of each hashing
/// the same secret.
///
/// Entries are keyed by the client id and a fingerprint of the stored hash:
/// a secret changed or a client removed by any instance changes the stored
/// hash (read fresh on every request), and the old entry stops matching. The
/// secret itself is not kept: only an HMAC under a key made at start, so
/// memory holds nothing an attacker could test guesses against offline. The
/// memory answers only a match; any other secret gets the full argon2 check,
/// so a wrong secret costs what it costs for an unknown client.
pub struct VerifiedSecrets {
    key: HmacSha256,
    entries: Mutex<HashMap<Entry, [u8; 32]>>,
    flights: Mutex<HashMap<Entry, Arc<tokio::sync::Mutex<()>>>>,
}

/// (client id, SHA-256 of its stored hash).
type Entry = (String, [u8; 32]);

const MAX_VERIFIED_SECRETS: usize = 10_000;

impl VerifiedSecrets {
    pub fn new(rng: &dyn Random) -> Self {
        let mut key = [0u8; 32];
        rng.fill(&mut key);
        Self {
            key: HmacSha256::new(&key),
            entries: Mutex::default(),
            flights: Mutex::default(),
        }
    }

    fn digest(&self, presented: &str) -> [u8; 32] {
        self.key.mac(presented.as_bytes())
    }

    fn matches(&self, entry: &Entry, digest: &[u8; 32]) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(entry)
            .is_some_and(|known| constant_time_eq_bytes(known, digest))
    }

    pub async fn verify(
        &self,
        verifier: &PasswordVerifier,
        stored_hash: &str,
        client_id: &str,
        presented: &str,
    ) -> Result<bool, Busy> {
        let entry = (client_id.to_owned(), sha256(stored_hash.as_bytes()));
        let digest = self.digest(presented);
        if self.matches(&entry, &digest) {
            return Ok(true);
        }
        let flight = Flight::join(self, entry);
        let _turn = tokio::time::timeout(verifier.wait(), flight.lock.lock())
            .await
            .map_err(|_| Busy)?;
        // The flight before this one may have verified this very secret.
        if self.matches(&flight.entry, &digest) {
            return Ok(true);
        }
        let ok = verifier.verify(presented, stored_hash).await?;
        if ok {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if entries.len() >= MAX_VERIFIED_SECRETS {
                entries.clear();
            }
            entries.insert(flight.entry.clone(), digest);
        }
        Ok(ok)
    }
}

/// A turn in the line of checks for one entry; the line is removed with its
/// last member, however that member's request ended.
struct Flight<'a> {
    owner: &'a VerifiedSecrets,
    entry: Entry,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl<'a> Flight<'a> {
    fn join(owner: &'a VerifiedSecrets, entry: Entry) -> Self {
        let mut flights = owner.flights.lock().unwrap_or_else(|p| p.into_inner());
        let lock = flights.entry(entry.clone()).or_default().clone();
        Flight { owner, entry, lock }
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut flights = self.owner.flights.lock().unwrap_or_else(|p| p.into_inner());
        // Clones are only made under this lock: two references are the map's
        // and this one.
        if Arc::strong_count(&self.lock) == 2 {
            flights.remove(&self.entry);
        }
    }
}

/// A hash with the same cost as a real one: verifying against it when the user
/// does not exist makes "no such user" take as long as "wrong password".
pub fn dummy_password_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password("signoff-dummy-password", &crate::random::OsRandom)
            .expect("hashing a constant password works")
    })
}

/// SHA-256, base64url: the lookup key for a random bearer value.
pub fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha256(token.as_bytes()))
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    HmacSha256::new(key).mac(message)
}

/// An HMAC-SHA256 key (RFC 2104) with its two padded blocks already hashed,
/// so a MAC costs two SHA-256 finishes on OpenSSL's plain SHA-256. Through
/// `EVP_PKEY`/`EVP_DigestSign` every MAC paid OpenSSL 3's per-call context,
/// provider and key-management setup, several times the hashing itself, on
/// every request that authenticates a client (docs/design.md, "CPU per
/// request").
#[derive(Clone)]
pub struct HmacSha256 {
    inner: Sha256,
    outer: Sha256,
}

impl HmacSha256 {
    /// SHA-256's block size (RFC 2104 §2, B).
    const BLOCK: usize = 64;

    pub fn new(key: &[u8]) -> Self {
        // RFC 2104 §3: a key longer than a block is hashed first.
        let hashed;
        let key = if key.len() > Self::BLOCK {
            hashed = sha256(key);
            &hashed[..]
        } else {
            key
        };
        let mut ipad = [0x36u8; Self::BLOCK];
        let mut opad = [0x5cu8; Self::BLOCK];
        for (i, b) in key.iter().enumerate() {
            ipad[i] ^= b;
            opad[i] ^= b;
        }
        let mut inner = Sha256::new();
        inner.update(&ipad);
        let mut outer = Sha256::new();
        outer.update(&opad);
        HmacSha256 { inner, outer }
    }

    pub fn mac(&self, message: &[u8]) -> [u8; 32] {
        let mut inner = self.inner.clone();
        inner.update(message);
        let mut outer = self.outer.clone();
        outer.update(&inner.finish());
        outer.finish()
    }
}

/// Constant-time string equality for values such as CSRF tokens.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

pub fn constant_time_eq_bytes(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231_and_openssl() {
        // RFC 4231 §4.2 (test case 1) and §4.7 (test case 6: a key longer
        // than the block, hashed first).
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        // The same bytes as OpenSSL's EVP HMAC, which computed them before,
        // at the block-size boundaries and for a reused key (OpenSSL refuses
        // an empty key, so lengths start at 1).
        for len in [1, 32, 63, 64, 65, 200] {
            let key: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let ours = HmacSha256::new(&key);
            for message in [&b""[..], b"a", &[7u8; 1000]] {
                let pkey = openssl::pkey::PKey::hmac(&key).unwrap();
                let mut signer =
                    openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &pkey)
                        .unwrap();
                let expected = signer.sign_oneshot_to_vec(message).unwrap();
                assert_eq!(ours.mac(message).to_vec(), expected, "key length {len}");
            }
        }
    }

    #[test]
    fn password_round_trip_and_rejection() {
        let hash = hash_password("correct horse", &OsRandom).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn verifying_in_a_reused_area_agrees_with_the_crate() {
        let hash = hash_password("pw", &OsRandom).unwrap();
        let mut area = vec![Block::new(); argon2().params().block_count()];
        for (password, matches) in [("pw", true), ("px", false), ("pw", true)] {
            assert_eq!(verify_password_in(password, &hash, &mut area), matches);
        }
        assert!(!verify_password_in("pw", "not a hash", &mut area));
        // Hashes made with other parameters: a smaller area than ours is a
        // prefix of it, a larger one gets its own memory.
        for m_cost in [1024, 32 * 1024] {
            let params = Params::new(m_cost, 1, 1, Some(16)).unwrap();
            let other = Argon2::new(Algorithm::Argon2i, Version::V0x10, params)
                .hash_password_with_salt(b"pw", b"0123456789abcdef")
                .unwrap()
                .to_string();
            assert!(verify_password_in("pw", &other, &mut area), "{other}");
            assert!(!verify_password_in("px", &other, &mut area), "{other}");
        }
    }

    #[tokio::test]
    async fn argon2_areas_are_reused_then_given_back_when_idle() {
        let areas = Arc::new(Areas::default());
        let (a, b) = (areas.take(), areas.take());
        areas.put(a);
        areas.put(b);
        let c = areas.take();
        areas.put(c);
        assert_eq!(areas.lock().free.len(), 2);
        assert!(areas.lock().reaper);
        // A take since the reaper looked keeps the areas; none releases them.
        let seen = areas.lock().taken;
        let d = areas.take();
        areas.put(d);
        assert!(!areas.release_if_idle(seen));
        assert_eq!(areas.lock().free.len(), 2);
        let now = areas.lock().taken;
        assert!(areas.release_if_idle(now));
        let inner = areas.lock();
        assert!(inner.free.is_empty() && !inner.reaper);
    }

    #[tokio::test]
    async fn a_full_verifier_answers_busy_instead_of_queueing() {
        let hash = hash_password("pw", &OsRandom).unwrap();
        let verifier = Arc::new(PasswordVerifier::new(1, Duration::from_millis(1)));
        let held = verifier.permits.clone().acquire_owned().await.unwrap();
        assert_eq!(verifier.verify("pw", &hash).await, Err(Busy));
        assert_eq!(verifier.verifications(), 0);
        drop(held);
        assert_eq!(verifier.verify("pw", &hash).await, Ok(true));
        assert_eq!(verifier.verify("nope", &hash).await, Ok(false));
        assert_eq!(verifier.verifications(), 2);
    }

    #[tokio::test]
    async fn concurrent_first_checks_of_one_secret_hash_it_once() {
        let rng = crate::random::OsRandom;
        let hash = hash_password("s3cret", &rng).unwrap();
        let secrets = Arc::new(VerifiedSecrets::new(&rng));
        let verifier = Arc::new(PasswordVerifier::new(4, Duration::from_secs(30)));
        let mut checks = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let (secrets, verifier, hash) = (secrets.clone(), verifier.clone(), hash.clone());
            checks.spawn(async move { secrets.verify(&verifier, &hash, "c", "s3cret").await });
        }
        while let Some(result) = checks.join_next().await {
            assert_eq!(result.unwrap(), Ok(true));
        }
        assert_eq!(verifier.verifications(), 1);
        assert!(secrets.flights.lock().unwrap().is_empty());
        // Only a match is answered from memory.
        assert_eq!(
            secrets.verify(&verifier, &hash, "c", "guess").await,
            Ok(false)
        );
        assert_eq!(verifier.verifications(), 2);
        // Another client with the same hash is verified on its own.
        assert_eq!(
            secrets.verify(&verifier, &hash, "d", "s3cret").await,
            Ok(true)
        );
        assert_eq!(verifier.verifications(), 3);
    }

    #[test]
    fn token_hash_is_stable_and_not_the_token() {
        assert_eq!(token_hash("abc"), token_hash("abc"));
        assert_ne!(token_hash("abc"), "abc");
        assert!(constant_time_eq("x1", "x1"));
        assert!(!constant_time_eq("x1", "x2"));
        assert!(!constant_time_eq("x1", "x10"));
    }
}
