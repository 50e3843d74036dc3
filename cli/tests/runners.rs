//! `lock`, `elect`, `exec-watch`, `watch --forever`, `copy` and `completion`
//! of the `etcd-v2` binary against a real etcd, with the commands (and the
//! tool itself) killed mid-run; the same over `--bridge`, and the watches
//! side by side with etcdctl's.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::{etcdctl, ours, run, Member, Run};

fn member() -> &'static Member {
    static MEMBER: OnceLock<Member> = OnceLock::new();
    MEMBER.get_or_init(|| Member::start("runners", false))
}

/// A member that does not serve v2 at all, for `--bridge`: nothing run over
/// the bridge can quietly fall back to v2.
fn bridge_member() -> &'static Member {
    static MEMBER: OnceLock<Member> = OnceLock::new();
    MEMBER.get_or_init(|| Member::start("runners-bridge", true))
}

/// Where the bridge keeps its v2 tree in the v3 keyspace.
const BRIDGE_PREFIX: &str = "/cli-bridged";

/// Where a command runs: on the v2 member, or over `--bridge` on the member
/// without v2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum On {
    /// `--endpoints` the v2 member.
    V2,
    /// `--endpoints` the member without v2, `--bridge` [`BRIDGE_PREFIX`].
    Bridge,
}

impl On {
    /// The global flags that reach this target, then `line`.
    fn args(self, line: &[&str]) -> Vec<String> {
        let mut out = match self {
            On::V2 => vec!["--endpoints".to_string(), member().endpoint.clone()],
            On::Bridge => vec![
                "--endpoints".to_string(),
                bridge_member().endpoint.clone(),
                "--bridge".to_string(),
                BRIDGE_PREFIX.to_string(),
            ],
        };
        out.extend(line.iter().map(|s| s.to_string()));
        out
    }
}

fn args(line: &[&str]) -> Vec<String> {
    On::V2.args(line)
}

/// Run the tool to its end.
fn tool(line: &[&str]) -> Run {
    tool_on(On::V2, line)
}

/// Run the tool to its end on `on`.
fn tool_on(on: On, line: &[&str]) -> Run {
    run(&ours(), &on.args(line), &[], None, Duration::from_secs(60))
}

/// A running tool whose stdout lines arrive on a channel.
struct Running {
    child: Child,
    lines: Receiver<String>,
}

impl Running {
    fn start(line: &[&str]) -> Running {
        Running::start_on(On::V2, line)
    }

    /// Start the tool on `on`.
    fn start_on(on: On, line: &[&str]) -> Running {
        Running::start_args(&on.args(line))
    }

    /// Start the tool with these arguments.
    fn start_args(args: &[String]) -> Running {
        let mut child = Command::new(ours())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .stdin(Stdio::null())
            .spawn()
            .expect("the tool starts");
        let out = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running { child, lines }
    }

    fn line(&self, within: Duration) -> Option<String> {
        self.lines.recv_timeout(within).ok()
    }

    fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status();
    }

    fn wait(&mut self, within: Duration) -> Option<i32> {
        wait_for(&mut self.child, within)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `child`'s status once it has ended (128 + the signal that ended it), or
/// `None` if it is still running after `within`.
fn wait_for(child: &mut Child, within: Duration) -> Option<i32> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            use std::os::unix::process::ExitStatusExt;
            return status.code().or(status.signal().map(|s| 128 + s));
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn kill_pid(pid: &str) {
    let _ = Command::new("kill").args(["-KILL", pid]).status();
}

#[test]
fn lock_passes_the_commands_status_through_and_releases() {
    let r = tool(&["lock", "status-lock", "--", "sh", "-c", "exit 7"]);
    assert_eq!(r.code, 7, "{r:?}");
    let r = tool(&["lock", "--wait", "10s", "status-lock", "--", "true"]);
    assert_eq!(r.code, 0, "the lock was released: {r:?}");
    let r = tool(&["lock", "status-lock"]);
    assert_eq!(r.code, 1, "a command is required: {r:?}");
}

/// What is killed while the first holder runs its command.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kill {
    /// The command (the tool then releases at once).
    Command,
    /// The tool itself (SIGKILL; its lease then runs out).
    Tool,
}

/// Start `first` (a `lock` or `elect` whose command prints its shell's pid
/// and sleeps), then `second` (which must wait), kill what `kill` names, and
/// return what `second`'s command printed and the first tool's status (for
/// `Kill::Command`).
fn takeover(first: &[&str], second: &[&str], kill: Kill) -> (Option<String>, Option<i32>) {
    takeover_on(On::V2, first, second, kill, || {})
}

/// [`takeover`] on `on`, calling `during` while the first holds (before the
/// second starts).
fn takeover_on(
    on: On,
    first: &[&str],
    second: &[&str],
    kill: Kill,
    during: impl FnOnce(),
) -> (Option<String>, Option<i32>) {
    let mut holder = Running::start_on(on, first);
    let pid = holder
        .line(Duration::from_secs(20))
        .expect("the first holder runs its command");
    during();
    let waiter = Running::start_on(on, second);
    assert_eq!(
        waiter.line(Duration::from_millis(800)),
        None,
        "the second waits while the first holds"
    );
    if kill == Kill::Tool {
        holder.signal("-KILL");
    }
    kill_pid(&pid);
    let status = match kill {
        Kill::Command => holder.wait(Duration::from_secs(10)),
        Kill::Tool => None,
    };
    (waiter.line(Duration::from_secs(20)), status)
}

/// The first holder's command: print its pid, then hold.
const HOLD: [&str; 3] = ["sh", "-c", "echo $$; exec sleep 120"];

