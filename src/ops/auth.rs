//! The auth API (`/v2/auth`): enable, disable, status; users and roles. Its
//! errors are `{"message": ...}` bodies ([`Error::Api`]): 401 without root
//! credentials, 409 for conflicts (`auth: already enabled`, a duplicate grant),
//! 404 for unknown users and roles.

use http::Method;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use super::{json_request, name_segment, Operation};
use crate::credentials::Secret;
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::response::{parse_empty, parse_json};

/// Key patterns a role may read and write (`/app/*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Permissions {
    /// Readable key patterns.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub read: Vec<String>,
    /// Writable key patterns.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub write: Vec<String>,
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
struct RawPermissions {
    #[serde(default)]
    kv: Permissions,
}

/// A role and its key permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// The role name.
    pub name: String,
    /// What it may read and write.
    pub permissions: Permissions,
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Role, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            role: String,
            #[serde(default)]
            permissions: Option<RawPermissions>,
        }
        let raw = Raw::deserialize(d)?;
        Ok(Role {
            name: raw.role,
            permissions: raw.permissions.map(|p| p.kv).unwrap_or_default(),
        })
    }
}

/// A user and its roles. etcd lists a user's roles by name when it is written,
/// and expands them into [`Role`]s when it is read; `roles` always has the names,
/// `role_details` the expansions when etcd sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    /// The user name.
    pub name: String,
    /// The names of its roles.
    pub roles: Vec<String>,
    /// Its roles with their permissions, when etcd expanded them.
    pub role_details: Vec<Role>,
}

impl<'de> Deserialize<'de> for User {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<User, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum RoleRef {
            Name(String),
            Role(Role),
        }
        #[derive(Deserialize)]
        struct Raw {
            user: String,
            #[serde(default, deserialize_with = "null_as_empty")]
            roles: Vec<RoleRef>,
        }
        let raw = Raw::deserialize(d)?;
        let mut user = User {
            name: raw.user,
            ..User::default()
        };
        for r in raw.roles {
            match r {
                RoleRef::Name(n) => user.roles.push(n),
                RoleRef::Role(role) => {
                    user.roles.push(role.name.clone());
                    user.role_details.push(role);
                }
            }
        }
        Ok(user)
    }
}

fn kv(read: &[String], write: &[String]) -> Value {
    json!({ "kv": { "read": read, "write": write } })
}

