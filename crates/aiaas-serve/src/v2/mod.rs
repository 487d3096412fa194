//! KServe V2 / Open Inference Protocol messages (`specification/protocol/inference_rest.md`):
//! what an infer request and response carry, and a model's metadata.

mod json;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// `POST /v2/models/{m}/infer` body.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct InferRequest {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
    pub inputs: Vec<RequestInput>,
    /// Outputs to return (all of them when absent).
    #[serde(default)]
    pub outputs: Option<Vec<RequestOutput>>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RequestInput {
    pub name: String,
    pub shape: Vec<i64>,
    pub datatype: String,
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
    /// Row-major values, flat or nested, flattened as they are parsed.
    #[serde(default)]
    pub data: TensorData,
    /// The raw bytes of this input when it came as binary data (Triton's binary tensor
    /// extension) instead of `data`.
    #[serde(skip)]
    pub binary: Option<Vec<u8>>,
}

/// The `data` of a request tensor, flattened row-major as it is parsed: numbers or strings in
/// one vector, never a tree of JSON values (a 32 MiB body of numbers becomes at most 16 M `f64`,
/// where `serde_json::Value` took about a gigabyte). Numbers are read from the raw JSON text in
/// one scan (`cargo bench -p aiaas-serve --bench decode` times it against `Value`).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum TensorData {
    #[default]
    Empty,
    Numbers(Vec<f64>),
    Texts(Vec<String>),
    /// Values of more than one kind, or of neither: the first value that is not a number and
    /// the first that is not a string, as JSON text, for the error message.
    Mixed {
        not_a_number: String,
        not_a_string: String,
    },
}

impl TensorData {
    fn push_number(&mut self, n: f64) {
        match self {
            TensorData::Empty => *self = TensorData::Numbers(vec![n]),
            TensorData::Numbers(values) => values.push(n),
            TensorData::Texts(values) => {
                *self = TensorData::Mixed {
                    not_a_number: Value::from(values[0].as_str()).to_string(),
                    not_a_string: Value::from(n).to_string(),
                }
            }
            TensorData::Mixed { .. } => {}
        }
    }

    fn push_text(&mut self, s: &str) {
        match self {
            TensorData::Empty => *self = TensorData::Texts(vec![s.to_string()]),
            TensorData::Texts(values) => values.push(s.to_string()),
            TensorData::Numbers(values) => {
                *self = TensorData::Mixed {
                    not_a_number: Value::from(s).to_string(),
                    not_a_string: Value::from(values[0]).to_string(),
                }
            }
            TensorData::Mixed { .. } => {}
        }
    }

    /// A value that is neither a number nor a string (true, null, an object).
    fn push_other(&mut self, what: String) {
        let (not_a_number, not_a_string) = match std::mem::take(self) {
            TensorData::Numbers(values) => (what, Value::from(values[0]).to_string()),
            TensorData::Texts(values) => (Value::from(values[0].as_str()).to_string(), what),
            TensorData::Empty => (what.clone(), what),
            mixed @ TensorData::Mixed { .. } => {
                *self = mixed;
                return;
            }
        };
        *self = TensorData::Mixed {
            not_a_number,
            not_a_string,
        };
    }
}

impl<'de> serde::Deserialize<'de> for TensorData {
    /// The JSON text of `data` (already checked to be JSON by the parser), read by [`numbers`]
    /// when it holds only numbers in arrays, as it nearly always does (at any depth: the scan
    /// does not recurse); any other value goes through the general visitor, which stops at
    /// serde_json's nesting limit.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Owned, so that any serde_json deserializer gives it (from a `Value` too).
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        let text = raw.get().as_bytes();
        if let Some((values, _)) = json::numbers(text).filter(|(_, end)| *end == text.len()) {
            return Ok(if values.is_empty() {
                TensorData::Empty
            } else {
                TensorData::Numbers(values)
            });
        }
        let mut data = TensorData::Empty;
        let mut parser = serde_json::Deserializer::from_str(raw.get());
        serde::de::DeserializeSeed::deserialize(Flatten(&mut data), &mut parser)
            .map_err(serde::de::Error::custom)?;
        Ok(data)
    }
}

/// Appends the leaves of one JSON value (an array at any depth, or a scalar) to the data.
struct Flatten<'a>(&'a mut TensorData);

