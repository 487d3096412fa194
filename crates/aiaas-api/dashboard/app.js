// The aiaas dashboard: plain JavaScript over the same /api/v1 calls as the CLI. The API key is
// kept in sessionStorage (this tab only) and sent as the Authorization header, never a cookie.
// Every text from the server is set as text (never parsed as HTML).
"use strict";

const KEY = "aiaas.key";
const main = () => document.getElementById("main");

/** An element: `el("td", {class: "num"}, "3")`; children are nodes or text. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** `headers` with the tab's key, if there is one. */
function withKey(headers) {
  const key = sessionStorage.getItem(KEY);
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

/** A call to the server with the tab's key; JSON in (or `body` as it is, of content `type`) and
 * out; `{error}` bodies become errors. */
async function api(path, { method = "GET", body, type } = {}) {
  const headers = withKey({ Accept: "application/json" });
  if (body !== undefined) headers["Content-Type"] = type || "application/json";
  const payload = body === undefined || type ? body : JSON.stringify(body);
  const res = await fetch(path, { method, headers, body: payload });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new ApiError(res.status, (data && data.error) || res.statusText);
  return data;
}

/** Who is signed in (`{auth, role, key}`, from /api/v1/session). */
let session = null;
const ROLES = { operate: ["admin", "operator"], predict: ["admin", "operator", "predictor"] };
const can = (action) => !!session && (ROLES[action] || ["admin"]).includes(session.role);

/** When the page being shown was asked for (its route's start). */
let asked = 0;

function show(title, ...content) {
  const m = main();
  m.replaceChildren(el("h1", {}, title), ...content);
  document.title = `${title} · aiaas`;
  // Focus moves to the new page for keyboards and screen readers; the view starts at the top.
  m.focus({ preventScroll: true });
  window.scrollTo(0, 0);
  // How long the page took, from asking for it to its first frame drawn (its API calls, DOM,
  // style and layout), as a User Timing measure `aiaas:page` (the browser test reads it).
  const start = asked;
  requestAnimationFrame(() => setTimeout(() =>
    performance.measure("aiaas:page", { start, end: performance.now(), detail: title })));
}

function failure(error) {
  if (error instanceof ApiError && error.status === 401) return signIn(error.message);
  show("Something went wrong", el("p", { class: "error", role: "alert" }, error.message));
}

function signIn(why) {
  const input = el("input", { id: "key", type: "password", autocomplete: "off", required: true });
  const form = el("form", { class: "signin", onsubmit: async (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, input.value.trim());
    await route();
  } },
    el("label", { for: "key" }, "API key"), input,
    el("button", { type: "submit" }, "Sign in"),
    el("p", { class: "empty" }, "The key stays in this tab only; the first admin key is in the server's <data-dir>/admin.key."));
  show("Sign in", why ? el("p", { class: "error", role: "alert" }, why) : null, form);
  input.focus();
}

const time = (ms) => ms == null ? "–" : new Date(ms).toISOString().slice(0, 16).replace("T", " ");
const size = (bytes) => bytes == null ? "–" : bytes < 1 << 20 ? `${(bytes / 1024).toFixed(1)} KiB`
  : bytes < 1 << 30 ? `${(bytes / (1 << 20)).toFixed(1)} MiB` : `${(bytes / (1 << 30)).toFixed(1)} GiB`;
const fixed = (x, digits = 3) => typeof x === "number" ? x.toFixed(digits) : "–";

/** The headline figure of a version's metrics: test accuracy, or R² for a regression. */
function headline(metrics) {
  const test = metrics && (metrics.test || metrics.val || metrics.train);
  if (!test) return "–";
  return "accuracy" in test ? `accuracy ${fixed(test.accuracy)}` : `R² ${fixed(test.r2)}`;
}

function table(head, rows, empty) {
  if (!rows.length) return el("p", { class: "empty" }, empty);
  return el("table", {},
    el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows));
}

/** Loaded versions the overview lists, the largest. */
const LOADED_SHOWN = 20;

// Overview: models with their champion's headline, jobs, the server and what it holds for
// serving, in four calls made at once.
async function overview() {
  const [models, jobs, server, serving] = await Promise.all([
    api("/api/v1/models"),
    api("/api/v1/jobs"),
    api("/v2"),
    api("/api/v1/serving"),
  ]);
  const modelRows = models.map((m) => el("tr", {},
    el("td", {}, el("a", { href: `#/models/${encodeURIComponent(m.name)}` }, m.name)),
    el("td", {}, m.task),
    el("td", {}, m.champion_metrics ? headline(m.champion_metrics) : "no champion"),
    el("td", { class: "num" }, m.version_count),
    el("td", {}, Object.entries(m.aliases).map(([alias, v]) =>
      el("span", { class: `pill ${alias}` }, `${alias} → v${v}`))),
    el("td", {}, time(m.created_at_ms))));
  const jobRows = jobs.slice(0, 20).map((j) => el("tr", {},
    el("td", {}, el("a", { href: `#/jobs/${encodeURIComponent(j.id)}` }, j.id)), el("td", {}, j.kind), el("td", {}, j.model),
    el("td", { class: `state-${j.state}` }, j.state), el("td", {}, time(j.created_at_ms))));
  // The largest first: what holds the memory budget; a long tail is counted, not listed.
  const largest = serving.loaded.slice().sort((a, b) => b.memory_bytes - a.memory_bytes).slice(0, LOADED_SHOWN);
  const loadedRows = largest.map((l) => el("tr", {},
    el("td", {}, el("a", { href: `#/models/${encodeURIComponent(l.model)}/${l.version}` }, `${l.model} v${l.version}`)),
    el("td", {}, l.runtime), el("td", { class: "num" }, size(l.memory_bytes)), el("td", { class: "num" }, l.max_batch)));
  show("Overview",
    el("section", { class: "card", "aria-labelledby": "h-health" },
      el("h2", { id: "h-health" }, "Server"),
      el("p", {}, `${server.name} ${server.version}: ready`)),
    el("section", { class: "card", "aria-labelledby": "h-models" },
      el("h2", { id: "h-models" }, "Models"),
      table(["Model", "Task", "Champion", "Versions", "Aliases", "Created (UTC)"], modelRows,
        "No models yet: train one with `aiaas train --server … --data iris`, or start the server with --demo.")),
    el("section", { class: "card", "aria-labelledby": "h-jobs" },
      el("h2", { id: "h-jobs" }, "Jobs"),
      can("operate") ? el("p", {}, el("a", { href: "#/train" }, "Start a training job")) : null,
      table(["Job", "Kind", "Model", "State", "Created (UTC)"], jobRows, "No jobs yet: start one with `aiaas train --server …`.")),
    el("section", { class: "card", "aria-labelledby": "h-loaded" },
      el("h2", { id: "h-loaded" }, `Loaded for serving: ${serving.loaded.length} versions, ${size(serving.held_bytes)} of ${size(serving.budget_bytes)}`),
      table(["Version", "Runtime", "Memory", "Max batch"], loadedRows, "Nothing loaded: models load on their first request."),
      serving.loaded.length > LOADED_SHOWN
        ? el("p", { class: "pager" }, `The ${LOADED_SHOWN} largest shown; ${serving.loaded.length - LOADED_SHOWN} more hold ` +
          size(serving.held_bytes - largest.reduce((sum, l) => sum + l.memory_bytes, 0)) + ".") : null));
}

