//! Just enough HTTP/1.1 for the service test, over `std::net::TcpStream`: one request per
//! connection (`Connection: close`), and a reader for Prometheus' text format.

pub(crate) mod harness;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Sends one request and returns the status and the body.
pub(crate) fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    http_or_closed(addr, method, path, headers, body)
        .unwrap_or_else(|| panic!("{method} {path}: closed without an answer"))
}

/// [`http`], or `None` if the server closed the connection without answering.
pub(crate) fn http_or_closed(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).unwrap();
    // A hang guard only; no assertion depends on time.
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // A server refusing a large body may answer and close before reading it all.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    if let Err(e) = stream.read_to_end(&mut response) {
        assert!(!response.is_empty(), "{method} {path}: {e}");
    }
    if response.is_empty() {
        return None;
    }
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("a complete response");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Some((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = s.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        s = &rest[size + 2..];
    }
}

/// A `/metrics` page.
pub(crate) struct Metrics(pub(crate) String);

impl Metrics {
    /// The sum of every series of `name` whose labels include `labels`; 0 if none.
    pub(crate) fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                let (series_name, series_labels) = match series.split_once('{') {
                    Some((n, rest)) => (n, rest.trim_end_matches('}')),
                    None => (series, ""),
                };
                let wanted = series_name == name
                    && labels.iter().all(|(k, v)| {
                        series_labels
                            .split(',')
                            .any(|kv| kv == format!("{k}=\"{v}\""))
                    });
                wanted.then(|| value.parse::<f64>().unwrap())
            })
            .sum()
    }
}
