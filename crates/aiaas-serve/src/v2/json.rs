//! An infer request's JSON read in one pass over its bytes. serde with `data` taken as raw text
//! reads the numbers twice (serde_json checks each digit to find where `data` ends, then the
//! numbers are parsed), which was a fifth of the server's time on a batch-1 request; here the
//! request's structure is walked by hand and `data` is parsed where it stands.
//!
//! Only the usual shape is read here: keys without escapes, each field once, numeric `data`.
//! Small fields (`id`, `name`, `shape`, `parameters`, `outputs`, unknown keys) are handed to
//! serde in place, so their rules are serde's. Anything else, and any invalid JSON, makes
//! [`read`] answer `None`, and the caller parses the whole body with serde, which reads every
//! valid request alike and words the errors; so the result never depends on which path read it
//! (the tests compare both on tricky documents).

use super::{InferRequest, RequestInput, TensorData};
use serde::de::{DeserializeOwned, IgnoredAny};

/// `json` as an infer request, or `None` when it is not of the usual shape or not valid.
pub(super) fn read(json: &[u8]) -> Option<InferRequest> {
    let mut cursor = Cursor { bytes: json, at: 0 };
    let request = cursor.request()?;
    (cursor.peek().is_none()).then_some(request)
}

/// The numbers of the JSON value at the start of `bytes` (a number, or arrays of numbers at
/// any depth) flattened in order, and the value's length in bytes; `None` when the value holds
/// anything else (a string, `true`, `null`, an object) or is not valid JSON. Arrays are walked
/// with a depth count, not recursion, so any depth is read.
pub(super) fn numbers(bytes: &[u8]) -> Option<(Vec<f64>, usize)> {
    // A value and its comma take 7 bytes as features are usually written (`0.1234,`).
    let mut values = Vec::with_capacity(bytes.len() / 7 + 1);
    let mut depth = 0usize;
    let mut at = 0;
    loop {
        // A value: an array opens (or is empty), or a number.
        at = skip_whitespace(bytes, at);
        match *bytes.get(at)? {
            b'[' => {
                at = skip_whitespace(bytes, at + 1);
                if bytes.get(at) != Some(&b']') {
                    depth += 1;
                    continue;
                }
                at += 1;
            }
            b'-' | b'0'..=b'9' => {
                let (value, length) = number(&bytes[at..])?;
                values.push(value);
                at += length;
            }
            _ => return None,
        }
        // After a value: arrays close, then a comma leads to the next value.
        loop {
            if depth == 0 {
                return Some((values, at));
            }
            at = skip_whitespace(bytes, at);
            match *bytes.get(at)? {
                b',' => {
                    at += 1;
                    break;
                }
                b']' => {
                    depth -= 1;
                    at += 1;
                }
                _ => return None,
            }
        }
    }
}

fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = bytes.get(at) {
        at += 1;
    }
    at
}

/// Exact powers of ten as `f64` (10^22 is the largest).
const POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The JSON number at the start of `bytes` and its length in bytes, correctly rounded; `None`
/// when the bytes there are not a JSON number (`01`, `1.`, `.5`, `-`, `1e`). A plain decimal of
/// at most 15 digits (what features look like: `0.1234`, `-17`) is its digits as an integer,
/// exact in an `f64`, divided by an exact power of ten: one IEEE division, so correctly rounded
/// (Clinger's fast path). Others (exponents, longer digits) go to the standard parser.
fn number(bytes: &[u8]) -> Option<(f64, usize)> {
    let negative = bytes.first() == Some(&b'-');
    let mut mantissa = 0u64;
    let mut digits = |at: &mut usize| {
        let first = *at;
        while let Some(d) = bytes
            .get(*at)
            .map(|b| b.wrapping_sub(b'0'))
            .filter(|d| *d <= 9)
        {
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d));
            *at += 1;
        }
        *at - first
    };
    let start = usize::from(negative);
    let mut at = start;
    let whole = digits(&mut at);
    if whole == 0 || (whole > 1 && bytes[start] == b'0') {
        return None;
    }
    let mut fraction = 0;
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        fraction = digits(&mut at);
        if fraction == 0 {
            return None;
        }
    }
    let exponent = matches!(bytes.get(at), Some(b'e' | b'E'));
    if !exponent && whole + fraction <= 15 {
        let magnitude = mantissa as f64 / POWERS_OF_TEN[fraction];
        return Some((if negative { -magnitude } else { magnitude }, at));
    }
    if exponent {
        at += 1;
        if matches!(bytes.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let first = at;
        while bytes.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        if at == first {
            return None;
        }
    }
    // ASCII digits and signs only, so always UTF-8.
    let text = std::str::from_utf8(&bytes[..at]).ok()?;
    Some((text.parse().ok()?, at))
}

