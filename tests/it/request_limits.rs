//! What one client can make the server read, parse or hold open: a parameter
//! count, one body limit for every endpoint, a header-read timeout and a
//! connection cap (`[http]` settings).

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::*;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// Long enough for any answer on a loaded CI machine: a guard against a test
/// that would otherwise wait forever, never a measure of speed.
const PATIENCE: Duration = Duration::from_secs(20);

/// 20,000 parameters in under 64 KiB: 3,844 two-letter names, each repeated
/// five times or so (the shape that made the old duplicate tracking
/// quadratic).
fn repeated_names_body() -> String {
    let letters: Vec<char> = ('a'..='z').chain('A'..='Z').chain('0'..='9').collect();
    let mut body = String::new();
    for i in 0..20_000 {
        let n = i % (letters.len() * letters.len());
        body.push(letters[n / letters.len()]);
        body.push(letters[n % letters.len()]);
        body.push('&');
    }
    assert!(body.len() < 64 * 1024);
    body
}

#[tokio::test]
async fn twenty_thousand_repeated_names_are_refused_as_too_many_parameters() {
    let server = TestServer::start().await;
    let body = repeated_names_body();
    for path in ["/token", "/revoke", "/introspect", "/userinfo"] {
        let response = server
            .http
            .post(server.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let error = assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        let description = error["error_description"].as_str().unwrap_or_default();
        assert!(
            description.contains("too many parameters"),
            "{path}: {error}"
        );
    }
}

#[tokio::test]
async fn a_request_may_have_a_hundred_parameters_but_not_more() {
    let server = TestServer::start().await;
    let names: Vec<String> = (0..100).map(|i| format!("extension{i}")).collect();
    let form = |extra: usize| -> Vec<(&str, &str)> {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend(names[..extra].iter().map(|n| (n.as_str(), "x")));
        form
    };
    // RFC 6749 §3.1: unknown parameters are ignored, up to the limit.
    let accepted = server
        .token_request(SERVICE, SERVICE_SECRET, &form(99))
        .await;
    assert_eq!(accepted.status(), StatusCode::OK);
    let refused = server
        .token_request(SERVICE, SERVICE_SECRET, &form(100))
        .await;
    let error = assert_oauth_error(refused, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(
        error["error_description"]
            .as_str()
            .unwrap()
            .contains("too many parameters"),
        "{error}"
    );
}

/// Send `head` (a request line and headers) without a body and return what
/// the server answers before closing, or panic if it neither answers nor
/// closes within `PATIENCE`.
async fn raw_exchange(server: SocketAddr, head: String) -> String {
    let mut stream = TcpStream::connect(server).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    // One response is enough: the connection may stay open.
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    };
    tokio::time::timeout(PATIENCE, read)
        .await
        .expect("the server neither answered nor closed the connection");
    String::from_utf8_lossy(&answer).into_owned()
}

fn declared_body_head(path: &str, length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {length}\r\n\r\n"
    )
}

#[tokio::test]
async fn a_megabyte_body_gets_413_before_it_is_sent() {
    let server = TestServer::start().await;
    // Only the headers are sent: an answer proves the body was not waited
    // for, let alone parsed. /userinfo used to read up to 2 MiB.
    for path in [
        "/userinfo",
        "/token",
        "/introspect",
        "/authorize",
        "/login",
        "/logout",
    ] {
        let answer = raw_exchange(
            server.state.config.bind,
            declared_body_head(path, 1024 * 1024),
        )
        .await;
        assert!(
            answer.starts_with("HTTP/1.1 413"),
            "{path} answered {answer:?}"
        );
    }
}

#[tokio::test]
async fn the_body_limit_is_a_setting() {
    let server = TestServer::with(|c| c.http.max_body_bytes = 4096).await;
    let answer = raw_exchange(server.state.config.bind, declared_body_head("/token", 5000)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
    // Within the limit the request is read and answered as usual.
    let filler = "x".repeat(3000);
    let small = server
        .token_request(
            SERVICE,
            SERVICE_SECRET,
            &[("grant_type", "client_credentials"), ("filler", &filler)],
        )
        .await;
    assert_eq!(small.status(), StatusCode::OK);
}

#[tokio::test]
async fn healthz_answers_among_refused_floods() {
    let server = TestServer::start().await;
    let body = repeated_names_body();
    let mut floods = JoinSet::new();
    let mut oversized = JoinSet::new();
    for _ in 0..4 {
        let request = server
            .http
            .post(server.url("/userinfo"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone());
        floods.spawn(async move { request.send().await.unwrap().status() });
        oversized.spawn(raw_exchange(
            server.state.config.bind,
            declared_body_head("/userinfo", 1 << 20),
        ));
    }
    let health = server
        .http
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.text().await.unwrap(), "ok");
    while let Some(status) = floods.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::BAD_REQUEST);
    }
    while let Some(answer) = oversized.join_next().await {
        let answer = answer.unwrap();
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
    }
}

