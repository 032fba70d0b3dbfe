// affectstream dashboard: one row per device, updated from server-sent events; a click opens
// the device's hour of class probabilities and its last minute of raw signal. Plain JS + SVG,
// nothing loaded from anywhere but this server. Every text from the wire goes in as text
// (textContent), never as markup.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const PALETTE = ["#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#0f766e", "#8b5e34"];
  const STALE_S = 30; // a device silent this long is shown in red
  const DETAIL_MIN_MS = 1000; // detail view refetched at most this often

  const dash = {
    meta: null,
    rows: new Map(), // device -> row
    trs: new Map(), // device -> <tr>
    offset: 0, // server clock - this clock, s
    selected: null,
    events: 0,
    rowUpdates: 0,
    firstRowsMs: null, // performance.now() when the first rows were painted
    sizeTimes: [], // [rows shown, performance.now()] each time the table grew
    lags: [], // server arrival -> painted, s (the last 2000)
    detailFetches: 0,
    lastDetail: 0,
    detailTimer: null,
    connected: false,
  };
  window.affectstreamDash = dash;

  const $ = (id) => document.getElementById(id);
  const serverNow = () => Date.now() / 1000 + dash.offset;

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function classes() {
    return dash.meta ? dash.meta.model.classes : [];
  }

  function colour(cls) {
    const i = classes().indexOf(cls);
    return PALETTE[(i < 0 ? 0 : i) % PALETTE.length];
  }

  function duration(s) {
    s = Math.max(0, Math.round(s));
    if (s < 60) return s + " s";
    const m = Math.floor(s / 60);
    const r = s % 60;
    return m + " min" + (r ? " " + r + " s" : "");
  }

  // ---- the table -------------------------------------------------------------------------
  function stateText(row) {
    if (row.state === "warming up") {
      return row.warmup_left_s == null
        ? "warming up"
        : "warming up, " + duration(row.warmup_left_s) + " of data left";
    }
    if (row.state === "abstaining") return "abstaining: " + (row.reason || "no reason given");
    return row.state;
  }

  function stateClass(row) {
    return {
      "warming up": "state-warming",
      calibrated: "state-calibrated",
      abstaining: "state-abstaining",
    }[row.state] || "";
  }

  function makeTr(device) {
    const tr = el("tr", { "data-device": device });
    for (const c of ["device", "state", "label", "probs", "quality", "age"]) {
      tr.appendChild(el("td", { class: c }));
    }
    tr.cells[0].textContent = device;
    tr.addEventListener("click", () => select(device));
    return tr;
  }

  function placeTr(device, tr) {
    const body = $("devices").tBodies[0];
    const after = [...dash.trs.keys()].filter((d) => d > device).sort()[0];
    body.insertBefore(tr, after === undefined ? null : dash.trs.get(after));
  }

  function renderRow(row) {
    let tr = dash.trs.get(row.device);
    if (!tr) {
      tr = makeTr(row.device);
      placeTr(row.device, tr);
      dash.trs.set(row.device, tr);
    }
    const st = tr.cells[1];
    st.textContent = stateText(row);
    st.className = "state " + stateClass(row);
    const lab = tr.cells[2];
    lab.textContent = row.label == null ? "–" : row.label;
    lab.style.color = row.label == null ? "" : colour(row.label);
    const pc = tr.cells[3];
    pc.replaceChildren();
    pc.setAttribute("data-probs", JSON.stringify(row.probs || {}));
    for (const c of classes()) {
      if (!(c in (row.probs || {}))) continue;
      const p = row.probs[c];
      const box = el("span", { class: "prob" });
      box.appendChild(el("span", {}, c));
      const bar = el("span", { class: "bar" });
      const fill = el("span", { class: "fill" });
      fill.style.width = Math.round(100 * p) + "%";
      fill.style.background = colour(c);
      bar.appendChild(fill);
      box.appendChild(bar);
      box.appendChild(el("span", {}, p.toFixed(2)));
      pc.appendChild(box);
    }
    if (row.label == null && Object.keys(row.probs || {}).length) {
      pc.appendChild(el("span", { class: "muted" }, "(last prediction)"));
    }
    tr.cells[4].textContent = row.quality == null ? "–" : Number(row.quality).toFixed(2);
    renderAge(row.device);
    if (row.last_arrival) dash.lags.push(serverNow() - row.last_arrival);
    if (dash.lags.length > 2000) dash.lags.splice(0, dash.lags.length - 2000);
    dash.rowUpdates += 1;
  }

  function renderAge(device) {
    const row = dash.rows.get(device);
    const tr = dash.trs.get(device);
    if (!row || !tr) return;
    const age = serverNow() - row.last_arrival;
    const cell = tr.cells[5];
    cell.textContent = row.last_arrival ? duration(age) + " ago" : "–";
    cell.className = "age" + (age > STALE_S ? " stale" : "");
  }

  function applyRows(body) {
    dash.offset = body.server_time - Date.now() / 1000;
    const before = dash.rows.size;
    for (const row of body.rows) {
      dash.rows.set(row.device, row);
      renderRow(row);
    }
    if (dash.rows.size > before) dash.sizeTimes.push([dash.rows.size, performance.now()]);
    for (const device in body.seen || {}) {
      const row = dash.rows.get(device);
      if (row) {
        row.last_arrival = body.seen[device];
        renderAge(device);
      }
    }
    $("empty").hidden = dash.rows.size > 0;
    if (dash.firstRowsMs === null && dash.rows.size > 0) dash.firstRowsMs = performance.now();
    if (dash.selected && (body.rows.some((r) => r.device === dash.selected) ||
                          dash.selected in (body.seen || {}))) {
      scheduleDetail();
    }
  }

  // ---- the detail view -------------------------------------------------------------------
  function select(device) {
    for (const [d, tr] of dash.trs) tr.classList.toggle("selected", d === device);
    dash.selected = device;
    $("detail").hidden = false;
    $("detail-title").textContent = device;
    fetchDetail();
  }

  function scheduleDetail() {
    if (dash.detailTimer) return;
    const wait = Math.max(0, DETAIL_MIN_MS - (performance.now() - dash.lastDetail));
    dash.detailTimer = setTimeout(() => {
      dash.detailTimer = null;
      fetchDetail();
    }, wait);
  }

  async function fetchDetail() {
    const device = dash.selected;
    if (!device) return;
    dash.lastDetail = performance.now();
    const resp = await fetch("/api/device/" + encodeURIComponent(device));
    if (!resp.ok || device !== dash.selected) return;
    const d = await resp.json();
    dash.detailFetches += 1;
    drawTimeline(d);
    drawRaw(d);
  }

  function axisX(g, x0, x1, y, t0, t1, step, fmt) {
    g.appendChild(svg("line", { class: "axis", x1: x0, x2: x1, y1: y, y2: y }));
    for (let t = t1; t >= t0 - 1e-6; t -= step) {
      const x = x0 + ((t - t0) / (t1 - t0)) * (x1 - x0);
      g.appendChild(svg("line", { class: "axis", x1: x, x2: x, y1: y, y2: y + 4 }));
      g.appendChild(svg("text", { x: x, y: y + 16, "text-anchor": "middle" }, fmt(t1 - t)));
    }
  }

  function drawTimeline(d) {
    const m = dash.meta.model;
    const hist = d.history;
    const W = 960, H = 230, L = 44, R = 150, T = 10, B = 28;
    const box = $("timeline");
    box.replaceChildren();
    const s = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img" });
    box.appendChild(s);
    const t1 = hist.length ? hist[hist.length - 1].t : serverNow();
    const t0 = t1 - dash.meta.history_s;
    const X = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
    const Y = (p) => T + (1 - p) * (H - T - B);
    for (const p of [0, 0.25, 0.5, 0.75, 1]) {
      s.appendChild(svg("line", { class: "axis", x1: L, x2: W - R, y1: Y(p), y2: Y(p) }));
      s.appendChild(svg("text", { x: L - 6, y: Y(p) + 4, "text-anchor": "end" }, p.toFixed(2)));
    }
    axisX(s, L, W - R, H - B, t0, t1, 600, (a) => (a < 1 ? "now" : "−" + Math.round(a / 60) + " min"));
    const hop = m.hop_s;
    // abstentions and warm-up: one band per run of records without a prediction, from the
    // record before the run to the one after it (where the lines break and resume)
    let gaps = 0;
    const kind = (h) => (h.probs !== null ? null : h.reason === "calibrating" ? "warm" : "gap");
    for (let i = 0; i < hist.length; ) {
      const k = kind(hist[i]);
      if (k === null) { i += 1; continue; }
      let j = i;
      while (j + 1 < hist.length && kind(hist[j + 1]) === k) j += 1;
      const a = i > 0 ? hist[i - 1].t : hist[i].t;
      const b = j + 1 < hist.length ? hist[j + 1].t : hist[j].t + hop;
      const reasons = [...new Set(hist.slice(i, j + 1).map((h) => h.reason))];
      const r = svg("rect", {
        class: k, x: X(Math.max(t0, a)), y: T, width: Math.max(2, X(b) - X(Math.max(t0, a))),
        height: H - T - B, "data-reason": reasons.join("; "),
      });
      r.appendChild(svg("title", {}, k === "warm" ? "warming up (calibrating to the person)"
                                                  : "abstained: " + reasons.join("; ")));
      s.appendChild(r);
      gaps += 1;
      i = j + 1;
    }
    // one line per class, broken where there is no prediction (an abstention, or a silence
    // longer than two hops)
    m.classes.forEach((c, i) => {
      let dpath = "", prev = null, lastY = null;
      for (const h of hist) {
        if (h.probs === null || !Number.isFinite(h.probs[i])) { prev = null; continue; }
        const cmd = prev === null || h.t - prev > 2 * hop + 1e-6 ? "M" : "L";
        dpath += `${cmd}${X(h.t).toFixed(1)},${Y(h.probs[i]).toFixed(1)}`;
        prev = h.t;
        lastY = Y(h.probs[i]);
      }
      if (!dpath) return;
      s.appendChild(svg("path", { d: dpath, fill: "none", stroke: colour(c), "stroke-width": 2, "data-class": c }));
      const name = svg("text", { x: W - R + 6, y: lastY + 4, "data-class": c }, c);
      name.style.fill = colour(c); // CSSOM, not a style attribute: the CSP allows it
      s.appendChild(name);
    });
    if (m.threshold !== null && m.positive !== null) {
      const y = Y(m.threshold);
      s.appendChild(svg("line", { class: "threshold", x1: L, x2: W - R, y1: y, y2: y }));
      s.appendChild(svg("text", { x: L + 6, y: y - 5, class: "threshold-label" },
                        `decision threshold ${m.threshold} on p(${m.positive})`));
    }
    s.setAttribute("data-gaps", gaps);
    s.setAttribute("data-points", hist.filter((h) => h.probs !== null).length);
    const row = d.row;
    $("detail-note").textContent =
      `${stateText(row)} · ${row.predictions} predictions, ${row.abstentions} abstentions · ` +
      `${m.note} · window ${m.window_s} s, hop ${m.hop_s} s` +
      (row.model && row.model !== m.model_id ? ` · records come from ${row.model}, the page knows ${m.model_id}` : "");
  }

  function drawRaw(d) {
    const box = $("raw");
    box.replaceChildren();
    $("raw-span").textContent = Math.round(d.raw_s);
    const mods = Object.keys(d.raw);
    if (!mods.length || d.raw_end === null) {
      box.appendChild(el("p", { class: "muted" }, "No raw data: the dashboard sees raw samples only when it subscribes to affectstream/+/raw/+ (on by default) and the device publishes there."));
      return;
    }
    const W = 960, H = 80, L = 44, R = 150, T = 6, B = 22;
    const t1 = d.raw_end, t0 = t1 - d.raw_s;
    const X = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
    for (const mod of mods) {
      const tr = d.raw[mod];
      tr.values.forEach((vals, ci) => {
        const s = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, "data-modality": mod });
        const fin = vals.filter((v) => v !== null);
        let lo = Math.min(...fin), hi = Math.max(...fin);
        if (!fin.length) { lo = 0; hi = 1; }
        if (hi - lo < 1e-9) { hi += 0.5; lo -= 0.5; }
        const Y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
        if (d.window) {
          const a = Math.max(t0, d.window[0]), b = Math.min(t1, d.window[1]);
          if (b > a) s.appendChild(svg("rect", { class: "window", x: X(a), y: T, width: X(b) - X(a), height: H - T - B }));
        }
        let dpath = "", pen = false;
        tr.t.forEach((t, k) => {
          const v = vals[k];
          if (v === null || t < t0) { pen = false; return; }
          dpath += `${pen ? "L" : "M"}${X(t).toFixed(1)},${Y(v).toFixed(1)}`;
          pen = true;
        });
        s.appendChild(svg("path", { d: dpath, fill: "none", stroke: "#1b1f24", "stroke-width": 1 }));
        axisX(s, L, W - R, H - B, t0, t1, 15, (a) => (a < 0.5 ? "now" : "−" + Math.round(a) + " s"));
        const name = tr.channels.length > 1 ? `${mod} ${tr.channels[ci]}` : mod;
        s.appendChild(svg("text", { x: W - R + 6, y: T + 12 }, name));
        s.appendChild(svg("text", { x: W - R + 6, y: T + 28 }, fin.length ? `${lo.toPrecision(3)} … ${hi.toPrecision(3)}` : "no samples"));
        box.appendChild(s);
      });
    }
  }

  // ---- the connection --------------------------------------------------------------------
  function connect() {
    const es = new EventSource("/events");
    es.addEventListener("meta", (e) => {
      dash.meta = JSON.parse(e.data);
      dash.offset = dash.meta.server_time - Date.now() / 1000;
      const m = dash.meta.model;
      $("model").textContent = `model ${m.model_id} (${m.classes.join(", ")}) · ${m.note}`;
    });
    es.addEventListener("rows", (e) => {
      dash.events += 1;
      applyRows(JSON.parse(e.data));
    });
    es.onopen = () => {
      dash.connected = true;
      $("status").textContent = "live";
    };
    es.onerror = () => {
      dash.connected = false;
      $("status").textContent = "connection lost; retrying…";
    };
  }

  setInterval(() => {
    for (const d of dash.rows.keys()) renderAge(d);
  }, 1000);
  connect();
})();