/// A position in the request's bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// The next byte after whitespace (the cursor moves past the whitespace).
    fn peek(&mut self) -> Option<u8> {
        self.at = skip_whitespace(self.bytes, self.at);
        self.bytes.get(self.at).copied()
    }

    /// Moves past `byte` if it comes next.
    fn eat(&mut self, byte: u8) -> bool {
        let next = self.peek() == Some(byte);
        self.at += usize::from(next);
        next
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    /// A key: a string without escapes.
    fn key(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let rest = &self.bytes[self.at..];
        let length = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest[length] != b'"' {
            return None;
        }
        self.at += length + 1;
        std::str::from_utf8(&rest[..length]).ok()
    }

    /// The value here, read by serde.
    fn serde<T: DeserializeOwned>(&mut self) -> Option<T> {
        self.peek()?;
        let mut values =
            serde_json::Deserializer::from_slice(&self.bytes[self.at..]).into_iter::<T>();
        let value = values.next()?.ok()?;
        self.at += values.byte_offset();
        Some(value)
    }

    /// Hands each comma-separated element between `open` and `close` to `element`.
    fn sequence(
        &mut self,
        (open, close): (u8, u8),
        mut element: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.expect(open)?;
        if self.eat(close) {
            return Some(());
        }
        loop {
            element(self)?;
            if self.eat(close) {
                return Some(());
            }
            self.expect(b',')?;
        }
    }

    /// Hands each member of the object here to `member`, the cursor on its value.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.sequence((b'{', b'}'), |c| {
            let key = c.key()?;
            c.expect(b':')?;
            member(c, key)
        })
    }

    fn request(&mut self) -> Option<InferRequest> {
        let (mut id, mut parameters, mut inputs, mut outputs) = (None, None, None, None);
        self.object(|c, key| match key {
            "id" => once(&mut id, c.serde()?),
            "parameters" => once(&mut parameters, c.serde()?),
            "inputs" => once(&mut inputs, c.inputs()?),
            "outputs" => once(&mut outputs, c.serde()?),
            _ => c.serde::<IgnoredAny>().map(drop),
        })?;
        Some(InferRequest {
            id: id.flatten(),
            parameters: parameters.flatten(),
            inputs: inputs?,
            outputs: outputs.flatten(),
        })
    }

    fn inputs(&mut self) -> Option<Vec<RequestInput>> {
        let mut inputs = Vec::new();
        self.sequence((b'[', b']'), |c| {
            inputs.push(c.input()?);
            Some(())
        })?;
        Some(inputs)
    }

    fn input(&mut self) -> Option<RequestInput> {
        let (mut name, mut shape, mut datatype, mut parameters, mut data) =
            (None, None, None, None, None);
        self.object(|c, key| match key {
            "name" => once(&mut name, c.serde()?),
            "shape" => once(&mut shape, c.serde()?),
            "datatype" => once(&mut datatype, c.serde()?),
            "parameters" => once(&mut parameters, c.serde()?),
            "data" => once(&mut data, c.data()?),
            _ => c.serde::<IgnoredAny>().map(drop),
        })?;
        Some(RequestInput {
            name: name?,
            shape: shape?,
            datatype: datatype?,
            parameters: parameters.flatten(),
            data: data.unwrap_or_default(),
            binary: None,
        })
    }

    /// `data`: numbers parsed where they stand; other values (text) through serde.
    fn data(&mut self) -> Option<TensorData> {
        self.peek()?;
        let Some((values, length)) = numbers(&self.bytes[self.at..]) else {
            return self.serde();
        };
        self.at += length;
        Some(if values.is_empty() {
            TensorData::Empty
        } else {
            TensorData::Numbers(values)
        })
    }
}

