// The page of `dlspec serve`: reads /metadata, builds a form for the run's kind of input, posts to
// /predict and draws the answer (top classes as bars, a value, or a forecast plotted as SVG).
// Plain script, no build step, nothing fetched from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
let meta = null;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

async function predict(body, contentType, query = "") {
  $("error").textContent = "";
  $("answer").textContent = "…";
  const headers = contentType ? { "Content-Type": contentType } : {};
  const response = await fetch("/predict" + query, { method: "POST", body, headers });
  const data = await response.json();
  if (!response.ok) {
    $("answer").textContent = "";
    $("error").textContent = data.error + (data.hint ? "\n" + data.hint : "");
    return null;
  }
  return data;
}

// as many bars as classes (up to 5): the run's, or its outputs' with the most
const topK = () => Math.min(5, Math.max(1, (meta.classes || []).length,
                                        ...Object.values(meta.outputs || {}).map((o) => (o.classes || []).length)));

function showAnswer(data) {
  const box = $("answer");
  box.textContent = "";
  if (!data) return;
  for (const answer of data.predictions) box.append(renderOne(answer));
  for (const note of data.notes || []) box.append(el("p", { class: "small", text: note }));
}

function renderOne(answer) {
  const part = el("div", { class: "prediction" });
  const parts = Object.entries(answer).filter(([k, v]) => v && typeof v === "object" && !Array.isArray(v));
  if (parts.length && !("label" in answer) && !("prediction" in answer)) {  // several outputs
    for (const [name, sub] of parts) part.append(el("h3", { text: name }), renderOne(sub));
    return part;
  }
  if ("label" in answer) {
    part.append(el("div", { class: "label", text: answer.label }));
    for (const t of answer.top || [{ label: answer.label, probability: answer.probability }]) {
      const fill = el("div", { class: "fill", style: `width:${(100 * t.probability).toFixed(1)}%` });
      part.append(el("div", { class: "bar" }, el("span", { text: t.label }), el("div", {}, fill),
                     el("span", { text: (100 * t.probability).toFixed(1) + "%" })));
    }
  } else if ("prediction" in answer) {
    const v = answer.prediction;
    part.append(el("div", { class: "label", text: Array.isArray(v) ? v.map(fmt).join(", ") : fmt(v) }));
  } else {
    part.append(el("pre", { text: JSON.stringify(answer.output) }));
  }
  return part;
}

const fmt = (v) => (Math.abs(v) >= 1000 || Number.isInteger(v) ? v.toFixed(1) : v.toPrecision(4));

// ---- one form per kind of input ---------------------------------------------------------------

function imageForm(form) {
  const input = el("input", { type: "file", id: "file", accept: "image/*", multiple: "" });
  const drop = el("div", { id: "drop" }, "Drop an image here, or click to pick one");
  const preview = el("img", { id: "preview", alt: "" });
  preview.hidden = true;
  drop.onclick = () => input.click();
  drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove("over"); send(e.dataTransfer.files); };
  input.onchange = () => send(input.files);
  async function send(files) {
    if (!files.length) return;
    preview.src = URL.createObjectURL(files[0]);
    preview.hidden = false;
    const body = new FormData();
    for (const f of files) body.append("file", f, f.name);
    showAnswer(await predict(body, null, `?top=${topK()}`));
  }
  input.hidden = true;
  form.append(drop, input, preview);
}

function textForm(form) {
  const text = el("textarea", { id: "text", rows: "3", placeholder: "Type a sentence" });
  const button = el("button", { id: "go", text: "Predict" });
  button.onclick = async () => showAnswer(await predict(JSON.stringify({ text: text.value }),
                                                        "application/json", `?top=${topK()}`));
  form.append(text, button);
}

function tableForm(form) {
  for (const column of meta.columns) {
    let field;
    if (column.kind === "image") {  // a row naming an image file: the file is sent with the row
      field = el("input", { name: column.name, id: "col-" + column.name, type: "file", accept: "image/*" });
    } else if (column.levels && column.levels.length) {
      field = el("select", { name: column.name, id: "col-" + column.name }, el("option", { value: "", text: "(none)" }));
      for (const level of column.levels) field.append(el("option", { value: level, text: level }));
      field.value = column.levels[0];
    } else {
      field = el("input", { name: column.name, id: "col-" + column.name, type: "text", inputmode: "decimal",
                            value: column.fill == null ? "" : String(column.fill) });
    }
    form.append(el("label", {}, el("span", { text: column.name }), field));
  }
  const button = el("button", { id: "go", text: "Predict" });
  button.onclick = async () => {
    const row = {}, files = [];
    for (const column of meta.columns) {
      const field = $("col-" + column.name);
      if (column.kind !== "image") { row[column.name] = field.value; continue; }
      const file = field.files[0];
      row[column.name] = file ? `${files.length}-${file.name}` : "";  // distinct names, as the rows name them
      if (file) files.push([row[column.name], file]);
    }
    if (!files.length) {
      showAnswer(await predict(JSON.stringify({ rows: [row] }), "application/json", `?top=${topK()}`));
      return;
    }
    const names = Object.keys(row), cell = (v) => `"${String(v).replace(/"/g, '""')}"`;
    const body = new FormData();
    body.append("file", new Blob([names.map(cell).join(",") + "\n" + names.map((n) => cell(row[n])).join(",") + "\n"],
                                 { type: "text/csv" }), "row.csv");
    for (const [name, file] of files) body.append("file", file, name);
    showAnswer(await predict(body, null, `?top=${topK()}`));
  };
  form.append(button);
}

