//! A guided tour of the seed's node, directory and in-order operations, the
//! server and stat operations, and failover.
//!
//! Run it with `bash scripts/demo.sh`, which starts a throwaway three-member
//! cluster, runs this against it, and stops it. Against your own etcd:
//! `cargo run --example demo -- http://127.0.0.1:2379` (it writes under `/demo`;
//! the failover part needs a cluster started by `scripts/etcd.sh` and its state
//! directory as a second argument, because it kills a member).

use std::time::{Duration, Instant};

use etcd_v2::ops::keys::{Get, GetListing};
use etcd_v2::{Client, Error, KeysResponse};

fn show(what: &str, r: &KeysResponse) {
    let value = match (
        r.value(),
        r.prev_node.as_ref().and_then(|p| p.value.as_deref()),
    ) {
        (Some(v), _) => format!("{v:?}"),
        (None, Some(was)) if r.is_deleted() => format!("(deleted, was {was:?})"),
        (None, _) if r.is_deleted() && r.is_directory() => "(deleted directory)".into(),
        (None, _) if r.is_deleted() => "(deleted)".into(),
        (None, _) => "(directory)".into(),
    };
    let ttl = r
        .node
        .ttl
        .map(|t| format!(", ttl {t}s"))
        .unwrap_or_default();
    println!(
        "  {what:<44} -> {:<16} {} = {value}{ttl}  [modifiedIndex {}]",
        r.action.as_str(),
        r.node.key,
        r.node.modified_index
    );
}

fn refused(what: &str, e: &Error) {
    println!("  {what:<44} -> refused: {e}");
}

