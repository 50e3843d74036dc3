//! The differential test: one script of etcdctl v2 command lines, run by
//! Debian's etcdctl 3.4 (`ETCDCTL_API=2`) on a fresh member, then by
//! `etcd-v2` on the same member reset to the same fresh state (same member
//! and cluster IDs, ports and store), then by `etcd-v2 --bridge` on a fresh
//! v3 keyspace. stdout, stderr's first line and the exit status must be equal,
//! except the differences README.md lists (marked here with their reason).

mod support;

use std::time::Duration;

use support::{etcdctl, ours, run, Member, Run};

/// How a line's runs are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
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
}

struct Line {
    args: &'static str,
    stdin: Option<&'static str>,
    mode: Mode,
    /// Whether the line is run over the bridge too.
    bridge: bool,
}

const fn l(args: &'static str) -> Line {
    Line {
        args,
        stdin: None,
        mode: Mode::Same,
        bridge: true,
    }
}

const fn unordered(args: &'static str) -> Line {
    Line {
        mode: Mode::Unordered,
        ..l(args)
    }
}

/// A line only for v2 (the reason is in README's bridge table).
const fn v2(args: &'static str) -> Line {
    Line {
        bridge: false,
        ..l(args)
    }
}

const fn password(args: &'static str, stdin: &'static str) -> Line {
    Line {
        stdin: Some(stdin),
        mode: Mode::StdoutAndStatus,
        bridge: false,
        args,
    }
}

const fn differs(args: &'static str, why: &'static str) -> Line {
    Line {
        mode: Mode::Differs(why),
        ..l(args)
    }
}

