//! Serving a [`MemoryEtcd`] over HTTP/1.1 on loopback ports, one per member, so
//! that any HTTP client (the ureq and reqwest transports, curl, other
//! languages' etcd clients) can talk to it. std only: a thread per
//! connection, `Content-Length` bodies, keep-alive.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::MemoryEtcd;

/// The largest request body read (etcd's form limit is 10 MB).
const MAX_BODY: usize = 16 << 20;

/// A [`MemoryEtcd`] served over HTTP; stops accepting connections on drop.
#[derive(Debug)]
pub struct Served {
    endpoints: Vec<String>,
    stop: Arc<AtomicBool>,
}

impl Served {
    /// The members' client URLs (`http://127.0.0.1:PORT`).
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for e in &self.endpoints {
            // Wake the accept loops.
            let _ = TcpStream::connect(e.trim_start_matches("http://"));
        }
    }
}

impl MemoryEtcd {
    /// Serve every member on a loopback port of its own (its client URL
    /// becomes `http://127.0.0.1:PORT`, in `/v2/members` and `/v2/machines`
    /// too).
    ///
    /// ```
    /// let etcd = etcd_v2::memory::MemoryEtcd::new();
    /// let served = etcd.serve().unwrap();
    /// assert!(served.endpoints()[0].starts_with("http://127.0.0.1:"));
    /// ```
    pub fn serve(&self) -> io::Result<Served> {
        let stop = Arc::new(AtomicBool::new(false));
        let members = self.shared.lock().core.cluster.members.len();
        let mut endpoints = Vec::with_capacity(members);
        for i in 0..members {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let url = format!("http://{}", listener.local_addr()?);
            self.shared.lock().core.cluster.members[i].client_urls = vec![url.clone()];
            endpoints.push(url.clone());
            let (etcd, stop) = (self.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(conn) = conn else { continue };
                    let (etcd, url) = (etcd.clone(), url.clone());
                    std::thread::spawn(move || {
                        let _ = serve_connection(&etcd, &url, conn);
                    });
                }
            });
        }
        Ok(Served { endpoints, stop })
    }
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

/// Read one request; `None` at a clean end of the connection.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    url: &str,
) -> io::Result<Option<(http::Request<Vec<u8>>, bool)>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(bad("malformed request line"));
    };
    let http10 = parts.next() == Some("HTTP/1.0");
    let mut builder = http::Request::builder()
        .method(method)
        .uri(format!("{url}{target}"));
    let mut length = 0usize;
    let mut close = http10;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            return Err(bad("connection closed in the headers"));
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let Some((name, value)) = h.split_once(':') else {
            return Err(bad("malformed header"));
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().map_err(|_| bad("bad Content-Length"))?;
        }
        if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(bad("chunked request bodies are not supported"));
        }
        builder = builder.header(name, value);
    }
    if length > MAX_BODY {
        return Err(bad("request body too large"));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let request = builder.body(body).map_err(|e| bad(&e.to_string()))?;
    Ok(Some((request, close)))
}

fn serve_connection(etcd: &MemoryEtcd, url: &str, conn: TcpStream) -> io::Result<()> {
    // Each answer goes out in one write, at once: no waiting for the client's
    // delayed ACK (40 ms an answer on Linux loopback otherwise).
    let _ = conn.set_nodelay(true);
    let mut writer = conn.try_clone()?;
    let probe = conn.try_clone()?;
    let mut reader = BufReader::new(conn);
    while let Some((request, close)) = read_request(&mut reader, url)? {
        let head = request.method() == http::Method::HEAD;
        // A client that hangs up ends its wait.
        let gone = || {
            let _ = probe.set_nonblocking(true);
            let closed = matches!(probe.peek(&mut [0u8; 1]), Ok(0));
            let _ = probe.set_nonblocking(false);
            closed
        };
        let response = match etcd.send_until(request, None, &gone) {
            Ok(r) => r,
            // Dropping the connection is how a failure looks on the wire.
            Err(_) => return Ok(()),
        };
        let status = response.status();
        let mut out = format!(
            "HTTP/1.1 {} {}\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        );
        for (name, value) in response.headers() {
            if name == http::header::CONTENT_LENGTH {
                continue;
            }
            out.push_str(name.as_str());
            out.push_str(": ");
            out.push_str(&String::from_utf8_lossy(value.as_bytes()));
            out.push_str("\r\n");
        }
        let declared = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let length = if head {
            declared.unwrap_or(0)
        } else {
            response.body().len()
        };
        if status != http::StatusCode::NO_CONTENT {
            out.push_str(&format!("Content-Length: {length}\r\n"));
        }
        if close {
            out.push_str("Connection: close\r\n");
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if !head {
            bytes.extend_from_slice(response.body());
        }
        writer.write_all(&bytes)?;
        writer.flush()?;
        if close {
            return Ok(());
        }
    }
    Ok(())
}
