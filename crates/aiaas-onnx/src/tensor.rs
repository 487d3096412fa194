//! The tensors a model takes and gives, in the platform's own types, and their conversion to and
//! from tract's.

use crate::OnnxError;
use half::f16;
use tract_onnx::pb::tensor_proto::DataType as OnnxType;
use tract_onnx::prelude::{DatumType, Tensor as TractTensor, tract_ndarray};

/// The datatypes served, by their V2 names. Other ONNX types are refused at import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataType {
    Fp32,
    Fp16,
    Int64,
    Int32,
    Bool,
    /// ONNX `STRING`: UTF-8 text, one per element.
    Bytes,
}

impl DataType {
    /// The V2 protocol's name (`FP32`, ...).
    pub fn v2_name(self) -> &'static str {
        match self {
            DataType::Fp32 => "FP32",
            DataType::Fp16 => "FP16",
            DataType::Int64 => "INT64",
            DataType::Int32 => "INT32",
            DataType::Bool => "BOOL",
            DataType::Bytes => "BYTES",
        }
    }

    /// The datatype of an ONNX `elem_type`, or its ONNX name when it is not served.
    pub(crate) fn of_onnx(elem_type: i32) -> Result<DataType, String> {
        match OnnxType::try_from(elem_type) {
            Ok(OnnxType::Float) => Ok(DataType::Fp32),
            Ok(OnnxType::Float16) => Ok(DataType::Fp16),
            Ok(OnnxType::Int64) => Ok(DataType::Int64),
            Ok(OnnxType::Int32) => Ok(DataType::Int32),
            Ok(OnnxType::Bool) => Ok(DataType::Bool),
            Ok(OnnxType::String) => Ok(DataType::Bytes),
            Ok(other) => Err(other.as_str_name().to_string()),
            Err(_) => Err(format!("type {elem_type}")),
        }
    }

    pub(crate) fn of_tract(datum: DatumType) -> Option<DataType> {
        Some(match datum {
            DatumType::F32 => DataType::Fp32,
            DatumType::F16 => DataType::Fp16,
            DatumType::I64 => DataType::Int64,
            DatumType::I32 => DataType::Int32,
            DatumType::Bool => DataType::Bool,
            DatumType::String => DataType::Bytes,
            _ => return None,
        })
    }
}

/// One input or output of a model: its name, datatype and shape, `-1` for an axis whose size
/// varies (a batch, a sequence length).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: String,
    pub datatype: DataType,
    pub shape: Vec<i64>,
}

impl TensorSpec {
    /// Whether axis 0 varies: requests can be batched along it.
    pub fn batched(&self) -> bool {
        self.shape.first() == Some(&-1)
    }

    /// `Ok` when `tensor` fits this spec: its datatype, rank and every fixed axis.
    pub(crate) fn check(&self, tensor: &Tensor) -> Result<(), OnnxError> {
        let bad = |why: String| Err(OnnxError::BadInput(format!("input {:?}: {why}", self.name)));
        if tensor.values.datatype() != self.datatype {
            return bad(format!(
                "the model takes {}, not {}",
                self.datatype.v2_name(),
                tensor.values.datatype().v2_name()
            ));
        }
        let fits = tensor.shape.len() == self.shape.len()
            && (self.shape.iter().zip(&tensor.shape)).all(|(&d, &n)| d < 0 || d as usize == n);
        if !fits {
            return bad(format!(
                "shape {:?} does not fit the model's {:?} (-1: any size)",
                tensor.shape, self.shape
            ));
        }
        let elements = tensor
            .shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d));
        if elements != Some(tensor.values.len()) {
            return bad(format!(
                "shape {:?} needs {} values; {} were sent",
                tensor.shape,
                elements.map_or("more than 2^64".to_string(), |n| n.to_string()),
                tensor.values.len()
            ));
        }
        Ok(())
    }
}

/// A tensor's values, flat and row-major.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    Fp32(Vec<f32>),
    Fp16(Vec<f16>),
    Int64(Vec<i64>),
    Int32(Vec<i32>),
    Bool(Vec<bool>),
    Bytes(Vec<String>),
}

impl Values {
    pub fn datatype(&self) -> DataType {
        match self {
            Values::Fp32(_) => DataType::Fp32,
            Values::Fp16(_) => DataType::Fp16,
            Values::Int64(_) => DataType::Int64,
            Values::Int32(_) => DataType::Int32,
            Values::Bool(_) => DataType::Bool,
            Values::Bytes(_) => DataType::Bytes,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Values::Fp32(v) => v.len(),
            Values::Fp16(v) => v.len(),
            Values::Int64(v) => v.len(),
            Values::Int32(v) => v.len(),
            Values::Bool(v) => v.len(),
            Values::Bytes(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A tensor: its shape and its values.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub values: Values,
}

impl Tensor {
    /// tract's tensor of the same values; the caller has checked the shape against the values.
    pub(crate) fn into_tract(self) -> Result<TractTensor, OnnxError> {
        fn array<T: tract_onnx::prelude::Datum>(
            shape: &[usize],
            values: Vec<T>,
        ) -> Result<TractTensor, OnnxError> {
            tract_ndarray::ArrayD::from_shape_vec(shape, values)
                .map(TractTensor::from)
                .map_err(|e| OnnxError::BadInput(format!("shape {shape:?}: {e}")))
        }
        let shape = &self.shape;
        match self.values {
            Values::Fp32(v) => array(shape, v),
            Values::Fp16(v) => array(shape, v),
            Values::Int64(v) => array(shape, v),
            Values::Int32(v) => array(shape, v),
            Values::Bool(v) => array(shape, v),
            Values::Bytes(v) => array(shape, v),
        }
    }

    /// Our tensor of tract's values, or why it cannot be one (a datatype that is not served).
    pub(crate) fn of_tract(tensor: &TractTensor) -> Result<Tensor, String> {
        fn flat<T: tract_onnx::prelude::Datum + Clone>(
            tensor: &TractTensor,
        ) -> Result<Vec<T>, String> {
            let view = tensor
                .to_plain_array_view::<T>()
                .map_err(|e| e.to_string())?;
            Ok(view.iter().cloned().collect())
        }
        let datum = tensor.datum_type();
        let values = match DataType::of_tract(datum) {
            Some(DataType::Fp32) => Values::Fp32(flat(tensor)?),
            Some(DataType::Fp16) => Values::Fp16(flat(tensor)?),
            Some(DataType::Int64) => Values::Int64(flat(tensor)?),
            Some(DataType::Int32) => Values::Int32(flat(tensor)?),
            Some(DataType::Bool) => Values::Bool(flat(tensor)?),
            Some(DataType::Bytes) => Values::Bytes(flat(tensor)?),
            None => return Err(format!("an output of type {datum:?}, which is not served")),
        };
        Ok(Tensor {
            shape: tensor.shape().to_vec(),
            values,
        })
    }
}
