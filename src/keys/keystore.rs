//! The key store: which key signs now (a pure function of the keys and the
//! time), which keys the JWKS publishes, and which key verifies a `kid`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use josekit::jwk::Jwk;
use josekit::jwk::alg::ed::EdCurve;
use josekit::jws::{self, JwsHeader, JwsSigner, JwsVerifier};
use sea_orm::ConnectionTrait;
use serde::Serialize;

use crate::jws::Algorithm;
use crate::random::{Random, identifier};
use crate::seal::MasterKeys;
use crate::store::keys::{self as key_rows, SigningKeyRecord};

/// When a key signs: from `activates_at` until `retires_at` (exclusive).
pub trait Scheduled {
    fn activates_at(&self) -> i64;
    fn retires_at(&self) -> Option<i64>;

    fn signs_at(&self, now: i64) -> bool {
        self.activates_at() <= now && self.retires_at().is_none_or(|r| r > now)
    }
}

/// The key that signs at `now` among keys of one algorithm: the newest
/// activated key that has not retired. A key published ahead of its
/// activation never signs early.
pub fn newest_signer<'a, K: Scheduled>(
    keys: impl IntoIterator<Item = &'a K>,
    now: i64,
) -> Option<&'a K> {
    keys.into_iter()
        .filter(|k| k.signs_at(now))
        .max_by_key(|k| k.activates_at())
}

/// The key pair, parsed once per key and shared by every snapshot.
struct KeyMaterial {
    public_jwk: Jwk,
    /// `None` when no configured master key opens the private key.
    signer: Option<Box<dyn JwsSigner>>,
    verifier: Box<dyn JwsVerifier>,
}

pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    pub created_at: i64,
    pub activates_at: i64,
    pub retires_at: Option<i64>,
    material: Arc<KeyMaterial>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("activates_at", &self.activates_at)
            .field("retires_at", &self.retires_at)
            .finish_non_exhaustive()
    }
}

impl Scheduled for SigningKey {
    fn activates_at(&self) -> i64 {
        self.activates_at
    }
    fn retires_at(&self) -> Option<i64> {
        self.retires_at
    }
}

/// The authenticated context a private key is sealed under: its own `kid`.
fn seal_context(kid: &str) -> Vec<u8> {
    format!("signoff signing key {kid}").into_bytes()
}

fn parse_material(
    r: &SigningKeyRecord,
    alg: Algorithm,
    master_keys: &MasterKeys,
) -> anyhow::Result<KeyMaterial> {
    let public = Jwk::from_bytes(r.public_jwk.as_bytes()).context("public JWK")?;
    let verifier: Box<dyn JwsVerifier> = match alg {
        Algorithm::Rs256 => Box::new(jws::RS256.verifier_from_jwk(&public)?),
        Algorithm::Es256 => Box::new(jws::ES256.verifier_from_jwk(&public)?),
        Algorithm::EdDsa => Box::new(jws::EdDSA.verifier_from_jwk(&public)?),
    };
    // The public half is still published when the private half cannot be
    // opened (another instance may already sign with a newer master key).
    let signer = match open_private(r, alg, master_keys) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(kid = %r.kid, error = format!("{e:#}"), "private signing key cannot be opened; this instance cannot sign with it");
            None
        }
    };
    Ok(KeyMaterial {
        public_jwk: public,
        signer,
        verifier,
    })
}

fn open_private(
    r: &SigningKeyRecord,
    alg: Algorithm,
    master_keys: &MasterKeys,
) -> anyhow::Result<Box<dyn JwsSigner>> {
    let plain = master_keys
        .open(&r.private_jwk, &seal_context(&r.kid))
        .context("is the master key that sealed it configured?")?;
    let private = Jwk::from_bytes(&plain).context("private JWK")?;
    Ok(match alg {
        Algorithm::Rs256 => Box::new(jws::RS256.signer_from_jwk(&private)?),
        Algorithm::Es256 => Box::new(jws::ES256.signer_from_jwk(&private)?),
        Algorithm::EdDsa => Box::new(jws::EdDSA.signer_from_jwk(&private)?),
    })
}

impl SigningKey {
    fn from_record(
        r: &SigningKeyRecord,
        known: Option<&Arc<KeyMaterial>>,
        master_keys: &MasterKeys,
    ) -> anyhow::Result<Self> {
        let alg = Algorithm::parse(&r.alg)
            .with_context(|| format!("key {}: unknown alg {}", r.kid, r.alg))?;
        let material = match known {
            Some(m) => m.clone(),
            None => Arc::new(parse_material(r, alg, master_keys)?),
        };
        Ok(SigningKey {
            kid: r.kid.clone(),
            alg,
            created_at: r.created_at,
            activates_at: r.activates_at,
            retires_at: r.retires_at,
            material,
        })
    }

