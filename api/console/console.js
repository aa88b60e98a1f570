// asyncgate console: plain JavaScript over the admin API, no build step.
// The admin token lives in sessionStorage and goes in every call's
// Authorization header.
"use strict";

const $ = (sel, el = document) => el.querySelector(sel);
const main = $("#main");
let timer = null;

function esc(v) {
  return String(v ?? "").replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

async function admin(path, opts = {}) {
  const res = await fetch("/admin/api" + path, {
    ...opts,
    headers: { "Authorization": "Bearer " + sessionStorage.getItem("adminToken"), "Content-Type": "application/json", ...(opts.headers || {}) },
  });
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = text; }
  if (!res.ok) {
    throw new Error((body && body.error && body.error.message) || `HTTP ${res.status}`);
  }
  return body;
}

// download fetches an export with the token and saves it as a file.
async function download(path, name) {
  const res = await fetch("/admin/api" + path, { headers: { "Authorization": "Bearer " + sessionStorage.getItem("adminToken") } });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const url = URL.createObjectURL(await res.blob());
  const a = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
}

function table(cols, rows, onClick) {
  const head = cols.map(c => `<th>${esc(c[0])}</th>`).join("");
  const body = rows.map((r, i) => `<tr class="${onClick ? "click" : ""}" data-i="${i}">` +
    cols.map(c => `<td>${typeof c[1] === "function" ? c[1](r) : esc(r[c[1]])}</td>`).join("") + "</tr>").join("");
  const t = document.createElement("table");
  t.innerHTML = `<thead><tr>${head}</tr></thead><tbody>${body}</tbody>`;
  if (onClick) t.querySelectorAll("tbody tr").forEach(tr => tr.addEventListener("click", () => onClick(rows[tr.dataset.i])));
  return t;
}

function show(html) {
  main.innerHTML = html;
}

function fail(err) {
  const p = document.createElement("p");
  p.className = "error";
  p.setAttribute("role", "alert");
  p.textContent = err.message || String(err);
  main.prepend(p);
}

// ---- Queue monitor ----
async function viewQueue() {
  show(`<h2>Queue</h2><div id="queue">Loading…</div>`);
  const draw = async () => {
    const q = await admin("/queue");
    const el = $("#queue");
    if (!el) return;
    const r = q.requests;
    let html = `<div class="grid">
      <div class="stat">New<b id="q-new">${r.new}</b></div>
      <div class="stat">Doing<b id="q-doing">${r.doing}</b></div>
      <div class="stat">Waiting to start<b>${r.dispatch_pending}</b></div>
      <div class="stat">Oldest unfinished<b>${Math.round(r.oldest_unfinished_seconds)} s</b></div></div>`;
    html += `<h3>Task queue ${esc(q.task_queue)}</h3>`;
    if (q.temporal_error) {
      html += `<p class="error">Temporal: ${esc(q.temporal_error)}</p>`;
    } else {
      html += `<table><thead><tr><th>Type</th><th>Pollers</th><th>Backlog</th><th>Backlog age</th><th>Add rate</th><th>Dispatch rate</th></tr></thead><tbody>` +
        Object.entries(q.temporal).map(([k, v]) => `<tr><td>${esc(k)}</td><td class="pollers">${v.pollers}</td><td>${v.backlog}</td>
          <td>${v.backlog_age_seconds.toFixed(1)} s</td><td>${v.tasks_add_rate.toFixed(2)}/s</td><td>${v.tasks_dispatch_rate.toFixed(2)}/s</td></tr>`).join("") +
        `</tbody></table>`;
    }
    const max = Math.max(1, ...q.items_per_minute.map(m => m.items));
    html += `<h3>Items finished per minute</h3><table><tbody>` + (q.items_per_minute.map(m =>
      `<tr><td>${esc(new Date(m.minute).toLocaleTimeString())}</td><td><span class="bar" style="width:${Math.round(300 * m.items / max)}px"></span> ${m.items}</td></tr>`).join("") ||
      `<tr><td>No items finished in the last 10 minutes.</td></tr>`) + `</tbody></table>`;
    el.innerHTML = html;
  };
  await draw();
  timer = setInterval(() => draw().catch(fail), 2000);
}

