//! The command line: etcdctl v2's global flags and commands, and this tool's
//! own (`--bridge`, `lock`, `elect`, `copy`, `completion`).

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// Where this tool deliberately differs from etcdctl v2 (also in README.md).
pub const DIFFERENCES: &str = "\
Differences from etcdctl v2 (3.4):
  - flags may follow arguments (etcdctl stopped reading flags at the first argument);
  - bad input (a key too long, a TTL etcd would misread, a malformed endpoint) is refused
    with a clear error before anything is sent, exit status 1; so are an unknown -o
    format (etcdctl ran the command, then complained), arguments beyond those a
    command takes (etcdctl ignored them), a negative index (etcdctl wrapped it), and
    Go's `--flag=false` and `--p` spellings of flags;
  - a write whose outcome is unknown (a timeout after sending) is never sent again: the
    error says so (exit status 4; 1 for user, role, auth and member commands, as
    their other failures);
  - `watch` and `exec-watch` never lose or repeat an event between long polls;
    `exec-watch` runs its command once per event, in order, one at a time, and
    `exec-watch KEY -- CMD...` runs the command (etcdctl 3.4 ran it only when KEY
    followed a flag without a value, such as --recursive);
  - `--debug` prints the requests this tool sends (no `false` query flags; over
    --bridge, the v3 gateway requests), credentials masked;
  - a password is read from the terminal without echo, or from a pipe without stty's complaints;
  - `--discovery-srv` is not supported (an error, never ignored); `--insecure-discovery`,
    which only tells how to treat what discovery finds, is accepted and changes nothing;
  - `--insecure-skip-tls-verify` and `ETCDCTL_INSECURE_SKIP_TLS_VERIFY` work
    (etcdctl 3.4's v2 mode refused the flag and ignored the variable);
    TLS failures are worded by rustls (the same status, 4);
  - help texts and `--version` are this tool's own.
Over --bridge, the commands behave as the bridge does:
  - indexes come from v3 revisions;
  - auth has no guest role (reads need credentials once auth is on);
  - `member` and `cluster-health` use etcd's own endpoints;
  - there is no endpoint sync.";

/// etcd-v2: etcdctl's v2 commands, on etcd v2 clusters and over the v3 bridge.
#[derive(Debug, Parser)]
#[command(
    name = "etcd-v2",
    version,
    about = "etcdctl's v2 commands, on etcd v2 clusters and over the v3 bridge (--bridge)",
    after_help = DIFFERENCES,
    disable_help_subcommand = true,
    disable_version_flag = true,
    args_override_self = true
)]
pub struct Cli {
    /// Print the version (etcdctl's `--version, -v`; `-V` too).
    #[arg(short = 'v', long = "version", short_alias = 'V', action = ArgAction::Version)]
    pub version: Option<bool>,
    /// The global options.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// How answers are printed (`-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// The value (etcdctl's default).
    Simple,
    /// Key, indexes, TTL and value, one per line.
    Extended,
    /// The whole answer as JSON, in etcdctl's shape.
    Json,
}

