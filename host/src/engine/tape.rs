//! The tape: a document in a compact binary form that a policy reads in its own
//! memory (the `encoded` method of `document`). Made once per document, handed to
//! every policy that asks with one copy, read by the SDK (`guest/src/tape.rs`)
//! without parsing and without calls back into the host.
//!
//! Format (little-endian), after the magic `PFT2`, one value:
//! - `0` null, `1` false, `2` true;
//! - `3` + i64: a whole number that fits; `4` + f64: any other number;
//! - `5` + u32 length + UTF-8 bytes: a string;
//! - `6` + u32 count + u32 table: the elements in order, then at `table` count × u32
//!   element offsets;
//! - `7` + u32 count + u32 table: each key (u32 length + bytes) followed by its
//!   value, in document order, then at `table` count × (u32 key offset, u32 value
//!   offset).
//!
//! Offsets count from the start of the tape. Tables come after the children so that
//! a parser can write the tape in one pass over the text ([`parse_json`]) without
//! knowing how many children a container has when it opens.
//!
//! Two ways in: [`encode`] from a parsed `serde_json::Value` (YAML, sites), and
//! [`parse_json`] straight from JSON text, which also records the line of every
//! value (the lines of findings) and leaves the `Value` unmade. [`Reader`] reads a
//! tape on the host side: schema validation, lines, and the `Value` when a policy
//! asks for one ([`Reader::to_value`]).

use serde_json::Value;

pub const MAGIC: &[u8; 4] = b"PFT2";
/// The offset of the root value.
pub const ROOT: u32 = 4;

pub const NULL: u8 = 0;
pub const FALSE: u8 = 1;
pub const TRUE: u8 = 2;
pub const INT: u8 = 3;
pub const FLOAT: u8 = 4;
pub const STRING: u8 = 5;
pub const ARRAY: u8 = 6;
pub const OBJECT: u8 = 7;

/// Encodes a parsed document.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(MAGIC);
    let mut offsets = Vec::new();
    write(&mut out, &mut offsets, value);
    out
}

fn offset(out: &[u8]) -> u32 {
    u32::try_from(out.len()).expect("a document under 4 GiB")
}

fn put(out: &mut [u8], at: usize, value: u32) {
    out[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn text(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&offset(text.as_bytes()).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// Opens a container: its tag, then room for the count and the table offset.
fn open(out: &mut Vec<u8>, tag: u8) -> usize {
    let start = out.len();
    out.push(tag);
    out.extend_from_slice(&[0; 8]);
    start
}

/// Closes the container opened at `start`: writes the table of its children's
/// offsets (`per_child` u32s each, the last entries of `offsets`) after them.
fn close(out: &mut Vec<u8>, offsets: &mut Vec<u32>, start: usize, first: usize, per_child: usize) {
    let table = offset(out);
    let count = (offsets.len() - first) / per_child;
    put(
        out,
        start + 1,
        u32::try_from(count).expect("fewer than 2^32 members"),
    );
    put(out, start + 5, table);
    for at in offsets.drain(first..) {
        out.extend_from_slice(&at.to_le_bytes());
    }
}

fn write(out: &mut Vec<u8>, offsets: &mut Vec<u32>, value: &Value) {
    match value {
        Value::Null => out.push(NULL),
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Number(number) => match number.as_i64() {
            Some(whole) => {
                out.push(INT);
                out.extend_from_slice(&whole.to_le_bytes());
            }
            None => {
                out.push(FLOAT);
                out.extend_from_slice(&number.as_f64().unwrap_or(f64::NAN).to_le_bytes());
            }
        },
        Value::String(s) => {
            out.push(STRING);
            text(out, s);
        }
        Value::Array(items) => {
            let start = open(out, ARRAY);
            let first = offsets.len();
            for item in items {
                offsets.push(offset(out));
                write(out, offsets, item);
            }
            close(out, offsets, start, first, 1);
        }
        Value::Object(members) => {
            let start = open(out, OBJECT);
            let first = offsets.len();
            for (key, item) in members {
                offsets.push(offset(out));
                text(out, key);
                offsets.push(offset(out));
                write(out, offsets, item);
            }
            close(out, offsets, start, first, 2);
        }
    }
}

/// A JSON document parsed straight into a tape.
#[derive(Debug)]
pub struct Parsed {
    pub tape: Vec<u8>,
    /// `(offset, line)` of every value but the root, in tape order: for a member,
    /// the line of its key; for an element, the line it starts on.
    pub lines: Vec<(u32, u32)>,
}

/// Deeper than this, serde_json refuses a document; so do we.
const MAX_DEPTH: usize = 128;

/// Parses JSON text into a tape in one pass, without a `serde_json::Value`.
///
/// `None` for anything this fast path does not take: a syntax error, a duplicate
/// key, nesting past 128 levels. The caller then parses with serde_json, which
/// gives the same document (or the error message `check` gives), so the two paths
/// never disagree. (Numbers other than a plain `i64` are read by serde_json here.)
pub fn parse_json(text: &str) -> Option<Parsed> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        text,
        at: 0,
        line: 1,
        out: Vec::with_capacity(text.len() + text.len() / 2),
        offsets: Vec::with_capacity(64),
        keys: Vec::with_capacity(64),
        lines: Vec::with_capacity(text.len() / 16),
    };
    parser.out.extend_from_slice(MAGIC);
    parser.space();
    parser.value(0)?;
    parser.space();
    if parser.at != parser.bytes.len() {
        return None;
    }
    Some(Parsed {
        tape: parser.out,
        lines: parser.lines,
    })
}

const ONES: u64 = 0x0101_0101_0101_0101;
const SPACES: u64 = 0x2020_2020_2020_2020;

/// The eight bytes at `at`, if there are eight.
fn word_at(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(chunk.try_into().expect("eight bytes")))
}

