//! What the revocation log records: one event kind per cause, who caused it,
//! and why (docs/revocation.md has the table of kinds and their columns).

use crate::store::revocation_log::EventRecord;

/// One kind per way a token or session dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An SSO session ended (`user_id`, `session_id`, `reason`: an [`EndReason`]).
    SessionEnded,
    /// A grant and every token issued under it (`grant_id`, `client_id`,
    /// `user_id`, `reason`: a [`GrantReason`]).
    GrantRevoked,
    /// One access token: `jti` for a JWT, `token_hash` for an opaque one.
    TokenRevoked,
    /// "Log out everywhere": `version` is the user's new token version.
    UserTokensVoided,
    UserDisabled,
    UserEnabled,
    /// A new password (also a new token version; the sessions end).
    CredentialChanged,
    /// "Revoke every token of this client": `version` is the client's new one.
    ClientTokensVoided,
    ClientDisabled,
    ClientEnabled,
    ClientRemoved,
    /// A signing key removed at once (`kid`): every token it signed dies.
    KeyRevoked,
    /// A client's registration changed (added, updated, new secret): no
    /// token dies, but every instance drops its cached row of the client
    /// (`store::client_cache`). Never a Shared Signals SET.
    ClientChanged,
}

impl Kind {
    pub const ALL: [Kind; 13] = [
        Kind::SessionEnded,
        Kind::GrantRevoked,
        Kind::TokenRevoked,
        Kind::UserTokensVoided,
        Kind::UserDisabled,
        Kind::UserEnabled,
        Kind::CredentialChanged,
        Kind::ClientTokensVoided,
        Kind::ClientDisabled,
        Kind::ClientEnabled,
        Kind::ClientRemoved,
        Kind::KeyRevoked,
        Kind::ClientChanged,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::SessionEnded => "session_ended",
            Kind::GrantRevoked => "grant_revoked",
            Kind::TokenRevoked => "token_revoked",
            Kind::UserTokensVoided => "user_tokens_voided",
            Kind::UserDisabled => "user_disabled",
            Kind::UserEnabled => "user_enabled",
            Kind::CredentialChanged => "credential_changed",
            Kind::ClientTokensVoided => "client_tokens_voided",
            Kind::ClientDisabled => "client_disabled",
            Kind::ClientEnabled => "client_enabled",
            Kind::ClientRemoved => "client_removed",
            Kind::KeyRevoked => "key_revoked",
            Kind::ClientChanged => "client_changed",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether a token or session dies of it: every kind but
    /// `client_changed`, which only invalidates cached client rows (not
    /// counted as a revocation, not audited as one, no SET).
    pub fn is_revocation(&self) -> bool {
        *self != Kind::ClientChanged
    }

    /// Every kind that changes a client row: each evicts the client's cached
    /// row wherever it is applied.
    pub fn changes_client(&self) -> bool {
        matches!(
            self,
            Kind::ClientTokensVoided
                | Kind::ClientDisabled
                | Kind::ClientEnabled
                | Kind::ClientRemoved
                | Kind::ClientChanged
        )
    }

    /// An event about a user's or a client's standing (version, disabled),
    /// rather than about particular sessions, grants, tokens or keys.
    pub fn is_standing(&self) -> bool {
        matches!(
            self,
            Kind::UserTokensVoided
                | Kind::UserDisabled
                | Kind::UserEnabled
                | Kind::CredentialChanged
                | Kind::ClientTokensVoided
                | Kind::ClientDisabled
                | Kind::ClientEnabled
                | Kind::ClientRemoved
        )
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who caused an event (CAEP `initiating_entity` uses the same words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// The user, at a relying party or on the account page.
    User,
    /// An operator, through the command line.
    Admin,
    /// A rule: session lifetimes, refresh token reuse detection, code replay.
    Policy,
    /// Signoff itself (not used by any path today; reserved by the contract).
    System,
    /// A client, revoking its own tokens (RFC 7009).
    Client,
}

impl Initiator {
    pub fn as_str(&self) -> &'static str {
        match self {
            Initiator::User => "user",
            Initiator::Admin => "admin",
            Initiator::Policy => "policy",
            Initiator::System => "system",
            Initiator::Client => "client",
        }
    }

    pub fn parse(s: &str) -> Option<Initiator> {
        [
            Initiator::User,
            Initiator::Admin,
            Initiator::Policy,
            Initiator::System,
            Initiator::Client,
        ]
        .into_iter()
        .find(|i| i.as_str() == s)
    }
}

/// Why a session ended (`session_ended.reason`, and the `reason` of its
/// back-channel notifications).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// RP-Initiated Logout at the end_session_endpoint.
    RpInitiated,
    /// The user, on the account page.
    Account,
    /// An administrator (`signoff session revoke`).
    Admin,
    /// "Log out everywhere".
    LogoutEverywhere,
    /// Another user signed in on the same browser.
    Replaced,
    /// The user was disabled.
    UserDisabled,
    /// The user's password was changed.
    PasswordChanged,
    /// Not used for `sessions.idle_ttl`.
    IdleTimeout,
    /// `sessions.absolute_ttl` after the login.
    AbsoluteTimeout,
}

impl EndReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            EndReason::RpInitiated => "rp_initiated",
            EndReason::Account => "account",
            EndReason::Admin => "admin",
            EndReason::LogoutEverywhere => "logout_everywhere",
            EndReason::Replaced => "replaced",
            EndReason::UserDisabled => "user_disabled",
            EndReason::PasswordChanged => "password_changed",
            EndReason::IdleTimeout => "idle_timeout",
            EndReason::AbsoluteTimeout => "absolute_timeout",
        }
    }

    /// The session ran out of time rather than being ended by someone.
    pub fn is_expiry(&self) -> bool {
        matches!(self, EndReason::IdleTimeout | EndReason::AbsoluteTimeout)
    }

    /// Who ends a session for this reason, unless the caller knows better
    /// ("log out everywhere" and a new password may come from the user or an
    /// operator).
    pub fn initiator(&self) -> Initiator {
        match self {
            EndReason::RpInitiated | EndReason::Account | EndReason::Replaced => Initiator::User,
            EndReason::Admin
            | EndReason::LogoutEverywhere
            | EndReason::UserDisabled
            | EndReason::PasswordChanged => Initiator::Admin,
            EndReason::IdleTimeout | EndReason::AbsoluteTimeout => Initiator::Policy,
        }
    }
}

