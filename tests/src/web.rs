//! Helpers for the web view's tests: plain HTTP/1.1 requests to the
//! daemon's `http_listen` address, and headless Chromium driven through
//! the system's chromedriver (Debian's `chromium` and `chromium-driver`;
//! nothing is downloaded).

use std::{
    io::{BufRead as _, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Where Debian puts chromedriver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// An answer: status and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

/// Sends one request (`Connection: close`) and reads the whole answer.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the web view");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(head.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read the answer");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = headers
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let chunked = headers
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Answer {
        status,
        headers: headers.to_owned(),
        body: if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        },
    }
}

/// A chunked body's content (`SIZE\r\nDATA\r\n` … `0\r\n\r\n`).
fn dechunk(mut raw: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = raw.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        raw = rest[size..].strip_prefix("\r\n").expect("a chunk's end");
    }
    out
}

/// GET `path`, with a cookie if given.
pub async fn get(addr: SocketAddr, path: &str, cookie: Option<&str>) -> Answer {
    match cookie {
        Some(c) => request(addr, "GET", path, &[("Cookie", c)], "").await,
        None => request(addr, "GET", path, &[], "").await,
    }
}

/// A chromedriver process, stopped when dropped.
pub struct Driver {
    child: Child,
    pub port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the system chromedriver is installed.
pub fn have_chromedriver() -> bool {
    Path::new(CHROMEDRIVER).exists()
}

/// Starts chromedriver on a free port and waits for it to say it started.
pub fn start_driver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let stdout = child.stdout.take().expect("chromedriver's stdout");
    let mut lines = BufReader::new(stdout).lines();
    // chromedriver prints this line once it listens.
    let started = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("started successfully"));
    assert!(started, "chromedriver did not start");
    // Keep draining its output so that it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Driver { child, port }
}

/// A headless Chromium session with a fresh profile in `profile`.
pub async fn browser(driver: &Driver, profile: &Path) -> fantoccini::Client {
    let args = serde_json::json!([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1100,1400",
        format!("--user-data-dir={}", profile.display()),
    ]);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "args": args, "binary": "/usr/bin/chromium" }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    fantoccini::ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a chromium session")
}

/// Reads a server-sent event stream at `path` until `until` holds for
/// the text read so far; returns that text.
pub async fn read_events(addr: SocketAddr, path: &str, until: impl Fn(&str) -> bool) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the web view");
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("send");
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    // A guard against a hang, not a timing goal.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !until(&text) {
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(n) => n.expect("read events"),
            Err(_) => panic!("the events wanted did not come; read: {text}"),
        };
        assert!(n > 0, "the event stream ended: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    text
}

/// Saves a screenshot of the current page as `dir/name.png`.
pub async fn screenshot(client: &fantoccini::Client, dir: &Path, name: &str) -> PathBuf {
    let png = client.screenshot().await.expect("screenshot");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write the screenshot");
    path
}

/// Whether a browser test can run: chromedriver is installed. On CI
/// (`CI` set, where `.ci/run` installs it) a missing driver fails the test;
/// elsewhere the test is skipped with a line saying so.
pub fn browser_tests_can_run() -> bool {
    if have_chromedriver() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{CHROMEDRIVER} is missing on CI"
    );
    eprintln!(
        "skipped: {CHROMEDRIVER} is not installed (apt-get install chromium chromium-driver)"
    );
    false
}
