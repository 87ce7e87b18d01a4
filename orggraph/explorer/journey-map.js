// Journey map view: the directly-follows graph laid out by ELK (elkjs, layered,
// orthogonal edges, labels placed by the layout), zoomable, with a drill-down to
// the customers behind a node or an edge.
import { dateWindow, latest } from "./api.js";
import { dataTable, duration, el, onActivate, runView, svg } from "./ui.js";

const MAP_QUERY = `query ExplorerJourneyMap($by: JourneyMapKey!, $minEdgeCount: Int!,
    $from: DateTime, $to: DateTime) {
  journeyMap(by: $by, minEdgeCount: $minEdgeCount, from: $from, to: $to) {
    caseCount
    nodes { keys labels counts }
    edges { sources targets counts medianSeconds }
    startActivities { keys counts }
    endActivities { keys counts }
  }
}`;

const CASES_QUERY = `query ExplorerMapCases($by: JourneyMapKey!, $source: String!,
    $target: String, $from: DateTime, $to: DateTime) {
  journeyMapCases(by: $by, source: $source, target: $target, from: $from, to: $to,
                  first: 100) {
    totalCount
    cases { times customer { id name segment } }
  }
}`;

const FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
const NAME_FONT = `600 13px ${FAMILY}`; // as .node text.name in explorer.css
const NOTE_FONT = `12px ${FAMILY}`; // node notes and edge labels
const NODE_TEXT_WIDTH = 220; // longer names wrap onto more lines, never cut
const LINE_HEIGHT = 16;
const NODE_PAD = 12;

// The map drawn last, so the mode toggle redraws without asking the API again.
let current = null;

function mapRequest() {
  const by = document.getElementById("map-by").value;
  const minEdgeCount = Math.max(1, Number(document.getElementById("map-min").value) || 1);
  const window = dateWindow(
    document.getElementById("map-from").value,
    document.getElementById("map-to").value,
  );
  return { by, minEdgeCount, ...window };
}

function mode() {
  return document.querySelector('input[name="map-mode"]:checked').value;
}

export function showJourneyMap() {
  const section = document.getElementById("view-journey-map");
  return runView(section, async () => {
    const request = mapRequest();
    const data = await latest("journey-map", MAP_QUERY, request);
    if (!data) return null;
    const map = data.journeyMap;
    document.getElementById("map-cases").replaceChildren();
    const between = map.edges.sources.filter((source, i) => source !== map.edges.targets[i]).length;
    const cut = between > MAX_DRAWN_EDGES
      ? ` (the ${MAX_DRAWN_EDGES} most frequent drawn: raise the threshold to see the rest)`
      : "";
    document.getElementById("map-summary").textContent =
      `${map.caseCount} customers · ${map.nodes.keys.length} activities · ` +
      `${map.edges.sources.length} transitions shown${cut}`;
    if (!map.nodes.keys.length) return false;
    current = { map, request, labels: new Map(map.nodes.keys.map((key, i) => [key, map.nodes.labels[i] || key])) };
    await drawJourneyMap();
    edgeTable();
    return true;
  });
}

export async function redrawJourneyMap() {
  if (current) await drawJourneyMap();
}

function edgeTable() {
  const { map, labels } = current;
  const order = map.edges.counts
    .map((_, i) => i)
    .sort((a, b) => map.edges.counts[b] - map.edges.counts[a]);
  document.getElementById("map-table").replaceChildren(
    dataTable(
      ["From", "To", "Count", "Median time"],
      order.map((i) => [
        labels.get(map.edges.sources[i]),
        labels.get(map.edges.targets[i]),
        String(map.edges.counts[i]),
        duration(map.edges.medianSeconds[i]),
      ]),
      { filename: "journey-map-transitions.csv", numericFrom: 2, id: "map-edges" },
    ),
  );
}

// --- text measuring and wrapping --------------------------------------------------------

const measure = document.createElement("canvas").getContext("2d");

function textWidth(text, font = NOTE_FONT) {
  measure.font = font;
  return measure.measureText(text).width;
}