/// Why a grant (a refresh token family with its access tokens) was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantReason {
    /// RFC 7009: its client revoked a refresh token.
    Revoked,
    /// RFC 9700 §4.14.2: a rotated refresh token was used again.
    ReuseDetected,
    /// RFC 6749 §4.1.2: its authorization code was used twice.
    CodeReplayed,
    /// Its session ended and the client's `logout_revokes` policy revokes it.
    SessionEnded,
}

impl GrantReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            GrantReason::Revoked => "revoked",
            GrantReason::ReuseDetected => "reuse_detected",
            GrantReason::CodeReplayed => "code_replayed",
            GrantReason::SessionEnded => "session_ended",
        }
    }
}

/// One committed event of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Assigned by the database; on SQLite also the commit order. On
    /// PostgreSQL a lower `seq` may commit after a higher one (see
    /// `RevocationView`).
    pub seq: i64,
    pub kind: Kind,
    /// The writing process's clock: informational, never compared with a
    /// token's `iat`.
    pub created_at: i64,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub client_id: Option<String>,
    pub grant_id: Option<String>,
    pub jti: Option<String>,
    pub token_hash: Option<String>,
    pub kid: Option<String>,
    /// The new token version (user or client kinds).
    pub version: Option<i64>,
    pub reason: Option<String>,
    pub initiator: Initiator,
    /// After this instant no live token can match the event.
    pub retain_until: i64,
}

impl Event {
    /// `None` for a row this version does not understand (written by a newer
    /// Signoff sharing the database); readers skip it with a warning.
    pub(crate) fn from_record(r: EventRecord) -> Option<Event> {
        let (Some(kind), Some(initiator)) = (Kind::parse(&r.kind), Initiator::parse(&r.initiator))
        else {
            tracing::warn!(seq = r.seq, kind = %r.kind, "revocation event of an unknown kind skipped");
            return None;
        };
        Some(Event {
            seq: r.seq,
            kind,
            created_at: r.created_at,
            user_id: r.user_id,
            session_id: r.session_id,
            client_id: r.client_id,
            grant_id: r.grant_id,
            jti: r.jti,
            token_hash: r.token_hash,
            kid: r.kid,
            version: r.version,
            reason: r.reason,
            initiator,
            retain_until: r.retain_until,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_initiators_round_trip_through_their_names() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::parse("session-ended"), None);
        assert_eq!(Initiator::parse("policy"), Some(Initiator::Policy));
        assert_eq!(Initiator::parse("root"), None);
    }

    #[test]
    fn expiry_reasons_are_policy() {
        for reason in [EndReason::IdleTimeout, EndReason::AbsoluteTimeout] {
            assert!(reason.is_expiry());
            assert_eq!(reason.initiator(), Initiator::Policy);
        }
        assert!(!EndReason::RpInitiated.is_expiry());
        assert_eq!(EndReason::RpInitiated.initiator(), Initiator::User);
    }
}
