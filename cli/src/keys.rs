//! The keys commands: get, ls, set, mk, mkdir, setdir, update, updatedir, rm
//! and rmdir, as etcdctl v2 runs and prints them.

use etcd_v2::http::Method;
use etcd_v2::ops::keys::{Delete, Get, GetListing};
use etcd_v2::ops::raw::RawRequest;
use etcd_v2::KeysResponse;

use crate::args::{Output, Ttl};
use crate::connect::Cli;
use crate::failure::{Fail, BAD_ARGS, OK};
use crate::output;

/// What a command prints on success, and its status.
pub type Done = Result<(String, i32), Fail>;

/// A key as etcdctl takes it: a leading slash is added when missing.
pub fn absolute(key: &str) -> String {
    if key.starts_with('/') {
        key.to_string()
    } else {
        format!("/{key}")
    }
}

/// The key argument, or etcdctl's "key required".
pub fn required(key: Option<&String>) -> Result<String, Fail> {
    key.map(|k| absolute(k))
        .ok_or_else(|| Fail::error(BAD_ARGS, "key required"))
}

/// The value argument, else (as etcdctl's `argOrStdin`) all of stdin when it
/// is not a terminal, else etcdctl's "value required".
fn value_required(value: Option<&String>) -> Result<String, Fail> {
    use std::io::{IsTerminal, Read};
    if let Some(v) = value {
        return Ok(v.clone());
    }
    let mut stdin = std::io::stdin();
    let mut piped = String::new();
    if !stdin.is_terminal() && stdin.read_to_string(&mut piped).is_ok() && !piped.is_empty() {
        return Ok(piped);
    }
    Err(Fail::error(BAD_ARGS, "value required"))
}

/// etcdctl takes an empty previous value as no condition.
fn condition(value: Option<&String>) -> Option<&String> {
    value.filter(|v| !v.is_empty())
}

/// etcdctl sends a TTL only when it is positive.
fn ttl_of(ttl: &Ttl) -> Option<u64> {
    u64::try_from(ttl.ttl).ok().filter(|t| *t > 0)
}

fn printed(resp: &KeysResponse, output: Output) -> Done {
    Ok((output::response(resp, output), OK))
}

/// Directory commands print only in extended and JSON output.
fn printed_unless_simple(resp: &KeysResponse, output: Output) -> Done {
    if output == Output::Simple {
        Ok((String::new(), OK))
    } else {
        printed(resp, output)
    }
}

/// `get [--sort] [--quorum] KEY`.
pub fn get(client: &Cli, key: Option<&String>, sort: bool, quorum: bool, output: Output) -> Done {
    let key = required(key)?;
    let resp = client
        .execute(&Get::new(key).sorted(sort).quorum(quorum))
        .map_err(|e| Fail::from_keys(&e))?;
    if resp.node.dir {
        return Err(Fail::plain(
            BAD_ARGS,
            format!("{}: is a directory", resp.node.key),
        ));
    }
    printed(&resp, output)
}

/// `ls [--sort] [-r] [-p] [--quorum] [DIR]`.
pub fn ls(
    client: &Cli,
    key: Option<&String>,
    (sort, recursive, slash, quorum): (bool, bool, bool, bool),
    output: Output,
) -> Done {
    let key = key.map_or_else(|| "/".to_string(), |k| absolute(k));
    let get = Get::new(key)
        .sorted(sort)
        .recursive(recursive)
        .quorum(quorum);
    if output == Output::Simple {
        // Only keys are printed: a large tree is read as a borrowed listing,
        // without an owned node (and two strings) per key.
        let listing = client
            .execute(&GetListing::new(get))
            .map_err(|e| Fail::from_keys(&e))?;
        Ok((output::listing(listing.node(), slash), OK))
    } else {
        let resp = client.execute(&get).map_err(|e| Fail::from_keys(&e))?;
        printed(&resp, output)
    }
}

