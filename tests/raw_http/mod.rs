//! Raw HTTP/1.1 for the scripted servers of the transport tests.

use std::io::BufRead;

/// Read one request (its head, skipping blank lines before it, and its
/// Content-Length body) from `reader`; false at the end of the stream.
pub fn read_request(reader: &mut impl BufRead) -> bool {
    let mut length = 0;
    let mut first = true;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return false;
        }
        if first && line.trim().is_empty() {
            continue;
        }
        first = false;
        let l = line.trim_end().to_ascii_lowercase();
        if l.is_empty() {
            break;
        }
        if let Some(v) = l.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).is_ok()
}