impl<'de> serde::de::DeserializeSeed<'de> for Flatten<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Flatten<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("numbers or strings, flat or in nested arrays")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Flatten(&mut *self.0))?.is_some() {}
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.0.push_number(v);
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.push_number(v as f64);
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.push_number(v as f64);
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.push_text(v);
        Ok(())
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.0.push_other(v.to_string());
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.push_other("null".into());
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        self.0.push_other("an object".into());
        Ok(())
    }
}

impl InferRequest {
    /// Parse a request body. With Triton's binary tensor extension the body is
    /// `header_length` bytes of JSON followed by the raw bytes of every input whose parameters
    /// give a `binary_data_size`, in input order.
    pub fn parse(body: &[u8], header_length: Option<usize>) -> Result<InferRequest, String> {
        let json_end = header_length.unwrap_or(body.len());
        if json_end > body.len() {
            return Err(format!(
                "Inference-Header-Content-Length is {json_end} but the body has {} bytes",
                body.len()
            ));
        }
        let json = &body[..json_end];
        // The usual request in one pass; anything else (and every error) through serde.
        let mut request = match json::read(json) {
            Some(request) => request,
            None => serde_json::from_slice(json)
                .map_err(|e| format!("the request body is not a V2 infer request: {e}"))?,
        };
        let mut rest = &body[json_end..];
        for input in &mut request.inputs {
            let Some(size) = input
                .parameters
                .as_ref()
                .and_then(|p| p.get("binary_data_size"))
            else {
                continue;
            };
            let size = size
                .as_u64()
                .and_then(|s| usize::try_from(s).ok())
                .ok_or_else(|| format!("input {:?}: binary_data_size is {size}", input.name))?;
            if size > rest.len() {
                return Err(format!(
                    "input {:?} declares {size} bytes of binary data; only {} follow the JSON",
                    input.name,
                    rest.len()
                ));
            }
            input.binary = Some(rest[..size].to_vec());
            rest = &rest[size..];
        }
        if !rest.is_empty() {
            return Err(format!(
                "{} bytes of binary data follow the JSON that no input claims",
                rest.len()
            ));
        }
        Ok(request)
    }

    /// Which outputs the caller wants as binary data: a per-output `binary_data` parameter,
    /// else the request's `binary_data_output` parameter.
    pub fn binary_outputs(&self) -> BinaryOutputs {
        let flag = |p: &Option<Map<String, Value>>, key: &str| {
            p.as_ref().and_then(|p| p.get(key)).and_then(Value::as_bool)
        };
        BinaryOutputs {
            all: flag(&self.parameters, "binary_data_output").unwrap_or(false),
            named: self
                .outputs
                .iter()
                .flatten()
                .filter_map(|o| flag(&o.parameters, "binary_data").map(|b| (o.name.clone(), b)))
                .collect(),
        }
    }
}

/// See [`InferRequest::binary_outputs`].
#[derive(Clone, Debug, Default)]
pub struct BinaryOutputs {
    all: bool,
    named: Vec<(String, bool)>,
}

