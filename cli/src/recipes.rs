//! Beyond etcdctl: `lock NAME -- CMD...`, `elect KEY VALUE -- CMD...` and
//! `copy PATH`.

use std::io::{IsTerminal, Write};
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::{Duration, Instant};

use etcd_v2::bridge::copy::CopySpec;
use etcd_v2::client::{LeaderEvent, Lock};

use crate::connect::Cli;
use crate::failure::{Fail, BAD_ARGS, OK};
use crate::terminal;

/// How often the running command, the lease and signals are looked at.
const TICK: Duration = Duration::from_millis(50);

fn spawn(command: &[String]) -> Result<Child, Fail> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| Fail::error(BAD_ARGS, "a command to run is required after --"))?;
    Command::new(program)
        .args(args)
        .spawn()
        .map_err(|e| Fail::error(BAD_ARGS, format!("could not run {program}: {e}")))
}

/// The shell's exit status for a finished command (128 + the signal that
/// killed it).
fn status_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// A command to run must follow `--`.
fn required(command: &[String]) -> Result<(), Fail> {
    if command.is_empty() {
        return Err(Fail::error(
            BAD_ARGS,
            "a command to run is required after --",
        ));
    }
    Ok(())
}

/// The tool's status for how the command ended: its own status, 128 + the
/// signal passed on, or (the lease lost) status 1 with `lost`'s message.
fn outcome(ended: Ended, lost: impl FnOnce() -> String) -> Result<i32, Fail> {
    match ended {
        Ended::Exited(code) => Ok(code),
        Ended::Signalled(signal) => Ok(128 + signal),
        Ended::Lost => Err(Fail::error(BAD_ARGS, lost())),
    }
}

/// How a supervised command ended.
enum Ended {
    /// It exited by itself with this status.
    Exited(i32),
    /// This tool was signalled; the signal was passed on and the command ended.
    Signalled(i32),
    /// The lease was lost; the command was stopped (SIGTERM).
    Lost,
}

/// How long a command has to end after SIGTERM (or the signal passed on)
/// before it is killed: it must not go on running without the lock.
const GRACE: Duration = Duration::from_secs(10);

/// Wait for `child` to end after it was asked to stop: SIGKILL after
/// [`GRACE`], or at once on another signal to this tool.
fn stop(child: &mut Child) {
    let signals = terminal::count();
    let deadline = Instant::now() + GRACE;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return,
            Ok(None) if Instant::now() < deadline && terminal::count() == signals => {
                std::thread::sleep(TICK)
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
        }
    }
}

/// Wait for `child`, passing on signals (a terminal's Ctrl-C reached it
/// already), and stopping it if `lost()` says the lease is gone.
fn supervise(mut child: Child, lost: impl Fn() -> bool) -> Ended {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ended::Exited(status_code(status)),
            Ok(None) => {}
            Err(_) => {
                stop(&mut child);
                return Ended::Exited(1);
            }
        }
        if let Some(signal) = terminal::received() {
            if !terminal::from_terminal() {
                terminal::kill(child.id(), signal);
            }
            stop(&mut child);
            return Ended::Signalled(signal);
        }
        if lost() {
            terminal::kill(child.id(), libc::SIGTERM);
            stop(&mut child);
            return Ended::Lost;
        }
        std::thread::sleep(TICK);
    }
}

/// Take the lock, waiting at most `wait`; a signal meanwhile withdraws this
/// contender's key from the queue (so that nobody waits for its TTL) and
/// ends the tool with 128 + the signal.
fn acquire(client: &Cli, name: &str, ttl: u64, wait: Option<Duration>) -> Result<Lock<Cli>, i32> {
    let mut lock = client.module().lock().get_lock(name, ttl);
    let id = lock.id().to_string();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let acquired = match wait {
            Some(d) => lock.acquire_timeout(d),
            None => lock.acquire().map(|_| true),
        };
        let _ = tx.send((acquired, lock));
    });
    loop {
        match rx.recv_timeout(TICK) {
            Ok((Ok(true), lock)) => return Ok(lock),
            Ok((Ok(false), _)) => {
                return Err(report(Fail::error(
                    BAD_ARGS,
                    format!("lock {name} not acquired in time"),
                )))
            }
            Ok((Err(e), _)) => return Err(report(Fail::from_keys(&e))),
            Err(RecvTimeoutError::Disconnected) => {
                return Err(report(Fail::error(
                    BAD_ARGS,
                    "the lock's acquisition ended without an answer",
                )))
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Some(signal) = terminal::received() {
                    withdraw(client, name, &id);
                    return Err(128 + signal);
                }
            }
        }
    }
}

/// Print a failure; its status.
fn report(fail: Fail) -> i32 {
    crate::stdio::complain!("{}", fail.message.trim_end());
    fail.code
}

