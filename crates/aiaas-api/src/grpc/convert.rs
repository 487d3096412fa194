//! gRPC messages to and from the runtime's V2 types: the request's typed contents or raw bytes
//! become the same `RequestInput`s a REST body makes; the answer goes back typed, or raw when the
//! inputs came raw (as Triton's clients send and read them).

use super::given;
use super::proto::model_infer_request::InferInputTensor;
use super::proto::model_infer_response::InferOutputTensor;
use super::proto::model_metadata_response::TensorMetadata as ProtoTensor;
use super::proto::{
    InferParameter, InferTensorContents, ModelInferRequest, ModelInferResponse,
    ModelMetadataResponse, infer_parameter::ParameterChoice,
};
use aiaas_serve::v2::{
    InferRequest, InferResponse, ModelMetadata, OutputData, RequestInput, RequestOutput,
    TensorData, TensorMetadata,
};
use serde_json::{Map, Value};
use std::collections::HashMap;
use tonic::metadata::MetadataMap;

/// The runtime's request for `message` (whose model name and version the caller reads), and
/// whether its inputs came as raw bytes. `timeout_us` (the call's gRPC deadline) stands for the
/// `timeout` parameter when the message has none.
pub(super) fn request(
    message: ModelInferRequest,
    timeout_us: Option<u64>,
) -> Result<(InferRequest, bool), String> {
    let ModelInferRequest {
        id,
        parameters,
        inputs,
        outputs,
        raw_input_contents,
        ..
    } = message;
    let raw = !raw_input_contents.is_empty();
    if raw && raw_input_contents.len() != inputs.len() {
        return Err(format!(
            "raw_input_contents holds {} tensors for {} inputs: give one per input, in order",
            raw_input_contents.len(),
            inputs.len()
        ));
    }
    let mut raw_contents = raw_input_contents.into_iter();
    let inputs = inputs
        .into_iter()
        .map(|input| self::input(input, raw_contents.next()))
        .collect::<Result<Vec<_>, String>>()?;
    let mut parameters = self::parameters(parameters);
    if let Some(micros) = timeout_us {
        parameters
            .get_or_insert_with(Map::new)
            .entry("timeout")
            .or_insert(Value::from(micros));
    }
    let outputs = (!outputs.is_empty()).then(|| {
        outputs
            .into_iter()
            .map(|o| RequestOutput {
                name: o.name,
                parameters: self::parameters(o.parameters),
            })
            .collect()
    });
    let request = InferRequest {
        id: given(id),
        parameters,
        inputs,
        outputs,
    };
    Ok((request, raw))
}

fn input(input: InferInputTensor, raw: Option<Vec<u8>>) -> Result<RequestInput, String> {
    let InferInputTensor {
        name,
        datatype,
        shape,
        parameters,
        contents,
    } = input;
    let contents = contents.unwrap_or_default();
    let (data, binary) = match raw {
        Some(_) if contents != InferTensorContents::default() => {
            return Err(format!(
                "input {name:?} has both contents and raw_input_contents; give one of them"
            ));
        }
        Some(raw) => (TensorData::Empty, Some(raw)),
        None => typed(&name, &datatype, contents)?,
    };
    Ok(RequestInput {
        parameters: self::parameters(parameters),
        data,
        binary,
        name,
        shape,
        datatype,
    })
}

