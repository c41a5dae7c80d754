//! The physical reference of the discovery row (issue 16, bench/README.md): an axum server on the same
//! axum/hyper/tokio as Signoff, with no middleware, answering `GET /.well-known/openid-configuration` with
//! fixed bytes (Signoff's own discovery document, read from a file once). What Signoff's discovery rate loses
//! against this is the cost of its middleware and handler, not of the HTTP stack.
//!
//! Usage: `bare_axum <document.json> <bind address, e.g. 127.0.0.1:4400>`
use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(file), Some(bind)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: bare_axum <document.json> <bind address>");
    };
    // Leaked once so every response borrows the same bytes: no per-request copy or allocation.
    let body: &'static [u8] = Vec::leak(std::fs::read(&file)?);
    let app = Router::new().route(
        "/.well-known/openid-configuration",
        get(move || async move { ([(CONTENT_TYPE, "application/json")], body) }),
    );
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    eprintln!("bare_axum serving {} bytes on {bind}", body.len());
    axum::serve(listener, app).await?;
    Ok(())
}
