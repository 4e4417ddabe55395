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
        utf8(self.bytes.get(at + 4..at + 4 + len)?)
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
        let key = key.as_bytes();
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
    pub(crate) fn pointer_of(&self, at: u32) -> String {
        let mut pointer = String::new();
        let mut here = ROOT;
        while here != at {
            let (segment, child) = match self.tag(here) {
                Some(OBJECT) => {
                    let count = self.count(here, OBJECT).unwrap_or(0) as usize;
                    let index = self.last_before(count, at, |i| self.entry(here, i).map(|e| e.1));
                    match index.and_then(|i| self.entry(here, i)) {
                        Some((key, child)) => (crate::escape_key(key), child),
                        None => break,
                    }
                }
                Some(ARRAY) => {
                    let count = self.count(here, ARRAY).unwrap_or(0) as usize;
                    let index = self.last_before(count, at, |i| self.element(here, i));
                    match index.and_then(|i| Some((i, self.element(here, i)?))) {
                        Some((i, child)) => (i.to_string(), child),
                        None => break,
                    }
                }
                _ => break,
            };
            pointer.push('/');
            pointer.push_str(&segment);
            here = child;
        }
        pointer
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

    /// Follows an RFC 6901 pointer from the root.
    pub(crate) fn resolve(&self, pointer: &str) -> Option<u32> {
        if pointer.is_empty() {
            return Some(ROOT);
        }
        let mut at = ROOT;
        for raw in pointer.strip_prefix('/')?.split('/') {
            let token: std::borrow::Cow<str> = if raw.contains('~') {
                raw.replace("~1", "/").replace("~0", "~").into()
            } else {
                raw.into()
            };
            at = match self.tag(at)? {
                OBJECT => self.member(at, &token)?,
                ARRAY => {
                    if token.len() > 1 && token.starts_with('0') {
                        return None;
                    }
                    self.element(at, token.parse().ok()?)?
                }
                _ => return None,
            };
        }
        Some(at)
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

/// The bytes as text. ASCII, the common case, is checked eight bytes at a time;
/// anything else goes through the full UTF-8 check.
fn utf8(bytes: &[u8]) -> Option<&str> {
    let mut high = 0u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in chunks.by_ref() {
        high |= u64::from_le_bytes(chunk.try_into().unwrap());
    }
    for &byte in chunks.remainder() {
        high |= u64::from(byte);
    }
    if high & 0x8080_8080_8080_8080 == 0 {
        // SAFETY: every byte is below 0x80, and ASCII is valid UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes).ok()
    }
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

    #[test]
    fn text_is_checked_as_utf8() {
        assert_eq!(
            utf8(b"Legal entities (cdm_companies)"),
            Some("Legal entities (cdm_companies)")
        );
        assert_eq!(utf8("Légal entités".as_bytes()), Some("Légal entités"));
        assert_eq!(utf8(b"abcdefgh\xff"), None);
        assert_eq!(utf8(b"\xe9abcdefghij"), None);
        assert_eq!(utf8(b""), Some(""));
    }
}