// ---- Intermediate table ----
async function viewRequests(params) {
  const f = new URLSearchParams(params);
  show(`<h2>Requests</h2>
    <form id="filters" class="filters">
      <input name="api" placeholder="API code" value="${esc(f.get("api"))}">
      <input name="app" placeholder="App key" value="${esc(f.get("app"))}">
      <select name="status">${["", "new", "doing", "done", "canceled"].map(s => `<option ${s === f.get("status") ? "selected" : ""}>${s}</option>`).join("")}</select>
      <select name="notify">${["", "none", "pending", "delivered", "failed"].map(s => `<option ${s === f.get("notify") ? "selected" : ""}>${s}</option>`).join("")}</select>
      <input name="from" type="datetime-local" value="${esc(f.get("from"))}"> <input name="to" type="datetime-local" value="${esc(f.get("to"))}">
      <button>Search</button>
    </form>
    <div id="list">Loading…</div>
    <p><button id="prev">Previous</button> <button id="next">Next</button></p>`);
  const offset = Number(f.get("offset") || 0);
  const q = new URLSearchParams({ limit: 50, offset });
  for (const k of ["api", "app", "status", "notify"]) if (f.get(k)) q.set(k, f.get(k));
  for (const k of ["from", "to"]) if (f.get(k)) q.set(k, new Date(f.get(k)).toISOString());
  const res = await admin("/requests?" + q);
  $("#list").replaceChildren(table([
    ["openApiReqId", "openApiReqId"], ["API", "api"], ["App", "app_key"], ["Protocol", "protocol"], ["Status", "status"],
    ["Items", r => `${r.total} (${r.succeeded} ok, ${r.failed} failed)`], ["Callback", "notify_state"],
    ["Created", r => esc(new Date(r.created_at).toLocaleString())],
  ], res.requests, r => { location.hash = "#/request/" + r.openApiReqId; }));
  $("#filters").addEventListener("submit", e => {
    e.preventDefault();
    const p = new URLSearchParams(new FormData(e.target));
    for (const [k, v] of [...p]) if (!v) p.delete(k);
    location.hash = "#/requests?" + p;
  });
  const page = delta => { f.set("offset", Math.max(0, offset + delta)); location.hash = "#/requests?" + f; };
  $("#prev").onclick = () => page(-50);
  $("#next").onclick = () => page(50);
}

async function viewRequest(id) {
  const [r, d] = await Promise.all([admin("/requests/" + id), admin(`/requests/${id}/deliveries`)]);
  show(`<h2>Request ${esc(id)}</h2>
    <div class="card">
      <p>API <b>${esc(r.api)}</b> · app <b>${esc(r.app_key)}</b> · ${esc(r.protocol)} · status <b id="req-status">${esc(r.status)}</b>
      · ${r.total} items: ${r.succeeded} succeeded, ${r.failed} failed, ${r.canceled} canceled · callback ${esc(r.notify_state)}</p>
      <p>${r.temporal_ui_url ? `<a id="temporal-link" href="${esc(r.temporal_ui_url)}" target="_blank" rel="noopener">Open the run in the Temporal UI</a>` : ""}
        (workflow ${esc(r.workflow_id)})</p>
      <p class="actions"><button id="cancel">Cancel</button><button id="retry">Retry failed items</button><button id="redeliver">Redeliver callback</button>
        <button id="export-csv">Export items (CSV)</button><button id="export-jsonl">Export items (JSON Lines)</button>
        <button id="export-log">Export call log (CSV)</button></p>
      <p id="action-result" role="status"></p>
      <details><summary>Request header</summary><pre>${esc(JSON.stringify(r.header, null, 2))}</pre></details>
    </div>
    <h3>Items</h3><div id="items"></div><h3>Callback attempts</h3><div id="deliveries"></div>`);
  $("#items").replaceChildren(table([
    ["#", "index"], ["Status", "status"], ["Attempts", "attempts"],
    ["Request", it => `<code>${esc(JSON.stringify(it.request))}</code>`],
    ["Result / error", it => it.success ? `<code>${esc(JSON.stringify(it.result))}</code>` : `${esc(it.sub_code)} ${esc(it.sub_msg)}`],
  ], r.items));
  $("#deliveries").replaceChildren(table([
    ["#", "attempt"], ["At", a => esc(new Date(a.at).toLocaleString())], ["URL", "url"], ["HTTP", "http_status"],
    ["Delivered", a => a.delivered ? "yes" : "no"], ["Error", "error"],
  ], d.attempts));
  const act = (name, fn) => $("#" + name).addEventListener("click", async () => {
    try { $("#action-result").textContent = await fn(); } catch (e) { $("#action-result").textContent = e.message; }
  });
  act("cancel", async () => `status ${(await admin(`/requests/${id}/cancel`, { method: "POST" })).status}`);
  act("retry", async () => `retrying ${(await admin(`/requests/${id}/retry`, { method: "POST" })).retried_items} items`);
  act("redeliver", async () => `callback ${(await admin(`/requests/${id}/redeliver`, { method: "POST" })).notify_state}`);
  act("export-csv", async () => { await download(`/export/items?request=${id}&format=csv`, `asyncgate-${id}-items.csv`); return "exported"; });
  act("export-jsonl", async () => { await download(`/export/items?request=${id}&format=jsonl`, `asyncgate-${id}-items.jsonl`); return "exported"; });
  act("export-log", async () => { await download(`/export/calllog?request=${id}&format=csv`, `asyncgate-${id}-calllog.csv`); return "exported"; });
}