/// The high bit of each byte of `word` below `n` (at most 128). Exact for the
/// lowest such byte; a byte above it may be flagged wrongly.
fn bytes_below(word: u64, n: u8) -> u64 {
    word.wrapping_sub(ONES * u64::from(n)) & !word & (ONES << 7)
}

/// The high bit of each byte of `word` that is `byte` (exact for the lowest).
fn bytes_equal(word: u64, byte: u8) -> u64 {
    bytes_below(word ^ (ONES * u64::from(byte)), 1)
}

struct Parser<'t> {
    bytes: &'t [u8],
    text: &'t str,
    at: usize,
    line: u32,
    out: Vec<u8>,
    /// Children's offsets of the open containers, innermost last.
    offsets: Vec<u32>,
    /// Keys of the open objects, innermost last (to find duplicates).
    keys: Vec<(usize, usize)>,
    lines: Vec<(u32, u32)>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn space(&mut self) {
        // Exports are pretty-printed: most of the text is indentation, skipped a
        // word at a time (a run of spaces in one step).
        let bytes = self.bytes;
        let mut at = self.at;
        let mut line = self.line;
        loop {
            if let Some(word) = word_at(bytes, at) {
                let diff = word ^ SPACES;
                if diff == 0 {
                    at += 8;
                    continue;
                }
                at += (diff.trailing_zeros() / 8) as usize;
            }
            let Some(&byte) = bytes.get(at) else {
                break;
            };
            if byte == b'\n' {
                line += 1;
            } else if byte != b' ' && byte != b'\t' && byte != b'\r' {
                break;
            }
            at += 1;
        }
        self.at = at;
        self.line = line;
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => {
                self.out.push(STRING);
                self.string()
            }
            b't' => self.literal(b"true", TRUE),
            b'f' => self.literal(b"false", FALSE),
            b'n' => self.literal(b"null", NULL),
            _ => self.number(),
        }
    }

    fn literal(&mut self, word: &[u8], tag: u8) -> Option<()> {
        if !self.bytes[self.at..].starts_with(word) {
            return None;
        }
        self.at += word.len();
        self.out.push(tag);
        Some(())
    }

    /// A number. A plain `-?(0|[1-9][0-9]*)` that fits is read here; any other
    /// literal (fraction, exponent, `-0`, past `i64`) is read by serde_json itself, so
    /// it is the same number the slow path gets.
    fn number(&mut self) -> Option<()> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let digits = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        let count = self.at - digits;
        let plain = count > 0
            && (count == 1 || self.bytes[digits] != b'0')
            && !matches!(self.peek(), Some(b'.' | b'e' | b'E'));
        if let Some(whole) = plain
            .then(|| self.text[start..self.at].parse::<i64>().ok())
            .flatten()
            .filter(|&whole| whole != 0 || self.bytes[start] != b'-')
        {
            self.out.push(INT);
            self.out.extend_from_slice(&whole.to_le_bytes());
            return Some(());
        }
        while self
            .peek()
            .is_some_and(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
        {
            self.at += 1;
        }
        let number: serde_json::Number = serde_json::from_str(&self.text[start..self.at]).ok()?;
        match number.as_i64() {
            Some(whole) => {
                self.out.push(INT);
                self.out.extend_from_slice(&whole.to_le_bytes());
            }
            None => {
                self.out.push(FLOAT);
                self.out
                    .extend_from_slice(&number.as_f64().unwrap_or(f64::NAN).to_le_bytes());
            }
        }
        Some(())
    }

    /// A string at `"`, written as u32 length + UTF-8 bytes (the tag is the caller's).
    fn string(&mut self) -> Option<()> {
        self.at += 1;
        let start = self.at;
        // The common case: no escape, nothing to decode. Eight bytes at a time
        // while none of them ends the string or needs a look.
        let mut end = start;
        while let Some(word) = word_at(self.bytes, end) {
            let stops =
                bytes_equal(word, b'"') | bytes_equal(word, b'\\') | bytes_below(word, 0x20);
            if stops != 0 {
                // The lowest flag is exact (a borrow only spreads upwards).
                end += (stops.trailing_zeros() / 8) as usize;
                break;
            }
            end += 8;
        }
        while let Some(&byte) = self.bytes.get(end) {
            if byte == b'"' || byte == b'\\' || byte < 0x20 {
                break;
            }
            end += 1;
        }
        if *self.bytes.get(end)? < 0x20 {
            return None;
        }
        self.at = end;
        if self.bytes[end] == b'"' {
            let raw = &self.bytes[start..end];
            self.at += 1;
            self.out.extend_from_slice(&offset(raw).to_le_bytes());
            self.out.extend_from_slice(raw);
            return Some(());
        }
        // Escapes: decode into the tape, then patch the length.
        let len_at = self.out.len();
        self.out.extend_from_slice(&[0; 4]);
        self.out.extend_from_slice(&self.bytes[start..self.at]);
        loop {
            let byte = *self.bytes.get(self.at)?;
            self.at += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    let escaped = *self.bytes.get(self.at)?;
                    self.at += 1;
                    let decoded = match escaped {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode()?,
                        _ => return None,
                    };
                    let mut buffer = [0; 4];
                    self.out
                        .extend_from_slice(decoded.encode_utf8(&mut buffer).as_bytes());
                }
                0..=0x1f => return None,
                _ => self.out.push(byte),
            }
        }
        let len = offset(&self.out[len_at + 4..]);
        put(&mut self.out, len_at, len);
        Some(())
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.get(self.at..self.at + 4)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.at += 4;
        u32::from_str_radix(digits, 16).ok()
    }

    /// The character of a `\u` escape (a surrogate pair takes two); lone
    /// surrogates are left to serde_json's error.
    fn unicode(&mut self) -> Option<char> {
        let first = self.hex4()?;
        match first {
            0xD800..=0xDBFF => {
                if !self.bytes[self.at..].starts_with(b"\\u") {
                    return None;
                }
                self.at += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return None;
                }
                char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
            }
            0xDC00..=0xDFFF => None,
            _ => char::from_u32(first),
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.at += 1;
        let start = open(&mut self.out, ARRAY);
        let first = self.offsets.len();
        self.space();
        if self.eat(b']').is_none() {
            loop {
                self.space();
                let at = offset(&self.out);
                self.offsets.push(at);
                self.lines.push((at, self.line));
                self.value(depth)?;
                self.space();
                match self.peek()? {
                    b',' => self.at += 1,
                    b']' => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        close(&mut self.out, &mut self.offsets, start, first, 1);
        Some(())
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.at += 1;
        let start = open(&mut self.out, OBJECT);
        let first = self.offsets.len();
        let first_key = self.keys.len();
        self.space();
        if self.eat(b'}').is_none() {
            loop {
                self.space();
                if self.peek()? != b'"' {
                    return None;
                }
                let line = self.line;
                let key_at = offset(&self.out);
                self.string()?;
                let key = (key_at as usize + 4, self.out.len());
                // serde_json keeps the last of duplicate keys in the first one's
                // place: leave such a document to it.
                let name = &self.out[key.0..key.1];
                if self.keys[first_key..]
                    .iter()
                    .any(|&(from, to)| &self.out[from..to] == name)
                {
                    return None;
                }
                self.keys.push(key);
                self.space();
                self.eat(b':')?;
                self.space();
                let value_at = offset(&self.out);
                self.offsets.push(key_at);
                self.offsets.push(value_at);
                self.lines.push((value_at, line));
                self.value(depth)?;
                self.space();
                match self.peek()? {
                    b',' => self.at += 1,
                    b'}' => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.keys.truncate(first_key);
        close(&mut self.out, &mut self.offsets, start, first, 2);
        Some(())
    }
}

/// Reads a tape on the host side.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'t> {
    bytes: &'t [u8],
}

impl<'t> Reader<'t> {
    pub fn new(bytes: &'t [u8]) -> Reader<'t> {
        Reader { bytes }
    }

    fn u32_at(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.bytes[at..at + 4].try_into().expect("four bytes"))
    }

    fn u64_at(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.bytes[at..at + 8].try_into().expect("eight bytes"))
    }

    pub fn tag(&self, at: u32) -> u8 {
        self.bytes[at as usize]
    }

    /// The string that starts with its length at `at`.
    fn text(&self, at: usize) -> &'t str {
        let len = self.u32_at(at) as usize;
        let bytes = &self.bytes[at + 4..at + 4 + len];
        if bytes.is_ascii() {
            // SAFETY: every byte is below 0x80, and ASCII is valid UTF-8. (The
            // schema check reads every key and string: the full check was a
            // twentieth of an audit's time.)
            unsafe { std::str::from_utf8_unchecked(bytes) }
        } else {
            std::str::from_utf8(bytes).expect("the tape holds UTF-8")
        }
    }

    pub fn str(&self, at: u32) -> Option<&'t str> {
        (self.tag(at) == STRING).then(|| self.text(at as usize + 1))
    }

    pub fn i64(&self, at: u32) -> Option<i64> {
        (self.tag(at) == INT).then(|| self.u64_at(at as usize + 1) as i64)
    }

    pub fn f64(&self, at: u32) -> Option<f64> {
        (self.tag(at) == FLOAT).then(|| f64::from_bits(self.u64_at(at as usize + 1)))
    }

    /// The number of elements or members of the container at `at`.
    pub fn count(&self, at: u32) -> usize {
        self.u32_at(at as usize + 1) as usize
    }

    fn table(&self, at: u32) -> usize {
        self.u32_at(at as usize + 5) as usize
    }

    pub fn element(&self, at: u32, index: usize) -> u32 {
        self.u32_at(self.table(at) + index * 4)
    }

    /// The key and value offset of member `index` of the object at `at`.
    pub fn entry(&self, at: u32, index: usize) -> (&'t str, u32) {
        let slot = self.table(at) + index * 8;
        (self.text(self.u32_at(slot) as usize), self.u32_at(slot + 4))
    }

    pub fn member(&self, at: u32, key: &str) -> Option<u32> {
        if self.tag(at) != OBJECT {
            return None;
        }
        let table = self.table(at);
        (0..self.count(at)).find_map(|index| {
            let slot = table + index * 8;
            let name = self.u32_at(slot) as usize;
            let len = self.u32_at(name) as usize;
            (len == key.len() && &self.bytes[name + 4..name + 4 + len] == key.as_bytes())
                .then(|| self.u32_at(slot + 4))
        })
    }

    /// The value at an RFC 6901 pointer, if all of it exists.
    pub fn resolve(&self, pointer: &str) -> Option<u32> {
        if pointer.is_empty() {
            return Some(ROOT);
        }
        let found = self.walk(pointer);
        (found.len() == pointer.matches('/').count())
            .then(|| found.last().copied())
            .flatten()
    }

    /// The values along an RFC 6901 pointer from the root, as far as they exist.
    pub fn walk(&self, pointer: &str) -> Vec<u32> {
        let mut found = Vec::new();
        let Some(rest) = pointer.strip_prefix('/') else {
            return found;
        };
        let mut at = ROOT;
        for raw in rest.split('/') {
            let token: std::borrow::Cow<str> = if raw.contains('~') {
                raw.replace("~1", "/").replace("~0", "~").into()
            } else {
                raw.into()
            };
            let next = match self.tag(at) {
                OBJECT => self.member(at, &token),
                ARRAY => Some(&*token)
                    .filter(|token| token.bytes().all(|b| b.is_ascii_digit()))
                    .filter(|token| *token == "0" || !token.starts_with('0'))
                    .and_then(|token| token.parse::<usize>().ok())
                    .filter(|&index| index < self.count(at))
                    .map(|index| self.element(at, index)),
                _ => None,
            };
            match next {
                Some(next) => {
                    found.push(next);
                    at = next;
                }
                None => break,
            }
        }
        found
    }

    /// The value at `at` as a `serde_json::Value`.
    pub fn to_value(&self, at: u32) -> Value {
        let body = at as usize + 1;
        match self.tag(at) {
            NULL => Value::Null,
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            INT => Value::from(self.u64_at(body) as i64),
            FLOAT => serde_json::Number::from_f64(f64::from_bits(self.u64_at(body)))
                .map_or(Value::Null, Value::Number),
            STRING => Value::String(self.text(body).to_owned()),
            ARRAY => Value::Array(
                (0..self.count(at))
                    .map(|index| self.to_value(self.element(at, index)))
                    .collect(),
            ),
            OBJECT => Value::Object(
                (0..self.count(at))
                    .map(|index| {
                        let (key, value) = self.entry(at, index);
                        (key.to_owned(), self.to_value(value))
                    })
                    .collect(),
            ),
            tag => unreachable!("tag {tag} in a tape"),
        }
    }
}

/// The 1-based line of each pointer in a document parsed by [`parse_json`], or of
/// its nearest parent that exists; `None` for the root or when nothing of the
/// pointer exists. The same answers as `report::lines::lines_of` on the text.
pub fn lines_of(tape: &[u8], lines: &[(u32, u32)], pointers: &[&str]) -> Vec<Option<usize>> {
    let reader = Reader::new(tape);
    pointers
        .iter()
        .map(|pointer| {
            let deepest = *reader.walk(pointer).last()?;
            let index = lines.binary_search_by_key(&deepest, |&(at, _)| at).ok()?;
            Some(lines[index].1 as usize)
        })
        .collect()
}

/// The tape as a representation `jsonschema` validates in place (its `Json`
/// traits): the real validator, compiled from the same schema, without building a
/// `serde_json::Value`. A test checks that it judges generated snapshots, valid and
/// broken, exactly as the `serde_json::Value` validator does.
pub struct TapeJson;

/// A value in a tape.
#[derive(Clone, Copy, Debug)]
pub struct TapeNode<'t> {
    reader: Reader<'t>,
    at: u32,
}