/// The script. `{E}` is the member, `{DEAD}` an endpoint where nothing
/// listens; `ENV ` runs the line with `ETCDCTL_ENDPOINTS` instead of
/// `--endpoints`. Arguments split on spaces; `'...'` keeps spaces.
const SCRIPT: &[Line] = &[
    l("set /foo bar"),
    l("get /foo"),
    l("-o simple set /foo v1"),
    l("-o extended set /foo v2"),
    l("-o json set /foo v3"),
    l("-o extended get /foo"),
    l("-o json get /foo"),
    l("get /nokey"),
    l("-o json get /nokey"),
    l("get /no/such/key"),
    l("get"),
    l("set /foo"),
    l("set /neg -- -5"),
    l("get /neg"),
    l("set /sp 'a b<c>&d'"),
    l("-o json get /sp"),
    l("set noslash v"),
    l("get noslash"),
    l("get --quorum /foo"),
    l("mk /new v"),
    l("mk /new v2"),
    l("mk --in-order /queue job1"),
    l("mk --in-order /queue job2"),
    l("-o extended mk --in-order /queue job3"),
    l("ls --sort /queue"),
    l("mkdir /dir"),
    l("mkdir /dir"),
    l("-o extended mkdir /dir2"),
    l("setdir /dir"),
    l("setdir /dir3"),
    l("set /sdfile v"),
    l("setdir /sdfile"),
    l("-o json ls /sdfile"),
    l("updatedir --ttl 100 /dir3"),
    l("-o json ls /dir3"),
    l("updatedir --ttl 100 /nodir"),
    l("updatedir /dir3"),
    l("update /foo newval"),
    l("update /missing x"),
    l("update /dir x"),
    l("set /dir x"),
    l("get /dir"),
    l("set /dir/a 1"),
    l("set /dir/sub/b 2"),
    l("set /dir/_h hidden"),
    unordered("ls"),
    unordered("ls /"),
    unordered("ls /dir"),
    unordered("ls -r /dir"),
    unordered("ls -p /"),
    unordered("ls -r -p /dir"),
    l("ls --sort -r /"),
    l("-o json ls --sort /dir"),
    l("-o extended ls /dir"),
    l("ls /nodir"),
    l("ls /foo"),
    l("rm /neg"),
    l("rm /neg"),
    l("rm /dir"),
    l("rm --dir /dir"),
    l("rm --dir /dir2"),
    l("rmdir /dir"),
    l("rmdir /dir3"),
    l("rmdir /new"),
    l("rm -r /dir"),
    l("-o extended rm /sp"),
    l("set /cad one"),
    l("rm --with-value two /cad"),
    l("rm --with-index 1 /cad"),
    l("rm --with-value one /cad"),
    l("set /cas one"),
    l("set --swap-with-value nope /cas two"),
    l("set --swap-with-index 1 /cas two"),
    l("set --swap-with-value one /cas two"),
    l("set --swap-with-value two --swap-with-index 1 /cas four"),
    l("set --swap-with-value x /nocas y"),
    l("-o extended set --ttl 50 /ttlkey t"),
    l("set --ttl -1 /ttlneg t"),
    l("-o extended get /ttlneg"),
    l("mk --ttl 50 /ttlkey2 t"),
    l("-o extended update --ttl 50 /ttlkey2 u"),
    l("-o extended mkdir --ttl 50 /ttldir"),
    differs(
        "set --ttl abc /ttlkey t",
        "a bad flag value: clap's usage message instead of etcdctl's help text",
    ),
    l("set /w 0"),
    l("set /w 1"),
    l("watch --after-index 1 /w"),
    l("-o extended watch --after-index 1 /w"),
    l("-o json watch --after-index 1 /w"),
    l("set /wd/x 1"),
    l("watch -r --after-index 1 /wd"),
    l("exec-watch /w"),
    l("member list"),
    l("member remove 1234abcd"),
    l("member remove nothex"),
    l("member add bad 127.0.0.1:1"),
    l("member add"),
    l("cluster-health"),
    v2("--debug get /foo"),
    l("--no-sync get /foo"),
    l("--debug --no-sync get /foo"),
    v2("--timeout 1ns get /foo"),
    l("--total-timeout 1ns get /foo"),
    v2("--endpoints {DEAD} get /foo"),
    v2("--endpoints {DEAD} set /foo x"),
    v2("--endpoints {DEAD} cluster-health"),
    l("--endpoints {DEAD},{E} get /foo"),
    l("--endpoints 127.0.0.1:1 get /foo"),
    l("ENV get /foo"),
    l("frobnicate"),
    v2("user list"),
    v2("auth enable"),
    password("user add root", "rootpw\n"),
    v2("user get root"),
    v2("role list"),
    v2("role add fooer"),
    v2("role grant fooer -path '/foo*' -readwrite"),
    v2("role grant fooer -path '/x*'"),
    v2("role get fooer"),
    password("user add alice", "alicepw\n"),
    v2("user grant alice -roles fooer"),
    v2("user get alice"),
    v2("user list"),
    v2("auth enable"),
    v2("auth enable"),
    v2("get /foo"),
    v2("-u root:rootpw get /foo"),
    v2("-u root:nope get /foo"),
    v2("-u alice:alicepw get /foo"),
    v2("-u alice:alicepw set /cas x"),
    v2("-u alice:alicepw set /foo fromalice"),
    v2("user list"),
    v2("-u root:rootpw user list"),
    password("-u root get /foo", "rootpw\n"),
    v2("-u root:rootpw role revoke fooer -path '/foo*' -write"),
    v2("-u root:rootpw role get fooer"),
    v2("-u root:rootpw user revoke alice -roles fooer"),
    password("-u root:rootpw user passwd alice", "newpw\n"),
    v2("auth disable"),
    v2("-u alice:newpw auth disable"),
    v2("-u root:rootpw auth disable"),
    v2("auth disable"),
    v2("user remove alice"),
    v2("role remove fooer"),
    v2("user remove root"),
    v2("user list"),
];

