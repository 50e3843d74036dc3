//! `lock`, `elect`, `exec-watch`, `watch --forever`, `copy` and `completion`
//! of the `etcd-v2` binary against a real etcd, with the commands (and the
//! tool itself) killed mid-run.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use support::{ours, run, Member, Run};

fn member() -> &'static Member {
    static MEMBER: OnceLock<Member> = OnceLock::new();
    MEMBER.get_or_init(|| Member::start("runners", false))
}

fn args(line: &[&str]) -> Vec<String> {
    let mut out = vec!["--endpoints".to_string(), member().endpoint.clone()];
    out.extend(line.iter().map(|s| s.to_string()));
    out
}

/// Run the tool to its end.
fn tool(line: &[&str]) -> Run {
    run(&ours(), &args(line), &[], None, Duration::from_secs(60))
}

/// A running tool whose stdout lines arrive on a channel.
struct Running {
    child: Child,
    lines: Receiver<String>,
}

impl Running {
    fn start(line: &[&str]) -> Running {
        let mut child = Command::new(ours())
            .args(args(line))
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
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                use std::os::unix::process::ExitStatusExt;
                return status.code().or(status.signal().map(|s| 128 + s));
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
    let mut holder = Running::start(first);
    let pid = holder
        .line(Duration::from_secs(20))
        .expect("the first holder runs its command");
    let waiter = Running::start(second);
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
    let r = tool(&["-o", "extended", "set", key, "start"]);
    r.stdout
        .lines()
        .find_map(|l| l.strip_prefix("Index: "))
        .and_then(|i| i.parse().ok())
        .unwrap_or_else(|| panic!("an index in {r:?}"))
}

#[test]
fn exec_watch_runs_the_command_once_per_change_in_order() {
    let start = index_after_writing("/cli-ew");
    let after = start.to_string();
    let watcher = Running::start(&[
        "exec-watch",
        "--after-index",
        &after,
        "/cli-ew",
        "--",
        "sh",
        "-c",
        "echo \"$ETCD_WATCH_ACTION $ETCD_WATCH_KEY $ETCD_WATCH_MODIFIED_INDEX $ETCD_WATCH_VALUE\"",
    ]);
    for v in ["one", "two", "three"] {
        assert_eq!(tool(&["set", "/cli-ew", v]).code, 0);
    }
    tool(&["rm", "/cli-ew"]);
    for (i, v) in ["one", "two", "three"].iter().enumerate() {
        let want = format!("set /cli-ew {} {v}", start + 1 + i as u64);
        assert_eq!(watcher.line(Duration::from_secs(10)), Some(want));
    }
    assert_eq!(
        watcher.line(Duration::from_secs(10)),
        Some(format!("delete /cli-ew {} ", start + 4))
    );
}

#[test]
fn watch_forever_prints_every_change_once_in_order() {
    let start = index_after_writing("/cli-wf").to_string();
    let watcher = Running::start(&["watch", "--forever", "--after-index", &start, "/cli-wf"]);
    let writes = 30;
    for i in 0..writes {
        assert_eq!(tool(&["set", "/cli-wf", &i.to_string()]).code, 0);
    }
    for i in 0..writes {
        assert_eq!(watcher.line(Duration::from_secs(10)), Some(i.to_string()));
    }
    assert_eq!(
        watcher.line(Duration::from_millis(300)),
        None,
        "nothing repeated"
    );
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
