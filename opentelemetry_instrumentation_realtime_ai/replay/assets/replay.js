(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("replay-data").textContent);
  var S = data.session, spans = data.spans, dur = Math.max(S.duration, 1);
  var audio = null, wave = null, WAVE_H = 40;
  var PX_PER_S = 80, W = Math.max(document.getElementById("scroll").clientWidth - 2, 600, Math.ceil(dur / 1000 * PX_PER_S));
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) { if (k === "class") e.className = attrs[k]; else e.setAttribute(k, attrs[k]); }
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function x(ms) { return (ms / dur) * W; }
  function fmt(ms) { return ms === null || ms === undefined ? "–" : Math.round(ms) + " ms"; }
  function sec(ms) { return (ms / 1000).toFixed(3) + " s"; }
  function seek(ms) {
    if (audio) { audio.currentTime = Math.max(0, ms / 1000); }
    movePlayhead(ms);
  }
  function movePlayhead(ms) {
    document.getElementById("playhead").style.left = x(ms) + "px";
    document.getElementById("clock").textContent = sec(ms);
  }
  function show(i) {
    var s = spans[i], box = document.getElementById("details");
    document.querySelectorAll(".selected").forEach(function (n) { n.classList.remove("selected"); });
    document.querySelectorAll('[data-span="' + i + '"]').forEach(function (n) { n.classList.add("selected"); });
    box.innerHTML = "";
    box.appendChild(el("h3", {}, s.name));
    box.appendChild(el("div", { class: "muted" }, sec(s.start) + " → " + sec(s.end) + " (" + fmt(s.end - s.start) + ")"));
    var t = el("table", { id: "details-attributes" });
    Object.keys(s.attributes).forEach(function (k) {
      var tr = el("tr"); tr.appendChild(el("th", {}, k));
      var v = s.attributes[k]; tr.appendChild(el("td", { "data-key": k }, typeof v === "string" ? v : JSON.stringify(v)));
      t.appendChild(tr);
    });
    box.appendChild(t);
    s.events.forEach(function (e) { box.appendChild(el("div", { class: "muted" }, sec(e.time) + " " + e.name + " " + JSON.stringify(e.attributes))); });
    box.classList.add("open");
  }
  function bind(node, spanIndex, ms) {
    node.setAttribute("data-span", spanIndex);
    node.addEventListener("mouseenter", function () { show(spanIndex); });
    node.addEventListener("click", function () { show(spanIndex); seek(ms); });
  }
  // summary
  var head = document.getElementById("summary");
  head.appendChild(el("h1", {}, "Session " + S.id));
  [["pipeline", S.pipeline], ["framework", S.framework], ["duration", sec(S.duration)], ["turns", data.turns.length],
   ["interrupted", data.turns.filter(function (t) { return t.interrupted; }).length],
   ["p50", fmt(data.latency.p50)], ["p95", fmt(data.latency.p95)]].forEach(function (kv) {
    var d = el("span", { class: "kv", id: "summary-" + kv[0] }, kv[0] + " "); d.appendChild(el("b", {}, kv[1] === null || kv[1] === undefined ? "–" : String(kv[1]))); head.appendChild(d);
  });
  // time axis and lanes
  var track = document.getElementById("track"); track.style.width = W + "px";
  var axis = document.getElementById("axis"), step = dur > 120000 ? 10000 : dur > 30000 ? 5000 : 1000;
  for (var t = 0; t <= dur; t += step) { var tk = el("div", { class: "tick" }, (t / 1000) + " s"); tk.style.left = x(t) + "px"; axis.appendChild(tk); }
  var lanes = document.getElementById("lanes");
  var labels = document.getElementById("labels");
  function label(name, height) { var d = el("div", {}, name); d.style.height = height + "px"; labels.appendChild(d); }
  if (data.audio) { label("user audio", WAVE_H); label("bot audio", WAVE_H + 1); }
  label("", 18);
  function lane(name) { var l = el("div", { class: "lane", id: "lane-" + name }); label(name, 26); lanes.appendChild(l); return l; }
  function bar(l, cls, start, end, label, spanIndex) {
    var b = el("div", { class: "bar " + cls }, label); b.style.left = x(start) + "px"; b.style.width = Math.max(2, x(end) - x(start)) + "px";
    b.title = label || ""; bind(b, spanIndex, start); l.appendChild(b); return b;
  }
  var turnLane = lane("Turns");
  data.turns.forEach(function (t) {
    var b = bar(turnLane, "turn" + (t.interrupted ? " interrupted" : ""), t.start, t.end, "Turn " + t.number + (t.interrupted ? " ✂ interrupted" : ""), t.span);
    b.setAttribute("data-turn", t.number);
  });
  ["STT", "LLM", "TTS", "Tools"].forEach(function (name) {
    var rs = data.requests.filter(function (r) { return r.lane === name; });
    if (!rs.length && name === "Tools") return;
    var l = lane(name);
    rs.forEach(function (r) { bar(l, name + (r.interrupted ? " cut" : "") + (r.error ? " error" : ""), r.start, r.end, spans[r.span].name, r.span); });
  });
  function marks(name, items, cls, label) {
    if (!items.length) return;
    var l = lane(name), free = -1;
    items.slice().sort(function (a, b) { return a.time - b.time; }).forEach(function (m) {
      var k = el("div", { class: "mark " + cls }); k.style.left = x(m.time) + "px"; k.title = label(m); bind(k, m.span, m.time); l.appendChild(k);
      if (x(m.time) < free) return;  // too close to the previous label: the mark's title says it
      var t = el("span", { class: "mark-label" }, label(m)); t.style.left = (x(m.time) + 5) + "px"; l.appendChild(t);
      free = x(m.time) + 6 + 6 * t.textContent.length;
    });
  }
  marks("Connection", data.states, "state", function (m) { return (m.type || "") + " " + (m.old || "?") + "→" + m.state; });
  marks("Stalls", data.stalls, "stall", function (m) { return "blocked " + fmt(m.ms) + (m.element ? " in " + m.element : ""); });
  marks("Audio holes", data.holes || [], "stall", function (m) { return "bot audio ran dry for " + fmt(m.ms); });
  // turns table with stacked stage bars
  var tbody = document.querySelector("#turns tbody");
  data.turns.forEach(function (t) {
    var tr = el("tr", { class: "turn-row", "data-turn": t.number }); bind(tr, t.span, t.start);
    var c = el("td", {}, "Turn " + t.number + " "); if (t.interrupted) c.appendChild(el("span", { class: "badge" }, "interrupted")); tr.appendChild(c);
    tr.appendChild(el("td", {}, sec(t.start)));
    tr.appendChild(el("td", { class: "latency", "data-ms": t.latency === null ? "" : t.latency }, fmt(t.latency)));
    var cell = el("td"), stack = el("div", { class: "stack" });
    var total = t.stages.reduce(function (a, s) { return a + s.ms; }, 0) || 1;
    t.stages.forEach(function (s) {
      var seg = el("span", { class: "stage", "data-stage": s.name, "data-ms": s.ms }, s.name + " " + Math.round(s.ms) + " ms");
      seg.style.width = Math.max(60, 400 * s.ms / total) + "px"; seg.title = s.name + " " + s.ms.toFixed(1) + " ms"; stack.appendChild(seg);
    });
    if (!t.stages.length) cell.appendChild(el("span", { class: "muted" }, "no stages recorded")); else cell.appendChild(stack);
    tr.appendChild(cell); tbody.appendChild(tr);
  });
  // latency chart with p50 / p95
  (function () {
    var pts = data.turns.filter(function (t) { return t.latency !== null; });
    var box = document.getElementById("chart");
    if (!pts.length) { box.appendChild(el("span", { class: "muted" }, "no turn latency recorded")); return; }
    var NS = "http://www.w3.org/2000/svg", w = Math.max(300, pts.length * 40 + 80), h = 160, top = 10, bottom = 20, left = 50;
    var max = Math.max.apply(null, pts.map(function (p) { return p.latency; }).concat([data.latency.p95 || 0])) * 1.15;
    function sv(tag, a, text) { var e = document.createElementNS(NS, tag); for (var k in a) e.setAttribute(k, a[k]); if (text) e.textContent = text; return e; }
    function y(ms) { return top + (h - top - bottom) * (1 - ms / max); }
    var svg = sv("svg", { width: w, height: h, id: "latency-chart" });
    pts.forEach(function (p, i) {
      var r = sv("rect", { x: left + i * 40 + 8, y: y(p.latency), width: 24, height: y(0) - y(p.latency), fill: p.interrupted ? "#d92d20" : "#7f56d9", "data-turn": p.number, "data-ms": p.latency });
      r.style.cursor = "pointer"; bind(r, p.span, p.start); svg.appendChild(r);
      svg.appendChild(sv("text", { x: left + i * 40 + 20, y: h - 6, "text-anchor": "middle", "font-size": 10 }, String(p.number)));
    });
    [["p50", data.latency.p50, "#12b76a"], ["p95", data.latency.p95, "#f79009"]].forEach(function (q) {
      svg.appendChild(sv("line", { x1: left, x2: w, y1: y(q[1]), y2: y(q[1]), stroke: q[2], "stroke-dasharray": "4 3", id: "line-" + q[0], "data-ms": q[1] }));
      svg.appendChild(sv("text", { x: 2, y: y(q[1]) + 4, "font-size": 10, fill: q[2] }, q[0] + " " + Math.round(q[1])));
    });
    svg.appendChild(sv("line", { x1: left, x2: w, y1: y(0), y2: y(0), stroke: "#98a2b3" }));
    box.appendChild(svg);
  })();
  // conversation, only what content capture put in the spans
  (function () {
    var lines = data.requests.filter(function (r) { return r.text && (r.lane === "STT" || r.lane === "TTS"); });
    if (!lines.length) return;
    document.getElementById("conversation-section").hidden = false;
    var box = document.getElementById("conversation");
    lines.forEach(function (r) {
      var p = el("p", { class: "utterance" }); p.appendChild(el("span", { class: "who" }, r.lane === "STT" ? "user" : "bot"));
      p.appendChild(document.createTextNode(sec(r.start) + "  " + r.text)); bind(p, r.span, r.start); box.appendChild(p);
    });
  })();
  // audio: the recording, drawn by wavesurfer.js from peaks computed when the page was built
  if (data.audio) {
    document.getElementById("audio-section").hidden = false;
    audio = el("audio", { id: "replay-audio", preload: "auto", src: data.audio.src });
    document.getElementById("audio-section").appendChild(audio);
    var btn = document.getElementById("play");
    btn.addEventListener("click", function () { if (audio.paused) audio.play(); else audio.pause(); });
    audio.addEventListener("play", function () { btn.textContent = "Pause"; });
    audio.addEventListener("pause", function () { btn.textContent = "Play"; });
    audio.addEventListener("timeupdate", function () { movePlayhead(audio.currentTime * 1000); });
    if (window.WaveSurfer) {
      wave = window.WaveSurfer.create({
        container: "#waveform", media: audio, peaks: data.audio.peaks, duration: data.audio.duration,
        height: WAVE_H, splitChannels: [{ waveColor: "#12b76a", progressColor: "#067647" }, { waveColor: "#f79009", progressColor: "#b54708" }],
        normalize: false, interact: true, cursorColor: "#d92d20", fillParent: true, minPxPerSec: 0, hideScrollbar: true
      });
      window.replayWave = wave;
    }
  }
  movePlayhead(0);
})();
