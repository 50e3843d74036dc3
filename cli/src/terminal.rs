//! The terminal and the process: reading a password without echo, and
//! noticing SIGINT, SIGTERM and SIGHUP.

use std::io::{self, BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicI32, Ordering};

/// Print `prompt` on stdout and read a line from stdin, without echo when
/// stdin is a terminal; a newline follows on stdout, as etcdctl prints.
pub fn read_secret(prompt: &str) -> io::Result<String> {
    let stdin = io::stdin();
    // Echo goes off before the prompt shows: what is typed after it never
    // appears.
    let echo_off = stdin.is_terminal().then(EchoOff::new).flatten();
    let mut out = io::stdout();
    write!(out, "{prompt}")?;
    out.flush()?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    drop(echo_off);
    writeln!(out)?;
    out.flush()?;
    read?;
    while line.ends_with('\n') || line.ends_with('\r') {
        line.pop();
    }
    Ok(line)
}

/// The terminal's echo turned off, and back on when dropped.
struct EchoOff(libc::termios);

impl EchoOff {
    fn new() -> Option<EchoOff> {
        // SAFETY: tcgetattr writes a termios for fd 0 into the zeroed value.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd 0 is open; `saved` is a valid termios to write into.
        if unsafe { libc::tcgetattr(0, &mut saved) } != 0 {
            return None;
        }
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: `quiet` is a termios read from this terminal, changed in lflag only.
        if unsafe { libc::tcsetattr(0, libc::TCSANOW, &quiet) } != 0 {
            return None;
        }
        Some(EchoOff(saved))
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores the termios read in `new` on the same descriptor.
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, &self.0);
        }
    }
}

/// The last signal received (SIGINT, SIGTERM or SIGHUP), or 0.
static RECEIVED: AtomicI32 = AtomicI32::new(0);
/// How many have been received.
static COUNT: AtomicI32 = AtomicI32::new(0);
/// Whether the last one came from the kernel (a terminal's Ctrl-C, which
/// the whole foreground process group, children too, already got) rather
/// than from a process's kill(2).
static FROM_TERMINAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn note(signal: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t to an SA_SIGINFO handler.
    let code = if info.is_null() {
        0
    } else {
        unsafe { (*info).si_code }
    };
    FROM_TERMINAL.store(i32::from(code > 0), Ordering::SeqCst);
    RECEIVED.store(signal, Ordering::SeqCst);
    COUNT.fetch_add(1, Ordering::SeqCst);
}

/// Note SIGINT, SIGTERM and SIGHUP instead of dying of them (see
/// [`received`]).
pub fn catch_signals() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction with an SA_SIGINFO handler that only
        // stores into atomics (async-signal-safe) and an empty mask.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction =
                note as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)
                    as libc::sighandler_t;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// The signal received since [`catch_signals`], if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// How many signals have been received since [`catch_signals`].
pub fn count() -> i32 {
    COUNT.load(Ordering::SeqCst)
}

/// Whether the last signal came from the terminal (so the command, in the
/// same foreground process group, got it too and must not get it twice).
pub fn from_terminal() -> bool {
    FROM_TERMINAL.load(Ordering::SeqCst) == 1
}

/// Send `signal` to process `pid`.
pub fn kill(pid: u32, signal: i32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) with a child's pid; errors (already gone) are harmless.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// Exit at once with `code` when SIGINT arrives (etcdctl's watch ends with
/// status 0 on Ctrl-C).
pub fn exit_on_interrupt() {
    extern "C" fn exit_zero(_: libc::c_int) {
        // SAFETY: _exit is async-signal-safe; stdout was flushed after each line.
        unsafe { libc::_exit(0) }
    }
    // SAFETY: installs a handler that only calls _exit.
    unsafe {
        libc::signal(
            libc::SIGINT,
            exit_zero as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
}
