//! The v3 bridge: a program written for etcd v2 runs unchanged on an etcd
//! that no longer serves v2, with one builder call added.
//!
//! `bash scripts/demo.sh` runs it against a v2 cluster and a second member
//! started without v2. By hand: `cargo run --example bridge_tour -- V2_ENDPOINTS
//! V3_ONLY_ENDPOINTS` (it writes under `/tour` on both, and under the v3 prefix
//! `/v2`).

use std::time::Duration;

use etcd_v2::bridge::copy::CopySpec;
use etcd_v2::{Client, Error};

/// A small v2 program: configuration, a work queue, a watch and a lock. It
/// knows nothing of the bridge.
fn v2_program(client: &Client) -> Result<Vec<String>, Error> {
    let mut said = Vec::new();
    let node = client.node();
    let _ = client.directory().delete_recursive("/tour", None);
    let set = node.set("/tour/config/mode", "fast", None)?;
    said.push(format!(
        "set mode: {} at index {}",
        set.action.as_str(),
        set.node.modified_index
    ));
    let cas = node.update_if_value("/tour/config/mode", "safe", "fast", None)?;
    said.push(format!("mode fast -> safe: {}", cas.action.as_str()));
    match node.update_if_value("/tour/config/mode", "x", "fast", None) {
        Err(e) => said.push(format!("a stale compare-and-swap: {e}")),
        Ok(r) => said.push(format!("unexpected: {r:?}")),
    }
    let session = node.set("/tour/session", "token", Some(30))?;
    said.push(format!("a session with ttl {:?}", session.node.ttl));
    let queue = client.inorder().get_inorder("/tour/jobs");
    for job in ["build", "test", "ship"] {
        queue.add(job, None)?;
    }
    let jobs: Vec<String> = queue.list()?.into_iter().filter_map(|n| n.value).collect();
    said.push(format!("queue in order: {jobs:?}"));
    // A watch from the next index sees the next change, even one made before
    // it started waiting.
    let next = node.current_index()? + 1;
    node.set("/tour/config/mode", "careful", None)?;
    let seen = node.wait_from("/tour/config", next, true)?;
    said.push(format!(
        "watched from {next}: {} {} = {:?}",
        seen.action.as_str(),
        seen.node.key,
        seen.value()
    ));
    let mut lock = client.module().lock().get_lock("tour", 5);
    let mut other = client.module().lock().get_lock("tour", 5);
    lock.acquire()?;
    said.push(format!(
        "lock held; another contender gets it: {}",
        other.try_acquire()?
    ));
    lock.release()?;
    said.push(format!(
        "released; now the other gets it: {}",
        other.try_acquire()?
    ));
    other.release()?;
    Ok(said)
}

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let (Some(v2_endpoints), Some(v3_endpoints)) = (args.next(), args.next()) else {
        eprintln!("usage: bridge_tour V2_ENDPOINTS V3_ONLY_ENDPOINTS");
        std::process::exit(2);
    };
    let builder = |endpoints: &str| {
        Client::builder()
            .endpoints(endpoints.split(','))
            .fail_wait(Duration::from_secs(5))
    };
    let v2 = builder(&v2_endpoints).build()?;
    let plain = builder(&v3_endpoints).build()?;
    println!("\n== the v3 bridge: v2 semantics on an etcd without v2 ==");
    match plain.node().get("/", false) {
        Err(e) => println!("  the member at {v3_endpoints} serves no v2: {e}"),
        Ok(_) => println!("  (this member still serves v2; the bridge works the same)"),
    }
    // The one line a v2 program adds.
    let bridge = builder(&v3_endpoints).v3_bridge("/v2").build()?;
    let (on_v2, on_bridge) = (v2_program(&v2)?, v2_program(&bridge)?);
    println!("  the same program, on v2 and over the bridge:");
    for (a, b) in on_v2.iter().zip(&on_bridge) {
        println!("    v2:     {a}");
        println!("    bridge: {b}");
    }

    println!("\n== moving a v2 tree onto the bridge ==");
    let _ = bridge.directory().delete_recursive("/tour", None);
    let spec = CopySpec::new("/tour");
    let report = bridge.copy_tree_from(&v2, &spec, |_| {})?;
    println!(
        "  copied /tour: {} files, {} directories, complete = {}",
        report.files,
        report.directories,
        report.is_complete()
    );
    let again = bridge.copy_tree_from(&v2, &spec, |_| {})?;
    println!(
        "  copied again (idempotent): {} unchanged, {} written",
        again.unchanged, again.files
    );
    let jobs: Vec<String> = bridge
        .inorder()
        .get_inorder("/tour/jobs")
        .list()?
        .into_iter()
        .filter_map(|n| n.value)
        .collect();
    println!("  the queue over the bridge, in order: {jobs:?}");
    Ok(())
}
