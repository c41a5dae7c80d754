//! Grant types (RFC 6749 §4, §6): the token endpoint dispatches on one, and a
//! client is registered for a list of them. A leaf, like `scope`.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantType {
    /// RFC 6749 §4.1.
    AuthorizationCode,
    /// RFC 6749 §6.
    RefreshToken,
    /// RFC 6749 §4.4.
    ClientCredentials,
    /// RFC 8628 §3.4.
    DeviceCode,
}

impl GrantType {
    pub const ALL: [GrantType; 4] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
        GrantType::DeviceCode,
    ];

    /// What a client is registered for when it names none.
    pub const DEFAULT: [GrantType; 2] = [GrantType::AuthorizationCode, GrantType::RefreshToken];

    pub fn parse(value: &str) -> Option<GrantType> {
        GrantType::ALL.into_iter().find(|g| g.as_str() == value)
    }

    /// A name given at registration (CLI, admin API): the wire name, or
    /// `device_code` for the RFC 8628 URN.
    pub fn parse_registration(value: &str) -> Option<GrantType> {
        match value {
            "device_code" => Some(GrantType::DeviceCode),
            other => GrantType::parse(other),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            // RFC 8628 §3.4.
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for g in GrantType::ALL {
            assert_eq!(GrantType::parse(g.as_str()), Some(g));
        }
        assert_eq!(GrantType::parse("password"), None);
        assert_eq!(GrantType::parse("Authorization_Code"), None);
        // The short name is for registration only, never on the wire.
        assert_eq!(GrantType::parse("device_code"), None);
        assert_eq!(
            GrantType::parse_registration("device_code"),
            Some(GrantType::DeviceCode)
        );
    }
}
