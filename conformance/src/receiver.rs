//! The RP's own endpoints: redirect_uri, post_logout_redirect_uri, and the back- and
//! front-channel logout URIs. It answers every request with 200 and records it, so
//! modules can wait for what the provider sends (e.g. a logout token).

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

const MAX_REQUEST: usize = 256 * 1024;

#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body's form fields (application/x-www-form-urlencoded).
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }
}

#[derive(Default)]
struct Inner {
    log: Mutex<Vec<Received>>,
    notify: Notify,
}

#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Inner>,
}

impl Receiver {
    pub async fn start(addr: std::net::SocketAddr) -> Result<Receiver, String> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("the receiver cannot listen on {addr}: {e}"))?;
        let inner = Arc::new(Inner::default());
        let shared = inner.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    if let Some(req) = serve(stream).await {
                        shared.log.lock().expect("receiver log").push(req);
                        shared.notify.notify_waiters();
                    }
                });
            }
        });
        Ok(Receiver { inner })
    }

    /// A position in the log; pass it to `wait_for` to see only what came after.
    pub fn mark(&self) -> usize {
        self.inner.log.lock().expect("receiver log").len()
    }

    fn since(&self, mark: usize, path: &str) -> Vec<Received> {
        let log = self.inner.log.lock().expect("receiver log");
        log.iter()
            .skip(mark)
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits up to `timeout` for a request to `path` after `mark`, then a moment more for
    /// any that follow it, and returns them all (possibly none).
    pub async fn wait_for(&self, mark: usize, path: &str, timeout: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.notify.notified();
            if !self.since(mark, path).is_empty() {
                tokio::time::sleep(Duration::from_millis(300)).await;
                return self.since(mark, path);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.since(mark, path);
            }
        }
    }
}

/// Reads one HTTP/1.1 request, answers 200, and returns what was asked.
async fn serve(mut stream: TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_REQUEST {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
        .min(MAX_REQUEST);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target, String::new()),
    };
    let page = "<p>signoff-conformance RP</p>";
    let reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
         Cache-Control: no-store\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
        page.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
    Some(Received {
        method,
        path,
        query,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_a_form_post() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let rx = Receiver::start(addr).await.unwrap();
        let mark = rx.mark();
        let resp = reqwest::Client::new()
            .post(format!("http://{addr}/backchannel?x=1"))
            .form(&[("logout_token", "abc")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let got = rx
            .wait_for(mark, "/backchannel", Duration::from_secs(2))
            .await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].method, "POST");
        assert_eq!(got[0].query, "x=1");
        assert_eq!(got[0].form(), vec![("logout_token".into(), "abc".into())]);
    }
}