/// Delete this contender's key(s) in the lock's queue (`/_locks/NAME/*`
/// holding its id), each only if it still holds the id.
fn withdraw(client: &Cli, name: &str, id: &str) {
    if let Ok(queue) = client.node().get(&format!("/_locks/{name}"), false) {
        for entry in queue.children() {
            if entry.value.as_deref() == Some(id) {
                let _ = client.node().delete_if_value(&entry.key, id);
            }
        }
    }
}

/// `lock [--ttl N] [--wait D] NAME -- CMD...`: hold the lock (python-etcd's
/// layout under `/_locks/NAME`) while the command runs, renewing it; release
/// it when the command ends or this tool is signalled. The command's status
/// is passed through; if the lock is lost, the command is stopped and the
/// status is 1.
pub fn lock(
    client: &Cli,
    name: &str,
    ttl: u64,
    wait: Option<Duration>,
    command: &[String],
) -> Result<i32, Fail> {
    required(command)?;
    terminal::catch_signals();
    let mut lock = match acquire(client, name, ttl, wait) {
        Ok(lock) => lock,
        Err(code) => return Ok(code),
    };
    let keep = match lock.keep_alive() {
        Ok(k) => k,
        Err(e) => {
            let _ = lock.release();
            return Err(Fail::from_keys(&e));
        }
    };
    let child = match spawn(command) {
        Ok(c) => c,
        Err(f) => {
            keep.stop();
            let _ = lock.release();
            return Err(f);
        }
    };
    let ended = supervise(child, || keep.is_lost());
    let reason = keep.lost_reason();
    keep.stop();
    let released = lock.release();
    if let (Ended::Exited(_), Err(e)) = (&ended, released) {
        return Err(Fail::from_keys(&e));
    }
    outcome(ended, || {
        format!(
            "lost the lock {name} ({}); the command was stopped",
            reason.unwrap_or_else(|| "its TTL ran out".into())
        )
    })
}

/// `elect [--ttl N] KEY VALUE -- CMD...`: campaign for leadership of KEY
/// with VALUE, run the command once elected, and resign when it ends or this
/// tool is signalled. If leadership is lost, the command is stopped and the
/// status is 1.
pub fn elect(
    client: &Cli,
    key: &str,
    value: &str,
    ttl: u64,
    command: &[String],
) -> Result<i32, Fail> {
    required(command)?;
    terminal::catch_signals();
    let campaign = client
        .module()
        .leader()
        .campaign(key, value, ttl)
        .map_err(|e| Fail::from_keys(&e))?;
    loop {
        if let Some(signal) = terminal::received() {
            campaign.resign();
            return Ok(128 + signal);
        }
        match campaign.next_event(Duration::from_millis(200)) {
            // An Elected just followed by a Lost: leading only counts now.
            Some(LeaderEvent::Elected) if campaign.is_leader() => break,
            Some(LeaderEvent::Lost(e)) => {
                crate::stdio::complain!("campaign for {key}: {e}; campaigning again")
            }
            _ => {}
        }
    }
    let child = match spawn(command) {
        Ok(c) => c,
        Err(f) => {
            campaign.resign();
            return Err(f);
        }
    };
    let ended = supervise(child, || !campaign.is_leader());
    campaign.resign();
    outcome(ended, || {
        format!("lost the leadership of {key}; the command was stopped")
    })
}

/// `copy --from URLS [--hidden P]... PATH`: copy the v2 tree at PATH from the
/// source cluster into this one (e.g. onto the bridge), with a progress bar
/// on a terminal and a summary; status 1 unless everything was copied.
pub fn copy(
    target: &Cli,
    source: &Cli,
    path: &str,
    hidden: &[String],
) -> Result<(String, i32), Fail> {
    let mut spec = CopySpec::new(path);
    for h in hidden {
        spec = spec.hidden(h.as_str());
    }
    let terminal = std::io::stderr().is_terminal();
    let report = target
        .copy_tree_from(source, &spec, |p| {
            if terminal && (p.done == p.total || p.done % 64 == 0) {
                let width = 30;
                let filled = width * p.done / p.total.max(1);
                let mut err = std::io::stderr();
                let _ = write!(
                    err,
                    "\r[{}{}] {}/{}",
                    "#".repeat(filled),
                    " ".repeat(width - filled),
                    p.done,
                    p.total
                );
                let _ = err.flush();
            }
        })
        .map_err(|e| Fail::from_keys(&e))?;
    if terminal {
        crate::stdio::complain!();
    }
    let mut s = format!(
        "copied {} files and {} directories; {} already there, {} expired before copying\n",
        report.files, report.directories, report.unchanged, report.expired
    );
    for (key, why) in &report.conflicts {
        s.push_str(&format!("conflict: {key}: {why}\n"));
    }
    for (key, why) in &report.refused {
        s.push_str(&format!("refused: {key}: {why}\n"));
    }
    for key in &report.missing {
        s.push_str(&format!("missing in the source: {key}\n"));
    }
    let code = if report.is_complete() { OK } else { BAD_ARGS };
    Ok((s, code))
}
