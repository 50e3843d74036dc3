//! Locks and leader election against a real etcd, with real processes killed
//! by SIGKILL. Helper processes are this test binary run again on an ignored
//! helper test (`--ignored --exact helper_process`), told what to be by
//! environment variables.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_v2::client::LeaderEvent;
use etcd_v2::Client;
use support::Etcd;

const HELPER_ROLE: &str = "ETCD_V2_HELPER_ROLE";
const HELPER_ENDPOINT: &str = "ETCD_V2_HELPER_ENDPOINT";
const HELPER_NAME: &str = "ETCD_V2_HELPER_NAME";
const HELPER_TTL: &str = "ETCD_V2_HELPER_TTL";

/// Not a test: the body of helper processes (a lock holder, an election
/// contender), with the blocking or the async client. Run only by the tests
/// below, which set its environment.
#[test]
#[ignore = "a helper process for the tests in this file"]
fn helper_process() {
    let role = std::env::var(HELPER_ROLE).expect("run by the recipes tests only");
    let endpoint = std::env::var(HELPER_ENDPOINT).unwrap();
    let name = std::env::var(HELPER_NAME).unwrap();
    let ttl: u64 = std::env::var(HELPER_TTL).unwrap().parse().unwrap();
    let me = std::env::var("ETCD_V2_HELPER_VALUE").unwrap();
    let builder = Client::builder().endpoint(endpoint);
    if std::env::var("ETCD_V2_HELPER_ASYNC").is_ok() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let client = builder.build_async().unwrap();
            match role.as_str() {
                "lock-holder" => {
                    let mut lock = client.module().lock().get_lock(&name, ttl);
                    lock.acquire().await.unwrap();
                    let _alive = lock.keep_alive().unwrap();
                    println!("HELD {}", lock.key().unwrap());
                    std::future::pending::<()>().await;
                }
                "contender" => {
                    let campaign = client.module().leader().campaign(&name, &me, ttl).unwrap();
                    loop {
                        match campaign.next_event(Duration::from_secs(60)).await {
                            Some(LeaderEvent::Elected) => println!("ELECTED {me}"),
                            Some(LeaderEvent::Lost(e)) => println!("LOST {me} {e}"),
                            _ => {}
                        }
                    }
                }
                other => panic!("unknown helper role {other}"),
            }
        });
        return;
    }
    if role == "paused-leader" || role == "paused-holder" {
        paused_helper(&role, builder, &name, ttl);
        return;
    }
    let client = builder.build().unwrap();
    match role.as_str() {
        "lock-holder" => {
            let mut lock = client.module().lock().get_lock(&name, ttl);
            lock.acquire().unwrap();
            let _alive = lock.keep_alive().unwrap();
            println!("HELD {}", lock.key().unwrap());
            loop {
                std::thread::sleep(Duration::from_secs(60));
            }
        }
        "contender" => {
            let campaign = client.module().leader().campaign(&name, &me, ttl).unwrap();
            loop {
                match campaign.next_event(Duration::from_secs(60)) {
                    Some(LeaderEvent::Elected) => println!("ELECTED {me}"),
                    Some(LeaderEvent::Lost(e)) => println!("LOST {me} {e}"),
                    _ => {}
                }
            }
        }
        other => panic!("unknown helper role {other}"),
    }
}

/// Whether the helper's campaign leads, or its lock is held, right now.
static HOLDING: std::sync::OnceLock<Box<dyn Fn() -> bool + Send + Sync>> =
    std::sync::OnceLock::new();

/// A transport that prints every request it sends, with whether the helper
/// held its lock or leadership at that moment.
struct Announcing(etcd_v2::transports::ureq::UreqTransport);

impl etcd_v2::Transport for Announcing {
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
        timeout: Option<Duration>,
    ) -> Result<http::Response<Vec<u8>>, etcd_v2::TransportError> {
        let holding = HOLDING.get().map(|h| h());
        println!(
            "SEND {} {} holding={holding:?}",
            request.method(),
            request.uri().path()
        );
        self.0.send(request, timeout)
    }
}

