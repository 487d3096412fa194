//! JSON request bodies, with numbers read as JSON Schema reads them: `150.0` is the integer
//! 150, so a client (or a generator of test data) that writes integers with a decimal point is
//! not refused where the document says "integer". Malformed JSON is 400, a body that does not
//! fit its type 422, a body without `Content-Type: application/json` 415. And file uploads,
//! sent as they are or as a form (`curl -F file=@iris.csv`).

use crate::error::{ApiError, ErrorCode};
use axum::Json;
use axum::body::Bytes;
use axum::extract::multipart::MultipartError;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A JSON object body of type `T`; see the module documentation. (serde would also read a
/// struct from an array of its fields in order; an object body must be an object.)
pub struct JsonBody<T>(pub T);

/// A JSON array body of `T`s.
pub struct JsonList<T>(pub Vec<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        read(request, state, "an object", Value::is_object)
            .await
            .map(JsonBody)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonList<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        read(request, state, "an array", Value::is_array)
            .await
            .map(JsonList)
    }
}

/// An uploaded file: the body itself, or in a `multipart/form-data` body, the first part that
/// carries a file name (or the only part).
pub struct FileBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for FileBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let multipart = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|c| c.to_str().ok())
            .is_some_and(|c| c.trim_start().starts_with("multipart/form-data"));
        if !multipart {
            return Ok(FileBody(Bytes::from_request(request, state).await?));
        }
        let form_error = |status, e: String| {
            let code = ErrorCode::of_rejection(status);
            let message = if code == ErrorCode::PayloadTooLarge {
                "the request body is larger than this endpoint accepts".to_string()
            } else {
                format!("the form upload: {e}")
            };
            ApiError::new(code, message)
        };
        let bad = |e: String| form_error(StatusCode::BAD_REQUEST, e);
        let mut form = Multipart::from_request(request, state)
            .await
            .map_err(|e| form_error(e.status(), e.body_text()))?;
        let mut parts = Vec::new();
        let failed = |e: MultipartError| form_error(e.status(), e.body_text());
        while let Some(field) = form.next_field().await.map_err(failed)? {
            let is_file = field.file_name().is_some();
            let name = field.name().unwrap_or("").to_string();
            let bytes = field.bytes().await.map_err(failed)?;
            if is_file {
                return Ok(FileBody(bytes));
            }
            parts.push((name, bytes));
        }
        match parts.len() {
            1 => Ok(FileBody(parts.remove(0).1)),
            0 => Err(bad(
                "the form has no parts; send the file as `-F file=@data.csv`".into(),
            )),
            _ => Err(bad(format!(
                "the form has {} parts and none is a file ({}); send the file as `-F file=@data.csv`",
                parts.len(),
                parts
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

/// The body as JSON of the `shape` that `fits` checks, then as a `T`.
async fn read<S: Send + Sync, T: DeserializeOwned>(
    request: Request,
    state: &S,
    shape: &str,
    fits: fn(&Value) -> bool,
) -> Result<T, ApiError> {
    let Json(mut value) = Json::<Value>::from_request(request, state).await?;
    let unfit = |why: String| {
        ApiError::new(
            ErrorCode::InvalidInput,
            format!("the JSON body does not fit: {why}"),
        )
    };
    if !fits(&value) {
        return Err(unfit(format!("expected {shape}")));
    }
    integers_as_integers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|e| unfit(e.to_string()))
}

/// Largest magnitude at which every integer is exactly a float.
const EXACT: f64 = 9_007_199_254_740_992.0;

/// Rewrites every number with no fractional part as an integer.
fn integers_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() == 0.0 && f.abs() <= EXACT {
                *value = if f < 0.0 {
                    Value::from(f as i64)
                } else {
                    Value::from(f as u64)
                };
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integers_as_integers),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_numbers_become_integers_and_others_stay() {
        let mut v = json!({"a": 150.0, "b": [-3.0, 0.5], "c": 1e300, "d": "7.0"});
        integers_as_integers(&mut v);
        assert_eq!(v, json!({"a": 150, "b": [-3, 0.5], "c": 1e300, "d": "7.0"}));
        assert!(v["a"].is_u64() && v["b"][0].is_i64());
    }
}