/// Split on spaces, keeping `'...'` together.
fn words(line: &str) -> Vec<String> {
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

/// A port where nothing listens (bound, then closed).
fn dead_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = listener.local_addr().expect("an address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// Run the script with `program` (and `extra` global flags) against `member`.
fn run_script(
    program: &str,
    extra: &[&str],
    etcdctl_api: bool,
    member: &Member,
    dead: &str,
    bridge_only: bool,
) -> Vec<Run> {
    let mut runs = Vec::new();
    for line in SCRIPT.iter().filter(|l| !bridge_only || l.bridge) {
        let text = line
            .args
            .replace("{E}", &member.endpoint)
            .replace("{DEAD}", dead);
        let (via_env, text) = match text.strip_prefix("ENV ") {
            Some(rest) => (true, rest.to_string()),
            None => (false, text),
        };
        let mut args: Vec<String> = Vec::new();
        if !via_env && !text.contains("--endpoints") {
            args.push("--endpoints".into());
            args.push(member.endpoint.clone());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(words(&text));
        let mut env = vec![];
        if etcdctl_api {
            env.push(("ETCDCTL_API", "2"));
        }
        if via_env {
            env.push(("ETCDCTL_ENDPOINTS", member.endpoint.as_str()));
        }
        runs.push(run(
            program,
            &args,
            &env,
            line.stdin,
            Duration::from_secs(30),
        ));
    }
    runs
}

/// What is compared of a run.
fn compared(run: &Run, mode: Mode, mask_digits: bool) -> (String, String, i32) {
    let mask = |s: &str| -> String {
        let mut s = mask_expiration(s);
        if mask_digits {
            s = s
                .split(|c: char| c.is_ascii_digit())
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join("N");
        }
        s
    };
    let mut stdout = mask(&run.stdout);
    if mode == Mode::Unordered {
        let mut lines: Vec<&str> = stdout.lines().collect();
        lines.sort();
        stdout = lines.join("\n");
    }
    let stderr = mask(run.stderr_first_line());
    match mode {
        Mode::Same | Mode::Unordered => (stdout, stderr, run.code),
        Mode::StdoutAndStatus => (stdout, String::new(), run.code),
        Mode::Differs(_) => (String::new(), String::new(), run.code),
    }
}

/// Timestamps differ from run to run.
fn mask_expiration(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
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

fn compare(name: &str, expected: &[Run], got: &[Run], lines: &[&Line], mask_digits: bool) {
    let mut mismatches = Vec::new();
    for ((line, want), have) in lines.iter().zip(expected).zip(got) {
        let a = compared(want, line.mode, mask_digits);
        let b = compared(have, line.mode, mask_digits);
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
fn the_script_gives_etcdctls_output_on_v2_and_the_same_over_the_bridge() {
    assert!(SCRIPT.len() >= 60, "the script covers at least 60 lines");
    let etcdctl = etcdctl();
    let member = Member::start("diff", false);
    let dead = dead_endpoint();
    let all: Vec<&Line> = SCRIPT.iter().collect();

    let reference = run_script(&etcdctl, &[], true, &member, &dead, false);
    member.reset();
    let mine = run_script(&ours(), &[], false, &member, &dead, false);
    compare(
        "etcd-v2 against etcdctl 3.4",
        &reference,
        &mine,
        &all,
        false,
    );

    // The bridge: the same lines on a fresh member's v3 keyspace, against
    // etcd-v2's own v2 output (indexes differ: the bridge's come from v3
    // revisions, so digits are masked).
    member.reset();
    let bridged: Vec<&Line> = SCRIPT.iter().filter(|l| l.bridge).collect();
    let v2_lines = run_script(&ours(), &[], false, &member, &dead, true);
    member.reset();
    let over_bridge = run_script(&ours(), &["--bridge", "/diff"], false, &member, &dead, true);
    compare(
        "etcd-v2 --bridge against etcd-v2 on v2",
        &v2_lines,
        &over_bridge,
        &bridged,
        true,
    );
}

#[test]
fn the_differences_are_the_listed_ones() {
    let listed = std::fs::read_to_string(support::root().join("README.md")).expect("README.md");
    for line in SCRIPT {
        if let Mode::Differs(why) = line.mode {
            assert!(
                listed.contains(why),
                "README.md lists the difference: {why}"
            );
        }
    }
}
