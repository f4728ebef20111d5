// The studio page: controls built from the config's JSON schema, the live frame (MJPEG), plots.
"use strict";
const token = new URLSearchParams(location.search).get("token");
const api = path => token ? path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : path;
const $ = id => document.getElementById(id);
// Which sections and keys the page offers, per kind (the schema gives types, bounds, choices).
const SHOWN = {
  motion: ["zoom", "angle", "translate_x", "translate_y", "steps"],
  dream: ["objective", "octaves", "octave_scale", "steps", "step_size", "jitter", "noise"],
  video: ["blend", "steps_warm", "step_size_warm", "octaves_warm", "fixed_jitter", "hold", "boost", "cut_threshold", "flow"],
  post: ["drift", "blend", "decay"],
  "": ["seed"],
};
const SECTIONS = { zoom: ["motion", "dream", "post", ""], video: ["dream", "video", "post", ""], dream: ["dream", "post", ""],
                   carve: ["dream", "post", ""] };
const COLORS = { strength: "#f0a23b", seconds: "#6cb6ff", objective: "#7ee787", warp_error: "#ff7b72" };
let paused = false;

function resolve(schema, prop) {
  const ref = prop.$ref || (prop.allOf && prop.allOf[0].$ref);
  return ref ? schema.$defs[ref.split("/").pop()] : prop;
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

function control(key, prop, value, live) {
  const row = document.createElement("div"), label = document.createElement("label");
  row.className = "row";
  label.textContent = key.split(".").pop();
  const badge = document.createElement("span");
  badge.className = "badge" + (live ? " live" : "");
  badge.textContent = live ? (key === "dream.objective" ? "weights live" : "live") : "restarts";
  label.append(badge);
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
  const err = document.createElement("span");
  err.className = "err";
  err.id = "e-" + key;
  input.addEventListener("change", () => send(key, read(input, kind), err));
  row.append(label, input, err);
  show(input, value);
  return row;
}
function read(input, kind) {
  if (kind === "bool") return input.checked;
  const v = input.value.trim();
  if (v === "") return null;
  return (kind === "number" || kind === "text") && v !== "" && !isNaN(Number(v)) && kind !== "enum" ? Number(v) : v;
}
function show(input, value) {
  if (document.activeElement === input) return;
  if (input.type === "checkbox") input.checked = !!value;
  else if (value === null || value === undefined) { input.value = ""; input.placeholder = "(default)"; }
  else input.value = String(value);
}

async function send(key, value, err) {
  err.textContent = "";
  const r = await fetch(api("/api/params"), { method: "POST", headers: { "Content-Type": "application/json" },
                                              body: JSON.stringify(nested(key, value)) });
  const body = await r.json();
  if (!r.ok) err.textContent = body.error;
  else refresh(body.params);
}
function refresh(params) {
  document.querySelectorAll("[data-key]").forEach(input => show(input, valueAt(params, input.dataset.key)));
}

// The objective's weights, one number each: a change rewrites that number in the objective (live for a zoom).
let weightsShown = "";
function weights(list, objective) {
  const box = $("weights");
  if (!box || JSON.stringify(list) === weightsShown || box.contains(document.activeElement)) return;
  weightsShown = JSON.stringify(list);
  box.replaceChildren(...list.map((w, i) => {
    const label = document.createElement("label"), input = document.createElement("input");
    input.type = "number"; input.step = "any"; input.value = w.value; input.id = "w-" + i; input.title = w.label;
    input.addEventListener("change", () => {
      const text = objective().value, v = Number(input.value);
      const literal = Number.isInteger(v) ? v.toFixed(1) : String(v);
      send("dream.objective", text.slice(0, w.start) + literal + text.slice(w.end), $("e-dream.objective"));
    });
    label.append(w.label + " ", input);
    return label;
  }));
}

function picker(layers, objectiveRow) {
  const row = document.createElement("div");
  row.className = "row";
  const label = document.createElement("label");
  label.textContent = "layer picker";
  const box = document.createElement("div");
  const layer = document.createElement("select"), weight = document.createElement("input"), chan = document.createElement("input");
  layer.id = "c-layer";
  layers.forEach(n => layer.append(new Option(n, n)));
  weight.type = "number"; weight.step = "any"; weight.value = "1.0"; weight.title = "weight"; weight.style.width = "5em";
  chan.type = "number"; chan.min = "0"; chan.placeholder = "channel"; chan.style.width = "6em";
  const use = document.createElement("button");
  use.type = "button"; use.textContent = "use";
  use.addEventListener("click", () => {
    const w = Number(weight.value || 1).toString(), name = JSON.stringify(layer.value);
    const text = chan.value === "" ? `layers({${name}: ${w.includes(".") ? w : w + ".0"}})` : `${w} * channel(${name}, ${Number(chan.value)})`;
    const input = objectiveRow.querySelector("input");
    input.value = text;
    send("dream.objective", text, objectiveRow.querySelector(".err"));
  });
  box.append(layer, weight, chan, use);
  row.append(label, box);
  return row;
}

async function build() {
  const r = await fetch(api("/api/schema"));
  const info = await r.json();
  const root = info.schema, controls = $("controls");
  for (const section of SECTIONS[info.kind] || SECTIONS.dream) {
    const set = document.createElement("fieldset"), legend = document.createElement("legend");
    legend.textContent = section || "render";
    set.append(legend);
    const props = section ? resolve(root, root.properties[section]).properties : root.properties;
    for (const name of SHOWN[section]) {
      if (!props[name]) continue;
      const key = section ? section + "." + name : name;
      const row = control(key, props[name], valueAt(info.params, key), info.live.includes(key) && info.kind === "zoom");
      set.append(row);
      if (key === "dream.objective") {
        const w = document.createElement("div");
        w.className = "row";
        w.innerHTML = '<label>weights<span class="badge' + (info.kind === "zoom" ? ' live">live' : '">restarts') +
                      '</span></label><div id="weights"></div>';
        set.append(w, picker(info.layers, row));
      }
    }
    controls.append(set);
  }
  $("fig-warp").hidden = info.kind !== "video";
}

async function poll() {
  try {
    const s = await (await fetch(api("/api/status"))).json();
    const state = s.done ? (s.error ? "stopped" : "done") : s.paused ? "paused" : "rendering";
    $("status").innerHTML = `frame <b id="frames">${s.frames}</b> · <span id="fps">${s.fps.toFixed(1)}</span> fps · ${state}`;
    $("error").textContent = s.error || "";
    for (const key of Object.keys(COLORS)) {
      const canvas = $("plot-" + key);
      if (canvas) plot(canvas, s.stats.frame, s.stats[key], COLORS[key]);
    }
    if (s.audio && $("curves").dataset.frame !== String(s.frames)) {  // the curves under the frame, playhead moved
      $("curves").dataset.frame = String(s.frames);
      $("curves").src = api("/api/curves.png?frame=" + s.frames);
      $("curves").hidden = false;
    }
    refresh(s.params);
    weights(s.weights, () => $("c-dream.objective"));
  } catch (e) { $("status").textContent = "no answer from the studio"; }
  setTimeout(poll, 500);
}

$("pause").addEventListener("click", async () => {
  const r = await fetch(api("/api/pause"), { method: "POST", headers: { "Content-Type": "application/json" },
                                             body: JSON.stringify({ paused: !paused }) });
  paused = (await r.json()).paused;
  $("pause").textContent = paused ? "resume" : "pause";
});
$("save").href = api("/api/frame.png");
$("export").href = api("/api/preset.toml");
window.addEventListener("load", () => { $("live").src = api("/api/stream.mjpg"); });
build().then(poll);
