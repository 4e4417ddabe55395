//! Reading a document in the host's compact binary form ("tape"), in the policy's own
//! memory: one host call brings the whole document, and every read after that is a
//! few loads, with no call across the sandbox boundary and no parsing.
//!
//! The format (little-endian; written by `host/src/engine/tape.rs`, described in
//! `docs/architecture.md`): the magic `PFT2`, then one value:
//! - `0` null, `1` false, `2` true;
//! - `3` + i64: a whole number; `4` + f64: any other number;
//! - `5` + u32 length + UTF-8 bytes: a string;
//! - `6` + u32 count + u32 table: the elements, then at `table` count × u32 offsets;
//! - `7` + u32 count + u32 table: each key (u32 length + UTF-8 bytes) and its value,
//!   in document order, then at `table` count × (u32 key offset, u32 value offset).
//!
//! Offsets are from the start of the tape. A malformed tape reads as "nothing there".

use crate::bindings::preflight::policy::types::Value;

pub(crate) const MAGIC: &[u8; 4] = b"PFT2";
/// The offset of the root value.
pub(crate) const ROOT: u32 = 4;

pub(crate) const NULL: u8 = 0;
pub(crate) const FALSE: u8 = 1;
pub(crate) const TRUE: u8 = 2;
pub(crate) const INT: u8 = 3;
pub(crate) const FLOAT: u8 = 4;
pub(crate) const STRING: u8 = 5;
pub(crate) const ARRAY: u8 = 6;
pub(crate) const OBJECT: u8 = 7;

pub(crate) struct Tape {
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Tape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tape({} bytes)", self.bytes.len())
    }
}

impl Tape {
    pub(crate) fn new(bytes: Vec<u8>) -> Tape {
        Tape { bytes }
    }

    pub(crate) fn valid(&self) -> bool {
        self.bytes.len() > 4 && &self.bytes[..4] == MAGIC
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        let bytes = self.bytes.get(at..at + 4)?;
        Some(u32::from_le_bytes(bytes.try_into().ok()?))
    }

    fn u64_at(&self, at: usize) -> Option<u64> {
        let bytes = self.bytes.get(at..at + 8)?;
        Some(u64::from_le_bytes(bytes.try_into().ok()?))
    }

    fn tag(&self, at: u32) -> Option<u8> {
        self.bytes.get(at as usize).copied()
    }

    /// The string that starts with its length at `at`.
    fn text(&self, at: usize) -> Option<&str> {
        let len = self.u32_at(at)? as usize;
        Some(utf8(self.bytes.get(at + 4..at + 4 + len)?))
    }

    /// Whether the value at `at` is a string.
    pub(crate) fn is_str(&self, at: u32) -> bool {
        self.tag(at) == Some(STRING)
    }

    /// The string value at `at`.
    pub(crate) fn str(&self, at: u32) -> Option<&str> {
        if self.tag(at)? != STRING {
            return None;
        }
        self.text(at as usize + 1)
    }

    /// Elements of an array, members of an object; `None` for anything else.
    pub(crate) fn count(&self, at: u32, tag: u8) -> Option<u32> {
        if self.tag(at)? != tag {
            return None;
        }
        self.u32_at(at as usize + 1)
    }

    /// Where the table of a container's children starts.
    fn table(&self, at: u32) -> Option<usize> {
        self.u32_at(at as usize + 5).map(|table| table as usize)
    }

    pub(crate) fn element(&self, at: u32, index: usize) -> Option<u32> {
        let count = self.count(at, ARRAY)? as usize;
        if index >= count {
            return None;
        }
        self.u32_at(self.table(at)? + index * 4)
    }

    /// The key and the value offset of member `index` of an object.
    pub(crate) fn entry(&self, at: u32, index: usize) -> Option<(&str, u32)> {
        let slot = self.table(at)? + index * 8;
        let key = self.u32_at(slot)? as usize;
        let value = self.u32_at(slot + 4)?;
        Some((self.text(key)?, value))
    }

    /// The value of the member `key` of the object at `at`: a scan of the keys,
    /// compared as bytes (objects in snapshots have a handful of members).
    pub(crate) fn member(&self, at: u32, key: &str) -> Option<u32> {
        self.member_bytes(at, key.as_bytes())
    }

    /// [`Tape::member`] by the key's bytes.
    fn member_bytes(&self, at: u32, key: &[u8]) -> Option<u32> {
        self.entries(at)?
            .find(|&(name, value)| key_len(name, value) == key.len() && self.key_is(name, key))
            .map(|(_, value)| value)
    }

