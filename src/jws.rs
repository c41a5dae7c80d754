//! The JWS algorithms Signoff signs with (RFC 7518 §3.1, RFC 8037 §3.1). A
//! leaf: configuration, storage, keys and tokens all name an algorithm, so
//! it depends on none of them.

use serde::{Deserialize, Serialize};

/// JWS algorithms Signoff signs with. RS256 is always available (OpenID Core
/// §15.1 makes it mandatory to implement); ES256 and EdDSA are per client.
/// Read from configuration by their JWS names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    #[serde(rename = "RS256")]
    Rs256,
    #[serde(rename = "ES256")]
    Es256,
    #[serde(rename = "EdDSA")]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_parse() {
        for alg in Algorithm::ALL {
            let json = serde_json::to_string(&alg).unwrap();
            assert_eq!(json, format!("\"{}\"", alg.as_str()));
            assert_eq!(serde_json::from_str::<Algorithm>(&json).unwrap(), alg);
            assert_eq!(Algorithm::parse(alg.as_str()), Some(alg));
        }
        assert!(serde_json::from_str::<Algorithm>("\"HS256\"").is_err());
        assert_eq!(Algorithm::parse("rs256"), None);
    }
}
