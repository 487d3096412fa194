//! Who may call what. Every route has a rule in [`RULES`]: public, or the roles that may call
//! it. A call presents its key as `Authorization: Bearer <key>`; without a valid one it is
//! answered 401, with a key whose role does not allow the call 403. A route without a rule is
//! refused to everyone (deny by default), so a new route cannot be open by mistake.
//!
//! The check runs as a route layer, after routing, so it sees the route's template
//! ([`MatchedPath`]) and its `{name}` (a predictor key may be limited to some models).

use crate::error::{ApiError, ErrorCode};
use crate::inference::V2Error;
use crate::rate::RateLimits;
use crate::{AppState, audit, guard};
use aiaas_service::KeyRecord;
use aiaas_types::{ModelName, Role};
use axum::RequestExt;
use axum::extract::{ConnectInfo, MatchedPath, RawPathParams, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

/// Whether calls need keys, whether `/metrics` does, and how fast a key may call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AuthConfig {
    /// Check keys. Off only behind a gateway that authenticates (and for benchmarks).
    pub enabled: bool,
    /// Let anyone scrape `/metrics` (a Prometheus without a key).
    pub public_metrics: bool,
    /// Requests per second of a key without its own `rate_limit`.
    pub rate_limit: f64,
}

/// Requests per second a key may make unless it says otherwise.
pub const DEFAULT_RATE_LIMIT: f64 = 10_000.0;

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            enabled: true,
            public_metrics: false,
            rate_limit: DEFAULT_RATE_LIMIT,
        }
    }
}

/// What the gate holds: the handlers' state and the keys' rate buckets.
#[derive(Clone)]
pub struct Gate {
    pub state: AppState,
    pub rates: Arc<RateLimits>,
}

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a key: health checks and the API's description.
    Public,
    /// Reading the platform's state: viewer, operator, admin.
    Read,
    /// V2 server and model metadata and readiness: every role (a scoped predictor for its
    /// models only).
    Metadata,
    /// Inference and feedback: predictor (scoped), operator, admin.
    Predict,
    /// Changing datasets, jobs, the registry and the serving repository: operator, admin.
    Operate,
    /// API keys and the audit log: admin.
    Administer,
}

impl Access {
    /// Whether a key of `role` may make a call that needs this.
    pub fn allows(self, role: Role) -> bool {
        use Role::{Admin, Operator, Predictor, Viewer};
        match self {
            Access::Public | Access::Metadata => true,
            Access::Read => matches!(role, Admin | Operator | Viewer),
            Access::Predict => matches!(role, Admin | Operator | Predictor),
            Access::Operate => matches!(role, Admin | Operator),
            Access::Administer => role == Admin,
        }
    }
}