function wrap(text) {
  const lines = [];
  let line = "";
  for (const word of String(text).split(/\s+/)) {
    const candidate = line ? `${line} ${word}` : word;
    if (line && textWidth(candidate, NAME_FONT) > NODE_TEXT_WIDTH) {
      lines.push(line);
      line = word;
    } else {
      line = candidate;
    }
  }
  lines.push(line);
  return lines;
}

// --- layout ------------------------------------------------------------------------------

// ELK runs in a Web Worker (vendor/elk-worker.min.js), so the page stays responsive
// while a dense map is laid out; one worker serves every layout.
let engine = null;

function layoutEngine() {
  if (!engine) engine = new window.ELK({ workerUrl: "/explorer/vendor/elk-worker.min.js" });
  return engine;
}

function edgeLabel(i) {
  const { map } = current;
  return mode() === "performance"
    ? duration(map.edges.medianSeconds[i])
    : String(map.edges.counts[i]);
}

function nodeNote(key, counts, repeats) {
  const repeated = repeats.has(key) ? ` · ↻ ${repeats.get(key)}` : "";
  return `${counts.get(key)}${repeated}`;
}

// Nodes in breadth-first order from the most frequent start activities: ELK keeps
// this model order within a layer where it can, so reruns look alike.
function modelOrder(map) {
  const outgoing = new Map(map.nodes.keys.map((key) => [key, []]));
  map.edges.sources.forEach((source, i) => {
    if (outgoing.has(source)) outgoing.get(source).push([map.edges.targets[i], map.edges.counts[i]]);
  });
  const starts = map.startActivities.keys
    .map((key, i) => [key, map.startActivities.counts[i]])
    .sort((a, b) => b[1] - a[1])
    .map(([key]) => key);
  const seen = new Set();
  const order = [];
  const queue = [];
  const visit = (key) => {
    if (!seen.has(key) && outgoing.has(key)) {
      seen.add(key);
      order.push(key);
      queue.push(key);
    }
  };
  for (const root of [...starts, ...map.nodes.keys]) {
    visit(root);
    while (queue.length) {
      const key = queue.shift();
      outgoing.get(key).sort((a, b) => b[1] - a[1]).forEach(([next]) => visit(next));
    }
  }
  return order;
}

// The arrows to draw: every transition between two activities (repeats are shown
// on the box), at most MAX_DRAWN_EDGES of the most frequent, so a dense map stays
// legible and the layout quick; the table lists them all.
const MAX_DRAWN_EDGES = 150;

function drawnEdges(map) {
  return map.edges.counts
    .map((_, i) => i)
    .filter((i) => map.edges.sources[i] !== map.edges.targets[i])
    .sort((a, b) => map.edges.counts[b] - map.edges.counts[a] || a - b)
    .slice(0, MAX_DRAWN_EDGES);
}

