//! A plain HTTP/1.1 GET on loopback, and `/metrics` (Prometheus text) read by name.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::Error;

/// A plain HTTP/1.1 GET of `path` on `addr`: the status code and the body (de-chunked).
pub fn get(addr: SocketAddr, path: &str) -> Result<(u16, String), Error> {
    let fail = |e: std::io::Error| Error::new(format!("GET http://{addr}{path}: {e}"));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(fail)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(fail)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(fail)?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(fail)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            Error::new(format!(
                "GET http://{addr}{path}: no status line in {:?}",
                head.lines().next().unwrap_or("")
            ))
        })?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

/// The body of a GET that must answer 200.
pub fn get_ok(addr: SocketAddr, path: &str) -> Result<String, Error> {
    match get(addr, path)? {
        (200, body) => Ok(body),
        (status, body) => Err(Error::new(format!(
            "GET http://{addr}{path}: {status} {}",
            body.trim()
        ))),
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// One reading of `/metrics`: every sample by name, labels kept as part of the name.
#[derive(Debug, Clone, Default)]
pub struct Metrics(pub BTreeMap<String, f64>);

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        Metrics(
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| {
                    let (key, value) = l.rsplit_once(' ')?;
                    Some((key.trim().to_owned(), value.trim().parse().ok()?))
                })
                .collect(),
        )
    }

    /// A value, 0 when pinbridge does not export it (an older or newer binary).
    pub fn get(&self, name: &str) -> f64 {
        self.0.get(name).copied().unwrap_or(0.0)
    }

    /// A sample named `name` (with or without labels), `None` when there is none.
    pub fn find(&self, name: &str) -> Option<f64> {
        let labelled = format!("{name}{{");
        self.0
            .iter()
            .find(|(k, _)| *k == name || k.starts_with(&labelled))
            .map(|(_, v)| *v)
    }

    /// `later - self` for every counter both readings have.
    pub fn delta(&self, later: &Metrics) -> Metrics {
        Metrics(
            later
                .0
                .iter()
                .map(|(k, v)| (k.clone(), v - self.0.get(k).copied().unwrap_or(0.0)))
                .collect(),
        )
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::json!(v)))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_text() {
        let m = Metrics::parse(
            "# HELP pinbridge_active_calls x\n# TYPE pinbridge_active_calls gauge\n\
             pinbridge_active_calls 12\npinbridge_rtp_packets_sent_total 3000\n\
             pinbridge_calls_rejected_total{reason=\"pin\"} 2\n",
        );
        assert_eq!(m.get("pinbridge_active_calls"), 12.0);
        assert_eq!(m.get("pinbridge_nothing"), 0.0);
        assert_eq!(m.find("pinbridge_calls_rejected_total"), Some(2.0));
        assert_eq!(m.find("pinbridge_calls"), None);
        let later = Metrics::parse("pinbridge_rtp_packets_sent_total 4500\n");
        assert_eq!(
            m.delta(&later).get("pinbridge_rtp_packets_sent_total"),
            1500.0
        );
    }

    #[test]
    fn chunked_body() {
        assert_eq!(
            dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "hello world"
        );
    }
}
