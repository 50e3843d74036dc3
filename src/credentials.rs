//! HTTP basic-auth credentials, kept out of `Debug` output, logs and errors.

use std::fmt;

/// A user name and password for etcd's auth. `Debug` shows the user only.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    user: String,
    password: Secret,
    header: http::HeaderValue,
}

impl Credentials {
    /// Credentials for `user` with `password`.
    pub fn new(user: impl Into<String>, password: impl AsRef<str>) -> Credentials {
        let user = user.into();
        let token = crate::base64::encode(format!("{user}:{}", password.as_ref()).as_bytes());
        let mut header = http::HeaderValue::from_str(&format!("Basic {token}"))
            .unwrap_or_else(|_| http::HeaderValue::from_static(""));
        header.set_sensitive(true);
        Credentials {
            user,
            password: Secret::new(password.as_ref()),
            header,
        }
    }

    /// The password (for the v3 bridge's `/v3/auth/authenticate`).
    #[cfg_attr(not(feature = "bridge"), allow(dead_code))]
    pub(crate) fn password(&self) -> &Secret {
        &self.password
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The `Authorization` header value (marked sensitive).
    pub fn header(&self) -> &http::HeaderValue {
        &self.header
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A password inside an operation: compared and sent, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(crate::base64::encode(input.as_bytes()), want);
        }
    }

    #[test]
    fn header_and_debug() {
        let c = Credentials::new("root", "s3cret");
        assert_eq!(c.header().to_str().unwrap(), "Basic cm9vdDpzM2NyZXQ=");
        assert!(c.header().is_sensitive());
        let shown = format!("{c:?}");
        assert!(shown.contains("root") && !shown.contains("s3cret") && !shown.contains("cm9v"));
    }
}