// ---- API catalog and API test ----
async function viewAPIs(params) {
  const f = new URLSearchParams(params);
  show(`<h2>APIs</h2><form id="search" class="filters"><input name="q" placeholder="Search" value="${esc(f.get("q"))}"><button>Search</button></form>
    <div id="list">Loading…</div>
    <div class="card"><h3>Quick create from a synchronous API</h3>
      <label>URL <input id="qc-url" size="60" placeholder="https://erp.example.com/api/order/save"></label>
      <label>Sample request <textarea id="qc-sample">{"billno":"SO-1","amount":1}</textarea></label>
      <button id="qc">Create</button> <span id="qc-result" role="status"></span></div>`);
  const res = await admin("/apis" + (f.get("q") ? "?q=" + encodeURIComponent(f.get("q")) : ""));
  $("#list").replaceChildren(table([
    ["Code", "code"], ["Name", "name"], ["Status", "status"], ["URL", "path"], ["TOP method", "top_method"], ["Handler", a => esc(a.handler.type)],
  ], res.apis, a => { location.hash = "#/api/" + a.code; }));
  $("#search").addEventListener("submit", e => { e.preventDefault(); location.hash = "#/apis?q=" + encodeURIComponent(e.target.q.value); });
  $("#qc").addEventListener("click", async () => {
    try {
      const out = await admin("/quick-create", { method: "POST", body: JSON.stringify({ url: $("#qc-url").value, sample_request: JSON.parse($("#qc-sample").value) }) });
      location.hash = "#/api/" + out.api.code;
    } catch (e) { $("#qc-result").textContent = e.message; }
  });
}

