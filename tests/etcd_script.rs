//! The throwaway-etcd script itself (`scripts/etcd.sh`), which every integration
//! test, the demo and CI start members with: it must start clusters on the first
//! attempt on a busy machine, and when a start does fail, say why and clean up.

mod support;

use std::net::{TcpListener, TcpStream};
use std::process::Command;

use support::Etcd;

/// Leave `n` loopback client sockets in TIME-WAIT (the side that closes first
/// keeps one, on an ephemeral port), as a busy machine or a previous test run
/// does.
fn time_wait_load(n: usize) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let addr = listener.local_addr().expect("address");
    for _ in 0..n {
        let client = TcpStream::connect(addr).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        drop(client);
        drop(server);
    }
}

#[test]
fn three_member_clusters_start_at_the_first_attempt_under_time_wait_load() {
    time_wait_load(8000);
    for _ in 0..2 {
        let cluster = Etcd::start(3);
        assert_eq!(cluster.endpoints().len(), 3);
        assert_eq!(
            cluster.attempts(),
            1,
            "a port chosen for a member was not free: the script must choose outside the \
             ephemeral range and check ports by binding them"
        );
    }
}

#[test]
fn a_failed_start_names_the_real_cause_and_removes_its_state() {
    let dir = support::state_dir();
    let out = Command::new("bash")
        .arg(support::script())
        .args(["start", &dir.to_string_lossy(), "1", "", "--no-such-flag"])
        .output()
        .expect("run the script");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_ne!(out.status.code(), Some(3), "etcd is installed: {stderr}");
    assert!(
        stderr.contains("no-such-flag"),
        "the error must show etcd's own complaint: {stderr}"
    );
    assert!(
        !stderr.contains("apt-get") && !stderr.contains("install"),
        "etcd is installed, so installing it is not the fix: {stderr}"
    );
    assert!(
        !dir.exists(),
        "a failed start must remove its data dirs: {dir:?} is still there"
    );
}

#[test]
fn a_missing_etcd_is_reported_with_the_install_command() {
    let out = Command::new("bash")
        .arg(support::script())
        .arg("find")
        .env("ETCD_BIN", "/nonexistent/etcd")
        .output()
        .expect("run the script");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("install"), "{stderr}");
}