/** Versions as a tree of parent -> variants, e.g. v1 -> v2 (int8) -> v3 (pruned). */
function lineage(versions) {
  const children = new Map();
  for (const v of versions) {
    const key = v.parent ?? null;
    children.set(key, [...(children.get(key) || []), v]);
  }
  const known = new Set(versions.map((v) => v.version));
  const roots = versions.filter((v) => v.parent == null || !known.has(v.parent));
  const branch = (list) => el("ul", {}, list.map((v) => el("li", {},
    `v${v.version}`, v.parent != null ? ` (from v${v.parent})` : "",
    (children.get(v.version) || []).length ? branch(children.get(v.version)) : null)));
  return el("div", { class: "lineage", role: "tree", "aria-label": "Version lineage" }, branch(roots));
}

/** The confusion matrix as a heat map, rows the true class, columns the predicted one. */
function heatMap(matrix, labels) {
  // Hits and misses on their own scales, so that a few misses still show beside many hits.
  const most = Math.max(1, ...matrix.map((row, i) => row[i]));
  const mostMissed = Math.max(1, ...matrix.flatMap((row, i) => row.filter((_, j) => j !== i)));
  const name = (i) => labels[i] ?? String(i);
  return el("table", { class: "heat", "aria-label": "Confusion matrix: rows are true classes, columns predicted" },
    el("thead", {}, el("tr", {}, el("th", {}, ""), matrix.map((_, j) => el("th", { scope: "col" }, name(j))))),
    el("tbody", {}, matrix.map((row, i) => el("tr", {},
      el("th", { scope: "row" }, name(i)),
      row.map((count, j) => {
        const share = count / (i === j ? most : mostMissed);
        const colour = i === j ? `rgba(26,127,55,${0.12 + 0.88 * share})` : `rgba(180,35,24,${share})`;
        const cell = el("td", { title: `true ${name(i)}, predicted ${name(j)}: ${count}` }, count);
        // Set as properties: the page's CSP allows no inline style attributes.
        cell.style.background = colour;
        if (share > 0.55) cell.style.color = "#fff";
        return cell;
      })))));
}

/** Versions a model's page lists at once: the newest, then older ones a page at a time. */
const VERSIONS_SHOWN = 100;

async function modelPage(name, wanted, before) {
  const model = await api(`/api/v1/models/${encodeURIComponent(name)}?limit=${VERSIONS_SHOWN}` +
    (before ? `&before=${before}` : ""));
  const versions = model.versions;
  const byAlias = model.aliases;
  const chosen = wanted ?? byAlias.champion ?? versions.at(-1)?.version;
  // The chosen version and the report of the job that made it (its diagnosis), side by side
  // when the listing names that job.
  const jobOf = async (id) => id ? (await api(`/api/v1/jobs/${encodeURIComponent(id)}`)).report : null;
  const listed = versions.find((v) => v.version === chosen);
  const [record, listedReport] = chosen == null ? [null, null] : await Promise.all([
    api(`/api/v1/models/${encodeURIComponent(name)}/versions/${chosen}`), jobOf(listed?.job_id)]);
  const report = listed ? listedReport : await jobOf(record?.job_id);
  const aliasesOf = (v) => Object.entries(byAlias).filter(([, n]) => n === v).map(([a]) => a);
  const act = async (call) => { try { await call(); await route(); } catch (e) { failure(e); } };
  const rows = versions.slice().reverse().map((v) => el("tr", {},
    el("td", {}, el("a", { href: `#/models/${encodeURIComponent(name)}/${v.version}`,
      "aria-current": v.version === chosen ? "true" : false }, `v${v.version}`)),
    el("td", {}, aliasesOf(v.version).map((a) => el("span", { class: `pill ${a}` }, a))),
    el("td", {}, headline(v.metrics)),
    el("td", { class: "num" }, size(v.size_bytes)),
    el("td", {}, v.dataset ?? "–"),
    el("td", {}, v.parent != null ? `v${v.parent}` : "–"),
    el("td", {}, time(v.created_at_ms)),
    can("operate") ? el("td", {},
      el("button", { type: "button", onclick: () => act(() => api(
        `/api/v1/models/${encodeURIComponent(name)}/aliases/champion`,
        { method: "PUT", body: { version: v.version } })) }, "Make champion"), " ",
      el("button", { type: "button", class: "danger", onclick: () => {
        if (confirm(`Delete ${name} v${v.version}?`)) act(() => api(
          `/api/v1/models/${encodeURIComponent(name)}/versions/${v.version}`, { method: "DELETE" }));
      } }, "Delete")) : null));
  const head = ["Version", "Aliases", "Headline", "Size", "Dataset", "Parent", "Created (UTC)"];
  if (can("operate")) head.push("Actions");
  const content = [
    el("p", {}, el("a", { href: `#/models/${encodeURIComponent(name)}/monitoring` }, "Monitoring")),
    el("section", { class: "card", "aria-labelledby": "h-versions" },
      el("h2", { id: "h-versions" }, "Versions"),
      pager(name, model, before),
      table(head, rows, "No versions."),
      can("operate") && byAlias.champion != null ? el("p", {}, el("button", { type: "button",
        onclick: () => act(() => api(`/api/v1/models/${encodeURIComponent(name)}/rollback`, { method: "POST", body: {} })) },
        "Roll back champion")) : null),
    el("section", { class: "card", "aria-labelledby": "h-lineage" },
      el("h2", { id: "h-lineage" }, "Lineage"), lineage(versions)),
  ];
  if (record) content.push(...versionDetail(record, report));
  if (record && can("predict")) content.push(tryIt(name, record));
  // Variants are derived from networks trained (or adopted) here, not from graphs run as they are.
  if (record && can("operate") && record.manifest.architecture !== "onnx") content.push(optimizeForm(name, record.version));
  show(`${name}`, ...content);
}