async function viewAPI(code) {
  const d = await admin("/apis/" + code);
  show(`<h2>API ${esc(code)}</h2>
    <div class="card"><p>${esc(d.method)} <code>${esc(d.full_url)}</code> · ${esc(d.status)}</p>
      <h3>Parameters</h3><div id="params"></div><p><button id="add-param" type="button">Add parameter</button></p>
      <h3>Request headers</h3><div id="headers"></div><p><button id="add-header" type="button">Add header</button></p>
      <details><summary>Every field (JSON)</summary><textarea id="def">${esc(JSON.stringify(d, null, 2))}</textarea></details>
      <button id="save">Save</button> <span id="save-result" role="status"></span></div>
    <div class="card"><h3>API test</h3>
      <p><label>App key <input id="app-key" value="demo-app"></label> <label>Secret <input id="app-secret" type="password" value="demo-secret"></label>
      <button id="fill">Fill example data</button></p>
      <textarea id="body"></textarea>
      <p><button id="send">Send</button></p>
      <div class="progress"><div id="bar"></div></div>
      <p id="test-status" role="status"></p>
      <pre id="receipt"></pre><pre id="result"></pre></div>`);
  const rows = {
    params: { el: "#params", fields: [["name", "text"], ["type", ["string", "integer", "number", "boolean", "date", "datetime", "array", "object"]],
      ["required", "checkbox"], ["default", "json"], ["example", "json"], ["max_length", "number"], ["enum", "json"],
      ["level", "number"], ["parent", "text"], ["description", "text"]] },
    request_headers: { el: "#headers", fields: [["name", "text"], ["value", "text"], ["required", "checkbox"], ["description", "text"]] },
  };
  // The row editors and the JSON stay in step: rows are drawn from the
  // JSON and written back to it on every change.
  const current = () => JSON.parse($("#def").value);
  const drawRows = key => {
    const def = current();
    const list = def[key] || [];
    const spec = rows[key];
    const t = document.createElement("table");
    t.innerHTML = `<thead><tr>${spec.fields.map(f => `<th>${f[0]}</th>`).join("")}<th></th></tr></thead>`;
    const tb = document.createElement("tbody");
    list.forEach((row, i) => {
      const tr = document.createElement("tr");
      for (const [name, kind] of spec.fields) {
        const td = document.createElement("td");
        let input;
        if (Array.isArray(kind)) {
          input = document.createElement("select");
          input.innerHTML = kind.map(o => `<option ${o === row[name] ? "selected" : ""}>${o}</option>`).join("");
        } else {
          input = document.createElement("input");
          input.type = kind === "json" ? "text" : kind;
          if (kind === "checkbox") input.checked = !!row[name];
          else input.value = kind === "json" ? (row[name] === undefined ? "" : JSON.stringify(row[name])) : (row[name] ?? "");
        }
        input.name = `${key}.${i}.${name}`;
        input.addEventListener("change", () => {
          const def = current();
          const r = def[key][i];
          let v = kind === "checkbox" ? input.checked : input.value;
          if (kind === "number") v = v === "" ? undefined : Number(v);
          if (kind === "json") { try { v = v === "" ? undefined : JSON.parse(v); } catch { /* keep text */ } }
          if (v === undefined || v === "") delete r[name]; else r[name] = v;
          $("#def").value = JSON.stringify(def, null, 2);
        });
        td.append(input);
        tr.append(td);
      }
      const ops = document.createElement("td");
      for (const [label, fn] of [["↑", l => i > 0 && l.splice(i - 1, 2, l[i], l[i - 1])],
        ["↓", l => i < l.length - 1 && l.splice(i, 2, l[i + 1], l[i])], ["Delete", l => l.splice(i, 1)]]) {
        const b = Object.assign(document.createElement("button"), { type: "button", textContent: label });
        b.addEventListener("click", () => {
          const now = current(); // with the edits made since the rows were drawn
          now[key] = now[key] || [];
          fn(now[key]);
          $("#def").value = JSON.stringify(now, null, 2);
          drawRows(key);
        });
        ops.append(b);
      }
      tr.append(ops);
      tb.append(tr);
    });
    t.append(tb);
    $(spec.el).replaceChildren(t);
  };
  const addRow = (key, row) => {
    const def = current();
    def[key] = [...(def[key] || []), row];
    $("#def").value = JSON.stringify(def, null, 2);
    drawRows(key);
  };
  drawRows("params");
  drawRows("request_headers");
  $("#add-param").addEventListener("click", () => addRow("params", { name: "new_param", type: "string", required: false }));
  $("#add-header").addEventListener("click", () => addRow("request_headers", { name: "X-New-Header", required: false }));
  $("#def").addEventListener("change", () => { drawRows("params"); drawRows("request_headers"); });
  $("#save").addEventListener("click", async () => {
    try {
      const def = JSON.parse($("#def").value);
      delete def.path; delete def.full_url;
      await admin("/apis/" + code, { method: "PUT", body: JSON.stringify(def) });
      $("#save-result").textContent = "saved";
    } catch (e) { $("#save-result").textContent = e.message; }
  });
  $("#fill").addEventListener("click", async () => {
    const ex = await admin(`/apis/${code}/example`);
    $("#body").value = JSON.stringify(ex.request, null, 2);
  });
  $("#send").addEventListener("click", () => runTest(d).catch(e => { $("#test-status").textContent = e.message; }));
}

// runTest calls the API as an app would: token, submit, poll, result.
async function runTest(d) {
  const tok = await (await fetch("/kapi/oauth2/getToken", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ client_id: $("#app-key").value, client_secret: $("#app-secret").value }) })).json();
  if (!tok.status) throw new Error(tok.message);
  const headers = { "access_token": tok.data.access_token, "Content-Type": "application/json" };
  const sub = await (await fetch(d.path, { method: "POST", headers, body: $("#body").value })).json();
  $("#receipt").textContent = JSON.stringify(sub, null, 2);
  const data = d.options && d.options.return_data_only ? sub : sub.data;
  if (!data || !data.openApiReqId) throw new Error(sub.message || "refused");
  const id = data.openApiReqId;
  for (;;) {
    const st = await (await fetch(`${d.path}?queryOpenApiType=checkStatus&openApiReqId=${id}`, { headers })).json();
    const s = st.data || st;
    $("#bar").style.width = s.percent + "%";
    $("#test-status").textContent = `${s.status}: ${s.finished}/${s.total} items (${s.succeeded} succeeded, ${s.failed} failed)`;
    if (s.status === "done" || s.status === "canceled") break;
    await new Promise(r => setTimeout(r, 300));
  }
  const res = await (await fetch(`${d.path}?queryOpenApiType=queryResult&openApiReqId=${id}`, { headers })).json();
  $("#result").textContent = JSON.stringify(res, null, 2);
}