/// The global options (before or after the command).
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Print each request as a curl command on stderr (credentials masked).
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use the endpoints as given; do not replace them with the cluster's
    /// published client URLs first.
    #[arg(long = "no-sync", global = true)]
    pub no_sync: bool,
    /// Output format: simple, extended or json.
    #[arg(
        short = 'o',
        long = "output",
        value_enum,
        default_value = "simple",
        global = true
    )]
    pub output: Output,
    /// Comma-separated member URLs (scheme required).
    #[arg(long, env = "ETCDCTL_ENDPOINTS", global = true)]
    pub endpoints: Option<String>,
    /// Deprecated: use --endpoints.
    #[arg(long, env = "ETCDCTL_ENDPOINT", global = true, hide = true)]
    pub endpoint: Option<String>,
    /// Deprecated: use --endpoints.
    #[arg(short = 'C', long, env = "ETCDCTL_PEERS", global = true, hide = true)]
    pub peers: Option<String>,
    /// Not supported: give --endpoints.
    #[arg(
        short = 'D',
        long = "discovery-srv",
        env = "ETCDCTL_DISCOVERY_SRV",
        global = true,
        hide = true
    )]
    pub discovery_srv: Option<String>,
    /// Accept insecure SRV records (etcdctl's default). Only meaningful with
    /// --discovery-srv, which this tool refuses: accepted, and ignored, so
    /// that etcdctl's command lines keep working.
    #[arg(
        long = "insecure-discovery",
        global = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        default_value = "true",
        value_parser = BoolishValueParser::new(),
        action = ArgAction::Set
    )]
    #[allow(dead_code)] // nothing to do without --discovery-srv
    pub insecure_discovery: bool,
    /// Client certificate (PEM) for HTTPS.
    #[arg(long = "cert-file", env = "ETCDCTL_CERT_FILE", global = true)]
    pub cert_file: Option<String>,
    /// Client key (PEM) for HTTPS.
    #[arg(long = "key-file", env = "ETCDCTL_KEY_FILE", global = true)]
    pub key_file: Option<String>,
    /// CA bundle (PEM) to verify HTTPS members with.
    #[arg(long = "ca-file", env = "ETCDCTL_CA_FILE", global = true)]
    pub ca_file: Option<String>,
    /// Accept any server certificate (dangerous).
    #[arg(
        long = "insecure-skip-tls-verify",
        env = "ETCDCTL_INSECURE_SKIP_TLS_VERIFY",
        global = true
    )]
    pub insecure_skip_tls_verify: bool,
    /// user[:password]; the password is prompted for when absent.
    #[arg(
        short = 'u',
        long = "username",
        env = "ETCDCTL_USERNAME",
        global = true
    )]
    pub username: Option<String>,
    /// Per-request timeout (Go duration, e.g. 2s, 500ms).
    #[arg(long, default_value = "2s", global = true)]
    pub timeout: String,
    /// Timeout for the whole command, except watches (Go duration).
    #[arg(long = "total-timeout", default_value = "5s", global = true)]
    pub total_timeout: String,
    /// Run over etcd's v3 gateway, keeping the v2 tree under this v3 prefix.
    #[arg(long, env = "ETCD_V2_BRIDGE", global = true)]
    pub bridge: Option<String>,
}

impl Global {
    /// An empty value (`-u ''`, `ETCDCTL_USERNAME=`) is no value, as etcdctl
    /// (urfave/cli) takes it: no credentials, the system's CA roots, no
    /// client certificate.
    pub fn drop_empty(&mut self) {
        for value in [
            &mut self.username,
            &mut self.ca_file,
            &mut self.cert_file,
            &mut self.key_file,
        ] {
            if value.as_deref() == Some("") {
                *value = None;
            }
        }
    }
}

