//! Credentials and the auth API against a real etcd with auth enabled. Auth is
//! global to a cluster, so this binary has its own member and one test walks the
//! whole lifecycle in order.

mod support;

use etcd_v2::Error;
use support::Etcd;

fn as_user(etcd: &Etcd, user: &str, password: &str) -> etcd_v2::ClientBuilder {
    support::builder_for(etcd).basic_auth(user, password)
}

fn api_status(err: &Error) -> Option<u16> {
    match err {
        Error::Api { status, .. } => Some(*status),
        _ => None,
    }
}

etcd_test!(auth_lifecycle, standalone, |_p| {
    let etcd = Etcd::start(1);
    let anonymous = build!(support::builder_for(&etcd));
    let root = build!(as_user(&etcd, "root", "rootpw"));

    // Off, and cannot be turned on without a root user.
    assert!(!call!(anonymous.auth().status()).unwrap());
    let err = call!(anonymous.auth().enable()).unwrap_err();
    assert_eq!(api_status(&err), Some(409), "{err}");
    assert!(err.to_string().contains("root"), "{err}");

    // Users and roles.
    let created = call!(anonymous.auth().create_user("root", "rootpw", &[])).unwrap();
    assert_eq!(created.name, "root");
    assert_eq!(created.roles, ["root"]);
    let rw = call!(anonymous
        .auth()
        .create_role("rw", &["/authz/*"], &["/authz/*"]))
    .unwrap();
    assert_eq!(rw.name, "rw");
    assert_eq!(rw.permissions.read, ["/authz/*"]);
    let alice = call!(anonymous.auth().create_user("alice", "alicepw", &["rw"])).unwrap();
    assert_eq!(alice.roles, ["rw"]);
    let alice = call!(anonymous.auth().get_user("alice")).unwrap();
    assert_eq!(alice.role_details.len(), 1);
    assert_eq!(alice.role_details[0].permissions.write, ["/authz/*"]);
    let names: Vec<String> = call!(anonymous.auth().users())
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert!(
        names.contains(&"alice".to_owned()) && names.contains(&"root".to_owned()),
        "{names:?}"
    );
    let err = call!(anonymous.auth().get_user("nobody")).unwrap_err();
    assert_eq!(api_status(&err), Some(404), "{err}");
    let err = call!(anonymous.auth().get_user("a/b")).unwrap_err();
    assert!(err.is_invalid_input(), "{err}");

    // On.
    call!(anonymous.auth().enable()).unwrap();
    assert!(
        call!(anonymous.auth().status()).unwrap(),
        "status needs no credentials"
    );
    let err = call!(anonymous.auth().enable()).unwrap_err();
    assert!(
        api_status(&err) == Some(409) || api_status(&err) == Some(401),
        "{err}"
    );

    // The default guest role may still do everything; take that away.
    call!(anonymous.node().set("/open/x", "guest", None)).unwrap();
    let guest = call!(root.auth().get_role("guest")).unwrap();
    assert_eq!(guest.permissions.read, ["/*"]);
    let guest = call!(root.auth().revoke_permissions("guest", &["/*"], &["/*"])).unwrap();
    assert!(guest.permissions.read.is_empty() && guest.permissions.write.is_empty());

    // Keys: errorCode 110 for the unauthorised.
    let err = call!(anonymous.node().set("/open/y", "no", None)).unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    assert_eq!(err.etcd().unwrap().status, 401);
    assert!(call!(anonymous.node().get("/open/x", false))
        .unwrap_err()
        .is_unauthorized());
    assert!(call!(anonymous.node().wait_from("/open/x", 1, false))
        .unwrap_err()
        .is_unauthorized());

    let alice_client = build!(as_user(&etcd, "alice", "alicepw"));
    call!(alice_client.node().set("/authz/a", "mine", None)).unwrap();
    assert_eq!(
        call!(alice_client.node().get("/authz/a", false))
            .unwrap()
            .value(),
        Some("mine")
    );
    let err = call!(alice_client.node().set("/elsewhere", "no", None)).unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    let wrong = build!(as_user(&etcd, "alice", "not-her-password"));
    let err = call!(wrong.node().get("/authz/a", false)).unwrap_err();
    assert!(
        err.is_unauthorized(),
        "a bad password never falls back to guest: {err}"
    );
    assert!(call!(root.node().get("/authz/a", false)).is_ok());

    // Credentials never show in errors or Debug output.
    for text in [
        format!("{err}"),
        format!("{err:?}"),
        format!("{wrong:?}"),
        format!("{alice_client:?}"),
    ] {
        assert!(
            !text.contains("alicepw") && !text.contains("not-her-password"),
            "{text}"
        );
        assert!(
            !text.contains("YWxpY2U6"),
            "no base64 credentials either: {text}"
        );
    }

    // The auth API needs root: a {"message"} 401 otherwise.
    let err = call!(anonymous.auth().users()).unwrap_err();
    assert_eq!(api_status(&err), Some(401), "{err}");
    assert!(err.is_unauthorized());
    let err = call!(alice_client.auth().disable()).unwrap_err();
    assert!(err.is_unauthorized(), "{err}");

    // Grants, revokes, passwords.
    let err = call!(root.auth().grant_roles("alice", &["rw"])).unwrap_err();
    assert_eq!(api_status(&err), Some(409), "duplicate grant: {err}");
    call!(root.auth().create_role("extra", &["/extra/*"], &[])).unwrap();
    let alice = call!(root.auth().grant_roles("alice", &["extra"])).unwrap();
    assert!(alice.roles.contains(&"extra".to_owned()), "{alice:?}");
    let alice = call!(root.auth().revoke_roles("alice", &["extra"])).unwrap();
    assert_eq!(alice.roles, ["rw"]);
    let role = call!(root
        .auth()
        .grant_permissions("extra", &["/more/*"], &["/more/*"]))
    .unwrap();
    assert!(role.permissions.read.contains(&"/more/*".to_owned()));
    assert!(call!(root.auth().roles())
        .unwrap()
        .iter()
        .any(|r| r.name == "extra"));
    call!(root.auth().change_password("alice", "alicepw2")).unwrap();
    assert!(call!(alice_client.node().get("/authz/a", false))
        .unwrap_err()
        .is_unauthorized());
    let alice2 = build!(as_user(&etcd, "alice", "alicepw2"));
    assert!(call!(alice2.node().get("/authz/a", false)).is_ok());
    let err = call!(root.auth().delete_user("root")).unwrap_err();
    assert_eq!(
        api_status(&err),
        Some(403),
        "root cannot be deleted while auth is on: {err}"
    );

    // Off again.
    call!(root.auth().disable()).unwrap();
    assert!(!call!(anonymous.auth().status()).unwrap());
    let err = call!(root.auth().disable()).unwrap_err();
    assert_eq!(api_status(&err), Some(409), "{err}");
    call!(root.auth().delete_user("alice")).unwrap();
    call!(root.auth().delete_role("extra")).unwrap();
    let err = call!(root.auth().get_user("alice")).unwrap_err();
    assert_eq!(api_status(&err), Some(404), "{err}");
});
