// The restoration page: uploads each dropped file to /api/jobs, polls its state, shows before/after.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { info: null, jobs: [], selected: null, picked: false };

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text) node.textContent = text;
  return node;
}

function mb(bytes) { return (bytes / 2 ** 20).toFixed(1) + " MB"; }

async function init() {
  const response = await fetch("/api/model");
  const info = await response.json();
  state.info = info;
  const select = $("task");
  if (info.classifier) select.append(el("option", { value: "auto" }, "auto (the classifier chooses)"));
  for (const head of info.heads) select.append(el("option", { value: head }, head));
  select.value = info.default_task;
  $("model").textContent = `${info.model}: heads ${info.heads.join(", ")}` +
    (info.classifier ? "; auto: " + info.classes.join(" / ") : "; no degradation classifier");
  select.addEventListener("change", syncChain);
  syncChain();
}

function syncChain() {
  const auto = $("task").value === "auto";
  $("chain").disabled = !auto;
  if (!auto) $("chain").checked = false;
}

// --- uploads and the job list ------------------------------------------------------------------

function addJob(name) {
  const job = { name, id: null, data: null, li: el("li", { class: "job" }) };
  job.li.append(el("span", { class: "name", title: name }, name), el("progress", { max: "1", value: "0" }),
                el("span", { class: "status" }, "uploading…"));
  job.li.addEventListener("click", () => { if (job.data && job.data.state === "done") { state.picked = true; select(job); } });
  $("jobs").append(job.li);
  state.jobs.push(job);
  return job;
}

function fail(job, message) {
  job.li.className = "job failed";
  job.li.querySelector("progress").hidden = true;
  const status = job.li.querySelector(".status");
  status.className = "status error";
  status.setAttribute("role", "alert");
  status.textContent = "error: " + message;
}

async function upload(file) {
  const job = addJob(file.name);
  const limit = state.info.max_upload_bytes;
  if (file.size > limit) {
    fail(job, `${file.name}: the file is ${mb(file.size)}, over the upload limit of ${mb(limit)}`);
    return;
  }
  const query = new URLSearchParams({ name: file.name, task: $("task").value, chain: $("chain").checked ? "1" : "0" });
  let response, body;
  try {
    response = await fetch("/api/jobs?" + query, { method: "POST", body: file,
                                                  headers: { "Content-Type": "application/octet-stream" } });
    body = await response.json();
  } catch (error) {
    fail(job, `${file.name}: the upload failed (${error.message}); is the app still running?`);
    return;
  }
  if (!response.ok) { fail(job, body.error || `${file.name}: HTTP ${response.status}`); return; }
  job.id = body.id;
  update(job, body);
  poll(job);
}

async function poll(job) {
  while (true) {
    await new Promise((resolve) => setTimeout(resolve, 150));
    let body;
    try {
      body = await (await fetch(`/api/jobs/${job.id}`)).json();
    } catch (error) {
      fail(job, `${job.name}: lost the server (${error.message})`);
      return;
    }
    update(job, body);
    if (body.state === "done" || body.state === "failed" || body.error) return;
  }
}

function statusText(data) {
  const p = data.progress;
  if (data.state === "queued") return `queued, position ${data.position}`;
  if (data.state === "running") {
    if (!p.total) return data.task === "auto" ? "classifying…" : "restoring…";
    const pass = p.pass > 1 ? ` (head ${p.pass})` : "";
    return p.total > 1 ? `restoring: tile ${p.done} of ${p.total}${pass}` : `restoring${pass}…`;
  }
  if (data.state === "done") return `done in ${data.seconds.toFixed(2)} s: ${data.summary}`;
  return data.error;
}

function update(job, data) {
  job.data = data;
  if (data.state === "failed" || (data.error && data.state !== "done")) { fail(job, data.error); return; }
  const bar = job.li.querySelector("progress");
  if (data.state === "done") { bar.max = 1; bar.value = 1; }
  else if (data.state === "running" && data.progress.total) { bar.max = data.progress.total; bar.value = data.progress.done; }
  else bar.removeAttribute("value");  // indeterminate while queued or classifying
  job.li.className = "job " + data.state + (state.selected === job ? " selected" : "");
  job.li.querySelector(".status").textContent = statusText(data);
  if (data.state === "done" && (!state.picked || !state.selected)) select(job);
}