/// The values of typed contents, from the field the datatype names (the model checks the
/// datatype itself: the values of a datatype no model takes are not read). Integers and BOOL
/// become the raw bytes the binary extension would carry, so that no INT64 passes through f64.
fn typed(
    name: &str,
    datatype: &str,
    c: InferTensorContents,
) -> Result<(TensorData, Option<Vec<u8>>), String> {
    let held = [
        ("bool_contents", c.bool_contents.is_empty()),
        ("int_contents", c.int_contents.is_empty()),
        ("int64_contents", c.int64_contents.is_empty()),
        ("uint_contents", c.uint_contents.is_empty()),
        ("uint64_contents", c.uint64_contents.is_empty()),
        ("fp32_contents", c.fp32_contents.is_empty()),
        ("fp64_contents", c.fp64_contents.is_empty()),
        ("bytes_contents", c.bytes_contents.is_empty()),
    ];
    let own = match datatype {
        "BOOL" => "bool_contents",
        "INT8" | "INT16" | "INT32" => "int_contents",
        "INT64" => "int64_contents",
        "UINT8" | "UINT16" | "UINT32" => "uint_contents",
        "UINT64" => "uint64_contents",
        "FP32" => "fp32_contents",
        "FP64" => "fp64_contents",
        "BYTES" => "bytes_contents",
        // FP16 and BF16 travel only as raw bytes; an unknown datatype is refused by the model.
        _ => "raw_input_contents",
    };
    if let Some((other, _)) = held.iter().find(|(f, empty)| !empty && *f != own) {
        return Err(format!(
            "input {name:?} is {datatype}, so its values go in {own}; it has values in \
             contents.{other}"
        ));
    }
    let raw = |bytes: Vec<u8>| (TensorData::Empty, Some(bytes));
    Ok(match datatype {
        "INT64" => raw(c
            .int64_contents
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect()),
        "INT32" => raw(c
            .int_contents
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect()),
        "BOOL" => raw(c.bool_contents.iter().map(|&v| u8::from(v)).collect()),
        "FP32" if !c.fp32_contents.is_empty() => (
            TensorData::Numbers(c.fp32_contents.iter().map(|&v| f64::from(v)).collect()),
            None,
        ),
        // As the binary extension carries them (text or encoded images: the model's input
        // decides, and checks UTF-8 where it takes text).
        "BYTES" if !c.bytes_contents.is_empty() => raw((c.bytes_contents.iter())
            .flat_map(|b| {
                (b.len() as u32)
                    .to_le_bytes()
                    .into_iter()
                    .chain(b.iter().copied())
            })
            .collect()),
        _ => (TensorData::Empty, None),
    })
}

/// Protocol parameters as the JSON map the runtime reads (`None` when there are none).
fn parameters(parameters: HashMap<String, InferParameter>) -> Option<Map<String, Value>> {
    if parameters.is_empty() {
        return None;
    }
    let value = |p: InferParameter| match p.parameter_choice {
        Some(ParameterChoice::BoolParam(b)) => Value::from(b),
        Some(ParameterChoice::Int64Param(i)) => Value::from(i),
        Some(ParameterChoice::StringParam(s)) => Value::from(s),
        Some(ParameterChoice::DoubleParam(d)) => Value::from(d),
        Some(ParameterChoice::Uint64Param(u)) => Value::from(u),
        None => Value::Null,
    };
    Some(parameters.into_iter().map(|(k, p)| (k, value(p))).collect())
}

/// The message for the runtime's answer: outputs as raw bytes (`raw`) or typed contents. FP16
/// has no typed field, so an answer with an FP16 output is all raw.
pub(super) fn response(response: InferResponse, raw: bool) -> ModelInferResponse {
    let raw = raw || (response.outputs.iter()).any(|o| matches!(o.data, Some(OutputData::Fp16(_))));
    let mut raw_output_contents = Vec::new();
    let outputs = response
        .outputs
        .into_iter()
        .map(|output| {
            let contents = match output.data {
                Some(data) if raw => {
                    let mut bytes = Vec::new();
                    data.write_raw(&mut bytes);
                    raw_output_contents.push(bytes);
                    None
                }
                Some(OutputData::Fp32(values)) => Some(InferTensorContents {
                    fp32_contents: values,
                    ..Default::default()
                }),
                Some(OutputData::Int64(values)) => Some(InferTensorContents {
                    int64_contents: values,
                    ..Default::default()
                }),
                Some(OutputData::Int32(values)) => Some(InferTensorContents {
                    int_contents: values,
                    ..Default::default()
                }),
                Some(OutputData::Bool(values)) => Some(InferTensorContents {
                    bool_contents: values,
                    ..Default::default()
                }),
                Some(OutputData::Bytes(values)) => Some(InferTensorContents {
                    bytes_contents: values.into_iter().map(String::into_bytes).collect(),
                    ..Default::default()
                }),
                Some(OutputData::Fp16(_)) => unreachable!("FP16 answers are raw"),
                None => None,
            };
            InferOutputTensor {
                name: output.name,
                datatype: output.datatype.into(),
                shape: output.shape,
                parameters: HashMap::new(),
                contents,
            }
        })
        .collect();
    ModelInferResponse {
        model_name: response.model_name,
        model_version: response.model_version,
        id: response.id,
        parameters: HashMap::new(),
        outputs,
        raw_output_contents,
    }
}

