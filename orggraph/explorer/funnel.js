// Funnel view: a process's stages as bars, filtered by window, channel, campaign, segment.
import { dateWindow, latest } from "./api.js";
import { dataTable, duration, el, names, percent, runView, svg } from "./ui.js";

const QUERY = `query ExplorerFunnel($processId: ID!, $filter: FunnelFilter) {
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
}`;

function value(id) {
  return document.getElementById(id).value.trim();
}

export function funnelFilter() {
  const filter = dateWindow(value("funnel-from"), value("funnel-to"));
  if (value("funnel-channel")) filter.channelId = value("funnel-channel");
  if (value("funnel-campaign")) filter.campaignId = value("funnel-campaign");
  if (value("funnel-segment")) filter.segment = value("funnel-segment");
  return filter;
}

function describe(filter) {
  const parts = [];
  const pick = (id) => {
    const select = document.getElementById(id);
    return select.options[select.selectedIndex].textContent;
  };
  if (filter.channelId) parts.push(`channel ${pick("funnel-channel")}`);
  if (filter.campaignId) parts.push(`campaign ${pick("funnel-campaign")}`);
  if (filter.segment) parts.push(`segment ${filter.segment}`);
  if (filter.from || filter.to) {
    parts.push(`${value("funnel-from") || "start"} to ${value("funnel-to") || "now"}`);
  }
  return parts.length ? ` · ${parts.join(" · ")}` : " · all customers, all time";
}

export function showFunnel() {
  const section = document.getElementById("view-funnel");
  return runView(section, async () => {
    const processId = value("funnel-process");
    if (!processId) return false;
    const filter = funnelFilter();
    const data = await latest("funnel", QUERY, { processId, filter });
    if (!data) return null;
    const stream = data.valueStream;
    document.getElementById("funnel-title").textContent =
      `Funnel of ${stream.process.name}${describe(filter)}`;
    if (!stream.funnel.some((stage) => stage.reached > 0)) return false;
    drawFunnel(stream.funnel);
    document.getElementById("funnel-tables").replaceChildren(
      dataTable(
        ["Stage", "Steps", "Reached", "From previous", "Overall", "Median to next", "p90 to next"],
        stream.funnel.map((stage) => [
          stage.stage || "–",
          names(stage.steps),
          String(stage.reached),
          percent(stage.conversionFromPrevious),
          percent(stage.conversionOverall),
          duration(stage.medianSecondsToNext),
          duration(stage.p90SecondsToNext),
        ]),
        { filename: "funnel.csv", numericFrom: 2, id: "funnel-table" },
      ),
      el("h3", {}, "Hand-offs between teams"),
      stream.handoffs.length
        ? dataTable(
            ["From step", "Team", "To step", "Team", "SLA"],
            stream.handoffs.map((handoff) => [
              handoff.fromStep.name,
              names(handoff.fromTeams),
              handoff.toStep.name,
              names(handoff.toTeams),
              names(handoff.slas),
            ]),
            { filename: "handoffs.csv", id: "handoff-table" },
          )
        : el("p", { class: "muted" }, "No hand-offs between teams in this process."),
    );
    return true;
  });
}

function drawFunnel(stages) {
  const chart = document.getElementById("funnel-chart");
  const labelWidth = 150;
  const barArea = 560;
  const rowHeight = 34;
  const width = labelWidth + barArea + 300;
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
