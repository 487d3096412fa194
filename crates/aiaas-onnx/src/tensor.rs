//! The tensors a model takes and gives, in the platform's own types, and their conversion to and
//! from tract's.

use crate::OnnxError;
use aiaas_types::{DataType, TensorSpec};
use half::f16;
use std::ops::Range;
use tract_onnx::pb::tensor_proto::DataType as OnnxType;
use tract_onnx::prelude::{DatumType, Tensor as TractTensor, tract_ndarray};

/// `Values` of the same variant, made from each variant's vector by `$body`.
macro_rules! each {
    ($values:expr, $v:ident => $body:expr) => {
        match $values {
            Values::Fp32($v) => Values::Fp32($body),
            Values::Fp16($v) => Values::Fp16($body),
            Values::Int64($v) => Values::Int64($body),
            Values::Int32($v) => Values::Int32($body),
            Values::Bool($v) => Values::Bool($body),
            Values::Bytes($v) => Values::Bytes($body),
        }
    };
}

/// The datatype of an ONNX `elem_type`, or its ONNX name when it is not served.
pub(crate) fn datatype_of_onnx(elem_type: i32) -> Result<DataType, String> {
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

pub(crate) fn datatype_of_tract(datum: DatumType) -> Option<DataType> {
    Some(match datum {
        DatumType::F32 => DataType::Fp32,
        DatumType::F16 => DataType::Fp16,
        // tract's symbolic integers: what it makes of INT64 constants it folds (class ids
        // picked by ArgMax, as skl2onnx exports them); concrete when the model has run.
        DatumType::I64 | DatumType::TDim => DataType::Int64,
        DatumType::I32 => DataType::Int32,
        DatumType::Bool => DataType::Bool,
        DatumType::String => DataType::Bytes,
        _ => return None,
    })
}

/// `Ok` when `tensor` fits `spec`: its datatype, rank and every fixed axis.
pub(crate) fn check(spec: &TensorSpec, tensor: &Tensor) -> Result<(), OnnxError> {
    let bad = |why: String| Err(OnnxError::BadInput(format!("input {:?}: {why}", spec.name)));
    if tensor.values.datatype() != spec.datatype {
        return bad(format!(
            "the model takes {}, not {}",
            spec.datatype.v2_name(),
            tensor.values.datatype().v2_name()
        ));
    }
    let fits = tensor.shape.len() == spec.shape.len()
        && (spec.shape.iter().zip(&tensor.shape)).all(|(&d, &n)| d < 0 || d as usize == n);
    if !fits {
        return bad(format!(
            "shape {:?} does not fit the model's {:?} (-1: any size)",
            tensor.shape, spec.shape
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

    /// The values at flat positions `range`.
    fn slice(&self, range: Range<usize>) -> Values {
        each!(self, v => v[range].to_vec())
    }

    /// Appends `other`'s values; `false` (and nothing appended) when its datatype differs.
    fn append(&mut self, other: &Values) -> bool {
        match (self, other) {
            (Values::Fp32(a), Values::Fp32(b)) => a.extend_from_slice(b),
            (Values::Fp16(a), Values::Fp16(b)) => a.extend_from_slice(b),
            (Values::Int64(a), Values::Int64(b)) => a.extend_from_slice(b),
            (Values::Int32(a), Values::Int32(b)) => a.extend_from_slice(b),
            (Values::Bool(a), Values::Bool(b)) => a.extend_from_slice(b),
            (Values::Bytes(a), Values::Bytes(b)) => a.extend_from_slice(b),
            _ => return false,
        }
        true
    }
}

/// A tensor: its shape and its values.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub values: Values,
}

impl Tensor {
    /// The tensor in an ONNX `TensorProto` file (the format of ONNX's own test data).
    pub fn read_proto(bytes: &[u8]) -> Result<Tensor, OnnxError> {
        let proto = tract_onnx::tensor::proto_from_reader(bytes)
            .map_err(|e| OnnxError::NotOnnx(format!("{e:#}")))?;
        let resolver = tract_onnx::data_resolver::FopenDataResolver;
        let tensor = tract_onnx::tensor::load_tensor(&resolver, &proto, None)
            .map_err(|e| OnnxError::NotOnnx(format!("{e:#}")))?;
        Tensor::of_tract(&tensor).map_err(OnnxError::Unservable)
    }

    /// Rows `range` of axis 0 (a scalar has none: it is returned whole).
    pub fn rows(&self, range: Range<usize>) -> Tensor {
        let Some((_, rest)) = self.shape.split_first() else {
            return self.clone();
        };
        let width: usize = rest.iter().product();
        let mut shape = self.shape.clone();
        shape[0] = range.len();
        Tensor {
            values: self.values.slice(range.start * width..range.end * width),
            shape,
        }
    }

    /// The sum of row `row`'s values (along axis 0) and how many there are; `None` for text.
    pub fn row_sum(&self, row: usize) -> Option<(f64, usize)> {
        let width: usize = self.shape.get(1..).map_or(1, |rest| rest.iter().product());
        let range = row * width..(row + 1) * width;
        let sum = match &self.values {
            Values::Fp32(v) => v[range].iter().map(|&x| f64::from(x)).sum(),
            Values::Fp16(v) => v[range].iter().map(|&x| f64::from(f32::from(x))).sum(),
            Values::Int64(v) => v[range].iter().map(|&x| x as f64).sum(),
            Values::Int32(v) => v[range].iter().map(|&x| f64::from(x)).sum(),
            Values::Bool(v) => v[range].iter().filter(|&&x| x).count() as f64,
            Values::Bytes(_) => return None,
        };
        Some((sum, width))
    }

    /// `parts` joined along axis 0, or `None` when they differ in datatype or past axis 0
    /// (or there are none, or one is a scalar).
    pub fn concat(parts: &[&Tensor]) -> Option<Tensor> {
        let (first, others) = parts.split_first()?;
        let rest = first.shape.get(1..)?;
        let mut joined = (*first).clone();
        for part in others {
            if part.shape.get(1..) != Some(rest) || !joined.values.append(&part.values) {
                return None;
            }
            joined.shape[0] += part.shape[0];
        }
        Some(joined)
    }

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
        let integers;
        let tensor = if datum == DatumType::TDim {
            integers = (tensor.cast_to::<i64>())
                .map_err(|e| format!("an output of symbolic integers: {e}"))?;
            &*integers
        } else {
            tensor
        };
        let values = match datatype_of_tract(datum) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(shape: &[usize], values: &[i64]) -> Tensor {
        Tensor {
            shape: shape.to_vec(),
            values: Values::Int64(values.to_vec()),
        }
    }

    #[test]
    fn tensors_are_joined_and_split_along_their_first_axis() {
        let a = ints(&[1, 3], &[1, 2, 3]);
        let b = ints(&[2, 3], &[4, 5, 6, 7, 8, 9]);
        let joined = Tensor::concat(&[&a, &b]).unwrap();
        assert_eq!(joined, ints(&[3, 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9]));
        assert_eq!(joined.rows(0..1), a);
        assert_eq!(joined.rows(1..3), b);
        // Other widths, other datatypes and scalars cannot be joined.
        assert_eq!(Tensor::concat(&[&a, &ints(&[1, 2], &[1, 2])]), None);
        let floats = Tensor {
            shape: vec![1, 3],
            values: Values::Fp32(vec![0.0; 3]),
        };
        assert_eq!(Tensor::concat(&[&a, &floats]), None);
        assert_eq!(Tensor::concat(&[&ints(&[], &[1])]), None);
    }
}