impl<'t> TapeNode<'t> {
    pub fn root(reader: Reader<'t>) -> TapeNode<'t> {
        TapeNode { reader, at: ROOT }
    }

    fn at(&self, at: u32) -> TapeNode<'t> {
        TapeNode {
            reader: self.reader,
            at,
        }
    }
}

/// A number in a tape: a whole `i64` or an `f64`.
#[derive(Clone, Copy, Debug)]
pub enum TapeNumber {
    Int(i64),
    Float(f64),
}

impl jsonschema::json::JsonNumber for TapeNumber {
    fn as_u64(&self) -> Option<u64> {
        match *self {
            TapeNumber::Int(whole) => u64::try_from(whole).ok(),
            TapeNumber::Float(_) => None,
        }
    }

    fn as_i64(&self) -> Option<i64> {
        match *self {
            TapeNumber::Int(whole) => Some(whole),
            TapeNumber::Float(_) => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        Some(match *self {
            TapeNumber::Int(whole) => whole as f64,
            TapeNumber::Float(float) => float,
        })
    }

    fn as_str(&self) -> std::borrow::Cow<'_, str> {
        self.to_number().to_string().into()
    }

    fn to_number(&self) -> std::borrow::Cow<'_, serde_json::Number> {
        std::borrow::Cow::Owned(match *self {
            TapeNumber::Int(whole) => whole.into(),
            TapeNumber::Float(float) => {
                serde_json::Number::from_f64(float).unwrap_or_else(|| 0.into())
            }
        })
    }

    fn is_integer(&self) -> bool {
        match *self {
            TapeNumber::Int(_) => true,
            TapeNumber::Float(float) => float.is_finite() && float.fract() == 0.0,
        }
    }

    fn is_written_as_integer(&self) -> bool {
        matches!(self, TapeNumber::Int(_))
    }
}

