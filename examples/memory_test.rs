//! Testing code that uses etcd with MemoryEtcd: no etcd process, no network,
//! no sleeping. Three things a test of your own might do:
//!
//! 1. two workers bump a lock-protected counter while the leader crashes;
//! 2. a key's TTL runs out on a virtual clock;
//! 3. a write whose answer is lost: the client does not resend it, and the test
//!    sees it was applied.
//!
//! Run: `cargo run --example memory_test --features memory`

use std::time::{Duration, Instant};

use etcd_v2::memory::{Fault, FaultRule, MemoryEtcd};
use etcd_v2::{Client, Error, ErrorKind, Transport};

/// The code under test: add one to `/counter`, under the lock "counter".
///
/// A write sent while the cluster elects a leader can time out and may or may
/// not have been applied ([`Error::may_have_been_applied`]); the client never
/// resends it by itself. A compare-and-swap on the value read is safe to send
/// again: if the first one was applied, the second fails and the value shows it.
fn increment<T: Transport + Clone + Send + Sync + 'static>(
    client: &Client<T>,
) -> Result<u64, Error> {
    let mut lock = client.module().lock().get_lock("counter", 10);
    let _held = lock.lock()?; // renewed in the background, released on drop
    let read = || match client.node().get("/counter", false) {
        Ok(r) => Ok(r.node.value.unwrap_or_default().parse().unwrap_or(0)),
        Err(e) if e.is_key_not_found() => Ok(0),
        Err(e) => Err(e),
    };
    let n: u64 = read()?;
    let (old, new) = (n.to_string(), (n + 1).to_string());
    loop {
        let exists = Some(n > 0);
        let old = (n > 0).then_some(old.as_str());
        match client
            .node()
            .compare_and_swap("/counter", &new, old, None, exists, None)
        {
            Ok(_) => return Ok(n + 1),
            Err(e) if e.may_have_been_applied() || e.is_precondition_failed() => {
                if read()? == n + 1 {
                    return Ok(n + 1); // the first one was applied
                }
            }
            Err(e) => return Err(e),
        }
    }
}

fn client(etcd: &MemoryEtcd) -> Result<Client<MemoryEtcd>, Error> {
    Client::builder()
        .endpoints(etcd.endpoints())
        .build_with(etcd.clone())
}

fn counter_under_a_leader_crash() -> Result<(), Error> {
    let etcd = MemoryEtcd::builder().members(3).virtual_time(true).build();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let c = client(&etcd)?;
            Ok(std::thread::spawn(move || -> Result<(), Error> {
                for _ in 0..10 {
                    increment(&c)?;
                }
                Ok(())
            }))
        })
        .collect::<Result<_, Error>>()?;
    // Half way, the leader (member 0) crashes: requests to it are refused, and
    // the two others elect a new leader one (virtual) second later.
    let count = |etcd: &MemoryEtcd| etcd.value("/counter").and_then(|v| v.parse::<u64>().ok());
    while count(&etcd).unwrap_or(0) < 10 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let crashed = etcd.crash_leader();
    for w in workers {
        w.join().expect("a worker panicked")?;
    }
    assert_eq!(
        count(&etcd),
        Some(20),
        "an increment was lost or made twice"
    );
    println!(
        "1. counter: 20 after 20 increments by two workers; leader {crashed:?} crashed, \
         member {:?} leads now",
        etcd.leader(),
    );
    Ok(())
}

fn ttl_on_a_virtual_clock() -> Result<(), Error> {
    let etcd = MemoryEtcd::builder().virtual_time(true).build();
    let c = client(&etcd)?;
    let real = Instant::now();
    c.node().set("/session", "alive", Some(60))?;
    etcd.advance(Duration::from_secs(59));
    assert!(c.node().get("/session", false).is_ok());
    etcd.advance(Duration::from_secs(2));
    let gone = c.node().get("/session", false).map(|_| ()).unwrap_err();
    assert!(gone.is_key_not_found());
    println!(
        "2. a 60 s TTL ran out after {:?} of virtual time, {:?} of real time",
        etcd.elapsed(),
        real.elapsed()
    );
    Ok(())
}

fn a_lost_answer_is_not_resent() -> Result<(), Error> {
    let etcd = MemoryEtcd::builder().virtual_time(true).build();
    let c = client(&etcd)?;
    c.node().set("/balance", "100", None)?;
    // The next write is applied, but its answer never arrives.
    etcd.inject(
        FaultRule::new(Fault::DropResponseAfterApply)
            .writes()
            .times(1),
    );
    let e = c
        .node()
        .set("/balance", "90", None)
        .map(|_| ())
        .unwrap_err();
    assert!(e.may_have_been_applied(), "{e}");
    assert_eq!(e.kind(), ErrorKind::ConnectionLost);
    assert_eq!(etcd.value("/balance").as_deref(), Some("90"));
    println!("3. a dropped answer: the client reported \"{e}\" and sent nothing more; the store holds 90");
    Ok(())
}

fn main() -> Result<(), Error> {
    counter_under_a_leader_crash()?;
    ttl_on_a_virtual_clock()?;
    a_lost_answer_is_not_resent()?;
    Ok(())
}