/// Fills a field's slot; `None` (serde's "duplicate field" error) if it was already filled.
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    slot.replace(value).is_none().then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both paths on `json`: the fast one must agree with serde or step aside.
    fn both(json: &str) -> (Option<InferRequest>, Result<InferRequest, String>) {
        let fast = read(json.as_bytes());
        let serde = serde_json::from_str::<InferRequest>(json).map_err(|e| e.to_string());
        if let Some(fast) = &fast {
            assert_eq!(Ok(fast), serde.as_ref(), "{json}");
        }
        (fast, serde)
    }

    #[test]
    fn the_usual_requests_are_read_in_one_pass_as_serde_reads_them() {
        for json in [
            r#"{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[0.5,-1]}]}"#,
            r#" { "id" : "a\"b" , "inputs" : [ { "name" : "x" , "shape" : [ 2 , 1 ] ,
                "datatype" : "FP64" , "data" : [ [ 1e3 ] , [ -0.0 ] ] } ] } "#,
            r#"{"id":null,"parameters":{"timeout":5},"outputs":[{"name":"y"}],"extra":{"a":[1]},
                "inputs":[{"data":[[1,2]],"parameters":null,"shape":[1,2],"name":"n\u00e9",
                "datatype":"INT64","note":"ignored"}]}"#,
            r#"{"inputs":[{"name":"t","shape":[2],"datatype":"BYTES","data":["a","b"]}]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[[]]}]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":7}]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32"}],"outputs":null}"#,
            r#"{"inputs":[]}"#,
            r#"{"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[1,"a",null]}]}"#,
        ] {
            let (fast, serde) = both(json);
            assert!(serde.is_ok(), "{json}: {serde:?}");
            assert!(fast.is_some(), "the fast path stepped aside for {json}");
        }
    }

    #[test]
    fn anything_unusual_or_invalid_is_left_to_serde() {
        for json in [
            // Invalid: serde words the error.
            "",
            "{",
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1,]}]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1 2]}]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[01]}]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1.]}]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[.5]}]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[-]}]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1e]}]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[[1]}]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]]}]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1x]}]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]} x"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]},]}"#,
            // Valid or not, but not the usual shape.
            r#"{"inputs":[],"inputs":[]}"#,
            r#"{"id":null,"id":"a","inputs":[]}"#,
            r#"{"inputs":[{"name":"x","name":"y","shape":[1],"datatype":"FP32"}]}"#,
            r#"{"in\u0070uts":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}"#,
            r#"{"inputs":[{"shape":[1],"datatype":"FP32","data":[1]}]}"#,
            r#"{"id":"x"}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],"id":5}"#,
        ] {
            let (fast, _) = both(json);
            assert!(fast.is_none(), "the fast path read {json}");
        }
    }

    /// Exactness is checked through `TensorData` (`data_tests`); here, where a value ends and
    /// what is not a JSON number.
    #[test]
    fn numbers_end_where_their_value_ends_and_are_json_numbers() {
        let read = |json: &str| numbers(json.as_bytes());
        // The value's end, not the text's: what follows is the caller's.
        assert_eq!(read("2.5, 3"), Some((vec![2.5], 3)));
        assert_eq!(read("[[], [ ]] }"), Some((vec![], 9)));
        for invalid in ["", "[", "[1", "[1,]", "[,1]", "-", "+1", "1.e5", "[\"a\"]"] {
            assert_eq!(read(invalid), None, "{invalid}");
        }
    }
}
