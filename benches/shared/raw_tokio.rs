//! The raw baseline's exchange on tokio's sockets (for the e2e bench's
//! 16-task rows and the profile loop's `raw-tokio` kind): what tokio itself
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

/// Send `request` and read its answer into `buf` (kept between calls);
/// returns the answer's status. Content-Length bodies only (etcd's GET).
pub async fn exchange(stream: &mut TcpStream, request: &[u8], buf: &mut Vec<u8>) -> u16 {
    stream.write_all(request).await.unwrap();
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let got = stream.read(&mut chunk).await.unwrap();
        assert!(got > 0, "the server closed the connection");
        buf.extend_from_slice(&chunk[..got]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = std::str::from_utf8(&buf[..end]).unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().unwrap())
            })
            .unwrap_or(0);
        if buf.len() >= end + 4 + length {
            return head[9..12].parse().unwrap();
        }
    }
}