async function layout() {
  const { map, labels } = current;
  const counts = new Map(map.nodes.keys.map((key, i) => [key, map.nodes.counts[i]]));
  const repeats = new Map();
  map.edges.sources.forEach((source, i) => {
    if (source === map.edges.targets[i]) repeats.set(source, map.edges.counts[i]);
  });
  const order = modelOrder(map);
  const index = new Map(order.map((key, i) => [key, i]));
  const nodeId = (key) => `n${index.get(key)}`;
  const children = order.map((key) => {
    const lines = wrap(labels.get(key));
    const note = nodeNote(key, counts, repeats);
    const width = Math.max(90, ...lines.map((line) => textWidth(line, NAME_FONT)), textWidth(note)) +
      2 * NODE_PAD;
    return { id: nodeId(key), key, lines, note, width, height: (lines.length + 1) * LINE_HEIGHT + 14 };
  });
  const edges = [];
  drawnEdges(map).forEach((i) => {
    const source = map.edges.sources[i];
    const target = map.edges.targets[i];
    const text = edgeLabel(i);
    edges.push({
      id: `e${i}`, index: i, sources: [nodeId(source)], targets: [nodeId(target)],
      // The cycle breaker reverses the lightest edges of a loop: the usual way
      // forward, the rare way back.
      layoutOptions: { "elk.layered.priority.direction": String(map.edges.counts[i]) },
      labels: [{ id: `l${i}`, text, width: textWidth(text) + 8, height: LINE_HEIGHT }],
    });
  });
  return layoutEngine().layout({
    id: "root",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": "RIGHT",
      "elk.edgeRouting": "ORTHOGONAL",
      "elk.layered.considerModelOrder.strategy": "NODES_AND_EDGES",
      "elk.layered.cycleBreaking.strategy": "GREEDY",
      "elk.layered.spacing.nodeNodeBetweenLayers": "70",
      "elk.layered.spacing.edgeNodeBetweenLayers": "18",
      "elk.layered.spacing.edgeEdgeBetweenLayers": "12",
      "elk.spacing.nodeNode": "30",
      "elk.spacing.edgeNode": "18",
      "elk.spacing.edgeEdge": "12",
      "elk.spacing.edgeLabel": "3",
      "elk.edgeLabels.placement": "CENTER",
      "elk.padding": "[top=20,left=20,bottom=20,right=20]",
    },
    children,
    edges,
  });
}

// --- drawing -----------------------------------------------------------------------------

function addMarkers(picture) {
  const defs = svg("defs");
  for (const [id, colour] of [["arrow", "#66788a"], ["arrow-back", "#c2571a"]]) {
    const marker = svg("marker", {
      id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 8, markerHeight: 8,
      orient: "auto-start-reverse", markerUnits: "userSpaceOnUse",
    });
    marker.appendChild(svg("path", { d: "M0,0 L10,5 L0,10 z", fill: colour }));
    defs.appendChild(marker);
  }
  picture.appendChild(defs);
}

