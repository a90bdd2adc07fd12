//! JSON text for the response envelope and the audit records, written faster than
//! `serde_json` writes it.
//!
//! The output is byte for byte what `serde_json::to_vec` writes (compact), as the tests
//! check. Only the speed differs: nearly every string the server writes (base64, hex,
//! ids, names) has nothing to escape. Here such a string is checked in one branch-free pass,
//! which the compiler vectorizes, and copied whole. `serde_json` looks each byte up in its
//! escape table, which cost about 2% of a transit request in the envelope alone. A string
//! that does need escaping goes to `serde_json`, as do numbers, bools and null.

use serde_json::{Map, Value};

/// Whether JSON needs any byte of `s` escaped: a quote, a backslash or a control character.
fn needs_escape(s: &[u8]) -> bool {
    // No early exit: the fold compiles to a vector loop.
    s.iter().fold(false, |acc, &b| {
        acc | (b < 0x20) | (b == b'"') | (b == b'\\')
    })
}

/// Appends `s` as a JSON string.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    if needs_escape(s.as_bytes()) {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// Appends `value`.
pub(crate) fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::String(s) => write_str(out, s),
        Value::Object(map) => write_map(out, map),
        Value::Array(items) => write_array(out, items, write_value),
        // Null, bools and numbers, as serde_json writes them; a Vec cannot fail.
        scalar => {
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

/// Appends `map` as a JSON object, in the map's order.
pub(crate) fn write_map(out: &mut Vec<u8>, map: &Map<String, Value>) {
    out.push(b'{');
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, key);
        out.push(b':');
        write_value(out, value);
    }
    out.push(b'}');
}

/// Appends `items` as a JSON array of strings.
pub(crate) fn write_strs(out: &mut Vec<u8>, items: &[String]) {
    write_array(out, items, |out, item| write_str(out, item));
}

/// Appends `items` as a JSON array, each element written by `write`.
pub(crate) fn write_array<T>(
    out: &mut Vec<u8>,
    items: &[T],
    mut write: impl FnMut(&mut Vec<u8>, &T),
) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(out, item);
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ours(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        write_value(&mut out, value);
        out
    }

    #[test]
    fn writes_what_serde_json_writes() {
        let long_clean = "QUJD".repeat(500);
        let long_dirty = format!("{long_clean}\"{long_clean}\n");
        let values = [
            json!(null),
            json!(true),
            json!(false),
            json!(0),
            json!(-17),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(1.5),
            json!(-0.0),
            json!(1e300),
            json!(""),
            json!("plain"),
            json!("vault:v1:Zm9vYmFy+/="),
            json!("quote\" backslash\\ slash/"),
            json!("controls \u{0} \u{1} \u{8} \t \n \u{c} \r \u{1f} \u{7f}"),
            json!("unicode: é ü 中文 🙂 \u{2028} \u{2029}"),
            json!(long_clean),
            json!(long_dirty),
            json!([]),
            json!({}),
            json!([1, "two", [3, {"four": null}], {"k\"ey": "v\u{1}al"}]),
            json!({"b": 1, "a": {"nested": ["x", "y\\"]}, "": "", "ünï": true}),
        ];
        for value in &values {
            assert_eq!(
                String::from_utf8(ours(value)).unwrap(),
                serde_json::to_string(value).unwrap(),
                "{value:?}"
            );
        }
        let strs = vec!["a".to_owned(), "b\"".to_owned(), String::new()];
        let mut out = Vec::new();
        write_strs(&mut out, &strs);
        assert_eq!(out, serde_json::to_vec(&strs).unwrap());
    }

    #[test]
    fn every_byte_is_escaped_as_serde_json_escapes_it() {
        for b in 0u8..0x80 {
            let s = format!("a{}b", char::from(b));
            let mut out = Vec::new();
            write_str(&mut out, &s);
            assert_eq!(out, serde_json::to_vec(&s).unwrap(), "byte {b:#04x}");
        }
    }
}
