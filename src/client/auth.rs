//! The auth API.

use super::{AsyncClient, Client};
use crate::error::Error;
use crate::ops::auth::*;
use crate::transport::{AsyncTransport, Transport};

macro_rules! auth_api {
    (sync) => { auth_api!(@ [] []); };
    (async) => { auth_api!(@ [async] [.await]); };
    (@ [$($kw:tt)*] [$($aw:tt)*]) => {
    /// Whether auth is on.
    pub $($kw)* fn status(&self) -> Result<bool, Error> {
        self.client.execute(&Status::new())$($aw)*
    }

    /// Turn auth on (a `root` user must exist).
    pub $($kw)* fn enable(&self) -> Result<(), Error> {
        self.client.execute(&Enable::new())$($aw)*
    }

    /// Turn auth off.
    pub $($kw)* fn disable(&self) -> Result<(), Error> {
        self.client.execute(&Disable::new())$($aw)*
    }

    /// Every user.
    pub $($kw)* fn users(&self) -> Result<Vec<User>, Error> {
        self.client.execute(&ListUsers::new())$($aw)*
    }

    /// One user, with its roles expanded.
    pub $($kw)* fn get_user(&self, name: &str) -> Result<User, Error> {
        self.client.execute(&GetUser::new(name))$($aw)*
    }

    /// Create a user with a password and roles.
    pub $($kw)* fn create_user(&self, name: &str, password: &str, roles: &[&str]) -> Result<User, Error> {
        self.client
            .execute(&CreateUser::new(name, password, roles.iter().copied()))$($aw)*
    }

    /// Delete a user.
    pub $($kw)* fn delete_user(&self, name: &str) -> Result<(), Error> {
        self.client.execute(&DeleteUser::new(name))$($aw)*
    }

    /// Grant roles to a user.
    pub $($kw)* fn grant_roles(&self, name: &str, roles: &[&str]) -> Result<User, Error> {
        self.client
            .execute(&GrantRoles::new(name, roles.iter().copied()))$($aw)*
    }

    /// Revoke roles from a user.
    pub $($kw)* fn revoke_roles(&self, name: &str, roles: &[&str]) -> Result<User, Error> {
        self.client
            .execute(&RevokeRoles::new(name, roles.iter().copied()))$($aw)*
    }

    /// Change a user's password.
    pub $($kw)* fn change_password(&self, name: &str, password: &str) -> Result<User, Error> {
        self.client.execute(&ChangePassword::new(name, password))$($aw)*
    }

    /// Every role.
    pub $($kw)* fn roles(&self) -> Result<Vec<Role>, Error> {
        self.client.execute(&ListRoles::new())$($aw)*
    }

    /// One role.
    pub $($kw)* fn get_role(&self, name: &str) -> Result<Role, Error> {
        self.client.execute(&GetRole::new(name))$($aw)*
    }

    /// Create a role that may read `read` and write `write` (key patterns such as
    /// `/app/*`).
    pub $($kw)* fn create_role(&self, name: &str, read: &[&str], write: &[&str]) -> Result<Role, Error> {
        self.client.execute(&CreateRole::new(
            name,
            read.iter().copied(),
            write.iter().copied(),
        ))$($aw)*
    }

    /// Delete a role.
    pub $($kw)* fn delete_role(&self, name: &str) -> Result<(), Error> {
        self.client.execute(&DeleteRole::new(name))$($aw)*
    }

    /// Add permissions to a role.
    pub $($kw)* fn grant_permissions(
        &self,
        name: &str,
        read: &[&str],
        write: &[&str],
    ) -> Result<Role, Error> {
        self.client.execute(&GrantPermissions::new(
            name,
            read.iter().copied(),
            write.iter().copied(),
        ))$($aw)*
    }

    /// Remove permissions from a role.
    pub $($kw)* fn revoke_permissions(
        &self,
        name: &str,
        read: &[&str],
        write: &[&str],
    ) -> Result<Role, Error> {
        self.client.execute(&RevokePermissions::new(
            name,
            read.iter().copied(),
            write.iter().copied(),
        ))$($aw)*
    }
    };
}

group!(
    /// Users, roles, and turning auth on and off (`/v2/auth`). With auth on, every
    /// call here needs root credentials ([`crate::ClientBuilder::basic_auth`]),
    /// except [`AuthOps::status`]. Errors are [`Error::Api`] with etcd's message.
    ///
    /// MemoryEtcd does not serve auth; here a closure stands in for etcd, answering
    /// as etcd 3.4 does with auth off:
    ///
    /// ```
    /// use etcd_v2::{Client, TransportError};
    /// let etcd = |req: http::Request<Vec<u8>>| -> Result<http::Response<Vec<u8>>, TransportError> {
    ///     assert_eq!(req.uri().path(), "/v2/auth/enable");
    ///     Ok(http::Response::builder()
    ///         .status(200)
    ///         .header("Content-Type", "application/json")
    ///         .body(br#"{"enabled":false}"#.to_vec())
    ///         .expect("a valid response"))
    /// };
    /// let client = Client::builder().build_with(etcd)?;
    /// assert!(!client.auth().status()?);
    /// # Ok::<(), etcd_v2::Error>(())
    /// ```
    AuthOps, auth_api
);
