//! Scripts of command lines run by two tools and compared: stdout, stderr's
//! first line and the exit status, with what legitimately differs masked.

#![allow(dead_code)]

use std::time::Duration;

use super::{run, Run};

/// How a line's runs are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// stdout, stderr's first line and the exit status.
    Same,
    /// The same, with stdout's lines in any order (etcd lists children in
    /// hash order).
    Unordered,
    /// stdout and the exit status: etcdctl complains on stderr that it cannot
    /// turn off a pipe's echo (stty), this tool does not.
    StdoutAndStatus,
    /// Only the exit status: a difference README.md lists.
    Differs(&'static str),
    /// Beyond etcdctl (which refuses the line): not compared; the test
    /// checks this tool's run itself. README.md lists it.
    Beyond(&'static str),
}

/// One command line of a script.
pub struct Line {
    /// The arguments: split on spaces, `'...'` keeps spaces; `{NAME}`
    /// placeholders; leading `ENV:NAME=VALUE ` words set variables.
    pub args: &'static str,
    /// What is piped to stdin.
    pub stdin: Option<&'static str>,
    /// How it is compared.
    pub mode: Mode,
    /// Whether the line is run over the bridge too.
    pub bridge: bool,
}

/// A line compared in full.
pub const fn l(args: &'static str) -> Line {
    Line {
        args,
        stdin: None,
        mode: Mode::Same,
        bridge: true,
    }
}

/// A line whose stdout lines may come in any order.
pub const fn unordered(args: &'static str) -> Line {
    Line {
        mode: Mode::Unordered,
        ..l(args)
    }
}

/// A line only for v2 (the reason is in README's bridge table).
pub const fn v2(args: &'static str) -> Line {
    Line {
        bridge: false,
        ..l(args)
    }
}

/// A line that reads a password from stdin (stderr is not compared: etcdctl's
/// `stty` complains there).
pub const fn password(args: &'static str, stdin: &'static str) -> Line {
    Line {
        stdin: Some(stdin),
        mode: Mode::StdoutAndStatus,
        bridge: true,
        args,
    }
}

/// A line compared in full, with `stdin` piped to it.
pub const fn piped(args: &'static str, stdin: &'static str) -> Line {
    Line {
        stdin: Some(stdin),
        ..l(args)
    }
}

/// A line whose output differs on purpose (README lists `why`).
pub const fn differs(args: &'static str, why: &'static str) -> Line {
    Line {
        mode: Mode::Differs(why),
        ..l(args)
    }
}

/// A line etcdctl refuses and this tool serves (README lists `why`).
pub const fn beyond(args: &'static str, why: &'static str) -> Line {
    Line {
        mode: Mode::Beyond(why),
        ..l(args)
    }
}

/// Split on spaces, keeping `'...'` together.
pub fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                started = true;
            }
            ' ' if !quoted => {
                if started {
                    out.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(word);
    }
    out
}

/// The endpoint flags and variables: etcdctl's `--endpoints`, and the
/// deprecated `--endpoint`, `--peers` and `-C` (with one dash too, as Go's
/// flag package takes them).
const ENDPOINT_FLAGS: &[&str] = &[
    "--endpoints",
    "-endpoints",
    "--endpoint",
    "-endpoint",
    "--peers",
    "-peers",
    "-C",
];

/// The variables etcdctl reads endpoints from.
const ENDPOINT_VARIABLES: &[&str] = &["ETCDCTL_ENDPOINTS", "ETCDCTL_ENDPOINT", "ETCDCTL_PEERS"];

/// Whether a line names its endpoints itself (a flag, as `--flag V` or
/// `--flag=V`, or a variable): then the runner adds no `--endpoints`, which
/// would take precedence over the others.
pub fn gives_endpoints(words: &[String], env: &[(String, String)]) -> bool {
    words.iter().any(|w| {
        let flag = w.split('=').next().unwrap_or(w);
        ENDPOINT_FLAGS.contains(&flag)
    }) || env
        .iter()
        .any(|(name, _)| ENDPOINT_VARIABLES.contains(&name.as_str()))
}

/// The `Modified-Index: N` of an `-o extended` answer.
pub fn modified_index(stdout: &str) -> Option<u64> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("Modified-Index: "))
        .and_then(|n| n.trim().parse().ok())
}

