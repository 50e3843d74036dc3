//! The v2 auth API (`/v2/auth/...`) over the bridge, carried out with v3's
//! auth API (`/v3/auth/...`) and answered as etcd v2 answers it.
//!
//! A call first reads what it needs (whether auth is on, users, their
//! roles, roles' permissions), then plans the v3 changes from that, as etcd
//! v2 decides (the same conflicts, 404s and messages), then sends them one by
//! one; a change is never sent again once it may have been applied. Users
//! and roles are v3's own, so v3 tools see them too. Permissions map as
//! [`super::perms`] says. Whether auth is on is asked with a failed login
//! (`/v3/auth/authenticate` with a name no user has): etcd 3.4 has no
//! `/v3/auth/status`.
//!
//! Differences from v2, listed in README.md: a v2 request that changes
//! several things (a user with roles, a role's permissions) is several v3
//! changes, not one; roles must exist before they are granted (v2 accepted
//! unknown ones); there is no `guest` role (v3 refuses requests without
//! credentials once auth is on); every user of the bridge may read the
//! whole tree.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use serde_json::{json, Value};

use super::access_ask::{Ask, RoleBody, UserBody};
use super::perms::{changes, parse_role, v2_patterns, v3_perms, Access as Perm, Patterns, Range};
use super::v3::Post;
use super::{Answer, Outcome, Request};
use crate::error::Error;
use crate::machine::{output_once, Step};
use crate::server::reply;

/// The login that tells whether auth is on: no user has this name.
const PROBE: &str = "etcd-v2 bridge: is auth on?";
const ROOT: &str = "root";

