// Team view: a team as a service, each KPI's trend and each SLA's compliance over time.
import { dateWindow, graphql, latest } from "./api.js";
import { badge, dataTable, day, el, names, number, percent, runView, trendCell } from "./ui.js";

const MEASUREMENTS = 260; // newest periods fetched per KPI (five years of weeks)

const QUERY = `query ExplorerTeam($teamId: ID!) {
  teamService(teamId: $teamId) {
    team { id name }
    parents { name } children { name }
    provides { service { name } teams { name } }
    consumes { service { name } teams { name } }
    ownedSteps { step { name } process { name } order current }
    kpis {
      kpi { id name unit target measurements(first: ${MEASUREMENTS}) { periodStart value } }
      shared status latest { value periodStart }
    }
    slas {
      sla { id name kind threshold unit window } role compliance
      provider { name } consumer { name } latest { value }
    }
  }
}`;

// Every SLA's compliance trend, SLAS_PER_REQUEST at a time (aliases s0, s1, ...; the
// API refuses a document with too many aliases), as one object keyed s<index>.
const SLAS_PER_REQUEST = 20;

function trendQuery(first, count) {
  const indices = Array.from({ length: count }, (_, i) => first + i);
  const variables = indices.map((i) => `$id${i}: ID!`).join(", ");
  const fields = indices.map((i) =>
    `s${i}: slaCompliance(id: $id${i}, from: $from, to: $to) {
      period rate met breached open trend { periodStart rate met breached }
    }`).join("\n");
  return `query ExplorerSlaTrends($from: DateTime!, $to: DateTime!, ${variables}) {\n${fields}\n}`;
}

async function slaTrends(slas, window) {
  const requests = [];
  for (let first = 0; first < slas.length; first += SLAS_PER_REQUEST) {
    const count = Math.min(SLAS_PER_REQUEST, slas.length - first);
    const variables = { from: window.from, to: window.to };
    for (let i = first; i < first + count; i++) variables[`id${i}`] = slas[i].sla.id;
    requests.push(graphql(trendQuery(first, count), variables));
  }
  return Object.assign({}, ...(await Promise.all(requests)));
}

const LAST_PERIODS = 12; // KPI periods shown when the form gives no window

// The trend window: the form's dates, else the twelve months up to today (`chosen`
// false: KPIs then show their last periods with a value, wherever their data ends).
function trendWindow() {
  const from = document.getElementById("team-from").value;
  const to = document.getElementById("team-to").value;
  const window = { ...dateWindow(from, to), chosen: Boolean(from || to) };
  const end = window.to ? new Date(window.to) : new Date();
  if (!window.to) window.to = end.toISOString();
  if (!window.from) {
    const start = new Date(end);
    start.setUTCFullYear(start.getUTCFullYear() - 1);
    window.from = start.toISOString();
  }
  return window;
}

function describeWindow(window) {
  const span = `${day(window.from)} to ${day(new Date(new Date(window.to) - 1).toISOString())}`;
  return window.chosen
    ? `Trends from ${span}`
    : `KPI trends: the last ${LAST_PERIODS} periods with a value · SLA compliance from ${span}`;
}

// The measurements to draw, oldest first.
function measuredPoints(measurements, window) {
  if (!window.chosen) {
    return measurements.filter((m) => m.value !== null).slice(0, LAST_PERIODS).reverse();
  }
  const from = window.from.slice(0, 19);
  const to = window.to.slice(0, 19);
  return measurements
    .filter((m) => m.periodStart && m.periodStart.slice(0, 19) >= from && m.periodStart.slice(0, 19) < to)
    .reverse();
}

