// load-test-ui's page: the form, the live view fed by server-sent events, the downloads.
// No framework and no network beyond this server: everything is drawn here.
"use strict";

const $ = (id) => document.getElementById(id);
const FIELDS = ["tier", "classes", "users", "spawn_rate", "rate", "run_time"];
const COLORS = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#9a6700"];
let meta = null;
let ticks = [];
let tierRows = [];
let settings = null;

function fmt(n, digits = 1) {
  return Number.isFinite(n) ? n.toLocaleString("en", { maximumFractionDigits: digits }) : "–";
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
}

function kindOf(tier) {
  const t = meta.tiers.find((x) => x.value === tier);
  return t ? t.kind : "mcp";
}

// The checkboxes and weights of the current tier's kind, kept in step with the picker text.
function drawClasses() {
  const kind = kindOf($("tier").value);
  const picked = parsePicker($("classes").value);
  const list = $("class-list");
  list.replaceChildren();
  for (const c of meta.classes.filter((x) => x.kind === kind)) {
    const row = document.createElement("div");
    row.className = "class";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.id = "class-" + c.name;
    box.checked = picked.has(c.name);
    const label = document.createElement("label");
    label.htmlFor = box.id;
    label.innerHTML = "";
    label.append(c.name + " ");
    const small = document.createElement("small");
    small.textContent = c.wait + (c.needs_ui ? ", needs the admin UI" : "");
    label.append(small);
    const weight = document.createElement("input");
    weight.type = "number";
    weight.min = "0";
    weight.value = picked.get(c.name) ?? c.weight;
    weight.id = "weight-" + c.name;
    weight.setAttribute("aria-label", c.name + " weight");
    box.addEventListener("change", syncPicker);
    weight.addEventListener("input", syncPicker);
    row.append(box, label, weight);
    list.appendChild(row);
  }
}

function parsePicker(text) {
  const map = new Map();
  for (const item of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const [name, weight] = item.split(":");
    map.set(name.trim(), weight === undefined ? undefined : weight.trim());
  }
  return map;
}

function syncPicker() {
  const items = [];
  for (const row of $("class-list").children) {
    const [box, , weight] = row.children;
    if (box.checked) items.push(box.id.slice(6) + ":" + weight.value);
  }
  $("classes").value = items.join(",");
}

function showErrors(errors) {
  for (const f of FIELDS.concat(["form", "target"])) {
    const el = $(f + "-error");
    if (el) el.textContent = (errors && errors[f]) || "";
    const input = $(f);
    if (input) input.setAttribute("aria-invalid", errors && errors[f] ? "true" : "false");
  }
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  const answer = await response.json().catch(() => ({}));
  return { ok: response.ok, answer };
}

function setPhase(phase) {
  $("phase").textContent = phase;
  const running = phase === "running";
  $("start").disabled = running || phase === "stopping";
  $("stop").disabled = !running;
  $("reset").disabled = running || phase === "stopping";
  const steerable = running && settings && settings.scope !== "compare";
  $("apply").disabled = !steerable;
  $("target").disabled = !steerable;
}

function clearLive() {
  ticks = [];
  tierRows = [];
  for (const id of ["ops", "failures", "tiers"]) $(id).tBodies[0].replaceChildren();
  for (const id of ["downloads", "notes"]) $(id).replaceChildren();
  $("verdict").textContent = "";
  $("schedule").hidden = true;
  $("tier-now").textContent = "";
  for (const s of ["requests", "failures", "rps", "fps", "users"]) $("stat-" + s).textContent = "0";
  for (const s of ["p50", "p95", "p99"]) $("stat-" + s).textContent = "–";
  drawCharts();
}

function onStarted(s) {
  settings = s;
  clearLive();
  const users = s.pace.model === "users";
  $("target-label").textContent = users ? "Change users while running" : "Change the arrival rate (req/s) while running";
  $("target").value = users ? s.users : s.pace.rate;
  setPhase("running");
}

// Percentiles of the last second across operations: the slowest operation's (what a user of
// the mix waits at worst).
function onTick(event) {
  const tick = event.tick;
  ticks.push(tick);
  if (ticks.length > 3600) ticks.shift();
  const all = tick.operations[tick.operations.length - 1];
  const second = tick.point.ops;
  const rps = second.reduce((a, o) => a + o.requests, 0);
  const fps = second.reduce((a, o) => a + o.failures, 0);
  $("stat-requests").textContent = fmt(all.requests, 0);
  $("stat-failures").textContent = fmt(all.failures, 0);
  $("stat-rps").textContent = fmt(rps, 0);
  $("stat-fps").textContent = fmt(fps, 0);
  $("stat-users").textContent = fmt(tick.active, 0);
  $("stat-p50").textContent = fmt(all.p50_ms) + " ms";
  $("stat-p95").textContent = fmt(all.p95_ms) + " ms";
  $("stat-p99").textContent = fmt(all.p99_ms) + " ms";
  if (event.tier) $("tier-now").textContent = "· tier " + event.tier;
  drawOps(tick.operations);
  drawFailures(tick.operations);
  drawSchedule(tick.verdict);
  drawCharts();
}