// --- the viewer ----------------------------------------------------------------------------------

function select(job) {
  state.selected = job;
  for (const other of state.jobs) other.li.classList.toggle("selected", other === job);
  const data = job.data;
  $("viewer").hidden = false;
  $("title").textContent = `${data.name} · ${data.width}×${data.height}` +
    (data.bit_depth === 16 ? " · 16-bit" : "") + (data.alpha ? " · alpha" : "");
  for (const id of ["before", "slider-before"]) $(id).src = data.input;
  for (const id of ["after", "slider-after"]) $(id).src = data.result;
  const link = $("download");
  link.href = data.result;
  link.setAttribute("download", data.download);
  showClasses(data);
  applyZoom();
}

function showClasses(data) {
  const box = $("classes");
  box.replaceChildren();
  if (!data.steps || !data.steps.length) {
    box.append(el("span", { class: "steps" }, `head: ${data.heads.join(", ")}`));
    return;
  }
  const first = data.steps[0];
  const ranked = Object.entries(first.probabilities).sort((a, b) => b[1] - a[1]);
  box.append(el("span", {}, "predicted degradation:"));
  for (const [name, p] of ranked) {
    const item = el("span", { class: "prob" + (name === first.task ? " best" : "") });
    item.append(el("span", {}, name), el("meter", { min: "0", max: "1", value: String(p) }), el("span", {}, p.toFixed(2)));
    box.append(item);
  }
  box.append(el("span", { class: "steps" }, data.steps.map((s, k) => (data.steps.length > 1 ? `step ${k + 1}: ` : "") + s.text).join("; ")));
}

function applyZoom() {
  const job = state.selected;
  if (!job) return;
  const zoom = $("zoom").value;
  const { width, height } = job.data;
  for (const id of ["before", "after", "slider-before", "slider-after"]) {
    const img = $(id);
    const pane = img.closest(".pane");
    let scale;
    if (zoom === "fit") {
      const room = pane.clientWidth || width;
      scale = Math.min(1, room / width);
    } else scale = Number(zoom) / 100;
    img.style.width = `${Math.round(width * scale)}px`;
    img.style.height = `${Math.round(height * scale)}px`;
    pane.classList.toggle("pixelated", scale > 1);
  }
}

function applySplit() {
  const v = Number($("split").value);
  $("slider-before").style.clipPath = `inset(0 ${100 - v}% 0 0)`;
  $("divider").style.left = `${v}%`;
}

function showMode() {
  const slider = $("mode").value === "slider";
  $("side").hidden = slider;
  $("slider").hidden = !slider;
  applyZoom();
}

// side-by-side panes scroll together, so both show the same region when zoomed in
function syncScroll() {
  const panes = [...document.querySelectorAll("#side .pane")];
  let busy = false;
  for (const pane of panes) {
    pane.addEventListener("scroll", () => {
      if (busy) return;
      busy = true;
      for (const other of panes) if (other !== pane) { other.scrollLeft = pane.scrollLeft; other.scrollTop = pane.scrollTop; }
      requestAnimationFrame(() => { busy = false; });
    });
  }
}

function wireDrop() {
  const drop = $("drop");
  const files = $("files");
  files.addEventListener("change", () => { for (const f of files.files) upload(f); files.value = ""; });
  for (const kind of ["dragenter", "dragover"]) {
    drop.addEventListener(kind, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    for (const f of e.dataTransfer.files) upload(f);
  });
  // a file dropped beside the box must not make the browser navigate away from the page
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
}

$("zoom").addEventListener("change", applyZoom);
$("mode").addEventListener("change", showMode);
$("split").addEventListener("input", applySplit);
window.addEventListener("resize", applyZoom);
wireDrop();
syncScroll();
applySplit();
init().catch((error) => { $("model").textContent = `cannot reach the app: ${error.message}`; });