impl BinaryOutputs {
    fn wants(&self, name: &str) -> bool {
        self.named
            .iter()
            .find(|(n, _)| n == name)
            .map_or(self.all, |(_, b)| *b)
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RequestOutput {
    pub name: String,
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
}

/// The infer response body.
#[derive(Clone, Debug, Serialize)]
pub struct InferResponse {
    pub model_name: String,
    pub model_version: String,
    pub id: String,
    pub outputs: Vec<ResponseOutput>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ResponseOutput {
    pub name: String,
    pub shape: Vec<i64>,
    pub datatype: &'static str,
    /// `binary_data_size` when the values travel as binary data after the JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<OutputData>,
}

impl InferResponse {
    /// Move the outputs the caller wants as binary out of the JSON; returns their bytes, to be
    /// sent after the JSON in output order (empty when none is binary).
    pub fn take_binary(&mut self, wanted: &BinaryOutputs) -> Vec<u8> {
        let mut binary = Vec::new();
        for output in &mut self.outputs {
            if !wanted.wants(&output.name) {
                continue;
            }
            let start = binary.len();
            if let Some(data) = output.data.take() {
                data.write_raw(&mut binary);
            }
            output.parameters = Some(serde_json::json!({"binary_data_size": binary.len() - start}));
        }
        binary
    }
}

/// Output values, flat and row-major.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum OutputData {
    Fp32(Vec<f32>),
    /// FP16 values, widened to f32 (exactly) for JSON; raw bytes carry them as FP16.
    Fp16(Vec<f32>),
    Int64(Vec<i64>),
    Int32(Vec<i32>),
    Bool(Vec<bool>),
    Bytes(Vec<String>),
}

impl OutputData {
    /// Appends the values as raw bytes, as the binary tensor extension and gRPC's
    /// `raw_output_contents` carry them: numbers little-endian in their datatype's width, BOOL
    /// one byte each; BYTES as each element's 4-byte little-endian length and its bytes.
    pub fn write_raw(&self, out: &mut Vec<u8>) {
        match self {
            OutputData::Fp32(values) => values
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            OutputData::Fp16(values) => values
                .iter()
                .for_each(|&v| out.extend_from_slice(&half::f16::from_f32(v).to_le_bytes())),
            OutputData::Int64(values) => values
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            OutputData::Int32(values) => values
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            OutputData::Bool(values) => out.extend(values.iter().map(|&v| u8::from(v))),
            OutputData::Bytes(values) => {
                for v in values {
                    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                    out.extend_from_slice(v.as_bytes());
                }
            }
        }
    }
}

/// One tensor a model takes or gives.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TensorMetadata {
    pub name: String,
    pub datatype: &'static str,
    /// `-1` for the batch dimension.
    pub shape: Vec<i64>,
}

/// `GET /v2/models/{m}` body.
#[derive(Clone, Debug, Serialize)]
pub struct ModelMetadata {
    pub name: String,
    pub versions: Vec<String>,
    pub platform: &'static str,
    pub inputs: Vec<TensorMetadata>,
    pub outputs: Vec<TensorMetadata>,
}

#[cfg(test)]
mod data_tests {
    use super::TensorData;

    fn parse(json: &str) -> TensorData {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn data_is_flattened_as_it_is_parsed() {
        assert_eq!(
            parse("[[1, 2.5], [-3, 4e2]]"),
            TensorData::Numbers(vec![1.0, 2.5, -3.0, 400.0])
        );
        assert_eq!(parse("7"), TensorData::Numbers(vec![7.0]));
        assert_eq!(
            parse(r#"[["a"], ["b"]]"#),
            TensorData::Texts(vec!["a".into(), "b".into()])
        );
        assert_eq!(parse("[[], []]"), TensorData::Empty);
    }

    #[test]
    fn mixed_data_keeps_what_each_datatype_would_refuse() {
        let mixed = |n: &str, s: &str| TensorData::Mixed {
            not_a_number: n.into(),
            not_a_string: s.into(),
        };
        assert_eq!(parse(r#"[1, "two", 3]"#), mixed(r#""two""#, "1.0"));
        assert_eq!(parse(r#"["a", 2]"#), mixed(r#""a""#, "2.0"));
        assert_eq!(parse("[1, true]"), mixed("true", "1.0"));
        assert_eq!(parse(r#"[null, "x"]"#), mixed("null", "null"));
        assert_eq!(parse(r#"[{"a": [1]}]"#), mixed("an object", "an object"));
    }

    #[test]
    fn numbers_are_read_exactly_in_every_json_form() {
        let text = "[[0.1234, -5e-3, 17, 1E2, -0, 3.4028235e38], [123456789012345678901, 1e-321]]";
        // Each the nearest f64, as Rust's own literals are (integers past u64 included).
        let exact = vec![
            0.1234,
            -0.005,
            17.0,
            100.0,
            -0.0,
            3.4028235e38,
            123456789012345678901.0,
            1e-321,
        ];
        assert_eq!(parse(text), TensorData::Numbers(exact));
        // Whitespace of every kind JSON allows, a bare number, and arrays without numbers.
        assert_eq!(
            parse("[ 1,\n\t2 ,\r\n[3]]"),
            TensorData::Numbers(vec![1.0, 2.0, 3.0])
        );
        assert_eq!(parse(" 2.5 "), TensorData::Numbers(vec![2.5]));
        assert_eq!(parse("[[[]]]"), TensorData::Empty);
    }

    #[test]
    fn deep_nesting_is_read_without_recursion_or_refused_not_a_crash() {
        let deep = |leaf: &str| format!("{}{leaf}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(parse(&deep("1")), TensorData::Numbers(vec![1.0]));
        // Anything but numbers takes the general visitor, which stops at serde_json's limit.
        assert!(serde_json::from_str::<TensorData>(&deep(r#""a""#)).is_err());
    }
}