/// Every route (method and template) with what it needs. `HEAD` follows `GET`.
pub const RULES: &[(&str, &str, Access)] = {
    use Access::{Administer, Metadata, Operate, Predict, Public, Read};
    &[
        ("GET", "/", Public),
        ("GET", "/ui/app.js", Public),
        ("GET", "/ui/app.css", Public),
        ("GET", "/api/v1/health", Public),
        ("GET", "/api/v1/session", Metadata),
        ("GET", "/api/v1/serving", Read),
        ("GET", "/api/v1/openapi.json", Public),
        ("GET", "/docs", Public),
        ("GET", "/v2/health/live", Public),
        ("GET", "/v2/health/ready", Public),
        ("GET", "/metrics", Read),
        ("POST", "/api/v1/datasets", Operate),
        ("GET", "/api/v1/datasets", Read),
        ("GET", "/api/v1/datasets/{name}", Read),
        ("DELETE", "/api/v1/datasets/{name}", Operate),
        ("POST", "/api/v1/jobs", Operate),
        ("GET", "/api/v1/jobs", Read),
        ("GET", "/api/v1/jobs/{id}", Read),
        ("POST", "/api/v1/jobs/{id}/cancel", Operate),
        ("GET", "/api/v1/jobs/{id}/events", Read),
        ("POST", "/api/v1/sweeps", Operate),
        ("GET", "/api/v1/sweeps", Read),
        ("GET", "/api/v1/sweeps/{id}", Read),
        ("POST", "/api/v1/sweeps/{id}/cancel", Operate),
        ("GET", "/api/v1/models", Read),
        ("GET", "/api/v1/models/{name}", Read),
        ("POST", "/api/v1/models/{name}/versions", Operate),
        ("GET", "/api/v1/models/{name}/versions/{version}", Read),
        (
            "GET",
            "/api/v1/models/{name}/versions/{version}/manifest",
            Read,
        ),
        (
            "GET",
            "/api/v1/models/{name}/versions/{version}/profile",
            Read,
        ),
        (
            "DELETE",
            "/api/v1/models/{name}/versions/{version}",
            Operate,
        ),
        // The weights themselves: for those who deploy, not for every reader.
        (
            "GET",
            "/api/v1/models/{name}/versions/{version}/archive",
            Operate,
        ),
        ("GET", "/api/v1/models/{name}/versions/{version}/tags", Read),
        (
            "PUT",
            "/api/v1/models/{name}/versions/{version}/tags/{key}",
            Operate,
        ),
        (
            "DELETE",
            "/api/v1/models/{name}/versions/{version}/tags/{key}",
            Operate,
        ),
        ("PUT", "/api/v1/models/{name}/aliases/{alias}", Operate),
        ("DELETE", "/api/v1/models/{name}/aliases/{alias}", Operate),
        ("POST", "/api/v1/models/{name}/feedback", Predict),
        ("GET", "/api/v1/models/{name}/quality", Read),
        ("GET", "/api/v1/models/{name}/drift", Read),
        ("PUT", "/api/v1/models/{name}/policy", Operate),
        ("GET", "/api/v1/models/{name}/policy", Read),
        ("DELETE", "/api/v1/models/{name}/policy", Operate),
        ("GET", "/api/v1/models/{name}/events", Read),
        ("PUT", "/api/v1/models/{name}/logging", Operate),
        ("GET", "/api/v1/models/{name}/logging", Read),
        ("DELETE", "/api/v1/models/{name}/predictions", Operate),
        ("POST", "/api/v1/models/{name}/rollback", Operate),
        ("POST", "/api/v1/keys", Administer),
        ("GET", "/api/v1/keys", Administer),
        ("DELETE", "/api/v1/keys/{id}", Administer),
        ("GET", "/api/v1/audit", Administer),
        ("GET", "/v2", Metadata),
        ("GET", "/v2/models/{name}", Metadata),
        ("GET", "/v2/models/{name}/ready", Metadata),
        ("POST", "/v2/models/{name}/infer", Predict),
        ("GET", "/v2/models/{name}/versions/{version}", Metadata),
        (
            "GET",
            "/v2/models/{name}/versions/{version}/ready",
            Metadata,
        ),
        (
            "POST",
            "/v2/models/{name}/versions/{version}/infer",
            Predict,
        ),
        ("POST", "/v2/repository/index", Read),
        ("POST", "/v2/repository/models/{name}/load", Operate),
        ("POST", "/v2/repository/models/{name}/unload", Operate),
    ]
};

/// What `method` on the route `template` needs; `None` for a route without a rule.
pub fn access_rule(method: &Method, template: &str) -> Option<Access> {
    static BY_ROUTE: OnceLock<HashMap<(&str, &str), Access>> = OnceLock::new();
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    BY_ROUTE
        .get_or_init(|| RULES.iter().map(|&(m, t, a)| ((m, t), a)).collect())
        .get(&(method, template))
        .copied()
}