macro_rules! auth_op {
    (
        $(#[$doc:meta])*
        $name:ident { $($field:ident : $ty:ty),* } -> $out:ty, idempotent: $idem:literal,
        |$s:ident, $ep:ident| $build:expr,
        |$r:ident| $parse:expr
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name { $($field: $ty),* }

        impl Operation for $name {
            type Output = $out;
            fn build(&self, $ep: &Endpoint) -> Result<http::Request<Vec<u8>>, Error> {
                let $s = self;
                $build
            }
            fn parse(&self, $r: http::Response<Vec<u8>>) -> Result<$out, Error> {
                $parse
            }
            fn idempotent(&self) -> bool {
                $idem
            }
        }
    };
}

#[derive(Deserialize)]
struct RawStatus {
    enabled: bool,
}

auth_op!(
    /// `GET /v2/auth/enable`: whether auth is on. Needs no credentials.
    Status {} -> bool, idempotent: true,
    |_s, ep| json_request(ep, Method::GET, "/v2/auth/enable", None),
    |r| parse_json::<RawStatus>(&r, "an auth status").map(|s| s.enabled)
);
auth_op!(
    /// `PUT /v2/auth/enable`: turn auth on (a `root` user must exist; 409 if
    /// already on). etcd then creates a `guest` role with read-write on `/*`.
    Enable {} -> (), idempotent: false,
    |_s, ep| json_request(ep, Method::PUT, "/v2/auth/enable", None),
    |r| parse_empty(&r)
);
auth_op!(
    /// `DELETE /v2/auth/enable`: turn auth off (root credentials; 409 if already
    /// off).
    Disable {} -> (), idempotent: false,
    |_s, ep| json_request(ep, Method::DELETE, "/v2/auth/enable", None),
    |r| parse_empty(&r)
);

#[derive(Deserialize)]
struct RawUsers {
    #[serde(default, deserialize_with = "null_as_empty")]
    users: Vec<UserRef>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum UserRef {
    Name(String),
    User(User),
}

#[derive(Deserialize)]
struct RawRoles {
    #[serde(default, deserialize_with = "null_as_empty")]
    roles: Vec<RoleOrName>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RoleOrName {
    Name(String),
    Role(Role),
}

auth_op!(
    /// `GET /v2/auth/users`: every user (root credentials when auth is on).
    ListUsers {} -> Vec<User>, idempotent: true,
    |_s, ep| json_request(ep, Method::GET, "/v2/auth/users", None),
    |r| parse_json::<RawUsers>(&r, "a user list").map(|u| {
        u.users
            .into_iter()
            .map(|u| match u {
                UserRef::Name(name) => User { name, ..User::default() },
                UserRef::User(user) => user,
            })
            .collect()
    })
);
auth_op!(
    /// `GET /v2/auth/users/<name>`.
    GetUser { name: String } -> User, idempotent: true,
    |s, ep| json_request(ep, Method::GET, &format!("/v2/auth/users/{}", name_segment("user", &s.name)?), None),
    |r| parse_json(&r, "a user")
);
auth_op!(
    /// `PUT /v2/auth/users/<name>` with a password and roles: create a user.
    CreateUser { name: String, password: Secret, roles: Vec<String> } -> User, idempotent: false,
    |s, ep| {
        let path = format!("/v2/auth/users/{}", name_segment("user", &s.name)?);
        let mut body = json!({ "user": s.name, "password": s.password.expose() });
        if !s.roles.is_empty() {
            body["roles"] = json!(s.roles);
        }
        json_request(ep, Method::PUT, &path, Some(&body))
    },
    |r| parse_json(&r, "a user")
);
auth_op!(
    /// `DELETE /v2/auth/users/<name>`.
    DeleteUser { name: String } -> (), idempotent: false,
    |s, ep| json_request(ep, Method::DELETE, &format!("/v2/auth/users/{}", name_segment("user", &s.name)?), None),
    |r| parse_empty(&r)
);
auth_op!(
    /// Grant roles to a user (409 if it already has one of them).
    GrantRoles { name: String, roles: Vec<String> } -> User, idempotent: false,
    |s, ep| {
        let path = format!("/v2/auth/users/{}", name_segment("user", &s.name)?);
        json_request(ep, Method::PUT, &path, Some(&json!({ "user": s.name, "grant": s.roles })))
    },
    |r| parse_json(&r, "a user")
);
auth_op!(
    /// Revoke roles from a user.
    RevokeRoles { name: String, roles: Vec<String> } -> User, idempotent: false,
    |s, ep| {
        let path = format!("/v2/auth/users/{}", name_segment("user", &s.name)?);
        json_request(ep, Method::PUT, &path, Some(&json!({ "user": s.name, "revoke": s.roles })))
    },
    |r| parse_json(&r, "a user")
);
auth_op!(
    /// Change a user's password. Never resent after an ambiguous failure: a
    /// second application would overwrite a change made in between.
    ChangePassword { name: String, password: Secret } -> User, idempotent: false,
    |s, ep| {
        let path = format!("/v2/auth/users/{}", name_segment("user", &s.name)?);
        json_request(ep, Method::PUT, &path, Some(&json!({ "user": s.name, "password": s.password.expose() })))
    },
    |r| parse_json(&r, "a user")
);
auth_op!(
    /// `GET /v2/auth/roles`: every role.
    ListRoles {} -> Vec<Role>, idempotent: true,
    |_s, ep| json_request(ep, Method::GET, "/v2/auth/roles", None),
    |r| parse_json::<RawRoles>(&r, "a role list").map(|l| {
        l.roles
            .into_iter()
            .map(|r| match r {
                RoleOrName::Name(name) => Role { name, permissions: Permissions::default() },
                RoleOrName::Role(role) => role,
            })
            .collect()
    })
);
auth_op!(
    /// `GET /v2/auth/roles/<name>`.
    GetRole { name: String } -> Role, idempotent: true,
    |s, ep| json_request(ep, Method::GET, &format!("/v2/auth/roles/{}", name_segment("role", &s.name)?), None),
    |r| parse_json(&r, "a role")
);
auth_op!(
    /// `PUT /v2/auth/roles/<name>`: create a role that may read and write these
    /// key patterns.
    CreateRole { name: String, read: Vec<String>, write: Vec<String> } -> Role, idempotent: false,
    |s, ep| {
        let path = format!("/v2/auth/roles/{}", name_segment("role", &s.name)?);
        let body = json!({ "role": s.name, "permissions": kv(&s.read, &s.write) });
        json_request(ep, Method::PUT, &path, Some(&body))
    },
    |r| parse_json(&r, "a role")
);
auth_op!(
    /// `DELETE /v2/auth/roles/<name>` (the root role cannot be deleted: 403).
    DeleteRole { name: String } -> (), idempotent: false,
    |s, ep| json_request(ep, Method::DELETE, &format!("/v2/auth/roles/{}", name_segment("role", &s.name)?), None),
    |r| parse_empty(&r)
);
auth_op!(
    /// Add read and write patterns to a role. Never resent after an ambiguous
    /// failure: a grant applied twice answers 409 (a duplicate permission).
    GrantPermissions { name: String, read: Vec<String>, write: Vec<String> } -> Role, idempotent: false,
    |s, ep| {
        let path = format!("/v2/auth/roles/{}", name_segment("role", &s.name)?);
        let body = json!({ "role": s.name, "grant": kv(&s.read, &s.write) });
        json_request(ep, Method::PUT, &path, Some(&body))
    },
    |r| parse_json(&r, "a role")
);
auth_op!(
    /// Remove read and write patterns from a role. Never resent after an
    /// ambiguous failure: a revoke applied twice answers 400 (role not
    /// updated).
    RevokePermissions { name: String, read: Vec<String>, write: Vec<String> } -> Role, idempotent: false,
    |s, ep| {
        let path = format!("/v2/auth/roles/{}", name_segment("role", &s.name)?);
        let body = json!({ "role": s.name, "revoke": kv(&s.read, &s.write) });
        json_request(ep, Method::PUT, &path, Some(&body))
    },
    |r| parse_json(&r, "a role")
);

fn strings<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Vec<String> {
    items.into_iter().map(Into::into).collect()
}

impl Status {
    /// Ask whether auth is on.
    pub fn new() -> Status {
        Status {}
    }
}
impl Default for Status {
    fn default() -> Status {
        Status::new()
    }
}
impl Enable {
    /// Turn auth on.
    pub fn new() -> Enable {
        Enable {}
    }
}
impl Default for Enable {
    fn default() -> Enable {
        Enable::new()
    }
}
impl Disable {
    /// Turn auth off.
    pub fn new() -> Disable {
        Disable {}
    }
}
impl Default for Disable {
    fn default() -> Disable {
        Disable::new()
    }
}
impl ListUsers {
    /// List users.
    pub fn new() -> ListUsers {
        ListUsers {}
    }
}
impl Default for ListUsers {
    fn default() -> ListUsers {
        ListUsers::new()
    }
}
impl ListRoles {
    /// List roles.
    pub fn new() -> ListRoles {
        ListRoles {}
    }
}
impl Default for ListRoles {
    fn default() -> ListRoles {
        ListRoles::new()
    }
}
impl GetUser {
    /// Read user `name`.
    pub fn new(name: impl Into<String>) -> GetUser {
        GetUser { name: name.into() }
    }
}
impl CreateUser {
    /// Create user `name` with `password` and `roles`.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(
        name: impl Into<String>,
        password: impl Into<String>,
        roles: I,
    ) -> CreateUser {
        CreateUser {
            name: name.into(),
            password: Secret::new(password),
            roles: strings(roles),
        }
    }
}
impl DeleteUser {
    /// Delete user `name`.
    pub fn new(name: impl Into<String>) -> DeleteUser {
        DeleteUser { name: name.into() }
    }
}
impl GrantRoles {
    /// Grant `roles` to user `name`.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(
        name: impl Into<String>,
        roles: I,
    ) -> GrantRoles {
        GrantRoles {
            name: name.into(),
            roles: strings(roles),
        }
    }
}
impl RevokeRoles {
    /// Revoke `roles` from user `name`.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(
        name: impl Into<String>,
        roles: I,
    ) -> RevokeRoles {
        RevokeRoles {
            name: name.into(),
            roles: strings(roles),
        }
    }
}
impl ChangePassword {
    /// Give user `name` a new `password`.
    pub fn new(name: impl Into<String>, password: impl Into<String>) -> ChangePassword {
        ChangePassword {
            name: name.into(),
            password: Secret::new(password),
        }
    }
}
impl GetRole {
    /// Read role `name`.
    pub fn new(name: impl Into<String>) -> GetRole {
        GetRole { name: name.into() }
    }
}
impl CreateRole {
    /// Create role `name` with `read` and `write` key patterns.
    pub fn new<I: IntoIterator<Item = S>, J: IntoIterator<Item = S>, S: Into<String>>(
        name: impl Into<String>,
        read: I,
        write: J,
    ) -> CreateRole {
        CreateRole {
            name: name.into(),
            read: strings(read),
            write: strings(write),
        }
    }
}
impl DeleteRole {
    /// Delete role `name`.
    pub fn new(name: impl Into<String>) -> DeleteRole {
        DeleteRole { name: name.into() }
    }
}
impl GrantPermissions {
    /// Let role `name` also read `read` and write `write`.
    pub fn new<I: IntoIterator<Item = S>, J: IntoIterator<Item = S>, S: Into<String>>(
        name: impl Into<String>,
        read: I,
        write: J,
    ) -> GrantPermissions {
        GrantPermissions {
            name: name.into(),
            read: strings(read),
            write: strings(write),
        }
    }
}
impl RevokePermissions {
    /// Take `read` and `write` patterns away from role `name`.
    pub fn new<I: IntoIterator<Item = S>, J: IntoIterator<Item = S>, S: Into<String>>(
        name: impl Into<String>,
        read: I,
        write: J,
    ) -> RevokePermissions {
        RevokePermissions {
            name: name.into(),
            read: strings(read),
            write: strings(write),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (read {:?}, write {:?})",
            self.name, self.permissions.read, self.permissions.write
        )
    }
}
