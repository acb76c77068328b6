// The Sophia dashboard: polls /dashboard/data and draws plain SVG. No libraries.
"use strict";
(function () {
  const POLL_MS = 1500;
  const HISTORY = 120; // client-side points kept for figures the server has no series of
  const RUN_ROWS = 15; // recent runs listed (the data holds more)
  const SVG = "http://www.w3.org/2000/svg";
  const history = { pool: [], cache: {} };
  let lastOk = 0;
  let openTrace = null;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    return node;
  }
  function ms(v) {
    if (v === null || v === undefined) return "–";
    if (v >= 1000) return (v / 1000).toFixed(2) + " s";
    if (v >= 10) return v.toFixed(0) + " ms";
    if (v >= 1) return v.toFixed(1) + " ms";
    return v.toFixed(2) + " ms";
  }
  function axisMs(v) {
    if (v >= 1000) return (v / 1000).toFixed(1) + "s";
    if (v === 0) return "0";
    return (v >= 10 ? v.toFixed(0) : v.toFixed(1)) + "ms";
  }
  function pct(v) { return v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%"; }
  function clock(epochS) { return epochS ? new Date(epochS * 1000).toLocaleTimeString() : "–"; }
  function ago(s) {
    if (s === null || s === undefined) return "";
    if (s < 60) return s.toFixed(0) + " s ago";
    if (s < 3600) return (s / 60).toFixed(0) + " min ago";
    return (s / 3600).toFixed(1) + " h ago";
  }
  function replace(parent, children) {
    parent.replaceChildren(...children);
  }

  // -- line chart: p50/p95/p99 series, dashed threshold, breach markers ---------------
  function lineChart(points, threshold, opts) {
    const W = 256, H = 92, L = 36, R = 4, T = 6, B = 14;
    const root = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: "plot" });
    const keys = ["p50", "p95", "p99"];
    let ymax = threshold || 1;
    for (const p of points) for (const k of keys) if (p[k] !== null && p[k] > ymax) ymax = p[k];
    ymax *= 1.1;
    const n = Math.max(points.length, 2);
    const x = (i) => L + ((W - L - R) * i) / (n - 1);
    const y = (v) => T + (H - T - B) * (1 - Math.min(v, ymax) / ymax);
    root.appendChild(svg("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "#fafbfc", stroke: "#e3e6ec" }));
    for (const frac of [0, 0.5, 1]) {
      const label = svg("text", { x: L - 3, y: y(ymax * frac) + 3, "text-anchor": "end", "font-size": 9, fill: "#6b7385" });
      label.textContent = (opts.fmt || axisMs)(ymax * frac);
      root.appendChild(label);
    }
    if (threshold) {
      root.appendChild(svg("line", { x1: L, x2: W - R, y1: y(threshold), y2: y(threshold), stroke: "#dc2626", "stroke-dasharray": "4 3", "stroke-width": 1.2, class: "threshold" }));
    }
    const colors = { p50: "#2563eb", p95: "#f59e0b", p99: "#7c3aed" };
    for (const k of keys) {
      const pts = [];
      points.forEach((p, i) => { if (p[k] !== null && p[k] !== undefined) pts.push(`${x(i).toFixed(1)},${y(p[k]).toFixed(1)}`); });
      if (pts.length === 1) pts.push(pts[0]);
      if (pts.length) {
        root.appendChild(svg("polyline", { points: pts.join(" "), fill: "none", stroke: colors[k], "stroke-width": 1.5, class: "series-" + k }));
        const [lx, ly] = pts[pts.length - 1].split(",");
        root.appendChild(svg("circle", { cx: lx, cy: ly, r: 2, fill: colors[k] }));
      }
    }
    points.forEach((p, i) => {
      const breached = opts.breachOf ? opts.breachOf(p) : false;
      if (breached) {
        const v = p.p99 !== null && p.p99 !== undefined ? p.p99 : threshold;
        root.appendChild(svg("circle", { cx: x(i), cy: y(v), r: 3, fill: "#dc2626", class: "breach-mark" }));
      }
    });
    if (points.length && opts.timeOf) {
      const t0 = svg("text", { x: L, y: H - 3, "font-size": 9, fill: "#6b7385" });
      t0.textContent = clock(opts.timeOf(points[0]));
      const t1 = svg("text", { x: W - R, y: H - 3, "font-size": 9, fill: "#6b7385", "text-anchor": "end" });
      t1.textContent = clock(opts.timeOf(points[points.length - 1]));
      root.append(t0, t1);
    }
    return root;
  }

  function chartCard(title, summary, threshold, points, opts) {
    const card = el("div", { class: "chart", "data-operation": title });
    const over = summary.p95 !== null && summary.p95 !== undefined && threshold && summary.p95 > threshold;
    if (over) card.classList.add("breach");
    card.appendChild(el("div", { class: "title", title: title }, title));
    const extra = summary.breaches ? ` · ${summary.breaches} breaches` : "";
    card.appendChild(el("div", { class: "nums" },
      `p50 ${ms(summary.p50)} · p95 ${ms(summary.p95)} · p99 ${ms(summary.p99)} · limit ${ms(threshold)} · n=${summary.count || 0}${extra}`));
    card.appendChild(lineChart(points, threshold, opts));
    return card;
  }

  function renderLatency(data) {
    const host = document.getElementById("groups");
    const byGroup = {};
    for (const op of data.operations) (byGroup[op.group] = byGroup[op.group] || []).push(op);
    const sections = [];
    for (const g of data.groups) {
      const ops = byGroup[g.id] || [];
      const cards = ops.map((op) => chartCard(op.operation, op, op.threshold_ms, op.series,
        { breachOf: (p) => p.breaches > 0, timeOf: (p) => p.t }));
      if (g.id === "cache" && !ops.length && data.cache) cards.push(...cacheLatencyCards(data));
      if (!cards.length && g.id === "other") continue;
      const section = el("div", { class: "group", "data-group": g.id });
      section.appendChild(el("h3", {}, g.label));
      const row = el("div", { class: "charts" });
      if (cards.length) row.append(...cards);
      else row.appendChild(el("div", { class: "empty" }, "no samples yet"));
      section.appendChild(row);
      sections.push(section);
    }
    replace(host, sections);
  }

  // The monitor has no cache operations: chart the cache's own per-namespace p50/p99,
  // accumulated here from successive polls.
  function cacheLatencyCards(data) {
    const threshold = data.targets.thresholds_ms.cache;
    return data.cache.namespaces.map((ns) => {
      const lat = ns.latency_ms || {};
      const pts = history.cache[ns.namespace] || [];
      return chartCard(`cache.${ns.namespace} (all tiers)`,
        { p50: lat.p50 ?? null, p95: null, p99: lat.p99 ?? null, count: lat.samples || 0 },
        threshold, pts, { breachOf: (p) => p.p99 !== null && p.p99 > threshold, timeOf: (p) => p.t });
    });
  }

  function remember(data) {
    const w = data.warehouse;
    history.pool.push({ t: data.generated_at, u: w.utilisation || 0 });
    if (history.pool.length > HISTORY) history.pool.shift();
    if (!data.cache) return;
    for (const ns of data.cache.namespaces) {
      const lat = ns.latency_ms || {};
      const list = (history.cache[ns.namespace] = history.cache[ns.namespace] || []);
      list.push({ t: data.generated_at, p50: lat.p50 ?? null, p95: null, p99: lat.p99 ?? null });
      if (list.length > HISTORY) list.shift();
    }
  }

  function bar(value, target, higherIsBetter) {
    const box = el("div", { class: "bar", title: `${pct(value)} (target ${higherIsBetter ? "≥" : "<"} ${pct(target)})` });
    const good = higherIsBetter ? value >= target : value < target;
    const fill = el("div", { class: "fill " + (good ? "good" : "bad") });
    fill.style.width = Math.max(0, Math.min(100, 100 * value)) + "%";
    const mark = el("div", { class: "target" });
    mark.style.left = 100 * target + "%";
    box.append(fill, mark);
    return box;
  }

  function renderPool(data) {
    const w = data.warehouse;
    const figs = [["size", `${w.size ?? "–"} / ${w.max_size ?? "–"}`], ["in use", w.in_use], ["idle", w.idle],
      ["waiters", w.waiting], ["utilisation", pct(w.utilisation)], ["statements", w.statements], ["errors", w.errors]];
    replace(document.getElementById("pool-figures"), figs.map(([k, v]) => {
      const f = el("div", { class: "fig", "data-figure": k });
      f.append(el("b", {}, v ?? "–"), el("span", { class: "muted" }, k));
      return f;
    }));
    const label = el("div", { class: "muted" }, `utilisation vs ${pct(w.utilisation_target)} target (backend ${w.backend || "?"})`);
    replace(document.getElementById("pool-bar"), [label, bar(w.utilisation || 0, w.utilisation_target, false)]);
    const pts = history.pool.map((p) => ({ t: p.t, p50: 100 * p.u, p95: null, p99: null }));
    const chart = lineChart(pts, 100 * w.utilisation_target, { breachOf: (p) => p.p50 > 100 * w.utilisation_target, timeOf: (p) => p.t, fmt: (v) => v.toFixed(0) + "%" });
    replace(document.getElementById("pool-spark"), [chart]);
  }

  function renderQueue(data) {
    const q = data.queue || { mode: "in-process" };
    const figs = q.mode === "workers"
      ? [["runs on", "workers"], ["waiting", q.depth], ["oldest waits", q.oldest_age_s == null ? "–" : q.oldest_age_s.toFixed(1) + " s"]]
      : [["runs on", "this server"]];
    replace(document.getElementById("queue-figures"), figs.map(([k, v]) => {
      const f = el("div", { class: "fig", "data-figure": k });
      f.append(el("b", {}, v ?? "–"), el("span", { class: "muted" }, k));
      return f;
    }));
  }

  function renderCache(data) {
    const c = data.cache;
    const rows = document.getElementById("cache-rows");
    const redis = document.getElementById("redis");
    if (!c) {
      redis.textContent = "no cache";
      replace(rows, []);
      return;
    }
    const state = (c.redis && c.redis.state) || "disabled";
    redis.textContent = "redis " + state;
    redis.className = "pill st-" + state;
    redis.setAttribute("data-state", state);
    document.getElementById("l1").textContent = `L1 ${c.l1.entries ?? 0} entries, ${((c.l1.bytes || 0) / 1024).toFixed(0)} KiB, ${c.evictions} evictions`;
    document.getElementById("cache-target").textContent = pct(c.hit_ratio_target);
    replace(rows, c.namespaces.map((ns) => {
      const tr = el("tr", { "data-namespace": ns.namespace });
      const ratio = el("td");
      const wrap = el("div", { style: "display:flex;gap:6px;align-items:center" });
      wrap.append(el("span", {}, pct(ns.hit_ratio)), bar(ns.hit_ratio, c.hit_ratio_target, true));
      ratio.appendChild(wrap);
      const lat = ns.latency_ms || {};
      tr.append(el("td", {}, ns.namespace), el("td", {}, ns.requests), ratio, el("td", {}, pct(ns.l1_hit_ratio)),
        el("td", {}, pct(ns.l2_hit_ratio)), el("td", {}, ns.misses), el("td", {}, ns.evictions),
        el("td", {}, `${ms(lat.p50 ?? null)} / ${ms(lat.p99 ?? null)}`));
      return tr;
    }));
  }

  function renderBreakers(data) {
    replace(document.getElementById("breaker-rows"), data.breakers.map((b) => {
      const tr = el("tr", { "data-breaker": b.name, "data-state": b.state });
      const state = el("td");
      state.appendChild(el("span", { class: "pill st-" + b.state }, b.state));
      tr.append(el("td", {}, b.name), state,
        el("td", {}, `${clock(b.state_changed_at)} (${ago(b.state_changed_ago_s)})`),
        el("td", {}, pct(b.failure_rate)), el("td", {}, b.rejections));
      return tr;
    }));
  }

  function renderRuns(data) {
    const t = data.runs.totals;
    replace(document.getElementById("totals"), [
      el("span", { "data-total": "complete" }, `complete ${t.complete}`),
      el("span", { "data-total": "partial" }, `partial ${t.partial}`),
      el("span", { "data-total": "failed" }, `failed ${t.failed}`),
      el("span", { "data-total": "interrupted" }, `interrupted ${t.interrupted ?? 0}`),
    ]);
    replace(document.getElementById("run-rows"), data.runs.recent.slice(0, RUN_ROWS).map((r) => {
      const tr = el("tr", { "data-run": r.run_id, "data-status": r.status });
      const status = el("td");
      status.appendChild(el("span", { class: "pill st-" + r.status, title: r.error || "" }, r.status));
      const failed = el("td", { class: "failed-sources" });
      for (const s of r.failed_sources) failed.appendChild(el("span", { class: "src" }, s));
      if (r.error) failed.appendChild(el("span", { class: "muted" }, r.error));
      const link = el("td");
      if (r.trace_url && r.trace_link === "jaeger") {
        link.appendChild(el("a", { href: r.trace_url, target: "_blank", rel: "noopener" }, "Jaeger"));
      } else if (r.trace_url) {
        const a = el("a", { href: "#", "data-trace": r.trace_id, class: "trace-link" }, "waterfall");
        a.addEventListener("click", (ev) => { ev.preventDefault(); showTrace(r); });
        link.appendChild(a);
      }
      tr.append(el("td", {}, clock(r.finished_at)), el("td", {}, r.graph), status,
        el("td", {}, ms(r.duration_ms)), failed, link);
      return tr;
    }));
  }

  // -- waterfall of one run from /dashboard/traces/{id} ----------------------------------
  async function showTrace(run) {
    const box = document.getElementById("waterfall");
    const body = document.getElementById("waterfall-body");
    box.hidden = false;
    openTrace = run.trace_id;
    document.getElementById("waterfall-title").textContent = `${run.graph} · run ${run.run_id} · trace ${run.trace_id}`;
    replace(body, [el("div", { class: "muted" }, "loading…")]);
    try {
      const res = await fetch(run.trace_url, { cache: "no-store" });
      const payload = await res.json();
      if (openTrace !== run.trace_id) return;
      if (!res.ok) { replace(body, [el("div", { class: "empty" }, payload.message || res.statusText)]); return; }
      replace(body, [waterfall(payload.spans)]);
    } catch (err) {
      replace(body, [el("div", { class: "empty" }, "could not load the trace: " + err)]);
    }
  }

  function waterfall(spans) {
    const children = {};
    const ids = new Set(spans.map((s) => s.span_id));
    for (const s of spans) {
      const parent = ids.has(s.parent_span_id) ? s.parent_span_id : "";
      (children[parent] = children[parent] || []).push(s);
    }
    const ordered = [];
    const walk = (id, depth) => {
      for (const s of (children[id] || []).sort((a, b) => a.start_ms - b.start_ms)) {
        ordered.push([s, depth]);
        walk(s.span_id, depth + 1);
      }
    };
    walk("", 0);
    const total = Math.max(...spans.map((s) => s.start_ms + s.duration_ms), 0.001);
    const W = 960, LABEL = 330, ROW = 16, H = ordered.length * ROW + 20;
    const root = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: "waterfall-svg" });
    ordered.forEach(([s, depth], i) => {
      const yy = 4 + i * ROW;
      const text = svg("text", { x: 4 + depth * 12, y: yy + 11 });
      text.textContent = (s.status === "ERROR" ? "✗ " : "") + (s.breach ? "⚠ " : "") + s.name;
      const x0 = LABEL + ((W - LABEL - 70) * s.start_ms) / total;
      const w = Math.max(1.5, ((W - LABEL - 70) * s.duration_ms) / total);
      const color = s.status === "ERROR" ? "#dc2626" : s.breach ? "#f59e0b" : "#2563eb";
      const rect = svg("rect", { x: x0, y: yy + 2, width: w, height: ROW - 5, rx: 2, fill: color, class: "span-bar" });
      const tip = svg("title", {});
      tip.textContent = `${s.name}: ${ms(s.duration_ms)} from +${ms(s.start_ms)}${s.error ? " — " + s.error : ""}`;
      rect.appendChild(tip);
      const dur = svg("text", { x: x0 + w + 4, y: yy + 11 });
      dur.textContent = ms(s.duration_ms);
      root.append(text, rect, dur);
    });
    return root;
  }

  function render(data) {
    remember(data);
    renderLatency(data);
    renderPool(data);
    renderQueue(data);
    renderCache(data);
    renderBreakers(data);
    renderRuns(data);
  }

  async function poll() {
    const live = document.getElementById("live");
    try {
      const res = await fetch("/dashboard/data", { cache: "no-store" });
      if (!res.ok) throw new Error("HTTP " + res.status);
      const data = await res.json();
      render(data);
      lastOk = Date.now();
      live.textContent = "live";
      live.className = "pill pill-ok";
      document.getElementById("updated").textContent = "updated " + clock(data.generated_at);
    } catch (err) {
      const stale = lastOk ? ((Date.now() - lastOk) / 1000).toFixed(0) + " s" : "never";
      live.textContent = "stale (" + stale + ")";
      live.className = "pill pill-bad";
      console.warn("dashboard poll failed:", err);
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  poll();
})();
