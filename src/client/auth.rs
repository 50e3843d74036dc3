//! The auth API.

use super::Client;
use crate::error::Error;
use crate::ops::auth::*;
use crate::transport::Transport;

/// Users, roles, and turning auth on and off (`/v2/auth`). With auth on, every
/// call here needs root credentials ([`crate::ClientBuilder::basic_auth`]),
/// except [`AuthOps::status`]. Errors are [`Error::Api`] with etcd's message.
#[derive(Debug)]
pub struct AuthOps<'a, T: Transport> {
    client: &'a Client<T>,
}

impl<'a, T: Transport> AuthOps<'a, T> {
    pub(super) fn new(client: &'a Client<T>) -> AuthOps<'a, T> {
        AuthOps { client }
    }

    /// Whether auth is on.
    pub fn status(&self) -> Result<bool, Error> {
        self.client.execute(&Status::new())
    }

    /// Turn auth on (a `root` user must exist).
    pub fn enable(&self) -> Result<(), Error> {
        self.client.execute(&Enable::new())
    }

    /// Turn auth off.
    pub fn disable(&self) -> Result<(), Error> {
        self.client.execute(&Disable::new())
    }

    /// Every user.
    pub fn users(&self) -> Result<Vec<User>, Error> {
        self.client.execute(&ListUsers::new())
    }

    /// One user, with its roles expanded.
    pub fn get_user(&self, name: &str) -> Result<User, Error> {
        self.client.execute(&GetUser::new(name))
    }

    /// Create a user with a password and roles.
    pub fn create_user(&self, name: &str, password: &str, roles: &[&str]) -> Result<User, Error> {
        self.client
            .execute(&CreateUser::new(name, password, roles.iter().copied()))
    }

    /// Delete a user.
    pub fn delete_user(&self, name: &str) -> Result<(), Error> {
        self.client.execute(&DeleteUser::new(name))
    }

    /// Grant roles to a user.
    pub fn grant_roles(&self, name: &str, roles: &[&str]) -> Result<User, Error> {
        self.client
            .execute(&GrantRoles::new(name, roles.iter().copied()))
    }

    /// Revoke roles from a user.
    pub fn revoke_roles(&self, name: &str, roles: &[&str]) -> Result<User, Error> {
        self.client
            .execute(&RevokeRoles::new(name, roles.iter().copied()))
    }

    /// Change a user's password.
    pub fn change_password(&self, name: &str, password: &str) -> Result<User, Error> {
        self.client.execute(&ChangePassword::new(name, password))
    }

    /// Every role.
    pub fn roles(&self) -> Result<Vec<Role>, Error> {
        self.client.execute(&ListRoles::new())
    }

    /// One role.
    pub fn get_role(&self, name: &str) -> Result<Role, Error> {
        self.client.execute(&GetRole::new(name))
    }

    /// Create a role that may read `read` and write `write` (key patterns such as
    /// `/app/*`).
    pub fn create_role(&self, name: &str, read: &[&str], write: &[&str]) -> Result<Role, Error> {
        self.client.execute(&CreateRole::new(
            name,
            read.iter().copied(),
            write.iter().copied(),
        ))
    }

    /// Delete a role.
    pub fn delete_role(&self, name: &str) -> Result<(), Error> {
        self.client.execute(&DeleteRole::new(name))
    }

    /// Add permissions to a role.
    pub fn grant_permissions(
        &self,
        name: &str,
        read: &[&str],
        write: &[&str],
    ) -> Result<Role, Error> {
        self.client.execute(&GrantPermissions::new(
            name,
            read.iter().copied(),
            write.iter().copied(),
        ))
    }

    /// Remove permissions from a role.
    pub fn revoke_permissions(
        &self,
        name: &str,
        read: &[&str],
        write: &[&str],
    ) -> Result<Role, Error> {
        self.client.execute(&RevokePermissions::new(
            name,
            read.iter().copied(),
            write.iter().copied(),
        ))
    }
}