function seriesForm(form) {
  const values = el("textarea", { id: "values", rows: "4" });
  values.value = meta.series.tail.map((v) => +v.toPrecision(6)).join(", ");
  const steps = el("input", { id: "steps", type: "number", min: "1", max: "1000", value: "10" });
  const button = el("button", { id: "go", text: "Forecast" });
  button.onclick = async () => {
    const cells = values.value.split(/[\s,;]+/).filter((s) => s);
    const bad = cells.find((s) => !Number.isFinite(Number(s)));
    if (bad !== undefined) { $("error").textContent = `'${bad}' is not a number`; return; }
    const history = cells.map(Number);
    const data = await predict(JSON.stringify({ values: history }), "application/json", `?steps=${steps.value}`);
    if (!data) return;
    const forecast = data.predictions.map((p) => p.prediction);
    $("answer").textContent = "";
    $("answer").append(plot(history, forecast), el("p", { class: "label", text: forecast.map(fmt).join(", ") }));
  };
  form.append(el("p", { class: "small", text: `Recent values (at least ${meta.series.window}); ` +
                                               "filled with the end of the training series" }),
              values, el("label", {}, el("span", { text: "steps" }), steps), button);
}

function plot(history, forecast) {
  const all = history.concat(forecast), w = 440, h = 180, pad = 10;
  const lo = Math.min(...all), hi = Math.max(...all), span = hi - lo || 1;
  const x = (i) => pad + (i * (w - 2 * pad)) / Math.max(1, all.length - 1);
  const y = (v) => h - pad - ((v - lo) * (h - 2 * pad)) / span;
  const line = (vals, start) => vals.map((v, i) => `${x(start + i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", w); svg.setAttribute("height", h); svg.setAttribute("id", "plot");
  for (const [points, colour] of [[line(history, 0), "#555"],
                                  [line(history.slice(-1).concat(forecast), history.length - 1), "#d60"]]) {
    const path = document.createElementNS(ns, "polyline");
    path.setAttribute("points", points); path.setAttribute("fill", "none");
    path.setAttribute("stroke", colour); path.setAttribute("stroke-width", "2");
    svg.append(path);
  }
  return svg;
}

// ---- the run's summary ------------------------------------------------------------------------

function showRun() {
  $("title").textContent = `dlspec serve: ${meta.run}`;
  $("subtitle").textContent = `model ${meta.model}, data ${meta.data}: ${meta.kind} inputs, ${meta.task || "?"}` +
    ` (${meta.checkpoint} checkpoint, epoch ${meta.epoch})`;
  $("summary").textContent = meta.summary;
  $("spec").textContent = meta.spec;
  const results = meta.results || {};
  const [which, shown] = results.test && Object.keys(results.test).length ? ["test", results.test]
    : ["best epoch", results.best];  // a run without a test split: the monitored epoch's numbers
  if (shown) {
    const table = el("table", {}, el("tr", {}, el("th", { text: `${which} metric` }), el("th", { text: "value" })));
    for (const [k, v] of Object.entries(shown)) {
      table.append(el("tr", {}, el("td", { text: k }), el("td", { text: typeof v === "number" ? fmt(v) : String(v) })));
    }
    $("metrics").append(table);
  }
  if (meta.curves) { $("curves").src = "/curves.png"; $("curves").hidden = false; }
}

async function main() {
  meta = await (await fetch("/metadata")).json();
  showRun();
  const form = $("form");
  const build = { image: imageForm, text: textForm, table: tableForm, series: seriesForm }[meta.kind];
  if (build) build(form);
  else if (meta.columns) tableForm(form);
  else imageForm(form);
  document.body.dataset.ready = "yes";
}

main().catch((e) => { $("error").textContent = String(e); });
