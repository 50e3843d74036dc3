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

#[test]
fn the_watchdog_stops_the_members_and_removes_keys_and_data_once_the_owner_exits() {
    let dir = support::state_dir();
    // The owner: a process that exits on its own (a test binary, here `sleep`).
    let mut owner = Command::new("sleep").arg("3").spawn().expect("spawn sleep");
    let out = Command::new("bash")
        .arg(support::script())
        .args([
            "start",
            &dir.to_string_lossy(),
            "1",
            &owner.id().to_string(),
        ])
        .output()
        .expect("run the script");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let pid: u32 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("PIDS="))
        .and_then(|p| p.parse().ok())
        .expect("PIDS=");
    // What tests/tls.rs keeps there: a CA and private keys.
    std::fs::create_dir_all(dir.join("pki")).unwrap();
    std::fs::write(dir.join("pki/ca.key"), "a private key").unwrap();
    owner.wait().expect("sleep ends");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let alive = |pid: u32| std::path::Path::new(&format!("/proc/{pid}")).exists();
    while (dir.exists() || alive(pid)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!alive(pid), "the member outlived its owner");
    assert!(
        !dir.exists(),
        "the keys and data outlived the owner: {dir:?}"
    );
}

#[test]
fn a_port_lost_before_etcd_binds_it_is_retried_on_fresh_ports() {
    let dir = support::state_dir();
    // The first attempt's client port is held by someone else (as when a port
    // is taken between the script's check and etcd's bind).
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let ports = format!(
        "{} {}",
        taken.local_addr().unwrap().port(),
        free.local_addr().unwrap().port()
    );
    drop(free);
    let out = Command::new("bash")
        .arg(support::script())
        .args(["start", &dir.to_string_lossy(), "1"])
        .env("ETCD_SH_FIRST_PORTS", &ports)
        .output()
        .expect("run the script");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stop = || {
        let _ = Command::new("bash")
            .arg(support::script())
            .args(["stop", &dir.to_string_lossy()])
            .output();
    };
    if !out.status.success() {
        stop();
        panic!("the start failed: {stderr}");
    }
    stop();
    assert!(stdout.contains("ATTEMPTS=2"), "{stdout}");
    assert!(
        stderr.contains("address already in use") && stderr.contains("retrying on fresh ports"),
        "the retry must say why: {stderr}"
    );
    drop(taken);
}