impl jsonschema::json::Json for TapeJson {
    type Node<'a> = TapeNode<'a>;
    type PreparedKey = String;
    /// A one-string tape.
    type StringBuffer = Vec<u8>;

    fn prepare_key(key: &str) -> String {
        key.to_owned()
    }

    fn with_string_node<T>(
        buffer: &mut Vec<u8>,
        string: &str,
        f: impl FnOnce(TapeNode<'_>) -> T,
    ) -> T {
        buffer.clear();
        buffer.extend_from_slice(MAGIC);
        buffer.push(STRING);
        text(buffer, string);
        f(TapeNode::root(Reader::new(buffer)))
    }
}

impl<'a> jsonschema::json::Node<'a, TapeJson> for TapeNode<'a> {
    type Object = TapeNode<'a>;
    type Array = TapeNode<'a>;
    type Number = TapeNumber;

    fn as_object(&self) -> Option<TapeNode<'a>> {
        (self.reader.tag(self.at) == OBJECT).then_some(*self)
    }

    fn as_array(&self) -> Option<TapeNode<'a>> {
        (self.reader.tag(self.at) == ARRAY).then_some(*self)
    }

    fn as_string(&self) -> Option<std::borrow::Cow<'a, str>> {
        self.reader.str(self.at).map(std::borrow::Cow::Borrowed)
    }

    fn as_number(&self) -> Option<TapeNumber> {
        match self.reader.tag(self.at) {
            INT => self.reader.i64(self.at).map(TapeNumber::Int),
            FLOAT => self.reader.f64(self.at).map(TapeNumber::Float),
            _ => None,
        }
    }

    fn as_boolean(&self) -> Option<bool> {
        match self.reader.tag(self.at) {
            TRUE => Some(true),
            FALSE => Some(false),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        self.reader.tag(self.at) == NULL
    }

    fn json_type(&self) -> jsonschema::JsonType {
        use jsonschema::JsonType;
        match self.reader.tag(self.at) {
            NULL => JsonType::Null,
            FALSE | TRUE => JsonType::Boolean,
            INT | FLOAT => JsonType::Number,
            STRING => JsonType::String,
            ARRAY => JsonType::Array,
            _ => JsonType::Object,
        }
    }

    /// Code points, as `minLength` counts them: for ASCII, the bytes (checked a word
    /// at a time); counting code points byte by byte was a percent of an audit.
    fn string_length(&self) -> Option<u64> {
        let text = self.reader.str(self.at)?;
        Some(if text.is_ascii() {
            text.len()
        } else {
            text.chars().count()
        } as u64)
    }

    fn to_value(&self) -> std::borrow::Cow<'a, Value> {
        std::borrow::Cow::Owned(self.reader.to_value(self.at))
    }

    fn identity(&self) -> Option<jsonschema::json::NodeIdentity> {
        Some(jsonschema::json::NodeIdentity::tagged(
            self.reader.bytes.as_ptr() as usize,
            self.at,
        ))
    }
}

