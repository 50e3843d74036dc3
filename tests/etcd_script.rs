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

/// The kernel's ephemeral port range (where client sockets take their port).
fn ephemeral_range() -> (u16, u16) {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .expect("/proc/sys/net/ipv4/ip_local_port_range");
    let mut bounds = text.split_whitespace().map(|n| n.parse().expect("a port"));
    (
        bounds.next().expect("low bound"),
        bounds.next().expect("high bound"),
    )
}

/// Every port a started member listens on (client and peer), from its
/// recorded command line.
fn member_ports(cluster: &Etcd, members: usize) -> Vec<u16> {
    let mut ports = Vec::new();
    for i in 1..=members {
        let cmd = std::fs::read_to_string(cluster.dir().join(format!("m{i}/cmd")))
            .expect("the member's command line");
        let mut lines = cmd.lines();
        while let Some(line) = lines.next() {
            if line == "--listen-client-urls" || line == "--listen-peer-urls" {
                let url = lines.next().expect("a URL after the flag");
                let port = url.rsplit(':').next().expect("a port");
                ports.push(port.parse().expect("a numeric port"));
            }
        }
    }
    ports
}

fn script_says(args: &[&str]) -> (bool, String) {
    let out = Command::new("bash")
        .arg(support::script())
        .args(args)
        .output()
        .expect("run the script");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn three_member_clusters_start_at_the_first_attempt_under_time_wait_load() {
    time_wait_load(8000);
    let (lo, hi) = ephemeral_range();
    for _ in 0..2 {
        let cluster = Etcd::start(3);
        assert_eq!(cluster.endpoints().len(), 3);
        assert_eq!(
            cluster.attempts(),
            1,
            "a port chosen for a member was not free: the script must choose outside the \
             ephemeral range and check ports by binding them"
        );
        let ports = member_ports(&cluster, 3);
        assert_eq!(ports.len(), 6, "{ports:?}");
        for port in ports {
            assert!(
                !(lo..=hi).contains(&port),
                "port {port} is in the ephemeral range {lo}-{hi}, where client sockets sit"
            );
        }
    }
}

#[test]
fn the_port_range_is_outside_the_ephemeral_range() {
    let (lo, hi) = ephemeral_range();
    let (ok, range) = script_says(&["port-range"]);
    assert!(ok, "{range}");
    let bounds: Vec<u32> = range
        .split_whitespace()
        .map(|n| n.parse().expect("a port"))
        .collect();
    assert_eq!(bounds.len(), 2, "{range}");
    assert!(bounds[0] <= bounds[1] && bounds[1] <= 65535, "{range}");
    assert!(
        bounds[1] < u32::from(lo) || bounds[0] > u32::from(hi),
        "{range} overlaps the ephemeral range {lo}-{hi}"
    );
}

#[test]
fn ports_are_checked_by_binding_them_not_by_connecting() {
    // A client socket's own port: nothing listens there, so a connection is
    // refused (a connect check would call it free), but etcd could not bind it.
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let client = TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
    let held = client.local_addr().expect("client address").port();
    assert!(
        TcpStream::connect(("127.0.0.1", held)).is_err(),
        "nothing listens on a client socket's port"
    );
    let (free, _) = script_says(&["ports-free", &held.to_string()]);
    assert!(
        !free,
        "port {held} is held by a client socket, yet was called free"
    );

    // A listening port is not free either; a released one is. It is taken
    // from the script's range, outside the ephemeral range, where no client
    // socket (such as the TIME-WAIT test's, running meanwhile) can take it.
    let listening = listener.local_addr().expect("address").port();
    let (free, _) = script_says(&["ports-free", &listening.to_string()]);
    assert!(
        !free,
        "port {listening} has a listener, yet was called free"
    );
    let (ok, range) = script_says(&["port-range"]);
    assert!(ok, "{range}");
    let bounds: Vec<u16> = range
        .split_whitespace()
        .map(|n| n.parse().expect("a port"))
        .collect();
    let released = (bounds[0]..=bounds[1])
        .rev()
        .step_by(97)
        .find(|port| TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .expect("a port the script's range has free");
    let (free, _) = script_says(&["ports-free", &released.to_string()]);
    assert!(free, "port {released} was released, yet was called taken");
    drop(client);
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