/// The gate every routed call passes: its key and role ([`check`]), then, for a call that
/// changes something, its origin ([`guard`]); the calls that change something and the refused
/// ones are recorded in the audit log.
pub async fn authorize(State(gate): State<Gate>, mut request: Request, next: Next) -> Response {
    let state = &gate.state;
    // A matched path is shared text: cloning it allocates nothing.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let template = matched.as_ref().map_or("", MatchedPath::as_str);
    let (method, uri) = (request.method().clone(), request.uri().clone());
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let (key, refused) = match check(&gate, template, &mut request).await {
        Ok(key) => {
            let foreign = guard::check(&method, request.headers()).err();
            (key, foreign.map(Refusal::from))
        }
        Err(refusal) => (refusal.key.clone(), Some(refusal)),
    };
    let gated = refused.is_some();
    let response = match refused {
        None => {
            request
                .extensions_mut()
                .insert(crate::keys::Caller(key.clone()));
            next.run(request).await
        }
        Some(refused) => refused.into_response(uri.path().starts_with("/v2")),
    };
    if gated || audit::changes(&method, template) {
        let route = template.to_owned();
        let target = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
        let status = response.status().as_u16();
        let entry = audit::entry(
            key.as_deref(),
            method.as_str(),
            route,
            target,
            status,
            client,
        );
        state.platform.record_audit(&entry).await;
    }
    response
}

/// Why the gate refused a call, and the caller's key when it is known.
pub(crate) struct Refusal {
    pub key: Option<Arc<KeyRecord>>,
    pub error: ApiError,
    /// For a call over its key's rate: whole seconds until a token is there.
    pub retry_after_s: Option<u64>,
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Refusal {
        Refusal {
            key: None,
            error,
            retry_after_s: None,
        }
    }
}

impl Refusal {
    fn of(key: Arc<KeyRecord>, error: ApiError) -> Refusal {
        Refusal {
            key: Some(key),
            ..Refusal::from(error)
        }
    }