/// The members or elements of a container, in order.
pub struct Children<'a> {
    node: TapeNode<'a>,
    next: usize,
    count: usize,
}

impl<'a> Children<'a> {
    fn of(node: TapeNode<'a>) -> Children<'a> {
        Children {
            node,
            next: 0,
            count: node.reader.count(node.at),
        }
    }

    fn step(&mut self) -> Option<usize> {
        (self.next < self.count).then(|| {
            self.next += 1;
            self.next - 1
        })
    }
}

/// The members of an object.
pub struct Members<'a>(Children<'a>);

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, TapeNode<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let index = self.0.step()?;
        let node = self.0.node;
        let (key, value) = node.reader.entry(node.at, index);
        Some((key, node.at(value)))
    }
}

/// The elements of an array.
pub struct Elements<'a>(Children<'a>);

impl<'a> Iterator for Elements<'a> {
    type Item = TapeNode<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let index = self.0.step()?;
        let node = self.0.node;
        Some(node.at(node.reader.element(node.at, index)))
    }
}

impl<'a> jsonschema::json::Object<'a, TapeJson> for TapeNode<'a> {
    type Node = TapeNode<'a>;
    type MemberName = &'a str;
    type MembersIter = Members<'a>;

    fn len(&self) -> usize {
        self.reader.count(self.at)
    }

    fn get(&self, key: &String) -> Option<TapeNode<'a>> {
        self.reader.member(self.at, key).map(|at| self.at(at))
    }

    fn members(&self) -> Members<'a> {
        Members(Children::of(*self))
    }
}