/// A helper that holds leadership (a campaign) or a lock (a guard with its
/// keep-alive) and prints `HOLDING true|false` whenever that changes, its
/// events, and every request it sends: the test pauses it with SIGSTOP past its
/// TTL and looks at what it says when it resumes.
fn paused_helper(role: &str, builder: etcd_v2::ClientBuilder, name: &str, ttl: u64) {
    let client = builder
        .build_from(|o| {
            Ok(Announcing(etcd_v2::transports::ureq::UreqTransport::new(
                o,
            )?))
        })
        .unwrap();
    let mut last = None;
    let mut report = |holding: bool| {
        if last != Some(holding) {
            println!("HOLDING {holding}");
            last = Some(holding);
        }
    };
    if role == "paused-leader" {
        let campaign = Arc::new(
            client
                .module()
                .leader()
                .campaign(name, "paused", ttl)
                .unwrap(),
        );
        let c = Arc::clone(&campaign);
        let _ = HOLDING.set(Box::new(move || c.is_leader()));
        loop {
            report(campaign.is_leader());
            match campaign.next_event(Duration::from_millis(5)) {
                Some(LeaderEvent::Elected) => println!("ELECTED"),
                Some(LeaderEvent::Lost(e)) => println!("LOST {e}"),
                _ => {}
            }
        }
    }
    let lock = Arc::new(std::sync::Mutex::new(
        client.module().lock().get_lock(name, ttl),
    ));
    lock.lock().unwrap().acquire().unwrap();
    let alive = lock.lock().unwrap().keep_alive().unwrap();
    let l = Arc::clone(&lock);
    let _ = HOLDING.set(Box::new(move || l.lock().unwrap().is_held()));
    println!("HELD");
    loop {
        report(lock.lock().unwrap().is_held());
        if let Some(e) = alive.wait_lost(Duration::from_millis(5)) {
            println!("LOST {e}");
        }
    }
}

/// A helper process and the lines it prints.
struct Helper {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Helper {
    fn start(
        role: &str,
        endpoint: &str,
        name: &str,
        ttl: u64,
        value: &str,
        async_client: bool,
    ) -> Helper {
        let mut command = Command::new(std::env::current_exe().unwrap());
        if async_client {
            command.env("ETCD_V2_HELPER_ASYNC", "1");
        }
        let mut child = command
            .args([
                "--ignored",
                "--exact",
                "helper_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HELPER_ROLE, role)
            .env(HELPER_ENDPOINT, endpoint)
            .env(HELPER_NAME, name)
            .env(HELPER_TTL, ttl.to_string())
            .env("ETCD_V2_HELPER_VALUE", value)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Helper { child, lines }
    }

    /// The next line starting with `prefix`, within `timeout`.
    fn expect(&self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                // libtest prints "test helper_process ... " with no newline first.
                Ok(line) if line.contains(prefix) => {
                    return line[line.find(prefix).unwrap_or(0)..].to_owned()
                }
                Ok(_) => continue,
                Err(_) => panic!("no {prefix:?} line within {timeout:?}"),
            }
        }
    }

    /// The election events printed so far (`ELECTED x`, `LOST x ...`).
    fn drain(&self) -> Vec<String> {
        self.lines
            .try_iter()
            .filter_map(|l| {
                ["ELECTED", "LOST"]
                    .iter()
                    .find_map(|m| l.find(m).map(|i| l[i..].to_owned()))
            })
            .collect()
    }

    fn kill(&mut self) {
        self.child.kill().unwrap(); // SIGKILL on Unix
        self.child.wait().unwrap();
    }

