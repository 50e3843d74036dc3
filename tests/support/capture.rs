//! Exchanges captured from a real etcd 3.4 (tests/fixtures/captures, copied
//! from the project's shared captures), turned back into `http` values.

use std::path::Path;

/// One captured exchange.
#[derive(Debug)]
pub struct Capture {
    /// The file name without `.txt`.
    pub name: String,
    /// The request method.
    pub method: String,
    /// The request target (path and query).
    pub target: String,
    /// The last response (after any redirect curl followed), if there was one.
    pub response: Option<http::Response<Vec<u8>>>,
    /// Whether the capture elided part of the body.
    pub truncated: bool,
    /// The curl command line (shell-quoted), if recorded.
    pub command: String,
    /// The request headers curl sent (name, value).
    pub request_headers: Vec<(String, String)>,
    /// curl's exit status (28: its own timeout).
    pub curl_exit: i32,
    /// How long the exchange took, in seconds.
    pub elapsed: f64,
}

impl Capture {
    /// The response; panics if the capture has none.
    pub fn response(&self) -> http::Response<Vec<u8>> {
        let r = self
            .response
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no response", self.name));
        let mut b = http::Response::builder().status(r.status());
        for (k, v) in r.headers() {
            b = b.header(k, v);
        }
        b.body(r.body().clone()).expect("response")
    }

    /// The request path (without the query).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The request query, if any.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }
}

fn dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/captures")
}

/// Load the capture named `name` (e.g. `"007-set-new-201"`).
pub fn load(name: &str) -> Capture {
    load_from(&dir(), name)
}

fn load_from(dir: &Path, name: &str) -> Capture {
    let path = dir.join(format!("{name}.txt"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse(name, &bytes)
}

/// Every capture that records an exchange (not the INDEX or narrative files).
pub fn all() -> Vec<Capture> {
    all_in(&dir())
}

/// Every capture in `dir`.
pub fn all_in(dir: &Path) -> Vec<Capture> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("captures dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".txt") && n.as_bytes()[0].is_ascii_digit())
        .map(|n| n.trim_end_matches(".txt").to_owned())
        .collect();
    names.sort();
    names
        .iter()
        .map(|n| load_from(dir, n))
        .filter(|c| !c.method.is_empty())
        .collect()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The method and target of a curl command line (`-X METHOD`, else GET; the
/// URL's path and query, shell escapes removed).
fn request_of_command(command: &str) -> (String, String) {
    let words: Vec<&str> = command.split(' ').collect();
    let method = words
        .iter()
        .position(|w| *w == "-X")
        .and_then(|i| words.get(i + 1))
        .unwrap_or(&"GET");
    let target = words
        .iter()
        .find_map(|w| w.strip_prefix("http://"))
        .and_then(|rest| rest.find('/').map(|i| rest[i..].replace('\\', "")))
        .unwrap_or_default();
    (method.to_string(), target)
}

fn parse(name: &str, bytes: &[u8]) -> Capture {
    let text_end = find(bytes, b"# RESPONSE BODY").unwrap_or(bytes.len());
    let head = String::from_utf8_lossy(&bytes[..text_end]);
    let mut lines = head.lines().peekable();
    let mut method = String::new();
    let mut target = String::new();
    let mut command = String::new();
    let mut request_headers = Vec::new();
    let (mut curl_exit, mut elapsed) = (0, 0.0);
    let mut in_request = false;
    while let Some(line) = lines.next() {
        if let Some(c) = line.strip_prefix("# COMMAND: ") {
            command = c.trim_end().to_owned();
        }
        if let Some(rest) = line.strip_prefix("# CURL EXIT: ") {
            in_request = false;
            let mut words = rest.split_whitespace();
            curl_exit = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
            elapsed = words
                .nth(1)
                .and_then(|w| w.trim_end_matches('s').parse().ok())
                .unwrap_or(0.0);
        }
        if line.starts_with("# REQUEST") {
            if lines.peek().is_some_and(|l| l.starts_with('#')) {
                // curl never connected: the request is only in its command.
                (method, target) = request_of_command(&command);
                continue;
            }
            if let Some(req) = lines.next() {
                let mut parts = req.split(' ');
                method = parts.next().unwrap_or("").to_owned();
                target = parts.next().unwrap_or("").to_owned();
                in_request = true;
            }
            continue;
        }
        if in_request && !line.starts_with('#') {
            if let Some((k, v)) = line.split_once(':') {
                request_headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        if line.starts_with("# RESPONSE HEADERS") {
            break;
        }
    }
    // The last status block wins (curl -L prints every hop).
    let mut blocks: Vec<Vec<&str>> = Vec::new();
    for line in lines {
        if line.starts_with("HTTP/") {
            blocks.push(vec![line]);
        } else if let Some(b) = blocks.last_mut() {
            if !line.trim().is_empty() {
                b.push(line);
            }
        }
    }
    let mut truncated = false;
    let response = blocks.pop().map(|block| {
        let status: u16 = block[0]
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        let mut builder = http::Response::builder().status(status);
        for h in &block[1..] {
            if let Some((k, v)) = h.split_once(':') {
                builder = builder.header(k.trim(), v.trim());
            }
        }
        let mut body = Vec::new();
        if text_end < bytes.len() {
            let rest = &bytes[text_end..];
            let header_end = rest
                .iter()
                .position(|&b| b == b'\n')
                .map_or(rest.len(), |i| i + 1);
            let header = String::from_utf8_lossy(&rest[..header_end]);
            let declared: usize = header
                .split('(')
                .nth(1)
                .and_then(|s| s.split(' ').next())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            body = rest[header_end..].to_vec();
            if find(&body, b"...[body truncated:").is_some() {
                truncated = true;
            } else {
                body.truncate(declared);
            }
        }
        builder.body(body).expect("response")
    });
    Capture {
        name: name.to_owned(),
        method,
        target,
        response,
        truncated,
        command,
        request_headers,
        curl_exit,
        elapsed,
    }
}