impl<'a> jsonschema::json::Array<'a, TapeJson> for TapeNode<'a> {
    type Node = TapeNode<'a>;
    type ElementsIter = Elements<'a>;

    fn len(&self) -> usize {
        self.reader.count(self.at)
    }

    fn elements(&self) -> Elements<'a> {
        Elements(Children::of(*self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn u32_at(tape: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(tape[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn objects_have_their_children_then_a_table_of_keys_and_values() {
        let tape = encode(&json!({"a": true, "bc": [1, "x"]}));
        assert_eq!(&tape[..4], MAGIC);
        assert_eq!(tape[4], OBJECT);
        assert_eq!(u32_at(&tape, 5), 2);
        let table = u32_at(&tape, 9) as usize;
        assert_eq!(table + 16, tape.len());
        // First member: key "a", value true, right after the header.
        let (key, value) = (
            u32_at(&tape, table) as usize,
            u32_at(&tape, table + 4) as usize,
        );
        assert_eq!(key, 13);
        assert_eq!(u32_at(&tape, key), 1);
        assert_eq!(&tape[key + 4..key + 5], b"a");
        assert_eq!(tape[value], TRUE);
        // Second member: an array of a whole number and a string.
        let array = u32_at(&tape, table + 12) as usize;
        assert_eq!(tape[array], ARRAY);
        assert_eq!(u32_at(&tape, array + 1), 2);
        let elements = u32_at(&tape, array + 5) as usize;
        let first = u32_at(&tape, elements) as usize;
        assert_eq!(first, array + 9);
        assert_eq!(tape[first], INT);
        assert_eq!(
            i64::from_le_bytes(tape[first + 1..first + 9].try_into().unwrap()),
            1
        );
        let second = u32_at(&tape, elements + 4) as usize;
        assert_eq!((tape[second], u32_at(&tape, second + 1)), (STRING, 1));
    }

    /// `minLength` counts code points, whatever the bytes.
    #[test]
    fn string_lengths_are_in_code_points() {
        use jsonschema::json::Node as _;
        for (text, length) in [
            ("", 0),
            ("a", 1),
            ("Legal entities (cdm_companies)", 30),
            ("é", 1),
            ("Légal entités", 13),
            ("😀x", 2),
        ] {
            let tape = encode(&json!({ "s": text }));
            let reader = Reader::new(&tape);
            let node = TapeNode::root(reader).at(reader.member(ROOT, "s").unwrap());
            assert_eq!(node.string_length(), Some(length), "{text:?}");
        }
    }

    #[test]
    fn words_are_searched_eight_bytes_at_a_time() {
        let word = |text: &[u8; 8]| u64::from_le_bytes(*text);
        // Where the first match is, in bytes; 8 for none.
        let first = |flags: u64| flags.trailing_zeros() / 8;
        assert_eq!(first(bytes_equal(word(b"abc\"defg"), b'"')), 3);
        assert_eq!(first(bytes_equal(word(b"abcdefgh"), b'"')), 8);
        assert_eq!(first(bytes_equal(word(b"abcdefg\\"), b'\\')), 7);
        assert_eq!(first(bytes_below(word(b"abc\ndefg"), 0x20)), 3);
        assert_eq!(first(bytes_below(word(b"\x00bcdefgh"), 0x20)), 0);
        assert_eq!(first(bytes_below(word(b"ab cdefg"), 0x20)), 8);
        let high = word(&[0xc3, 0xa9, b'a', 0xff, 0x80, b' ', b'!', 0x7f]);
        assert_eq!(first(bytes_below(high, 0x20)), 8);
        // The first flagged byte is the first match, even with another after it.
        assert_eq!(first(bytes_equal(word(b"ab\"cd\"ef"), b'"')), 2);
        assert_eq!(first(bytes_below(word(b"abcde\n\x01f"), 0x20)), 5);
        // UTF-8 continuation bytes are neither quotes nor control characters.
        let accents = word(&[0xe2, 0x80, 0xa2, 0xa2, 0xdc, 0xdc, 0xa2, 0xe2]);
        assert_eq!(first(bytes_equal(accents, b'"')), 8);
    }

    #[test]
    fn numbers_that_are_not_i64_are_floats() {
        let tape = encode(&json!(1.5));
        assert_eq!(tape[4], FLOAT);
        assert_eq!(f64::from_le_bytes(tape[5..13].try_into().unwrap()), 1.5);
        let big = encode(&json!(u64::MAX));
        assert_eq!(big[4], FLOAT);
    }

    /// The fast parser writes exactly the tape that encoding serde_json's value
    /// writes, and reads back to the same value.
    #[test]
    fn parsing_gives_the_tape_of_the_serde_value() {
        for text in [
            r#"{}"#,
            r#"{"a": [], "b": {}, "c": [[], [{}]]}"#,
            r#"{"s": "plain", "e": "tab\tquote\" slash\/ back\\ nl\n uni\u00e9 pair\ud83d\ude00 ctl\u0001", "é": "ü"}"#,
            r#"{"n": [0, -0, 1, -1, 9223372036854775807, -9223372036854775808, 1.5, -2.5e-3, 1E2, 0.1], "t": true, "f": false, "z": null}"#,
            "\n{\r\n \"x\" :\t[ 1 , 2 ]\n}\n",
        ] {
            let parsed = parse_json(text).unwrap_or_else(|| panic!("fast path: {text}"));
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(parsed.tape, encode(&value), "{text}");
            assert_eq!(Reader::new(&parsed.tape).to_value(ROOT), value, "{text}");
        }
        // Past i64, a whole number is a float in the tape either way.
        let text = r#"{"big": 18446744073709551615}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(parse_json(text).unwrap().tape, encode(&value));
    }

    /// Keys that only look alike (same length and first eight bytes; a prefix
    /// followed by a NUL; the same key in another object) are not duplicates.
    #[test]
    fn keys_alike_are_not_duplicates() {
        for text in [
            r#"{"financeAndOperationsEntity": 1, "financeAndOperationsEntitx": 2}"#,
            r#"{"ab": 1, "ab\u0000": 2, "ab\u0000\u0000": 3}"#,
            r#"{"a": {"a": 1}, "b": {"a": 2}, "c": [{"a": 3}, {"a": 4}]}"#,
            r#"{"12345678": 1, "123456789": 2, "1234567": 3}"#,
        ] {
            let parsed = parse_json(text).unwrap_or_else(|| panic!("fast path: {text}"));
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(parsed.tape, encode(&value), "{text}");
        }
    }

    /// What the fast path leaves to serde_json: errors, and what it would read
    /// differently or not at all.
    #[test]
    fn the_fast_path_leaves_the_rest_to_serde_json() {
        for text in [
            r#"{"a": 1,}"#,
            r#"{"a" 1}"#,
            r#"{"a": 1} x"#,
            r#"{"a": 01}"#,
            r#"{"a": 1.}"#,
            r#"{"a": -}"#,
            r#"{"a": 1e}"#,
            r#"{"a": .5}"#,
            r#"{"a": 1e400}"#,
            r#"{"a": "\x"}"#,
            r#"{"a": "\ud800"}"#,
            "{\"a\": \"raw\tcontrol\"}",
            r#"{"a": 1, "a": 2}"#,
            r#"{"financeAndOperationsEntity": 1, "b": 2, "financeAndOperationsEntity": 3}"#,
            r#"{"x": {"a\u0000": 1, "a\u0000": 2}}"#,
            r#"{"a": tru}"#,
            r#"{"a": [1 2]}"#,
            "",
        ] {
            assert!(parse_json(text).is_none(), "{text}");
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(parse_json(&deep).is_none());
        assert!(serde_json::from_str::<Value>(&deep).is_err());
    }

    #[test]
    fn lines_are_those_of_the_text_scanner() {
        let text = "{\n  \"a\": {\n    \"b\": [\n      1,\n\n      {\"c\": 2}\n    ]\n  },\n  \"d\":\n    3\n}\n";
        let parsed = parse_json(text).unwrap();
        let pointers = [
            "", "/a", "/a/b", "/a/b/0", "/a/b/1", "/a/b/1/c", "/a/b/1/x", "/a/b/7", "/d", "/nope",
            "/a/b/01", "/a/b/+1", "/a/b/-1",
        ];
        assert_eq!(
            lines_of(&parsed.tape, &parsed.lines, &pointers),
            crate::report::lines::lines_of(text, &pointers)
        );
        // A pointer resolves only if all of it exists.
        let reader = Reader::new(&parsed.tape);
        assert_eq!(reader.resolve(""), Some(ROOT));
        let c = reader.resolve("/a/b/1/c").expect("/a/b/1/c exists");
        assert_eq!(reader.i64(c), Some(2));
        for missing in ["/a/b/1/x", "/a/b/7", "/nope", "/a/b/01", "a"] {
            assert_eq!(reader.resolve(missing), None, "{missing}");
        }
    }

    /// Every pointer in `value`, and a missing member or element under each
    /// container.
    fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
        match value {
            Value::Object(members) => {
                out.push(format!("{at}/no-such-member"));
                for (key, item) in members {
                    let key = key.replace('~', "~0").replace('/', "~1");
                    pointers(item, format!("{at}/{key}"), out);
                }
            }
            Value::Array(items) => {
                out.push(format!("{at}/{}", items.len()));
                for (index, item) in items.iter().enumerate() {
                    pointers(item, format!("{at}/{index}"), out);
                }
            }
            _ => {}
        }
        out.push(at);
    }

    /// The fast path against serde_json, the Value validator and the text scanner,
    /// on generated snapshots, some broken the ways snapshots get broken.
    #[test]
    fn fleet_snapshots_parse_validate_and_locate_as_the_slow_path_does() {
        use crate::inputs::schema::{is_valid_environment, is_valid_environment_tape};
        let mut invalid = 0;
        for index in 0..60 {
            let mut doc = crate::audit::fleet::snapshot(index, 42);
            match index % 6 {
                1 => doc["dualWrite"]["maps"][0]["state"] = json!("Runing"),
                2 => {
                    doc["environment"].as_object_mut().unwrap().remove("id");
                }
                3 => doc["environment"]["tenantId"] = json!("not a guid"),
                4 => doc["unexpected"] = json!({"a": [1, 2.5, null]}),
                5 => doc["licensing"]["powerPages"]["authenticatedUsersPerMonth"] = json!(-3),
                _ => {}
            }
            let text = serde_json::to_string_pretty(&doc).unwrap();
            let parsed = parse_json(&text).expect("the fast path takes exported JSON");
            let value: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(parsed.tape, encode(&value), "snapshot {index}");
            let valid = is_valid_environment(&value);
            assert_eq!(
                is_valid_environment_tape(&parsed.tape),
                valid,
                "snapshot {index}"
            );
            invalid += usize::from(!valid);
            let mut all = Vec::new();
            pointers(&value, String::new(), &mut all);
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            assert_eq!(
                lines_of(&parsed.tape, &parsed.lines, &all),
                crate::report::lines::lines_of(&text, &all),
                "snapshot {index}"
            );
        }
        assert_eq!(invalid, 50, "every broken snapshot is invalid");
    }
}
