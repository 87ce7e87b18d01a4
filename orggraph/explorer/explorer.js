// orggraph explorer: three views over the GraphQL API, no framework.
// Every number shown comes from one GraphQL request per view (see QUERIES).
"use strict";

const QUERIES = {
  choices: `query ExplorerChoices {
    processes(first: 200) { edges { node { id name lifecycle steps { order } } } }
    teams(first: 500) { edges { node { id name accountableFor { id } } } }
  }`,
  funnel: `query ExplorerFunnel($processId: ID!, $filter: FunnelFilter) {
    valueStream(processId: $processId, filter: $filter) {
      process { id name }
      funnel {
        stage reached conversionFromPrevious conversionOverall
        medianSecondsToNext p90SecondsToNext steps { name }
      }
      handoffs {
        fromStep { name } toStep { name }
        fromTeams { name } toTeams { name } slas { name }
      }
    }
  }`,
  journeyMap: `query ExplorerJourneyMap($by: JourneyMapKey!, $minEdgeCount: Int!) {
    journeyMap(by: $by, minEdgeCount: $minEdgeCount) {
      caseCount
      nodes { keys labels counts }
      edges { sources targets counts medianSeconds }
      startActivities { keys counts }
      endActivities { keys counts }
    }
  }`,
  team: `query ExplorerTeam($teamId: ID!) {
    teamService(teamId: $teamId) {
      team { id name }
      parents { name } children { name }
      provides { service { name } teams { name } }
      consumes { service { name } teams { name } }
      ownedSteps { step { name } process { name } order current }
      kpis { kpi { name unit target } shared status latest { value } }
      slas {
        sla { name kind threshold unit } role compliance
        provider { name } consumer { name } latest { value }
      }
    }
  }`,
};

// --- GraphQL over HTTP ---------------------------------------------------------------

const CREDENTIALS_KEY = "orggraph.authorization";

async function graphql(query, variables) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  const authorization = localStorage.getItem(CREDENTIALS_KEY);
  if (authorization) headers.Authorization = authorization;
  const response = await fetch("/graphql", {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    const code = first.extensions && first.extensions.code ? ` (${first.extensions.code})` : "";
    throw new Error(first.message + code);
  }
  return body.data;
}

// A view draws only the answer to its latest request: an older one arriving late
// (the user changed the form meanwhile) is dropped.
const latestRequest = new Map();

async function latest(view, query, variables) {
  const ticket = (latestRequest.get(view) || 0) + 1;
  latestRequest.set(view, ticket);
  const data = await graphql(query, variables);
  return latestRequest.get(view) === ticket ? data : null;
}

function showError(error) {
  const box = document.getElementById("error");
  if (error) {
    box.textContent = String(error.message || error);
    box.hidden = false;
  } else {
    box.hidden = true;
  }
}

async function guarded(work) {
  showError(null);
  try {
    await work();
  } catch (error) {
    showError(error);
  }
}

// --- small DOM and SVG helpers ---------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";

function el(tag, attributes = {}, text = null) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== null) node.textContent = text;
  return node;
}

