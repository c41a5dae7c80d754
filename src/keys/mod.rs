//! Signing keys: the algorithms we sign with, key generation, and the
//! in-memory key store every token signer and verifier goes through.

mod keystore;

pub use keystore::{KeyStore, SigningKey, ensure_keys, generate_key, rotate, select_signer};

/// JWS algorithms Signoff signs with. RS256 is always available (OpenID Core
/// §15.1 makes it mandatory to implement); ES256 and EdDSA are per client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Rs256,
    Es256,
    EdDsa,
}

impl Algorithm {
    pub const ALL: [Algorithm; 3] = [Algorithm::Rs256, Algorithm::Es256, Algorithm::EdDsa];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(Self::Rs256),
            "ES256" => Some(Self::Es256),
            "EdDSA" => Some(Self::EdDsa),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Es256 => "ES256",
            Algorithm::EdDsa => "EdDSA",
        }
    }

    /// OpenID Core §3.1.3.6 `at_hash`: the left half of the hash of the
    /// token's ASCII octets, with the hash of the JWS algorithm (SHA-512 for
    /// Ed25519, as the OpenID Foundation's errata settle for EdDSA).
    pub fn half_hash(&self, value: &str) -> String {
        use base64::Engine;
        let digest: Vec<u8> = match self {
            Algorithm::Rs256 | Algorithm::Es256 => openssl::sha::sha256(value.as_bytes()).to_vec(),
            Algorithm::EdDsa => openssl::sha::sha512(value.as_bytes()).to_vec(),
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