    /// Sign `claims` as a compact JWS with this key's `kid` and the given `typ`.
    pub fn sign(&self, typ: &str, claims: &impl Serialize) -> anyhow::Result<String> {
        let signer = self.material.signer.as_deref().with_context(|| {
            format!(
                "signing key {} cannot be opened with the configured master keys",
                self.kid
            )
        })?;
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(&self.kid);
        let payload = serde_json::to_vec(claims)?;
        Ok(jws::serialize_compact(&payload, &header, signer)?)
    }

    pub fn verifier(&self) -> &dyn JwsVerifier {
        self.material.verifier.as_ref()
    }

    pub fn public_jwk(&self) -> &Jwk {
        &self.material.public_jwk
    }

    pub fn can_sign(&self) -> bool {
        self.material.signer.is_some()
    }
}

/// The key that signs `alg` tokens at `now`.
pub fn select_signer(
    keys: &[Arc<SigningKey>],
    alg: Algorithm,
    now: i64,
) -> Option<Arc<SigningKey>> {
    newest_signer(keys.iter().filter(|k| k.alg == alg).map(|k| &**k), now)
        .and_then(|chosen| keys.iter().find(|k| k.kid == chosen.kid).cloned())
}

/// The JWKS as served: the body is built once per reload, and its `ETag`
/// depends only on the published keys, so every instance serves the same one.
pub struct JwksDocument {
    pub body: String,
    pub etag: String,
}

struct Snapshot {
    keys: Vec<Arc<SigningKey>>,
    jwks: Arc<JwksDocument>,
}

pub struct KeyStore {
    master_keys: MasterKeys,
    snapshot: RwLock<Arc<Snapshot>>,
}

impl KeyStore {
    pub async fn load(db: &impl ConnectionTrait, master_keys: MasterKeys) -> anyhow::Result<Self> {
        let store = KeyStore {
            master_keys,
            snapshot: RwLock::new(Arc::new(Snapshot {
                keys: Vec::new(),
                jwks: Arc::new(jwks_document(&[])),
            })),
        };
        store.reload(db).await?;
        Ok(store)
    }

    pub fn master_keys(&self) -> &MasterKeys {
        &self.master_keys
    }

    /// Re-read the published (not removed) keys; another process (the CLI,
    /// another instance) may have rotated or revoked them.
    pub async fn reload(&self, db: &impl ConnectionTrait) -> anyhow::Result<()> {
        let records = key_rows::list_published(db).await?;
        self.install(&records);
        Ok(())
    }

    fn install(&self, records: &[SigningKeyRecord]) {
        let old = self.snapshot();
        let known: HashMap<&str, &Arc<KeyMaterial>> = old
            .keys
            .iter()
            .map(|k| (k.kid.as_str(), &k.material))
            .collect();
        let mut keys = Vec::with_capacity(records.len());
        for r in records {
            match SigningKey::from_record(r, known.get(r.kid.as_str()).copied(), &self.master_keys)
            {
                Ok(k) => keys.push(Arc::new(k)),
                Err(e) => {
                    tracing::error!(kid = %r.kid, error = format!("{e:#}"), "unusable signing key skipped")
                }
            }
        }
        let jwks = Arc::new(jwks_document(&keys));
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) =
            Arc::new(Snapshot { keys, jwks });
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn signer(&self, alg: Algorithm, now: i64) -> Option<Arc<SigningKey>> {
        select_signer(&self.snapshot().keys, alg, now)
    }

    /// The published key named `kid`. Removed (revoked or expired) keys are
    /// not found, so tokens they signed no longer verify.
    pub fn by_kid(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.snapshot().keys.iter().find(|k| k.kid == kid).cloned()
    }

    /// Whether the JWKS publishes `kid`; false once a key is removed, which
    /// makes every token it signed inactive (RFC 7662 §2.2).
    pub fn is_published_kid(&self, kid: &str) -> bool {
        self.by_kid(kid).is_some()
    }

    pub fn all(&self) -> Vec<Arc<SigningKey>> {
        self.snapshot().keys.clone()
    }

    /// RFC 7517 §5 JWK Set of every published key, with `kid`, `use`, `alg`.
    pub fn jwks(&self) -> Arc<JwksDocument> {
        self.snapshot().jwks.clone()
    }
}

fn jwks_document(keys: &[Arc<SigningKey>]) -> JwksDocument {
    let keys: Vec<&serde_json::Map<String, serde_json::Value>> =
        keys.iter().map(|k| k.public_jwk().as_ref()).collect();
    let body = serde_json::json!({ "keys": keys }).to_string();
    let digest = openssl::sha::sha256(body.as_bytes());
    use base64::Engine;
    let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]);
    JwksDocument {
        body,
        etag: format!("\"{tag}\""),
    }
}