fn line<'a>(head: &[&'a str], command: &[&'a str]) -> Vec<&'a str> {
    head.iter().chain(command).copied().collect()
}

#[test]
fn a_killed_command_releases_the_lock_and_a_waiter_takes_over() {
    // Released at once: well before the 60 s TTL.
    let (second, status) = takeover(
        &line(&["lock", "--ttl", "60", "kill-cmd", "--"], &HOLD),
        &[
            "lock",
            "--ttl",
            "60",
            "kill-cmd",
            "--",
            "sh",
            "-c",
            "echo second",
        ],
        Kill::Command,
    );
    assert_eq!(status, Some(137), "the status of the killed command");
    assert_eq!(second.as_deref(), Some("second"));
}

#[test]
fn a_killed_tool_lets_its_lock_expire_and_a_waiter_takes_over() {
    let (second, _) = takeover(
        &line(&["lock", "--ttl", "8", "kill-tool", "--"], &HOLD),
        &[
            "lock",
            "--ttl",
            "8",
            "kill-tool",
            "--",
            "sh",
            "-c",
            "echo second",
        ],
        Kill::Tool,
    );
    assert_eq!(second.as_deref(), Some("second"));
}

#[test]
fn sigterm_stops_the_command_releases_the_lock_and_exits_143() {
    let mut first = Running::start(&[
        "lock",
        "--ttl",
        "60",
        "term-lock",
        "--",
        "sh",
        "-c",
        "echo held; exec sleep 120",
    ]);
    assert_eq!(first.line(Duration::from_secs(20)).as_deref(), Some("held"));
    let second = Running::start(&[
        "lock",
        "--ttl",
        "60",
        "term-lock",
        "--",
        "sh",
        "-c",
        "echo second",
    ]);
    assert_eq!(second.line(Duration::from_millis(500)), None);
    first.signal("-TERM");
    assert_eq!(first.wait(Duration::from_secs(10)), Some(143));
    assert_eq!(
        second.line(Duration::from_secs(10)).as_deref(),
        Some("second")
    );
}

#[test]
fn elect_runs_while_leader_and_a_contender_takes_over_when_the_command_dies() {
    let (second, status) = takeover(
        &line(&["elect", "--ttl", "60", "/cli-leader", "a", "--"], &HOLD),
        &[
            "elect",
            "--ttl",
            "60",
            "/cli-leader",
            "b",
            "--",
            "sh",
            "-c",
            "echo leading-b",
        ],
        Kill::Command,
    );
    assert_eq!(status, Some(137));
    assert_eq!(second.as_deref(), Some("leading-b"));
}

#[test]
fn elect_after_the_leaders_tool_is_killed_takes_over_once_its_ttl_ends() {
    let (second, _) = takeover(
        &line(&["elect", "--ttl", "8", "/cli-leader2", "a", "--"], &HOLD),
        &[
            "elect",
            "--ttl",
            "8",
            "/cli-leader2",
            "b",
            "--",
            "sh",
            "-c",
            "echo leading-b",
        ],
        Kill::Tool,
    );
    assert_eq!(second.as_deref(), Some("leading-b"));
}

/// The store's index now (from a write's extended output).
fn index_after_writing(key: &str) -> u64 {
    index_after_writing_on(On::V2, key)
}

/// The store's index on `on` now (from a write's extended output).
fn index_after_writing_on(on: On, key: &str) -> u64 {
    written(on, &["set", key, "start"]).1
}

/// Run the write `line` on `on` with `-o extended`; its node's modified
/// index and the store's index after it.
fn written(on: On, line: &[&str]) -> (u64, u64) {
    let mut full = vec!["-o", "extended"];
    full.extend_from_slice(line);
    let r = tool_on(on, &full);
    let field = |name: &str| {
        r.stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|i| i.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {r:?}"))
    };
    (field("Modified-Index: "), field("Index: "))
}

/// `exec-watch` on `on` runs its command once per change, in order, with
/// the change in `ETCD_WATCH_*` (the indexes the writes reported: other
/// tests write to the same store meanwhile).
fn exec_watch_runs_once_per_change_in_order(on: On, key: &str) {
    let after = index_after_writing_on(on, key).to_string();
    let watcher = Running::start_on(
        on,
        &[
            "exec-watch",
            "--after-index",
            &after,
            key,
            "--",
            "sh",
            "-c",
            "echo \"$ETCD_WATCH_ACTION $ETCD_WATCH_KEY $ETCD_WATCH_MODIFIED_INDEX $ETCD_WATCH_VALUE\"",
        ],
    );
    let mut want = Vec::new();
    for v in ["one", "two", "three"] {
        let (index, _) = written(on, &["set", key, v]);
        want.push(format!("set {key} {index} {v}"));
    }
    let (index, _) = written(on, &["rm", key]);
    want.push(format!("delete {key} {index} "));
    for w in want {
        assert_eq!(watcher.line(Duration::from_secs(20)), Some(w), "on {on:?}");
    }
}

#[test]
fn exec_watch_runs_the_command_once_per_change_in_order() {
    exec_watch_runs_once_per_change_in_order(On::V2, "/cli-ew");
}

#[test]
fn exec_watch_over_the_bridge_runs_the_command_once_per_change_in_order() {
    exec_watch_runs_once_per_change_in_order(On::Bridge, "/cli-ew");
}

/// `watch --forever` on `on` prints each of 30 changes (and a delete) once,
/// in order.
fn watch_forever_prints_each_change_once(on: On, key: &str) {
    let start = index_after_writing_on(on, key).to_string();
    let watcher = Running::start_on(on, &["watch", "--forever", "--after-index", &start, key]);
    let writes = 30;
    for i in 0..writes {
        assert_eq!(tool_on(on, &["set", key, &i.to_string()]).code, 0);
    }
    assert_eq!(tool_on(on, &["rm", key]).code, 0);
    for i in 0..writes {
        assert_eq!(
            watcher.line(Duration::from_secs(20)),
            Some(i.to_string()),
            "on {on:?}"
        );
    }
    assert_eq!(
        watcher.line(Duration::from_secs(20)),
        Some(format!("PrevNode.Value: {}", writes - 1)),
        "on {on:?}"
    );
    assert_eq!(
        watcher.line(Duration::from_millis(500)),
        None,
        "nothing repeated on {on:?}"
    );
}

#[test]
fn watch_forever_prints_every_change_once_in_order() {
    watch_forever_prints_each_change_once(On::V2, "/cli-wf");
}

#[test]
fn watch_forever_over_the_bridge_prints_every_change_once_in_order() {
    watch_forever_prints_each_change_once(On::Bridge, "/cli-wf");
}

#[test]
fn copy_moves_a_v2_tree_onto_the_bridge_and_can_run_again() {
    assert_eq!(tool(&["set", "/cli-tree/a", "1"]).code, 0);
    assert_eq!(tool(&["set", "/cli-tree/sub/b", "2"]).code, 0);
    let from = member().endpoint.clone();
    let first = tool(&[
        "--bridge",
        "/cli-copy",
        "copy",
        "--from",
        &from,
        "/cli-tree",
    ]);
    assert_eq!(first.code, 0, "{first:?}");
    assert!(
        first.stdout.starts_with("copied 2 files and 2 directories"),
        "{first:?}"
    );
    let read = tool(&["--bridge", "/cli-copy", "get", "/cli-tree/sub/b"]);
    assert_eq!(read.stdout, "2\n");
    let again = tool(&[
        "--bridge",
        "/cli-copy",
        "copy",
        "--from",
        &from,
        "/cli-tree",
    ]);
    assert!(
        again
            .stdout
            .starts_with("copied 0 files and 0 directories; 4 already there"),
        "{again:?}"
    );
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let r = run(
            &ours(),
            &["completion".to_string(), shell.to_string()],
            &[],
            None,
            Duration::from_secs(20),
        );
        assert_eq!(r.code, 0);
        assert!(
            r.stdout.contains("exec-watch"),
            "{shell}: {}",
            &r.stdout[..r.stdout.len().min(200)]
        );
    }
}

