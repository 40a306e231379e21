// gramstyle's page: plain JavaScript, no build step. Talks to the REST API of this server.
"use strict";

const $ = (id) => document.getElementById(id);
const FINAL = new Set(["done", "failed", "cancelled"]);
const SIZES = [256, 384, 512, 768, 1024, 1536, 2048];
const TOKEN_KEY = "gramstyle-token";

const state = {
  token: null,
  limits: null,
  content: null, // {file, name, url}
  styles: [], // [{file, name, url, weight}]
  strength: {}, // per method: the slider sets the setting its method names (its "control")
  steps: null, // the Gatys step fields, kept while the quality preset chooses steps by size
  touched: false, // the slider was moved in Quality mode (else the preset's strength holds)
  es: null,
  jobId: null,
  job: null,
  shownPreview: 0,
  previewTicket: 0,
  explainTimer: null,
};

// ---------------------------------------------------------------- API

class AuthError extends Error {}

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (state.token) headers.set("Authorization", "Bearer " + state.token);
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401 || response.status === 403) {
    askToken(response.status === 403 ? "That token is not the server's." : "");
    throw new AuthError("this server needs a token");
  }
  return response;
}

async function jsonOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    /* not JSON */
  }
  if (!response.ok) throw new Error((body && body.error) || `the server answered ${response.status}`);
  return body;
}

