//! What the command line needs before clap reads it: etcdctl (Go's flag
//! package) takes long flags with one dash (`role grant r -path '/a*'
//! -readwrite`), and `exec-watch`, `lock` and `elect` hand everything after
//! `--` to the command they run.

/// Long flags etcdctl also accepts with a single dash.
const LONG_FLAGS: &[&str] = &[
    "after-index",
    "ca-file",
    "cert-file",
    "debug",
    "dir",
    "endpoint",
    "endpoints",
    "forever",
    "in-order",
    "insecure-discovery",
    "insecure-skip-tls-verify",
    "key-file",
    "no-sync",
    "output",
    "path",
    "peers",
    "quorum",
    "read",
    "readwrite",
    "recursive",
    "roles",
    "rw",
    "sort",
    "swap-with-index",
    "swap-with-value",
    "timeout",
    "total-timeout",
    "ttl",
    "username",
    "with-index",
    "with-value",
    "write",
];

/// Commands whose arguments after `--` are a command line to run.
const RUNNERS: &[&str] = &["exec-watch", "lock", "elect"];

/// The arguments for clap, and the command line after `--` of a command that
/// runs one (`None` when there was no `--`).
#[derive(Debug, PartialEq, Eq)]
pub struct Split {
    /// What clap parses (the program name first).
    pub args: Vec<String>,
    /// The command after `--`, for `exec-watch`, `lock` and `elect`.
    pub command: Option<Vec<String>>,
}

/// Rewrite `-flag` to `--flag` for etcdctl's long flags (up to a `--`), and
/// take a runner's command off after its `--`.
pub fn split(argv: Vec<String>) -> Split {
    let mut args = Vec::with_capacity(argv.len());
    let mut runner = false;
    let mut rest = argv.into_iter();
    if let Some(program) = rest.next() {
        args.push(program);
    }
    let mut subcommand_seen = false;
    let mut subcommand_at = None;
    for arg in rest.by_ref() {
        if arg == "--" {
            if runner {
                if let Some(at) = subcommand_at {
                    flags_first(&mut args, at);
                }
                return Split {
                    args,
                    command: Some(rest.collect()),
                };
            }
            args.push(arg);
            args.extend(rest.by_ref());
            break;
        }
        let rewritten = match arg.strip_prefix('-') {
            Some(name) if !name.starts_with('-') && long_flag(name) => format!("-{arg}"),
            _ => arg,
        };
        if !subcommand_seen && !rewritten.starts_with('-') && !follows_value_flag(&args) {
            subcommand_seen = true;
            subcommand_at = Some(args.len());
            runner = RUNNERS.contains(&rewritten.as_str());
        }
        args.push(rewritten);
    }
    Split {
        args,
        command: None,
    }
}

/// Whether `name` (maybe `name=value`) is one of etcdctl's long flags.
fn long_flag(name: &str) -> bool {
    let flag = name.split('=').next().unwrap_or(name);
    LONG_FLAGS.contains(&flag)
}

/// Whether the last argument is a global flag that takes a value (so the next
/// argument is that value, not the command).
fn follows_value_flag(args: &[String]) -> bool {
    args.len() > 1 && args.last().is_some_and(|a| value_flag(a))
}

/// The flags that take a value (global ones, and the runners' own).
const TAKE_VALUES: &[&str] = &[
    "--output",
    "-o",
    "--endpoints",
    "--endpoint",
    "--peers",
    "-C",
    "--cert-file",
    "--key-file",
    "--ca-file",
    "--username",
    "-u",
    "--timeout",
    "--total-timeout",
    "--bridge",
    "--discovery-srv",
    "-D",
    "--after-index",
    "--ttl",
    "--wait",
];

/// Whether `arg` is a flag that takes a value.
fn value_flag(arg: &str) -> bool {
    TAKE_VALUES.contains(&arg)
}

/// Put a runner's flags before its arguments (`exec-watch /w -r -- cmd`
/// means `exec-watch -r /w -- cmd`): before a `--`, every flag is the
/// tool's, wherever it stands.
fn flags_first(args: &mut Vec<String>, subcommand_at: usize) {
    let tail = args.split_off(subcommand_at + 1);
    let (mut flags, mut positionals) = (Vec::new(), Vec::new());
    let mut takes_value = false;
    for arg in tail {
        if takes_value {
            flags.push(arg);
            takes_value = false;
        } else if arg.starts_with('-') && arg.len() > 1 {
            takes_value = !arg.contains('=') && value_flag(&arg);
            flags.push(arg);
        } else {
            positionals.push(arg);
        }
    }
    args.extend(flags);
    args.extend(positionals);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn single_dash_long_flags_become_double_dash() {
        let s = split(strings(&[
            "etcd-v2",
            "role",
            "grant",
            "r",
            "-path",
            "/a*",
            "-readwrite",
        ]));
        assert_eq!(
            s.args,
            strings(&[
                "etcd-v2",
                "role",
                "grant",
                "r",
                "--path",
                "/a*",
                "--readwrite"
            ])
        );
        assert_eq!(s.command, None);
    }

    #[test]
    fn values_after_a_double_dash_are_left_alone() {
        let s = split(strings(&["etcd-v2", "set", "/neg", "--", "-ttl"]));
        assert_eq!(s.args, strings(&["etcd-v2", "set", "/neg", "--", "-ttl"]));
    }

    #[test]
    fn short_flags_and_negative_numbers_are_left_alone() {
        let s = split(strings(&["etcd-v2", "set", "--ttl", "-1", "-r", "/k", "v"]));
        assert_eq!(
            s.args,
            strings(&["etcd-v2", "set", "--ttl", "-1", "-r", "/k", "v"])
        );
    }

    #[test]
    fn a_runner_takes_its_command_after_the_double_dash() {
        let s = split(strings(&[
            "etcd-v2", "-o", "json", "lock", "name", "--", "sh", "-c", "exit 3",
        ]));
        assert_eq!(s.args, strings(&["etcd-v2", "-o", "json", "lock", "name"]));
        assert_eq!(s.command, Some(strings(&["sh", "-c", "exit 3"])));
    }

    #[test]
    fn a_runners_flags_after_its_key_are_still_flags() {
        let s = split(strings(&[
            "etcd-v2",
            "exec-watch",
            "/w",
            "-r",
            "--after-index",
            "5",
            "--",
            "sh",
            "-c",
            "x",
        ]));
        assert_eq!(
            s.args,
            strings(&["etcd-v2", "exec-watch", "-r", "--after-index", "5", "/w"])
        );
        assert_eq!(s.command, Some(strings(&["sh", "-c", "x"])));
    }

    #[test]
    fn a_global_value_that_names_a_runner_is_not_the_command() {
        let s = split(strings(&[
            "etcd-v2", "--bridge", "lock", "get", "/k", "--", "x",
        ]));
        assert_eq!(s.command, None);
        assert_eq!(s.args.last().map(String::as_str), Some("x"));
    }
}