export function showTeam() {
  const section = document.getElementById("view-team");
  return runView(section, async () => {
    const teamId = document.getElementById("team-select").value;
    if (!teamId) return false;
    const data = await latest("team", QUERY, { teamId });
    if (!data) return null;
    const service = data.teamService;
    const window = trendWindow();
    const trends = await slaTrends(service.slas, window);
    document.getElementById("team-title").textContent = service.team.name;
    document.getElementById("team-window").textContent = describeWindow(window);
    const empty = !service.kpis.length && !service.slas.length && !service.ownedSteps.length &&
      !service.provides.length && !service.consumes.length;
    document.getElementById("team-body").replaceChildren(
      panel("KPIs", kpiTable(service.kpis, window), "team-kpis", "wide"),
      panel("SLAs", slaTable(service.slas, trends), "team-slas", "wide"),
      panel("Hierarchy", list([
        `Part of: ${names(service.parents)}`,
        `Teams within: ${names(service.children)}`,
      ])),
      panel("Services provided", list(service.provides.map(
        (link) => `${link.service.name} → ${names(link.teams)}`))),
      panel("Services consumed", list(service.consumes.map(
        (link) => `${link.service.name} ← ${names(link.teams)}`))),
      panel("Steps owned", service.ownedSteps.length
        ? dataTable(
            ["Process", "Step", "Order", "Now"],
            service.ownedSteps.map((owned) => [
              owned.process ? owned.process.name : "–", owned.step.name,
              owned.order === null ? "–" : String(owned.order), owned.current ? "yes" : "no",
            ]),
            { filename: `${service.team.id}-steps.csv`, numericFrom: 2 },
          )
        : el("p", { class: "muted" }, "none"), "team-steps"),
    );
    return !empty;
  });
}

function panel(title, content, id, size) {
  const section = el("section", { ...(id ? { id } : {}), ...(size ? { class: size } : {}) });
  section.append(el("h3", {}, title), content);
  return section;
}

function list(items) {
  if (!items.length) return el("p", { class: "muted" }, "none");
  const ul = el("ul");
  ul.append(...items.map((item) => el("li", {}, item)));
  return ul;
}

function kpiTable(kpis, window) {
  if (!kpis.length) return el("p", { class: "muted" }, "No KPIs.");
  return dataTable(
    ["KPI", "Latest", "Period", "Target", "Trend", "Status"],
    kpis.map((item) => {
      const points = measuredPoints(item.kpi.measurements, window);
      const trend = trendCell(
        points.map((m) => m.value),
        { reference: item.kpi.target, labels: points.map((m) => day(m.periodStart)) },
        (v) => number(v, item.kpi.unit),
      );
      const value = item.latest ? item.latest.value : null;
      return {
        attributes: { "data-kpi": item.kpi.name, "data-status": item.status },
        cells: [
          item.kpi.name + (item.shared ? " (shared)" : ""),
          number(value, item.kpi.unit),
          item.latest ? day(item.latest.periodStart) : "–",
          number(item.kpi.target, item.kpi.unit),
          trend,
          badge(item.status),
        ],
      };
    }),
    { filename: "kpis.csv", numericFrom: 1 },
  );
}

function slaTable(slas, trends) {
  if (!slas.length) return el("p", { class: "muted" }, "No SLAs.");
  return dataTable(
    ["SLA", "Role", "Counterpart", "Threshold", "Met in window", "Compliance over time", "Now"],
    slas.map((item, i) => {
      const report = trends[`s${i}`];
      const counterpart = item.role === "PROVIDER" ? item.consumer : item.provider;
      const periods = report ? report.trend : [];
      const trend = trendCell(
        periods.map((p) => p.rate),
        {
          reference: 1,
          labels: periods.map((p) => `${day(p.periodStart)} (${p.met} met, ${p.breached} breached)`),
        },
        percent,
      );
      const met = report && report.met + report.breached
        ? `${percent(report.rate)} (${report.met} of ${report.met + report.breached})`
        : "–";
      return {
        attributes: { "data-sla": item.sla.name, "data-compliance": item.compliance },
        cells: [
          item.sla.name,
          item.role.toLowerCase(),
          counterpart ? counterpart.name : "customers",
          number(item.sla.threshold, item.sla.unit),
          met,
          trend,
          badge(item.compliance),
        ],
      };
    }),
    { filename: "slas.csv", numericFrom: 3 },
  );
}