/// A TTL option, as etcdctl reads it (0 or less: none; Go's integer syntax,
/// so `010` is 8).
#[derive(Debug, Args)]
pub struct Ttl {
    /// Key time-to-live in seconds (0 or less: none).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = crate::goint::parse_i64)]
    pub ttl: i64,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the health of the etcd cluster.
    #[command(name = "cluster-health")]
    ClusterHealth {
        /// Check every 10 seconds, forever.
        #[arg(short = 'f', long)]
        forever: bool,
    },
    /// Make a new key with a given value.
    Mk {
        /// Create an in-order key under the directory <key>.
        #[arg(long = "in-order")]
        in_order: bool,
        #[command(flatten)]
        ttl: Ttl,
        /// The key (or directory, with --in-order).
        key: Option<String>,
        /// The value.
        #[arg(allow_hyphen_values = true)]
        value: Option<String>,
    },
    /// Make a new directory.
    Mkdir {
        #[command(flatten)]
        ttl: Ttl,
        /// The directory.
        key: Option<String>,
    },
    /// Remove a key or a directory.
    Rm {
        /// Remove the key if it is an empty directory or a key-value pair.
        #[arg(long)]
        dir: bool,
        /// Remove the key and all child keys (if it is a directory).
        #[arg(short = 'r', long)]
        recursive: bool,
        /// Only if the current value is this.
        #[arg(long = "with-value")]
        with_value: Option<String>,
        /// Only if the current modifiedIndex is this.
        #[arg(long = "with-index", default_value_t = 0, value_parser = crate::goint::parse_index)]
        with_index: u64,
        /// The key.
        key: Option<String>,
    },
    /// Remove the key if it is an empty directory or a key-value pair.
    Rmdir {
        /// The directory.
        key: Option<String>,
    },
    /// Retrieve the value of a key.
    Get {
        /// Return the result in sorted order.
        #[arg(long)]
        sort: bool,
        /// Require quorum for the read.
        #[arg(short = 'q', long)]
        quorum: bool,
        /// The key.
        key: Option<String>,
    },
    /// Retrieve a directory.
    Ls {
        /// Return the result in sorted order.
        #[arg(long)]
        sort: bool,
        /// Return all key names recursively for the given path.
        #[arg(short = 'r', long)]
        recursive: bool,
        /// Append a slash (/) to directories.
        #[arg(short = 'p')]
        slash: bool,
        /// Require quorum for the read.
        #[arg(short = 'q', long)]
        quorum: bool,
        /// The directory (default /).
        key: Option<String>,
    },
    /// Set the value of a key.
    Set {
        #[command(flatten)]
        ttl: Ttl,
        /// Only if the current value is this.
        #[arg(long = "swap-with-value")]
        swap_with_value: Option<String>,
        /// Only if the current modifiedIndex is this.
        #[arg(long = "swap-with-index", default_value_t = 0, value_parser = crate::goint::parse_index)]
        swap_with_index: u64,
        /// The key.
        key: Option<String>,
        /// The value (after `--` when it begins with '-').
        #[arg(allow_hyphen_values = true)]
        value: Option<String>,
    },
    /// Create a new directory or update an existing directory TTL.
    Setdir {
        #[command(flatten)]
        ttl: Ttl,
        /// The directory.
        key: Option<String>,
    },
    /// Update an existing key with a given value.
    Update {
        #[command(flatten)]
        ttl: Ttl,
        /// The key.
        key: Option<String>,
        /// The value.
        #[arg(allow_hyphen_values = true)]
        value: Option<String>,
    },
    /// Update an existing directory.
    Updatedir {
        #[command(flatten)]
        ttl: Ttl,
        /// The directory.
        key: Option<String>,
    },
    /// Watch a key for changes.
    Watch {
        /// Keep watching until interrupted.
        #[arg(short = 'f', long)]
        forever: bool,
        /// Watch changes after this index.
        #[arg(long = "after-index", default_value_t = 0, value_parser = crate::goint::parse_index)]
        after_index: u64,
        /// Watch the key and every key below it.
        #[arg(short = 'r', long)]
        recursive: bool,
        /// The key.
        key: Option<String>,
    },
    /// Watch a key for changes and run a command on each (KEY -- CMD..., or CMD... KEY).
    #[command(name = "exec-watch")]
    ExecWatch {
        /// Watch changes after this index.
        #[arg(long = "after-index", default_value_t = 0, value_parser = crate::goint::parse_index)]
        after_index: u64,
        /// Watch the key and every key below it.
        #[arg(short = 'r', long)]
        recursive: bool,
        /// The key and the command.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Member add, remove, update and list.
    Member {
        /// What to do.
        #[command(subcommand)]
        action: MemberAction,
    },
    /// User add, get, list, remove, grant, revoke and passwd.
    User {
        /// What to do.
        #[command(subcommand)]
        action: UserAction,
    },
    /// Role add, get, list, remove, grant and revoke.
    Role {
        /// What to do.
        #[command(subcommand)]
        action: RoleAction,
    },
    /// Overall auth controls.
    Auth {
        /// What to do.
        #[command(subcommand)]
        action: AuthAction,
    },
    /// Run a command while holding a lock (python-etcd's lock layout): NAME -- CMD...
    Lock {
        /// The lock's TTL in seconds (renewed every third of it while the command runs).
        #[arg(long, default_value_t = 30)]
        ttl: u64,
        /// Give up (exit 1) if the lock is not acquired within this Go duration.
        #[arg(long)]
        wait: Option<String>,
        /// The lock's name (under /_locks).
        name: Option<String>,
    },
    /// Run a command while leader of KEY with VALUE: KEY VALUE -- CMD...
    Elect {
        /// The leadership's TTL in seconds (renewed every third of it).
        #[arg(long, default_value_t = 30)]
        ttl: u64,
        /// The leader key (python-etcd's leader election layout, as the library uses it).
        key: Option<String>,
        /// This contender's value.
        value: Option<String>,
    },
    /// Copy a v2 tree from --from endpoints into this client's cluster (e.g. onto the bridge).
    Copy {
        /// The source cluster's endpoints (a v2 etcd).
        #[arg(long, required = true)]
        from: String,
        /// Hidden subtrees (e.g. /_locks) to copy too.
        #[arg(long)]
        hidden: Vec<String>,
        /// The path to copy.
        path: Option<String>,
    },
    /// Show the commands, or one command's help (etcdctl's `help`, `h`).
    #[command(alias = "h")]
    Help {
        /// The command to show the help of (etcdctl reads the first word only).
        topic: Vec<String>,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `member` subcommands.
#[derive(Debug, Subcommand)]
pub enum MemberAction {
    /// List the members.
    List,
    /// Add a member: NAME PEER_URL.
    Add {
        /// The name and the peer URL.
        args: Vec<String>,
    },
    /// Remove a member: ID.
    Remove {
        /// The member ID.
        args: Vec<String>,
    },
    /// Update a member's peer URLs: ID URL[,URL...].
    Update {
        /// The member ID and its peer URLs.
        args: Vec<String>,
    },
}

/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Add a user (the password is prompted for unless given as user:password).
    Add {
        /// The user.
        user: Option<String>,
    },
    /// Show a user's roles.
    Get {
        /// The user.
        user: Option<String>,
    },
    /// List the users.
    List,
    /// Remove a user.
    Remove {
        /// The user.
        user: Option<String>,
    },
    /// Grant roles to a user.
    Grant {
        /// Roles to grant (comma-separated or repeated).
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// The user.
        user: Option<String>,
    },
    /// Revoke roles from a user.
    Revoke {
        /// Roles to revoke (comma-separated or repeated).
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// The user.
        user: Option<String>,
    },
    /// Change a user's password (prompted for).
    Passwd {
        /// The user.
        user: Option<String>,
    },
}

/// A permission change's flags.
#[derive(Debug, Args)]
pub struct PermissionFlags {
    /// The key pattern (e.g. '/foo*').
    #[arg(long)]
    pub path: Option<String>,
    /// Read-only access.
    #[arg(long)]
    pub read: bool,
    /// Write-only access.
    #[arg(long)]
    pub write: bool,
    /// Read-write access.
    #[arg(long, alias = "rw")]
    pub readwrite: bool,
}

/// `role` subcommands.
#[derive(Debug, Subcommand)]
pub enum RoleAction {
    /// Add a role.
    Add {
        /// The role.
        role: Option<String>,
    },
    /// Show a role's permissions.
    Get {
        /// The role.
        role: Option<String>,
    },
    /// List the roles.
    List,
    /// Remove a role.
    Remove {
        /// The role.
        role: Option<String>,
    },
    /// Grant a permission to a role.
    Grant {
        #[command(flatten)]
        perms: PermissionFlags,
        /// The role.
        role: Option<String>,
    },
    /// Revoke a permission from a role.
    Revoke {
        #[command(flatten)]
        perms: PermissionFlags,
        /// The role.
        role: Option<String>,
    },
}

/// `auth` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuthAction {
    /// Enable authentication (needs a root user).
    Enable,
    /// Disable authentication.
    Disable,
}

#[cfg(test)]
mod tests {
    use super::DIFFERENCES;