function svg(tag, attributes = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

function row(cells, numericFrom = Infinity) {
  const tr = el("tr");
  cells.forEach((cell, index) => {
    tr.appendChild(el("td", index >= numericFrom ? { class: "num" } : {}, cell));
  });
  return tr;
}

function percent(value) {
  return value === null || value === undefined ? "–" : `${(value * 100).toFixed(1)}%`;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

function names(items) {
  return items.map((item) => item.name).join(", ") || "–";
}

function fillSelect(select, nodes) {
  select.replaceChildren(...nodes.map((node) => el("option", { value: node.id }, node.name)));
}

// --- funnel ----------------------------------------------------------------------------

async function showFunnel() {
  const processId = document.getElementById("funnel-process").value;
  const from = document.getElementById("funnel-from").value;
  const to = document.getElementById("funnel-to").value;
  const filter = {};
  if (from) filter.from = `${from}T00:00:00Z`;
  if (to) filter.to = `${to}T23:59:59Z`;
  const data = await latest("funnel", QUERIES.funnel, { processId, filter });
  if (!data) return;
  const stream = data.valueStream;
  document.getElementById("funnel-title").textContent = `Funnel of ${stream.process.name}`;
  drawFunnel(stream.funnel);
  const body = document.querySelector("#funnel-table tbody");
  body.replaceChildren(
    ...stream.funnel.map((stage) =>
      row(
        [
          stage.stage || "–",
          names(stage.steps),
          String(stage.reached),
          percent(stage.conversionFromPrevious),
          percent(stage.conversionOverall),
          duration(stage.medianSecondsToNext),
          duration(stage.p90SecondsToNext),
        ],
        2,
      ),
    ),
  );
  document.getElementById("funnel-table").hidden = false;
  document.querySelector("#handoff-table tbody").replaceChildren(
    ...stream.handoffs.map((handoff) =>
      row([
        handoff.fromStep.name,
        names(handoff.fromTeams),
        handoff.toStep.name,
        names(handoff.toTeams),
        names(handoff.slas),
      ]),
    ),
  );
}

function drawFunnel(stages) {
  const chart = document.getElementById("funnel-chart");
  const labelWidth = 150;
  const barArea = 520;
  const rowHeight = 34;
  const width = labelWidth + barArea + 260;
  const height = stages.length * rowHeight + 10;
  const top = Math.max(1, ...stages.map((stage) => stage.reached));
  const picture = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img" });
  picture.appendChild(svg("title", {}, "Customers reaching each stage"));
  stages.forEach((stage, index) => {
    const y = index * rowHeight + 5;
    const barWidth = Math.max(2, (stage.reached / top) * barArea);
    const group = svg("g", {
      class: "stage",
      "data-stage": stage.stage || "",
      "data-reached": stage.reached,
    });
    group.appendChild(svg("text", { x: 0, y: y + 19 }, stage.stage || "(no stage)"));
    group.appendChild(
      svg("rect", { class: "bar", x: labelWidth, y, width: barWidth, height: rowHeight - 8, rx: 3 }),
    );
    const note =
      index === 0
        ? `${stage.reached}`
        : `${stage.reached} · ${percent(stage.conversionFromPrevious)} of previous · ${percent(stage.conversionOverall)} overall`;
    group.appendChild(
      svg("text", { class: "bar-label", x: labelWidth + barWidth + 8, y: y + 19 }, note),
    );
    picture.appendChild(group);
  });
  chart.replaceChildren(picture);
}

// --- journey map (directly-follows graph) ----------------------------------------------

async function showJourneyMap() {
  const by = document.getElementById("map-by").value;
  const minEdgeCount = Math.max(1, Number(document.getElementById("map-min").value) || 1);
  const data = await latest("journey-map", QUERIES.journeyMap, { by, minEdgeCount });
  if (!data) return;
  const map = data.journeyMap;
  document.getElementById("map-summary").textContent =
    `${map.caseCount} customers · ${map.nodes.keys.length} activities · ` +
    `${map.edges.sources.length} transitions shown`;
  const labels = new Map(map.nodes.keys.map((key, i) => [key, map.nodes.labels[i] || key]));
  drawJourneyMap(map, labels);
  const order = map.edges.counts.map((_, i) => i).sort((a, b) => map.edges.counts[b] - map.edges.counts[a]);
  document.querySelector("#map-edges tbody").replaceChildren(
    ...order.map((i) =>
      row(
        [
          labels.get(map.edges.sources[i]),
          labels.get(map.edges.targets[i]),
          String(map.edges.counts[i]),
          duration(map.edges.medianSeconds[i]),
        ],
        2,
      ),
    ),
  );
  document.getElementById("map-edges").hidden = false;
}

// Layers by breadth-first distance from the start activities (most frequent first).
// Activities the shown edges do not reach from there start new breadth-first walks,
// one layer after their deepest laid-out predecessor. Edges going back to an earlier
// or the same layer are drawn as arcs below the nodes.
function layers(map) {
  const outgoing = new Map(map.nodes.keys.map((key) => [key, []]));
  const incoming = new Map(map.nodes.keys.map((key) => [key, []]));
  map.edges.sources.forEach((source, i) => {
    const target = map.edges.targets[i];
    if (outgoing.has(source) && incoming.has(target) && source !== target) {
      outgoing.get(source).push(target);
      incoming.get(target).push(source);
    }
  });
  const counts = new Map(map.nodes.keys.map((key, i) => [key, map.nodes.counts[i]]));
  const layer = new Map();
  const walk = (roots) => {
    const queue = [...roots];
    while (queue.length) {
      const key = queue.shift();
      for (const next of outgoing.get(key)) {
        if (!layer.has(next)) {
          layer.set(next, layer.get(key) + 1);
          queue.push(next);
        }
      }
    }
  };
  const starts = map.startActivities.keys
    .map((key, i) => [key, map.startActivities.counts[i]])
    .sort((a, b) => b[1] - a[1])
    .map(([key]) => key)
    .filter((key) => outgoing.has(key));
  starts.forEach((key) => layer.set(key, 0));
  walk(starts);
  for (;;) {
    const left = map.nodes.keys.filter((key) => !layer.has(key));
    if (!left.length) break;
    const fewestUnplacedPredecessors = (key) => incoming.get(key).filter((from) => !layer.has(from)).length;
    left.sort((a, b) => fewestUnplacedPredecessors(a) - fewestUnplacedPredecessors(b) || counts.get(b) - counts.get(a));
    const root = left[0];
    const placed = incoming.get(root).filter((from) => layer.has(from)).map((from) => layer.get(from));
    layer.set(root, placed.length ? Math.max(...placed) + 1 : 0);
    walk([root]);
  }
  return layer;
}

const LABELLED_EDGE_SHARE = 0.2;

function drawJourneyMap(map, labels) {
  const diagram = document.getElementById("map-diagram");
  const layer = layers(map);
  const counts = new Map(map.nodes.keys.map((key, i) => [key, map.nodes.counts[i]]));
  const columns = [];
  for (const key of map.nodes.keys) {
    const index = layer.get(key);
    (columns[index] = columns[index] || []).push(key);
  }
  const nodeWidth = 150;
  const nodeHeight = 44;
  const columnGap = 110;
  const rowGap = 34;
  const margin = 20;
  const marginX = 70; // room for back edges leaving the first column
  const position = new Map();
  columns.forEach((keys, column) => {
    (keys || []).sort((a, b) => counts.get(b) - counts.get(a));
    (keys || []).forEach((key, rowIndex) => {
      position.set(key, {
        x: marginX + column * (nodeWidth + columnGap),
        y: margin + rowIndex * (nodeHeight + rowGap),
      });
    });
  });
  const tallest = Math.max(1, ...columns.map((keys) => (keys || []).length));
  const width = marginX + margin + columns.length * (nodeWidth + columnGap);
  const height = margin * 2 + tallest * (nodeHeight + rowGap) + 80;
  const picture = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img" });
  picture.appendChild(svg("title", {}, "Directly-follows graph of touchpoints"));
  const defs = svg("defs");
  const marker = svg("marker", {
    id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 9, markerHeight: 9, orient: "auto",
  });
  marker.setAttribute("markerUnits", "userSpaceOnUse");
  marker.appendChild(svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#7d8a99" }));
  defs.appendChild(marker);
  picture.appendChild(defs);

  const heaviest = Math.max(1, ...map.edges.counts);
  const bottom = margin + tallest * (nodeHeight + rowGap) - rowGap;
  let backEdges = 0;
  map.edges.sources.forEach((source, i) => {
    const target = map.edges.targets[i];
    const from = position.get(source);
    const to = position.get(target);
    if (!from || !to || source === target) return; // repeats are shown on the node
    const group = svg("g", {
      class: "edge", "data-source": source, "data-target": target, "data-count": map.edges.counts[i],
    });
    let d;
    let labelX;
    let labelY;
    if (layer.get(target) > layer.get(source)) {
      const x1 = from.x + nodeWidth;
      const y1 = from.y + nodeHeight / 2;
      const x2 = to.x;
      const y2 = to.y + nodeHeight / 2;
      d = `M${x1},${y1} C${x1 + 50},${y1} ${x2 - 50},${y2} ${x2},${y2}`;
      labelX = (x1 + x2) / 2;
      labelY = (y1 + y2) / 2 - 4;
    } else {
      // back edge or within a layer: leaves the node's left side, runs in the
      // lane under every node, and enters the target from below
      const x1 = from.x;
      const y1 = from.y + nodeHeight / 2;
      const x2 = to.x + nodeWidth / 2;
      const y2 = to.y + nodeHeight;
      const lane = bottom + 14 + (backEdges++ % 4) * 12;
      d = `M${x1},${y1} C${x1 - 30},${y1} ${x1 - 30},${lane} ${x1 - 60},${lane} L${x2 + 20},${lane} C${x2},${lane} ${x2},${lane} ${x2},${y2}`;
      labelX = (x1 - 60 + x2 + 20) / 2;
      labelY = lane - 3;
    }
    group.appendChild(svg("path", {
      d, "marker-end": "url(#arrow)", "stroke-width": 1 + (4 * map.edges.counts[i]) / heaviest,
    }));
    const label = `${map.edges.counts[i]} · ${duration(map.edges.medianSeconds[i])}`;
    group.appendChild(svg("title", {}, `${labels.get(source)} → ${labels.get(target)}: ${label}`));
    // Only the heavier transitions are labelled in the picture (all are in the table).
    if (map.edges.counts[i] >= heaviest * LABELLED_EDGE_SHARE || map.edges.counts.length <= 12) {
      group.appendChild(svg("text", { x: labelX, y: labelY, "text-anchor": "middle" }, label));
    }
    picture.appendChild(group);
  });

  const repeats = new Map();
  map.edges.sources.forEach((source, i) => {
    if (source === map.edges.targets[i]) repeats.set(source, map.edges.counts[i]);
  });
  const startKeys = new Set(map.startActivities.keys);
  const endKeys = new Set(map.endActivities.keys);
  for (const key of map.nodes.keys) {
    const { x, y } = position.get(key);
    const classes = ["node"];
    if (startKeys.has(key)) classes.push("start");
    if (endKeys.has(key)) classes.push("end");
    const group = svg("g", { class: classes.join(" "), "data-key": key, "data-count": counts.get(key) });
    group.appendChild(svg("rect", { x, y, width: nodeWidth, height: nodeHeight }));
    group.appendChild(svg("text", { x: x + nodeWidth / 2, y: y + 18, "text-anchor": "middle" },
      String(labels.get(key)).slice(0, 22)));
    const repeated = repeats.has(key) ? ` · ↻ ${repeats.get(key)}` : "";
    group.appendChild(svg("text", { x: x + nodeWidth / 2, y: y + 34, "text-anchor": "middle", class: "bar-label" },
      `${counts.get(key)}${repeated}`));
    if (repeated) {
      group.appendChild(svg("title", {}, `${labels.get(key)} followed by itself ${repeats.get(key)} times`));
    }
    picture.appendChild(group);
  }
  diagram.replaceChildren(picture);
}

// --- team as a service -----------------------------------------------------------------

async function showTeam() {
  const teamId = document.getElementById("team-select").value;
  const data = await latest("team", QUERIES.team, { teamId });
  if (!data) return;
  const service = data.teamService;
  document.getElementById("team-title").textContent = service.team.name;
  const body = document.getElementById("team-body");
  body.replaceChildren(
    panel("Hierarchy", list([
      `Part of: ${names(service.parents)}`,
      `Teams within: ${names(service.children)}`,
    ])),
    panel("Services provided", list(service.provides.map(
      (link) => `${link.service.name} → ${names(link.teams)}`))),
    panel("Services consumed", list(service.consumes.map(
      (link) => `${link.service.name} ← ${names(link.teams)}`))),
    panel("Steps owned", table(
      ["Process", "Step", "Order", "Now"],
      service.ownedSteps.map((owned) => [
        owned.process ? owned.process.name : "–", owned.step.name,
        owned.order === null ? "–" : String(owned.order), owned.current ? "yes" : "no",
      ]),
    )),
    panel("KPIs", kpiTable(service.kpis), "team-kpis"),
    panel("SLAs", slaTable(service.slas), "team-slas"),
  );
}

function panel(title, content, id) {
  const section = el("section", id ? { id } : {});
  section.append(el("h3", {}, title), content);
  return section;
}

function list(items) {
  if (!items.length) return el("p", { class: "muted" }, "none");
  const ul = el("ul");
  ul.append(...items.map((item) => el("li", {}, item)));
  return ul;
}

function table(headings, rows) {
  if (!rows.length) return el("p", { class: "muted" }, "none");
  const t = el("table", { class: "data" });
  t.append(headerRow(headings), ...rows.map((cells) => row(cells)));
  return t;
}

function badge(text) {
  return el("span", { class: `badge ${text}` }, text.replace("_", " ").toLowerCase());
}

function number(value, unit) {
  if (value === null || value === undefined) return "–";
  const shown = Math.abs(value) < 1 && value !== 0 ? value.toFixed(3) : value.toFixed(1);
  return unit ? `${shown} ${unit}` : shown;
}

function kpiTable(kpis) {
  if (!kpis.length) return el("p", { class: "muted" }, "none");
  const rows = kpis.map((item) => {
    const tr = el("tr", { "data-kpi": item.kpi.name, "data-status": item.status });
    const value = item.latest ? item.latest.value : null;
    const meter = el("span", { class: "meter" });
    if (value !== null && item.kpi.target) {
      const fill = el("i");
      fill.style.width = `${Math.min(100, (100 * value) / item.kpi.target)}%`;
      meter.appendChild(fill);
    }
    const status = el("td");
    status.appendChild(badge(item.status));
    tr.append(
      el("td", {}, item.kpi.name + (item.shared ? " (shared)" : "")),
      el("td", { class: "num" }, number(value, item.kpi.unit)),
      el("td", { class: "num" }, number(item.kpi.target, item.kpi.unit)),
      el("td"),
      status,
    );
    tr.children[3].appendChild(meter);
    return tr;
  });
  const t = el("table", { class: "data" });
  t.append(headerRow(["KPI", "Latest", "Target", "", "Status"]), ...rows);
  return t;
}

function headerRow(headings) {
  const head = el("tr");
  head.append(...headings.map((heading) => el("th", {}, heading)));
  return head;
}

function slaTable(slas) {
  if (!slas.length) return el("p", { class: "muted" }, "none");
  const t = el("table", { class: "data" });
  t.appendChild(headerRow(["SLA", "Role", "Counterpart", "Threshold", "Latest", "Compliance"]));
  for (const item of slas) {
    const tr = el("tr", { "data-sla": item.sla.name, "data-compliance": item.compliance });
    const counterpart = item.role === "PROVIDER" ? item.consumer : item.provider;
    const compliance = el("td");
    compliance.appendChild(badge(item.compliance));
    tr.append(
      el("td", {}, item.sla.name),
      el("td", {}, item.role.toLowerCase()),
      el("td", {}, counterpart ? counterpart.name : "customers"),
      el("td", { class: "num" }, number(item.sla.threshold, item.sla.unit)),
      el("td", { class: "num" }, item.latest ? number(item.latest.value, null) : "–"),
      compliance,
    );
    t.appendChild(tr);
  }
  return t;
}

// --- start-up --------------------------------------------------------------------------

const SHOWN = new Set();
const SHOW = { funnel: showFunnel, "journey-map": showJourneyMap, team: showTeam };

function switchTo(view) {
  for (const button of document.querySelectorAll("nav button")) {
    button.classList.toggle("active", button.dataset.view === view);
  }
  for (const section of document.querySelectorAll(".view")) {
    section.hidden = section.id !== `view-${view}`;
  }
  if (location.hash !== `#${view}`) history.replaceState(null, "", `#${view}`);
  if (document.body.dataset.ready === "true" && !SHOWN.has(view)) {
    SHOWN.add(view);
    guarded(SHOW[view]);
  }
}

// Established processes first (pilots often have no data yet), the longest first, and
// teams accountable for KPIs first: the first choice of each list is worth a look.
const PILOT = "EXPERIMENTAL";

async function loadChoices() {
  const data = await graphql(QUERIES.choices, {});
  const processes = data.processes.edges
    .map((edge) => edge.node)
    .sort((a, b) =>
      Number(a.lifecycle === PILOT) - Number(b.lifecycle === PILOT) || b.steps.length - a.steps.length);
  const teams = data.teams.edges
    .map((edge) => edge.node)
    .sort((a, b) => Number(b.accountableFor.length > 0) - Number(a.accountableFor.length > 0));
  fillSelect(document.getElementById("funnel-process"), processes);
  fillSelect(document.getElementById("team-select"), teams);
}

function onSubmit(formId, show) {
  document.getElementById(formId).addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(show);
  });
}

function currentView() {
  const view = location.hash.replace("#", "");
  return view in SHOW ? view : "funnel";
}

function start() {
  const input = document.getElementById("authorization");
  input.value = localStorage.getItem(CREDENTIALS_KEY) || "";
  document.getElementById("save-credentials").addEventListener("click", () => {
    if (input.value.trim()) localStorage.setItem(CREDENTIALS_KEY, input.value.trim());
    else localStorage.removeItem(CREDENTIALS_KEY);
    guarded(async () => {
      await loadChoices();
      SHOWN.clear();
      document.body.dataset.ready = "true";
      switchTo(currentView());
    });
  });
  for (const button of document.querySelectorAll("nav button")) {
    button.addEventListener("click", () => switchTo(button.dataset.view));
  }
  onSubmit("funnel-form", showFunnel);
  onSubmit("map-form", showJourneyMap);
  onSubmit("team-form", showTeam);
  switchTo(currentView());
  guarded(async () => {
    await loadChoices();
    document.body.dataset.ready = "true";
    switchTo(currentView());
  });
}

start();