    /// The answer, as its route's clients read errors (Triton's shape under `/v2`).
    fn into_response(self, v2: bool) -> Response {
        let unauthenticated = self.error.code == ErrorCode::Unauthenticated;
        let mut response = if v2 {
            V2Error::from(self.error).into_response()
        } else {
            self.error.into_response()
        };
        let headers = response.headers_mut();
        if unauthenticated {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after_s {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The key that may make this call (none for public routes, or with auth off).
async fn check(
    gate: &Gate,
    template: &str,
    request: &mut Request,
) -> Result<Option<Arc<KeyRecord>>, Refusal> {
    let Some(mut needs) = access_rule(request.method(), template) else {
        tracing::error!(method = %request.method(), route = template, "a route without an access rule");
        return Err(Refusal::from(ApiError::new(
            ErrorCode::Forbidden,
            "this endpoint has no access rule, so nobody may call it",
        )));
    };
    if template == "/metrics" && gate.state.auth.public_metrics {
        needs = Access::Public;
    }
    // The model is read from the path only where a key will be checked against it.
    let model = if gate.needs_key(needs) {
        model_of(request).await
    } else {
        None
    };
    let authorization = request.headers().get(header::AUTHORIZATION);
    let call = Call {
        method: request.method().as_str(),
        route: template,
        needs,
        model: model.as_deref(),
    };
    gate.admit(&call, authorization.map(HeaderValue::as_bytes))
}

/// A call as the gate weighs it, whatever its transport.
pub(crate) struct Call<'a> {
    pub method: &'a str,
    /// The route's template (REST) or the RPC's path (gRPC).
    pub route: &'a str,
    pub needs: Access,
    /// The model the call names, if any (a key may be limited to some models).
    pub model: Option<&'a str>,
}

impl Gate {
    /// The gate over `state`, with a rate bucket per key.
    pub fn new(state: AppState) -> Gate {
        Gate {
            rates: Arc::new(RateLimits::new(state.auth.rate_limit)),
            state,
        }
    }

    /// Whether a call that needs `needs` must present a key.
    pub(crate) fn needs_key(&self, needs: Access) -> bool {
        needs != Access::Public && self.state.auth.enabled
    }

    /// The key that may make `call`, from the value of its `authorization` header or metadata
    /// (none for public calls, or with auth off): its role, its models and its rate checked.
    pub(crate) fn admit(
        &self,
        call: &Call<'_>,
        authorization: Option<&[u8]>,
    ) -> Result<Option<Arc<KeyRecord>>, Refusal> {
        let state = &self.state;
        if !self.needs_key(call.needs) {
            return Ok(None);
        }
        let secret = bearer(authorization)?;
        let key = state
            .platform
            .authenticate(secret)
            .map_err(|e| Refusal::from(ApiError::from(e)))?;
        if !call.needs.allows(key.role) {
            let message = format!(
                "API key {} ({}) has the role {}, which may not {} {}",
                key.id, key.name, key.role, call.method, call.route
            );
            return Err(Refusal::of(
                key,
                ApiError::new(ErrorCode::Forbidden, message),
            ));
        }
        if let Some(models) = &key.models
            && let Some(model) = call.model
            && !models.iter().any(|m| m.as_str() == model)
        {
            let message = format!(
                "API key {} ({}) may only use the models {}",
                key.id,
                key.name,
                models
                    .iter()
                    .map(ModelName::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            return Err(Refusal::of(
                key,
                ApiError::new(ErrorCode::Forbidden, message),
            ));
        }
        if let Err(wait) = self.rates.take(&key) {
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            let message = format!(
                "API key {} ({}) is over its rate of {} requests per second; retry in {seconds} s",
                key.id,
                key.name,
                key.rate_limit.unwrap_or(state.auth.rate_limit)
            );
            return Err(Refusal {
                retry_after_s: Some(seconds),
                ..Refusal::of(key, ApiError::new(ErrorCode::RateLimited, message))
            });
        }
        Ok(Some(key))
    }
}

/// The key of an `Authorization: Bearer <key>` header (its value, if there is one).
fn bearer(authorization: Option<&[u8]>) -> Result<&str, ApiError> {
    let missing = || {
        ApiError::new(
            ErrorCode::Unauthenticated,
            "this call needs an API key: send `Authorization: Bearer <key>` (the first admin key \
             is in the server's <data-dir>/admin.key; the CLI takes --api-key or AIAAS_API_KEY)",
        )
    };
    let value = std::str::from_utf8(authorization.ok_or_else(missing)?).map_err(|_| missing())?;
    match value.split_once(' ') {
        Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") => Ok(key.trim()),
        _ => Err(missing()),
    }
}

/// The model a call names in its path (`{name}`), if any.
async fn model_of(request: &mut Request) -> Option<String> {
    let params: RawPathParams = request.extract_parts().await.ok()?;
    params
        .iter()
        .find(|(name, _)| *name == "name")
        .map(|(_, value)| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_reaches_what_its_description_says() {
        use Access::*;
        let allowed = |role| {
            [Public, Read, Metadata, Predict, Operate, Administer]
                .into_iter()
                .filter(|a| a.allows(role))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            allowed(Role::Admin),
            [Public, Read, Metadata, Predict, Operate, Administer]
        );
        assert_eq!(
            allowed(Role::Operator),
            [Public, Read, Metadata, Predict, Operate]
        );
        assert_eq!(allowed(Role::Predictor), [Public, Metadata, Predict]);
        assert_eq!(allowed(Role::Viewer), [Public, Read, Metadata]);
    }

    #[test]
    fn head_follows_get_and_unknown_routes_have_no_rule() {
        assert_eq!(
            access_rule(&Method::HEAD, "/api/v1/models"),
            Some(Access::Read)
        );
        assert_eq!(access_rule(&Method::PATCH, "/api/v1/models"), None);
        assert_eq!(access_rule(&Method::GET, "/api/v1/secret"), None);
    }

    #[test]
    fn a_bearer_key_is_read_from_its_header() {
        assert!(bearer(None).is_err());
        assert!(bearer(Some(b"Basic abc")).is_err());
        assert!(bearer(Some(b"\xff")).is_err());
        assert_eq!(bearer(Some(b"bearer  aiaas_x ")).unwrap(), "aiaas_x");
    }
}