/** Which versions the page lists, of how many, and links to older and the newest ones. */
function pager(name, model, before) {
  const shown = model.versions;
  if (!shown.length || (model.version_count <= shown.length && !before)) return null;
  const base = `#/models/${encodeURIComponent(name)}`;
  const oldest = shown[0].version;
  return el("p", { class: "pager" },
    `Versions v${oldest} to v${shown.at(-1).version}, ${shown.length} of ${model.version_count}. `,
    before ? el("a", { href: base }, "Newest") : null, before ? " · " : null,
    shown.length === VERSIONS_SHOWN && oldest > 1 ? el("a", { href: `${base}/before/${oldest}` }, "Older versions") : null);
}

/** A version's facts, its optimization report, the diagnosis of the run that trained it
 * (`report`, its job's) and its test figures. */
function versionDetail(record, report) {
  const manifest = record.manifest || {};
  const test = record.metrics && (record.metrics.test || record.metrics.val);
  const target = manifest.schema && manifest.schema.target;
  const labels = (target && target.labels) || (manifest.classes && manifest.classes.labels) || [];
  const lineage = manifest.lineage || {};
  const weights = manifest.weights || {};
  const facts = [
    ["Task", manifest.task], ["Weights", weights.dtype ?? (manifest.architecture === "onnx" ? "onnx" : "f32")],
    ["Dataset", record.dataset],
    ["Job", record.job_id && el("a", { href: `#/jobs/${encodeURIComponent(record.job_id)}` }, record.job_id)],
    ["Parent", record.parent != null ? `v${record.parent}` : null],
    ["Optimized", lineage.optimization && lineage.optimization.recipe && lineage.optimization.recipe.method],
    ["Imported from", (lineage.imported && `${lineage.imported.format} (${lineage.imported.producer_name})`)
      || (lineage.format && `${lineage.format} (${lineage.producer_name})`)],
  ].filter(([, v]) => v != null);
  const out = [el("section", { class: "card", "aria-labelledby": "h-version" },
    el("h2", { id: "h-version" }, `Version ${record.version}`),
    el("dl", { class: "kv" }, facts.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])))];
  if (lineage.optimization) out.push(optimizationReport(lineage.optimization));
  if (report && report.diagnosis) out.push(trainReport(report));
  if (test && test.confusion_matrix) {
    const perClass = test.per_class.map((c, i) => el("tr", {},
      el("th", { scope: "row" }, labels[i] ?? i), el("td", { class: "num" }, fixed(c.precision)),
      el("td", { class: "num" }, fixed(c.recall)), el("td", { class: "num" }, fixed(c.f1)),
      el("td", { class: "num" }, c.support)));
    out.push(el("section", { class: "card", "aria-labelledby": "h-confusion" },
      el("h2", { id: "h-confusion" }, `Test confusion matrix (${test.count} rows, accuracy ${fixed(test.accuracy)})`),
      heatMap(test.confusion_matrix, labels),
      el("h2", {}, "Per class"),
      table(["Class", "Precision", "Recall", "F1", "Support"], perClass, "No classes.")));
  } else if (test) {
    out.push(el("section", { class: "card" }, el("h2", {}, "Test figures"),
      el("p", {}, `RMSE ${fixed(test.rmse)} · MAE ${fixed(test.mae)} · R² ${fixed(test.r2)}`)));
  }
  return out;
}

/** A recipe in words: `prune (sparsity 0.5, structured)`. */
function recipeText(recipe) {
  const options = Object.entries(recipe).filter(([k]) => k !== "method")
    .map(([k, v]) => v === true ? k : `${k} ${Array.isArray(v) ? v.join(",") : v}`);
  return options.length ? `${recipe.method} (${options.join(", ")})` : recipe.method;
}

/** An optimization report: the parent's and the variant's figures side by side (and, for
 * distillation, the same student trained from scratch), with the guard's verdict. */
function optimizationReport(report) {
  const columns = [[`Parent ${report.parent_ref}`, report.parent], ["Variant", report.variant]];
  if (report.scratch) columns.push(["Student from scratch", report.scratch]);
  const ms = (x) => `${fixed(x, 4)} ms`;
  const figures = [["Weights file", "size_bytes", size], ["Parameters", "params", String],
    ["Non-zero parameters", "nonzero", String], ["Latency, 1 row", "latency_ms_batch1", ms],
    ["Latency, 64 rows", "latency_ms_batch64", ms], ["Test accuracy", "accuracy", fixed],
    ["Test macro F1", "f1_macro", fixed], ["Test RMSE", "rmse", fixed]]
    .filter(([, key]) => columns.some(([, f]) => f[key] != null));
  const rows = figures.map(([label, key, format]) => el("tr", {}, el("th", { scope: "row" }, label),
    columns.map(([, f]) => el("td", { class: "num" }, f[key] == null ? "–" : format(f[key])))));
  return el("section", { class: "card", "aria-labelledby": "h-optimization" },
    el("h2", { id: "h-optimization" }, `Optimization: ${recipeText(report.recipe)} of ${report.parent_ref}`),
    el("div", { class: "compare" }, table(["", ...columns.map(([name]) => name)], rows, "No figures.")),
    el("p", { class: report.accepted ? "" : "error" }, report.verdict));
}

/** Hidden layer sizes as typed: `64,32` is [64, 32]. */
const layerSizes = (text) => text.split(",").map((h) => Number(h.trim()));

/** Submits the job `body` and opens its page, or says in `message` why it was refused. */
async function startJob(body, message) {
  try {
    const job = await api("/api/v1/jobs", { method: "POST", body });
    location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
  } catch (e) {
    message.className = "error";
    message.textContent = e.message;
  }
}