    /// Send `signal` (e.g. "STOP", "CONT").
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal}");
    }

    /// Every line printed so far.
    fn pending_lines(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

etcd_test!(
    eight_threads_or_tasks_count_to_400_under_the_lock,
    standalone,
    |_p| {
        let etcd = Etcd::own();
        let counter = "/counter/value";
        let setup = support::client_for(&etcd);
        setup.node().set(counter, "0", None).unwrap();
        let holders = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for _ in 0..8 {
            let client = build!(support::builder_for(&etcd));
            let holders = Arc::clone(&holders);
            handles.push(spawn!({
                let mut lock = client.module().lock().get_lock("counter", 10);
                for _ in 0..50 {
                    let guard = call!(lock.lock()).unwrap();
                    assert_eq!(
                        holders.fetch_add(1, Ordering::SeqCst),
                        0,
                        "two holders at once"
                    );
                    // A plain read then write: only the lock keeps this correct.
                    let read = call!(client.node().get(counter, false)).unwrap();
                    let n: u64 = read.value().unwrap().parse().unwrap();
                    call!(client.node().set(counter, &(n + 1).to_string(), None)).unwrap();
                    holders.fetch_sub(1, Ordering::SeqCst);
                    drop(guard);
                }
            }));
        }
        let started = Instant::now();
        for h in handles {
            join!(h);
        }
        eprintln!(
            "400 locked increments by 8 contenders in {:?}",
            started.elapsed()
        );
        assert_eq!(
            setup.node().get(counter, false).unwrap().value(),
            Some("400")
        );
        // The last guard's release may still be on its way (an async guard releases
        // in the background).
        let deadline = Instant::now() + Duration::from_secs(5);
        while !setup
            .node()
            .get("/_locks/counter", false)
            .unwrap()
            .children()
            .is_empty()
        {
            assert!(Instant::now() < deadline, "a lock key was left behind");
            sleep!(Duration::from_millis(20));
        }
    }
);

etcd_test!(
    a_sigkilled_holder_loses_the_lock_after_its_ttl,
    standalone,
    |_p| {
        let etcd = Etcd::start(1);
        // Refreshed every third of it: only a refresh slower than 5.3 s on a
        // loaded machine would lose it before the kill.
        let ttl = 8;
        let mut holder = Helper::start(
            "lock-holder",
            etcd.endpoint(),
            "crash",
            ttl,
            "",
            is_async!(),
        );
        let held = holder.expect("HELD ", Duration::from_secs(20));
        let holder_key = held.trim_start_matches("HELD ").to_owned();
        let client = build!(support::builder_for(&etcd));
        let mut lock = client.module().lock().get_lock("crash", 10);
        assert!(!call!(lock.try_acquire()).unwrap(), "the helper holds it");
        // The holder keeps its lock alive past its TTL while it lives.
        sleep!(Duration::from_secs(ttl + 1));
        let holder_value = call!(client.node().get(&holder_key, false))
            .unwrap()
            .node
            .value;
        assert_eq!(call!(lock.get_active_value()).unwrap(), holder_value);
        let waiter = spawn!({
            // Bounded, so that a lock never taken over fails the test rather
            // than hanging it.
            let got = call!(lock.acquire_timeout(Duration::from_secs(ttl + 20))).unwrap();
            assert!(got, "the waiter never took the lock over");
            (Instant::now(), lock)
        });
        sleep!(Duration::from_millis(500));
        holder.kill();
        let killed = Instant::now();
        let (acquired, mut lock) = join!(waiter);
        let after = acquired - killed;
        eprintln!(
            "the next waiter held the lock {after:?} after the holder was killed (TTL {ttl} s)"
        );
        // Generous on a busy machine: the point is a takeover once the TTL
        // has run out, rather than never.
        assert!(after <= Duration::from_secs(ttl + 10), "{after:?}");
        assert!(call!(client.node().get(&holder_key, false))
            .unwrap_err()
            .is_key_not_found());
        call!(lock.release()).unwrap();
    }
);

etcd_test!(
    three_contenders_elect_exactly_one_leader_and_recover_from_a_killed_one,
    standalone,
    |_p| {
        let etcd = Etcd::start(1);
        // Refreshed every third of it: only a refresh slower than 5.3 s on a
        // loaded machine would lose it while watched.
        let ttl = 8;
        let key = "/election/leader";
        let names = ["alpha", "beta", "gamma"];
        let mut contenders: Vec<Helper> = names
            .iter()
            .map(|v| Helper::start("contender", etcd.endpoint(), key, ttl, v, is_async!()))
            .collect();
        let client = build!(support::builder_for(&etcd));
        let leader_ops = client.module().leader();
        let start = Instant::now();
        let mut leader = None;
        while leader.is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "nobody was elected"
            );
            leader = call!(leader_ops.get(key)).unwrap();
            sleep!(Duration::from_millis(50));
        }
        let leader = leader.unwrap();
        // While the leader renews, exactly one leader, past its TTL.
        let watch_until = Instant::now() + Duration::from_secs(ttl + 4);
        while Instant::now() < watch_until {
            assert_eq!(
                call!(leader_ops.get(key)).unwrap().as_deref(),
                Some(leader.as_str())
            );
            sleep!(Duration::from_millis(100));
        }
        // The contenders' reports of their own election since last asked.
        let elections = |contenders: &[Helper]| -> Vec<String> {
            contenders
                .iter()
                .flat_map(|c| c.drain())
                .filter(|l| l.starts_with("ELECTED"))
                .collect()
        };
        let mut elected = elections(&contenders);
        assert_eq!(elected, [format!("ELECTED {leader}")], "one election only");
        // Kill the leader's process: another takes over once its TTL has run out (generously bounded).
        let i = names.iter().position(|v| *v == leader).unwrap();
        contenders[i].kill();
        let killed = Instant::now();
        let mut new_leader = None;
        while new_leader.is_none() {
            assert!(
                killed.elapsed() <= Duration::from_secs(ttl + 10),
                "no new leader within TTL + 10 s"
            );
            new_leader = call!(leader_ops.get(key)).unwrap().filter(|l| *l != leader);
            sleep!(Duration::from_millis(20));
        }
        let took = killed.elapsed();
        eprintln!("new leader {new_leader:?} {took:?} after the leader was killed (TTL {ttl} s)");
        // The new leader's own report may lag its key on a busy machine:
        // wait for it, then a little more for any second (wrong) one.
        elected = Vec::new();
        let reported = Instant::now() + Duration::from_secs(10);
        while elected.is_empty() && Instant::now() < reported {
            sleep!(Duration::from_millis(50));
            elected.extend(elections(&contenders));
        }
        sleep!(Duration::from_millis(500));
        elected.extend(elections(&contenders));
        assert_eq!(
            elected,
            [format!("ELECTED {}", new_leader.unwrap())],
            "exactly one new leader"
        );
    }
);