/// `set [--ttl N] [--swap-with-value V] [--swap-with-index I] KEY VALUE`.
pub fn set(
    client: &Cli,
    (key, value): (Option<&String>, Option<&String>),
    ttl: &Ttl,
    (prev_value, prev_index): (Option<&String>, u64),
    output: Output,
) -> Done {
    let key = required(key)?;
    let value = value_required(value)?;
    // No condition: a plain set, as etcdctl's.
    let resp = client.node().compare_and_swap(
        &key,
        &value,
        condition(prev_value).map(String::as_str),
        (prev_index != 0).then_some(prev_index),
        None,
        ttl_of(ttl),
    );
    printed(&resp.map_err(|e| Fail::from_keys(&e))?, output)
}

/// `mk [--in-order] [--ttl N] KEY VALUE`.
pub fn mk(
    client: &Cli,
    (key, value): (Option<&String>, Option<&String>),
    in_order: bool,
    ttl: &Ttl,
    output: Output,
) -> Done {
    let key = required(key)?;
    let value = value_required(value)?;
    let resp = if in_order {
        client.inorder().get_inorder(&key).add(&value, ttl_of(ttl))
    } else {
        client.node().create_only(&key, &value, ttl_of(ttl))
    };
    printed(&resp.map_err(|e| Fail::from_keys(&e))?, output)
}

/// `update [--ttl N] KEY VALUE`.
pub fn update(
    client: &Cli,
    (key, value): (Option<&String>, Option<&String>),
    ttl: &Ttl,
    output: Output,
) -> Done {
    let key = required(key)?;
    let value = value_required(value)?;
    let resp = client
        .node()
        .update_only(&key, &value, ttl_of(ttl))
        .map_err(|e| Fail::from_keys(&e))?;
    printed(&resp, output)
}

/// `mkdir [--ttl N] DIR`: create a directory that does not exist.
pub fn mkdir(client: &Cli, key: Option<&String>, ttl: &Ttl, output: Output) -> Done {
    let resp = client
        .directory()
        .create(&required(key)?, ttl_of(ttl))
        .map_err(|e| Fail::from_keys(&e))?;
    printed_unless_simple(&resp, output)
}

/// `setdir [--ttl N] DIR`: a directory, whether or not the key exists (a file
/// becomes a directory; an existing directory is etcd's errorCode 102).
pub fn setdir(client: &Cli, key: Option<&String>, ttl: &Ttl, output: Output) -> Done {
    let key = required(key)?;
    let mut request = RawRequest::new(Method::PUT, format!("/keys{key}")).data("dir", "true");
    if let Some(t) = ttl_of(ttl) {
        request = request.data("ttl", t.to_string());
    }
    let resp = client
        .send(&request.safe_to_resend(false))
        .map_err(|e| Fail::from_keys(&e))?;
    printed_unless_simple(&resp, output)
}

/// `updatedir [--ttl N] DIR`: change an existing directory's TTL.
pub fn updatedir(client: &Cli, key: Option<&String>, ttl: &Ttl, output: Output) -> Done {
    let resp = client
        .directory()
        .update_ttl(&required(key)?, ttl_of(ttl))
        .map_err(|e| Fail::from_keys(&e))?;
    printed_unless_simple(&resp, output)
}

/// `rm [--dir] [-r] [--with-value V] [--with-index I] KEY`.
pub fn rm(
    client: &Cli,
    key: Option<&String>,
    (dir, recursive): (bool, bool),
    (with_value, with_index): (Option<&String>, u64),
    output: Output,
) -> Done {
    let mut op = Delete::new(required(key)?).dir(dir).recursive(recursive);
    if let Some(v) = condition(with_value) {
        op = op.prev_value(v.as_str());
    }
    if with_index != 0 {
        op = op.prev_index(with_index);
    }
    let resp = client.execute(&op).map_err(|e| Fail::from_keys(&e))?;
    deleted(&resp, output)
}

/// `rmdir DIR`: remove an empty directory (or a file).
pub fn rmdir(client: &Cli, key: Option<&String>, output: Output) -> Done {
    let op = Delete::new(required(key)?).dir(true);
    let resp = client.execute(&op).map_err(|e| Fail::from_keys(&e))?;
    deleted(&resp, output)
}

/// A deleted directory prints nothing in simple output.
fn deleted(resp: &KeysResponse, output: Output) -> Done {
    if resp.node.dir && output == Output::Simple {
        Ok((String::new(), OK))
    } else {
        printed(resp, output)
    }
}