fn main() -> Result<(), Error> {
    let endpoints = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:2379".into());
    let state_dir = std::env::args().nth(2);
    let client = Client::builder()
        .endpoints(endpoints.split(','))
        .fail_wait(Duration::from_secs(5))
        .build()?;
    let version = client.send_raw(&etcd_v2::ops::raw::RawRequest::unversioned(
        http::Method::GET,
        "/version",
    ))?;
    println!(
        "etcd-v2 demo against {} ({})",
        client.prefix(),
        String::from_utf8_lossy(version.body()).trim()
    );
    // Start clean (ignore "not found").
    let _ = client.directory().delete_recursive("/demo", None);

    println!("\n== node ==");
    let node = client.node();
    show(
        "set /demo/greeting",
        &node.set("/demo/greeting", "hello, world", None)?,
    );
    show("get /demo/greeting", &node.get("/demo/greeting", false)?);
    match node.get("/demo/missing", false) {
        Err(e) if e.is_key_not_found() => refused("get /demo/missing (the seed's KeyError)", &e),
        other => println!("unexpected: {other:?}"),
    }
    show(
        "create_only /demo/owner",
        &node.create_only("/demo/owner", "alice", None)?,
    );
    if let Err(e) = node.create_only("/demo/owner", "bob", None) {
        refused("create_only /demo/owner again", &e);
    }
    show(
        "update_only /demo/owner",
        &node.update_only("/demo/owner", "carol", None)?,
    );
    show(
        "update_if_value carol -> dave",
        &node.update_if_value("/demo/owner", "dave", "carol", None)?,
    );
    if let Err(e) = node.update_if_value("/demo/owner", "erin", "carol", None) {
        refused("update_if_value carol -> erin (stale)", &e);
    }
    let current = node.get("/demo/owner", false)?.node.modified_index;
    show(
        &format!("update_if_index {current}"),
        &node.update_if_index("/demo/owner", "frank", current, None)?,
    );
    show(
        "set /demo/session with ttl 30",
        &node.set("/demo/session", "token", Some(30))?,
    );
    show(
        "refresh /demo/session to ttl 60",
        &node.refresh("/demo/session", 60)?,
    );
    show(
        "set key with awkward characters",
        &node.set("/demo/a b?c#d&e+f;g/\u{e9}", "round-trips", None)?,
    );
    if let Err(e) = node.delete_if_value("/demo/greeting", "goodbye") {
        refused("delete_if_value greeting 'goodbye'", &e);
    }
    show(
        "delete_if_value greeting 'hello, world'",
        &node.delete_if_value("/demo/greeting", "hello, world")?,
    );
    if let Err(e) = node.get("relative/key", false) {
        refused("get relative/key (the seed's ValueError)", &e);
    }

    println!("\n== directory ==");
    let dirs = client.directory();
    show("create /demo/dir", &dirs.create("/demo/dir", None)?);
    if let Err(e) = dirs.create("/demo/dir", None) {
        refused("create /demo/dir again", &e);
    }
    node.set("/demo/dir/child", "x", None)?;
    if let Err(e) = dirs.delete("/demo/dir", None, None) {
        refused("delete non-empty /demo/dir", &e);
    }
    let index = node.get("/demo/dir", false)?.node.modified_index;
    if let Err(e) = dirs.delete_recursive_if_index("/demo/dir", index) {
        refused("delete_recursive_if_index (etcd refuses)", &e);
    }
    show(
        "delete_recursive /demo/dir",
        &dirs.delete_recursive("/demo/dir", None)?,
    );
    show(
        "create /demo/tmp with ttl 10",
        &dirs.create("/demo/tmp", Some(10))?,
    );
    show(
        "delete empty /demo/tmp",
        &dirs.delete("/demo/tmp", None, None)?,
    );

    println!("\n== in-order ==");
    let queue = client.inorder().get_inorder("/demo/queue");
    for job in ["build", "test", "release"] {
        show(&format!("add {job:?}"), &queue.add(job, None)?);
    }
    let items = queue.list()?;
    println!("  list (creation order):");
    for item in &items {
        println!("    {} = {:?}", item.key, item.value_str());
    }
    if let Some(first) = items.first() {
        show("pop the oldest", &queue.pop(&first.key)?);
    }
    println!(
        "  left: {:?}",
        queue
            .list()?
            .iter()
            .map(|n| n.value_str())
            .collect::<Vec<_>>()
    );
    show("delete the queue", &queue.delete()?);

    println!("\n== listing ==");
    let tree = node.get_sorted("/demo", true)?;
    for leaf in tree.node.leaves() {
        println!("  {} = {:?}", leaf.key, leaf.value_str());
    }
    // The same listing with its nodes borrowed from the answer (no copy per
    // key or value): for large trees.
    let borrowed = client.execute(&GetListing::new(
        Get::new("/demo").recursive(true).sorted(true),
    ))?;
    println!(
        "  borrowed: {} nodes, the same leaves: {}",
        borrowed.len(),
        borrowed
            .node()
            .leaves()
            .map(|l| (l.key(), l.value_str()))
            .eq(tree
                .node
                .leaves()
                .iter()
                .map(|l| (l.key.as_str(), l.value_str())))
    );

    println!("\n== server and stats ==");
    let version = client.server().get_version()?;
    println!(
        "  version: server {}, cluster {}",
        version.server, version.cluster
    );
    println!("  machines: {:?}", client.server().get_machines()?);
    println!("  leader: {}", client.server().get_leader_url_prefix()?);
    println!("  healthy: {}", client.server().health()?);
    let stats = client.stat().get_leader_stats()?;
    println!(
        "  leader {} has {} followers",
        stats.leader,
        stats.followers.len()
    );
    let store = client.stat().get_store_stats()?;
    println!(
        "  store: {} sets, {} gets",
        store.sets_success, store.gets_success
    );

    locks_and_leaders(&client)?;

    if let Some(state) = state_dir {
        failover(&client, &endpoints, &state)?;
    }
    dirs.delete_recursive("/demo", None)?;
    println!("\ndone: /demo removed");
    Ok(())
}