// The token arrives once in the URL (?token=...), is kept for this tab only, and leaves
// the address bar at once. The server also gets it as a SameSite cookie so that images
// and the event stream (which cannot send a header) are allowed too.
function initToken() {
  const url = new URL(location.href);
  const given = url.searchParams.get("token");
  if (given) {
    sessionStorage.setItem(TOKEN_KEY, given);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  state.token = sessionStorage.getItem(TOKEN_KEY);
}

function askToken(message) {
  const dialog = $("token-dialog");
  $("token-error").textContent = message || "";
  if (!dialog.open) dialog.showModal();
}

$("token-form").addEventListener("submit", () => {
  sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
  location.reload();
});

// ---------------------------------------------------------------- formatting

function fmtTime(seconds) {
  if (seconds == null || !isFinite(seconds)) return "";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${r}` : `${m}:${r}`;
}

function fmtCost(x) {
  if (x == null || !isFinite(x)) return "";
  return x !== 0 && (Math.abs(x) >= 1000 || Math.abs(x) < 0.01) ? x.toExponential(2) : x.toPrecision(3);
}

function ago(epoch) {
  const s = Date.now() / 1000 - epoch;
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(epoch * 1000).toLocaleDateString();
}

// The methods the server runs (/api/limits), by name; the first is the default.
function methodInfo(name) {
  return (state.limits.methods || []).find((m) => m.name === name);
}

// A job's method as the page names it: a preset job by its preset ("Quality").
function methodLabel(job) {
  if (job.preset) return job.preset[0].toUpperCase() + job.preset.slice(1);
  const info = methodInfo(job.settings.method);
  return info ? info.label : job.settings.method;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined) node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function bold(text) {
  return el("b", {}, String(text));
}

// ---------------------------------------------------------------- inputs

function showError(message) {
  $("form-error").textContent = message || "";
}

function isImage(file) {
  return file && (file.type.startsWith("image/") || /\.(jpe?g|png|webp|gif|bmp|tiff?)$/i.test(file.name));
}

function setContent(file) {
  if (!isImage(file)) return showError(`${file.name} is not an image.`);
  if (state.content) URL.revokeObjectURL(state.content.url);
  state.content = { file, name: file.name, url: URL.createObjectURL(file) };
  const thumb = $("content-thumb");
  thumb.src = state.content.url;
  thumb.hidden = false;
  $("content-name").textContent = file.name;
  $("content-drop").classList.add("has-image");
  showError("");
}

function addStyles(files) {
  const max = state.limits ? state.limits.max_styles : 4;
  for (const file of files) {
    if (!isImage(file)) {
      showError(`${file.name} is not an image.`);
      continue;
    }
    if (state.styles.length >= max) {
      showError(`At most ${max} styles per picture.`);
      break;
    }
    state.styles.push({ file, name: file.name, url: URL.createObjectURL(file), weight: 1 });
    showError("");
  }
  renderStyles();
}

function renderStyles() {
  const list = $("styles");
  list.replaceChildren();
  const several = state.styles.length > 1;
  state.styles.forEach((style, index) => {
    const out = el("output", {}, String(style.weight.toFixed(1)));
    const slider = el("input", {
      type: "range", min: "0", max: "1", step: "0.1", value: String(style.weight),
      "aria-label": `Weight of ${style.name}`,
      oninput: (e) => {
        style.weight = Number(e.target.value);
        out.textContent = style.weight.toFixed(1);
      },
    });
    const meta = el("div", { class: "meta" }, el("div", { class: "name" }, style.name));
    if (several) meta.append(el("div", { class: "weight" }, "blend", slider, out));
    else meta.append(el("div", { class: "weight" }, "style image"));
    list.append(
      el("li", { class: "style-item" },
        el("img", { src: style.url, alt: "" }),
        meta,
        el("button", {
          type: "button", class: "remove", title: "Remove", "aria-label": `Remove ${style.name}`,
          onclick: () => {
            URL.revokeObjectURL(style.url);
            state.styles.splice(index, 1);
            renderStyles();
          },
        }, "×")));
  });
}

function bindDrop(zone, input, accept) {
  input.addEventListener("change", () => {
    accept([...input.files]);
    input.value = "";
  });
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => {
      e.preventDefault();
      zone.classList.add("dragover");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    zone.addEventListener(type, () => zone.classList.remove("dragover"));
  }
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    accept([...e.dataTransfer.files]);
  });
}

async function loadSamples() {
  const { samples } = await jsonOf(await api("/api/samples"));
  for (const sample of samples) {
    const chip = el("button", { type: "button", class: "chip", title: sample.credit },
      el("img", { src: sample.url, alt: "" }), sample.title);
    chip.addEventListener("click", async () => {
      try {
        const blob = await (await api(sample.url)).blob();
        const ext = blob.type === "image/jpeg" ? ".jpg" : ".png";
        const file = new File([blob], sample.name + ext, { type: blob.type });
        if (sample.kind === "content") setContent(file);
        else addStyles([file]);
      } catch (e) {
        showError(e.message);
      }
    });
    $(sample.kind === "content" ? "content-samples" : "style-samples").append(chip);
  }
}

function applyLimits() {
  const d = state.limits.defaults;
  const sizes = SIZES.filter((s) => s <= state.limits.max_size);
  const chosen = sizes.includes(d.size) ? d.size : sizes[sizes.length - 1];
  $("sizes").replaceChildren(...sizes.map((s) =>
    el("label", {}, el("input", { type: "radio", name: "size", value: String(s), ...(s === chosen ? { checked: "" } : {}) }),
      el("span", {}, String(s)))));
  const presets = Object.entries(state.limits.presets || {});
  const choice = (value, label, note, title) =>
    el("label", title ? { title } : {}, el("input", { type: "radio", name: "method", value }),
      el("span", {}, `${label} `, el("em", {}, note)));
  const choices = [];
  state.limits.methods.forEach((m, i) => {
    state.strength[m.name] = d[m.control];
    choices.push(choice(m.name, m.label, m.pace, m.help));
    if (i === 0) {
      for (const [name, p] of presets) {
        choices.push(choice(name, name[0].toUpperCase() + name.slice(1), `${m.label}, ${p.pace}`, `The ${name} preset: ${p.note}`));
      }
    }
  });
  $("methods").replaceChildren(...choices);
  $("methods").querySelector("input").checked = true;
  state.shown = method();
  $("strength").value = state.strength[method()];
  $("style-scale").value = d.style_scale ?? 1; // unset: 1, never above the painting's own size
  $("steps").value = d.steps;
  $("coarse-steps").value = d.coarse_steps;
  $("seed").value = d.seed;
  for (const id of ["steps", "coarse-steps"]) $(id).max = state.limits.max_steps;
  showSliders();
}

function method() {
  return document.querySelector('input[name="method"]:checked').value;
}

function chosenSize() {
  return Number(document.querySelector('input[name="size"]:checked').value);
}

// A choice of the method list that is a preset ("draft", "quality"), not a method.
function isPreset(choice) {
  return Object.hasOwn(state.limits.presets || {}, choice);
}

// The method the form asks for: a preset runs the default method.
function chosenMethod() {
  const m = method();
  return isPreset(m) ? state.limits.methods[0] : methodInfo(m);
}

// A preset's values for an output of this size: its first entry whose side is at least
// the size (presets.preset_values' rule, over the table /api/limits sends; null: any).
function presetValues(name, size) {
  const entry = state.limits.presets[name].settings.find(([side]) => side === null || size <= side);
  return entry ? entry[1] : {};
}

// With a preset the slider shows the preset's strength for the chosen size until moved.
function followPreset() {
  if (!isPreset(method()) || state.touched) return;
  $("strength").value = presetValues(method(), chosenSize()).strength ?? state.strength[chosenMethod().name];
  showSliders();
}

// "Photo look": photorealistic transfer (--photoreal), with optional label maps.
function photoLook() {
  return $("photo-look").checked;
}

function showLook() {
  const photo = photoLook();
  $("labels-field").hidden = !photo;
  for (const input of document.querySelectorAll('input[name="preserve_color"]')) {
    input.disabled = photo;
    if (photo && input.value === "none") input.checked = true;
  }
}

function showSliders() {
  const v = Number($("strength").value);
  $("strength-out").textContent = v.toFixed(Math.round(v * 100) === v * 100 ? 2 : 3);
  $("scale-out").textContent = Number($("style-scale").value).toFixed(2).replace(/0$/, "") + "×";
  const onePass = !chosenMethod().iterative;
  for (const id of ["steps", "coarse-steps"]) $(id).disabled = onePass;
}

// A preset picks its steps (the quality preset by size): its step fields start empty
// ("preset's"), and a number typed there still wins; the method's come back on leaving.
function swapSteps(from, to) {
  const ids = ["steps", "coarse-steps"];
  if (isPreset(to)) {
    if (!isPreset(from)) state.steps = ids.map((id) => $(id).value);
    for (const id of ids) { $(id).value = ""; $(id).placeholder = "preset's"; }
  } else if (isPreset(from)) {
    ids.forEach((id, i) => { $(id).value = state.steps ? state.steps[i] : ""; $(id).placeholder = ""; });
  }
}

function collectSettings() {
  const m = method();
  const info = chosenMethod();
  const s = {
    method: info.name,
    ...(isPreset(m) ? { preset: m } : {}),
    size: chosenSize(),
    preserve_color: document.querySelector('input[name="preserve_color"]:checked').value,
  };
  if (photoLook()) {  // the style photo's colours: no colour preservation beside it
    s.photoreal = true;
    s.preserve_color = "none";
  }
  if (!isPreset(m) || state.touched) s[info.control] = Number($("strength").value);
  // Left at 1: the server's default, which never upscales a small painting.
  if (Number($("style-scale").value) !== 1) s.style_scale = Number($("style-scale").value);
  for (const [id, key] of [["steps", "steps"], ["coarse-steps", "coarse_steps"], ["seed", "seed"]]) {
    if ($(id).value !== "" && (info.iterative || key === "seed")) s[key] = Number($(id).value);
  }
  return s;
}

async function submit(event) {
  event.preventDefault();
  showError("");
  if (!state.content) return showError("Choose a photo first.");
  if (!state.styles.length) return showError("Add at least one style.");
  if (state.styles.every((s) => s.weight === 0)) return showError("Give at least one style a weight.");
  const form = new FormData();
  form.append("content", state.content.file, state.content.name);
  for (const s of state.styles) form.append("style", s.file, s.name);
  form.append("settings", JSON.stringify(collectSettings()));
  const contentLabels = $("content-labels").files, styleLabels = $("style-labels").files;
  if (photoLook() && (contentLabels.length || styleLabels.length)) {
    if (!contentLabels.length || styleLabels.length !== state.styles.length) {
      return showError(`Give the photo's label map and one per style (${state.styles.length}), or none.`);
    }
    form.append("content_labels", contentLabels[0], contentLabels[0].name);
    for (const f of styleLabels) form.append("style_labels", f, f.name);
  }
  if (state.styles.length > 1) form.append("blend", JSON.stringify(state.styles.map((s) => s.weight)));
  const go = $("go");
  go.disabled = true;
  go.textContent = "Uploading…";
  try {
    const { id } = await jsonOf(await api("/api/jobs", { method: "POST", body: form }));
    watch(id, true);
    refreshJobs();
  } catch (e) {
    if (!(e instanceof AuthError)) showError(e.message);
  } finally {
    go.disabled = false;
    go.textContent = "Stylise";
  }
}