// Both sides of the TTL bound on the server (etcd 3.4 and 3.5, MemoryEtcd and
// the bridge): the longest TTL the recipes take is kept as given; one more
// second is refused before anything is sent.
etcd_test!(recipes_keep_the_longest_ttl_and_refuse_one_more, |c, p| {
    let max = etcd_v2::ops::MAX_TTL;
    let name = p.key("maxttl").trim_start_matches('/').replace('/', "-");
    let kept = |ttl: Option<i64>| {
        let ttl = ttl.expect("a TTL");
        assert!(
            (max as i64 - 60..=max as i64).contains(&ttl),
            "a TTL of {max} s came back as {ttl} s"
        );
    };

    let mut lock = c.module().lock().get_lock(&name, max);
    assert!(call!(lock.try_acquire()).unwrap());
    let listing = call!(c.node().get(&format!("/_locks/{name}"), true)).unwrap();
    let holders = listing.node.children.unwrap_or_default();
    assert_eq!(holders.len(), 1, "{holders:?}");
    kept(holders[0].ttl);
    call!(lock.renew(max)).unwrap();
    assert!(call!(lock.renew(max + 1)).unwrap_err().is_invalid_input());
    call!(lock.release()).unwrap();
    let mut over = c.module().lock().get_lock(&name, max + 1);
    assert!(call!(over.try_acquire()).unwrap_err().is_invalid_input());

    let key = p.key("maxleader");
    let leader = c.module().leader();
    call!(leader.set_or_renew(&key, "me", max)).unwrap();
    kept(call!(c.node().get(&key, false)).unwrap().node.ttl);
    assert!(call!(leader.set_or_renew(&key, "me", max + 1))
        .unwrap_err()
        .is_invalid_input());
    kept(call!(c.node().get(&key, false)).unwrap().node.ttl);
});

etcd_test!(reentrant_locks_by_instance_value, |c, p| {
    let name = p.key("rlock").trim_start_matches('/').replace('/', "-");
    let mut first = c.module().lock().get_rlock(&name, "worker-1", 30);
    let mut again = c.module().lock().get_rlock(&name, "worker-1", 30);
    let mut other = c.module().lock().get_rlock(&name, "worker-2", 30);
    call!(first.acquire()).unwrap();
    call!(again.acquire()).unwrap();
    assert_eq!(
        first.key(),
        again.key(),
        "the holder acquires again without blocking"
    );
    assert!(!call!(other.try_acquire()).unwrap());
    assert_eq!(
        call!(other.get_active_value()).unwrap().as_deref(),
        Some("worker-1")
    );
    let index = call!(other.get_active_index()).unwrap().unwrap();
    assert!(first.key().unwrap().ends_with(&format!("{index:020}")));
    // Release by value, from any handle with that value.
    let mut by_value = c.module().lock().get_rlock(&name, "worker-1", 30);
    call!(by_value.release()).unwrap();
    assert!(call!(other.try_acquire()).unwrap());
    assert_eq!(
        call!(first.get_active_value()).unwrap().as_deref(),
        Some("worker-2")
    );
    call!(other.release()).unwrap();
    assert_eq!(call!(other.get_active_index()).unwrap(), None);
});

