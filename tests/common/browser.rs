//! Headless Chromium driven through chromedriver's WebDriver protocol, with a small
//! HTTP client of our own (the protocol is plain JSON over HTTP on loopback).
//!
//! Chromium starts headless with a fresh profile in a temporary directory, no sandbox,
//! no GPU and no background networking; chromedriver (and with it the browser) is
//! stopped by PID when the `Browser` drops.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pinbridge_testkit::ports::free_port;
use pinbridge_testkit::process::Proc;
use serde_json::{Value, json};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Proc,
    port: u16,
    session: String,
    _profile: tempfile::TempDir,
    /// Where screenshots go; the test names it.
    pub screenshots: PathBuf,
}

/// One element of the page.
pub struct Element(String);

/// A plain HTTP/1.1 exchange on loopback: the status and the body.
pub fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let (status, text) = raw_http(
        &format!("127.0.0.1:{port}"),
        method,
        path,
        &[],
        body.map(|b| b.to_string()),
    );
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A plain HTTP/1.1 request: returns the status and the body as text.
pub fn raw_http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    let body = body.unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        request.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes()).expect("send");
    let text = read_response(&mut stream);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    (status, body)
}

/// Reads one response: up to the end of its body by `Content-Length` (a server may keep
/// the connection open), else up to the end of the stream.
fn read_response(stream: &mut TcpStream) -> String {
    let mut response = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if let Some(length) = length
                && response.len() >= end + 4 + length
            {
                break;
            }
        }
        let n = stream.read(&mut buf).expect("read a response");
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&response).into_owned()
}

fn dechunk(mut text: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        text = rest[size..].trim_start_matches("\r\n");
    }
    out
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session.
    pub fn start(screenshots: &Path) -> Browser {
        std::fs::create_dir_all(screenshots).expect("create the screenshot folder");
        let port = free_port();
        let mut cmd = Command::new("chromedriver");
        cmd.arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let driver = Proc::spawn("chromedriver", cmd).unwrap_or_else(|e| panic!("{e}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = TcpStream::connect(("127.0.0.1", port)).is_ok()
                && http(port, "GET", "/status", None).1["value"]["ready"] == json!(true);
            if ready {
                break;
            }
            if Instant::now() >= deadline {
                panic!("chromedriver did not become ready");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::Builder::new()
            .prefix("pinbridge-chromium-")
            .tempdir()
            .expect("a profile directory");
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-quic".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=1280,900".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
        }}});
        let (status, reply) = http(port, "POST", "/session", Some(&capabilities));
        if status != 200 {
            panic!("no browser session: {reply}");
        }
        let session = reply["value"]["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        Browser {
            driver,
            port,
            session,
            _profile: profile,
            screenshots: screenshots.to_path_buf(),
        }
    }

    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        // Printed with the output of a failing test: the step it stopped at.
        eprintln!("webdriver: {method} {path}");
        let (status, reply) = http(self.port, method, &path, body.as_ref());
        assert_eq!(status, 200, "WebDriver {method} {path}: {reply}");
        reply["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.command("GET", "/url", None)
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    pub fn source(&self) -> String {
        self.command("GET", "/source", None)
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    pub fn back(&self) {
        self.command("POST", "/back", Some(json!({})));
    }

    pub fn forward(&self) {
        self.command("POST", "/forward", Some(json!({})));
    }

    pub fn refresh(&self) {
        self.command("POST", "/refresh", Some(json!({})));
    }

    /// The element matching a CSS selector, waiting for it up to ten seconds.
    pub fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let path = format!("/session/{}/element", self.session);
            let (status, reply) = http(
                self.port,
                "POST",
                &path,
                Some(&json!({"using": "css selector", "value": css})),
            );
            if status == 200 {
                return Element(
                    reply["value"][ELEMENT_KEY]
                        .as_str()
                        .expect("an element id")
                        .to_owned(),
                );
            }
            assert!(
                Instant::now() < deadline,
                "no element {css:?} on {}: {}",
                self.url(),
                self.source()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn click(&self, css: &str) {
        let e = self.find(css);
        self.command("POST", &format!("/element/{}/click", e.0), Some(json!({})));
    }

    pub fn text(&self, css: &str) -> String {
        let e = self.find(css);
        self.command("GET", &format!("/element/{}/text", e.0), None)
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// Replaces the value of an input.
    pub fn fill(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.command("POST", &format!("/element/{}/clear", e.0), Some(json!({})));
        self.command(
            "POST",
            &format!("/element/{}/value", e.0),
            Some(json!({ "text": text })),
        );
    }

    /// Waits until the address satisfies `check`.
    pub fn wait_for_url(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let url = self.url();
            if check(&url) {
                return url;
            }
            assert!(Instant::now() < deadline, "never reached {what}: at {url}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the page source satisfies `check` and returns that source. Use it
    /// whenever the source is read after a navigation or a form submission: the
    /// address changes when the new page commits, before its document has loaded.
    pub fn wait_for_source(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let source = self.source();
            if check(&source) {
                return source;
            }
            if Instant::now() >= deadline {
                panic!(
                    "the page never showed {what}: at {}, its source was:\n{}",
                    self.url(),
                    excerpt(&source)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The browser's cookies as (name, value).
    pub fn cookies(&self) -> Vec<(String, String)> {
        self.command("GET", "/cookie", None)
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or("").to_owned(),
                    c["value"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    pub fn add_cookie(&self, name: &str, value: &str) {
        self.command(
            "POST",
            "/cookie",
            Some(json!({"cookie": {"name": name, "value": value, "path": "/"}})),
        );
    }

    /// Runs `script` in the page as WebDriver's asynchronous script: its last argument
    /// is a callback, and what the script passes to it is returned.
    pub fn execute_async(&self, script: &str) -> Value {
        self.command(
            "POST",
            "/execute/async",
            Some(json!({ "script": script, "args": [] })),
        )
    }

    /// Sets a permission of the page's origin (`clipboard-read`, say) to `granted`,
    /// `denied` or `prompt` (WebDriver's permissions extension).
    pub fn set_permission(&self, name: &str, state: &str) {
        self.command(
            "POST",
            "/permissions",
            Some(json!({ "descriptor": { "name": name }, "state": state })),
        );
    }

    /// Saves a PNG of the page as `<screenshots>/<name>.png`.
    pub fn screenshot(&self, name: &str) {
        let data = self.command("GET", "/screenshot", None);
        let png = decode_base64(data.as_str().unwrap_or(""));
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        std::fs::write(self.screenshots.join(format!("{name}.png")), png)
            .expect("write a screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let path = format!("/session/{}", self.session);
        let _ = std::panic::catch_unwind(|| http(self.port, "DELETE", &path, None));
        self.driver.kill();
    }
}

/// The body of a page source, tags and all, cut to its last 2,000 characters (where a
/// page's message or error is).
fn excerpt(source: &str) -> String {
    const MAX_CHARS: usize = 2000;
    let body = source.find("<body").map_or(source, |i| &source[i..]);
    let chars = body.chars().count();
    if chars <= MAX_CHARS {
        return body.to_owned();
    }
    let tail: String = body.chars().skip(chars - MAX_CHARS).collect();
    format!("…{tail}")
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let digits: Vec<u32> = text.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut n = 0u32;
        for (i, d) in chunk.iter().enumerate() {
            n |= d << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
    }
    out
}
