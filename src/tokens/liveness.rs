//! The cut-off rule: what was issued for a client or a user dies when that
//! client or user is disabled, and when an administrator voids everything
//! issued before a given instant ("revoke every token of this client", "log
//! out everywhere"; the instant is set by `crate::revoke`). Every check of a
//! token, of the grant behind a code, and of an SSO session asks this one
//! function, so a change of the rule (token versions instead of watermarks)
//! is made here.

use crate::store::clients::Client;
use crate::store::users::User;

/// Whether something issued at `issued_at` (a token's `iat`, a grant's or a
/// session's creation) still counts for `client` and `user`, when given.
pub fn outlives_cutoffs(issued_at: i64, client: Option<&Client>, user: Option<&User>) -> bool {
    let client_ok = client.is_none_or(|c| !c.disabled && issued_at >= c.tokens_valid_after);
    let user_ok = user.is_none_or(|u| !u.disabled && issued_at >= u.tokens_valid_after);
    client_ok && user_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(valid_after: i64, disabled: bool) -> Client {
        Client {
            id: "c".into(),
            secret_hash: None,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            scopes: Default::default(),
            grant_types: Vec::new(),
            first_party: false,
            require_pkce: false,
            id_token_alg: crate::jws::Algorithm::Rs256,
            access_token_format: crate::store::clients::AccessTokenFormat::Opaque,
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
            frontchannel_logout_uri: None,
            frontchannel_logout_session_required: false,
            created_at: 0,
            audiences: Vec::new(),
            access_token_ttl: None,
            refresh_token_idle_ttl: None,
            refresh_token_absolute_ttl: None,
            tokens_valid_after: valid_after,
            disabled,
            logout_revokes: crate::store::clients::LogoutRevokes::SessionTokens,
            keep_offline_tokens: false,
        }
    }

    fn user(valid_after: i64, disabled: bool) -> User {
        User {
            id: "u".into(),
            username: "u".into(),
            email: None,
            email_verified: false,
            name: None,
            password_hash: String::new(),
            disabled,
            tokens_valid_after: valid_after,
            updated_at: 0,
            phone_number: None,
            address: None,
        }
    }

    #[test]
    fn issued_at_the_cutoff_counts_and_before_it_does_not() {
        assert!(outlives_cutoffs(100, Some(&client(100, false)), None));
        assert!(!outlives_cutoffs(99, Some(&client(100, false)), None));
        assert!(outlives_cutoffs(100, None, Some(&user(100, false))));
        assert!(!outlives_cutoffs(99, None, Some(&user(100, false))));
        assert!(!outlives_cutoffs(
            200,
            Some(&client(100, false)),
            Some(&user(300, false))
        ));
        assert!(outlives_cutoffs(5, None, None));
    }

    #[test]
    fn a_disabled_client_or_user_voids_everything() {
        assert!(!outlives_cutoffs(500, Some(&client(0, true)), None));
        assert!(!outlives_cutoffs(500, None, Some(&user(0, true))));
    }
}
