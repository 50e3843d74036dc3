//! Throwaway etcd members (through the project's scripts/etcd.sh) and
//! running command-line tools with a time limit.

#![allow(dead_code)]

pub mod script;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One etcd member of the version `ETCD_VERSION` names (3.4 by default).
pub struct Member {
    pub dir: PathBuf,
    /// The first member's client URL.
    pub endpoint: String,
    /// Every member's client URL.
    pub endpoints: Vec<String>,
}

/// scripts/etcd.sh's exit status when no etcd of the wanted version is
/// installed: only then is installing one the fix.
pub const MISSING_ETCD: i32 = 3;

/// Run scripts/etcd.sh: its stdout, or why it failed (its status and
/// stderr, and, when it found no etcd, how to install one).
pub fn try_etcd_sh(args: &[&str], env: &[(&str, &str)]) -> Result<String, String> {
    let out = Command::new("bash")
        .arg(root().join("scripts/etcd.sh"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .map_err(|e| format!("cannot run bash scripts/etcd.sh: {e}"))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let hint = if out.status.code() == Some(MISSING_ETCD) {
        "\nThese tests need a real etcd 3.4/3.5: install it with `bash scripts/etcd.sh ensure` \
         (apt-get install -y etcd-server), or set ETCD_BIN."
    } else {
        ""
    };
    Err(format!(
        "scripts/etcd.sh {} failed ({}):\n{}{hint}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim_end()
    ))
}

/// Run scripts/etcd.sh; its stdout, or a panic saying why it failed.
fn etcd_sh(args: &[&str], env: &[(&str, &str)]) -> String {
    try_etcd_sh(args, env).unwrap_or_else(|why| panic!("{why}"))
}

impl Member {
    /// Start a member (serving v2 unless `v3only`).
    pub fn start(name: &str, v3only: bool) -> Member {
        let flags = if v3only { "v3only" } else { "v2" };
        Member::start_with(name, 1, &[], &[("ETCD_V2_FLAGS", flags)])
    }

    /// The state directory a cluster named `name` keeps its data in (removed
    /// when the cluster stops, or by the watchdog once this process exits).
    pub fn dir_for(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("etcd-v2-cli-{name}-{}", std::process::id()))
    }

    /// Start `members` members with `extra` flags and `env` for etcd.sh.
    pub fn start_with(name: &str, members: usize, extra: &[&str], env: &[(&str, &str)]) -> Member {
        let dir = Member::dir_for(name);
        let pid = std::process::id().to_string();
        let dir_text = dir.to_string_lossy().into_owned();
        let count = members.to_string();
        let mut args = vec!["start", &dir_text, &count, &pid];
        args.extend_from_slice(extra);
        let out = etcd_sh(&args, env);
        let endpoints: Vec<String> = out
            .lines()
            .find_map(|l| l.strip_prefix("ENDPOINTS="))
            .expect("etcd.sh prints the endpoints")
            .split(',')
            .map(str::to_string)
            .collect();
        Member {
            dir,
            endpoint: endpoints[0].clone(),
            endpoints,
        }
    }

    /// Stop member `i` (1-based) with SIGTERM.
    pub fn stop_member(&self, i: usize) {
        let dir = self.dir.to_string_lossy().into_owned();
        etcd_sh(&["kill", &dir, &i.to_string(), "TERM"], &[]);
    }

    /// Stop the member, empty its data and start it again with the same
    /// command line: the same member and cluster IDs, ports and a fresh store.
    pub fn reset(&self) {
        let dir = self.dir.to_string_lossy().into_owned();
        etcd_sh(&["kill", &dir, "1", "TERM"], &[]);
        let data = self.dir.join("m1/data");
        std::fs::remove_dir_all(&data).expect("the data dir is removed");
        std::fs::create_dir_all(&data).expect("the data dir is made");
        etcd_sh(&["restart", &dir, "1"], &[]);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !healthy(&self.endpoint) {
            assert!(
                Instant::now() < deadline,
                "the restarted member never became healthy"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let dir = self.dir.to_string_lossy().into_owned();
        let _ = Command::new("bash")
            .arg(root().join("scripts/etcd.sh"))
            .args(["stop", &dir])
            .status();
    }
}

/// `GET path` at `endpoint` on a connection of its own (closed after),
/// reading the answer for at most `wait`; the whole answer, or `None` if
/// the member could not be reached or written to.
fn get_once(endpoint: &str, path: &str, wait: Duration) -> Option<String> {
    let authority = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(authority).ok()?;
    let _ = s.set_read_timeout(Some(wait));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    Some(answer)
}

/// Whether `GET /health` answers `"health":"true"`.
pub fn healthy(endpoint: &str) -> bool {
    get_once(endpoint, "/health", Duration::from_secs(2))
        .is_some_and(|answer| answer.contains("\"health\":\"true\""))
}

/// A quorum read at `endpoint` (`GET /v2/keys/?quorum=true`), which goes
/// through raft and is answered only once an entry after every earlier one is
/// committed: a membership change sent after it cannot land while etcd's raft
/// still counts the previous change as unapplied (it would drop it, and the
/// tool would wait out etcd's 7 s to get a 500). It changes no index a tool
/// prints. Whether etcd answered 200.
pub fn raft_round(endpoint: &str) -> bool {
    get_once(endpoint, "/v2/keys/?quorum=true", Duration::from_secs(10))
        .is_some_and(|answer| answer.starts_with("HTTP/1.1 200"))
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Run {
    /// The first line of stderr.
    pub fn stderr_first_line(&self) -> &str {
        self.stderr.lines().next().unwrap_or("")
    }
}

/// Run `program args` with `env`, feeding `stdin`, for at most `limit`
/// (then it is killed, and the run says so in its exit status, -9).
pub fn run(
    program: &str,
    args: &[String],
    env: &[(&str, &str)],
    stdin: Option<&str>,
    limit: Duration,
) -> Run {
    let mut child = Command::new(program)
        .args(args)
        .env_remove("ETCDCTL_ENDPOINTS")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    if let Some(mut input) = child.stdin.take() {
        if let Some(text) = stdin {
            let _ = input.write_all(text.as_bytes());
        }
    }
    let mut out = child.stdout.take().expect("stdout is piped");
    let mut err = child.stderr.take().expect("stderr is piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let code = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break -9;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
        code,
    }
}

/// Debian's etcdctl 3.4 speaking v2, or a failure naming the install command.
pub fn etcdctl() -> String {
    let path = "etcdctl";
    let version = Command::new(path)
        .arg("--version")
        .env("ETCDCTL_API", "2")
        .output();
    match version {
        Ok(out) if String::from_utf8_lossy(&out.stdout).contains("API version: 2") => {
            path.to_string()
        }
        _ => panic!(
            "no etcdctl with the v2 API on PATH: install Debian's etcd-client 3.4 \
             (apt-get install -y etcd-client; scripts/test.sh installs it when missing)"
        ),
    }
}

/// This package's binary.
pub fn ours() -> String {
    env!("CARGO_BIN_EXE_etcd-v2").to_string()
}