// ---------------------------------------------------------------- the running job

function watch(id, scroll = false) {
  if (state.es) state.es.close();
  clearTimeout(state.explainTimer);
  state.jobId = id;
  state.job = null;
  state.shownPreview = 0;
  history.replaceState(null, "", `#job=${id}`);
  $("preview").hidden = true;
  $("empty").hidden = false;
  $("canvas").classList.remove("has-image");
  const es = new EventSource(`/api/jobs/${id}/events`);
  state.es = es;
  es.onmessage = (message) => {
    const job = JSON.parse(message.data);
    if (job.id !== state.jobId) return;
    render(job);
    if (FINAL.has(job.status)) {
      es.close();
      refreshJobs();
    }
  };
  es.onerror = async () => {
    if (es.readyState !== EventSource.CLOSED || state.es !== es) return; // it reconnects itself
    try {
      render(await jsonOf(await api(`/api/jobs/${id}`)));
    } catch (e) {
      setStatus(e.message, "error");
    }
  };
  if (scroll && window.matchMedia("(max-width: 900px)").matches) {
    $("stage").scrollIntoView({ behavior: "smooth", block: "start" });
  }
  highlightCurrent();
}

function showImage(url) {
  // Swap only once the new image has loaded (no flicker), and never an older one.
  const ticket = ++state.previewTicket;
  const img = new Image();
  img.onload = () => {
    if (ticket !== state.previewTicket) return;
    const preview = $("preview");
    preview.src = url;
    preview.hidden = false;
    $("empty").hidden = true;
    $("canvas").classList.add("has-image");
  };
  img.src = url;
}