function drawOps(operations) {
  const body = $("ops").tBodies[0];
  body.replaceChildren();
  for (const o of operations) {
    const row = body.insertRow();
    cell(row, o.name);
    cell(row, fmt(o.requests, 0));
    cell(row, fmt(o.failures, 0));
    cell(row, fmt(o.p50_ms, 2));
    cell(row, fmt(o.p95_ms, 2));
    cell(row, fmt(o.p99_ms, 2));
    cell(row, fmt(o.max_ms, 2));
    cell(row, fmt(o.rps, 1));
  }
}

function drawFailures(operations) {
  const body = $("failures").tBodies[0];
  body.replaceChildren();
  for (const o of operations.slice(0, -1)) {
    for (const [kind, tally] of Object.entries(o.errors)) {
      const row = body.insertRow();
      cell(row, kind);
      cell(row, o.name);
      cell(row, fmt(tally.count, 0));
      cell(row, (tally.samples || [])[0] || "", "sample");
    }
  }
}

function drawSchedule(verdict) {
  const banner = $("schedule");
  if (verdict && verdict.kind === "generator_saturated") {
    banner.textContent = "The generator is saturated: " + verdict.reasons.join("; ");
    banner.hidden = false;
  } else if (verdict && verdict.kind === "target_stalled") {
    banner.textContent = "The target stalls: " + verdict.reason;
    banner.hidden = false;
  } else {
    banner.hidden = true;
  }
}

// One chart: a line per series over the tick times, the axis labelled with its maximum.
function chart(svg, series) {
  const W = 600, H = 200, L = 44, B = 18, T = 8;
  svg.replaceChildren();
  const ns = "http://www.w3.org/2000/svg";
  const el = (name, attrs) => {
    const e = document.createElementNS(ns, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    svg.appendChild(e);
    return e;
  };
  el("line", { x1: L, y1: H - B, x2: W, y2: H - B, class: "axis" });
  el("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" });
  if (ticks.length === 0) return;
  const ts = ticks.map((t) => t.point.t);
  const t0 = ts[0], t1 = Math.max(ts[ts.length - 1], t0 + 1);
  const top = Math.max(1e-9, ...series.flatMap((s) => s.values));
  el("text", { x: 2, y: T + 10 }).textContent = fmt(top, top < 10 ? 2 : 0);
  el("text", { x: 2, y: H - B }).textContent = "0";
  el("text", { x: W - 40, y: H - 4 }).textContent = fmt(t1, 0) + " s";
  series.forEach((s, i) => {
    const d = s.values.map((v, j) => {
      const x = L + ((ts[j] - t0) / (t1 - t0)) * (W - L - 4);
      const y = H - B - (v / top) * (H - B - T);
      return (j ? "L" : "M") + x.toFixed(1) + " " + y.toFixed(1);
    }).join(" ");
    el("path", { d: ticks.length === 1 ? d + " h2" : d, class: "line", stroke: COLORS[i % COLORS.length] });
    el("text", { x: L + 6 + i * 90, y: T + 10, fill: COLORS[i % COLORS.length] }).textContent = s.name;
  });
}

function drawCharts() {
  const sum = (key) => ticks.map((t) => t.point.ops.reduce((a, o) => a + o[key], 0));
  const worst = (key) => ticks.map((t) => t.point.ops.reduce((a, o) => Math.max(a, o[key]), 0));
  chart($("chart-rps"), [{ name: "req/s", values: sum("requests") }, { name: "failures/s", values: sum("failures") }]);
  chart($("chart-latency"), [
    { name: "p50", values: worst("p50_ms") },
    { name: "p95", values: worst("p95_ms") },
    { name: "p99", values: worst("p99_ms") },
  ]);
  chart($("chart-users"), [{ name: "users", values: ticks.map((t) => t.active) }, { name: "target", values: ticks.map((t) => t.point.target) }]);
}

