//! Printing answers as etcdctl v2 does: `simple`, `extended` and `json` (the
//! shape of Go's client structs, with Go's string escaping).

use std::fmt::Write as _;
use std::time::UNIX_EPOCH;

use etcd_v2::listing::NodeRef;
use etcd_v2::{KeysResponse, Node};

use crate::args::Output;

/// etcdctl's `printResponseKey`: the answer to a keys command.
pub fn response(resp: &KeysResponse, output: Output) -> String {
    match output {
        Output::Simple => {
            if resp.action.as_str() == "delete" {
                let prev = resp.prev_node.as_ref().and_then(|n| n.value.as_deref());
                format!("PrevNode.Value: {}\n", prev.unwrap_or(""))
            } else {
                format!("{}\n", resp.node.value.as_deref().unwrap_or(""))
            }
        }
        Output::Extended => {
            let mut s = String::new();
            let n = &resp.node;
            let _ = writeln!(s, "Key: {}", n.key);
            let _ = writeln!(s, "Created-Index: {}", n.created_index);
            let _ = writeln!(s, "Modified-Index: {}", n.modified_index);
            if let Some(prev) = &resp.prev_node {
                let _ = writeln!(s, "PrevNode.Value: {}", prev.value.as_deref().unwrap_or(""));
            }
            let _ = writeln!(s, "TTL: {}", n.ttl.unwrap_or(0));
            let _ = writeln!(s, "Index: {}", resp.cluster.etcd_index.unwrap_or(0));
            if resp.action.as_str() != "delete" {
                let _ = writeln!(s);
                let _ = writeln!(s, "{}", n.value.as_deref().unwrap_or(""));
            }
            s
        }
        Output::Json => {
            let mut s = String::from("{\"action\":");
            string(&mut s, resp.action.as_str());
            s.push_str(",\"node\":");
            node(&mut s, &resp.node);
            s.push_str(",\"prevNode\":");
            match &resp.prev_node {
                Some(prev) => node(&mut s, prev),
                None => s.push_str("null"),
            }
            s.push_str("}\n");
            s
        }
    }
}

/// etcdctl's `ls` in simple output: the key of a file, then every child (and,
/// recursively listed, their children), directories with a slash if asked.
pub fn listing(root: NodeRef<'_>, slash: bool) -> String {
    let mut s = String::new();
    if !root.is_directory() {
        let _ = writeln!(s, "{}", root.key());
    }
    for child in root.children() {
        list_node(&mut s, child, slash);
    }
    s
}

fn list_node(s: &mut String, n: NodeRef<'_>, slash: bool) {
    if n.is_directory() && slash {
        let _ = writeln!(s, "{}/", n.key());
    } else {
        let _ = writeln!(s, "{}", n.key());
    }
    for child in n.children() {
        list_node(s, child, slash);
    }
}

/// A node as Go's client marshals it.
fn node(s: &mut String, n: &Node) {
    s.push_str("{\"key\":");
    string(s, &n.key);
    if n.dir {
        s.push_str(",\"dir\":true");
    }
    s.push_str(",\"value\":");
    string(s, n.value.as_deref().unwrap_or(""));
    s.push_str(",\"nodes\":");
    match n.children.as_deref() {
        Some(children) if !children.is_empty() => {
            s.push('[');
            for (i, c) in children.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                node(s, c);
            }
            s.push(']');
        }
        _ => s.push_str("null"),
    }
    let _ = write!(
        s,
        ",\"createdIndex\":{},\"modifiedIndex\":{}",
        n.created_index, n.modified_index
    );
    if let Some(expiration) = n.expiration {
        s.push_str(",\"expiration\":");
        let nanos = match expiration.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
        };
        string(s, &go_rfc3339_nano(nanos));
    }
    if let Some(ttl) = n.ttl.filter(|t| *t != 0) {
        let _ = write!(s, ",\"ttl\":{ttl}");
    }
    s.push('}');
}

/// Go's `time.RFC3339Nano` (trailing zeros of the fraction dropped, as the
/// library's formatter does).
fn go_rfc3339_nano(unix_nanos: i64) -> String {
    etcd_v2::timestamp::format_rfc3339_nanos(unix_nanos)
}

/// A JSON string with Go's escaping (`<`, `>`, `&`, U+2028 and U+2029 as
/// `\u` escapes).
pub fn string(s: &mut String, text: &str) {
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(body: &str, index: u64) -> KeysResponse {
        let response = etcd_v2::http::Response::builder()
            .status(200)
            .header("X-Etcd-Index", index.to_string())
            .body(body.as_bytes().to_vec())
            .expect("a response");
        etcd_v2::response::parse_keys(&response).expect("parses")
    }

    #[test]
    fn json_is_etcdctl_shape() {
        let r = parsed(
            r#"{"action":"set","node":{"key":"/foo","value":"v3","modifiedIndex":8,"createdIndex":8},"prevNode":{"key":"/foo","value":"v2","modifiedIndex":7,"createdIndex":7}}"#,
            8,
        );
        assert_eq!(
            response(&r, Output::Json),
            "{\"action\":\"set\",\"node\":{\"key\":\"/foo\",\"value\":\"v3\",\"nodes\":null,\"createdIndex\":8,\"modifiedIndex\":8},\"prevNode\":{\"key\":\"/foo\",\"value\":\"v2\",\"nodes\":null,\"createdIndex\":7,\"modifiedIndex\":7}}\n"
        );
    }

    #[test]
    fn extended_prints_the_header_index() {
        let r = parsed(
            r#"{"action":"get","node":{"key":"/dir2","dir":true,"modifiedIndex":17,"createdIndex":17}}"#,
            17,
        );
        assert_eq!(
            response(&r, Output::Extended),
            "Key: /dir2\nCreated-Index: 17\nModified-Index: 17\nTTL: 0\nIndex: 17\n\n\n"
        );
    }

    #[test]
    fn go_escapes_html_characters() {
        let mut s = String::new();
        string(&mut s, "a<b>&\"\n");
        assert_eq!(s, "\"a\\u003cb\\u003e\\u0026\\\"\\n\"");
    }

    #[test]
    fn rfc3339_drops_trailing_zeros() {
        assert_eq!(go_rfc3339_nano(1_500_000_000), "1970-01-01T00:00:01.5Z");
        assert_eq!(go_rfc3339_nano(1_000_000_000), "1970-01-01T00:00:01Z");
    }
}