/// The seed's modules, blocking: a lock held by a guard that renews it, and a
/// leader campaign.
fn locks_and_leaders(client: &Client) -> Result<(), Error> {
    println!("\n== locks and leader election ==");
    let mut lock = client.module().lock().get_lock("demo-job", 8);
    let mut other = client.module().lock().get_lock("demo-job", 8);
    {
        let guard = lock.lock()?;
        let key = guard
            .keep_alive()
            .map(|k| k.key().to_owned())
            .unwrap_or_default();
        println!("  lock demo-job held (key {key}, TTL 8 s, renewed by the guard)");
        println!(
            "  another contender's try_acquire: {}",
            other.try_acquire()?
        );
        // Past the TTL: held only if the guard renewed it (every third of
        // the TTL, so a busy machine has seconds of slack).
        std::thread::sleep(Duration::from_secs(9));
        println!(
            "  9 s later, past the TTL: still held = {}",
            guard.is_held()
        );
        guard.release()?;
        println!("  released");
    }
    println!(
        "  the other contender's try_acquire now: {}",
        other.try_acquire()?
    );
    other.release()?;

    let leader = client.module().leader();
    let campaign = leader.campaign("/demo/leader", "demo-node-1", 3)?;
    if let Some(etcd_v2::client::LeaderEvent::Elected) =
        campaign.next_event(Duration::from_secs(10))
    {
        println!(
            "  campaign for /demo/leader: elected; leader is {:?}",
            leader.get("/demo/leader")?
        );
    }
    println!(
        "  a second contender waits at most 1 s: elected = {}",
        leader.set_or_renew_timeout("/demo/leader", "demo-node-2", 3, Duration::from_secs(1))?
    );
    campaign.resign();
    println!("  resigned; leader now {:?}", leader.get("/demo/leader")?);
    Ok(())
}

/// Kill the member the client is pinned to and carry on.
fn failover(client: &Client, endpoints: &str, state: &str) -> Result<(), Error> {
    println!("\n== failover ==");
    node_write(client, "before")?;
    let pinned = client.prefix();
    let index = endpoints.split(',').position(|e| e == pinned).unwrap_or(0);
    let leader = client.server().get_leader_url_prefix()?;
    let role = if leader == pinned {
        "the leader"
    } else {
        "a follower"
    };
    println!("  pinned to {pinned} ({role}); killing it with SIGKILL");
    if leader == pinned {
        println!("  (a write made before a new leader is elected waits for etcd's answer, errorCode 300 after ~7 s:");
        println!("   its outcome is unknown, so the client does not resend it; the demo reads back to decide)");
    }
    let status = std::process::Command::new("bash")
        .args([
            "scripts/etcd.sh",
            "kill",
            state,
            &(index + 1).to_string(),
            "KILL",
        ])
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        println!("  could not kill the member ({status:?}); skipping");
        return Ok(());
    }
    // The members still up, for the rest of the tour (scripts/demo.sh reads it).
    let live: Vec<&str> = endpoints.split(',').filter(|e| *e != pinned).collect();
    let _ = std::fs::write(format!("{state}/live-endpoints"), live.join(","));
    let started = Instant::now();
    for i in 0..5 {
        node_write(client, &format!("after-{i}"))?;
    }
    println!(
        "  5 writes and reads after the kill took {:?}; now pinned to {}",
        started.elapsed(),
        client.prefix()
    );
    match client
        .server()
        .health_of(&etcd_v2::Endpoint::parse(&pinned)?)
    {
        Ok(h) => println!("  the killed member reports healthy={h}?"),
        Err(e) => println!("  the killed member: {e}"),
    }
    let members = client.members().list()?;
    println!(
        "  the cluster still lists {} members; writes go on with a quorum of 2",
        members.len()
    );
    Ok(())
}

fn node_write(client: &Client, value: &str) -> Result<(), Error> {
    let started = Instant::now();
    match client.node().set("/demo/failover", value, None) {
        Ok(_) => {}
        // The client never resends a write that may have been applied: it says so,
        // and reading tells. A quorum read, once a new leader serves it, is
        // conclusive: a write it does not show was never committed.
        Err(e) if e.may_have_been_applied() => {
            let why = match e.code() {
                Some(code) => format!("errorCode {}", code.as_u16()),
                None => "no answer".to_owned(),
            };
            println!("  set {value:<9} outcome unknown ({why}); reading back to find out");
            loop {
                match client.node().get_quorum("/demo/failover", false) {
                    Ok(r) if r.value() == Some(value) => {
                        println!("    it was applied");
                        break;
                    }
                    Ok(_) => {
                        println!("    it was not applied: writing again, knowingly");
                        client.node().set("/demo/failover", value, None)?;
                        break;
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(300)),
                }
            }
        }
        Err(e) => return Err(e),
    }
    let read = client.node().get_quorum("/demo/failover", false)?;
    println!(
        "  set {value:<9} via {}  -> read back {:?} (quorum) in {:?}",
        client.prefix(),
        read.value().unwrap_or(""),
        started.elapsed()
    );
    Ok(())
}