/** The form of `aiaas optimize --server`: a variant of version `version` of `name`. */
function optimizeForm(name, version) {
  const field = (label, input, hint) => el("label", { for: input.id }, label, input, hint ? el("small", {}, hint) : null);
  const method = el("select", { id: "opt-method" }, ["quantize", "prune", "distill"].map((m) => el("option", { value: m }, m)));
  const scheme = el("select", { id: "opt-scheme" }, ["int8", "f16"].map((m) => el("option", { value: m }, m)));
  const sparsity = el("input", { id: "opt-sparsity", type: "number", min: 0.01, max: 0.99, step: "any", value: 0.5 });
  const structured = el("input", { id: "opt-structured", type: "checkbox" });
  const hidden = el("input", { id: "opt-hidden", placeholder: "e.g. 32 or 32,16", value: "32" });
  const epochs = el("input", { id: "opt-epochs", type: "number", min: 0, placeholder: "default: none to prune, the parent's to distill" });
  const maxDrop = el("input", { id: "opt-max-drop", type: "number", min: 0, step: "any", placeholder: "default 0.01 (accuracy) or 0.05 (RMSE)" });
  const groups = {
    quantize: [field("Scheme", scheme)],
    prune: [field("Sparsity", sparsity), el("label", { for: structured.id }, structured, " Structured (whole neurons)")],
    distill: [field("Student's hidden layers", hidden)],
  };
  const options = el("div", { class: "fields" });
  const showOptions = () => options.replaceChildren(...groups[method.value],
    method.value === "quantize" ? null : field("Epochs", epochs), field("Largest drop allowed", maxDrop));
  method.addEventListener("change", showOptions);
  showOptions();
  const message = el("p", { role: "alert" });
  const form = el("form", { class: "optimize", onsubmit: async (event) => {
    event.preventDefault();
    const recipe = { method: method.value };
    if (method.value === "quantize") recipe.scheme = scheme.value;
    if (method.value === "prune") Object.assign(recipe, { sparsity: Number(sparsity.value), structured: structured.checked });
    if (method.value === "distill") recipe.hidden = layerSizes(hidden.value);
    if (method.value !== "quantize" && epochs.value) recipe.epochs = Number(epochs.value);
    const body = { kind: "optimize", model: name, version: String(version), recipe };
    if (maxDrop.value) body.max_drop = Number(maxDrop.value);
    await startJob(body, message);
  } }, field("Method", method), options, el("button", { type: "submit" }, "Start"), message);
  return el("section", { class: "card", "aria-labelledby": "h-optimize" },
    el("h2", { id: "h-optimize" }, `Optimize v${version}`),
    el("p", {}, "A variant is registered as a new version only when it stays within the drop allowed on the test split."),
    form);
}

/** A numeric profile's histogram as small bars. */
function bars(histogram) {
  const width = 160, height = 40;
  const counts = histogram.counts || [];
  const most = Math.max(1, ...counts);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "bars", role: "img",
    "aria-label": `histogram: ${counts.join(", ")}` });
  const w = width / counts.length;
  counts.forEach((count, i) => {
    const h = height * count / most;
    chart.append(svg("rect", { x: i * w + 1, y: height - h, width: Math.max(w - 2, 1), height: h }));
  });
  return chart;
}

async function datasetsPage() {
  const datasets = await api("/api/v1/datasets");
  const rows = datasets.map((d) => el("tr", {},
    el("td", {}, el("a", { href: `#/datasets/${encodeURIComponent(d.name)}` }, d.name)),
    el("td", {}, d.task), el("td", {}, d.target), el("td", { class: "num" }, d.rows),
    el("td", { class: "num" }, size(d.size_bytes)), el("td", {}, time(d.created_at_ms))));
  const content = [el("section", { class: "card", "aria-labelledby": "h-datasets" },
    el("h2", { id: "h-datasets" }, "Registered datasets"),
    table(["Dataset", "Task", "Target", "Rows", "Size", "Created (UTC)"], rows,
      "No datasets yet: upload a CSV file below, or `aiaas datasets upload iris`."))];
  if (can("operate")) content.push(uploadForm());
  show("Datasets", ...content);
}

/** Upload a CSV file, dropped on the zone or chosen with the file input, under a name. */
function uploadForm() {
  const name = el("input", { id: "dataset-name", required: true, placeholder: "e.g. churn" });
  const target = el("input", { id: "dataset-target", placeholder: "default: target" });
  const file = el("input", { id: "dataset-file", type: "file", accept: ".csv,text/csv" });
  const message = el("p", { role: "alert" });
  let chosen = null;
  const take = (f) => {
    chosen = f;
    message.className = "";
    message.textContent = f ? `${f.name} (${size(f.size)})` : "";
    if (f && !name.value) name.value = f.name.replace(/\.csv$/i, "").toLowerCase().replace(/[^a-z0-9_-]/g, "-");
  };
  file.addEventListener("change", () => take(file.files[0]));
  const zone = el("div", { class: "drop", ondragover: (e) => { e.preventDefault(); zone.classList.add("over"); },
    ondragleave: () => zone.classList.remove("over"),
    ondrop: (e) => { e.preventDefault(); zone.classList.remove("over"); take(e.dataTransfer.files[0]); } },
    "Drop a CSV file here, or choose one: ", file);
  const form = el("form", { class: "signin", onsubmit: async (event) => {
    event.preventDefault();
    if (!chosen) { message.className = "error"; message.textContent = "Choose a CSV file first."; return; }
    const query = new URLSearchParams({ name: name.value.trim() });
    if (target.value.trim()) query.set("target", target.value.trim());
    try {
      const record = await api(`/api/v1/datasets?${query}`, { method: "POST", body: chosen, type: "text/csv" });
      location.hash = `#/datasets/${encodeURIComponent(record.name)}`;
    } catch (e) {
      message.className = "error";
      message.textContent = e.message;
    }
  } }, zone, el("label", { for: "dataset-name" }, "Name"), name,
    el("label", { for: "dataset-target" }, "Column to predict"), target,
    el("button", { type: "submit" }, "Upload"), message);
  return el("section", { class: "card", "aria-labelledby": "h-upload" },
    el("h2", { id: "h-upload" }, "Upload a dataset"), form);
}

