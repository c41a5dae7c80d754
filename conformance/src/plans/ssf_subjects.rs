//! `openid-ssf-stream-subject-control` (openid-ssf-transmitter-test-plan): add a subject to
//! a stream (SSF 1.0 §8.1.3.2, 200) and remove it (§8.1.3.3, 204), by `email` and by
//! `iss_sub`, as the Foundation's module does. Skipped when the transmitter advertises no
//! add/remove subject endpoints. Under `--ssf-fault` the add answer is corrupted.

use reqwest::Method;
use serde_json::{Value, json};

use super::ssf::Ctx;
use crate::checks::{Checks, Step, skip};

pub async fn subject_control(x: &Ctx<'_>, c: &mut Checks, token: &str) -> Step {
    let (Ok(add), Ok(remove)) = (
        x.url("add_subject_endpoint"),
        x.url("remove_subject_endpoint"),
    ) else {
        return skip(
            "the transmitter advertises no add_subject_endpoint / remove_subject_endpoint",
        );
    };
    let created = x.create(token).await?;
    c.require(
        created.status == 201,
        "SSF 1.0 §8.1.1.1",
        format!("create: {}", created.brief()),
    )?;
    let id = created.str("stream_id").unwrap_or_default().to_owned();
    let subjects: [Value; 2] = [
        json!({ "format": "email", "email": "conformance-subject@example.test" }),
        json!({ "format": "iss_sub", "iss": x.op.cfg.issuer, "sub": "conformance-subject" }),
    ];
    for subject in &subjects {
        let body = json!({ "stream_id": id, "subject": subject, "verified": true });
        let r = x
            .send(Method::POST, &add, Some(token), Some(body.to_string()))
            .await?;
        let r = x.judged(r);
        c.check(
            r.status == 200,
            "SSF 1.0 §8.1.3.2: add subject is 200",
            format!("add {subject}: {}", r.brief()),
        );
        let body = json!({ "stream_id": id, "subject": subject });
        let r = x
            .send(Method::POST, &remove, Some(token), Some(body.to_string()))
            .await?;
        c.check(
            r.status == 204,
            "SSF 1.0 §8.1.3.3: remove subject is 204",
            format!("remove {subject}: {}", r.brief()),
        );
    }
    x.delete(token, &id).await?;
    Ok(())
}