pub(super) fn metadata(m: ModelMetadata) -> ModelMetadataResponse {
    let tensors = |tensors: Vec<TensorMetadata>| {
        tensors
            .into_iter()
            .map(|t| ProtoTensor {
                name: t.name,
                datatype: t.datatype.into(),
                shape: t.shape,
            })
            .collect()
    };
    ModelMetadataResponse {
        name: m.name,
        versions: m.versions,
        platform: m.platform.into(),
        inputs: tensors(m.inputs),
        outputs: tensors(m.outputs),
    }
}

/// The call's deadline (`grpc-timeout`: at most 8 digits and a unit) in microseconds.
pub(super) fn grpc_timeout_us(metadata: &MetadataMap) -> Option<u64> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => n * 3_600_000_000,
        "M" => n * 60_000_000,
        "S" => n * 1_000_000,
        "m" => n * 1_000,
        "u" => n,
        "n" => n.div_ceil(1_000),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_are_read_in_every_unit() {
        let of = |v: &str| {
            let mut m = MetadataMap::new();
            m.insert("grpc-timeout", v.parse().unwrap());
            grpc_timeout_us(&m)
        };
        assert_eq!(of("2S"), Some(2_000_000));
        assert_eq!(of("150m"), Some(150_000));
        assert_eq!(of("7u"), Some(7));
        assert_eq!(of("1500n"), Some(2));
        assert_eq!(of("1H"), Some(3_600_000_000));
        assert_eq!(of("123456789S"), None);
        assert_eq!(of("S"), None);
        assert_eq!(of("5x"), None);
        assert_eq!(grpc_timeout_us(&MetadataMap::new()), None);
    }

    #[test]
    fn the_call_deadline_stands_for_a_timeout_parameter_only_when_there_is_none() {
        let timeout = |message: ModelInferRequest, deadline| {
            let (request, _) = request(message, deadline).unwrap();
            request.parameters.and_then(|p| p.get("timeout").cloned())
        };
        assert_eq!(timeout(ModelInferRequest::default(), None), None);
        assert_eq!(
            timeout(ModelInferRequest::default(), Some(250)),
            Some(Value::from(250u64))
        );
        let mut own = ModelInferRequest::default();
        let five = InferParameter {
            parameter_choice: Some(ParameterChoice::Int64Param(5)),
        };
        own.parameters.insert("timeout".into(), five);
        assert_eq!(timeout(own, Some(250)), Some(Value::from(5)));
    }

    #[test]
    fn typed_values_must_be_in_the_field_of_their_datatype() {
        let fp32 = InferTensorContents {
            fp32_contents: vec![1.5, 2.0],
            ..Default::default()
        };
        assert_eq!(
            typed("x", "FP32", fp32.clone()),
            Ok((TensorData::Numbers(vec![1.5, 2.0]), None))
        );
        // Integers travel as the raw bytes of their width, exactly.
        let int64 = InferTensorContents {
            int64_contents: vec![i64::MAX, -3],
            ..Default::default()
        };
        let bytes = [i64::MAX.to_le_bytes(), (-3i64).to_le_bytes()].concat();
        assert_eq!(
            typed("ids", "INT64", int64),
            Ok((TensorData::Empty, Some(bytes)))
        );
        let e = typed("x", "BYTES", fp32).unwrap_err();
        assert!(
            e.contains("bytes_contents") && e.contains("fp32_contents"),
            "{e}"
        );
        let bytes = InferTensorContents {
            bytes_contents: vec![b"a".to_vec(), vec![0xff, 0]],
            ..Default::default()
        };
        let binary = [&[1, 0, 0, 0, b'a'][..], &[2, 0, 0, 0, 0xff, 0]].concat();
        assert_eq!(
            typed("c", "BYTES", bytes),
            Ok((TensorData::Empty, Some(binary)))
        );
    }
}
