//! TLS against a real etcd serving https with client-certificate auth, using
//! certificates this test generates (rcgen): a CA, a server certificate valid
//! for `localhost` only, and client certificates.

mod raw_http;
mod support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use etcd_v2::{Client, Error};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use support::Etcd;

struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// The member's state directory; the certificates and keys live in its `pki`
/// folder, so the members' watchdog removes them (the CA's and every private key)
/// with the rest of the state once this test binary has exited. (etcd reads its
/// certificate files again at every handshake, so they cannot go earlier.)
fn state() -> &'static PathBuf {
    static STATE: OnceLock<PathBuf> = OnceLock::new();
    STATE.get_or_init(support::state_dir)
}

/// The CA and certificates, with the member that uses them started (so the
/// watchdog that removes them is running).
fn pki() -> &'static Pki {
    etcd();
    generated_pki()
}

/// Generate the CA and certificates once per test binary.
fn generated_pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = state().join("pki");
        std::fs::create_dir_all(&dir).unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        write(&dir, "ca.pem", &ca.pem());

        let leaf = |name: &str, sans: Vec<String>, usage: ExtendedKeyUsagePurpose| {
            let mut params = CertificateParams::new(sans).unwrap();
            params.extended_key_usages = vec![usage];
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &ca).unwrap();
            write(&dir, &format!("{name}.pem"), &cert.pem());
            write(&dir, &format!("{name}.key"), &key.serialize_pem());
        };
        leaf(
            "server",
            vec!["localhost".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        leaf(
            "client",
            vec!["client".into()],
            ExtendedKeyUsagePurpose::ClientAuth,
        );

        // A client certificate from a CA etcd does not trust.
        let mut other_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        other_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let other =
            CertifiedIssuer::self_signed(other_params, KeyPair::generate().unwrap()).unwrap();
        let mut params = CertificateParams::new(vec!["intruder".to_owned()]).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().unwrap();
        write(
            &dir,
            "intruder.pem",
            &params.signed_by(&key, &other).unwrap().pem(),
        );
        write(&dir, "intruder.key", &key.serialize_pem());
        Pki { dir }
    })
}

/// One etcd per binary, serving https with client-certificate auth.
fn etcd() -> &'static Etcd {
    static ETCD: OnceLock<Etcd> = OnceLock::new();
    ETCD.get_or_init(|| {
        let p = generated_pki();
        let (cert, key, ca) = (p.path("server.pem"), p.path("server.key"), p.path("ca.pem"));
        let curl = format!(
            "-k --cert {} --key {}",
            p.path("client.pem"),
            p.path("client.key")
        );
        Etcd::start_in(
            state().clone(),
            1,
            &[
                "--cert-file",
                &cert,
                "--key-file",
                &key,
                "--trusted-ca-file",
                &ca,
                "--client-cert-auth=true",
            ],
            &[("ETCD_SCHEME", "https"), ("ETCD_HEALTH_CURL_ARGS", &curl)],
        )
    })
}

/// The member's URL under the name its certificate is valid for.
fn localhost_url() -> String {
    etcd().endpoint().replace("127.0.0.1", "localhost")
}

etcd_test!(the_member_serves_https_only, standalone, |_p| {
    assert!(etcd().endpoint().starts_with("https://127.0.0.1:"));
});

etcd_test!(ca_bundle_and_client_certificate_work, standalone, |_p| {
    let p = pki();
    let client = build!(Client::builder()
        .endpoint(localhost_url())
        .ca_file(p.path("ca.pem"))
        .client_cert(p.path("client.pem"), p.path("client.key")));
    call!(client.node().set("/tls/hello", "secure", None)).unwrap();
    assert_eq!(
        call!(client.node().get("/tls/hello", false))
            .unwrap()
            .value(),
        Some("secure")
    );
    assert!(call!(client.server().health()).unwrap());
});

etcd_test!(without_the_ca_the_server_is_not_trusted, standalone, |_p| {
    let p = pki();
    let client = build!(Client::builder()
        .endpoint(localhost_url())
        .client_cert(p.path("client.pem"), p.path("client.key")));
    let err = call!(client.node().get("/tls/hello", false)).unwrap_err();
    assert!(
        matches!(&err, Error::Transport { source, .. } if source.kind() == etcd_v2::TransportErrorKind::Connect),
        "{err:?}"
    );
    assert!(
        !err.may_have_been_applied(),
        "a failed handshake sent nothing"
    );
});