async function datasetPage(name) {
  const d = await api(`/api/v1/datasets/${encodeURIComponent(name)}`);
  const rows = (d.profile || []).map((f) => el("tr", {},
    el("th", { scope: "row" }, f.name), el("td", {}, f.type),
    el("td", {}, f.type === "numeric"
      ? `mean ${fixed(f.mean)} · std ${fixed(f.std)} · ${fixed(f.min)} to ${fixed(f.max)}`
      : (f.frequencies || []).slice(0, 5).map(([v, n]) => `${v} ${n}`).join(" · ")),
    el("td", {}, f.type === "numeric" ? bars(f.histogram) : null)));
  show(`Dataset ${d.name}`,
    el("section", { class: "card", "aria-labelledby": "h-dataset" },
      el("h2", { id: "h-dataset" }, `${d.rows} rows, ${d.task} of ${d.target}`),
      el("p", {}, `SHA-256 ${d.digest} · ${size(d.size_bytes)} · ${time(d.created_at_ms)}`),
      can("operate") ? el("p", {}, el("a", { href: `#/train/${encodeURIComponent(d.name)}` }, "Train a model on it")) : null),
    el("section", { class: "card", "aria-labelledby": "h-profile" },
      el("h2", { id: "h-profile" }, "Features"),
      table(["Feature", "Type", "Profile", "Histogram"], rows, "No profile.")));
}

/** One row sent to the version and its answer. A version trained here gets a field per
 * feature (filled with the training mean, or the most frequent category); an imported graph a
 * field per input it takes as text or an image file (from its V2 metadata). */
function tryIt(name, record) {
  const path = `/v2/models/${encodeURIComponent(name)}/versions/${record.version}`;
  const answer = el("div", { "aria-live": "polite", id: "try-answer" });
  const body = el("div", {}, el("p", { class: "empty" }, "Reading the version's inputs…"));
  const card = el("section", { class: "card", "aria-labelledby": "h-try" },
    el("h2", { id: "h-try" }, `Try v${record.version}`), body);
  const features = (record.manifest.schema && record.manifest.schema.features) || [];
  const build = features.length ? Promise.resolve(featureFields(record.manifest))
    : api(path).then((metadata) => graphFields(metadata.inputs));
  build.then((fields) => {
    if (!fields) {
      return body.replaceChildren(el("p", { class: "empty" },
        `This version takes tensors: send them to POST ${path}/infer (see the README's V2 section).`));
    }
    const form = el("form", { class: "try", onsubmit: async (event) => {
      event.preventDefault();
      try {
        const res = await api(`${path}/infer`, { method: "POST", body: { inputs: await fields.inputs() } });
        answer.replaceChildren(el("dl", { class: "kv" }, res.outputs.map((o) => [el("dt", {}, o.name), el("dd", {}, shortList(o.data))])));
      } catch (e) {
        answer.replaceChildren(el("p", { class: "error" }, e.message));
      }
    } }, el("div", { class: "fields" }, fields.labels), el("button", { type: "submit" }, "Predict"));
    body.replaceChildren(form, answer);
  }).catch((e) => body.replaceChildren(el("p", { class: "error" }, e.message)));
  return card;
}

/** At most 20 of an output's values, and how many there are. */
function shortList(data) {
  const shown = data.slice(0, 20).map((v) => typeof v === "number" ? fixed(v) : v).join(", ");
  return data.length > 20 ? `${shown}, … (${data.length} values)` : shown;
}

/** A field per feature of a model trained here, and the V2 inputs they make: one FP32 matrix
 * when every feature is numeric, else one input per feature (BYTES for a category). */
function featureFields(manifest) {
  const features = manifest.schema.features;
  const profile = new Map((manifest.profile || []).map((p) => [p.name, p]));
  // Each field, and for a category the ones seen in training, offered as suggestions.
  const [fields, suggestions] = [[], []];
  features.forEach((f, i) => {
    const p = profile.get(f.name) || {};
    if (f.type === "numeric") {
      fields.push(el("input", { id: `try-${i}`, type: "number", step: "any", required: true,
        value: typeof p.mean === "number" ? Number(p.mean.toPrecision(4)) : 0 }));
      suggestions.push(null);
      return;
    }
    const seen = (p.frequencies || []).map(([v]) => v);
    fields.push(el("input", { id: `try-${i}`, required: true, list: `try-${i}-seen`, value: seen[0] ?? "" }));
    suggestions.push(el("datalist", { id: `try-${i}-seen` }, seen.map((v) => el("option", { value: v }))));
  });
  const numeric = features.every((f) => f.type === "numeric");
  return {
    labels: features.map((f, i) => el("label", { for: `try-${i}` }, f.name, fields[i], suggestions[i])),
    inputs: async () => numeric
      ? [{ name: "input", datatype: "FP32", shape: [1, fields.length], data: fields.map((i) => Number(i.value)) }]
      : features.map((f, i) => f.type === "numeric"
        ? { name: f.name, datatype: "FP32", shape: [1, 1], data: [Number(fields[i].value)] }
        : { name: f.name, datatype: "BYTES", shape: [1, 1], data: [fields[i].value] }),
  };
}

/** A field per input of an imported graph that takes a text (`text`) or an image file (any
 * other BYTES input: a PNG or JPEG, sent base64-encoded); null when it takes tensors. */
function graphFields(inputs) {
  if (!inputs.length || inputs.some((i) => i.datatype !== "BYTES")) return null;
  const fields = inputs.map((input, i) => input.name === "text"
    ? el("textarea", { id: `try-${i}`, required: true, rows: 3 })
    : el("input", { id: `try-${i}`, type: "file", accept: "image/png,image/jpeg", required: true }));
  const base64 = (file) => new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result.slice(reader.result.indexOf(",") + 1));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
  return {
    labels: inputs.map((input, i) => el("label", { for: `try-${i}` }, input.name === "text" ? "text" : `${input.name} (PNG or JPEG)`, fields[i])),
    inputs: () => Promise.all(inputs.map(async (input, i) => ({ name: input.name, datatype: "BYTES", shape: [1],
      data: [fields[i].type === "file" ? await base64(fields[i].files[0]) : fields[i].value] }))),
  };
}

/** A call that may find nothing yet: its answer, or the message of a 404/422 to show instead. */
async function maybe(path) {
  try {
    return { value: await api(path) };
  } catch (e) {
    if (e instanceof ApiError && [404, 422].includes(e.status)) return { missing: e.message };
    throw e;
  }
}

/** Production quality, drift and the model's monitoring events; each says plainly when it has
 * nothing to show yet and how to get there. */
