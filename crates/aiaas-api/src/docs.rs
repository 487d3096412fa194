//! The OpenAPI document of the management API (generated from the handlers' annotations) and
//! `/docs`, a self-contained page that renders it: no CDN, so it works on machines without
//! internet access.

use crate::error::{ErrorBody, ErrorCode};
use crate::management::{self as m, AliasBody, TagBody};
use crate::{audit, keys, monitoring, privacy, serving, sweeps};
use aiaas_service::JobEvent;
use axum::Json;
use axum::response::Html;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "aiaas management API",
        description = "Datasets, training jobs and the model registry. Errors are `{\"error\": \"...\"}`."
    ),
    paths(
        m::health,
        m::upload_dataset,
        m::list_datasets,
        m::show_dataset,
        m::delete_dataset,
        m::submit_job,
        m::list_jobs,
        m::show_job,
        m::cancel_job,
        m::job_events,
        sweeps::submit_sweep,
        sweeps::list_sweeps,
        sweeps::show_sweep,
        sweeps::cancel_sweep,
        m::list_models,
        m::show_model,
        m::show_version,
        m::show_manifest,
        m::show_profile,
        m::set_alias,
        m::delete_alias,
        m::list_tags,
        m::set_tag,
        m::delete_tag,
        m::delete_version,
        m::export_version,
        m::import_version,
        monitoring::feedback,
        monitoring::quality,
        monitoring::drift,
        monitoring::set_policy,
        monitoring::show_policy,
        monitoring::delete_policy,
        monitoring::events,
        monitoring::rollback,
        keys::create_key,
        keys::list_keys,
        keys::revoke_key,
        keys::session,
        audit::read,
        privacy::set_logging,
        privacy::show_logging,
        privacy::erase_predictions,
        serving::loaded,
    ),
    // The event stream's items are not a response body, so name their schema here.
    components(schemas(ErrorBody, ErrorCode, AliasBody, TagBody, JobEvent))
)]
pub struct ApiDoc;

/// The document as served: the annotations' document, made exact by [`crate::contract`].
pub fn document() -> &'static serde_json::Value {
    static DOCUMENT: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
        crate::contract::tighten(&mut doc);
        doc
    })
}

pub async fn openapi_json() -> Json<&'static serde_json::Value> {
    Json(document())
}

pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>aiaas API</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h2{margin-top:2rem;border-bottom:1px solid #ddd}
.op{margin:.8rem 0;padding:.6rem .8rem;border:1px solid #e4e4e4;border-radius:6px}
.m{display:inline-block;min-width:4.2rem;font-weight:600;text-transform:uppercase}
.get{color:#1a7f37}.post{color:#0969da}.put{color:#9a6700}.delete{color:#cf222e}
code{background:#f4f4f4;padding:0 .25rem;border-radius:3px}
ul{margin:.3rem 0}
</style></head><body>
<h1 id="title">aiaas API</h1><p id="about"></p>
<p>Machine-readable: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a></p>
<div id="ops"></div>
<script>
const esc = s => String(s ?? "").replace(/[&<>]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;"}[c]));
fetch("/api/v1/openapi.json").then(r => r.json()).then(doc => {
  document.getElementById("title").textContent = doc.info.title;
  document.getElementById("about").textContent = doc.info.description || "";
  const byTag = {};
  for (const [path, item] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(item))
      (byTag[(op.tags || ["other"])[0]] ||= []).push({path, method, op});
  let html = "";
  for (const [tag, ops] of Object.entries(byTag)) {
    html += `<h2>${esc(tag)}</h2>`;
    for (const {path, method, op} of ops) {
      html += `<div class="op"><span class="m ${method}">${method}</span> <code>${esc(path)}</code>`;
      if (op.summary || op.description) html += `<div>${esc(op.summary || op.description)}</div>`;
      const params = op.parameters || [];
      if (params.length) html += "<ul>" + params.map(p =>
        `<li><code>${esc(p.name)}</code> (${esc(p.in)}${p.required ? ", required" : ""}) ${esc(p.description)}</li>`).join("") + "</ul>";
      if (op.requestBody) html += `<div>Body: ${esc(Object.keys(op.requestBody.content || {}).join(", "))} ${esc(op.requestBody.description)}</div>`;
      html += "<ul>" + Object.entries(op.responses || {}).map(([code, r]) =>
        `<li><b>${esc(code)}</b> ${esc(r.description)}</li>`).join("") + "</ul></div>";
    }
  }
  document.getElementById("ops").innerHTML = html;
});
</script></body></html>
"#;
