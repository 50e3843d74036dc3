//! The raw baseline's exchange on tokio's sockets (for the e2e bench's raw on
//! tokio rows and the profile loop's `raw-tokio` kind): what tokio itself
//! costs, with no client. Write the request, read the answer up to its
//! Content-Length; nothing is decoded.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A connection to `authority` with Nagle's algorithm off, as raw's.
pub async fn connect(authority: &str) -> TcpStream {
    let stream = TcpStream::connect(authority).await.expect("connect");
    stream.set_nodelay(true).unwrap();
    stream
}

/// Send `request` and read its answer into `buf` (kept between calls, read
/// into its spare room: nothing zeroed or copied); returns the answer's
/// status. Content-Length bodies only (etcd's GET).
async fn exchange(stream: &mut TcpStream, request: &[u8], buf: &mut Vec<u8>) -> u16 {
    stream.write_all(request).await.unwrap();
    buf.clear();
    let mut head_end = None;
    let mut length = 0;
    loop {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        let searched = buf.len().saturating_sub(3);
        let got = stream.read_buf(buf).await.unwrap();
        assert!(got > 0, "the server closed the connection");
        if head_end.is_none() {
            if let Some(at) = buf[searched..].windows(4).position(|w| w == b"\r\n\r\n") {
                let end = searched + at;
                let head = std::str::from_utf8(&buf[..end]).unwrap();
                length = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                head_end = Some(end);
            }
        }
        if let Some(end) = head_end {
            if buf.len() >= end + 4 + length {
                return std::str::from_utf8(&buf[9..12]).unwrap().parse().unwrap();
            }
        }
    }
}

/// `n` exchanges of `request` (a GET) on `stream`, each answered 200.
pub async fn gets(stream: &mut TcpStream, request: &[u8], n: usize) {
    let mut buf = Vec::with_capacity(64 * 1024);
    for _ in 0..n {
        assert_eq!(exchange(stream, request, &mut buf).await, 200);
    }
}