/// A new key pair as a storable record, its private half sealed under the
/// first master key, signing from `activates_at`.
pub fn generate_key(
    alg: Algorithm,
    master_keys: &MasterKeys,
    rng: &dyn Random,
    now: i64,
    activates_at: i64,
) -> anyhow::Result<SigningKeyRecord> {
    let kid = identifier(rng);
    let (mut private, mut public) = match alg {
        Algorithm::Rs256 => {
            let pair = jws::RS256.generate_key_pair(2048)?;
            (pair.to_jwk_private_key(), pair.to_jwk_public_key())
        }
        Algorithm::Es256 => {
            let pair = jws::ES256.generate_key_pair()?;
            (pair.to_jwk_private_key(), pair.to_jwk_public_key())
        }
        Algorithm::EdDsa => {
            let pair = jws::EdDSA.generate_key_pair(EdCurve::Ed25519)?;
            (pair.to_jwk_private_key(), pair.to_jwk_public_key())
        }
    };
    for jwk in [&mut private, &mut public] {
        jwk.set_key_id(&kid);
        jwk.set_key_use("sig");
        jwk.set_algorithm(alg.as_str());
    }
    let sealed = master_keys.seal(rng, private.to_string().as_bytes(), &seal_context(&kid));
    Ok(SigningKeyRecord {
        kid,
        alg: alg.as_str().into(),
        private_jwk: sealed,
        public_jwk: public.to_string(),
        created_at: now,
        activates_at,
        retires_at: None,
        removed_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    fn master() -> MasterKeys {
        MasterKeys::parse(&MasterKeys::generate(&OsRandom)).unwrap()
    }

    fn key(alg: Algorithm, activates_at: i64, retires_at: Option<i64>) -> Arc<SigningKey> {
        let m = master();
        let mut r = generate_key(alg, &m, &OsRandom, 0, activates_at).unwrap();
        r.retires_at = retires_at;
        Arc::new(SigningKey::from_record(&r, None, &m).unwrap())
    }

    #[test]
    fn newest_active_key_signs_and_future_keys_wait() {
        let old = key(Algorithm::Es256, 100, None);
        let new = key(Algorithm::Es256, 200, None);
        let next = key(Algorithm::Es256, 300, None);
        let keys = vec![old.clone(), new.clone(), next.clone()];
        let signer = |now| select_signer(&keys, Algorithm::Es256, now).map(|k| k.kid.clone());
        assert_eq!(signer(150), Some(old.kid.clone()));
        assert_eq!(signer(250), Some(new.kid.clone()));
        assert_eq!(signer(300), Some(next.kid.clone()));
        assert_eq!(signer(50), None);
        assert!(select_signer(&keys, Algorithm::EdDsa, 250).is_none());
    }

    #[test]
    fn retired_keys_do_not_sign() {
        let retired = key(Algorithm::EdDsa, 100, Some(200));
        let keys = vec![retired];
        assert!(select_signer(&keys, Algorithm::EdDsa, 150).is_some());
        assert!(select_signer(&keys, Algorithm::EdDsa, 199).is_some());
        assert!(select_signer(&keys, Algorithm::EdDsa, 200).is_none());
    }

    #[test]
    fn signed_token_verifies_with_published_key() {
        let k = key(Algorithm::EdDsa, 0, None);
        let token = k.sign("JWT", &serde_json::json!({"a": 1})).unwrap();
        let (payload, header) = jws::deserialize_compact(&token, k.verifier()).unwrap();
        assert_eq!(header.key_id(), Some(k.kid.as_str()));
        assert_eq!(payload, br#"{"a":1}"#);
    }

    #[test]
    fn private_key_is_sealed_and_bound_to_its_kid() {
        let m = master();
        let r = generate_key(Algorithm::Es256, &m, &OsRandom, 0, 0).unwrap();
        assert!(r.private_jwk.starts_with("v1."));
        assert!(!r.private_jwk.contains("\"d\""));
        assert!(SigningKey::from_record(&r, None, &m).unwrap().can_sign());
        // The public half stays usable without the master key.
        let stranger = SigningKey::from_record(&r, None, &master()).unwrap();
        assert!(!stranger.can_sign());
        assert!(stranger.sign("JWT", &serde_json::json!({})).is_err());
        // A sealed private key moved to another row does not open there.
        let mut moved = generate_key(Algorithm::Es256, &m, &OsRandom, 0, 0).unwrap();
        moved.private_jwk = r.private_jwk.clone();
        assert!(
            !SigningKey::from_record(&moved, None, &m)
                .unwrap()
                .can_sign()
        );
    }

    #[test]
    fn jwks_lists_public_keys_with_kid_use_and_alg() {
        let keys = vec![
            key(Algorithm::Rs256, 0, None),
            key(Algorithm::Es256, 0, None),
        ];
        let doc = jwks_document(&keys);
        let v: serde_json::Value = serde_json::from_str(&doc.body).unwrap();
        let listed = v["keys"].as_array().unwrap();
        assert_eq!(listed.len(), 2);
        for (jwk, k) in listed.iter().zip(&keys) {
            assert_eq!(jwk["kid"], k.kid.as_str());
            assert_eq!(jwk["use"], "sig");
            assert_eq!(jwk["alg"], k.alg.as_str());
            assert!(jwk.get("d").is_none(), "no private part: {jwk}");
        }
        assert_eq!(doc.etag, jwks_document(&keys).etag);
        assert_ne!(doc.etag, jwks_document(&keys[..1]).etag);
    }
}