#[test]
fn bad_input_is_refused_before_anything_is_sent() {
    let r = tool(&["set", "--ttl", "99999999999", "/cli-bad", "x"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("ttl"), "{r:?}");
    assert_eq!(tool(&["get", "/cli-bad"]).code, 4, "nothing was written");
    let r = run(
        &ours(),
        &[
            "--endpoints".into(),
            "localhost:2379".into(),
            "get".into(),
            "/x".into(),
        ],
        &[],
        None,
        Duration::from_secs(20),
    );
    assert_eq!(r.code, 1);
    let r = tool(&["--discovery-srv", "example.com", "get", "/x"]);
    assert_eq!(
        r.code, 1,
        "an unsupported option is an error, never ignored: {r:?}"
    );
    let r = tool(&["--timeout", "soon", "get", "/x"]);
    assert_eq!(r.code, 1, "{r:?}");
}

#[test]
fn watch_without_an_index_ends_with_the_next_change() {
    let mut watcher = Running::start(&["watch", "/cli-plain"]);
    // The watch starts from the store's index when it is ready: write until
    // it reports a change (each write is a change it may report).
    let mut seen = None;
    for i in 0..40 {
        assert_eq!(tool(&["set", "/cli-plain", &format!("v{i}")]).code, 0);
        if let Some(line) = watcher.line(Duration::from_millis(500)) {
            seen = Some(line);
            break;
        }
    }
    let seen = seen.expect("the watch reported a change");
    assert!(seen.starts_with('v'), "{seen}");
    assert_eq!(
        watcher.wait(Duration::from_secs(10)),
        Some(0),
        "it ends after one change"
    );
}

#[test]
fn a_watched_delete_prints_the_previous_value() {
    let start = index_after_writing("/cli-del").to_string();
    assert_eq!(tool(&["rm", "/cli-del"]).code, 0);
    let r = tool(&["watch", "--after-index", &start, "/cli-del"]);
    assert_eq!(
        (r.stdout.as_str(), r.code),
        ("PrevNode.Value: start\n", 0),
        "{r:?}"
    );
    let r = tool(&["watch", "-r", "--after-index", &start, "/cli-del"]);
    assert_eq!(
        r.stdout, "[delete] /cli-del\nPrevNode.Value: start\n",
        "{r:?}"
    );
}

#[test]
fn debug_prints_requests_with_credentials_masked() {
    let r = tool(&["--debug", "-u", "someone:secretpw", "get", "/cli-debug"]);
    assert!(r.stderr.contains("cURL Command: curl -X GET"), "{r:?}");
    assert!(r.stderr.contains("-u someone:********"), "{r:?}");
    assert!(
        !r.stderr.contains("secretpw") && !r.stdout.contains("secretpw"),
        "{r:?}"
    );
}

/// Type the password on a pseudo-terminal (python3's pty module) and check
/// it is not echoed.
#[test]
fn a_prompted_password_is_not_echoed_on_a_terminal() {
    assert_eq!(tool(&["set", "/cli-pty", "value"]).code, 0);
    let program = r#"
import os, pty, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b""
deadline = time.time() + 20
while b"Password: " not in out and time.time() < deadline:
    out += os.read(fd, 1024)
os.write(fd, b"typedsecret\n")
while True:
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let mut line = vec!["-c".to_string(), program.to_string(), ours()];
    line.extend(args(&["-u", "someone", "get", "/cli-pty"]));
    let r = run("python3", &line, &[], None, Duration::from_secs(40));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.starts_with("Password: \r\nvalue"),
        "one newline after the prompt, as etcdctl: {r:?}"
    );
    assert!(r.stdout.contains("value"), "{r:?}");
    assert!(
        !r.stdout.contains("typedsecret"),
        "the password was echoed: {r:?}"
    );
}

