//! What the client traces: one span per call with the operation, the key, the
//! attempt number, the endpoint and the outcome; an event for a failover; never
//! a credential or a value.

use std::io::Write;
use std::sync::{Arc, Mutex};

use etcd_v2::{Client, TransportError, TransportErrorKind};
use tracing_subscriber::fmt::format::FmtSpan;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

type Req = http::Request<Vec<u8>>;

/// A subscriber taking debug records and span closes, as text into a buffer.
fn debug_subscriber() -> (Buffer, impl tracing::Subscriber + Send + Sync) {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (buffer, subscriber)
}

#[test]
fn every_call_is_a_span_with_its_attempts_and_outcome_and_no_secret() {
    let (buffer, subscriber) = debug_subscriber();
    let transport = |req: Req| -> Result<http::Response<Vec<u8>>, TransportError> {
        if req.uri().host() == Some("down") {
            return Err(TransportError::new(TransportErrorKind::Connect, "refused"));
        }
        Ok(http::Response::builder()
            .status(200)
            .header("X-Etcd-Index", "7")
            .body(
                br#"{"action":"compareAndSwap","node":{"key":"/app/k","value":"the-new-value","modifiedIndex":7,"createdIndex":7}}"#
                    .to_vec(),
            )
            .unwrap())
    };
    let client = Client::builder()
        .endpoints(["http://down:2379", "http://up:2379"])
        .basic_auth("app", "the-password")
        .build_with(transport)
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        client
            .node()
            .update_if_value("/app/k", "the-new-value", "the-old-value", None)
            .unwrap();
    });
    let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    for wanted in [
        "op=\"CompareAndSwap\"",
        "key=\"/app/k\"",
        "attempt=2",
        "endpoint=\"http://up:2379\"",
        "outcome=\"ok\"",
        "failover",
        "reason=\"connect\"",
    ] {
        assert!(out.contains(wanted), "no {wanted} in:\n{out}");
    }
    for secret in ["the-password", "the-new-value", "the-old-value", "Basic "] {
        assert!(!out.contains(secret), "{secret} was traced:\n{out}");
    }
}

/// The async client traces the same: a span per call (with the failover that
/// its first attempt needed) and no value, not even in a refused
/// compare-and-swap, whose etcd cause holds both values.
#[cfg(feature = "memory")]
#[tokio::test]
async fn async_calls_are_spans_too_and_a_refused_swap_traces_no_value() {
    use etcd_v2::memory::{Fault, FaultRule, MemoryEtcd};
    let (buffer, subscriber) = debug_subscriber();
    let _traced = tracing::subscriber::set_default(subscriber);
    let etcd = MemoryEtcd::builder().members(3).virtual_time(true).build();
    let client = Client::builder()
        .endpoints(etcd.endpoints())
        .build_async_with(etcd.clone())
        .unwrap();
    client
        .node()
        .set("/app/k", "the-stored-value", None)
        .await
        .unwrap();
    etcd.inject(FaultRule::new(Fault::Refuse).times(1));
    let refused = client
        .node()
        .update_if_value("/app/k", "the-new-value", "the-wrong-value", None)
        .await
        .unwrap_err();
    assert!(refused.is_precondition_failed(), "{refused}");
    let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    for wanted in [
        "op=\"Set\"",
        "op=\"CompareAndSwap\"",
        "key=\"/app/k\"",
        "attempt=2",
        "outcome=\"ok\"",
        "outcome=\"precondition_failed\"",
        "failover",
    ] {
        assert!(out.contains(wanted), "no {wanted} in:\n{out}");
    }
    for secret in ["the-stored-value", "the-new-value", "the-wrong-value"] {
        assert!(!out.contains(secret), "{secret} was traced:\n{out}");
    }
}

/// Lock and leader transitions and a watch's resync are traced (on MemoryEtcd,
/// virtual time).
#[cfg(feature = "memory")]
#[test]
fn lock_and_leader_transitions_and_resyncs_are_events() {
    use etcd_v2::client::LeaderEvent;
    use etcd_v2::client::WatchNext;
    use etcd_v2::memory::MemoryEtcd;
    use std::time::Duration;
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let etcd = MemoryEtcd::builder().virtual_time(true).build();
    let client = Client::builder()
        .endpoints(etcd.endpoints())
        .build_with(etcd.clone())
        .unwrap();
    // Keep-alives and campaigns run on threads of their own: the subscriber
    // must be the global one (the only test here that sets it).
    tracing::subscriber::set_global_default(subscriber).unwrap();
    {
        let mut lock = client.module().lock().get_lock("traced", 10);
        lock.acquire().unwrap();
        lock.release().unwrap();
        let mut lapsed = client.module().lock().get_lock("lapsed", 3);
        lapsed.acquire().unwrap();
        let keep_alive = lapsed.keep_alive().unwrap();
        // Someone else deletes the key: the next renewal finds it gone.
        client
            .node()
            .delete(lapsed.key().unwrap(), None, None)
            .unwrap();
        etcd.advance(Duration::from_secs(2));
        assert!(keep_alive.is_lost());
        let campaign = client
            .module()
            .leader()
            .campaign("/traced-leader", "me", 5)
            .unwrap();
        let elected = campaign.next_event(Duration::from_secs(30));
        assert!(matches!(elected, Some(LeaderEvent::Elected)), "{elected:?}");
        campaign.resign();
        // A watch from an index the history no longer holds resyncs.
        for i in 0..1010 {
            client.node().set("/churn", &i.to_string(), None).unwrap();
        }
        let mut watch = client.watch("/churn").from_index(1).start().unwrap();
        let next = watch.next_timeout(Duration::from_secs(30));
        assert!(matches!(next, Ok(WatchNext::Event(_))), "{next:?}");
        watch.stopper().stop();
    }
    let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    for wanted in [
        "lock acquired",
        "lock released",
        "lost: the key is no longer held",
        "elected leader",
        "resigned leadership",
        "watch resync",
    ] {
        assert!(out.contains(wanted), "no {wanted:?} in:\n{out}");
    }
}