function pathOf(section) {
  const points = [section.startPoint, ...(section.bendPoints || []), section.endPoint];
  return points.map((p, i) => `${i ? "L" : "M"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
}

// Slow transitions red, fast ones grey-blue (performance mode).
function slowness(seconds, slowest) {
  if (seconds === null || seconds === undefined || !slowest) return "#8a97a6";
  const share = Math.sqrt(seconds / slowest);
  const hue = 210 - 210 * share;
  return `hsl(${hue.toFixed(0)}, 60%, ${(48 - 8 * share).toFixed(0)}%)`;
}

let drawing = 0;

async function drawJourneyMap() {
  const { map, labels } = current;
  const ticket = ++drawing;
  const laidOut = await layout();
  if (ticket !== drawing) return; // a newer map or mode is being drawn
  const diagram = document.getElementById("map-diagram");
  const picture = svg("svg", { role: "img", class: "map", "data-mode": mode() });
  picture.appendChild(svg("title", {}, "Journey map: the directly-follows graph of touchpoints"));
  addMarkers(picture);
  const viewport = svg("g", { class: "viewport" });
  picture.appendChild(viewport);
  const nodes = new Map(laidOut.children.map((node) => [node.id, node]));
  const heaviest = Math.max(1, ...map.edges.counts);
  const slowest = Math.max(0, ...map.edges.medianSeconds.filter((s) => s !== null));
  const performance = mode() === "performance";
  document.getElementById("view-journey-map").classList.toggle("performance", performance);
  const edgeLayer = svg("g", { class: "edges" });
  for (const edge of laidOut.edges) {
    const i = edge.index;
    const source = nodes.get(edge.sources[0]);
    const target = nodes.get(edge.targets[0]);
    const back = target.x <= source.x;
    const group = svg("g", {
      class: back ? "edge back" : "edge",
      "data-source": map.edges.sources[i],
      "data-target": map.edges.targets[i],
      "data-count": map.edges.counts[i],
      "data-median": map.edges.medianSeconds[i] ?? "",
      tabindex: 0, role: "button",
    });
    const d = (edge.sections || []).map(pathOf).join(" ");
    const colour = back ? "#c2571a" : performance ? slowness(map.edges.medianSeconds[i], slowest) : "#66788a";
    group.appendChild(svg("path", { class: "hit", d }));
    group.appendChild(svg("path", {
      class: "line", d, stroke: colour,
      "stroke-width": performance ? 2 : 1 + (4 * map.edges.counts[i]) / heaviest,
      "marker-end": `url(#${back ? "arrow-back" : "arrow"})`,
    }));
    const label = edge.labels && edge.labels[0];
    if (label) {
      group.appendChild(svg("rect", {
        class: "label-box", x: label.x, y: label.y, width: label.width, height: label.height, rx: 3,
      }));
      group.appendChild(svg("text", {
        x: label.x + label.width / 2, y: label.y + label.height - 4, "text-anchor": "middle",
      }, label.text));
    }
    group.appendChild(svg("title", {}, `${labels.get(map.edges.sources[i])} → ${labels.get(map.edges.targets[i])}: ` +
      `${map.edges.counts[i]} times, median ${duration(map.edges.medianSeconds[i])}` +
      `${back ? " (goes back)" : ""}. Click for the customers.`));
    onActivate(group, () => showCases(map.edges.sources[i], map.edges.targets[i]));
    edgeLayer.appendChild(group);
  }
  const nodeLayer = svg("g", { class: "nodes" });
  const startKeys = new Set(map.startActivities.keys);
  const endKeys = new Set(map.endActivities.keys);
  for (const node of laidOut.children) {
    const classes = ["node"];
    if (startKeys.has(node.key)) classes.push("start");
    if (endKeys.has(node.key)) classes.push("end");
    const group = svg("g", {
      class: classes.join(" "), "data-key": node.key,
      "data-count": map.nodes.counts[map.nodes.keys.indexOf(node.key)], tabindex: 0, role: "button",
    });
    group.appendChild(svg("rect", { x: node.x, y: node.y, width: node.width, height: node.height, rx: 5 }));
    const name = svg("text", { class: "name", x: node.x + node.width / 2, "text-anchor": "middle" });
    node.lines.forEach((line, i) => {
      name.appendChild(svg("tspan", { x: node.x + node.width / 2, y: node.y + 20 + i * LINE_HEIGHT }, line));
    });
    group.appendChild(name);
    group.appendChild(svg("text", {
      class: "note", x: node.x + node.width / 2, y: node.y + 20 + node.lines.length * LINE_HEIGHT,
      "text-anchor": "middle",
    }, node.note));
    group.appendChild(svg("title", {}, `${labels.get(node.key)}: ${node.note} touchpoints. Click for the customers.`));
    onActivate(group, () => showCases(node.key, null));
    nodeLayer.appendChild(group);
  }
  viewport.append(edgeLayer, nodeLayer);
  diagram.replaceChildren(picture);
  zoom.attach(picture, viewport, laidOut.width, laidOut.height);
  zoom.fit();
}

// --- zoom and pan ------------------------------------------------------------------------

