//! The key store: which key signs now (a pure function of the keys and the
//! time), which keys the JWKS publishes, and which key verifies a `kid`.

use std::sync::{Arc, RwLock};

use anyhow::Context;
use josekit::jwk::Jwk;
use josekit::jwk::alg::ed::EdCurve;
use josekit::jws::{self, JwsHeader, JwsSigner, JwsVerifier};
use sea_orm::ConnectionTrait;
use serde::Serialize;

use super::Algorithm;
use crate::random::{Random, identifier};
use crate::store::keys::{self as key_rows, SigningKeyRecord};

pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    pub activates_at: i64,
    pub retires_at: Option<i64>,
    pub public_jwk: Jwk,
    signer: Box<dyn JwsSigner>,
    verifier: Box<dyn JwsVerifier>,
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

impl SigningKey {
    fn from_record(r: &SigningKeyRecord) -> anyhow::Result<Self> {
        let alg = Algorithm::parse(&r.alg)
            .with_context(|| format!("key {}: unknown alg {}", r.kid, r.alg))?;
        let private = Jwk::from_bytes(r.private_jwk.as_bytes()).context("private JWK")?;
        let public = Jwk::from_bytes(r.public_jwk.as_bytes()).context("public JWK")?;
        let (signer, verifier): (Box<dyn JwsSigner>, Box<dyn JwsVerifier>) = match alg {
            Algorithm::Rs256 => (
                Box::new(jws::RS256.signer_from_jwk(&private)?),
                Box::new(jws::RS256.verifier_from_jwk(&public)?),
            ),
            Algorithm::Es256 => (
                Box::new(jws::ES256.signer_from_jwk(&private)?),
                Box::new(jws::ES256.verifier_from_jwk(&public)?),
            ),
            Algorithm::EdDsa => (
                Box::new(jws::EdDSA.signer_from_jwk(&private)?),
                Box::new(jws::EdDSA.verifier_from_jwk(&public)?),
            ),
        };
        Ok(SigningKey {
            kid: r.kid.clone(),
            alg,
            activates_at: r.activates_at,
            retires_at: r.retires_at,
            public_jwk: public,
            signer,
            verifier,
        })
    }

    /// Sign `claims` as a compact JWS with this key's `kid` and the given `typ`.
    pub fn sign(&self, typ: &str, claims: &impl Serialize) -> anyhow::Result<String> {
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(&self.kid);
        let payload = serde_json::to_vec(claims)?;
        Ok(jws::serialize_compact(
            &payload,
            &header,
            self.signer.as_ref(),
        )?)
    }

    pub fn verifier(&self) -> &dyn JwsVerifier {
        self.verifier.as_ref()
    }

    fn signs_at(&self, now: i64) -> bool {
        self.activates_at <= now && self.retires_at.is_none_or(|r| r > now)
    }
}

/// The key that signs `alg` tokens at `now`: the newest activated key that has
/// not retired. A key published ahead of its activation never signs early.
pub fn select_signer(
    keys: &[Arc<SigningKey>],
    alg: Algorithm,
    now: i64,
) -> Option<Arc<SigningKey>> {
    keys.iter()
        .filter(|k| k.alg == alg && k.signs_at(now))
        .max_by_key(|k| k.activates_at)
        .cloned()
}

#[derive(Default)]
pub struct KeyStore {
    keys: RwLock<Arc<Vec<Arc<SigningKey>>>>,
}

impl KeyStore {
    pub async fn load(db: &impl ConnectionTrait) -> anyhow::Result<Self> {
        let store = KeyStore::default();
        store.reload(db).await?;
        Ok(store)
    }

    /// Re-read the published keys; another process (the CLI, another
    /// instance) may have rotated them.
    pub async fn reload(&self, db: &impl ConnectionTrait) -> anyhow::Result<()> {
        let records = key_rows::list_published(db).await?;
        let mut keys = Vec::with_capacity(records.len());
        for r in &records {
            match SigningKey::from_record(r) {
                Ok(k) => keys.push(Arc::new(k)),
                Err(e) => {
                    tracing::error!(kid = %r.kid, error = format!("{e:#}"), "unusable signing key skipped")
                }
            }
        }
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
        Ok(())
    }