    /// Words separated by single spaces (README and --help wrap differently).
    fn spaced(text: &str) -> String {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// README's list of what differs over --bridge: the `- ` items after the
    /// paragraph that introduces them.
    fn readme_bridge_differences() -> Vec<String> {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
            .expect("README.md");
        let start = readme
            .find("Over `--bridge`, the commands behave as the bridge does")
            .expect("README introduces the bridge's differences");
        // Items start with "- "; a wrapped item's continuation lines are
        // indented; a blank line ends the list.
        let mut items: Vec<String> = Vec::new();
        for line in readme[start..]
            .lines()
            .skip_while(|l| !l.starts_with("- "))
            .take_while(|l| !l.trim().is_empty())
        {
            match line.strip_prefix("- ") {
                Some(item) => items.push(spaced(item)),
                None => {
                    let last = items.last_mut().expect("an item before its continuation");
                    *last = spaced(&format!("{last} {line}"));
                }
            }
        }
        items
    }

    #[test]
    fn help_lists_each_bridge_difference_readme_lists() {
        let items = readme_bridge_differences();
        assert!(items.len() >= 4, "README's bridge list: {items:?}");
        let help = spaced(DIFFERENCES);
        for item in items {
            assert!(help.contains(&item), "--help lacks README's `{item}`");
        }
    }
}