etcd_test!(hostname_verification_is_on_by_default, standalone, |_p| {
    let p = pki();
    // The certificate names localhost, not 127.0.0.1.
    let client = build!(Client::builder()
        .endpoint(etcd().endpoint())
        .ca_file(p.path("ca.pem"))
        .client_cert(p.path("client.pem"), p.path("client.key")));
    let err = call!(client.node().get("/tls/x", false)).unwrap_err();
    let text = format!("{err}");
    assert!(
        text.contains("NotValidForName") || text.to_lowercase().contains("name"),
        "{text}"
    );

    // Turning verification off is explicit, and then the mismatch is accepted.
    let reckless = build!(Client::builder()
        .endpoint(etcd().endpoint())
        .danger_accept_invalid_certs(true)
        .client_cert(p.path("client.pem"), p.path("client.key")));
    call!(reckless.node().set("/tls/reckless", "ok", None)).unwrap();
});

etcd_test!(
    etcd_refuses_a_missing_or_untrusted_client_certificate,
    standalone,
    |_p| {
        let p = pki();
        let anonymous = build!(Client::builder()
            .endpoint(localhost_url())
            .ca_file(p.path("ca.pem")));
        // Under TLS 1.3 the client may already be writing when etcd hangs up, so
        // this can surface as a broken pipe, which cannot be told apart from a loss
        // after sending; what matters is that nothing was written (checked below).
        assert!(call!(anonymous.node().set("/tls/anonymous", "x", None)).is_err());
        let intruder = build!(Client::builder()
            .endpoint(localhost_url())
            .ca_file(p.path("ca.pem"))
            .client_cert(p.path("intruder.pem"), p.path("intruder.key")));
        // Likewise a create: at worst its outcome is reported unknown, never success.
        assert!(call!(intruder.node().create_only("/tls/intruder", "x", None)).is_err());
        let ok = build!(Client::builder()
            .endpoint(localhost_url())
            .ca_file(p.path("ca.pem"))
            .client_cert(p.path("client.pem"), p.path("client.key")));
        for key in ["/tls/anonymous", "/tls/intruder"] {
            assert!(call!(ok.node().get(key, false))
                .unwrap_err()
                .is_key_not_found());
        }
    }
);

etcd_test!(bad_tls_files_are_refused_when_building, standalone, |_p| {
    let p = pki();
    let cases = [
        try_build!(Client::builder()
            .endpoint(localhost_url())
            .ca_file("/nonexistent/ca.pem")),
        try_build!(Client::builder()
            .endpoint(localhost_url())
            .ca_file(p.path("client.key"))),
        try_build!(Client::builder()
            .endpoint(localhost_url())
            .client_cert(p.path("client.pem"), p.path("ca.pem"))),
    ];
    for result in cases {
        let err = result.unwrap_err();
        assert!(err.is_invalid_input(), "{err}");
    }
});

/// A TLS server (the test's `localhost` certificate) that completes the
/// handshake, reads one request, and answers with a record that cannot be
/// decrypted: a failure after the request was sent. Its `https` URL.
#[cfg(all(feature = "ureq", feature = "http1"))]
fn tls_server_garbling_its_answer() -> String {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::io::{BufReader, Write};
    let p = pki();
    let certs = CertificateDer::pem_file_iter(p.path("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(p.path("server.key")).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let config = std::sync::Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let session = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(session, tcp);
            // The request's head and its Content-Length body.
            raw_http::read_request(&mut BufReader::new(&mut tls));
            // An application-data record no key decrypts, under the TLS layer.
            let _ = tls.sock.write_all(b"\x17\x03\x03\x00\x05hello");
            let _ = tls.sock.flush();
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    });
    format!("https://localhost:{port}")
}

#[cfg(all(feature = "ureq", feature = "http1"))]
#[test]
fn a_tls_failure_after_the_request_was_sent_may_have_applied_it() {
    use etcd_v2::transports::http1::Http1Transport;
    use etcd_v2::transports::ureq::UreqTransport;
    use etcd_v2::{Transport, TransportOptions};
    let url = tls_server_garbling_its_answer();
    let mut options = TransportOptions::default();
    options.tls.ca_file = Some(pki().path("ca.pem").into());
    let post = || {
        http::Request::post(format!("{url}/v2/keys/queue"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(b"value=job".to_vec())
            .unwrap()
    };
    let timeout = Some(std::time::Duration::from_secs(10));
    let ureq = UreqTransport::new(&options).unwrap();
    let err = ureq.send(post(), timeout).unwrap_err();
    assert!(err.kind().may_have_been_sent(), "ureq: {err}");
    let http1 = Http1Transport::new(&options).unwrap();
    let err = http1.send(post(), timeout).unwrap_err();
    assert!(err.kind().may_have_been_sent(), "http1: {err}");
    // A refused certificate is still "nothing sent" (no CA given: the test
    // CA is unknown).
    let strict = UreqTransport::new(&TransportOptions::default()).unwrap();
    let err = strict.send(post(), timeout).unwrap_err();
    assert!(!err.kind().may_have_been_sent(), "ureq: {err}");
}