#[test]
fn help_lists_the_differences_from_etcdctl() {
    let r = run(
        &ours(),
        &["--help".to_string()],
        &[],
        None,
        Duration::from_secs(20),
    );
    assert_eq!(r.code, 0);
    for needle in [
        "Differences from etcdctl v2",
        "exec-watch KEY -- CMD",
        "--insecure-skip-tls-verify",
        "Over --bridge",
    ] {
        assert!(r.stdout.contains(needle), "{needle}: {}", r.stdout);
    }
}

#[test]
fn an_interrupted_watch_exits_0_as_etcdctls() {
    let mut watcher = Running::start(&["watch", "--forever", "/cli-int"]);
    // Interrupt once it has started (a change it reports shows it has).
    let mut started = false;
    for i in 0..40 {
        assert_eq!(tool(&["set", "/cli-int", &i.to_string()]).code, 0);
        if watcher.line(Duration::from_millis(500)).is_some() {
            started = true;
            break;
        }
    }
    assert!(started, "the watch reported a change");
    watcher.signal("-INT");
    assert_eq!(watcher.wait(Duration::from_secs(10)), Some(0));
}

#[test]
fn a_waiter_signalled_leaves_the_queue_at_once() {
    let mut holder = Running::start(&[
        "lock",
        "--ttl",
        "60",
        "leave-queue",
        "--",
        "sh",
        "-c",
        "echo $$; exec sleep 120",
    ]);
    let pid = holder
        .line(Duration::from_secs(20))
        .expect("the holder runs its command");
    let mut waiter = Running::start(&[
        "lock",
        "--ttl",
        "60",
        "leave-queue",
        "--",
        "sh",
        "-c",
        "echo waiter",
    ]);
    assert_eq!(waiter.line(Duration::from_millis(800)), None, "it waits");
    waiter.signal("-TERM");
    assert_eq!(waiter.wait(Duration::from_secs(10)), Some(143));
    kill_pid(&pid);
    assert_eq!(holder.wait(Duration::from_secs(10)), Some(137));
    // Had the waiter's key stayed, the next contender would wait for its 60 s TTL.
    let r = tool(&[
        "lock",
        "--wait",
        "5s",
        "leave-queue",
        "--",
        "sh",
        "-c",
        "echo next",
    ]);
    assert_eq!((r.stdout.as_str(), r.code), ("next\n", 0), "{r:?}");
}

#[test]
fn a_command_that_ignores_sigterm_is_killed_on_a_second_signal_and_the_lock_released() {
    let mut holder = Running::start(&[
        "lock",
        "--ttl",
        "60",
        "stubborn",
        "--",
        "sh",
        "-c",
        "trap '' TERM; echo held; while :; do sleep 0.1; done",
    ]);
    assert_eq!(
        holder.line(Duration::from_secs(20)).as_deref(),
        Some("held")
    );
    holder.signal("-TERM");
    assert_eq!(
        holder.wait(Duration::from_millis(700)),
        None,
        "the command ignores SIGTERM; the tool waits for it"
    );
    holder.signal("-TERM");
    assert_eq!(holder.wait(Duration::from_secs(10)), Some(143));
    let r = tool(&["lock", "--wait", "5s", "stubborn", "--", "true"]);
    assert_eq!(r.code, 0, "released: {r:?}");
}

#[test]
fn exec_watch_takes_flags_after_the_key() {
    let start = index_after_writing("/cli-ewf/k");
    let after = start.to_string();
    let watcher = Running::start(&[
        "exec-watch",
        "/cli-ewf",
        "-r",
        "--after-index",
        &after,
        "--",
        "sh",
        "-c",
        "echo \"$ETCD_WATCH_KEY $ETCD_WATCH_VALUE\"",
    ]);
    assert_eq!(tool(&["set", "/cli-ewf/k", "deep"]).code, 0);
    assert_eq!(
        watcher.line(Duration::from_secs(10)).as_deref(),
        Some("/cli-ewf/k deep")
    );
}

/// A program run in the background, its stdout and stderr gathered as they
/// come.
struct Background {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// The threads gathering stdout and stderr.
    readers: Vec<JoinHandle<()>>,
}

/// Copy what `source` gives into `into` until it ends.
fn gather(mut source: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = source.read(&mut buf) {
            into.lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(&buf[..n]);
        }
    })
}