function setStatus(text, kind = "") {
  const line = $("status-line");
  line.textContent = text;
  line.className = "status-line " + kind;
}

function stat(id, ...parts) {
  $(id).replaceChildren(...parts);
}

function render(job) {
  state.job = job;
  const { id, status } = job;
  const running = status === "running";
  const badge = $("badge");
  badge.hidden = !(running || status === "queued");
  badge.classList.toggle("live", running);
  badge.textContent = status === "queued"
    ? `Queued · ${job.queue_position || "?"} of ${job.queue_length || "?"} waiting`
    : running ? "Painting" : "";

  $("progress").hidden = !(running || status === "queued" || status === "done");
  const waiting = status === "queued" || (running && !job.total);
  $("bar").classList.toggle("waiting", waiting);
  const pct = job.total ? (100 * job.done) / job.total : 0;
  $("bar-fill").style.width = `${status === "done" ? 100 : pct}%`;
  $("bar").setAttribute("aria-valuenow", String(Math.round(status === "done" ? 100 : pct)));

  const info = job.settings && methodInfo(job.settings.method);
  if (job.total && info && !info.iterative) {
    stat("stat-step", `one pass (${info.label})`);
    stat("stat-scale", job.size ? `${job.size[1]}×${job.size[0]}` : "");
    stat("stat-cost");
  } else if (job.total) {
    stat("stat-step", "step ", bold(job.done), ` of ${job.total}`);
    stat("stat-scale", job.size ? `scale ${job.scale + 1}/${job.scales} · ${job.size[1]}×${job.size[0]}` : "");
    stat("stat-cost", job.loss != null ? "cost " : "", job.loss != null ? bold(fmtCost(job.loss)) : "");
  } else {
    stat("stat-step", status === "queued" ? "waiting for a free worker" : running ? "preparing…" : "");
    stat("stat-scale");
    stat("stat-cost");
  }
  if (running && job.done >= 3 && job.eta != null) stat("stat-eta", "about ", bold(fmtTime(job.eta)), " left");
  else if (running && job.total) stat("stat-eta", "estimating time…");
  else if (status === "done") stat("stat-eta", "took ", bold(fmtTime(job.elapsed)));
  else stat("stat-eta");

  if (job.preview > state.shownPreview && status !== "done") {
    state.shownPreview = job.preview;
    showImage(`/api/jobs/${id}/preview?v=${job.preview}`);
  }
  if (status === "done" && state.shownPreview !== Infinity) {
    state.shownPreview = Infinity;
    showImage(`/api/jobs/${id}/result`);
  }

  if (status === "done") setStatus(`Done: ${job.size[1]}×${job.size[0]} px.`, "ok");
  else if (status === "failed") setStatus(`Failed: ${job.error}`, "error");
  else if (status === "cancelled") setStatus(`Cancelled after ${job.done} steps.`);
  else setStatus("");

  const download = $("download");
  download.hidden = status !== "done";
  download.href = `/api/jobs/${id}/result`;
  download.download = `gramstyle-${id}.png`;
  $("cancel").hidden = !(running || status === "queued");
  $("reuse").hidden = false;
  renderExplain(job);
}