async function monitoringPage(name) {
  const base = `/api/v1/models/${encodeURIComponent(name)}`;
  const [quality, drift, policy, events] = await Promise.all([
    maybe(`${base}/quality`), maybe(`${base}/drift`), maybe(`${base}/policy`), maybe(`${base}/events`),
  ]);
  const card = (id, title, ...body) => el("section", { class: "card", "aria-labelledby": id },
    el("h2", { id }, title), ...body);
  const empty = (text) => el("p", { class: "empty" }, text);
  const content = [el("p", {}, el("a", { href: `#/models/${encodeURIComponent(name)}` }, `Back to ${name}`))];
  if (quality.value) {
    const q = quality.value, m = q.metrics, d = q.diagnosis;
    const figure = "accuracy" in m ? `accuracy ${fixed(m.accuracy)}` : `RMSE ${fixed(m.rmse)}, R² ${fixed(m.r2)}`;
    content.push(card("h-quality", `Production quality of v${q.version}`,
      el("p", {}, `${figure} on ${q.labelled} labelled of ${q.logged} logged predictions ` +
        `(coverage ${fixed(q.label_coverage, 2)}).`),
      el("p", {}, d.summary),
      qualityOverTime(q),
      m.confusion_matrix ? heatMap(m.confusion_matrix, q.labels) : null));
  } else {
    content.push(card("h-quality", "Production quality",
      empty(`${quality.missing}. Labels are sent as feedback: POST ${base}/feedback with [{"id", "label"}] ` +
        "for logged predictions (or `aiaas feedback`).")));
  }
  if (drift.value) {
    const r = drift.value;
    const predicted = r.predictions ? [{ name: "predicted class", ...r.predictions, overlay: r.predictions_overlay }] : [];
    const rows = r.features.concat(predicted)
      .map((f) => el("tr", {},
        el("th", { scope: "row" }, f.name),
        el("td", {}, f.test),
        el("td", { class: "num" }, fixed(f.psi)),
        el("td", { class: "num" }, fixed((f.ks || f.chi_square || {}).p_value, 4)),
        el("td", { class: "num" }, f.n),
        el("td", { class: f.drifted ? "error" : "" }, f.no_decision ? `no decision (${f.no_decision})` : f.drifted ? "drifted" : "no"),
        el("td", {}, f.overlay ? overlayBars(f.overlay) : null)));
    content.push(card("h-drift", `Drift of v${r.version} over ${r.rows} predictions: ` +
      (r.drifted ? "drifted" : "no drift") + ` (${r.drifted_features} of ${r.decided_features} features)`,
      el("p", { class: "legend" }, el("span", { class: "key reference" }), " training ",
        el("span", { class: "key production" }), " production (shares of each; a last bar: values outside the training range)"),
      table(["Feature", "Test", "PSI", "p-value", "Rows", "Drifted", "Distribution"], rows, "No features.")));
  } else {
    content.push(card("h-drift", "Drift", empty(`${drift.missing}. Drift is measured on logged predictions: send requests to /v2/models/${name}/infer.`)));
  }
  content.push(card("h-policy", "Policy", can("operate") ? policyForm(name, policy.value)
    : policy.value ? el("dl", { class: "kv" }, Object.entries(policy.value.policy).map(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))]))
      : empty(`No policy: an operator sets one here (or PUT ${base}/policy) to check quality and drift on a schedule.`)));
  const eventRows = (events.value || []).slice(-50).reverse().map((e) => el("tr", {},
    el("td", {}, time(e.at_ms)), el("td", {}, e.kind), el("td", {}, JSON.stringify(e.data))));
  content.push(card("h-events", "Breaches, retrains and promotions",
    table(["When (UTC)", "Event", "Details"], eventRows, "None yet.")));
  show(`${name}: monitoring`, ...content);
}

/** Production quality over consecutive stretches of the labelled predictions, against the
 * training figure. */
function qualityOverTime(q) {
  const points = q.over_time || [];
  if (points.length < 2) {
    return el("p", { class: "empty" }, "Quality over time shows from 40 labelled predictions.");
  }
  const figure = "accuracy" in q.metrics ? "accuracy" : "R²";
  const training = q.diagnosis.training;
  return el("figure", {},
    lineChart({
      series: [{ label: `production ${figure}`, colour: "#0b5cad", points: points.map((p, i) => [i + 1, p.value]) }],
      guide: typeof training === "number" ? { label: `training ${figure}`, y: training } : null,
      xLabel: "stretch", label: `Production ${figure} over ${points.length} stretches` }),
    el("figcaption", {}, `${points.length} stretches of ${points[0].labelled} labelled predictions, ` +
      `${time(points[0].from_ms)} to ${time(points.at(-1).to_ms)} UTC; the dashed line is the test figure at training.`));
}

/** The monitoring policy's form, filled with `current` (its record) if there is one: saved
 * with PUT, removed with DELETE. */
function policyForm(name, current) {
  const base = `/api/v1/models/${encodeURIComponent(name)}/policy`;
  const now = (current && current.policy) || {};
  const number = (id, label, value, attrs = {}) => {
    const input = el("input", { id, type: "number", step: "any", min: 0, value: value ?? false, ...attrs });
    return [input, el("label", { for: id }, label, input)];
  };
  const [floor, floorField] = number("p-floor", "Accuracy floor (classification)", now.accuracy_floor, { max: 1 });
  const [ceiling, ceilingField] = number("p-ceiling", "RMSE ceiling (regression)", now.rmse_ceiling);
  const [share, shareField] = number("p-share", "Drifted share of features (0: off)", now.drift_share ?? 0.5, { max: 1 });
  const [labelled, labelledField] = number("p-labelled", "Fewest labels to judge", now.min_labelled ?? 100, { step: 1 });
  const [span, spanField] = number("p-window", "Window (predictions)", now.window ?? 1000, { step: 1, min: 1 });
  const [every, everyField] = number("p-every", "Check every (seconds)", now.check_interval_s ?? 300, { step: 1, min: 1 });
  const [margin, marginField] = number("p-margin", "Promotion margin", now.promote_margin ?? 0);
  const retrain = el("input", { id: "p-retrain", type: "checkbox", checked: !!now.auto_retrain });
  const message = el("p", { role: "status" });
  const act = async (call, done) => {
    try { await call(); message.className = ""; message.textContent = done; } catch (e) {
      message.className = "error"; message.textContent = e.message;
    }
  };
  const form = el("form", { class: "optimize", onsubmit: (event) => {
    event.preventDefault();
    const body = { drift_share: Number(share.value), min_labelled: Number(labelled.value), window: Number(span.value),
      check_interval_s: Number(every.value), auto_retrain: retrain.checked, promote_margin: Number(margin.value) };
    if (floor.value) body.accuracy_floor = Number(floor.value);
    if (ceiling.value) body.rmse_ceiling = Number(ceiling.value);
    act(() => api(base, { method: "PUT", body }), "Saved.");
  } },
    el("div", { class: "fields" }, floorField, ceilingField, shareField, labelledField, spanField, everyField, marginField,
      el("label", { for: retrain.id }, retrain, " Retrain on a breach (promoted only if it wins)")),
    el("button", { type: "submit" }, current ? "Save policy" : "Set policy"), " ",
    current ? el("button", { type: "button", class: "danger", onclick: () =>
      act(() => api(base, { method: "DELETE" }), "Removed: no more scheduled checks.") }, "Remove policy") : null,
    message);
  return [current ? null : el("p", { class: "empty" }, "No policy yet: set one to check quality and drift on a schedule."), form];
}

