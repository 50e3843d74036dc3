//! Integer flags read as etcdctl's Go flag package reads them
//! (`strconv.ParseInt(s, 0, 64)`): a base prefix (`0x`, `0o`, `0b`, or a
//! leading `0` for octal, so `--ttl 010` is 8 seconds, as with etcdctl) and
//! underscores between digits (`1_000`).

/// `text` as Go's `strconv.ParseInt(text, 0, 64)` reads it.
pub fn parse_i64(text: &str) -> Result<i64, String> {
    let bad = || format!("invalid value \"{text}\": not an integer as Go reads one");
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if !underscores_ok(unsigned) {
        return Err(bad());
    }
    let magnitude = parse_unsigned(unsigned).ok_or_else(bad)?;
    let value = if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    };
    value.ok_or_else(|| format!("invalid value \"{text}\": out of range"))
}

/// `text` as [`parse_i64`] reads it, refused below 0 (an index).
pub fn parse_index(text: &str) -> Result<u64, String> {
    let value = parse_i64(text)?;
    u64::try_from(value).map_err(|_| format!("invalid value \"{text}\": an index is 0 or more"))
}

/// The digits after an optional base prefix, in that base; `None` if there
/// are none, or one is not of the base, or the value passes `u64`.
fn parse_unsigned(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let (base, digits) = match bytes {
        [b'0', b'x' | b'X', rest @ ..] => (16, rest),
        [b'0', b'o' | b'O', rest @ ..] => (8, rest),
        [b'0', b'b' | b'B', rest @ ..] => (2, rest),
        [b'0', rest @ ..] if !rest.is_empty() => (8, rest),
        _ => (10, bytes),
    };
    let mut value: u64 = 0;
    let mut any = false;
    for &b in digits {
        if b == b'_' {
            continue;
        }
        let digit = char::from(b).to_digit(base)?;
        value = value
            .checked_mul(u64::from(base))?
            .checked_add(u64::from(digit))?;
        any = true;
    }
    // A lone "0" has no digits after its prefix, and is 0.
    (any || bytes == b"0").then_some(value)
}

/// Go's `underscoreOK`: each underscore sits between digits (a base prefix
/// counts as one), none ends the number.
fn underscores_ok(text: &str) -> bool {
    #[derive(PartialEq)]
    enum Saw {
        Start,
        Digit,
        Underscore,
        Other,
    }
    let bytes = text.as_bytes();
    let mut saw = Saw::Start;
    let mut at = 0;
    let mut hex = false;
    if let [b'0', p, ..] = bytes {
        if matches!(p.to_ascii_lowercase(), b'b' | b'o' | b'x') {
            at = 2;
            saw = Saw::Digit;
            hex = p.eq_ignore_ascii_case(&b'x');
        }
    }
    for &b in &bytes[at..] {
        if b.is_ascii_digit() || (hex && b.is_ascii_hexdigit()) {
            saw = Saw::Digit;
        } else if b == b'_' {
            if saw != Saw::Digit {
                return false;
            }
            saw = Saw::Underscore;
        } else if saw == Saw::Underscore {
            return false;
        } else {
            saw = Saw::Other;
        }
    }
    saw != Saw::Underscore
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_go_does() {
        for (text, value) in [
            ("0", 0),
            ("10", 10),
            ("010", 8),
            ("0o10", 8),
            ("0x10", 16),
            ("0X1f", 31),
            ("0b101", 5),
            ("1_000", 1000),
            ("0x_1f", 31),
            ("0_10", 8),
            ("-5", -5),
            ("+7", 7),
            ("-0x10", -16),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
        ] {
            assert_eq!(parse_i64(text), Ok(value), "{text}");
        }
        for text in [
            "",
            "-",
            "0x",
            "08",
            "1__0",
            "_1",
            "1_",
            "0x_",
            "abc",
            "1.5",
            "9223372036854775808",
            "1e3",
            " 1",
        ] {
            assert!(parse_i64(text).is_err(), "{text}");
        }
        assert_eq!(parse_index("010"), Ok(8));
        assert!(parse_index("-1").is_err());
    }

    #[test]
    fn ttl_and_index_flags_read_go_numbers() {
        use crate::args::{Cli, Command};
        use clap::Parser;
        let cli = Cli::try_parse_from([
            "etcd-v2",
            "set",
            "--ttl",
            "010",
            "--swap-with-index",
            "0x10",
            "/k",
            "v",
        ])
        .unwrap();
        let Command::Set {
            ttl,
            swap_with_index,
            ..
        } = cli.command
        else {
            panic!("{:?}", cli.command)
        };
        assert_eq!((ttl.ttl, swap_with_index), (8, 16));
        assert!(Cli::try_parse_from(["etcd-v2", "set", "--ttl", "08", "/k", "v"]).is_err());
    }
}
