// A small line plotter on <canvas>: one series, its range and its last value. No dependencies.
"use strict";
function plot(canvas, xs, ys, color) {
  const ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height, pad = 18;
  ctx.clearRect(0, 0, w, h);
  const pts = xs.map((x, i) => [x, ys[i]]).filter(p => p[1] !== null && Number.isFinite(p[1]));
  ctx.fillStyle = "#888"; ctx.font = "11px system-ui, sans-serif";
  if (pts.length === 0) { ctx.fillText("no data yet", pad, h / 2); return; }
  let lo = Math.min(...pts.map(p => p[1])), hi = Math.max(...pts.map(p => p[1]));
  if (hi === lo) { hi += Math.abs(hi) * 0.05 || 1; lo -= Math.abs(lo) * 0.05 || 1; }
  const x0 = pts[0][0], x1 = Math.max(pts[pts.length - 1][0], x0 + 1);
  const px = x => pad + (x - x0) / (x1 - x0) * (w - 2 * pad);
  const py = y => h - pad - (y - lo) / (hi - lo) * (h - 2 * pad);
  ctx.strokeStyle = "#333"; ctx.beginPath(); ctx.moveTo(pad, pad); ctx.lineTo(pad, h - pad); ctx.lineTo(w - pad, h - pad); ctx.stroke();
  ctx.fillText(fmt(hi), 2, pad - 4); ctx.fillText(fmt(lo), 2, h - 4);
  ctx.fillText("frame " + x0 + "-" + pts[pts.length - 1][0], w / 2 - 30, h - 4);
  ctx.strokeStyle = color; ctx.lineWidth = 1.5; ctx.beginPath();
  pts.forEach((p, i) => (i ? ctx.lineTo(px(p[0]), py(p[1])) : ctx.moveTo(px(p[0]), py(p[1]))));
  ctx.stroke();
  ctx.fillStyle = color; ctx.fillText(fmt(pts[pts.length - 1][1]), w - 60, pad - 4);
}
function fmt(v) { return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3); }
