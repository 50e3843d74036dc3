//! Writing to stdout and stderr as etcdctl (a Go program) does: when the
//! reader has gone (`etcd-v2 ls | head -1`), the tool dies of SIGPIPE,
//! quietly, rather than panic in a print. Only these writes raise it: SIGPIPE
//! stays ignored for everything else, so a write to a connection etcd has
//! closed (a TLS record written with `writev`, say) is an error to handle,
//! never the end of the process.

use std::io::{ErrorKind, Write};

/// Write `text` to stdout (flushed).
pub fn out(text: &str) {
    write_or_die(std::io::stdout().lock(), text);
}

/// Write `text` to stderr.
pub fn err(text: &str) {
    write_or_die(std::io::stderr().lock(), text);
}

fn write_or_die(mut w: impl Write, text: &str) {
    if let Err(e) = w.write_all(text.as_bytes()).and_then(|()| w.flush()) {
        if e.kind() == ErrorKind::BrokenPipe {
            die_of_sigpipe();
        }
    }
}

/// End the process as SIGPIPE ends a Go program.
fn die_of_sigpipe() -> ! {
    // SAFETY: restoring SIGPIPE's default disposition and raising it in this
    // process; nothing else is shared with these calls.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    std::process::exit(128 + libc::SIGPIPE)
}

/// A line on stdout (see [`out`]).
macro_rules! say {
    () => { $crate::stdio::out("\n") };
    ($($arg:tt)*) => { $crate::stdio::out(&format!("{}\n", format_args!($($arg)*))) };
}

/// A line on stderr (see [`err`]).
macro_rules! complain {
    () => { $crate::stdio::err("\n") };
    ($($arg:tt)*) => { $crate::stdio::err(&format!("{}\n", format_args!($($arg)*))) };
}

pub(crate) use {complain, say};