function renderExplain(job) {
  const button = $("explain");
  const report = $("report");
  const done = job.status === "done";
  const pending = job.explain === "queued" || job.explain === "running";
  button.hidden = !done || job.explain === "done";
  button.disabled = pending;
  button.textContent = pending ? "Preparing the report…" : job.explain === "failed" ? "Retry the report" : "Explain the style";
  report.hidden = job.explain !== "done";
  report.href = `/api/jobs/${job.id}/explain/index.html`;
  if (job.explain === "failed") setStatus(`The report failed: ${job.explain_error}`, "error");
  clearTimeout(state.explainTimer);
  if (pending) {
    state.explainTimer = setTimeout(async () => {
      try {
        const fresh = await jsonOf(await api(`/api/jobs/${job.id}`));
        if (fresh.id === state.jobId) render(fresh);
      } catch (_) {
        /* try again on the next render */
      }
    }, 1500);
  }
}

$("cancel").addEventListener("click", async () => {
  if (!state.jobId) return;
  $("cancel").disabled = true;
  try {
    render(await jsonOf(await api(`/api/jobs/${state.jobId}`, { method: "DELETE" })));
  } catch (e) {
    setStatus(e.message, "error");
  } finally {
    $("cancel").disabled = false;
  }
});

$("explain").addEventListener("click", async () => {
  if (!state.jobId) return;
  try {
    render(await jsonOf(await api(`/api/jobs/${state.jobId}/explain`, { method: "POST" })));
  } catch (e) {
    setStatus(e.message, "error");
  }
});

// ---------------------------------------------------------------- recent jobs

function highlightCurrent() {
  for (const li of document.querySelectorAll(".job")) li.classList.toggle("current", li.dataset.id === state.jobId);
}

// A job's inputs as the API names them: the photo, then each style.
function inputNames(job) {
  return ["content", ...Array.from({ length: job.styles }, (_, k) => `style_${k + 1}`)];
}

function inputUrl(job, name, small = false) {
  return `/api/jobs/${job.id}/inputs/${name}${small ? "?small=true" : ""}`;
}

// The uploads' file names (a job from before names were kept: what they were).
function jobNames(job) {
  return job.names || ["photo", ...Array.from({ length: job.styles }, (_, k) => `style ${k + 1}`)];
}

// ---------------------------------------------------------------- a job back in the form

function check(selector) {
  const input = document.querySelector(selector);
  if (input) input.checked = true;
  return Boolean(input);
}

// Puts a job's photo, styles (with their blend weights) and settings back in the form,
// so that it can be changed and run again.
async function restoreJob(job) {
  const s = job.settings;
  const info = methodInfo(s.method);
  const choice = job.preset && check(`input[name="method"][value="${job.preset}"]`) ? job.preset
    : info && check(`input[name="method"][value="${s.method}"]`) ? s.method : null;
  if (choice) {
    swapSteps(state.shown, choice);
    state.shown = choice;
  }
  const sizes = [...document.querySelectorAll('input[name="size"]')].map((i) => Number(i.value));
  const size = sizes.reduce((a, b) => (Math.abs(b - s.size) < Math.abs(a - s.size) ? b : a), sizes[0]);
  check(`input[name="size"][value="${size}"]`);
  check(`input[name="preserve_color"][value="${s.preserve_color || "none"}"]`);
  check(`input[name="look"][value="${s.photoreal ? "photo" : "painting"}"]`);
  showLook();
  const control = (info || chosenMethod()).control;
  if (control in s) {
    $("strength").value = s[control];
    if (isPreset(choice)) state.touched = s[control] !== presetValues(choice, s.size)[control];
    else if (info) state.strength[info.name] = s[control];
  }
  $("style-scale").value = s.style_scale ?? 1;
  $("seed").value = s.seed ?? "";
  if (!isPreset(choice)) {
    $("steps").value = s.steps ?? "";
    $("coarse-steps").value = s.coarse_steps ?? "";
  }
  showSliders();
  const names = jobNames(job);
  const files = await Promise.all(inputNames(job).map(async (name, k) => {
    const blob = await (await api(inputUrl(job, name))).blob();
    return new File([blob], names[k], { type: blob.type || "image/png" });
  }));
  setContent(files[0]);
  for (const style of state.styles) URL.revokeObjectURL(style.url);
  state.styles = [];
  addStyles(files.slice(1));
  (job.blend || []).forEach((w, k) => { if (state.styles[k]) state.styles[k].weight = w; });
  renderStyles();
}

