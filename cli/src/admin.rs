//! `member list|add|remove|update` and `cluster-health`, worded as etcdctl v2.

use std::fmt::Write as _;

use etcd_v2::{Endpoint, Error, TransportErrorKind};

use crate::connect::{check_url, Cli};
use crate::failure::{dial, Fail, BAD_ARGS, CLUSTER_NOT_HEALTHY, OK, SERVER_ERROR};
use crate::keys::Done;

/// A member failure as etcdctl reports it (the error alone, status 1).
fn member_fail(e: &Error) -> Fail {
    match e {
        // A 5xx is a failed endpoint to Go's client (it tries the next one);
        // this tool never sends a change again once it may have been applied.
        Error::OutcomeUnknown { source } => {
            let f = member_fail(source);
            Fail::plain(
                BAD_ARGS,
                format!(
                    "{}\nthe change may or may not have been applied; it was not sent again",
                    f.message.trim_end()
                ),
            )
        }
        Error::Api {
            endpoint, status, ..
        } if *status >= 500 => Fail::plain(
            BAD_ARGS,
            format!(
                "client: etcd cluster is unavailable or misconfigured; error #0: {}\n",
                crate::failure::server_error(endpoint, *status)
            ),
        ),
        Error::Api { message, .. } => Fail::plain(BAD_ARGS, message.clone()),
        other => Fail::bare(other),
    }
}

/// `member list`: one line per member, `[unstarted]` for those not started.
pub fn list(client: &Cli) -> Done {
    let members = client.members().list().map_err(|e| member_fail(&e))?;
    let leader = client.members().leader().map_err(|e| {
        let f = member_fail(&e);
        Fail::plain(BAD_ARGS, format!("Failed to get leader:  {}", f.message))
    })?;
    let mut s = String::new();
    for m in &members {
        if m.name.is_empty() {
            let _ = writeln!(s, "{}[unstarted]: peerURLs={}", m.id, m.peer_urls.join(","));
        } else {
            let _ = writeln!(
                s,
                "{}: name={} peerURLs={} clientURLs={} isLeader={}",
                m.id,
                m.name,
                m.peer_urls.join(","),
                m.client_urls.join(","),
                m.id == leader.id
            );
        }
    }
    Ok((s, OK))
}

/// `member add NAME PEER_URL`: add it, and print the environment the new
/// member starts with.
pub fn add(client: &Cli, args: &[String]) -> Done {
    let [name, url] = args else {
        return Err(Fail::plain(
            BAD_ARGS,
            "Provide a name and a single member peerURL",
        ));
    };
    check_url(url)?;
    let added = client
        .members()
        .add(&[url.as_str()])
        .map_err(|e| member_fail(&e))?;
    let members = client.members().list().map_err(|e| member_fail(&e))?;
    let mut conf = Vec::new();
    for m in &members {
        for u in &m.peer_urls {
            let n = if m.id == added.id { name } else { &m.name };
            conf.push(format!("{n}={u}"));
        }
    }
    Ok((
        format!(
            "Added member named {name} with ID {} to cluster\n\nETCD_NAME=\"{name}\"\nETCD_INITIAL_CLUSTER=\"{}\"\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\n",
            added.id,
            conf.join(",")
        ),
        OK,
    ))
}

/// `member remove ID`.
pub fn remove(client: &Cli, args: &[String]) -> Done {
    let [id] = args else {
        return Err(Fail::plain(BAD_ARGS, "Provide a single member ID"));
    };
    let members = client.members().list().map_err(|e| member_fail(&e))?;
    if let Some(named) = members.iter().find(|m| &m.name == id && &m.id != id) {
        return Err(Fail::plain(
            BAD_ARGS,
            format!(
                "Found a member named {}; if this is correct, please use its ID, eg:\n\tetcd-v2 member remove {}",
                named.name, named.id
            ),
        ));
    }
    if !members.iter().any(|m| &m.id == id) {
        return Err(Fail::plain(
            BAD_ARGS,
            format!("Couldn't find a member in the cluster with an ID of {id}."),
        ));
    }
    client.members().remove(id).map_err(|e| member_fail(&e))?;
    Ok((format!("Removed member {id} from cluster\n"), OK))
}

/// `member update ID URL[,URL...]`.
pub fn update(client: &Cli, args: &[String]) -> Done {
    let [id, urls] = args else {
        return Err(Fail::plain(
            BAD_ARGS,
            "Provide an ID and a list of comma separated peerURL (0xabcd http://example.com,http://example1.com)",
        ));
    };
    let urls: Vec<&str> = urls.split(',').collect();
    for u in &urls {
        check_url(u)?;
    }
    client
        .members()
        .update(id, &urls)
        .map_err(|e| member_fail(&e))?;
    Ok((format!("Updated member with ID {id} in cluster\n"), OK))
}

/// The members `cluster-health` checks, listed once (a `-f` run checks the
/// same members every round, as etcdctl's does).
pub fn health_members(client: &Cli) -> Result<Vec<etcd_v2::ops::members::Member>, Fail> {
    client.members().list().map_err(|e| {
        crate::stdio::say!("cluster may be unhealthy: failed to list members");
        let mut f = Fail::from_keys(&e);
        f.code = SERVER_ERROR;
        f
    })
}

/// `cluster-health`: each member's `/health` through its client URLs, then
/// the verdict; status 5 unless every member is healthy.
pub fn cluster_health(client: &Cli, members: &[etcd_v2::ops::members::Member]) -> Done {
    let mut s = String::new();
    let mut healthy = 0;
    for m in members {
        if m.client_urls.is_empty() {
            let _ = writeln!(
                s,
                "member {} is unreachable: no available published client urls",
                m.id
            );
            continue;
        }
        let mut checked = false;
        for url in &m.client_urls {
            let answer = Endpoint::parse(url).and_then(|e| client.server().health_of(&e));
            match answer {
                Ok(true) => {
                    let _ = writeln!(
                        s,
                        "member {} is healthy: got healthy result from {url}",
                        m.id
                    );
                    healthy += 1;
                }
                Ok(false) => {
                    let _ = writeln!(
                        s,
                        "member {} is unhealthy: got unhealthy result from {url}",
                        m.id
                    );
                }
                Err(e) => {
                    let _ = writeln!(
                        s,
                        "failed to check the health of member {} on {url}: Get \"{url}/health\": {}",
                        m.id,
                        health_failure(url, &e)
                    );
                    continue;
                }
            }
            checked = true;
            break;
        }
        if !checked {
            let _ = writeln!(
                s,
                "member {} is unreachable: [{}] are all unreachable",
                m.id,
                m.client_urls.join(" ")
            );
        }
    }
    let (verdict, code) = if healthy == members.len() {
        ("cluster is healthy", OK)
    } else if healthy == 0 {
        ("cluster is unavailable", CLUSTER_NOT_HEALTHY)
    } else {
        ("cluster is degraded", CLUSTER_NOT_HEALTHY)
    };
    let _ = writeln!(s, "{verdict}");
    Ok((s, code))
}

/// Why a member's `/health` could not be read, worded as Go's HTTP client.
fn health_failure(url: &str, e: &Error) -> String {
    let inner = match e {
        Error::AllEndpointsFailed { failures } if failures.len() == 1 => &failures[0].1,
        other => other,
    };
    match inner {
        Error::Transport { source, .. } if source.kind() == TransportErrorKind::Connect => {
            dial(url, source.message())
        }
        other => other.to_string(),
    }
}
