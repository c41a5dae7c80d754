//! Telling relying parties that a session ended: Back-Channel Logout 1.0
//! (server to server, durable through an outbox) and Front-Channel Logout
//! 1.0 (iframes on the signed-out page). Sessions themselves end in
//! `session::end`, the one path every logout takes.

pub mod backchannel;
pub mod frontchannel;