/// What the request in flight is for.
#[derive(Debug)]
enum Flight {
    Probe,
    Users,
    Roles,
    User(String),
    Role(String),
    /// A change; an error with this text is no error (e.g. the root role
    /// exists already).
    Change(Option<&'static str>),
}

/// What the reads found.
#[derive(Debug, Default)]
struct Facts {
    enabled: Option<bool>,
    users: Option<Vec<String>>,
    roles: Option<Vec<String>>,
    /// Each user's roles (`None`: no such user).
    user: BTreeMap<String, Option<Vec<String>>>,
    /// Each role's v3 permissions (`None`: no such role).
    role: BTreeMap<String, Option<Vec<(Range, Perm)>>>,
    cluster: Option<u64>,
}

/// A change to send, and an error text that is no error.
type Change = (Post, Option<&'static str>);

/// How a call ends early: with this answer.
type Ended = Box<Answer>;

/// The changes to make and the answer once they are made; or (`Err`) the
/// answer now.
type Planned = Result<(Vec<Change>, http::Response<Vec<u8>>), Box<http::Response<Vec<u8>>>>;

/// One v2 auth request over the bridge: a
/// [`Machine`](crate::machine::Machine) whose output is etcd v2's answer.
#[derive(Debug)]
pub struct Access {
    prefix: Vec<u8>,
    ask: Ask,
    facts: Facts,
    changes: Option<VecDeque<Change>>,
    reply: Option<http::Response<Vec<u8>>>,
    flight: Option<Flight>,
    done: Option<Option<Answer>>,
    expected: Option<String>,
    deadline: Option<Instant>,
}

impl Access {
    /// Carry out `ask` for the tree under `prefix`.
    pub fn new(prefix: Vec<u8>, ask: Ask) -> Access {
        Access {
            prefix,
            ask,
            facts: Facts::default(),
            changes: None,
            reply: None,
            flight: None,
            done: None,
            expected: None,
            deadline: None,
        }
    }

    /// Only work with the cluster whose ID (hex) is `id`: an answer from
    /// another ends the call with [`Error::ClusterIdMismatch`].
    pub fn expect_cluster(mut self, id: Option<String>) -> Access {
        self.expected = id;
        self
    }

    /// End with [`Error::DeadlineExceeded`] if not over by `deadline`
    /// (checked before each request).
    pub fn deadline(mut self, deadline: Option<Instant>) -> Access {
        self.deadline = deadline;
        self
    }

    fn finish(&mut self, answer: Answer) {
        self.done = Some(Some(answer));
    }

    fn error(&self, status: u16, message: &str) -> http::Response<Vec<u8>> {
        reply::http_error(status, message, self.facts.cluster)
    }

    /// The next read the call needs, if any.
    fn next_read(&self) -> Option<(Post, Flight)> {
        let f = &self.facts;
        let needs_status = match &self.ask {
            Ask::Status | Ask::Enable | Ask::Disable => true,
            Ask::DeleteUser(name) => name == ROOT,
            _ => false,
        };
        if needs_status && f.enabled.is_none() {
            let probe = json!({ "name": PROBE, "password": PROBE });
            return Some((Post::reading("/v3/auth/authenticate", probe), Flight::Probe));
        }
        let user = |name: &str| {
            (!f.user.contains_key(name)).then(|| {
                let post = Post::reading("/v3/auth/user/get", json!({ "name": name }));
                (post, Flight::User(name.to_owned()))
            })
        };
        let role = |name: &String| {
            (name != ROOT && !f.role.contains_key(name)).then(|| {
                let post = Post::reading("/v3/auth/role/get", json!({ "role": name }));
                (post, Flight::Role(name.clone()))
            })
        };
        let roles_of = |name: &str| f.user.get(name).cloned().flatten().unwrap_or_default();
        match &self.ask {
            // Already on: v2 answers "already enabled" to root only (anyone
            // else is refused first), and only root may list the users.
            Ask::Enable if f.enabled == Some(true) => match &f.users {
                None => Some((
                    Post::reading("/v3/auth/user/list", json!({})),
                    Flight::Users,
                )),
                Some(_) => None,
            },
            Ask::Enable => user(ROOT),
            Ask::Users => match &f.users {
                None => Some((
                    Post::reading("/v3/auth/user/list", json!({})),
                    Flight::Users,
                )),
                Some(users) => users.iter().find_map(|u| user(u)).or_else(|| {
                    users
                        .iter()
                        .flat_map(|u| roles_of(u))
                        .find_map(|r| role(&r))
                }),
            },
            Ask::User(name) => user(name).or_else(|| roles_of(name).iter().find_map(role)),
            Ask::PutUser(body) => {
                user(&body.user).or_else(|| body.roles.iter().chain(&body.grant).find_map(role))
            }
            Ask::Roles => match &f.roles {
                None => Some((
                    Post::reading("/v3/auth/role/list", json!({})),
                    Flight::Roles,
                )),
                Some(roles) => roles.iter().find_map(role),
            },
            Ask::Role(name) => role(name),
            Ask::PutRole(body) => role(&body.role),
            _ => None,
        }
    }

    /// Take a read's answer into the facts.
    fn read(&mut self, flight: Flight, result: Result<Value, Error>) -> Result<(), Ended> {
        let message = match &result {
            Err(Error::Api { message, .. }) => Some(message.as_str()),
            _ => None,
        };
        let f = &mut self.facts;
        match (flight, message) {
            (Flight::Probe, Some(m)) if m.contains("authentication is not enabled") => {
                f.enabled = Some(false);
                return Ok(());
            }
            (Flight::Probe, Some(m)) if m.contains("authentication failed") => {
                f.enabled = Some(true);
                return Ok(());
            }
            (Flight::User(name), Some(m)) if m.contains("user name not found") => {
                f.user.insert(name, None);
                return Ok(());
            }
            (Flight::Role(name), Some(m)) if m.contains("role name not found") => {
                f.role.insert(name, None);
                return Ok(());
            }
            (flight, _) => {
                let value = self.answered(result)?;
                let f = &mut self.facts;
                let names = |key: &str| -> Vec<String> {
                    let list = value.get(key).and_then(Value::as_array);
                    let names = list.into_iter().flatten().filter_map(Value::as_str);
                    names.map(str::to_owned).collect()
                };
                match flight {
                    Flight::Probe => f.enabled = Some(true),
                    Flight::Users => f.users = Some(names("users")),
                    Flight::Roles => f.roles = Some(names("roles")),
                    Flight::User(name) => {
                        f.user.insert(name, Some(names("roles")));
                    }
                    Flight::Role(name) => {
                        let perms = parse_role(&value).ok_or_else(|| {
                            Box::new(Err(Error::Decode {
                                endpoint: String::new(),
                                status: 200,
                                reason: "a role's permissions that are not v3's".into(),
                                body: value.to_string(),
                            }))
                        })?;
                        f.role.insert(name, Some(perms));
                    }
                    Flight::Change(_) => {}
                }
            }
        }
        Ok(())
    }

    /// An answer's JSON; or how the call ends: refused credentials are v2's
    /// 401, a foreign cluster [`Error::ClusterIdMismatch`].
    fn answered(&mut self, result: Result<Value, Error>) -> Result<Value, Ended> {
        let value = match result {
            Ok(value) => value,
            // etcd v2's auth API sends its 401 without a cluster ID.
            Err(Error::Api { message, .. }) if super::v3::is_access_refusal(&message) => {
                return Err(Box::new(Ok(reply::http_error(
                    401,
                    "Insufficient credentials",
                    None,
                ))));
            }
            Err(e) => return Err(Box::new(Err(e))),
        };
        let id = value
            .pointer("/header/cluster_id")
            .and_then(|v| v.as_str().and_then(|s| s.parse().ok()).or(v.as_u64()));
        if let Some(id) = id {
            let found = reply::cluster_id_text(id);
            if let Some(expected) = self
                .expected
                .as_ref()
                .filter(|e| !e.eq_ignore_ascii_case(&found))
            {
                return Err(Box::new(Err(Error::ClusterIdMismatch {
                    endpoint: String::new(),
                    expected: expected.clone(),
                    found,
                })));
            }
            self.facts.cluster = Some(id);
        }
        Ok(value)
    }

    /// A change's outcome: on, or how the call ends.
    fn changed(
        &mut self,
        tolerated: Option<&'static str>,
        result: Result<Value, Error>,
    ) -> Result<(), Ended> {
        if let Err(Error::Api { message, .. }) = &result {
            if tolerated.is_some_and(|t| message.contains(t)) {
                return Ok(());
            }
            let not_found = match &self.ask {
                Ask::DeleteUser(name) if message.contains("user name not found") => {
                    Some(format!("auth: User {name} does not exist"))
                }
                Ask::DeleteRole(name) if message.contains("role name not found") => {
                    Some(format!("auth: Role {name} doesn't exist."))
                }
                _ => None,
            };
            if let Some(message) = not_found {
                return Err(Box::new(Ok(self.error(404, &message))));
            }
            if message.contains("invalid auth management") {
                return Err(Box::new(Ok(self.error(403, &format!("auth: {message}")))));
            }
        }
        self.answered(result).map(|_| ())
    }
}

fn body(mut value: Vec<u8>) -> Vec<u8> {
    value.push(b'\n');
    value
}

fn patterns_of(facts: &Facts, prefix: &[u8], role: &str) -> Option<Patterns> {
    if role == ROOT {
        let all: std::collections::BTreeSet<String> = ["/*".to_owned()].into();
        return Some(Patterns {
            read: all.clone(),
            write: all,
        });
    }
    let perms = facts.role.get(role)?.as_ref()?;
    Some(v2_patterns(prefix, perms))
}

impl Access {
    /// The changes and the answer once they are made; or the answer now.
    fn plan(&self) -> Planned {
        let f = &self.facts;
        let id = f.cluster;
        let ok = |status: u16, value: Value| {
            reply::json(status, body(value.to_string().into_bytes()), id)
        };
        let empty = || reply::json(200, Vec::new(), id);
        let post = |path: &'static str, body: Value| (Post::applying(path, body), None);
        let role_json = |name: &str| -> Result<Value, Box<http::Response<Vec<u8>>>> {
            patterns_of(f, &self.prefix, name)
                .map(|p| p.role_json(name))
                .ok_or_else(|| {
                    Box::new(self.error(404, &format!("auth: Role {name} does not exist.")))
                })
        };
        match &self.ask {
            Ask::Status => Ok((
                vec![],
                ok(200, json!({ "enabled": f.enabled == Some(true) })),
            )),
            Ask::Enable => {
                if f.enabled == Some(true) {
                    return Err(Box::new(self.error(409, "auth: already enabled")));
                }
                let Some(Some(roles)) = f.user.get(ROOT) else {
                    return Err(Box::new(
                        self.error(409, "auth: No root user available, please create one"),
                    ));
                };
                let mut out = Vec::new();
                if !roles.iter().any(|r| r == ROOT) {
                    out.extend(root_role(ROOT));
                }
                out.push(post("/v3/auth/enable", json!({})));
                Ok((out, empty()))
            }
            Ask::Disable => {
                if f.enabled != Some(true) {
                    return Err(Box::new(self.error(409, "auth: already disabled")));
                }
                Ok((vec![post("/v3/auth/disable", json!({}))], empty()))
            }
            Ask::Users => {
                let users = f.users.clone().unwrap_or_default();
                let listed: Vec<Value> = users
                    .iter()
                    .map(|u| {
                        let roles: Vec<Value> = f
                            .user
                            .get(u)
                            .cloned()
                            .flatten()
                            .unwrap_or_default()
                            .iter()
                            .filter_map(|r| role_json(r).ok())
                            .collect();
                        if roles.is_empty() {
                            json!({ "user": u })
                        } else {
                            json!({ "user": u, "roles": roles })
                        }
                    })
                    .collect();
                let users = if listed.is_empty() {
                    Value::Null
                } else {
                    Value::Array(listed)
                };
                Ok((vec![], ok(200, json!({ "users": users }))))
            }
            Ask::User(name) => {
                let Some(Some(roles)) = f.user.get(name) else {
                    return Err(Box::new(
                        self.error(404, &format!("auth: User {name} does not exist.")),
                    ));
                };
                let roles = roles
                    .iter()
                    .map(|r| role_json(r))
                    .collect::<Result<Vec<_>, _>>()?;
                let user = if roles.is_empty() {
                    json!({ "user": name })
                } else {
                    json!({ "user": name, "roles": roles })
                };
                Ok((vec![], ok(200, user)))
            }
            Ask::PutUser(b) => self.put_user(b),
            Ask::DeleteUser(name) => {
                if name == ROOT && f.enabled == Some(true) {
                    let message = "auth: Cannot delete root user while auth is enabled.";
                    return Err(Box::new(self.error(403, message)));
                }
                Ok((
                    vec![post("/v3/auth/user/delete", json!({ "name": name }))],
                    empty(),
                ))
            }
            Ask::Roles => {
                let mut names = f.roles.clone().unwrap_or_default();
                if !names.iter().any(|r| r == ROOT) {
                    names.push(ROOT.into());
                    names.sort();
                }
                let roles: Vec<Value> = names.iter().filter_map(|r| role_json(r).ok()).collect();
                Ok((vec![], ok(200, json!({ "roles": roles }))))
            }
            Ask::Role(name) => Ok((vec![], ok(200, role_json(name)?))),
            Ask::PutRole(b) => self.put_role(b),
            Ask::DeleteRole(name) => {
                if name == ROOT {
                    return Err(Box::new(
                        self.error(403, "auth: Cannot modify role root: is root role."),
                    ));
                }
                Ok((
                    vec![post("/v3/auth/role/delete", json!({ "role": name }))],
                    empty(),
                ))
            }
        }
    }
}

/// The changes that give `user` the root role (creating the role if needed).
fn root_role(user: &str) -> Vec<Change> {
    vec![
        (
            Post::applying("/v3/auth/role/add", json!({ "name": ROOT })),
            Some("role name already exists"),
        ),
        (
            Post::applying("/v3/auth/user/grant", json!({ "user": user, "role": ROOT })),
            None,
        ),
    ]
}

#[path = "access_plan.rs"]
mod plan;