etcd_test!(lock_timeouts_guards_renewal_and_loss, |c, p| {
    let name = p.key("lk").trim_start_matches('/').replace('/', "-");
    let mut holder = c.module().lock().get_lock(&name, 30);
    let mut waiter = c.module().lock().get_lock(&name, 30);
    call!(holder.acquire()).unwrap();
    assert!(holder.is_held());
    let started = Instant::now();
    assert!(!call!(waiter.acquire_timeout(Duration::from_millis(700))).unwrap());
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    assert_eq!(
        call!(waiter.get_active_index())
            .unwrap()
            .map(|i| format!("{i:020}")),
        holder
            .key()
            .map(|k| k.rsplit('/').next().unwrap().to_owned())
    );
    call!(holder.renew(60)).unwrap();
    call!(holder.release()).unwrap();
    assert!(!holder.is_held());
    {
        let guard = call!(waiter.lock()).unwrap();
        drop(guard);
    }
    // The guard released on drop (an async guard, in the background), long
    // before its 30 s TTL would end it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while call!(waiter.get_active_index()).unwrap().is_some() {
        assert!(
            Instant::now() < deadline,
            "the guard did not release on drop"
        );
        sleep!(Duration::from_millis(20));
    }
    // A holder whose key is deleted behind its back learns it when renewing.
    call!(holder.acquire()).unwrap();
    let key = holder.key().unwrap().to_owned();
    call!(c.node().delete(&key, None, None)).unwrap();
    let err = call!(holder.renew(30)).unwrap_err();
    assert!(matches!(err, etcd_v2::Error::LockLost { .. }), "{err}");
    let mut nameless = c.module().lock().get_lock("", 5);
    let err = call!(nameless.try_acquire()).unwrap_err();
    assert!(err.is_invalid_input());
});

etcd_test!(a_keep_alive_renews_and_reports_loss, |c, p| {
    let name = p.key("ka").trim_start_matches('/').replace('/', "-");
    // A 10 s TTL, renewed every 3.3 s and lost only if a refresh takes over
    // 6.6 s: on a busy CI machine a 1 s TTL was lost (a write took longer than
    // the 667 ms it left), and so was a 3 s one, on etcd 3.5 (a refresh took
    // over 2 s). Sleeping past the TTL shows that the renewals happen.
    let mut lock = c.module().lock().get_lock(&name, 10);
    call!(lock.acquire()).unwrap();
    let alive = lock.keep_alive().unwrap();
    sleep!(Duration::from_secs(12));
    assert!(
        !alive.is_lost(),
        "renewed past its 10 s TTL: {:?}",
        alive.lost_reason()
    );
    assert!(call!(c.node().get(lock.key().unwrap(), false)).is_ok());
    call!(c.node().delete(lock.key().unwrap(), None, None)).unwrap();
    let lost = call!(alive.wait_lost(Duration::from_secs(15))).expect("loss is reported");
    assert!(matches!(lost, etcd_v2::Error::LockLost { .. }), "{lost}");
    assert!(alive.is_lost());
});

