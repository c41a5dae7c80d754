//! The version rule: what a user or a client was issued dies when that user
//! or client is disabled, and when its token version moves past the one the
//! token was issued under ("log out everywhere", "revoke every token of this
//! client", a new password, disabling, removal; the versions are moved by
//! `crate::revocation`). Every check of a token, of the grant behind a code,
//! and of an SSO session asks this one function. No clock is involved: a
//! token issued in the same second as "log out everywhere", but after it,
//! carries the new version and lives.

use crate::store::clients::Client;
use crate::store::users::User;

/// The token versions something was issued under: a grant, a token row, a
/// session (`user` only), or a JWT access token's `ver` and `cver` claims.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IssuedUnder {
    pub user: i64,
    pub client: i64,
}

/// Where a user or a client stands now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    /// The current token version: only what was issued under it counts.
    pub version: i64,
    pub disabled: bool,
}

impl Standing {
    pub fn of_user(user: &User) -> Self {
        Standing {
            version: user.token_version,
            disabled: user.disabled,
        }
    }

    pub fn of_client(client: &Client) -> Self {
        Standing {
            version: client.token_version,
            disabled: client.disabled,
        }
    }

    /// The rule itself: something issued under `issued_version` counts for
    /// a holder standing here.
    pub fn admits(&self, issued_version: i64) -> bool {
        !self.disabled && issued_version >= self.version
    }
}

/// What a token says about itself, for the revocation check
/// (`revocation::RevocationView::check`).
#[derive(Debug, Clone, Copy)]
pub struct TokenFacts<'a> {
    pub client_id: &'a str,
    /// `None` for a token a client holds for itself (client_credentials).
    pub user_id: Option<&'a str>,
    pub issued_under: IssuedUnder,
    pub grant_id: Option<&'a str>,
    /// A JWT access token's `jti`.
    pub jti: Option<&'a str>,
    /// An opaque token's hash.
    pub token_hash: Option<&'a str>,
    /// The key that signed a JWT.
    pub kid: Option<&'a str>,
}

/// Whether something issued under `issued` still counts for `client` and
/// `user`, when given (a client_credentials token has no user; an SSO
/// session has no client).
pub fn outlives_revocations(
    issued: IssuedUnder,
    client: Option<Standing>,
    user: Option<Standing>,
) -> bool {
    client.is_none_or(|c| c.admits(issued.client)) && user.is_none_or(|u| u.admits(issued.user))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standing(version: i64, disabled: bool) -> Standing {
        Standing { version, disabled }
    }

    fn issued(user: i64, client: i64) -> IssuedUnder {
        IssuedUnder { user, client }
    }

    #[test]
    fn issued_under_the_current_version_counts_and_under_an_older_one_does_not() {
        assert!(outlives_revocations(
            issued(0, 3),
            Some(standing(3, false)),
            None
        ));
        assert!(!outlives_revocations(
            issued(0, 2),
            Some(standing(3, false)),
            None
        ));
        assert!(outlives_revocations(
            issued(1, 0),
            None,
            Some(standing(1, false))
        ));
        assert!(!outlives_revocations(
            issued(0, 0),
            None,
            Some(standing(1, false))
        ));
        // Both must hold.
        assert!(!outlives_revocations(
            issued(0, 5),
            Some(standing(5, false)),
            Some(standing(1, false))
        ));
        assert!(outlives_revocations(issued(0, 0), None, None));
    }

    #[test]
    fn a_disabled_client_or_user_voids_everything() {
        assert!(!outlives_revocations(
            issued(9, 9),
            Some(standing(0, true)),
            None
        ));
        assert!(!outlives_revocations(
            issued(9, 9),
            None,
            Some(standing(0, true))
        ));
    }
}
