//! The v3 bridge against a real etcd that does not serve v2 (started with
//! `--enable-v2=false`): the keys calls it provides answer as etcd v2 does.

#[path = "support/mod.rs"]
mod support;

use etcd_v2::{Client, Error};
use support::Etcd;

fn v3_only() -> &'static Etcd {
    static ETCD: std::sync::OnceLock<Etcd> = std::sync::OnceLock::new();
    ETCD.get_or_init(|| Etcd::start_with_env(1, &[], &[("ETCD_V2_FLAGS", "v3only")]))
}

fn bridged(prefix: &str) -> Client {
    support::builder_for(v3_only())
        .v3_bridge(prefix)
        .build()
        .expect("client")
}

#[test]
fn smoke() {
    let c = bridged("/smoke");
    let r = c.node().set("/a/b", "1", None).unwrap();
    eprintln!("{r:?}");
    let g = c.node().get("/a/b", false).unwrap();
    eprintln!("{g:?}");
    let l = c.node().get("/a", true).unwrap();
    eprintln!("{l:?}");
    let e = c.node().create_only("/a/b", "2", None).unwrap_err();
    eprintln!("{e}");
    let q = c.inorder().get_inorder("/q").add("x", None).unwrap();
    eprintln!("{q:?}");
    let d = c.directory().delete_recursive("/a", None).unwrap();
    eprintln!("{d:?}");
    let e = c.node().get("/a/b", false).unwrap_err();
    eprintln!("{e}");
    let t = c.node().set("/t", "x", Some(5)).unwrap_err();
    assert!(matches!(t, Error::NotOnBridge(_)), "{t}");
}