#[tokio::test]
async fn a_half_sent_request_line_is_closed_after_the_header_timeout() {
    let server =
        TestServer::with(|c| c.http.header_read_timeout = Duration::from_millis(300)).await;
    let mut stream = TcpStream::connect(server.state.config.bind).await.unwrap();
    stream.write_all(b"GET /healthz HT").await.unwrap();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(PATIENCE, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                // hyper may say 408 before closing; keep reading to the end.
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "a half-sent request kept its connection open"
    );
}

#[tokio::test]
async fn a_body_that_stops_arriving_gets_408_after_the_request_timeout() {
    let server = TestServer::with(|c| c.http.request_timeout = Duration::from_secs(1)).await;
    let head = declared_body_head("/token", 100) + "grant_type";
    let answer = raw_exchange(server.state.config.bind, head).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_frees() {
    let server = TestServer::with(|c| {
        c.http.max_connections = 2;
        c.http.header_read_timeout = Duration::from_secs(60);
    })
    .await;
    let bind = server.state.config.bind;
    // Two connections that send nothing hold both places.
    let first = TcpStream::connect(bind).await.unwrap();
    let second = TcpStream::connect(bind).await.unwrap();
    let third = tokio::spawn({
        let url = server.url("/healthz");
        async move { http_client().get(url).send().await.unwrap().status() }
    });
    // Some time for the request to be served if nothing held it back.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !third.is_finished(),
        "a third connection was served while two held the cap"
    );
    drop(first);
    let status = tokio::time::timeout(PATIENCE, third)
        .await
        .expect("the waiting connection is served once a place frees")
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    drop(second);
}

/// What a connection gets when it sends a request: the status line, or
/// `None` when the server closed it without answering.
async fn answer_on(stream: &mut TcpStream) -> Option<String> {
    let request = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    // A write can still succeed on a connection the server already closed;
    // the read then sees the end (or a reset).
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    match tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer)).await {
        Ok(Ok(_)) if !answer.is_empty() => {
            let text = String::from_utf8_lossy(&answer);
            Some(text.lines().next().unwrap_or_default().to_owned())
        }
        Ok(_) => None,
        Err(_) => panic!("the server neither answered nor closed the connection"),
    }
}

#[tokio::test]
async fn one_client_past_its_share_of_connections_is_closed_and_others_are_served() {
    let server = TestServer::with(|c| {
        c.http.max_connections_per_client = 2;
        c.http.header_read_timeout = Duration::from_secs(60);
    })
    .await;
    let bind = server.state.config.bind;
    // Two idle connections hold this client's share.
    let first = TcpStream::connect(bind).await.unwrap();
    let _second = TcpStream::connect(bind).await.unwrap();
    let mut third = TcpStream::connect(bind).await.unwrap();
    assert_eq!(
        answer_on(&mut third).await,
        None,
        "a third is closed unread"
    );
    // Another client (another loopback source address) is served meanwhile.
    let other = tokio::net::TcpSocket::new_v4().unwrap();
    other.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut other = other.connect(bind).await.unwrap();
    assert_eq!(
        answer_on(&mut other).await.as_deref(),
        Some("HTTP/1.1 200 OK")
    );
    // Its share frees with a closed connection.
    drop(first);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut again = TcpStream::connect(bind).await.unwrap();
        if let Some(status) = answer_on(&mut again).await {
            assert_eq!(status, "HTTP/1.1 200 OK");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place of a closed connection was never given back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_trusted_proxy_is_not_held_to_one_clients_share() {
    let server = TestServer::with(|c| {
        c.http.max_connections_per_client = 1;
        c.http.header_read_timeout = Duration::from_secs(60);
        c.http.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let bind = server.state.config.bind;
    let _idle = TcpStream::connect(bind).await.unwrap();
    let mut next = TcpStream::connect(bind).await.unwrap();
    assert_eq!(
        answer_on(&mut next).await.as_deref(),
        Some("HTTP/1.1 200 OK")
    );
}
