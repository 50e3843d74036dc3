//! `watch` and `exec-watch`, on the library's watch (which never loses or
//! repeats an event between long polls).

use std::process::Command;

use etcd_v2::watch::WatchEvent;
use etcd_v2::KeysResponse;

use crate::args::Output;
use crate::connect::Cli;
use crate::failure::{Fail, BAD_ARGS, OK};
use crate::keys::{absolute, required};
use crate::output;

/// The changes of `key` (and below it), from after `after_index` if given.
fn changes<'a>(
    client: &'a Cli,
    key: &str,
    after_index: u64,
    recursive: bool,
) -> Result<impl Iterator<Item = Result<KeysResponse, Fail>> + 'a, Fail> {
    // Like etcdctl's: a cluster that cannot answer ends the watch (status 4).
    let mut options = client
        .watch(key)
        .recursive(recursive)
        .resync(false)
        .retry_failures(false);
    if after_index != 0 {
        options = options.from_index(after_index.saturating_add(1));
    }
    let watch = options.start().map_err(|e| Fail::from_keys(&e))?;
    Ok(watch.filter_map(|item| match item {
        Ok(WatchEvent::Change(resp)) => Some(Ok(*resp)),
        Ok(WatchEvent::Resync { .. }) => None,
        Err(e) => Some(Err(Fail::from_keys(&e))),
    }))
}

/// `watch [--forever] [--after-index N] [-r] KEY`: print each change as
/// etcdctl does (`[action] key` first when recursive); without `--forever`,
/// stop after the first.
pub fn watch(
    client: &Cli,
    key: Option<&String>,
    (forever, after_index, recursive): (bool, u64, bool),
    output: Output,
) -> Result<i32, Fail> {
    let key = required(key)?;
    crate::terminal::exit_on_interrupt();
    for change in changes(client, &key, after_index, recursive)? {
        let resp = change?;
        if resp.node.dir {
            continue;
        }
        let mut text = String::new();
        if recursive {
            text.push_str(&format!("[{}] {}\n", resp.action.as_str(), resp.node.key));
        }
        text.push_str(&output::response(&resp, output));
        crate::stdio::out(&text);
        if !forever {
            break;
        }
    }
    Ok(OK)
}

/// The key and the command of `exec-watch`: `KEY -- CMD...`, or etcdctl's
/// `CMD... KEY`.
pub fn key_and_command(
    args: &[String],
    after_separator: Option<&[String]>,
) -> Result<(String, Vec<String>), Fail> {
    let required = || Fail::error(BAD_ARGS, "key and command to exec required");
    match after_separator {
        Some(command) => match (args, command.is_empty()) {
            ([key], false) => Ok((absolute(key), command.to_vec())),
            _ => Err(required()),
        },
        None => match args.split_last() {
            Some((key, command)) if !command.is_empty() => Ok((absolute(key), command.to_vec())),
            _ => Err(required()),
        },
    }
}

/// `exec-watch [--after-index N] [-r] KEY -- CMD...`: run the command once per
/// change of a file, with `ETCD_WATCH_ACTION`, `ETCD_WATCH_KEY`,
/// `ETCD_WATCH_MODIFIED_INDEX` and `ETCD_WATCH_VALUE` set; one at a time, in
/// event order.
pub fn exec_watch(
    client: &Cli,
    (key, command): (String, Vec<String>),
    (after_index, recursive): (u64, bool),
) -> Result<i32, Fail> {
    crate::terminal::exit_on_interrupt();
    let (program, arguments) = command
        .split_first()
        .ok_or_else(|| Fail::error(BAD_ARGS, "key and command to exec required"))?;
    for change in changes(client, &key, after_index, recursive)? {
        let resp = change?;
        if resp.node.dir {
            crate::stdio::complain!("Ignored dir {} change", resp.node.key);
            continue;
        }
        let status = Command::new(program)
            .args(arguments)
            .env("ETCD_WATCH_ACTION", resp.action.as_str())
            .env("ETCD_WATCH_KEY", &resp.node.key)
            .env(
                "ETCD_WATCH_MODIFIED_INDEX",
                resp.node.modified_index.to_string(),
            )
            .env("ETCD_WATCH_VALUE", resp.node.value.as_deref().unwrap_or(""))
            .status();
        if let Err(e) = status {
            // etcdctl prints Go's error and exits 1.
            return Err(Fail::plain(BAD_ARGS, start_failure(program, &e)));
        }
    }
    Ok(OK)
}

/// Go's words for a command that could not start: `exec: "x": executable
/// file not found in $PATH` for a name looked up in `PATH`, else
/// `fork/exec ./x: <reason>`.
fn start_failure(program: &str, e: &std::io::Error) -> String {
    let reason = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    };
    let missing = matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
    );
    if program.contains('/') {
        format!("fork/exec {program}: {reason}")
    } else if missing {
        // Go's PATH lookup skips what it cannot run.
        format!("exec: {program:?}: executable file not found in $PATH")
    } else {
        format!("exec: {program:?}: {reason}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_command_that_cannot_start_is_worded_as_go_words_it() {
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(
            start_failure("nosuch", &missing),
            r#"exec: "nosuch": executable file not found in $PATH"#
        );
        assert_eq!(
            start_failure("./nosuch", &missing),
            "fork/exec ./nosuch: no such file or directory"
        );
    }

    #[test]
    fn the_key_comes_first_with_a_separator_and_last_without() {
        let cmd = strings(&["sh", "-c", "env"]);
        assert_eq!(
            key_and_command(&strings(&["/w"]), Some(&cmd)).ok(),
            Some(("/w".to_string(), cmd.clone()))
        );
        assert_eq!(
            key_and_command(&strings(&["sh", "-c", "env", "w"]), None).ok(),
            Some(("/w".to_string(), cmd))
        );
        assert!(key_and_command(&strings(&["/w"]), None).is_err());
        assert!(key_and_command(&strings(&["/w"]), Some(&[])).is_err());
    }
}