    /// The (key offset, value offset) pairs of the object at `at`, read from its
    /// table with one bounds check.
    pub(crate) fn entries(&self, at: u32) -> Option<impl Iterator<Item = (usize, u32)> + '_> {
        let count = self.count(at, OBJECT)? as usize;
        let table = self.table(at)?;
        let slots = self
            .bytes
            .get(table..table.checked_add(count.checked_mul(8)?)?)?;
        Some(slots.chunks_exact(8).map(|slot| {
            let word =
                |i: usize| u32::from_le_bytes([slot[i], slot[i + 1], slot[i + 2], slot[i + 3]]);
            (word(0) as usize, word(4))
        }))
    }

    /// Whether the key at `name` (u32 length + bytes) is `key`.
    pub(crate) fn key_is(&self, name: usize, key: &[u8]) -> bool {
        self.key(name).is_some_and(|name| same_bytes(name, key))
    }

    /// The bytes of the key at `name` (u32 length + bytes).
    pub(crate) fn key(&self, name: usize) -> Option<&[u8]> {
        let len = self.u32_at(name)? as usize;
        self.bytes.get(name + 4..name + 4 + len)
    }

    /// One level of the value at `at`, as the WIT `value`.
    pub(crate) fn value(&self, at: u32) -> Option<Value> {
        let body = at as usize + 1;
        Some(match self.tag(at)? {
            NULL => Value::Null,
            FALSE => Value::Boolean(false),
            TRUE => Value::Boolean(true),
            INT => Value::Integer(self.u64_at(body)? as i64),
            FLOAT => Value::Float(f64::from_bits(self.u64_at(body)?)),
            STRING => Value::Text(self.text(body)?.to_owned()),
            ARRAY => Value::Array(self.u32_at(body)?),
            OBJECT => Value::Object(self.u32_at(body)?),
            _ => return None,
        })
    }

    pub(crate) fn bool(&self, at: u32) -> Option<bool> {
        match self.tag(at)? {
            TRUE => Some(true),
            FALSE => Some(false),
            _ => None,
        }
    }

    pub(crate) fn i64(&self, at: u32) -> Option<i64> {
        (self.tag(at)? == INT).then(|| self.u64_at(at as usize + 1).map(|v| v as i64))?
    }

    pub(crate) fn f64(&self, at: u32) -> Option<f64> {
        match self.tag(at)? {
            INT => Some(self.u64_at(at as usize + 1)? as i64 as f64),
            FLOAT => Some(f64::from_bits(self.u64_at(at as usize + 1)?)),
            _ => None,
        }
    }

    /// The RFC 6901 pointer of the value at `at`: down from the root, at each level
    /// the last child that starts at or before `at` (children are laid out in order).
    /// Spelt for findings, so it is written straight into one string: no string per
    /// segment, no formatting of indexes, only the value offsets read while searching.
    pub(crate) fn pointer_of(&self, at: u32) -> String {
        let mut pointer = String::with_capacity(48);
        // A malformed tape ends the walk: the pointer as far as it got.
        let _ = self.spell_into(at, &mut pointer);
        pointer
    }

    fn spell_into(&self, at: u32, pointer: &mut String) -> Option<()> {
        let mut here = ROOT;
        while here != at {
            let tag = self.tag(here)?;
            let count = self.count(here, tag)? as usize;
            let table = self.table(here)?;
            here = match tag {
                OBJECT => {
                    let index = self.last_before(count, at, |i| self.u32_at(table + i * 8 + 4))?;
                    let key = self.text(self.u32_at(table + index * 8)? as usize)?;
                    pointer.push('/');
                    push_escaped(pointer, key);
                    self.u32_at(table + index * 8 + 4)?
                }
                ARRAY => {
                    let index = self.last_before(count, at, |i| self.u32_at(table + i * 4))?;
                    pointer.push('/');
                    push_index(pointer, index);
                    self.u32_at(table + index * 4)?
                }
                _ => return None,
            };
        }
        Some(())
    }

    /// Binary search: the last of `count` children whose offset is at most `at`.
    fn last_before(
        &self,
        count: usize,
        at: u32,
        offset: impl Fn(usize) -> Option<u32>,
    ) -> Option<usize> {
        let (mut low, mut high) = (0, count);
        while low < high {
            let mid = (low + high) / 2;
            if offset(mid)? <= at {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        low.checked_sub(1)
    }

    /// Follows an RFC 6901 pointer from the root. An array index is `0` or digits
    /// without a leading zero; `~1` and `~0` in a key stand for `/` and `~`.
    pub(crate) fn resolve(&self, pointer: &str) -> Option<u32> {
        let bytes = pointer.as_bytes();
        let Some((&first, mut rest)) = bytes.split_first() else {
            return Some(ROOT);
        };
        if first != b'/' {
            return None;
        }
        let mut at = ROOT;
        loop {
            let end = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
            let token = &rest[..end];
            at = match self.tag(at)? {
                OBJECT if token.contains(&b'~') => self.member_bytes(at, &unescape(token))?,
                OBJECT => self.member_bytes(at, token)?,
                ARRAY => self.element(at, array_index(token)?)?,
                _ => return None,
            };
            if end == rest.len() {
                return Some(at);
            }
            rest = &rest[end + 1..];
        }
    }
}

/// A pointer token with `~1` and `~0` turned back into `/` and `~` (any other `~`
/// is kept as it is).
fn unescape(token: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(token.len());
    let mut bytes = token.iter().copied().peekable();
    while let Some(byte) = bytes.next() {
        match (byte, bytes.peek()) {
            (b'~', Some(b'1')) => {
                out.push(b'/');
                bytes.next();
            }
            (b'~', Some(b'0')) => {
                out.push(b'~');
                bytes.next();
            }
            _ => out.push(byte),
        }
    }
    out
}

/// An RFC 6901 array index: `0`, or digits without a leading zero.
fn array_index(token: &[u8]) -> Option<usize> {
    if token.is_empty() || (token.len() > 1 && token[0] == b'0') {
        return None;
    }
    token.iter().try_fold(0usize, |index, &byte| {
        byte.is_ascii_digit()
            .then(|| index.checked_mul(10)?.checked_add(usize::from(byte - b'0')))?
    })
}

/// Appends a key as a pointer token (`~` as `~0`, `/` as `~1`).
pub(crate) fn push_escaped(out: &mut String, key: &str) {
    if !key.bytes().any(|byte| byte == b'~' || byte == b'/') {
        out.push_str(key);
        return;
    }
    for c in key.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}

/// Appends an index in decimal, without the formatting machinery.
fn push_index(out: &mut String, mut index: usize) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (index % 10) as u8;
        index /= 10;
        if index == 0 {
            break;
        }
    }
    for &digit in &digits[start..] {
        out.push(char::from(digit));
    }
}

