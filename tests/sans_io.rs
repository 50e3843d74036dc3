//! The core under `src/` stays sans-IO: no sockets, files, threads, clocks or
//! HTTP stacks. Those belong to `transports/` (and the OS defaults in
//! `transports/system.rs`). This test reads the sources, so a change that slips
//! one in fails here rather than in review.

use std::path::{Path, PathBuf};

/// What the core must not name, outside comments.
const FORBIDDEN: &[&str] = &[
    "std::net",
    "TcpStream",
    "UdpSocket",
    "std::fs",
    "File::open",
    "File::create",
    "std::thread",
    "thread::spawn",
    "thread::sleep",
    "Instant::now",
    "SystemTime::now",
    "std::process",
    "std::env",
    "ureq::",
    "reqwest::",
    "tokio::",
    "hyper::",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The forbidden names in `source`, with their line numbers; comment lines and
/// trailing `//` comments are ignored.
fn violations(source: &str) -> Vec<(usize, &'static str)> {
    let mut found = Vec::new();
    for (n, line) in source.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") || code.starts_with('*') {
            continue;
        }
        let code = code.split(" //").next().unwrap_or(code);
        for name in FORBIDDEN {
            if code.contains(name) {
                found.push((n + 1, *name));
            }
        }
    }
    found
}

#[test]
fn the_core_names_no_socket_file_thread_clock_or_http_stack() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(
        files.len() > 20,
        "expected the core's sources under {}",
        src.display()
    );
    let mut report = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).expect("read a source file");
        for (line, name) in violations(&source) {
            report.push(format!("{}:{line}: {name}", file.display()));
        }
    }
    assert!(
        report.is_empty(),
        "I/O in the sans-IO core:\n{}",
        report.join("\n")
    );
}

#[test]
fn the_scan_sees_code_and_skips_comments() {
    let found = violations(
        "// std::net in a comment\n/// Instant::now in a doc\nlet s = std::net::TcpStream::connect(a); // x\nlet t = Instant::now();\n",
    );
    assert_eq!(
        found,
        vec![(3, "std::net"), (3, "TcpStream"), (4, "Instant::now")]
    );
}
