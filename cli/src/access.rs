//! `user ...`, `role ...` and `auth enable|disable`, worded as etcdctl v2
//! (failures print the server's message alone, status 1).

use std::fmt::Write as _;

use crate::args::{AuthAction, PermissionFlags, RoleAction, UserAction};
use crate::connect::{credentials, Cli};
use crate::failure::{Fail, BAD_ARGS, OK};
use crate::keys::Done;

fn named<'a>(name: Option<&'a String>, what: &str) -> Result<&'a str, Fail> {
    name.map(String::as_str)
        .ok_or_else(|| Fail::plain(BAD_ARGS, format!("Please provide a {what}")))
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Run a `user` subcommand.
pub fn user(client: &Cli, action: &UserAction) -> Done {
    let auth = client.auth();
    let fail = |e: etcd_v2::Error| Fail::from_admin(&e);
    let text = match action {
        UserAction::Add { user } => {
            let spec = named(user.as_ref(), "username")?;
            let (name, password) = credentials(spec, "New password: ")?;
            match auth.create_user(&name, &password, &[]) {
                Ok(_) => {}
                // etcd v2's PUT of an existing user sets its password: etcdctl
                // reports it as created too.
                Err(e) if e.to_string().contains("already exists") => {
                    auth.change_password(&name, &password).map_err(fail)?;
                }
                Err(e) => return Err(fail(e)),
            }
            format!("User {name} created\n")
        }
        UserAction::Get { user } => {
            let u = auth
                .get_user(named(user.as_ref(), "username")?)
                .map_err(fail)?;
            format!("User: {}\nRoles:  {}\n", u.name, u.roles.join(" "))
        }
        UserAction::List => {
            let mut names: Vec<String> = auth
                .users()
                .map_err(fail)?
                .into_iter()
                .map(|u| u.name)
                .collect();
            names.sort();
            names.iter().map(|n| format!("{n}\n")).collect()
        }
        UserAction::Remove { user } => {
            let name = named(user.as_ref(), "username")?;
            auth.delete_user(name).map_err(fail)?;
            format!("User {name} removed\n")
        }
        UserAction::Grant { roles, user } | UserAction::Revoke { roles, user } => {
            let name = named(user.as_ref(), "username")?;
            if roles.is_empty() {
                return Err(Fail::plain(
                    BAD_ARGS,
                    "No roles specified; please use `--roles`",
                ));
            }
            if matches!(action, UserAction::Grant { .. }) {
                auth.grant_roles(name, &refs(roles)).map_err(fail)?;
            } else {
                auth.revoke_roles(name, &refs(roles)).map_err(fail)?;
            }
            format!("User {name} updated\n")
        }
        UserAction::Passwd { user } => {
            let name = named(user.as_ref(), "username")?;
            let (_, password) = credentials(name, "New password: ")?;
            auth.change_password(name, &password).map_err(fail)?;
            "Password updated\n".to_string()
        }
    };
    Ok((text, OK))
}

/// The one permission a grant or revoke names: (read, write) patterns.
/// Checked as etcdctl checks it, in its order: a path given, in canonical
/// form (a pattern such as `foo*` would never match a key), then exactly
/// one permission.
fn permission(perms: &PermissionFlags) -> Result<(Vec<String>, Vec<String>), Fail> {
    let path = match perms.path.as_deref() {
        None | Some("") => {
            return Err(Fail::plain(
                BAD_ARGS,
                "No path specified; please use `--path`",
            ))
        }
        Some(path) => path.to_owned(),
    };
    let canonical = canonical_path(&path);
    if canonical != path {
        return Err(Fail::plain(
            BAD_ARGS,
            format!("Not canonical path; please use `--path={canonical}`"),
        ));
    }
    let chosen = [perms.read, perms.write, perms.readwrite]
        .iter()
        .filter(|b| **b)
        .count();
    if chosen != 1 {
        return Err(Fail::plain(
            BAD_ARGS,
            "Please specify exactly one of --read, --write or --readwrite",
        ));
    }
    let read = if perms.read || perms.readwrite {
        vec![path.clone()]
    } else {
        vec![]
    };
    let write = if perms.write || perms.readwrite {
        vec![path]
    } else {
        vec![]
    };
    Ok((read, write))
}

/// etcd's `pathutil.CanonicalURLPath`: absolute, cleaned as Go's
/// `path.Clean`, a trailing slash kept.
fn canonical_path(path: &str) -> String {
    let absolute = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let mut cleaned = etcd_v2::key::clean(&absolute).unwrap_or_else(|_| "/".into());
    if absolute.ends_with('/') && cleaned != "/" {
        cleaned.push('/');
    }
    cleaned
}

/// Run a `role` subcommand.
pub fn role(client: &Cli, action: &RoleAction) -> Done {
    let auth = client.auth();
    let fail = |e: etcd_v2::Error| Fail::from_admin(&e);
    let text = match action {
        RoleAction::Add { role } => {
            let name = named(role.as_ref(), "role name")?;
            auth.create_role(name, &[], &[]).map_err(fail)?;
            format!("Role {name} created\n")
        }
        RoleAction::Get { role } => {
            let r = auth
                .get_role(named(role.as_ref(), "role name")?)
                .map_err(fail)?;
            let mut s = format!("Role: {}\nKV Read:\n", r.name);
            for p in &r.permissions.read {
                let _ = writeln!(s, "\t{p}");
            }
            s.push_str("KV Write:\n");
            for p in &r.permissions.write {
                let _ = writeln!(s, "\t{p}");
            }
            s
        }
        RoleAction::List => {
            let mut names: Vec<String> = auth
                .roles()
                .map_err(fail)?
                .into_iter()
                .map(|r| r.name)
                .collect();
            names.sort();
            names.iter().map(|n| format!("{n}\n")).collect()
        }
        RoleAction::Remove { role } => {
            let name = named(role.as_ref(), "role name")?;
            auth.delete_role(name).map_err(fail)?;
            format!("Role {name} removed\n")
        }
        RoleAction::Grant { perms, role } | RoleAction::Revoke { perms, role } => {
            let name = named(role.as_ref(), "role name")?;
            let (read, write) = permission(perms)?;
            if matches!(action, RoleAction::Grant { .. }) {
                auth.grant_permissions(name, &refs(&read), &refs(&write))
                    .map_err(fail)?;
            } else {
                auth.revoke_permissions(name, &refs(&read), &refs(&write))
                    .map_err(fail)?;
            }
            format!("Role {name} updated\n")
        }
    };
    Ok((text, OK))
}

/// Run an `auth` subcommand.
pub fn auth(client: &Cli, action: &AuthAction) -> Done {
    let auth = client.auth();
    match action {
        AuthAction::Enable => {
            auth.enable().map_err(|e| Fail::from_admin(&e))?;
            Ok(("Authentication Enabled\n".into(), OK))
        }
        AuthAction::Disable => {
            auth.disable().map_err(|e| Fail::from_admin(&e))?;
            Ok(("Authentication Disabled\n".into(), OK))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::canonical_path;

    #[test]
    fn paths_are_made_canonical_as_etcd_makes_them() {
        for (path, canonical) in [
            ("/foo*", "/foo*"),
            ("foo*", "/foo*"),
            ("/a/../b/", "/b/"),
            ("//c", "/c"),
            ("/", "/"),
            ("/x/./y", "/x/y"),
        ] {
            assert_eq!(canonical_path(path), canonical, "{path}");
        }
    }
}
