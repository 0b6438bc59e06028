// vaelab explorer: plain JavaScript, no build step, no third-party code; it talks only to the
// server that sent it (the page's Content-Security-Policy forbids anything else).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];  // matplotlib's tab10, as `vaelab map`

  const state = {
    info: null,
    z: [],             // the current latent code; the sliders show it (clamped to their range)
    label: null,       // the class decoded, for conditional runs
    selected: null,    // the test example last loaded: ringed on the map
    ends: { a: { index: 0 }, b: { index: 1 } },  // the interpolation's ends: a test index or an uploaded code
    path: null,        // the last interpolation: {z, images, step_distances}
    attributeZ: null,  // z + alpha v of the attribute card
    map: null,         // {points, labels, method, axes} and, once drawn, screen coordinates
  };
  const sliders = new Map();  // dimension -> {input, output}
  let pending = 0;

  // --- the server --------------------------------------------------------------------------------
  async function request(path, body) {
    const options = body === undefined ? {}
      : body instanceof FormData ? { method: "POST", body }
      : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
    pending += 1;
    document.body.dataset.busy = String(pending);
    try {
      const response = await fetch(path, options);
      if (!response.ok) {
        let message = `${response.status} ${response.statusText}`;
        try { message = (await response.json()).detail || message; } catch (_) { /* not JSON */ }
        throw new Error(message);
      }
      return response;
    } finally {
      pending -= 1;
      document.body.dataset.busy = String(pending);
    }
  }
  const json = async (path, body) => (await request(path, body)).json();

  // Live updates without a backlog: one request in flight; whatever changed meanwhile goes in one more.
  function latest(task) {
    let running = false, again = false;
    return async () => {
      if (running) { again = true; return; }
      running = true;
      try {
        do { again = false; await task(); } while (again);
      } catch (error) {
        showError(error);
      } finally {
        running = false;
      }
    };
  }

  function status(text) { const s = $("status"); s.textContent = text; s.classList.remove("error"); }
  function showError(error) { const s = $("status"); s.textContent = error.message || String(error); s.classList.add("error"); }
  const fmt = (v) => (v >= 0 ? "\u2009" : "") + v.toFixed(2);  // a thin space keeps columns steady

  // --- the decoded image ------------------------------------------------------------------------------
  let ownedUrl = null;
  function showImage(src) {  // a blob: URL made here (freed once replaced) or a data: URL from the API
    const img = $("decoded"), previous = ownedUrl;
    ownedUrl = src.startsWith("blob:") ? src : null;
    img.onload = () => {
      img.dataset.version = String(Number(img.dataset.version || 0) + 1);
      if (previous && previous !== ownedUrl) URL.revokeObjectURL(previous);
    };
    img.src = src;
  }

  const decode = latest(async () => {
    const response = await request("api/decode", { z: state.z, label: state.label, format: "png" });
    showImage(URL.createObjectURL(await response.blob()));
  });

  function setCode(z, image) {
    state.z = z.slice();
    for (const [d, { input, output }] of sliders) showValue(input, output, state.z[d]);
    if (image) showImage(image); else decode();
    refreshAttribute();
  }

  function showValue(input, output, value) {
    input.value = String(value);
    output.value = fmt(value);
    input.setAttribute("aria-valuetext", value.toFixed(2));
  }

  // --- sliders, most informative first ------------------------------------------------------------------
  function buildSliders(info) {
    const weight = (d) => (d.kl !== null ? d.kl : d.variance);
    const largest = Math.max(1e-9, ...info.dimensions.map(weight));
    let inactive = 0;
    for (const d of info.dimensions) {
      const id = `z-${d.dim}`;
      const row = document.createElement("div");
      row.className = "dim";
      const label = document.createElement("label");
      label.htmlFor = id;
      const name = document.createElement("b");
      name.textContent = `z${d.dim}`;
      const measure = document.createElement("span");
      measure.textContent = d.kl !== null ? `KL ${d.kl.toFixed(2)}` : `var ${d.variance.toFixed(2)}`;
      const bar = document.createElement("i");
      bar.className = "kl-bar";
      bar.style.width = `${Math.max(2, (100 * weight(d)) / largest)}%`;
      label.append(name, measure, bar);
      const input = document.createElement("input");
      Object.assign(input, { type: "range", id, min: String(-d.span), max: String(d.span),
                             step: String(Number((d.span / 60).toFixed(3))), value: "0" });
      input.setAttribute("aria-describedby", "sliders-title");
      const output = document.createElement("output");
      output.setAttribute("for", id);
      output.value = fmt(0);
      input.addEventListener("input", () => {
        const value = Number(input.value);
        state.z[d.dim] = value;
        output.value = fmt(value);
        input.setAttribute("aria-valuetext", value.toFixed(2));
        decode();
        refreshAttribute();
      });
      row.append(label, input, output);
      sliders.set(d.dim, { input, output });
      if (d.active) $("active-dims").append(row);
      else { $("inactive-dims").append(row); inactive += 1; }
    }
    if (inactive) {
      $("inactive-box").hidden = false;
      $("inactive-box").open = inactive === info.dimensions.length;  // nothing active: show them anyway
      $("inactive-summary").textContent =
        `${inactive} inactive dimension${inactive > 1 ? "s" : ""} (posterior mean varies by < 0.01)`;
    }
  }

  // --- test examples ------------------------------------------------------------------------------
  async function loadExample(index) {
    const e = await json(`api/examples/${index}`);
    state.selected = e.index;
    if (state.info.conditional && e.label !== null) setLabel(e.label);
    setCode(e.mu, e.reconstruction);
    $("example-index").value = String(e.index);
    status(`test #${e.index}${e.label !== null ? ` \u00b7 label ${e.label}` : ""}: its posterior mean`);
    drawMap();
  }

  function setLabel(label) {
    state.label = label;
    $("class-select").value = String(label);
  }

  // --- the map --------------------------------------------------------------------------------------
  async function loadMap() {
    state.map = await json("api/map");
    $("map-method").textContent = state.map.method;
    const legend = $("legend");
    if (state.map.labels) {
      for (const c of [...new Set(state.map.labels)].sort((a, b) => a - b)) {
        const item = document.createElement("span");
        const dot = document.createElement("i");
        dot.style.background = PALETTE[c % PALETTE.length];
        item.append(dot, String(c));
        legend.append(item);
      }
    }
    drawMap();
  }

  function drawMap() {
    const m = state.map, canvas = $("map");
    if (!m) return;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth, height = canvas.clientHeight;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const left = 26, right = 8, top = 8, bottom = 22;
    let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
    for (const [x, y] of m.points) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
    const sx = (width - left - right) / Math.max(x1 - x0, 1e-9), sy = (height - top - bottom) / Math.max(y1 - y0, 1e-9);
    m.screen = m.points.map(([x, y]) => [left + (x - x0) * sx, height - bottom - (y - y0) * sy]);
    ctx.globalAlpha = 0.65;
    m.screen.forEach(([x, y], i) => {
      ctx.fillStyle = m.labels ? PALETTE[m.labels[i] % PALETTE.length] : "#4f46e5";
      ctx.fillRect(x - 1.3, y - 1.3, 2.6, 2.6);
    });
    ctx.globalAlpha = 1;
    if (state.selected !== null && m.screen[state.selected]) {
      const [x, y] = m.screen[state.selected];
      ctx.lineWidth = 3; ctx.strokeStyle = "#fff";
      ctx.beginPath(); ctx.arc(x, y, 6, 0, 2 * Math.PI); ctx.stroke();
      ctx.lineWidth = 1.6; ctx.strokeStyle = "#1d2330";
      ctx.beginPath(); ctx.arc(x, y, 6, 0, 2 * Math.PI); ctx.stroke();
    }
    ctx.fillStyle = "#667085";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.fillText(m.axes[0], left + (width - left - right) / 2, height - 6);
    ctx.save();
    ctx.translate(11, top + (height - top - bottom) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText(m.axes[1], 0, 0);
    ctx.restore();
  }

  function nearestPoint(event) {
    const m = state.map;
    if (!m || !m.screen) return null;
    const box = $("map").getBoundingClientRect();
    const x = event.clientX - box.left, y = event.clientY - box.top;
    let best = null, bestDistance = 100;  // within 10 px
    m.screen.forEach(([px, py], i) => {
      const d = (px - x) ** 2 + (py - y) ** 2;
      if (d < bestDistance) { best = i; bestDistance = d; }
    });
    return best;
  }

  // --- interpolation ------------------------------------------------------------------------------------
  async function setEndIndex(name, index) {
    const e = await json(`api/examples/${index}`);
    state.ends[name] = { index: e.index };
    $(`end-${name}-image`).src = e.image;
    $(`end-${name}-image`).alt = `test #${e.index}`;
  }

  async function setEndUpload(name, file) {
    const form = new FormData();
    form.append("file", file);
    if (state.label !== null) form.append("label", String(state.label));
    const e = await json("api/encode", form);
    state.ends[name] = { z: e.mu };
    $(`end-${name}-image`).src = e.image;
    $(`end-${name}-image`).alt = `uploaded ${file.name}`;
    $(`end-${name}-index`).value = "";
    $(`end-${name}-index`).placeholder = "upload";
    status(`${file.name}: encoded`);
  }

  async function interpolate() {
    const steps = Math.round(Number($("steps").value));
    const path = await json("api/interpolate", {
      from: state.ends.a, to: state.ends.b, steps, spherical: $("spherical").checked, label: state.label });
    state.path = path;
    const strip = $("filmstrip");
    strip.replaceChildren();
    path.images.forEach((src, t) => {
      const img = document.createElement("img");
      img.src = src;
      img.alt = `frame ${t + 1} of ${steps}`;
      img.addEventListener("click", () => { $("interp-t").value = String(t); showFrame(t); });
      strip.append(img);
    });
    const slider = $("interp-t");
    slider.max = String(steps - 1);
    slider.disabled = false;
    slider.value = "0";
    showFrame(0);
    const d = path.step_distances;
    status(`${steps} frames; neighbouring frames differ by mean ${(d.reduce((a, b) => a + b, 0) / d.length).toFixed(4)}, ` +
           `max ${Math.max(...d).toFixed(4)}`);
  }

  function showFrame(t) {
    const path = state.path;
    if (!path) return;
    state.selected = null;
    setCode(path.z[t], path.images[t]);
    [...$("filmstrip").children].forEach((img, i) => img.classList.toggle("current", i === t));
    $("interp-t-value").value = `${t + 1} / ${path.images.length}`;
    $("interp-t").setAttribute("aria-valuetext", `frame ${t + 1} of ${path.images.length}`);
    drawMap();
  }

  // --- attribute vectors --------------------------------------------------------------------------------
  const refreshAttribute = latest(async () => {
    if (!state.info || !state.info.attributes.length) return;
    const attribute = $("attribute-select").value;
    const r = await json("api/attribute", {
      z: state.z, attribute, alpha: Number($("alpha").value), label: state.label });
    state.attributeZ = r.z;
    $("attribute-image").src = r.image;
  });

  function describeAttribute() {
    const a = state.info.attributes.find((x) => x.name === $("attribute-select").value);
    if (!a) return;
    $("attribute-hint").textContent =
      `z + alpha v, where v is the mean code of ${a.with} training examples with ${a.name} minus that of ` +
      `${a.without} without (|v| = ${a.norm.toFixed(2)}).`;
  }

  // --- wiring -----------------------------------------------------------------------------------------
  function wire() {
    $("sample-btn").addEventListener("click", () => run(async () => {
      const temperature = Number($("temperature").value);
      const s = await json("api/sample", { n: 1, temperature, label: state.label });
      state.selected = null;
      setCode(s.z[0], s.images[0]);
      status(`prior sample, temperature ${temperature.toFixed(2)} (seed ${s.seed})`);
      drawMap();
    }));
    $("zero-btn").addEventListener("click", () => {
      state.selected = null;
      setCode(new Array(state.info.latent_dim).fill(0));
      status("z = 0, the prior's mean");
      drawMap();
    });
    $("temperature").addEventListener("input", () => { $("temperature-value").value = Number($("temperature").value).toFixed(2); });
    $("class-select").addEventListener("change", () => { state.label = Number($("class-select").value); decode(); refreshAttribute(); });
    $("example-form").addEventListener("submit", (event) => {
      event.preventDefault();
      run(() => loadExample(Number($("example-index").value)));
    });

    const canvas = $("map");
    canvas.addEventListener("click", (event) => {
      const i = nearestPoint(event);
      if (i !== null) run(() => loadExample(i));
    });
    canvas.addEventListener("mousemove", (event) => {
      const i = nearestPoint(event), m = state.map;
      $("map-hover").textContent = i === null ? "" : `test #${i}${m.labels ? ` \u00b7 label ${m.labels[i]}` : ""}`;
    });
    canvas.addEventListener("mouseleave", () => { $("map-hover").textContent = ""; });
    window.addEventListener("resize", drawMap);

    for (const name of ["a", "b"]) {
      $(`end-${name}-index`).addEventListener("change", (event) => {
        if (event.target.value !== "") run(() => setEndIndex(name, Number(event.target.value)));
      });
      $(`end-${name}-file`).addEventListener("change", (event) => {
        const file = event.target.files[0];
        if (file) run(() => setEndUpload(name, file));
        event.target.value = "";
      });
    }
    $("interp-btn").addEventListener("click", () => run(interpolate));
    $("interp-t").addEventListener("input", () => showFrame(Number($("interp-t").value)));

    $("alpha").addEventListener("input", () => { $("alpha-value").value = Number($("alpha").value).toFixed(1); refreshAttribute(); });
    $("attribute-select").addEventListener("change", () => { describeAttribute(); refreshAttribute(); });
    $("attribute-apply").addEventListener("click", () => {
      if (!state.attributeZ) return;
      state.selected = null;
      const z = state.attributeZ;
      $("alpha").value = "0";
      $("alpha-value").value = "0.0";
      setCode(z);
      drawMap();
    });
  }

  async function run(task) {
    try { await task(); } catch (error) { showError(error); }
  }

  async function start() {
    const info = await json("api/info");
    state.info = info;
    state.z = new Array(info.latent_dim).fill(0);
    const active = info.dimensions.filter((d) => d.active).length;
    document.title = `${info.run} \u00b7 vaelab explorer`;
    $("run-info").textContent = [
      info.run, info.data, info.shape.join("\u00d7"), `latent ${info.latent_dim} (${active} active)`,
      `${info.examples} test examples`, info.conditional ? `conditional, ${info.classes} classes` : null,
      info.stochastic ? null : "autoencoder",
    ].filter(Boolean).join(" \u00b7 ");
    buildSliders(info);
    if (info.conditional) {
      for (let c = 0; c < info.classes; c += 1) $("class-select").append(new Option(String(c), String(c)));
      $("class-box").hidden = false;
      setLabel(0);
    }
    if (info.attributes.length) {
      for (const a of info.attributes) $("attribute-select").append(new Option(a.name, a.name));
      $("attribute-card").hidden = false;
      describeAttribute();
    }
    $("example-index").max = String(info.examples - 1);
    for (const name of ["a", "b"]) $(`end-${name}-index`).max = String(info.examples - 1);
    wire();
    await Promise.all([loadMap(), loadExample(0), setEndIndex("a", 0), setEndIndex("b", Math.min(1, info.examples - 1))]);
    document.body.dataset.ready = "1";
  }

  // For scripts and tests: where test example i is drawn on the map, in page coordinates.
  window.vaelabExplorer = {
    pointOnPage(i) {
      const box = $("map").getBoundingClientRect(), [x, y] = state.map.screen[i];
      return { x: box.left + x, y: box.top + y };
    },
  };

  start().catch(showError);
})();