function onTier(event) {
  const i = tierRows.findIndex((r) => r.tier === event.tier);
  if (i >= 0) tierRows[i] = event; else tierRows.push(event);
  if (event.status === "running") {
    ticks = [];
    $("tier-now").textContent = "· tier " + event.tier;
  }
  const direct = tierRows.find((r) => r.tier === "direct" && r.summary);
  const body = $("tiers").tBodies[0];
  body.replaceChildren();
  for (const r of tierRows) {
    const row = body.insertRow();
    const s = r.summary;
    cell(row, r.tier);
    cell(row, r.status === "not_run" ? "not run: " + r.why : r.status);
    cell(row, s ? fmt(s.rps) : "");
    cell(row, s ? fmt(s.p50_ms, 2) : "");
    cell(row, s ? fmt(s.p95_ms, 2) : "");
    cell(row, s ? fmt(s.p99_ms, 2) : "");
    cell(row, s ? fmt(100 * s.error_rate, 2) + "%" : "");
    const added = (key) => (s && direct && r.tier !== "direct" && !r.tier.startsWith("rest") ? "+" + fmt(s[key] - direct.summary[key], 2) + " ms" : "");
    cell(row, added("p50_ms"));
    cell(row, added("p95_ms"));
  }
}

function onDone(event) {
  $("verdict").textContent = "Run " + event.run_id + ": " + event.verdict +
    (event.reasons.length ? " — " + event.reasons.join("; ") : "");
  const list = $("downloads");
  list.replaceChildren();
  for (const file of event.files) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = "/runs/" + encodeURIComponent(event.run_id) + "/" + encodeURIComponent(file);
    a.download = event.run_id + "-" + file;
    a.id = "download-" + file.replace(/[^a-z0-9]/gi, "-");
    a.textContent = file;
    li.appendChild(a);
    list.appendChild(li);
  }
  for (const w of event.warnings) note(w);
  setPhase("finished");
}

function note(text) {
  const li = document.createElement("li");
  li.textContent = text;
  $("notes").appendChild(li);
}

function onHello(view) {
  clearLive();
  settings = view.settings;
  if (settings) onStarted(settings);
  for (const t of view.tiers) onTier(t);
  for (const t of view.ticks) onTick(t);
  for (const n of view.notes) note(n);
  if (view.done) onDone(view.done);
  if (view.error) $("form-error").textContent = view.error;
  setPhase(view.phase);
}

function connect() {
  const source = new EventSource("/api/events");
  source.onmessage = (message) => {
    const event = JSON.parse(message.data);
    switch (event.type) {
      case "hello": onHello(event.view); break;
      case "started": onStarted(event.settings); break;
      case "tick": onTick(event); break;
      case "tier": onTier(event); break;
      case "note": note(event.text); break;
      case "target": $("target").value = event.value; break;
      case "stopping": setPhase("stopping"); break;
      case "done": onDone(event); break;
      case "failed": $("form-error").textContent = "The run failed: " + event.message; setPhase("failed"); break;
      case "reset": onHello({ phase: "idle", settings: null, tiers: [], ticks: [], notes: [], done: null, error: null }); break;
    }
  };
}

function fillDefaults() {
  const d = meta.defaults;
  $("tier").value = d.tier;
  $("users").value = d.users;
  $("spawn_rate").value = d.spawn_rate;
  $("rate").value = d.rate;
  $("run_time").value = d.run_time;
  $("classes").value = d.classes[kindOf(d.tier)];
  drawClasses();
}

async function init() {
  meta = await (await fetch("/api/meta")).json();
  $("measuring").textContent = "Measuring " + meta.measuring + ".";
  for (const t of meta.tiers) $("tier").add(new Option(t.label, t.value));
  fillDefaults();
  $("tier").addEventListener("change", () => {
    $("classes").value = meta.defaults.classes[kindOf($("tier").value)];
    drawClasses();
  });
  $("classes").addEventListener("change", drawClasses);
  $("run-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    showErrors(null);
    const form = Object.fromEntries(FIELDS.map((f) => [f, $(f).value]));
    const { ok, answer } = await post("/api/start", form);
    if (!ok) showErrors(answer.errors);
  });
  $("stop").addEventListener("click", async () => {
    const { ok, answer } = await post("/api/stop");
    if (!ok) showErrors(answer.errors);
  });
  // The form returns to its defaults before the reset is sent, never after: what is typed once
  // the page shows idle stays typed.
  $("reset").addEventListener("click", async () => {
    showErrors(null);
    fillDefaults();
    const { ok, answer } = await post("/api/reset");
    if (!ok) showErrors(answer.errors);
  });
  $("steer-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("target-error").textContent = "";
    const { ok, answer } = await post("/api/target", { value: $("target").value });
    if (!ok) showErrors(answer.errors);
  });
  setPhase("idle");
  connect();
}

init();