/// The length of the key at `name` as the layout implies it: a member is its key
/// (u32 length + bytes) with its value right after, so the gap between the two
/// offsets tells most keys apart without reading them. Only a hint:
/// [`Tape::key_is`] reads the real length (on a malformed tape the two may differ).
pub(crate) fn key_len(name: usize, value: u32) -> usize {
    (value as usize).wrapping_sub(name).wrapping_sub(4)
}

/// Eight bytes at a time: wasm has no vector `memcmp`, and the one it links
/// compares byte by byte. The differences are or-ed together rather than tested
/// chunk by chunk, which also keeps LLVM from turning the loop back into a
/// `memcmp` call (names are short: there is little to gain from stopping early).
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u64;
    let (mut left, mut right) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in left.by_ref().zip(right.by_ref()) {
        diff |=
            u64::from_le_bytes(x.try_into().unwrap()) ^ u64::from_le_bytes(y.try_into().unwrap());
    }
    for (x, y) in left.remainder().iter().zip(right.remainder()) {
        diff |= u64::from(x ^ y);
    }
    diff == 0
}

/// The bytes of a string in the tape as text, as they are: the host writes tapes
/// only from Rust strings (`host/src/engine/tape.rs`; its tests check that every
/// tape it makes holds UTF-8), and checking each string again cost about a hundred
/// units of fuel per string read, a fifth of reading a member. Like the rest of
/// the tape, this is the host's word: a policy trusts its host for the documents.
fn utf8(bytes: &[u8]) -> &str {
    // SAFETY: the host writes every string of a tape from a Rust `&str` (see above).
    unsafe { std::str::from_utf8_unchecked(bytes) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_compare_word_by_word() {
        for (a, b, same) in [
            ("", "", true),
            ("name", "name", true),
            (
                "financeAndOperationsEntity",
                "financeAndOperationsEntity",
                true,
            ),
            (
                "financeAndOperationsEntity",
                "financeAndOperationsEntitx",
                false,
            ),
            (
                "xinanceAndOperationsEntity",
                "financeAndOperationsEntity",
                false,
            ),
            ("state", "stats", false),
            ("state", "states", false),
        ] {
            assert_eq!(same_bytes(a.as_bytes(), b.as_bytes()), same, "{a} {b}");
        }
    }

    /// The host's encoding (`host/src/engine/tape.rs`), for tests: the tape of a
    /// JSON value and the offset of every value in it with its RFC 6901 pointer.
    fn encode(value: &serde_json::Value) -> (Tape, Vec<(u32, String)>) {
        fn put_text(out: &mut Vec<u8>, text: &str) {
            out.extend_from_slice(&(text.len() as u32).to_le_bytes());
            out.extend_from_slice(text.as_bytes());
        }
        fn write(
            out: &mut Vec<u8>,
            value: &serde_json::Value,
            pointer: String,
            seen: &mut Vec<(u32, String)>,
        ) {
            use serde_json::Value as V;
            seen.push((out.len() as u32, pointer.clone()));
            let container = |out: &mut Vec<u8>, tag: u8| {
                let start = out.len();
                out.push(tag);
                out.extend_from_slice(&[0; 8]);
                start
            };
            let close = |out: &mut Vec<u8>, start: usize, count: usize, offsets: Vec<u32>| {
                let table = out.len() as u32;
                out[start + 1..start + 5].copy_from_slice(&(count as u32).to_le_bytes());
                out[start + 5..start + 9].copy_from_slice(&table.to_le_bytes());
                for at in offsets {
                    out.extend_from_slice(&at.to_le_bytes());
                }
            };
            match value {
                V::Null => out.push(NULL),
                V::Bool(b) => out.push(if *b { TRUE } else { FALSE }),
                V::Number(n) => {
                    out.push(INT);
                    out.extend_from_slice(&n.as_i64().unwrap().to_le_bytes());
                }
                V::String(text) => {
                    out.push(STRING);
                    put_text(out, text);
                }
                V::Array(items) => {
                    let start = container(out, ARRAY);
                    let mut offsets = Vec::new();
                    for (index, item) in items.iter().enumerate() {
                        offsets.push(out.len() as u32);
                        write(out, item, format!("{pointer}/{index}"), seen);
                    }
                    close(out, start, items.len(), offsets);
                }
                V::Object(members) => {
                    let start = container(out, OBJECT);
                    let mut offsets = Vec::new();
                    for (key, item) in members {
                        offsets.push(out.len() as u32);
                        put_text(out, key);
                        offsets.push(out.len() as u32);
                        let token = key.replace('~', "~0").replace('/', "~1");
                        write(out, item, format!("{pointer}/{token}"), seen);
                    }
                    close(out, start, members.len(), offsets);
                }
            }
        }
        let mut out = MAGIC.to_vec();
        let mut seen = Vec::new();
        write(&mut out, value, String::new(), &mut seen);
        (Tape::new(out), seen)
    }

    fn sample() -> serde_json::Value {
        serde_json::json!({
            "dualWrite": {"maps": [
                {"name": "Legal entities", "state": "Running"},
                {"name": "Customers V3", "state": "Paused"}
            ]},
            "a/b": {"m~n": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, [true, null]]},
            "": "empty key",
            "~01": "tilde then zero one",
            "Légal": {"x": 1}
        })
    }

    #[test]
    fn every_value_is_found_by_its_pointer_and_spelt_back() {
        let (tape, seen) = encode(&sample());
        for (at, pointer) in &seen {
            assert_eq!(tape.resolve(pointer), Some(*at), "resolve {pointer:?}");
            assert_eq!(&tape.pointer_of(*at), pointer, "pointer_of {at}");
        }
    }

    #[test]
    fn pointers_follow_rfc_6901() {
        let (tape, seen) = encode(&sample());
        let at = |pointer: &str| seen.iter().find(|(_, p)| p == pointer).map(|(at, _)| *at);
        // Escapes in keys, the empty key, a key that is itself escaped text.
        assert_eq!(tape.resolve("/a~1b/m~0n/12/1"), at("/a~1b/m~0n/12/1"));
        assert_eq!(tape.resolve("/"), at("/"));
        assert_eq!(tape.resolve("/~001"), at("/~001"));
        // Array indexes: digits only, no leading zero, within bounds.
        assert_eq!(tape.resolve("/a~1b/m~0n/10"), at("/a~1b/m~0n/10"));
        for bad in [
            "/a~1b/m~0n/01",
            "/a~1b/m~0n/+1",
            "/a~1b/m~0n/-1",
            "/a~1b/m~0n/13",
            "/a~1b/m~0n/",
            "/a~1b/m~0n/1x",
            "/a~1b/m~0n/99999999999999999999999",
            "/a/b",
            "/dualWrite/maps/0/name/x",
            "/missing",
            "dualWrite",
        ] {
            assert_eq!(tape.resolve(bad), None, "{bad:?}");
        }
        assert_eq!(tape.resolve(""), Some(ROOT));
    }
}