async function reuse(id) {
  try {
    await restoreJob(await jsonOf(await api(`/api/jobs/${id}`)));
  } catch (e) {
    if (!(e instanceof AuthError)) showError(`Could not restore job ${id}: ${e.message}`);
  }
}

async function refreshJobs() {
  let jobs;
  try {
    ({ jobs } = await jsonOf(await api("/api/jobs")));
  } catch (_) {
    return;
  }
  const list = $("jobs");
  if (!jobs.length) {
    list.replaceChildren(el("li", { class: "none" }, "No jobs yet."));
  } else {
    list.replaceChildren(...jobs.slice(0, 12).map((job) => {
      // The picture so far (or the result); before the first preview, the photo.
      const src = job.preview ? `/api/jobs/${job.id}/preview?v=${job.preview}` : inputUrl(job, "content", true);
      const thumb = el("img", { class: "thumb", alt: "", loading: "lazy", src });
      const s = job.settings;
      const names = jobNames(job);
      const detail = job.status === "queued" ? `position ${job.queue_position}`
        : job.status === "running" ? `step ${job.done} of ${job.total}` : ago(job.created);
      const inputs = el("div", { class: "inputs" },
        ...inputNames(job).map((name, k) => el("img", {
          alt: "", loading: "lazy", title: names[k], src: inputUrl(job, name, true),
        })));
      const li = el("li", { class: "job", tabindex: "0", "data-id": job.id, title: names.join(" · ") },
        thumb,
        el("div", { class: "what" },
          el("div", { class: "names" }, bold(names[0]), " × ", names.slice(1).join(" + ")),
          el("div", {}, `${s.size} px · ${methodLabel(job)} · ${detail}`),
          inputs),
        el("span", { class: `pill ${job.status}` }, job.status));
      li.addEventListener("click", () => watch(job.id, true));
      li.addEventListener("keydown", (e) => { if (e.key === "Enter") watch(job.id, true); });
      return li;
    }));
  }
  const running = jobs.filter((j) => j.status === "running").length;
  const queued = jobs.filter((j) => j.status === "queued").length;
  $("queue-note").textContent = running || queued ? `${running} running · ${queued} waiting` : "";
  highlightCurrent();
}

// ---------------------------------------------------------------- start

async function start() {
  initToken();
  bindDrop($("content-drop"), $("content-input"), (files) => files[0] && setContent(files[0]));
  bindDrop($("style-drop"), $("style-input"), addStyles);
  $("form").addEventListener("submit", submit);
  $("strength").addEventListener("input", (e) => {
    if (isPreset(method())) state.touched = true;
    else state.strength[method()] = Number(e.target.value);
    showSliders();
  });
  $("sizes").addEventListener("change", followPreset);
  for (const input of document.querySelectorAll('input[name="look"]')) {
    input.addEventListener("change", showLook);
  }
  $("style-scale").addEventListener("input", showSliders);
  $("methods").addEventListener("change", () => {
    swapSteps(state.shown, method());
    state.shown = method();
    state.touched = false;
    if (isPreset(method())) return followPreset();
    $("strength").value = state.strength[method()];
    showSliders();
  });
  try {
    if (state.token) await api("/api/session", { method: "POST" });
    state.limits = await jsonOf(await api("/api/limits"));
  } catch (e) {
    if (!(e instanceof AuthError)) showError(e.message);
    return;
  }
  applyLimits();
  loadSamples().catch((e) => showError(e.message));
  refreshJobs();
  setInterval(refreshJobs, 5000);
  $("reuse").addEventListener("click", () => state.jobId && reuse(state.jobId));
  // A link to #job=ID (opened, or pasted into this page) shows the job and puts its
  // inputs and settings back in the form.
  const open = () => {
    const m = location.hash.match(/job=([A-Za-z0-9_-]{16})/);
    if (!m || m[1] === state.jobId) return;
    watch(m[1]);
    reuse(m[1]);
  };
  window.addEventListener("hashchange", open);
  open();
}

start();