// Wheel zooms around the pointer, dragging the background pans, the buttons zoom
// and fit. A drag that moved is not a click on what it started on.
const zoom = {
  picture: null, viewport: null, width: 0, height: 0, k: 1, x: 0, y: 0, dragged: false,
  attach(picture, viewport, width, height) {
    Object.assign(this, { picture, viewport, width, height });
    picture.addEventListener("wheel", (event) => {
      event.preventDefault();
      const box = picture.getBoundingClientRect();
      this.zoomAt(event.deltaY < 0 ? 1.15 : 1 / 1.15, event.clientX - box.left, event.clientY - box.top);
    }, { passive: false });
    let start = null;
    picture.addEventListener("pointerdown", (event) => {
      start = { px: event.clientX, py: event.clientY, x: this.x, y: this.y };
      this.dragged = false;
    });
    picture.addEventListener("pointermove", (event) => {
      if (!start) return;
      const dx = event.clientX - start.px;
      const dy = event.clientY - start.py;
      if (Math.abs(dx) + Math.abs(dy) > 4) {
        this.dragged = true;
        picture.classList.add("panning");
      }
      if (this.dragged) this.set(this.k, start.x + dx, start.y + dy);
    });
    const end = () => {
      start = null;
      picture.classList.remove("panning");
    };
    // The click ending a drag is swallowed before it reaches a box or an arrow.
    picture.addEventListener("click", (event) => {
      if (this.dragged) {
        event.stopPropagation();
        this.dragged = false;
      }
    }, true);
    picture.addEventListener("pointerup", end);
    picture.addEventListener("pointerleave", end);
  },
  set(k, x, y) {
    Object.assign(this, { k, x, y });
    this.viewport.setAttribute("transform", `translate(${x.toFixed(1)},${y.toFixed(1)}) scale(${k.toFixed(4)})`);
    document.getElementById("map-zoom-level").textContent = `${Math.round(k * 100)}%`;
  },
  zoomAt(factor, cx, cy) {
    const k = Math.min(4, Math.max(0.1, this.k * factor));
    this.set(k, cx - ((cx - this.x) * k) / this.k, cy - ((cy - this.y) * k) / this.k);
  },
  centre(factor) {
    const box = this.picture.getBoundingClientRect();
    this.zoomAt(factor, box.width / 2, box.height / 2);
  },
  // Fits the whole map into the box (never enlarging it); the box grows with the map
  // up to three quarters of the window's height.
  fit() {
    if (!this.picture) return;
    const available = this.picture.parentElement.clientWidth || 1000;
    const tallest = Math.max(300, Math.round(window.innerHeight * 0.75));
    const k = Math.min(1, available / this.width, tallest / this.height);
    const height = Math.max(this.height * k, 200);
    this.picture.setAttribute("width", "100%");
    this.picture.setAttribute("height", String(Math.ceil(height)));
    this.set(k, (available - this.width * k) / 2, (height - this.height * k) / 2);
  },
};

export function bindZoomButtons() {
  document.getElementById("map-zoom-in").addEventListener("click", () => zoom.centre(1.25));
  document.getElementById("map-zoom-out").addEventListener("click", () => zoom.centre(0.8));
  document.getElementById("map-zoom-fit").addEventListener("click", () => zoom.fit());
}

// --- drill-down: the customers behind a node or an edge ----------------------------------

async function showCases(source, target) {
  const { labels, request } = current;
  const box = document.getElementById("map-cases");
  const what = target === null
    ? labels.get(source)
    : `${labels.get(source)} → ${labels.get(target)}`;
  const state = el("p", { class: "state loading" }, "Loading…");
  box.replaceChildren(el("h3", {}, `Customers through ${what}`), state);
  box.dataset.source = source;
  box.dataset.target = target ?? "";
  box.scrollIntoView({ block: "nearest" });
  try {
    const data = await latest("map-cases", CASES_QUERY, {
      by: request.by, source, target, from: request.from, to: request.to,
    });
    if (!data) return;
    const answer = data.journeyMapCases;
    if (!answer.cases.length) {
      state.className = "state empty";
      state.textContent = "No customers in this window.";
      return;
    }
    const shown = answer.cases.length < answer.totalCount
      ? `the first ${answer.cases.length} of ${answer.totalCount} customers`
      : `${answer.totalCount} customer${answer.totalCount === 1 ? "" : "s"}`;
    state.replaceWith(
      el("p", { class: "muted" }, `${shown}, most ${target === null ? "visits" : "passages"} first`),
      dataTable(
        ["Customer", "Segment", target === null ? "Touchpoints here" : "Times", "Journey"],
        answer.cases.map((item) => {
          const link = el("a", { href: `#journey/${encodeURIComponent(item.customer.id)}` }, "journey →");
          return {
            attributes: { "data-customer": item.customer.id },
            cells: [item.customer.name || item.customer.id, item.customer.segment || "–", String(item.times), link],
          };
        }),
        { filename: "journey-map-customers.csv", numericFrom: 2 },
      ),
    );
  } catch (error) {
    state.className = "state error";
    state.textContent = `Could not load: ${error.message || error}`;
  }
}