/// A port where nothing listens (bound, then closed).
pub fn dead_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = listener.local_addr().expect("an address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// How one tool runs a script.
pub struct Runner<'a> {
    /// The program.
    pub program: &'a str,
    /// Global flags put before each line (after `--endpoints`).
    pub extra: &'a [&'a str],
    /// Whether to set `ETCDCTL_API=2` (etcdctl).
    pub etcdctl: bool,
    /// The endpoint given with `--endpoints` unless the line gives its own
    /// (any endpoint flag or variable, see `gives_endpoints`).
    pub endpoint: &'a str,
    /// Placeholders and their values.
    pub vars: Vec<(String, String)>,
}

impl Runner<'_> {
    fn fill(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (name, value) in &self.vars {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }

    /// Run `lines`; `{NEWID}` takes the member ID a `member add` printed,
    /// `{MODINDEX}` the `Modified-Index` an `-o extended` answer printed.
    pub fn run(&mut self, lines: &[&Line]) -> Vec<Run> {
        let mut runs = Vec::new();
        for line in lines {
            let mut text = self.fill(line.args);
            let mut env: Vec<(String, String)> = Vec::new();
            while let Some(rest) = text.strip_prefix("ENV:") {
                let (assignment, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let (name, value) = assignment.split_once('=').expect("ENV:NAME=VALUE");
                env.push((name.to_string(), value.to_string()));
                text = tail.to_string();
            }
            let mut args: Vec<String> = Vec::new();
            let line_words = words(&text);
            if !gives_endpoints(&line_words, &env) {
                args.push("--endpoints".into());
                args.push(self.endpoint.to_string());
            }
            args.extend(self.extra.iter().map(|s| s.to_string()));
            args.extend(line_words);
            if self.etcdctl {
                env.push(("ETCDCTL_API".into(), "2".into()));
            }
            let env_refs: Vec<(&str, &str)> =
                env.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            // etcd's raft drops a membership change proposed while the
            // previous one is not yet marked applied (the request then hangs
            // until it times out): a change waits for a raft round (a quorum
            // read) after whatever ran before it, or if that read fails (a
            // stopped member), a little while.
            if ["member add", "member remove", "member update"]
                .iter()
                .any(|change| text.contains(change))
                && !super::raft_round(self.endpoint)
            {
                std::thread::sleep(Duration::from_millis(500));
            }
            let mut r = run(
                self.program,
                &args,
                &env_refs,
                line.stdin,
                Duration::from_secs(30),
            );
            // A member's /health is false when its own quorum read takes over
            // a second, which a busy machine can cause for a moment; no
            // script line expects it, so the health check runs again (both
            // tools alike, at most three times in all).
            let mut tries = 1;
            while text.contains("cluster-health")
                && r.stdout.contains("got unhealthy result")
                && tries < 3
            {
                tries += 1;
                std::thread::sleep(Duration::from_secs(1));
                r = run(
                    self.program,
                    &args,
                    &env_refs,
                    line.stdin,
                    Duration::from_secs(30),
                );
            }
            if let Some(id) = r
                .stdout
                .split("with ID ")
                .nth(1)
                .and_then(|t| t.split_whitespace().next())
            {
                self.vars.retain(|(n, _)| n != "NEWID");
                self.vars.push(("NEWID".into(), id.to_string()));
            }
            if let Some(index) = modified_index(&r.stdout) {
                self.vars.retain(|(n, _)| n != "MODINDEX");
                self.vars.push(("MODINDEX".into(), index.to_string()));
            }
            runs.push(r);
        }
        runs
    }
}

/// What is masked before comparing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mask {
    /// Every run of digits (the bridge's indexes are v3 revisions).
    pub digits: bool,
    /// Member IDs (16 hex digits: a member added at run time gets a new one).
    pub ids: bool,
}

fn masked(s: &str, mask: Mask) -> String {
    let mut s = mask_expiration(s);
    if mask.ids {
        // A new member's ID decides where it sorts among the others.
        if let Some(start) = s.find("ETCD_INITIAL_CLUSTER=\"") {
            let from = start + "ETCD_INITIAL_CLUSTER=\"".len();
            if let Some(len) = s[from..].find('"') {
                let mut items: Vec<&str> = s[from..from + len].split(',').collect();
                items.sort();
                s = format!("{}{}{}", &s[..from], items.join(","), &s[from + len..]);
            }
        }
        s = s
            .split_inclusive(|c: char| !c.is_ascii_hexdigit())
            .map(|part| {
                let hex = part.trim_end_matches(|c: char| !c.is_ascii_hexdigit());
                // Go prints IDs without leading zeros.
                if (13..=16).contains(&hex.len()) {
                    part.replacen(hex, "ID", 1)
                } else {
                    part.to_string()
                }
            })
            .collect();
    }
    if mask.digits {
        let mut out = String::with_capacity(s.len());
        let mut in_digits = false;
        for c in s.chars() {
            if c.is_ascii_digit() {
                if !in_digits {
                    out.push('N');
                }
                in_digits = true;
            } else {
                out.push(c);
                in_digits = false;
            }
        }
        s = out;
    }
    s
}

