//! The client the global options describe: endpoints (flags and `ETCDCTL_*`
//! variables), TLS, credentials, timeouts, the bridge, `--debug`, and the
//! endpoint sync etcdctl does before each command.

use std::time::{Duration, Instant};

use etcd_v2::transport::{Flow, HttpRequest, HttpResult};
use etcd_v2::{Client, DefaultTransport, Transport};

use crate::args::Global;
use crate::failure::{Fail, BAD_ARGS, BAD_CONNECTION};
use crate::terminal;

/// The client every command uses.
pub type Cli = Client<CliTransport>;

/// etcdctl's default endpoints.
const DEFAULT_ENDPOINTS: &str = "http://127.0.0.1:2379,http://127.0.0.1:4001";

/// The default transport, printing each request as a curl command on stderr
/// with `--debug`.
pub struct CliTransport {
    inner: DefaultTransport,
    debug: bool,
    user: Option<String>,
}

impl CliTransport {
    fn print(&self, request: &HttpRequest) {
        if self.debug {
            crate::stdio::complain!("cURL Command: {}", curl(request, self.user.as_deref()));
        }
    }
}

/// A request as a curl command line, credentials masked.
pub fn curl(request: &HttpRequest, user: Option<&str>) -> String {
    let mut line = format!("curl -X {} {}", request.method(), request.uri());
    if request
        .headers()
        .contains_key(etcd_v2::http::header::AUTHORIZATION)
    {
        line.push_str(&format!(" -u {}:********", user.unwrap_or("?")));
    }
    if !request.body().is_empty() {
        line.push_str(&format!(
            " -d {:?}",
            String::from_utf8_lossy(request.body())
        ));
    }
    line
}

impl Transport for CliTransport {
    fn send(&self, request: HttpRequest, timeout: Option<Duration>) -> HttpResult {
        self.print(&request);
        self.inner.send(request, timeout)
    }

    fn send_keeping_cluster_headers(
        &self,
        request: HttpRequest,
        timeout: Option<Duration>,
    ) -> HttpResult {
        self.print(&request);
        self.inner.send_keeping_cluster_headers(request, timeout)
    }

    fn send_streaming(
        &self,
        request: HttpRequest,
        timeout: Option<Duration>,
        line: &mut dyn FnMut(&[u8]) -> Flow,
    ) -> HttpResult {
        self.print(&request);
        self.inner.send_streaming(request, timeout, line)
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn unix_nanos(&self) -> i64 {
        self.inner.unix_nanos()
    }

    fn sleep(&self, duration: Duration) {
        self.inner.sleep(duration)
    }

    fn spawn(&self, task: Box<dyn FnOnce() + Send + 'static>) {
        self.inner.spawn(task)
    }

    fn spawn_for_caller(&self, task: Box<dyn FnOnce() + Send + 'static>) {
        self.inner.spawn_for_caller(task)
    }

    fn interrupt(&self) {
        self.inner.interrupt()
    }
}

/// The endpoints the options name (flags first, then the variables, then
/// etcdctl's defaults), each checked as etcdctl's URL parsing would.
pub fn endpoints(global: &Global) -> Result<Vec<String>, Fail> {
    if global.discovery_srv.is_some() {
        return Err(Fail::error(
            BAD_ARGS,
            "--discovery-srv is not supported by etcd-v2; give the members with --endpoints",
        ));
    }
    // etcdctl's order: --endpoints, ETCDCTL_ENDPOINTS, --endpoint,
    // ETCDCTL_ENDPOINT, --peers, ETCDCTL_PEERS (clap puts each flag before
    // its variable); an empty one counts as not given.
    // A flag given empty hides its variable from clap: read it here then.
    let from_env = |name: &str| std::env::var(name).ok();
    let sources = [
        (&global.endpoints, "ETCDCTL_ENDPOINTS"),
        (&global.endpoint, "ETCDCTL_ENDPOINT"),
        (&global.peers, "ETCDCTL_PEERS"),
    ];
    let mut candidates = Vec::new();
    for (given, variable) in sources {
        candidates.push(given.clone());
        if given.as_deref() == Some("") {
            candidates.push(from_env(variable));
        }
    }
    let list = candidates
        .iter()
        .find_map(|given| given.as_deref().filter(|s| !s.is_empty()))
        .unwrap_or(DEFAULT_ENDPOINTS);
    let mut out = Vec::new();
    for url in list.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        check_url(url)?;
        out.push(url.trim_end_matches('/').to_string());
    }
    if out.is_empty() {
        return Err(Fail::error(BAD_ARGS, "no endpoints given"));
    }
    Ok(out)
}

/// A URL as etcdctl requires it: with its scheme. Go's parser words the
/// usual mistake (`127.0.0.1:2379`) so.
pub fn check_url(url: &str) -> Result<(), Fail> {
    if url.contains("://") {
        return Ok(());
    }
    let first = url.split('/').next().unwrap_or(url);
    if first.contains(':') {
        return Err(Fail::plain(
            BAD_ARGS,
            format!("parse \"{url}\": first path segment in URL cannot contain colon"),
        ));
    }
    Err(Fail::plain(
        BAD_ARGS,
        format!("parse \"{url}\": no scheme (give http:// or https://)"),
    ))
}