/** An SVG element with `attrs`. */
function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

/** Lines over x from 1: `series` of `{label, colour, points: [[x, y]]}`, y from 0 (or `floor`)
 * to the highest point, and a dashed `guide` line `{label, y}` if given. */
function lineChart({ series, guide, xLabel, label, floor = 0 }) {
  const width = 640, height = 240, pad = 36;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "curves", "aria-label": label });
  const all = series.flatMap((s) => s.points);
  const last = Math.max(...all.map(([x]) => x), 2);
  const top = Math.max(...all.map(([, y]) => y), guide ? guide.y : -Infinity) || 1;
  const bottom = Math.min(floor, ...all.map(([, y]) => y));
  const x = (at) => pad + (width - 2 * pad) * (at - 1) / (last - 1);
  const y = (value) => height - pad - (height - 2 * pad) * (value - bottom) / (top - bottom || 1);
  const text = (content, attrs) => { const t = svg("text", attrs); t.textContent = content; return t; };
  chart.append(svg("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, class: "axis" }),
    svg("line", { x1: pad, y1: pad, x2: pad, y2: height - pad, class: "axis" }),
    text(fixed(top), { x: 2, y: pad + 4, class: "tick" }),
    text(fixed(bottom, bottom ? 3 : 0), { x: 2, y: height - pad + 4, class: "tick" }),
    text(`${xLabel} ${last}`, { x: width - pad - 60, y: height - 10, class: "tick" }));
  if (guide) {
    chart.append(svg("line", { x1: pad, y1: y(guide.y), x2: width - pad, y2: y(guide.y), class: "guide" }),
      text(`${guide.label} ${fixed(guide.y)}`, { x: pad + 6, y: y(guide.y) - 5, class: "tick" }));
  }
  series.forEach((s, i) => {
    chart.append(svg("polyline", { points: s.points.map(([e, v]) => `${x(e)},${y(v)}`).join(" "),
      fill: "none", stroke: s.colour, "stroke-width": 2, class: "series" }));
    for (const [e, v] of s.points.length < 30 ? s.points : []) {
      chart.append(svg("circle", { cx: x(e), cy: y(v), r: 3, fill: s.colour }));
    }
    chart.append(text(s.label, { x: width - pad - 150, y: pad + 16 * i, fill: s.colour }));
  });
  return chart;
}

/** Per epoch: the losses (training, and validation when there is one), and the validation
 * metric (accuracy, or R²) beside them. */
function curves(epochs) {
  const line = (key, label, colour) => ({ label, colour,
    points: epochs.filter((e) => typeof e[key] === "number").map((e) => [e.epoch, e[key]]) });
  const losses = [line("train_loss", "training loss", "#0b5cad"), line("val_loss", "validation loss", "#b42318")]
    .filter((s) => s.points.length);
  if (!losses.length) return el("p", { class: "empty" }, "No epochs yet: the curves appear as they finish.");
  const metric = line("val_metric", "validation metric", "#1a7f37");
  return el("div", { class: "charts" },
    lineChart({ series: losses, xLabel: "epoch", label: `Loss per epoch, ${epochs.length} epochs` }),
    metric.points.length ? lineChart({ series: [metric], xLabel: "epoch",
      label: `Validation accuracy (or R²) per epoch, ${epochs.length} epochs` }) : null);
}

/** A feature's window over its reference, as shares of each (so that windows of any size
 * compare): reference bars in grey, production in the accent colour, side by side per bin;
 * values outside the reference's range (or categories it never saw) as a last bar. */
function overlayBars(overlay) {
  const width = 200, height = 44;
  const outside = overlay.kind === "numeric" ? overlay.below + overlay.above : overlay.unseen;
  const reference = overlay.reference.concat(outside ? [0] : []);
  const production = overlay.production.concat(outside ? [outside] : []);
  const share = (counts) => { const total = counts.reduce((a, b) => a + b, 0) || 1; return counts.map((c) => c / total); };
  const [ref, prod] = [share(reference), share(production)];
  const most = Math.max(...ref, ...prod) || 1;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "overlay", role: "img",
    "aria-label": `reference ${ref.map((v) => fixed(v, 2)).join(", ")}; production ${prod.map((v) => fixed(v, 2)).join(", ")}` +
      (outside ? `; the last bar: ${outside} production values outside the reference` : "") });
  const w = width / ref.length;
  ref.forEach((r, i) => {
    for (const [value, offset, cls] of [[r, 0, "reference"], [prod[i], w / 2, "production"]]) {
      const h = height * value / most;
      chart.append(svg("rect", { x: i * w + offset, y: height - h, width: Math.max(w / 2 - 1, 1), height: h, class: cls }));
    }
  });
  return chart;
}

/** The events of job `id` as they come (server-sent events read with fetch, which, unlike
 * EventSource, can send the key), each handed to `onEvent`; stops when `stillShown` says so. */
async function followEvents(id, onEvent, stillShown) {
  const headers = withKey({ Accept: "text/event-stream" });
  const res = await fetch(`/api/v1/jobs/${encodeURIComponent(id)}/events`, { headers });
  if (!res.ok || !res.body) return;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  while (stillShown()) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).join("\n");
      if (data) onEvent(JSON.parse(data));
    }
  }
  reader.cancel().catch(() => {});
}

