//! What the OpenAPI document says beyond the handlers' annotations, in one place, so that it
//! states exactly what the server accepts and answers: the bearer key and which operations are
//! public (from the access rules), the pattern every name in a path follows, and the error
//! answers every operation can give (a malformed request, no key or the wrong one, a rate
//! limit, a body of the wrong type or size, a missing resource).

use crate::auth::{Access, access_rule};
use aiaas_types::{ALIAS_PATTERN, MAX_NAME_LEN, NAME_PATTERN, TAG_KEY_PATTERN};
use axum::http::Method;
use serde_json::{Value, json};

/// Makes `doc` exact; see the module documentation.
pub fn tighten(doc: &mut Value) {
    doc["components"]["securitySchemes"] = json!({"api_key": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (`aiaas_` and 64 hex digits); the first admin key is in \
                        <data-dir>/admin.key",
    }});
    doc["security"] = json!([{"api_key": []}]);
    // An erasure names at least one condition (a null is none).
    if let Some(erasure) = doc.pointer_mut("/components/schemas/Erasure") {
        erasure["anyOf"] = json!([
            {"required": ["ids"], "properties": {"ids": {"type": "array"}}},
            {"required": ["from_ms"], "properties": {"from_ms": {"type": "integer"}}},
            {"required": ["to_ms"], "properties": {"to_ms": {"type": "integer"}}},
        ]);
    }
    // A logging policy is one of its variants, with nothing else.
    if let Some(variants) = doc
        .pointer_mut("/components/schemas/LoggingPolicy/oneOf")
        .and_then(Value::as_array_mut)
    {
        for variant in variants {
            variant["additionalProperties"] = json!(false);
        }
    }
    // A label is a class (a string, or a number naming one) or a regression value.
    if let Some(label) = doc.pointer_mut("/components/schemas/Feedback/properties/label") {
        *label = json!({"oneOf": [{"type": "string"}, {"type": "number"}],
                        "description": "The true class label, or the true value for regression"});
    }
    let feedback = "/paths/~1api~1v1~1models~1{name}~1feedback/post/requestBody/content/application~1json/schema";
    if let Some(labels) = doc.pointer_mut(feedback) {
        labels["minItems"] = json!(1);
        labels["maxItems"] = json!(aiaas_service::MAX_FEEDBACK);
    }
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let Ok(method) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            tighten_operation(&method, path, op);
        }
    }
}

fn tighten_operation(method: &Method, path: &str, op: &mut Value) {
    let public = access_rule(method, path) == Some(Access::Public);
    if public {
        op["security"] = json!([]);
    }
    let mut named = false;
    // `get_mut`, not indexing: indexing a missing key would add it as null.
    if let Some(parameters) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        for p in parameters.iter_mut().filter(|p| p["in"] == "path") {
            named = true;
            let name = p["name"].as_str().unwrap_or_default().to_string();
            // Versions are deleted by number only.
            let by_number = method == Method::DELETE && path.ends_with("/versions/{version}");
            p["schema"] = path_schema(&name, by_number);
        }
    }
    let body = op.get("requestBody").is_some();
    let mut errors = vec![("400", "Malformed request: an invalid name, query or body")];
    if !public {
        errors.extend([
            (
                "401",
                "No API key, or one that is unknown, revoked or expired",
            ),
            (
                "403",
                "The key's role or models do not allow the call, or it came from another site",
            ),
            (
                "429",
                "The key is over its rate (see Retry-After), or too much is in progress",
            ),
        ]);
    }
    if body {
        errors.extend([
            (
                "422",
                "The body does not fit its schema, or cannot be used as it is",
            ),
            ("413", "The body is larger than this endpoint takes"),
            (
                "415",
                "The body is not of the content type this endpoint takes",
            ),
        ]);
    }
    if named {
        errors.push(("404", "A named thing does not exist"));
    }
    for (status, description) in errors {
        let responses = &mut op["responses"];
        if responses.get(status).is_none() {
            responses[status] = json!({
                "description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
            });
        }
    }
}

/// The schema of a path parameter, by its name.
fn path_schema(name: &str, by_number: bool) -> Value {
    let named = |pattern: &str| json!({"type": "string", "minLength": 1, "maxLength": MAX_NAME_LEN, "pattern": pattern});
    let number = json!({"type": "string", "pattern": "^[1-9][0-9]{0,8}$"});
    match name {
        "version" if by_number => number,
        // A version number, or an alias.
        "version" => json!({"anyOf": [number, named(ALIAS_PATTERN)]}),
        "alias" => named(ALIAS_PATTERN),
        "key" => json!({"type": "string", "pattern": TAG_KEY_PATTERN}),
        _ => named(NAME_PATTERN),
    }
}
