// DOM and SVG helpers, number formats, view states and CSV export.

const SVG_NS = "http://www.w3.org/2000/svg";

export function el(tag, attributes = {}, text = null) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== null) node.textContent = text;
  return node;
}

export function svg(tag, attributes = {}, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

export function percent(value) {
  return value === null || value === undefined ? "–" : `${(value * 100).toFixed(1)}%`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

export function number(value, unit) {
  if (value === null || value === undefined) return "–";
  const shown = Math.abs(value) < 1 && value !== 0 ? value.toFixed(3) : value.toFixed(1);
  return unit ? `${shown} ${unit}` : shown;
}

export function names(items) {
  return items.map((item) => item.name).join(", ") || "–";
}

export function day(iso) {
  return iso ? iso.slice(0, 10) : "–";
}

export function badge(text) {
  return el("span", { class: `badge ${text}` }, text.replace("_", " ").toLowerCase());
}

// --- view states: loading, empty, error, ready ------------------------------------------

// `work` draws the view and returns true (something shown), false (nothing in this
// window), a string (nothing to show, and why) or null (a newer request superseded
// it: leave the state to that one).
export async function runView(section, work) {
  const state = section.querySelector(".state");
  const result = section.querySelector(".result");
  section.dataset.state = "loading";
  state.textContent = "Loading…";
  state.className = "state loading";
  state.hidden = false;
  result.classList.add("stale");
  try {
    const answer = await work();
    if (answer === null) return;
    const shown = answer === true;
    result.classList.remove("stale");
    section.dataset.state = shown ? "ready" : "empty";
    state.textContent = shown ? "" : typeof answer === "string" ? answer : "No data for this window.";
    state.className = shown ? "state" : "state empty";
    state.hidden = shown;
    result.hidden = !shown;
  } catch (error) {
    result.classList.remove("stale");
    result.hidden = true;
    section.dataset.state = "error";
    state.textContent = `Could not load: ${error.message || error}`;
    state.className = "state error";
    state.setAttribute("role", "alert");
  }
}

// --- tables and their CSV export ---------------------------------------------------------

// A table with a header row and an "Export CSV" button; a cell is a string or a node.
// Columns from `numericFrom` on are right-aligned.
export function dataTable(headings, rows, { filename, numericFrom = Infinity, id } = {}) {
  const table = el("table", { class: "data" });
  const head = el("thead");
  const headRow = el("tr");
  headRow.append(...headings.map((heading) => el("th", {}, heading)));
  head.appendChild(headRow);
  const body = el("tbody");
  for (const cells of rows) {
    const tr = cells.attributes ? el("tr", cells.attributes) : el("tr");
    (cells.cells || cells).forEach((cell, index) => {
      const td = el("td", index >= numericFrom ? { class: "num" } : {});
      if (cell instanceof Node) {
        td.appendChild(cell);
        // A picture (a sparkline) exports the numbers it draws.
        if (cell.dataset && cell.dataset.csv !== undefined) td.dataset.csv = cell.dataset.csv;
      } else {
        td.textContent = cell;
      }
      tr.appendChild(td);
    });
    body.appendChild(tr);
  }
  table.append(head, body);
  const wrap = el("div", { class: "table-wrap" });
  if (id) wrap.id = id;
  wrap.append(exportButton(table, filename || "table.csv"), table);
  return wrap;
}

function exportButton(table, filename) {
  const button = el("button", { type: "button", class: "export" }, "Export CSV");
  button.addEventListener("click", () => download(filename, tableCsv(table), button));
  return button;
}

// What the table shows, as RFC 4180 CSV (a cell's text as displayed).
export function tableCsv(table) {
  return [...table.querySelectorAll("tr")]
    .map((tr) => [...tr.children].map((cell) => csvCell(cell.dataset.csv ?? cell.textContent)).join(","))
    .join("\r\n") + "\r\n";
}

function csvCell(text) {
  let value = text.trim();
  // A spreadsheet would run a cell starting like a formula: keep it text.
  if (/^[=+\-@]/.test(value) && Number.isNaN(Number(value))) value = `'${value}`;
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

// The link stays next to the button (hidden) so the file can be fetched again.
function download(filename, text, button) {
  let link = button.nextElementSibling;
  if (!link || !link.classList.contains("csv-download")) {
    link = el("a", { class: "csv-download", hidden: "" });
    button.after(link);
  } else {
    URL.revokeObjectURL(link.href);
  }
  link.href = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  link.download = filename;
  link.click();
}

export function fillSelect(select, nodes, anyLabel = null) {
  const options = nodes.map((node) => el("option", { value: node.id }, node.name));
  if (anyLabel) options.unshift(el("option", { value: "" }, anyLabel));
  select.replaceChildren(...options);
}

// --- sparklines --------------------------------------------------------------------------

// A small line of `values` (oldest first; null is a gap) with an optional dashed
// reference line (a target, a threshold) and a dot on the newest point.
export function sparkline(values, { reference = null, labels = [], format = String } = {}) {
  const width = 140;
  const height = 30;
  const pad = 4;
  const known = values.filter((value) => value !== null && value !== undefined);
  const picture = svg("svg", {
    class: "sparkline", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "data-values": JSON.stringify(values),
  });
  const title = values
    .map((value, i) => `${labels[i] || i + 1}: ${value === null ? "no data" : format(value)}`)
    .join("\n");
  picture.appendChild(svg("title", {}, title));
  const all = reference === null ? known : [...known, reference];
  const low = Math.min(...all);
  const high = Math.max(...all);
  const span = high - low || 1;
  const x = (i) => pad + (values.length > 1 ? (i * (width - 2 * pad)) / (values.length - 1) : (width - 2 * pad) / 2);
  const y = (value) => height - pad - ((value - low) / span) * (height - 2 * pad);
  if (reference !== null) {
    picture.appendChild(svg("line", {
      class: "reference", x1: pad, x2: width - pad, y1: y(reference), y2: y(reference),
    }));
  }
  let path = "";
  let pen = false;
  values.forEach((value, i) => {
    if (value === null || value === undefined) {
      pen = false;
      return;
    }
    path += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(value).toFixed(1)} `;
    pen = true;
  });
  picture.appendChild(svg("path", { class: "line", d: path.trim() }));
  const lastIndex = values.findLastIndex((value) => value !== null && value !== undefined);
  if (lastIndex >= 0) {
    picture.appendChild(svg("circle", { cx: x(lastIndex), cy: y(values[lastIndex]), r: 2.5 }));
  }
  return picture;
}

// The numbers beside a sparkline: every one for a few periods, else first and last.
export function trendCaption(values, format) {
  const shown = (value) => (value === null || value === undefined ? "–" : format(value));
  if (values.length <= 6) return values.map(shown).join(" · ");
  const known = values.filter((value) => value !== null && value !== undefined);
  return `${shown(known[0])} → ${shown(known[known.length - 1])} over ${values.length} periods`;
}

// A table cell with a sparkline and its caption; the CSV export gets the raw values.
export function trendCell(values, options, format) {
  const cell = el("span", { class: "trend" });
  if (!values.some((value) => value !== null && value !== undefined)) {
    cell.append(el("span", { class: "muted" }, "no data for this window"));
    cell.dataset.csv = "";
    return cell;
  }
  cell.append(sparkline(values, { ...options, format }), el("span", { class: "caption" }, trendCaption(values, format)));
  cell.dataset.csv = values.map((value) => (value === null ? "" : String(value))).join(" ");
  return cell;
}

// Boxes and arrows of a picture act on Enter and Space like on a click.
export function onActivate(node, action) {
  node.addEventListener("click", action);
  node.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      action();
    }
  });
}
