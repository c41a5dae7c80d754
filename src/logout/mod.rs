//! Telling relying parties that a session ended: Back-Channel Logout 1.0
//! (server to server, durable through an outbox) and Front-Channel Logout
//! 1.0 (iframes on the signed-out page). Sessions themselves end in
//! `session::end`, the one path every logout takes, which hands over what it
//! ended as an [`EndedSession`].

pub mod backchannel;
pub mod frontchannel;

use crate::store::clients::Client;
use crate::store::sessions::Session;

/// A session that has just ended, and who must be told.
#[derive(Debug, Clone)]
pub struct EndedSession {
    pub session: Session,
    /// The clients that received codes in the session, in the order they
    /// joined it: the ones Front-Channel Logout renders iframes for.
    pub clients: Vec<Client>,
}