    fn snapshot(&self) -> Arc<Vec<Arc<SigningKey>>> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn signer(&self, alg: Algorithm, now: i64) -> Option<Arc<SigningKey>> {
        select_signer(&self.snapshot(), alg, now)
    }

    pub fn by_kid(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.snapshot().iter().find(|k| k.kid == kid).cloned()
    }

    pub fn all(&self) -> Arc<Vec<Arc<SigningKey>>> {
        self.snapshot()
    }

    /// RFC 7517 §5 JWK Set of every published key, with `use` and `alg`.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .snapshot()
            .iter()
            .map(|k| serde_json::to_value(k.public_jwk.as_ref()).unwrap_or_default())
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

/// A new key pair as a storable record, active from `activates_at`.
pub fn generate_key(
    alg: Algorithm,
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
    Ok(SigningKeyRecord {
        kid,
        alg: alg.as_str().into(),
        private_jwk: private.to_string(),
        public_jwk: public.to_string(),
        created_at: now,
        activates_at,
        retires_at: None,
        removed_at: None,
    })
}

/// Make sure every algorithm has a key that signs now (first start).
pub async fn ensure_keys(
    db: &impl ConnectionTrait,
    rng: &dyn Random,
    now: i64,
) -> anyhow::Result<()> {
    let existing = key_rows::list_published(db).await?;
    for alg in Algorithm::ALL {
        let has_signer = existing.iter().any(|r| {
            r.alg == alg.as_str() && r.activates_at <= now && r.retires_at.is_none_or(|t| t > now)
        });
        if !has_signer {
            let record = generate_key(alg, rng, now, now)?;
            // Another instance starting at the same second may win the unique
            // (alg, activates_at) index; its key serves as well as ours.
            if let Err(e) = key_rows::insert(db, record).await {
                tracing::warn!(alg = alg.as_str(), error = %e, "initial key not stored; another instance created one");
            }
        }
    }
    Ok(())
}

/// Replace the signing key of `alg` with a new one, active now. The old key
/// stays published (retired) so tokens it signed still verify.
pub async fn rotate(
    db: &impl ConnectionTrait,
    rng: &dyn Random,
    alg: Algorithm,
    now: i64,
) -> anyhow::Result<String> {
    let record = generate_key(alg, rng, now, now)?;
    let kid = record.kid.clone();
    key_rows::insert(db, record).await?;
    key_rows::retire_others(db, alg.as_str(), &kid, now).await?;
    Ok(kid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    fn key(alg: Algorithm, activates_at: i64, retires_at: Option<i64>) -> Arc<SigningKey> {
        let mut r = generate_key(alg, &OsRandom, 0, activates_at).unwrap();
        r.retires_at = retires_at;
        Arc::new(SigningKey::from_record(&r).unwrap())
    }

    #[test]
    fn newest_active_key_signs_and_future_keys_wait() {
        let old = key(Algorithm::Es256, 100, None);
        let new = key(Algorithm::Es256, 200, None);
        let next = key(Algorithm::Es256, 300, None);
        let keys = vec![old.clone(), new.clone(), next.clone()];
        assert_eq!(
            select_signer(&keys, Algorithm::Es256, 150).unwrap().kid,
            old.kid
        );
        assert_eq!(
            select_signer(&keys, Algorithm::Es256, 250).unwrap().kid,
            new.kid
        );
        assert_eq!(
            select_signer(&keys, Algorithm::Es256, 300).unwrap().kid,
            next.kid
        );
        assert!(select_signer(&keys, Algorithm::Es256, 50).is_none());
        assert!(select_signer(&keys, Algorithm::EdDsa, 250).is_none());
    }

    #[test]
    fn retired_keys_do_not_sign() {
        let retired = key(Algorithm::EdDsa, 100, Some(200));
        let keys = vec![retired];
        assert!(select_signer(&keys, Algorithm::EdDsa, 150).is_some());
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
}
