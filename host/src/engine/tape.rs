//! The tape: a document in a compact binary form that a policy reads in its own
//! memory (the `encoded` method of `document`). Made once per document from the
//! parsed value, handed to every policy that asks with one copy, read by the SDK
//! (`guest/src/tape.rs`) without parsing and without calls back into the host.
//!
//! Format (little-endian), after the magic `PFT1`, one value:
//! - `0` null, `1` false, `2` true;
//! - `3` + i64: a whole number that fits; `4` + f64: any other number;
//! - `5` + u32 length + UTF-8 bytes: a string;
//! - `6` + u32 count + u32 end + count × u32 element offsets, then the elements;
//! - `7` + u32 count + u32 end + count × (u32 key offset, u32 value offset), then
//!   each key (u32 length + bytes) followed by its value, in document order.
//!
//! Offsets count from the start of the tape; `end` is the offset just past the value.

use serde_json::Value;

pub const MAGIC: &[u8; 4] = b"PFT1";

/// Encodes a parsed document.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(MAGIC);
    write(&mut out, value);
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

fn write(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(0),
        Value::Bool(false) => out.push(1),
        Value::Bool(true) => out.push(2),
        Value::Number(number) => match number.as_i64() {
            Some(whole) => {
                out.push(3);
                out.extend_from_slice(&whole.to_le_bytes());
            }
            None => {
                out.push(4);
                out.extend_from_slice(&number.as_f64().unwrap_or(f64::NAN).to_le_bytes());
            }
        },
        Value::String(s) => {
            out.push(5);
            text(out, s);
        }
        Value::Array(items) => {
            let start = out.len();
            out.push(6);
            out.extend_from_slice(&offset_count(items.len()).to_le_bytes());
            out.extend_from_slice(&[0; 4]);
            let table = out.len();
            out.resize(table + items.len() * 4, 0);
            for (index, item) in items.iter().enumerate() {
                let at = offset(out);
                put(out, table + index * 4, at);
                write(out, item);
            }
            let end = offset(out);
            put(out, start + 5, end);
        }
        Value::Object(members) => {
            let start = out.len();
            out.push(7);
            out.extend_from_slice(&offset_count(members.len()).to_le_bytes());
            out.extend_from_slice(&[0; 4]);
            let table = out.len();
            out.resize(table + members.len() * 8, 0);
            for (index, (key, item)) in members.iter().enumerate() {
                let key_at = offset(out);
                text(out, key);
                let value_at = offset(out);
                write(out, item);
                put(out, table + index * 8, key_at);
                put(out, table + index * 8 + 4, value_at);
            }
            let end = offset(out);
            put(out, start + 5, end);
        }
    }
}

fn offset_count(count: usize) -> u32 {
    u32::try_from(count).expect("fewer than 2^32 members")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn u32_at(tape: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(tape[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn objects_have_a_table_of_keys_and_values_and_an_end() {
        let tape = encode(&json!({"a": true, "bc": [1, "x"]}));
        assert_eq!(&tape[..4], MAGIC);
        assert_eq!(tape[4], 7);
        assert_eq!(u32_at(&tape, 5), 2);
        assert_eq!(u32_at(&tape, 9) as usize, tape.len());
        // First member: key "a", value true.
        let (key, value) = (u32_at(&tape, 13) as usize, u32_at(&tape, 17) as usize);
        assert_eq!(u32_at(&tape, key), 1);
        assert_eq!(&tape[key + 4..key + 5], b"a");
        assert_eq!(tape[value], 2);
        // Second member: an array of a whole number and a string.
        let array = u32_at(&tape, 25) as usize;
        assert_eq!(tape[array], 6);
        assert_eq!(u32_at(&tape, array + 1), 2);
        let first = u32_at(&tape, array + 9) as usize;
        assert_eq!(tape[first], 3);
        assert_eq!(
            i64::from_le_bytes(tape[first + 1..first + 9].try_into().unwrap()),
            1
        );
        let second = u32_at(&tape, array + 13) as usize;
        assert_eq!((tape[second], u32_at(&tape, second + 1)), (5, 1));
    }

    #[test]
    fn numbers_that_are_not_i64_are_floats() {
        let tape = encode(&json!(1.5));
        assert_eq!(tape[4], 4);
        assert_eq!(f64::from_le_bytes(tape[5..13].try_into().unwrap()), 1.5);
        let big = encode(&json!(u64::MAX));
        assert_eq!(big[4], 4);
    }
}