etcd_test!(leader_set_or_renew_get_delete_and_observe, |c, p| {
    let key = p.key("leader");
    let leader = c.module().leader();
    assert_eq!(call!(leader.get(&key)).unwrap(), None);
    call!(leader.set_or_renew(&key, "a", 30)).unwrap();
    assert_eq!(call!(leader.get(&key)).unwrap().as_deref(), Some("a"));
    call!(leader.set_or_renew(&key, "a", 30)).unwrap(); // renews
    assert!(
        !call!(leader.set_or_renew_timeout(&key, "b", 30, Duration::from_millis(500))).unwrap()
    );
    assert!(
        !call!(leader.delete(&key, "b")).unwrap(),
        "b is not the leader"
    );
    let mut observe = c.module().leader().observe(&key);
    assert!(
        matches!(call!(observe.next()), Some(Ok(LeaderEvent::Changed(Some(ref v)))) if v == "a")
    );
    let contender = support::client();
    let k2 = key.clone();
    let handle = std::thread::spawn(move || contender.module().leader().set_or_renew(&k2, "b", 30));
    sleep!(Duration::from_millis(300));
    assert!(call!(leader.delete(&key, "a")).unwrap(), "a resigns");
    handle.join().unwrap().unwrap();
    assert_eq!(call!(leader.get(&key)).unwrap().as_deref(), Some("b"));
    let mut changes: Vec<Option<String>> = Vec::new();
    for _ in 0..2 {
        match call!(observe.next()) {
            Some(Ok(LeaderEvent::Changed(v))) => changes.push(v),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(changes, [None, Some("b".to_owned())]);
});

etcd_test!(a_campaign_reports_election_and_resigns_on_drop, |c, p| {
    let key = p.key("campaign");
    // A 10 s TTL, refreshed every third of it: a refresh would have to take
    // over 6.6 s on a loaded machine to lose it within the 12 s slept.
    let campaign = c.module().leader().campaign(&key, "me", 10).unwrap();
    assert!(matches!(
        call!(campaign.next_event(Duration::from_secs(10))),
        Some(LeaderEvent::Elected)
    ));
    assert!(campaign.is_leader());
    sleep!(Duration::from_secs(12));
    assert!(campaign.is_leader(), "kept alive past its TTL");
    assert_eq!(
        call!(c.module().leader().get(&key)).unwrap().as_deref(),
        Some("me")
    );
    drop(campaign);
    // Resigned on drop (an async campaign resigns in the background): within
    // 4 s, well before the key would expire (at least 6.6 s of its TTL are
    // left when its refreshes are on time, as `is_leader` just showed).
    let deadline = Instant::now() + Duration::from_secs(4);
    while call!(c.module().leader().get(&key)).unwrap().is_some() {
        assert!(
            Instant::now() < deadline,
            "the campaign did not resign on drop"
        );
        sleep!(Duration::from_millis(20));
    }
    // Explicit resignation waits until done.
    let again = c.module().leader().campaign(&key, "me-too", 10).unwrap();
    assert!(matches!(
        call!(again.next_event(Duration::from_secs(10))),
        Some(LeaderEvent::Elected)
    ));
    call!(again.resign());
    assert_eq!(call!(c.module().leader().get(&key)).unwrap(), None);
});

/// python-etcd's `etcd.Lock`, run by the Python `scripts/python-etcd.sh`
/// provides (`ETCD_V2_PYTHON`, set by scripts/test.sh; else the script is run
/// here, installing python-etcd if it is missing).
fn python_lock(endpoint: &str, name: &str, mode: &str) -> Child {
    let authority = support::authority(endpoint);
    let (host, port) = authority.rsplit_once(':').unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/fixtures/python_lock.py");
    let python = std::env::var("ETCD_V2_PYTHON").unwrap_or_else(|_| {
        let out = Command::new("bash")
            .arg(root.join("scripts/python-etcd.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/python-etcd.sh");
        assert!(
            out.status.success(),
            "this test needs python-etcd 0.4.5: bash scripts/python-etcd.sh could not provide it (see above)"
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    });
    let probe = Command::new(&python).args(["-c", "import etcd"]).status();
    assert!(
        matches!(probe, Ok(s) if s.success()),
        "{python} cannot import python-etcd (bash scripts/python-etcd.sh provides one that can)"
    );
    Command::new(&python)
        .arg(script)
        .args([host, port, name, mode])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

fn read_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.trim().to_owned()
}

etcd_test!(
    rust_and_python_etcd_contend_for_the_same_lock,
    standalone,
    |_p| {
        use std::io::Write;
        let etcd = Etcd::start(1);
        let client = build!(support::builder_for(&etcd));

        // Python holds the lock: Rust sees Python's uuid as the holder and waits.
        let mut python = python_lock(etcd.endpoint(), "shared", "hold");
        let held = read_line(&mut python);
        let mut words = held.split(' ');
        assert_eq!(words.next(), Some("HELD"), "{held}");
        let (uuid, py_key) = (
            words.next().unwrap().to_owned(),
            words.next().unwrap().to_owned(),
        );
        assert!(py_key.starts_with("/_locks/shared/"), "{py_key}");
        let mut rust = client.module().lock().get_lock("shared", 30);
        assert!(!call!(rust.try_acquire()).unwrap());
        assert_eq!(
            call!(rust.get_active_value()).unwrap().as_deref(),
            Some(uuid.as_str())
        );
        let waiting = Arc::new(AtomicUsize::new(1));
        let flag = Arc::clone(&waiting);
        let waiter = spawn!({
            call!(rust.acquire()).unwrap();
            flag.store(0, Ordering::SeqCst);
            rust
        });
        sleep!(Duration::from_millis(500));
        assert_eq!(waiting.load(Ordering::SeqCst), 1, "Rust waits for Python");
        writeln!(python.stdin.as_mut().unwrap()).unwrap();
        assert_eq!(read_line(&mut python), "RELEASED");
        python.wait().unwrap();
        let mut rust = join!(waiter);
        assert!(rust.is_held());

        // Rust holds it: Python cannot take it.
        let mut python = python_lock(etcd.endpoint(), "shared", "try");
        assert_eq!(read_line(&mut python), "TRY False");
        python.wait().unwrap();
        call!(rust.release()).unwrap();
        let mut python = python_lock(etcd.endpoint(), "shared", "try");
        assert_eq!(read_line(&mut python), "TRY True");
        python.wait().unwrap();
    }
);

/// A holder (leader or lock holder, TTL 5 s) paused with SIGSTOP while a
/// successor takes over (once its key expires), then resumed: from its first look after resuming it
/// knows it lost. No request it sends after resuming goes out while it still
/// believes it holds, and it reports the loss.
fn a_paused_holder_knows_it_lost_as_soon_as_it_resumes(role: &str, ready: &str) {
    let etcd = Etcd::start(1);
    // Refreshed every third of it: only a refresh slower than 3.3 s on a
    // loaded machine would lose it before the pause.
    let ttl = 5;
    let name = "/paused/leader";
    let lock_name = "paused";
    let target = if role == "paused-leader" {
        name
    } else {
        lock_name
    };
    let helper = Helper::start(role, etcd.endpoint(), target, ttl, "", false);
    helper.expect(ready, Duration::from_secs(20));
    helper.expect("HOLDING true", Duration::from_secs(20));
    let client = support::client_for(&etcd);
    helper.signal("STOP");
    let stopped = Instant::now();
    // The successor takes over once the paused holder's key expires.
    let took_over = if role == "paused-leader" {
        client
            .module()
            .leader()
            .set_or_renew_timeout(name, "successor", 30, Duration::from_secs(20))
            .unwrap()
    } else {
        let mut lock = client.module().lock().get_lock(lock_name, 30);
        let got = lock.acquire_timeout(Duration::from_secs(20)).unwrap();
        std::mem::forget(lock); // keep holding it while the helper resumes
        got
    };
    assert!(took_over, "the successor took over from the paused holder");
    eprintln!(
        "the successor took over {:?} after the pause",
        stopped.elapsed()
    );
    let before = helper.pending_lines();
    assert!(
        !before.iter().any(|l| l.contains("HOLDING false")),
        "{before:?}"
    );
    helper.signal("CONT");
    // Read what it says after resuming, until it reports the loss.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut after = Vec::new();
    let seen = |after: &[String], what: &str| after.iter().any(|l| l.contains(what));
    while !seen(&after, "LOST") || !seen(&after, "HOLDING false") {
        let left = deadline.saturating_duration_since(Instant::now());
        match helper.lines.recv_timeout(left) {
            Ok(line) => after.push(line),
            Err(_) => panic!("no loss reported after resuming: {after:?}"),
        }
    }
    // Every request sent after resuming (the first one included: it knew
    // before any round trip) went out while it already knew it had lost.
    for send in after.iter().filter(|l| l.contains("SEND")) {
        assert!(
            send.contains("holding=Some(false)"),
            "a request went out while it still believed it held: {after:?}"
        );
    }
    eprintln!("after resuming, the helper said: {after:?}");
}

#[test]
fn a_paused_leader_knows_it_lost_as_soon_as_it_resumes() {
    a_paused_holder_knows_it_lost_as_soon_as_it_resumes("paused-leader", "ELECTED");
}

#[test]
fn a_paused_lock_holder_knows_it_lost_as_soon_as_it_resumes() {
    a_paused_holder_knows_it_lost_as_soon_as_it_resumes("paused-holder", "HELD");
}

etcd_test!(
    a_lock_guard_keeps_the_lock_alive_and_reports_its_loss,
    |c, p| {
        let name = p.key("guard").trim_start_matches('/').replace('/', "-");
        // 10 s, and 12 s of sleep: see a_keep_alive_renews_and_reports_loss.
        let mut lock = c.module().lock().get_lock(&name, 10);
        let guard = call!(lock.lock()).unwrap();
        sleep!(Duration::from_secs(12));
        assert!(
            guard.is_held(),
            "renewed past its 10 s TTL by the guard alone: {:?}",
            guard.lost_reason()
        );
        let alive = guard.keep_alive().expect("the guard renews");
        let key = alive.key().to_owned();
        assert!(call!(c.node().get(&key, false)).is_ok());
        call!(c.node().delete(&key, None, None)).unwrap();
        let lost = call!(alive.wait_lost(Duration::from_secs(15))).expect("loss is reported");
        assert!(matches!(lost, etcd_v2::Error::LockLost { .. }), "{lost}");
        assert!(!guard.is_held());
        let err = call!(guard.release()).unwrap_err();
        assert!(matches!(err, etcd_v2::Error::LockLost { .. }), "{err}");
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_async_acquisition_removes_its_key() {
    let etcd = Etcd::start(1);
    let holder_client = support::client_for(&etcd);
    let mut holder = holder_client.module().lock().get_lock("dropped", 30);
    tokio::task::spawn_blocking(move || {
        holder.acquire().unwrap();
        holder
    })
    .await
    .unwrap();
    let client = support::builder_for(&etcd).build_async().unwrap();
    let mut waiter = client.module().lock().get_lock("dropped", 30);
    // Dropped once its contender key is in the queue (a fixed delay could
    // drop it while the key's creation is still on its way, on a busy
    // machine).
    let queued = async {
        loop {
            let keys = client.node().get("/_locks/dropped", false).await.unwrap();
            if keys.children().len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let waited = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::select! {
            acquired = waiter.acquire() => Some(acquired),
            () = queued => None,
        }
    })
    .await;
    assert!(
        matches!(waited, Ok(None)),
        "the holder still holds it, and the waiter queued: {waited:?}"
    );
    // The abandoned contender's key goes at once, not after its 30 s TTL.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let keys = client.node().get("/_locks/dropped", false).await.unwrap();
        if keys.children().len() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "{:?}", keys.children());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The default transport, counting the requests sent through it.
struct Counting {
    inner: etcd_v2::DefaultTransport,
    sent: Arc<AtomicUsize>,
}

impl etcd_v2::Transport for Counting {
    fn send(
        &self,
        request: etcd_v2::HttpRequest,
        timeout: Option<Duration>,
    ) -> etcd_v2::HttpResult {
        self.sent.fetch_add(1, Ordering::SeqCst);
        self.inner.send(request, timeout)
    }

    fn send_streaming(
        &self,
        request: etcd_v2::HttpRequest,
        timeout: Option<Duration>,
        line: &mut dyn FnMut(&[u8]) -> etcd_v2::Flow,
    ) -> etcd_v2::HttpResult {
        self.sent.fetch_add(1, Ordering::SeqCst);
        self.inner.send_streaming(request, timeout, line)
    }

    fn send_keeping_cluster_headers(
        &self,
        request: etcd_v2::HttpRequest,
        timeout: Option<Duration>,
    ) -> etcd_v2::HttpResult {
        self.sent.fetch_add(1, Ordering::SeqCst);
        self.inner.send_keeping_cluster_headers(request, timeout)
    }
}

#[test]
fn a_contender_behind_a_key_older_than_the_history_waits_rather_than_spins() {
    // The holder's key and the leader's last changed over 1000 events ago
    // (etcd keeps 1000), so a wait from their modifiedIndex + 1 is refused
    // with errorCode 401. The machines used to read and wait from that index
    // again, round trip after round trip, until the key changed: hundreds of
    // requests a second. They wait from the read's index now, and send a
    // handful before their deadline. A member of its own: the writes would
    // push the shared member's history past other tests' waits.
    let etcd = support::Etcd::own_backend();
    let c = support::backend_builder_for(&etcd).build().unwrap();
    let p = support::Prefix::new("history");
    let name = p.dir().trim_start_matches("/t/").to_owned();
    let holder = format!("/_locks/{name}/00000000000000000001");
    let leader = p.key("leader");
    c.node().set(&holder, "holder", Some(120)).unwrap();
    c.node().set(&leader, "holder", Some(120)).unwrap();
    for i in 0..1100 {
        c.node()
            .set(&p.key("filler"), &i.to_string(), None)
            .unwrap();
    }
    let sent = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&sent);
    let contender = support::backend_builder_for(&etcd)
        .build_from(move |options| {
            Ok(Counting {
                inner: etcd_v2::DefaultTransport::new(options)?,
                sent: counted,
            })
        })
        .unwrap();
    let mut lock = contender.module().lock().get_lock(&name, 30);
    assert!(!lock.acquire_timeout(Duration::from_secs(3)).unwrap());
    let by_the_lock = sent.swap(0, Ordering::SeqCst);
    assert!(!contender
        .module()
        .leader()
        .set_or_renew_timeout(&leader, "me", 30, Duration::from_secs(3))
        .unwrap());
    let by_the_campaign = sent.load(Ordering::SeqCst);
    // Over etcd v2: the lock creates, lists, waits, deletes; the campaign
    // creates, reads, waits. Over the v3 bridge each is a few v3 requests.
    assert!(by_the_lock < 60, "the lock sent {by_the_lock} requests");
    assert!(
        by_the_campaign < 60,
        "the campaign sent {by_the_campaign} requests"
    );
    let listing = c.node().get(&format!("/_locks/{name}"), false).unwrap();
    assert_eq!(listing.children().len(), 1, "{:?}", listing.children());
    c.node().delete(&holder, None, None).unwrap();
}
