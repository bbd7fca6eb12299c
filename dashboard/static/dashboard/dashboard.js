// The dashboard's charts (Chart.js, from our static files): each <canvas data-chart=NAME data-src=URL> is drawn
// from its JSON and redrawn in place every data-refresh-s seconds; tables refresh through htmx (hx-trigger).
// window.dashboardCharts and window.dashboardData hold each chart and the data it drew (the browser tests read
// them); the mark "first-chart" is set once the first chart has painted.
(function () {
  "use strict";
  const charts = {};
  const data = {};
  window.dashboardCharts = charts;
  window.dashboardData = data;
  const palette = ["#2f6fb0", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#7f8c8d", "#b7950b"];
  const color = (i) => palette[i % palette.length];
  const time = (v) => new Date(v).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  // A fresh options object for each chart: Chart.js resolves (and keeps) what it is given.
  const opts = (extra) => Object.assign({ animation: false, responsive: true, maintainAspectRatio: false,
    plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } } }, extra || {});
  // A time axis on epoch ms; a span under ten minutes (one snapshot so far) is widened to the half hour around it.
  const timeAxis = () => ({ type: "linear", ticks: { callback: time, maxTicksLimit: 6 },
    afterDataLimits: (scale) => { if (scale.max - scale.min < 600e3) { scale.min -= 1800e3; scale.max += 300e3; } } });
  const line = (label, points, i, extra) => Object.assign({ label: label, data: points, borderColor: color(i),
    backgroundColor: color(i), pointRadius: points.length > 60 ? 0 : 2, borderWidth: 1.5, showLine: true }, extra || {});
  const xy = (pts, at) => pts.map((p) => ({ x: p[0], y: p[at || 1] }));

  const builders = {
    equity: (d) => ({ type: "scatter", data: { datasets: d.series.map((s, i) => line(s.name, xy(s.points), i)) },
      options: opts({ scales: { x: timeAxis(), y: { title: { display: true, text: d.asset } } } }),
      note: d.series.length ? "" : "No equity snapshot yet (beat takes one every few minutes)." }),
    pnl: (d) => ({ type: "scatter", data: { datasets: d.series.flatMap((s, i) => [
        line(s.name + " cumulative", xy(s.points, 2), i),
        line(s.name + " per day", xy(s.points, 1), i, { showLine: false, pointRadius: 3, pointStyle: "rect" })]) },
      options: opts({ scales: { x: timeAxis() } }),
      note: d.series.length ? "" : "Nothing realized in the period yet." }),
    cycles: (d) => ({ type: "doughnut", data: { labels: Object.keys(d.by_state),
        datasets: [{ data: Object.values(d.by_state), backgroundColor: Object.keys(d.by_state).map((_, i) => color(i)) }] },
      options: opts(), note: Object.keys(d.by_state).length ? "" : "No cycle in the last " + d.days + " days." }),
    cycles_pnl: (d) => ({ type: "bar", data: { labels: d.pnl_bps_histogram.map((b) => b[0].toFixed(1) + "…" + b[1].toFixed(1)),
        datasets: [{ label: "cycles", data: d.pnl_bps_histogram.map((b) => b[2]), backgroundColor: color(0) }] },
      options: opts(), note: d.finished ? d.finished + " finished cycles" : "No finished cycle yet." }),
    funnel: (d) => {
      const accounts = Object.keys(d.accounts);
      const reasons = [...new Set(accounts.flatMap((a) => Object.keys(d.accounts[a].refused)))];
      const labels = ["updates", "passes", "candidates", ...reasons.map((r) => "refused: " + r), "opened"];
      return { type: "bar", data: { labels: labels, datasets: accounts.map((a, i) => {
          const c = d.accounts[a];
          return { label: a, backgroundColor: color(i),
                   data: [c.updates, c.passes, c.candidates, ...reasons.map((r) => c.refused[r] || 0), c.opened] };
        }) },
        options: opts({ indexAxis: "y", scales: { x: { type: "logarithmic" } } }),
        note: accounts.length ? "" : "No scanner has run yet." };
    },
    detection: (d) => ({ type: "bar", data: { labels: d.buckets.map((b) => b[0]),
        datasets: [{ label: "fills", data: d.buckets.map((b) => b[1]), backgroundColor: color(2) }] },
      options: opts(), note: d.fills ? d.fills + " fills in " + d.hours + " h · p50 " + d.p50_ms + " ms · p95 " + d.p95_ms + " ms"
                                   : "No fill in the last " + d.hours + " h." }),
    venues: (d) => {
      const names = Object.keys(d.accounts);
      const sets = names.map((n, i) => line(n, d.accounts[n].per_minute.map((p) => ({ x: p[0], y: p[2] })), i));
      const span = names.length ? d.accounts[names[0]].per_minute : [];
      if (span.length) sets.push(line("budget", [{ x: span[0][0], y: d.budget_per_minute },
        { x: span[span.length - 1][0], y: d.budget_per_minute }], 1, { borderDash: [6, 4] }));
      return { type: "scatter", data: { datasets: sets }, options: opts({ scales: { x: timeAxis(),
          y: { title: { display: true, text: "weight / min" } } } }),
        note: names.map((n) => n + ": breaker " + d.accounts[n].breaker).join(" · ") };
    },
    positions: (d) => {
      const labels = [...Object.keys(d.by_tier).map((t) => "tier " + t), ...Object.keys(d.by_phase)];
      const values = [...Object.values(d.by_tier), ...Object.values(d.by_phase)];
      return { type: "bar", data: { labels: labels, datasets: [{ label: "open positions", data: values,
          backgroundColor: labels.map((l) => (l.startsWith("tier") ? color(0) : color(4))) }] },
        options: opts(), note: values.length ? "" : "No open position." };
    },
    position: (d) => {
      const xs = d.prices.map((p) => p[0]).concat(d.fills.map((f) => f.t), d.candles.map((c) => c[0]));
      const lo = xs.length ? Math.min(...xs) : Date.now() - 3600e3, hi = xs.length ? Math.max(...xs) : Date.now();
      const level = (label, y, i, dash) => line(label, [{ x: lo, y: y }, { x: hi, y: y }], i, { borderDash: dash });
      const sets = [line(d.symbol + " (checks)", xy(d.prices), 0)];
      if (d.candles.length) {  // the market's candles: the low-high range shaded, the close drawn
        sets.push(line(d.timeframe + " low", d.candles.map((c) => ({ x: c[0], y: c[1] })), 5, { pointRadius: 0, borderWidth: 0 }));
        sets.push(line(d.timeframe + " high", d.candles.map((c) => ({ x: c[0], y: c[2] })), 5,
          { pointRadius: 0, borderWidth: 0, fill: "-1", backgroundColor: "rgba(120, 120, 120, 0.15)" }));
        sets.push(line(d.timeframe + " close", d.candles.map((c) => ({ x: c[0], y: c[3] })), 5, { pointRadius: 0, borderWidth: 1 }));
      }
      if (d.entry !== null) sets.push(level("entry", d.entry, 6, [2, 2]));
      if (d.stop !== null) sets.push(level("stop", d.stop, 1, [6, 4]));
      d.take_profits.forEach((tp, i) => sets.push(level("TP" + (i + 1) + " (" + tp.status.toLowerCase() + ")", tp.price, 2, [6, 4])));
      sets.push(line("fills", d.fills.map((f) => ({ x: f.t, y: f.price })), 4, { showLine: false, pointRadius: 5,
        pointStyle: "triangle" }));
      return { type: "scatter", data: { datasets: sets }, options: opts({ scales: { x: timeAxis() } }),
        note: d.prices.length || d.candles.length ? "" : "No price checked yet." };
    },
    wallet: (d) => ({ type: "scatter", data: { datasets: [
        line("their buys", d.rows.filter((r) => r.side === "buy").map((r) => ({ x: r.t, y: r.price })), 2, { showLine: false, pointRadius: 3 }),
        line("their sells", d.rows.filter((r) => r.side === "sell").map((r) => ({ x: r.t, y: r.price })), 1, { showLine: false, pointRadius: 3 }),
        line("our copies", d.rows.filter((r) => r.our_price !== null).map((r) => ({ x: r.t, y: r.our_price })), 0,
             { showLine: false, pointRadius: 5, pointStyle: "crossRot" })] },
      options: opts({ scales: { x: timeAxis() } }), note: d.rows.length ? "" : "No fill seen yet." }),
    cycle: (d) => ({ type: "bar", data: { labels: d.legs.map((l) => l.index + " " + l.side + " " + l.symbol),
        datasets: [{ label: "slippage (bps)", data: d.legs.map((l) => l.slippage_bps), backgroundColor: color(3) }] },
      options: opts(), note: d.state }),
  };

  function draw(canvas, payload) {
    const name = canvas.dataset.chart;
    const config = builders[name](payload);
    data[name] = payload;
    const note = document.querySelector('[data-note="' + name + '"]');
    if (note) note.textContent = config.note || "";
    if (charts[name]) {
      charts[name].data = config.data;
      charts[name].update("none");
      return;
    }
    charts[name] = new Chart(canvas, config);
    if (!performance.getEntriesByName("first-chart").length) {
      requestAnimationFrame(() => performance.mark("first-chart"));
    }
  }

  async function load(canvas) {
    const inline = document.getElementById("chart-data-" + canvas.dataset.chart);
    if (inline && !charts[canvas.dataset.chart]) return draw(canvas, JSON.parse(inline.textContent));
    const answer = await fetch(canvas.dataset.src, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!answer.ok) throw new Error(canvas.dataset.chart + ": HTTP " + answer.status);
    draw(canvas, await answer.json());
  }

  function refresh() {
    document.querySelectorAll("canvas[data-chart]").forEach((canvas) => load(canvas).catch((err) => {
      const note = document.querySelector('[data-note="' + canvas.dataset.chart + '"]');
      if (note) note.textContent = "Not refreshed: " + err.message;
    }));
  }

  document.addEventListener("DOMContentLoaded", () => {
    refresh();
    const root = document.querySelector("[data-refresh-s]");
    const every = root ? Number(root.dataset.refreshS) : 15;
    if (every > 0) setInterval(refresh, every * 1000);
  });
})();
