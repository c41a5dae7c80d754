//! Scopes (RFC 6749 §3.3): what a client is registered for, what it asks
//! for, what the user consented to, what a grant and its tokens carry, and
//! what introspection reports are all a [`Scope`]. A leaf: storage, tokens
//! and endpoints all use it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Distinct scope tokens in the order first given. Every token is checked
/// against RFC 6749 §3.3 when the scope is built from outside input, so a
/// `Scope` can be written into a response or an `error_description` as is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Scope(Vec<String>);

/// A scope token with a character RFC 6749 §3.3 does not allow. The token is
/// not repeated: `error_description` may not hold every character (RFC 6749
/// §5.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a scope token may only hold the characters of RFC 6749 §3.3 (printable ASCII except space, \" and \\)"
)]
pub struct InvalidScope;

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e))
}

impl Scope {
    /// A space-delimited scope parameter (RFC 6749 §3.3). Repeated tokens
    /// and extra spaces are dropped; an empty string is the empty scope.
    pub fn parse(value: &str) -> Result<Scope, InvalidScope> {
        let mut scope = Scope::default();
        for token in value.split(' ').filter(|t| !t.is_empty()) {
            if !is_scope_token(token) {
                return Err(InvalidScope);
            }
            scope.push(token);
        }
        Ok(scope)
    }

    /// Several scope strings (e.g. repeated `--scope` options), each parsed
    /// as [`Scope::parse`] and merged in order.
    pub fn parse_all<S: AsRef<str>>(values: &[S]) -> Result<Scope, InvalidScope> {
        let mut scope = Scope::default();
        for value in values {
            for token in Scope::parse(value.as_ref())?.0 {
                scope.push(&token);
            }
        }
        Ok(scope)
    }

    /// A scope we stored ourselves (a grant's or a token's row, a JWT we
    /// signed). It was validated when written; a token that would not pass
    /// today (a row from before validation) is left out rather than trusted.
    pub fn from_stored(value: &str) -> Scope {
        let mut scope = Scope::default();
        for token in value.split(' ').filter(|t| is_scope_token(t)) {
            scope.push(token);
        }
        scope
    }

    /// [`Scope::from_stored`] for a stored list of tokens.
    pub fn from_stored_list(tokens: &[String]) -> Scope {
        Scope::from_stored(&tokens.join(" "))
    }

    fn push(&mut self, token: &str) {
        if !self.contains(token) {
            self.0.push(token.to_owned());
        }
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The tokens, in order.
    pub fn tokens(&self) -> &[String] {
        &self.0
    }

    /// The tokens `keep` accepts, in order.
    pub fn filter(&self, keep: impl Fn(&str) -> bool) -> Scope {
        Scope(self.0.iter().filter(|t| keep(t)).cloned().collect())
    }

    /// The first token of `self` that `allowed` lacks: `None` when `self` is
    /// a subset of `allowed` (RFC 6749 §6: a refresh may narrow the scope,
    /// never widen it).
    pub fn first_outside(&self, allowed: &Scope) -> Option<&str> {
        self.iter().find(|t| !allowed.contains(t))
    }

    pub fn is_subset_of(&self, allowed: &Scope) -> bool {
        self.first_outside(allowed).is_none()
    }

    /// `self` followed by the tokens of `more` it lacks.
    pub fn union(&self, more: &Scope) -> Scope {
        let mut scope = self.clone();
        for token in more.iter() {
            scope.push(token);
        }
        scope
    }
}

/// The space-delimited form (RFC 6749 §3.3), as sent and stored.
impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

impl TryFrom<Vec<String>> for Scope {
    type Error = InvalidScope;

    fn try_from(tokens: Vec<String>) -> Result<Self, Self::Error> {
        Scope::parse_all(&tokens)
    }
}

impl From<Scope> for Vec<String> {
    fn from(scope: Scope) -> Self {
        scope.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_drops_duplicates_and_extra_spaces_and_keeps_order() {
        let scope = Scope::parse("openid  profile openid email").unwrap();
        assert_eq!(scope.tokens(), ["openid", "profile", "email"]);
        assert_eq!(scope.to_string(), "openid profile email");
        assert!(scope.contains("profile"));
        assert!(!Scope::parse("openid profiles").unwrap().contains("profile"));
        assert!(Scope::parse("").unwrap().is_empty());
        assert!(Scope::parse("   ").unwrap().is_empty());
    }

    #[test]
    fn tokens_outside_rfc6749_section_3_3_are_refused() {
        for bad in ["files\"x", "a\\b", "caf\u{e9}", "tab\there", "nul\0"] {
            assert_eq!(Scope::parse(bad), Err(InvalidScope), "{bad:?}");
        }
        assert!(Scope::parse("!#[]~ urn:x:y https://api.example.com/read").is_ok());
        // Registration lists: each entry is a scope string of its own.
        assert_eq!(
            Scope::parse_all(&["openid", "a b", "a"]).unwrap().tokens(),
            ["openid", "a", "b"]
        );
        assert!(Scope::parse_all(&["openid", "x\"y"]).is_err());
        assert!(serde_json::from_str::<Scope>(r#"["ok", "not ok\""]"#).is_err());
    }

    #[test]
    fn stored_scopes_leave_out_what_would_not_validate() {
        assert_eq!(
            Scope::from_stored("openid files\"x  profile").tokens(),
            ["openid", "profile"]
        );
        assert_eq!(
            Scope::from_stored_list(&["a b".into(), "c".into()]).tokens(),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn subset_and_union() {
        let granted = Scope::parse("openid profile offline_access").unwrap();
        let narrower = Scope::parse("profile openid").unwrap();
        let wider = Scope::parse("openid email").unwrap();
        assert!(narrower.is_subset_of(&granted));
        assert_eq!(wider.first_outside(&granted), Some("email"));
        assert_eq!(
            granted.union(&wider).to_string(),
            "openid profile offline_access email"
        );
        assert_eq!(
            granted.filter(|t| t != "offline_access").to_string(),
            "openid profile"
        );
    }
}