/// A Go duration (`2s`, `500ms`, `1m30s`, `1ns`, `0`).
pub fn go_duration(text: &str, flag: &str) -> Result<Duration, Fail> {
    let bad = || {
        Fail::plain(
            BAD_ARGS,
            format!("invalid value \"{text}\" for flag -{flag}: parse error"),
        )
    };
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if number_len == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..number_len].parse().map_err(|_| bad())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    // Go's durations end at 2^63 - 1 nanoseconds (about 292 years).
    if total > i64::MAX as f64 / 1e9 {
        return Err(bad());
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

/// The user and password of `-u user[:password]`, prompting for the
/// password (without echo on a terminal) when it is absent.
pub fn credentials(spec: &str, prompt: &str) -> Result<(String, String), Fail> {
    match spec.split_once(':') {
        Some((user, password)) => Ok((user.to_string(), password.to_string())),
        None => {
            let password = terminal::read_secret(prompt)
                .map_err(|e| Fail::error(BAD_ARGS, format!("could not read the password: {e}")))?;
            Ok((spec.to_string(), password))
        }
    }
}

/// Build the client, and (unless `--no-sync`, or over the bridge) replace the
/// endpoints by the cluster's published client URLs as etcdctl does.
pub fn client(global: &Global) -> Result<Cli, Fail> {
    client_for(global, &endpoints(global)?, global.bridge.as_deref(), true)
}

/// A client for `endpoints` with the global options (TLS, credentials,
/// timeouts, `--debug`), over the bridge under `bridge` if given.
pub fn client_for(
    global: &Global,
    endpoints: &[String],
    bridge: Option<&str>,
    sync: bool,
) -> Result<Cli, Fail> {
    let timeout = go_duration(&global.timeout, "timeout")?;
    let total = go_duration(&global.total_timeout, "total-timeout")?;
    let mut builder = Client::builder()
        .endpoints(endpoints.iter().cloned())
        // etcdctl: a per-request timeout of 0 is none.
        .timeout((!timeout.is_zero()).then_some(timeout))
        .deadline(total);
    let mut user = None;
    if let Some(spec) = &global.username {
        let (name, password) = credentials(spec, "Password: ")?;
        builder = builder.basic_auth(name.clone(), password);
        user = Some(name);
    }
    if let Some(ca) = &global.ca_file {
        builder = builder.ca_file(ca);
    }
    match (&global.cert_file, &global.key_file) {
        (Some(cert), Some(key)) => builder = builder.client_cert(cert, key),
        (None, None) => {}
        _ => {
            return Err(Fail::error(
                BAD_ARGS,
                "--cert-file and --key-file go together: give both or neither",
            ))
        }
    }
    if global.insecure_skip_tls_verify {
        builder = builder.danger_accept_invalid_certs(true);
    }
    if let Some(prefix) = bridge {
        builder = builder.v3_bridge(prefix);
    }
    let debug = global.debug;
    let client = builder
        .build_from(|options| {
            Ok(CliTransport {
                inner: DefaultTransport::new(options)?,
                debug,
                user: user.clone(),
            })
        })
        .map_err(|e| Fail::error(BAD_ARGS, e))?;
    let shown = |c: &Cli| {
        c.endpoints()
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    if sync && !global.no_sync && bridge.is_none() {
        if debug {
            crate::stdio::complain!("start to sync cluster using endpoints({})", shown(&client));
        }
        if let Err(e) = client.sync_endpoints() {
            let fail = Fail::from_sync(&e);
            if fail.code == BAD_CONNECTION {
                return Err(fail);
            }
        }
        if debug {
            crate::stdio::complain!("got endpoints({}) after sync", shown(&client));
        }
    } else if sync && !global.no_sync {
        // Over the bridge the endpoints are kept as given, but the cluster is
        // asked for its members all the same, so that one that cannot be
        // reached fails here, status 2, as etcdctl's sync does.
        if let Err(e) = client.members().list() {
            let fail = Fail::from_sync(&e);
            if fail.code == BAD_CONNECTION {
                return Err(fail);
            }
        }
    }
    if debug {
        crate::stdio::complain!("Cluster-Endpoints: {}", shown(&client));
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("2s", "t").ok(), Some(Duration::from_secs(2)));
        assert_eq!(go_duration("1ns", "t").ok(), Some(Duration::from_nanos(1)));
        assert_eq!(
            go_duration("1m30s", "t").ok(),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            go_duration("1.5h", "t").ok(),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(
            go_duration("250ms", "t").ok(),
            Some(Duration::from_millis(250))
        );
        assert!(go_duration("2", "t").is_err());
        assert!(go_duration("abc", "t").is_err());
        assert!(go_duration("", "t").is_err());
        assert!(go_duration("-1s", "t").is_err());
        assert!(go_duration("3000000000000000h", "t").is_err());
        assert!(go_duration("2562047h", "t").is_ok());
    }

    #[test]
    fn an_endpoint_without_a_scheme_is_refused_as_etcdctl_words_it() {
        let f = check_url("127.0.0.1:26791").err().map(|f| f.message);
        assert_eq!(
            f.as_deref(),
            Some("parse \"127.0.0.1:26791\": first path segment in URL cannot contain colon")
        );
        assert!(check_url("http://127.0.0.1:2379").is_ok());
    }
}
