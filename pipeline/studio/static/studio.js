// The studio page, built from what the server sends (`/api/schema` once, `/api/status` twice a
// second): the controls and plots of this kind, which keys change live, the objective's weights,
// the music's curves when there is music, the pause state. Values go out as JSON (numbers as
// numbers); the server writes them into the config and says in one line what it refuses.
// The page never sees the token: the server traded the printed URL's ?token= for a cookie
// (HttpOnly, same-site) that every request below carries by itself.
"use strict";
const $ = id => document.getElementById(id);
const COLORS = ["#f0a23b", "#6cb6ff", "#7ee787", "#ff7b72"];  // the plots' lines, in the order the server lists them
let info = null;  // /api/schema: built once
let last = null;  // the last /api/status

function propOf(schema, key) {
  const resolve = p => {
    const ref = p && (p.$ref || (p.allOf && p.allOf[0].$ref));
    return ref ? schema.$defs[ref.split("/").pop()] : p;
  };
  return key.split(".").reduce((node, part) => node && resolve((resolve(node).properties || {})[part]), schema);
}
function kindOf(prop) {
  const types = prop.anyOf ? prop.anyOf.map(p => p.type) : [prop.type];
  if (prop.enum || (prop.anyOf && prop.anyOf.some(p => p.enum))) return "enum";
  if (types.includes("string")) return "text";
  if (types.includes("boolean")) return "bool";
  return "number";
}
function valueAt(params, key) { return key.split(".").reduce((o, k) => (o == null ? undefined : o[k]), params); }
function nested(key, value) {
  const parts = key.split("."), out = {};
  parts.reduce((o, k, i) => (o[k] = i === parts.length - 1 ? value : {}), out);
  return out;
}
function badge(text, live) {
  const b = document.createElement("span");
  b.className = "badge" + (live ? " live" : "");
  b.textContent = text;
  return b;
}
function errorSpan(id) {
  const err = document.createElement("span");
  err.className = "err";
  err.id = id;
  return err;
}

function control(key, prop, value) {
  const row = document.createElement("div"), label = document.createElement("label");
  row.className = "row";
  const live = info.live.includes(key), objective = key === info.objective;
  label.append(key.split(".").pop(), badge(live ? (objective ? "weights live" : "live") : "restarts", live));
  const kind = kindOf(prop);
  let input;
  if (kind === "enum") {
    input = document.createElement("select");
    const choices = prop.enum || prop.anyOf.find(p => p.enum).enum;
    choices.forEach(c => input.append(new Option(String(c), String(c))));
  } else {
    input = document.createElement("input");
    input.type = kind === "bool" ? "checkbox" : kind === "text" ? "text" : "number";
    if (kind === "number") {
      const p = prop.anyOf ? prop.anyOf.find(q => q.type === "number" || q.type === "integer") : prop;
      input.step = p.type === "integer" ? "1" : "any";
      if (p.minimum !== undefined) input.min = p.minimum;
      if (p.maximum !== undefined) input.max = p.maximum;
    }
  }
  input.id = "c-" + key;
  input.dataset.key = key;
  label.htmlFor = input.id;
  const err = errorSpan("e-" + key);
  input.addEventListener("change", () => post("/api/params", nested(key, read(input, kind)), err));
  row.append(label, input, err);
  show(input, value);
  return row;
}
// What a control holds, as JSON: a number box sends a number (or null when empty: the default),
// a text box a number when it holds one (schedules take both), else its text.
function read(input, kind) {
  if (kind === "bool") return input.checked;
  const v = input.value.trim();
  if (v === "") return null;
  if (kind === "number") return input.valueAsNumber;
  return kind === "text" && Number.isFinite(Number(v)) ? Number(v) : v;
}
function show(input, value) {
  if (document.activeElement === input) return;
  if (input.type === "checkbox") input.checked = !!value;
  else if (value === null || value === undefined) { input.value = ""; input.placeholder = "(default)"; }
  else input.value = String(value);
}

async function post(path, body, err) {
  err.textContent = "";
  const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
                                     body: JSON.stringify(body) });
  const answer = await r.json();
  if (!r.ok) err.textContent = answer.error;
  else if (answer.params) refresh(answer.params);
  return answer;
}
function refresh(params) {
  document.querySelectorAll("[data-key]").forEach(input => show(input, valueAt(params, input.dataset.key)));
}

