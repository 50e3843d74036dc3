//! The v2 auth API's requests (`/v2/auth/...`) as the bridge reads them:
//! the path, method and JSON body decoded into an [`Ask`], or the answer
//! etcd v2 gives a malformed one (400, 405) before anything is asked of v3.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::server::reply;

/// A v2 auth request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// `GET /v2/auth/enable`.
    Status,
    /// `PUT /v2/auth/enable`.
    Enable,
    /// `DELETE /v2/auth/enable`.
    Disable,
    /// `GET /v2/auth/users`.
    Users,
    /// `GET /v2/auth/users/NAME`.
    User(String),
    /// `PUT /v2/auth/users/NAME`.
    PutUser(UserBody),
    /// `DELETE /v2/auth/users/NAME`.
    DeleteUser(String),
    /// `GET /v2/auth/roles`.
    Roles,
    /// `GET /v2/auth/roles/NAME`.
    Role(String),
    /// `PUT /v2/auth/roles/NAME`.
    PutRole(RoleBody),
    /// `DELETE /v2/auth/roles/NAME`.
    DeleteRole(String),
}

/// A user's PUT body (`{"user","password","roles","grant","revoke"}`).
#[derive(Clone, PartialEq, Eq, Deserialize, Default)]
pub struct UserBody {
    /// The user.
    #[serde(default)]
    pub user: String,
    /// A new password (never shown by `Debug`).
    #[serde(default)]
    pub password: String,
    /// The roles to create the user with.
    #[serde(default, deserialize_with = "null_list")]
    pub roles: Vec<String>,
    /// Roles to grant.
    #[serde(default, deserialize_with = "null_list")]
    pub grant: Vec<String>,
    /// Roles to revoke.
    #[serde(default, deserialize_with = "null_list")]
    pub revoke: Vec<String>,
}

impl std::fmt::Debug for UserBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserBody")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("roles", &self.roles)
            .field("grant", &self.grant)
            .field("revoke", &self.revoke)
            .finish()
    }
}

/// `{"kv":{"read","write"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct Kv {
    /// The permissions.
    #[serde(default)]
    pub kv: ReadWrite,
}

/// Readable and writable patterns, in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct ReadWrite {
    /// Readable patterns (`None`: `null` or absent).
    #[serde(default)]
    pub read: Option<Vec<String>>,
    /// Writable patterns.
    #[serde(default)]
    pub write: Option<Vec<String>>,
}

impl Kv {
    /// Whether it grants nothing.
    pub fn is_empty(&self) -> bool {
        self.kv.read.as_ref().is_none_or(Vec::is_empty)
            && self.kv.write.as_ref().is_none_or(Vec::is_empty)
    }

    /// The patterns, as sets.
    pub fn sets(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let set = |l: &Option<Vec<String>>| l.iter().flatten().cloned().collect();
        (set(&self.kv.read), set(&self.kv.write))
    }
}

/// A role's PUT body (`{"role","permissions","grant","revoke"}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct RoleBody {
    /// The role.
    #[serde(default)]
    pub role: String,
    /// The permissions to create it with.
    #[serde(default)]
    pub permissions: Kv,
    /// Permissions to grant.
    #[serde(default)]
    pub grant: Option<Kv>,
    /// Permissions to revoke.
    #[serde(default)]
    pub revoke: Option<Kv>,
}

impl RoleBody {
    /// Whether it grants or revokes (an update, not a creation).
    pub fn updates(&self) -> bool {
        !self.grant.as_ref().is_none_or(Kv::is_empty)
            || !self.revoke.as_ref().is_none_or(Kv::is_empty)
    }
}

fn null_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// What a request to `/v2/auth` + `path` asks, or etcd v2's answer to a
/// malformed one.
pub fn decode(
    method: &http::Method,
    path: &str,
    body: &[u8],
) -> Result<Ask, Box<http::Response<Vec<u8>>>> {
    let pieces: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let allowed = |allow: &'static str| {
        if allow.split(", ").any(|m| m == method.as_str()) {
            Ok(())
        } else {
            Err(Box::new(reply::method_not_allowed(allow, None)))
        }
    };
    let invalid = |message: &str| Err(Box::new(reply::http_error(400, message, None)));
    match pieces.as_slice() {
        ["", "enable"] => {
            allowed("GET, PUT, DELETE")?;
            Ok(match *method {
                http::Method::PUT => Ask::Enable,
                http::Method::DELETE => Ask::Disable,
                _ => Ask::Status,
            })
        }
        ["", "users"] => allowed("GET").map(|()| Ask::Users),
        ["", "roles"] => allowed("GET").map(|()| Ask::Roles),
        ["", "users", name] => {
            allowed("GET, PUT, DELETE")?;
            match *method {
                http::Method::GET => Ok(Ask::User((*name).into())),
                http::Method::DELETE => Ok(Ask::DeleteUser((*name).into())),
                _ => {
                    let Ok(user) = serde_json::from_slice::<UserBody>(body) else {
                        return invalid("Invalid JSON in request body.");
                    };
                    if user.user != *name {
                        return invalid("User JSON name does not match the name in the URL");
                    }
                    let updates = !user.grant.is_empty() || !user.revoke.is_empty();
                    if updates && !user.roles.is_empty() {
                        return invalid("User JSON contains both roles and grant/revoke");
                    }
                    Ok(Ask::PutUser(user))
                }
            }
        }
        ["", "roles", name] => {
            allowed("GET, PUT, DELETE")?;
            match *method {
                http::Method::GET => Ok(Ask::Role((*name).into())),
                http::Method::DELETE => Ok(Ask::DeleteRole((*name).into())),
                _ => {
                    let Ok(role) = serde_json::from_slice::<RoleBody>(body) else {
                        return invalid("Invalid JSON in request body.");
                    };
                    if role.role != *name {
                        return invalid("Role JSON name does not match the name in the URL");
                    }
                    if role.updates() && !role.permissions.is_empty() {
                        return invalid("Role JSON contains both permissions and grant/revoke");
                    }
                    Ok(Ask::PutRole(role))
                }
            }
        }
        _ => invalid("Invalid path"),
    }
}