/// What was gathered so far.
fn text(of: &Mutex<Vec<u8>>) -> String {
    String::from_utf8_lossy(&of.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

impl Background {
    /// Start `program args` with `env` (and no `ETCDCTL_ENDPOINTS`).
    fn start(program: &str, args: &[String], env: &[(&str, &str)]) -> Background {
        let mut child = Command::new(program)
            .args(args)
            .env_remove("ETCDCTL_ENDPOINTS")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            gather(child.stdout.take().expect("piped"), stdout.clone()),
            gather(child.stderr.take().expect("piped"), stderr.clone()),
        ];
        Background {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    /// This tool on `on`.
    fn ours(on: On, line: &[&str]) -> Background {
        Background::start(&ours(), &on.args(line), &[])
    }

    /// Debian's etcdctl 3.4 (`ETCDCTL_API=2`) on the v2 member.
    fn etcdctl(line: &[&str]) -> Background {
        Background::start(&etcdctl(), &args(line), &[("ETCDCTL_API", "2")])
    }

    /// Its stdout so far.
    fn stdout(&self) -> String {
        text(&self.stdout)
    }

    /// How much it has printed so far, on stdout and stderr.
    fn printed(&self) -> (usize, usize) {
        let len = |m: &Mutex<Vec<u8>>| m.lock().unwrap_or_else(|e| e.into_inner()).len();
        (len(&self.stdout), len(&self.stderr))
    }

    /// Send SIGINT (Ctrl-C), wait for it to end (status -9 if it did not
    /// within 20 s and was killed), and return what it printed.
    fn interrupt(&mut self) -> Run {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let code = wait_for(&mut self.child, Duration::from_secs(20)).unwrap_or_else(|| {
            let _ = self.child.kill();
            let _ = self.child.wait();
            -9
        });
        // Commands it ran may hold its stdout a moment longer.
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        Run {
            stdout: text(&self.stdout),
            stderr: text(&self.stderr),
            code,
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a watcher of a scenario watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// The scenario's one key (`DIR/a`).
    Key,
    /// Its whole directory, recursively.
    Dir,
}

/// One step of a watched scenario: a write (`None`: a change the store
/// makes by itself, a TTL running out), and whether a watcher of the key,
/// and one of the directory, prints something for it.
struct Step {
    /// The write, as this tool's command line.
    write: Option<Vec<String>>,
    /// Whether a watcher of the key is told of it.
    to_key: bool,
    /// Whether a watcher of the directory is told of it.
    to_dir: bool,
}

/// Changes of every kind under `dir`: set, set again, update,
/// compare-and-swap, a directory made (which watchers skip), a file in it,
/// compare-and-delete, create, delete, and a TTL running out.
fn scenario(dir: &str) -> Vec<Step> {
    let a = format!("{dir}/a");
    let step = |line: &[&str], to_key, to_dir| Step {
        write: Some(line.iter().map(|s| s.to_string()).collect()),
        to_key,
        to_dir,
    };
    vec![
        step(&["set", &a, "val-1"], true, true),
        step(&["set", &a, "val-2"], true, true),
        step(&["update", &a, "val-3"], true, true),
        step(
            &["set", "--swap-with-value", "val-3", &a, "val-4"],
            true,
            true,
        ),
        step(&["mkdir", &format!("{dir}/sub")], false, false),
        step(&["set", &format!("{dir}/sub/b"), "val-5"], false, true),
        step(&["rm", "--with-value", "val-4", &a], true, true),
        step(&["mk", &a, "val-6"], true, true),
        step(&["rm", &a], true, true),
        step(&["set", "--ttl", "2", &a, "val-7"], true, true),
        Step {
            write: None,
            to_key: true,
            to_dir: true,
        },
    ]
}

/// How a watcher's output counts the changes it reported.
#[derive(Clone, Copy, Debug)]
enum Form {
    /// A line each (`watch KEY` simple or json).
    Lines,
    /// An `[action] key` line each (`watch -r`).
    Recursive,
    /// A command run each, printing its `ETCD_WATCH_*` variables.
    Commands,
}

impl Form {
    /// How many changes `out` reports.
    fn count(self, out: &str) -> usize {
        match self {
            Form::Lines => out.matches('\n').count(),
            Form::Recursive => out.lines().filter(|l| l.starts_with('[')).count(),
            Form::Commands => out.matches("ETCD_WATCH_ACTION=").count(),
        }
    }
}

/// A watching command run through a scenario: what it watches and how its
/// output counts changes (`None`: nothing it prints is waited for).
struct Watcher {
    /// What it watches and how its output counts changes.
    told: Option<(Scope, Form)>,
    /// The running command.
    process: Background,
}

/// Play [`scenario`]`(dir)` on each of `targets` (writing with this tool),
/// one step at a time: after each, wait until every watcher told of it has
/// reported it (counted: a TTL may run out early, during the wait after the
/// write before it), then until nothing is printed for 500 ms (so that
/// etcdctl's exec-watch, which runs its commands concurrently, has finished
/// one before the next change). A watcher that has not reported a change
/// within 60 s fails the test.
fn play(targets: &[On], dir: &str, watchers: &[&Watcher]) {
    let mut reported = vec![0; watchers.len()];
    for step in scenario(dir) {
        if let Some(line) = &step.write {
            let line: Vec<&str> = line.iter().map(String::as_str).collect();
            for on in targets {
                let r = tool_on(*on, &line);
                assert_eq!(r.code, 0, "{line:?} on {on:?}: {r:?}");
            }
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        for (w, reported) in watchers.iter().zip(&mut reported) {
            let Some((scope, form)) = w.told else {
                continue;
            };
            let told = match scope {
                Scope::Key => step.to_key,
                Scope::Dir => step.to_dir,
            };
            if !told {
                continue;
            }
            *reported += 1;
            while form.count(&w.process.stdout()) < *reported {
                assert!(
                    Instant::now() < deadline,
                    "{:?} not reported within 60 s; so far: {:?}",
                    step.write,
                    w.process.stdout()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        settle(watchers);
    }
}

/// Wait until no watcher has printed anything for 500 ms (at most 20 s).
fn settle(watchers: &[&Watcher]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen: Vec<(usize, usize)> = watchers.iter().map(|w| w.process.printed()).collect();
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_millis(500) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        let now: Vec<(usize, usize)> = watchers.iter().map(|w| w.process.printed()).collect();
        if now != seen {
            seen = now;
            quiet_since = Instant::now();
        }
    }
}

/// Watch `--after-index START` (so that neither misses a change made before
/// it was ready) with etcdctl and with this tool, side by side.
fn watch_pair(line: &[&str], start: &str, told: (Scope, Form)) -> (Watcher, Watcher) {
    let mut full: Vec<&str> = Vec::new();
    for (i, word) in line.iter().enumerate() {
        full.push(word);
        if *word == "watch" || *word == "exec-watch" {
            full.extend(["--after-index", start]);
            full.extend_from_slice(&line[i + 1..]);
            break;
        }
    }
    (
        Watcher {
            told: Some(told),
            process: Background::etcdctl(&full),
        },
        Watcher {
            told: Some(told),
            process: Background::ours(On::V2, &full),
        },
    )
}

/// `out` with each extended output's `Index: N` line (etcd's index when the
/// long poll that got the change reached it: a matter of timing, since other
/// tests write to the same store meanwhile) as `Index: _`.
fn without_poll_indexes(out: &str) -> String {
    out.split_inclusive('\n')
        .map(|l| match l.strip_prefix("Index: ") {
            Some(rest) if rest.ends_with('\n') => "Index: _\n",
            Some(_) => "Index: _",
            None => l,
        })
        .collect()
}

/// Interrupt etcdctl's and this tool's watchers and check they printed the
/// same and ended alike; what etcdctl printed.
fn same_as_etcdctl(label: &str, pair: &mut (Watcher, Watcher)) -> String {
    let theirs = pair.0.process.interrupt();
    let ours = pair.1.process.interrupt();
    assert!(
        !theirs.stdout.is_empty(),
        "{label}: etcdctl printed nothing"
    );
    assert_eq!(
        without_poll_indexes(&ours.stdout),
        without_poll_indexes(&theirs.stdout),
        "{label}: stdout"
    );
    assert_eq!(ours.stderr, theirs.stderr, "{label}: stderr");
    assert_eq!(ours.code, theirs.code, "{label}: status after SIGINT");
    theirs.stdout
}

#[test]
fn watch_forever_prints_what_etcdctl_prints() {
    let dir = "/cli-vs-watch";
    let start = index_after_writing(&format!("{dir}-start")).to_string();
    let key = format!("{dir}/a");
    let mut pairs = [
        (
            "watch --forever KEY",
            watch_pair(
                &["watch", "--forever", &key],
                &start,
                (Scope::Key, Form::Lines),
            ),
        ),
        (
            "watch --forever -r DIR",
            watch_pair(
                &["watch", "--forever", "-r", dir],
                &start,
                (Scope::Dir, Form::Recursive),
            ),
        ),
        (
            "-o extended watch --forever -r DIR",
            watch_pair(
                &["-o", "extended", "watch", "--forever", "-r", dir],
                &start,
                (Scope::Dir, Form::Recursive),
            ),
        ),
        (
            "-o json watch --forever KEY",
            watch_pair(
                &["-o", "json", "watch", "--forever", &key],
                &start,
                (Scope::Key, Form::Lines),
            ),
        ),
    ];
    let watchers: Vec<&Watcher> = pairs.iter().flat_map(|(_, p)| [&p.0, &p.1]).collect();
    play(&[On::V2], dir, &watchers);
    for (label, pair) in &mut pairs {
        let printed = same_as_etcdctl(label, pair);
        assert!(printed.contains("val-7"), "{label}: {printed}");
    }
}

/// The command exec-watch runs in these tests: the `ETCD_WATCH_*`
/// variables it was given, sorted.
const SHOW_ENV: &str = "env | grep ^ETCD_WATCH_ | sort";

#[test]
fn exec_watch_gives_commands_what_etcdctl_gives_them() {
    let dir = "/cli-vs-exec";
    let start = index_after_writing(&format!("{dir}-start")).to_string();
    let key = format!("{dir}/a");
    // etcdctl 3.4 runs `exec-watch KEY -- CMD` only when KEY follows a flag
    // taking no value (urfave/cli then takes KEY for the flag's value and
    // leaves `--` in place), as here.
    let mut recursive = watch_pair(
        &["exec-watch", "--recursive", dir, "--", "sh", "-c", SHOW_ENV],
        &start,
        (Scope::Dir, Form::Commands),
    );
    // Its other form: the key last.
    let mut key_last = watch_pair(
        &["exec-watch", "sh", "-c", SHOW_ENV, &key],
        &start,
        (Scope::Key, Form::Commands),
    );
    // `KEY -- CMD` after a flag with a value (or none): etcdctl 3.4 watches
    // its last argument as the key and never runs the command (a listed
    // difference); this tool runs it as etcdctl runs the key-last form.
    let separated = [
        "exec-watch",
        "--after-index",
        &start,
        &key,
        "--",
        "sh",
        "-c",
        SHOW_ENV,
    ];
    let mut theirs_separated = Watcher {
        told: None,
        process: Background::etcdctl(&separated),
    };
    let mut ours_separated = Watcher {
        told: Some((Scope::Key, Form::Commands)),
        process: Background::ours(On::V2, &separated),
    };
    play(
        &[On::V2],
        dir,
        &[
            &recursive.0,
            &recursive.1,
            &key_last.0,
            &key_last.1,
            &theirs_separated,
            &ours_separated,
        ],
    );
    let printed = same_as_etcdctl("exec-watch --recursive DIR -- CMD", &mut recursive);
    assert!(
        printed.contains("ETCD_WATCH_KEY=/cli-vs-exec/sub/b\n"),
        "{printed}"
    );
    let printed = same_as_etcdctl("exec-watch CMD KEY", &mut key_last);
    for want in [
        "ETCD_WATCH_ACTION=compareAndSwap\n",
        "ETCD_WATCH_ACTION=expire\n",
        "ETCD_WATCH_MODIFIED_INDEX=",
        "ETCD_WATCH_VALUE=val-7\n",
    ] {
        assert!(printed.contains(want), "{want}: {printed}");
    }
    let theirs = theirs_separated.process.interrupt();
    assert_eq!(theirs.stdout, "", "etcdctl ran the command: {theirs:?}");
    let ours = ours_separated.process.interrupt();
    assert_eq!(
        (ours.stdout.as_str(), ours.code),
        (printed.as_str(), 0),
        "{ours:?}"
    );
}

/// This tool's watch (`line`, from after each store's index) on v2 and over
/// the bridge, side by side.
fn v2_and_bridge(line: &[&str], starts: &[String; 2], told: (Scope, Form)) -> [Watcher; 2] {
    [On::V2, On::Bridge].map(|on| {
        let start = &starts[usize::from(on == On::Bridge)];
        let mut full = vec![line[0], "--after-index", start];
        full.extend_from_slice(&line[1..]);
        Watcher {
            told: Some(told),
            process: Background::ours(on, &full),
        }
    })
}

#[test]
fn watches_over_the_bridge_print_what_they_print_on_v2() {
    let dir = "/cli-bridge-watch";
    let key = format!("{dir}/a");
    let starts = [On::V2, On::Bridge]
        .map(|on| index_after_writing_on(on, &format!("{dir}-start")).to_string());
    // The v3 revisions the bridge gives as indexes differ from v2's: compare
    // the commands' environments with the index's digits left out.
    let env = "env | grep ^ETCD_WATCH_ | sed 's/^ETCD_WATCH_MODIFIED_INDEX=[0-9][0-9]*$/ETCD_WATCH_MODIFIED_INDEX=N/' | sort";
    let mut sets = [
        (
            "watch --forever KEY",
            v2_and_bridge(
                &["watch", "--forever", &key],
                &starts,
                (Scope::Key, Form::Lines),
            ),
        ),
        (
            "watch --forever -r DIR",
            v2_and_bridge(
                &["watch", "--forever", "-r", dir],
                &starts,
                (Scope::Dir, Form::Recursive),
            ),
        ),
        (
            "exec-watch -r DIR -- CMD",
            v2_and_bridge(
                &["exec-watch", "-r", dir, "--", "sh", "-c", env],
                &starts,
                (Scope::Dir, Form::Commands),
            ),
        ),
    ];
    let watchers: Vec<&Watcher> = sets.iter().flat_map(|(_, [a, b])| [a, b]).collect();
    play(&[On::V2, On::Bridge], dir, &watchers);
    for (label, [v2, bridge]) in &mut sets {
        let v2 = v2.process.interrupt();
        let bridge = bridge.process.interrupt();
        assert!(v2.stdout.contains("val-7"), "{label}: {v2:?}");
        assert_eq!(bridge.stdout, v2.stdout, "{label}: stdout");
        assert_eq!(bridge.code, v2.code, "{label}: status after SIGINT");
        assert_eq!(bridge.code, 0, "{label}");
    }
}

#[test]
fn lock_over_the_bridge_passes_the_status_through_releases_and_hands_over() {
    let r = tool_on(
        On::Bridge,
        &["lock", "status-lock", "--", "sh", "-c", "exit 7"],
    );
    assert_eq!(r.code, 7, "{r:?}");
    let r = tool_on(
        On::Bridge,
        &["lock", "--wait", "10s", "status-lock", "--", "true"],
    );
    assert_eq!(r.code, 0, "the lock was released: {r:?}");
    let second = ["sh", "-c", "echo second"];
    let (got, status) = takeover_on(
        On::Bridge,
        &line(&["lock", "--ttl", "60", "bridge-kill-cmd", "--"], &HOLD),
        &line(&["lock", "--ttl", "60", "bridge-kill-cmd", "--"], &second),
        Kill::Command,
        || {},
    );
    assert_eq!(status, Some(137), "the status of the killed command");
    assert_eq!(got.as_deref(), Some("second"), "taken over at once");
    let (got, _) = takeover_on(
        On::Bridge,
        &line(&["lock", "--ttl", "8", "bridge-kill-tool", "--"], &HOLD),
        &line(&["lock", "--ttl", "8", "bridge-kill-tool", "--"], &second),
        Kill::Tool,
        || {},
    );
    assert_eq!(
        got.as_deref(),
        Some("second"),
        "taken over once the TTL ran out"
    );
}

#[test]
fn elect_over_the_bridge_runs_while_leader_and_a_contender_takes_over() {
    let key = "/cli-bridge-leader";
    // The contender's command reads the leader's key: its own value.
    let read_leader = On::Bridge.args(&["get", key]);
    let ours = ours();
    let mut second = vec!["elect", "--ttl", "60", key, "b", "--", ours.as_str()];
    second.extend(read_leader.iter().map(String::as_str));
    let (got, status) = takeover_on(
        On::Bridge,
        &line(&["elect", "--ttl", "60", key, "a", "--"], &HOLD),
        &second,
        Kill::Command,
        || {
            let r = tool_on(On::Bridge, &["get", key]);
            assert_eq!(
                r.stdout, "a\n",
                "the first leads while its command runs: {r:?}"
            );
        },
    );
    assert_eq!(status, Some(137));
    assert_eq!(
        got.as_deref(),
        Some("b"),
        "the second leads while its command runs"
    );
    // A leader whose command ends resigns: the next one is elected at once,
    // not after the 60 s TTL.
    let key = "/cli-bridge-leader2";
    let r = tool_on(
        On::Bridge,
        &["elect", "--ttl", "60", key, "c", "--", "true"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let r = tool_on(On::Bridge, &["get", key]);
    assert_eq!(r.code, 4, "resigned when its command ended: {r:?}");
    let mut next = vec!["elect", "--ttl", "60", key, "d", "--", ours.as_str()];
    let read_leader = On::Bridge.args(&["get", key]);
    next.extend(read_leader.iter().map(String::as_str));
    let r = tool_on(On::Bridge, &next);
    assert_eq!((r.stdout.as_str(), r.code), ("d\n", 0), "{r:?}");
}

/// Run `copy` into `prefix` on the bridge with stderr on a pseudo-terminal
/// (python3's pty module; stdout stays a pipe): stdout, what reached the
/// terminal, and the status.
fn copy_on_a_terminal(prefix: &str, path: &str) -> (String, String, i64) {
    let program = r#"
import json, os, pty, subprocess, sys
master, slave = pty.openpty()
child = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=slave)
os.close(slave)
terminal = b""
while True:
    try:
        chunk = os.read(master, 4096)
    except OSError:
        break
    if not chunk:
        break
    terminal += chunk
out = child.stdout.read()
json.dump({"stdout": out.decode(), "terminal": terminal.decode(),
           "code": child.wait()}, sys.stdout)
"#;
    let from = member().endpoint.clone();
    let mut line = vec!["-c".to_string(), program.to_string(), ours()];
    line.extend(args(&["--bridge", prefix, "copy", "--from", &from, path]));
    let r = run("python3", &line, &[], None, Duration::from_secs(120));
    assert_eq!(r.code, 0, "{r:?}");
    let answer: serde_json::Value = serde_json::from_str(&r.stdout).expect("python3's JSON");
    let field = |name: &str| answer[name].as_str().unwrap_or_default().to_string();
    (
        field("stdout"),
        field("terminal"),
        answer["code"].as_i64().unwrap_or(-1),
    )
}

#[test]
fn copy_draws_a_progress_bar_on_a_terminal_only() {
    let path = "/cli-progress";
    let client = etcd_v2::Client::builder()
        .endpoint(member().endpoint.clone())
        .build()
        .expect("a client");
    let files = 130;
    for i in 0..files {
        client
            .node()
            .set(&format!("{path}/k{i:03}"), "v", None)
            .expect("a write");
    }
    let total = files + 1; // and the directory
    let summary = format!(
        "copied {files} files and 1 directories; 0 already there, 0 expired before copying\n"
    );
    let (stdout, terminal, code) = copy_on_a_terminal("/cli-progress-tty", path);
    assert_eq!((stdout.as_str(), code), (summary.as_str(), 0));
    // A frame every 64 nodes and at the end, each drawn over the last; the
    // terminal turns the final newline into CR LF.
    let frame = |done: usize| {
        let filled = 30 * done / total;
        format!(
            "\r[{}{}] {done}/{total}",
            "#".repeat(filled),
            " ".repeat(30 - filled)
        )
    };
    assert_eq!(
        terminal,
        format!("{}{}{}\r\n", frame(64), frame(128), frame(total)),
        "the progress bar"
    );
    let r = tool(&[
        "--bridge",
        "/cli-progress-pipe",
        "copy",
        "--from",
        &member().endpoint,
        path,
    ]);
    assert_eq!((r.stdout.as_str(), r.code), (summary.as_str(), 0), "{r:?}");
    assert_eq!(r.stderr, "", "no progress bar without a terminal");
}

#[test]
fn etcd_sh_failures_suggest_installing_etcd_only_when_it_is_missing() {
    let missing = support::try_etcd_sh(&["version"], &[("ETCD_BIN", "/nonexistent/etcd")])
        .expect_err("no etcd there");
    assert!(missing.contains("exit status: 3"), "{missing}");
    assert!(
        missing.contains("These tests need a real etcd"),
        "{missing}"
    );
    let other = support::try_etcd_sh(&["kill", "/nonexistent/etcd-state", "1"], &[])
        .expect_err("no such member");
    assert!(
        other.contains("etcd.sh: no member 1 in /nonexistent/etcd-state"),
        "{other}"
    );
    assert!(
        !other.contains("These tests need"),
        "no install hint: {other}"
    );
}

#[test]
fn a_closed_stdout_ends_the_tool_quietly_as_sigpipe_ends_etcdctl() {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::process::ExitStatusExt;
    // A pipe whose reader has gone before the tool writes a word.
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors were just made by pipe(2) and are owned here.
    let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(reader);
    let out = Command::new(ours())
        .args([
            "--no-sync",
            "--endpoints",
            "http://127.0.0.1:1",
            "cluster-health",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{:?} {stderr}",
        out.status
    );
}

#[test]
fn exec_watch_with_a_command_that_cannot_start_ends_with_gos_error_and_status_1() {
    // A change after the index given, so the command is started at once.
    let (modified, _) = written(On::V2, &["set", "/cli-ewx", "v"]);
    let after = (modified - 1).to_string();
    let r = tool(&[
        "exec-watch",
        "--after-index",
        &after,
        "/cli-ewx",
        "--",
        "no-such-program-here",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(
        r.stderr.lines().next(),
        Some(r#"exec: "no-such-program-here": executable file not found in $PATH"#),
        "{r:?}"
    );
}

#[test]
fn cluster_health_forever_checks_the_members_it_listed_once_when_one_stops() {
    // etcdctl lists the members once, then checks their health every 10 s:
    // the member it listed them through stopping is a degraded round, not
    // the end.
    let cluster = Member::start_with("health-f", 3, &[], &[]);
    let args: Vec<String> = ["--endpoints", &cluster.endpoints[0], "cluster-health", "-f"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let running = Running::start_args(&args);
    let round = |running: &Running| -> Vec<String> {
        let mut lines = Vec::new();
        while let Some(line) = running.line(Duration::from_secs(40)) {
            let last = line.starts_with("cluster is");
            lines.push(line);
            if last {
                break;
            }
        }
        lines
    };
    let first = round(&running);
    assert_eq!(
        first.last().map(String::as_str),
        Some("cluster is healthy"),
        "{first:?}"
    );
    cluster.stop_member(1);
    let second = round(&running);
    assert_eq!(
        second.last().map(String::as_str),
        Some("cluster is degraded"),
        "{second:?}"
    );
}