// The objective's weights, one number box each: a change sends that weight by its index.
let weightsShown = "";
function weights(list) {
  const box = $("weights");
  if (!box || JSON.stringify(list) === weightsShown || box.contains(document.activeElement)) return;
  weightsShown = JSON.stringify(list);
  box.replaceChildren(...list.map((w, index) => {
    const label = document.createElement("label"), input = document.createElement("input");
    input.type = "number"; input.step = "any"; input.id = "w-" + index; input.title = w.label;
    input.value = w.value === null ? "" : String(w.value);
    input.addEventListener("change", () => post("/api/weight", { index, value: input.valueAsNumber },
                                                $("e-" + info.objective)));
    label.append(w.label + " ", input);
    return label;
  }));
}

function picker(objectiveRow) {
  const row = document.createElement("div");
  row.className = "row";
  const label = document.createElement("label");
  label.textContent = "layer picker";
  const box = document.createElement("div");
  const layer = document.createElement("select"), weight = document.createElement("input"), chan = document.createElement("input");
  layer.id = "c-layer";
  info.layers.forEach(n => layer.append(new Option(n, n)));
  weight.type = "number"; weight.step = "any"; weight.value = "1"; weight.title = "weight"; weight.id = "c-layer-weight";
  weight.style.width = "5em";
  chan.type = "number"; chan.min = "0"; chan.step = "1"; chan.placeholder = "channel"; chan.id = "c-layer-channel";
  chan.style.width = "6em";
  const use = document.createElement("button");
  use.type = "button"; use.textContent = "use"; use.id = "c-layer-use";
  use.addEventListener("click", () => post("/api/pick", {
    layer: layer.value, weight: weight.valueAsNumber, channel: chan.value === "" ? null : chan.valueAsNumber,
  }, objectiveRow.querySelector(".err")));
  box.append(layer, weight, chan, use);
  row.append(label, box);
  return row;
}

function weightsRow() {
  const row = document.createElement("div"), label = document.createElement("label"), box = document.createElement("div");
  row.className = "row";
  const live = info.live.includes(info.objective);
  label.append("weights", badge(live ? "live" : "restarts", live));
  box.id = "weights";
  row.append(label, box);
  return row;
}

function plots() {
  $("plots").replaceChildren(...Object.entries(info.plots).map(([key, caption]) => {
    const figure = document.createElement("figure"), canvas = document.createElement("canvas");
    const text = document.createElement("figcaption");
    canvas.id = "plot-" + key; canvas.width = 300; canvas.height = 110;
    text.textContent = caption;
    figure.append(canvas, text);
    return figure;
  }));
}

async function build() {
  info = await (await fetch("/api/schema")).json();
  const controls = $("controls");
  for (const [section, keys] of Object.entries(info.controls)) {
    const set = document.createElement("fieldset"), legend = document.createElement("legend");
    legend.textContent = section;
    set.append(legend);
    for (const key of keys) {
      const prop = propOf(info.schema, key);
      if (!prop) continue;
      const row = control(key, prop, valueAt(info.params, key));
      set.append(row);
      if (key === info.objective) set.append(weightsRow(), picker(row));
    }
    controls.append(set);
  }
  plots();
}

// The music's curves under the frame, made only when the session has music, redrawn as the playhead moves.
function curves(frame) {
  let img = $("curves");
  if (!img) {
    img = document.createElement("img");
    img.id = "curves"; img.alt = "the music's curves, the current frame marked";
    $("live").after(img);
  }
  if (img.dataset.frame !== String(frame)) {
    img.dataset.frame = String(frame);
    img.src = "/api/curves.png?frame=" + frame;
  }
}

async function poll() {
  try {
    const s = last = await (await fetch("/api/status")).json();
    const state = s.done ? (s.error ? "stopped" : "done") : s.paused ? "paused" : "rendering";
    $("status").innerHTML = `frame <b id="frames">${s.frames}</b> · <span id="fps">${s.fps.toFixed(1)}</span> fps · ${state}`;
    $("error").textContent = s.error || "";
    $("pause").textContent = s.paused ? "resume" : "pause";
    Object.keys(info.plots).forEach((key, i) => plot($("plot-" + key), s.stats.frame, s.stats[key], COLORS[i % COLORS.length]));
    if (s.audio) curves(s.frames);
    refresh(s.params);
    weights(s.weights);
  } catch (e) { $("status").textContent = "no answer from the studio"; }
  setTimeout(poll, 500);
}

$("pause").addEventListener("click", async () => {
  if (!last) return;
  const r = await fetch("/api/pause", { method: "POST", headers: { "Content-Type": "application/json" },
                                             body: JSON.stringify({ paused: !last.paused }) });
  last.paused = (await r.json()).paused;  // the next poll says it again
  $("pause").textContent = last.paused ? "resume" : "pause";
});
$("save").href = "/api/frame.png";
$("export").href = "/api/preset.toml";
window.addEventListener("load", () => { $("live").src = "/api/stream.mjpg"; });
build().then(poll);