// ---- Apps ----
async function viewApps() {
  const res = await admin("/apps");
  show(`<h2>Apps</h2><div id="list"></div>
    <form id="app-form" class="card"><h3 id="app-form-title">New app</h3>
      <p><label>App key <input name="app_key" required></label> <label>Name <input name="name"></label>
      <label>Secret <input name="secret" type="password" placeholder="required for a new app; empty keeps it"></label></p>
      <p><label>Notify URL <input name="notify_url" size="50"></label>
      <label>Format <select name="notify_format"><option>webhook</option><option>top</option></select></label></p>
      <p><label>Grants (API codes, comma-separated; * for all) <input name="grants" size="50" value="*"></label>
      <label>Rate limit/s <input name="rate_limit" type="number" min="0" value="0"></label>
      <label><input name="tester" type="checkbox"> tester</label></p>
      <p><button>Save</button> <button id="rotate" type="button" hidden>Rotate secret</button> <span id="app-result" role="status"></span></p>
    </form>`);
  const form = $("#app-form");
  $("#list").replaceChildren(table([
    ["App key", "app_key"], ["Name", "name"], ["Notify", a => esc(`${a.notify_format || ""} ${a.notify_url || ""}`)],
    ["Grants", a => esc((a.grants || []).join(", "))], ["Tester", a => a.tester ? "yes" : ""], ["Rate limit", "rate_limit"],
  ], res.apps, a => {
    $("#app-form-title").textContent = "App " + a.app_key;
    for (const k of ["app_key", "name", "notify_url", "rate_limit"]) form[k].value = a[k] ?? "";
    form.notify_format.value = a.notify_format || "webhook";
    form.grants.value = (a.grants || []).join(", ");
    form.tester.checked = !!a.tester;
    form.secret.value = "";
    $("#rotate").hidden = false;
  }));
  form.addEventListener("submit", async e => {
    e.preventDefault();
    const app = {
      app_key: form.app_key.value, name: form.name.value, notify_url: form.notify_url.value, notify_format: form.notify_format.value,
      grants: form.grants.value.split(",").map(g => g.trim()).filter(Boolean), rate_limit: Number(form.rate_limit.value),
      tester: form.tester.checked,
    };
    if (form.secret.value) app.secret = form.secret.value;
    try {
      await admin("/apps/" + encodeURIComponent(app.app_key), { method: "PUT", body: JSON.stringify(app) });
      location.hash = "#/apps?saved=" + encodeURIComponent(app.app_key);
      route();
    } catch (err) { $("#app-result").textContent = err.message; }
  });
  $("#rotate").addEventListener("click", async () => {
    try {
      const out = await admin(`/apps/${encodeURIComponent(form.app_key.value)}/rotate-secret`, { method: "POST", body: "{}" });
      $("#app-result").innerHTML = `New secret (shown once): <code id="new-secret">${esc(out.secret)}</code>; the old one works until ${esc(new Date(out.previous_secret_valid_until).toLocaleString())}`;
    } catch (err) { $("#app-result").textContent = err.message; }
  });
}

// ---- Routing ----
async function route() {
  clearInterval(timer);
  if (!sessionStorage.getItem("adminToken")) return;
  const [path, query] = (location.hash.slice(2) || "queue").split("?");
  const [view, arg] = path.split("/");
  document.querySelectorAll("nav a").forEach(a => a.classList.toggle("active", a.dataset.view === view || a.dataset.view + "s" === view));
  try {
    switch (view) {
      case "requests": return await viewRequests(query);
      case "request": return await viewRequest(arg);
      case "apis": return await viewAPIs(query);
      case "api": return await viewAPI(arg);
      case "apps": return await viewApps();
      default: return await viewQueue();
    }
  } catch (e) { fail(e); }
}

function loggedIn() {
  $("#nav").hidden = false;
  route();
}

$("#login").addEventListener("submit", async e => {
  e.preventDefault();
  sessionStorage.setItem("adminToken", $("#token").value);
  try {
    await admin("/queue");
    loggedIn();
  } catch (err) {
    sessionStorage.removeItem("adminToken");
    $("#login-error").textContent = err.message;
  }
});
$("#logout").addEventListener("click", () => { sessionStorage.removeItem("adminToken"); location.reload(); });
window.addEventListener("hashchange", route);
if (sessionStorage.getItem("adminToken")) loggedIn();