async function jobPage(id) {
  const job = await api(`/api/v1/jobs/${encodeURIComponent(id)}`);
  const epochs = [];
  const state = el("span", { class: `state-${job.state}` }, job.state);
  const chart = el("div", { "aria-live": "polite" }, curves(epochs));
  const checkpoint = el("dd", {}, job.checkpoint_epoch != null ? `epoch ${job.checkpoint_epoch}` : "none yet");
  const result = el("dd", {}, job.result ? el("a", { href: `#/models/${encodeURIComponent(job.result.model)}/${job.result.version}` },
    `${job.result.model} v${job.result.version}`) : "–");
  // What the job found, from its `report` event: a training run's diagnosis, or a variant
  // against its parent.
  const report = el("div", { id: "job-report" });
  const cancel = can("operate") && ["queued", "running"].includes(job.state)
    ? el("button", { type: "button", class: "danger", onclick: async () => {
      try { await api(`/api/v1/jobs/${encodeURIComponent(id)}/cancel`, { method: "POST", body: {} }); } catch (e) { failure(e); }
    } }, "Cancel") : null;
  show(`Job ${id}`,
    el("section", { class: "card", "aria-labelledby": "h-job" },
      el("h2", { id: "h-job" }, `${job.kind} of ${job.model}` + (job.dataset ? ` on ${job.dataset}` : "")),
      el("dl", { class: "kv" }, el("dt", {}, "State"), el("dd", {}, state),
        el("dt", {}, "Checkpoint"), checkpoint, el("dt", {}, "Result"), result,
        job.error ? [el("dt", {}, "Error"), el("dd", { class: "error" }, job.error)] : null),
      cancel),
    el("section", { class: "card", "aria-labelledby": "h-curve" },
      el("h2", { id: "h-curve" }, "Loss and validation metric per epoch"), chart),
    report);
  const shown = () => location.hash === `#/jobs/${encodeURIComponent(id)}`;
  await followEvents(id, (event) => {
    if (event.kind === "epoch") {
      epochs.push(event.data);
      chart.replaceChildren(curves(epochs));
      chart.dataset.points = String(epochs.length);
    } else if (event.kind === "report") {
      report.replaceChildren(event.data.variant ? optimizationReport(event.data) : trainReport(event.data));
    } else if (event.kind === "checkpoint") {
      checkpoint.textContent = `epoch ${event.data.epoch ?? "?"}`;
    } else if (["succeeded", "failed", "cancelled", "started", "requeued"].includes(event.kind)) {
      const now = { started: "running", requeued: "queued" }[event.kind] ?? event.kind;
      state.textContent = now;
      state.className = `state-${now}`;
      if (event.kind === "succeeded" && event.data && event.data.model) {
        result.replaceChildren(el("a", { href: `#/models/${encodeURIComponent(event.data.model)}/${event.data.version}` },
          `${event.data.model} v${event.data.version}`));
      }
      if (cancel && ["succeeded", "failed", "cancelled"].includes(event.kind)) cancel.remove();
    }
  }, shown);
}

/** A training run's report: where it stopped, its figures against the ignore-the-inputs
 * baseline, and the diagnosis. */
function trainReport(report) {
  const test = report.test || report.val || {};
  const classify = "accuracy" in test;
  const figure = classify ? `test accuracy ${fixed(test.accuracy)}` : `test RMSE ${fixed(test.rmse)}, R² ${fixed(test.r2)}`;
  const base = report.baseline || {};
  const baseline = classify ? base.accuracy : base.rmse;
  return el("section", { class: "card", "aria-labelledby": "h-report" },
    el("h2", { id: "h-report" }, "Diagnosis"),
    el("p", {}, `${report.epochs_run} epochs (best ${report.best_epoch}, ${String(report.stop).replace("_", " ")}); ${figure}` +
      (typeof baseline === "number" ? `, against ${fixed(baseline)} for a baseline that ignores the inputs.` : ".")),
    el("p", { class: report.diagnosis.overfitting || report.diagnosis.underfitting ? "error" : "" }, report.diagnosis.summary));
}

/** The form of `aiaas train --server`: a registered dataset (`chosen`, if given) and the same
 * options. */
async function trainPage(chosen) {
  const datasets = await api("/api/v1/datasets");
  if (!datasets.length) {
    return show("Start a training job", el("p", { class: "empty" },
      "No datasets yet: upload one with `aiaas datasets upload iris` (or a CSV file)."));
  }
  const field = (label, input) => [el("label", { for: input.id }, label), input];
  const dataset = el("select", { id: "dataset", required: true },
    datasets.map((d) => el("option", { value: d.name, selected: d.name === chosen }, `${d.name} (${d.rows} rows, ${d.task})`)));
  const model = el("input", { id: "model", placeholder: "default: the dataset's name" });
  const kind = el("select", { id: "kind" }, ["mlp", "logistic", "linear"].map((k) => el("option", { value: k }, k)));
  const hidden = el("input", { id: "hidden", placeholder: "e.g. 64 or 64,32 (default 64)" });
  const epochs = el("input", { id: "epochs", type: "number", min: 1, placeholder: "default 200" });
  const lr = el("input", { id: "lr", type: "number", step: "any", min: 0, placeholder: "default 0.001" });
  const message = el("p", { role: "alert" });
  const form = el("form", { class: "signin", onsubmit: async (event) => {
    event.preventDefault();
    const body = { kind: "train", dataset: dataset.value, model: kind.value };
    if (model.value.trim()) body.name = model.value.trim();
    if (hidden.value.trim()) body.hidden = layerSizes(hidden.value);
    if (epochs.value) body.epochs = Number(epochs.value);
    if (lr.value) body.lr = Number(lr.value);
    await startJob(body, message);
  } },
    field("Dataset", dataset), field("Model name", model), field("Model", kind),
    field("Hidden layers", hidden), field("Epochs", epochs), field("Learning rate", lr),
    el("button", { type: "submit" }, "Start"), message);
  show("Start a training job", form);
}

async function route() {
  asked = performance.now();
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  try {
    session = await api("/api/v1/session");
    document.getElementById("who").textContent = session.key ? `${session.key.name} (${session.role})` : "";
    document.getElementById("sign-out").hidden = !sessionStorage.getItem(KEY);
    if (parts[0] === "models" && parts[1] && parts[2] === "monitoring") return await monitoringPage(parts[1]);
    if (parts[0] === "models" && parts[1] && parts[2] === "before") return await modelPage(parts[1], undefined, Number(parts[3]));
    if (parts[0] === "models" && parts[1]) return await modelPage(parts[1], parts[2] ? Number(parts[2]) : undefined);
    if (parts[0] === "jobs" && parts[1]) return await jobPage(parts[1]);
    if (parts[0] === "datasets") return await (parts[1] ? datasetPage(parts[1]) : datasetsPage());
    if (parts[0] === "train") return await trainPage(parts[1]);
    return await overview();
  } catch (error) {
    failure(error);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    location.hash = "#/";
    route();
  });
  window.addEventListener("hashchange", route);
  route();
});
