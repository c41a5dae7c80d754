//! What Signoff issues: ID tokens (signed JWTs), access tokens and refresh
//! tokens, and the user claims they carry. josekit is used only here and in
//! `keys`.

pub mod access_token;
pub mod claims;
pub mod id_token;
pub mod liveness;
pub mod refresh_token;
pub mod validate;

/// Space-delimited scope string (RFC 6749 §3.3) → distinct scope tokens in
/// the order given.
pub fn parse_scope(scope: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in scope.split(' ').filter(|s| !s.is_empty()) {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    out
}

pub fn join_scope(scopes: &[String]) -> String {
    scopes.join(" ")
}

pub fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split(' ').any(|s| s == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_parsing_drops_duplicates_and_extra_spaces() {
        assert_eq!(
            parse_scope("openid  profile openid"),
            vec!["openid", "profile"]
        );
        assert!(has_scope("openid profile", "profile"));
        assert!(!has_scope("openid profiles", "profile"));
    }
}