/// Timestamps and a read's remaining TTL (a whole second can pass between
/// the write and the read) differ from run to run.
fn mask_expiration(s: &str) -> String {
    let ttl_masked = mask_ttl(s);
    let mut out = String::new();
    let mut rest = ttl_masked.as_str();
    while let Some(i) = rest.find("\"expiration\":\"") {
        let start = i + "\"expiration\":\"".len();
        out.push_str(&rest[..start]);
        out.push_str("TIME");
        rest = &rest[start..];
        rest = &rest[rest.find('"').unwrap_or(rest.len())..];
    }
    out.push_str(rest);
    out
}

/// `"ttl":N` of a JSON answer becomes `"ttl":T`.
fn mask_ttl(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("\"ttl\":") {
        let start = i + "\"ttl\":".len();
        out.push_str(&rest[..start]);
        out.push('T');
        rest = rest[start..].trim_start_matches(|c: char| c.is_ascii_digit() || c == '-');
    }
    out.push_str(rest);
    out
}

/// What is compared of a run.
pub fn compared(run: &Run, mode: Mode, mask: Mask) -> (String, String, i32) {
    let mut stdout = masked(&run.stdout, mask);
    if mode == Mode::Unordered {
        let mut lines: Vec<&str> = stdout.lines().collect();
        lines.sort();
        stdout = lines.join("\n");
    }
    let stderr = masked(run.stderr_first_line(), mask);
    match mode {
        Mode::Same | Mode::Unordered => (stdout, stderr, run.code),
        Mode::StdoutAndStatus => (stdout, String::new(), run.code),
        Mode::Differs(_) => (String::new(), String::new(), run.code),
        Mode::Beyond(_) => (String::new(), String::new(), 0),
    }
}

/// Assert that each line ran the same, listing every line that did not.
pub fn compare(name: &str, expected: &[Run], got: &[Run], lines: &[&Line], mask: Mask) {
    assert_eq!(expected.len(), lines.len());
    assert_eq!(got.len(), lines.len());
    let mut mismatches = Vec::new();
    for ((line, want), have) in lines.iter().zip(expected).zip(got) {
        let a = compared(want, line.mode, mask);
        let b = compared(have, line.mode, mask);
        if a != b {
            mismatches.push(format!(
                "{}\n  expected: {a:?}\n  got:      {b:?}",
                line.args
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{name}: {} of {} lines differ:\n{}",
        mismatches.len(),
        lines.len(),
        mismatches.join("\n")
    );
}

#[test]
fn masks() {
    let m = Mask {
        digits: false,
        ids: true,
    };
    assert_eq!(
        masked("member 5a645c133dfedacc is healthy", m),
        "member ID is healthy"
    );
    assert_eq!(
        masked("3201d322d2a71393[unstarted]: x", m),
        "ID[unstarted]: x"
    );
    assert_eq!(
        masked(
            "Index: 12",
            Mask {
                digits: true,
                ids: false
            }
        ),
        "Index: N"
    );
    assert_eq!(words("a 'b c' d"), vec!["a", "b c", "d"]);
    let env = |name: &str| vec![(name.to_string(), "x".to_string())];
    assert!(gives_endpoints(&words("-C x get /k"), &[]));
    assert!(gives_endpoints(&words("--endpoint=x get /k"), &[]));
    assert!(gives_endpoints(&words("get /k"), &env("ETCDCTL_PEERS")));
    assert!(!gives_endpoints(
        &words("get /endpoint"),
        &env("ETCDCTL_API")
    ));
    assert_eq!(
        modified_index("Key: /k\nCreated-Index: 7\nModified-Index: 9\nTTL: 0\n"),
        Some(9)
    );
    assert_eq!(modified_index("Index: 9\n"), None);
    assert_eq!(
        mask_ttl(r#"{"ttl":100},"ttl":-1}"#),
        r#"{"ttl":T},"ttl":T}"#
    );
}
