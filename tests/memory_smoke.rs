#![cfg(feature = "memory")]
use etcd_v2::memory::MemoryEtcd;
use etcd_v2::Client;
use std::time::Duration;

#[test]
fn smoke() {
    let etcd = MemoryEtcd::builder().virtual_time(true).build();
    let client = Client::builder().build_with(etcd.clone()).unwrap();
    let r = client.node().set("/a", "1", None).unwrap();
    println!("{r:?}");
    client.node().set("/t", "x", Some(5)).unwrap();
    let g = client.node().get("/", true).unwrap();
    println!("{g:?}");
    etcd.advance(Duration::from_secs(6));
    assert!(client.node().get("/t", false).is_err());
    let resp = client.node().wait_from("/t", 1, false).unwrap();
    println!("{resp:?}");
}
