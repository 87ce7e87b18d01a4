// Journey view: one customer's touchpoints in order (where the map's drill-down leads).
import { latest } from "./api.js";
import { dataTable, duration, runView } from "./ui.js";

const QUERY = `query ExplorerJourney($customerId: ID!) {
  journey(customerId: $customerId, first: 500) {
    customer { id name segment }
    furthestStage
    stalledAt { name }
    deals { id amount currency won closedAt }
    steps {
      totalCount
      nodes {
        touchpoint { id at type activity }
        channel { name } campaign { name } team { name } step { name stage }
        sincePrevious
      }
    }
  }
}`;

export function showJourney() {
  const section = document.getElementById("view-journey");
  return runView(section, async () => {
    const customerId = document.getElementById("journey-customer").value.trim();
    if (!customerId) {
      return "Choose a customer: click a box or an arrow of the journey map, or type a customer id.";
    }
    const data = await latest("journey", QUERY, { customerId });
    if (!data) return null;
    const journey = data.journey;
    const customer = journey.customer;
    document.getElementById("journey-title").textContent =
      `Journey of ${customer.name || customer.id}` + (customer.segment ? ` (${customer.segment})` : "");
    const steps = journey.steps;
    const stalled = journey.stalledAt ? ` · stalled at ${journey.stalledAt.name}` : "";
    const more = steps.totalCount > steps.nodes.length ? ` (the first ${steps.nodes.length} shown)` : "";
    document.getElementById("journey-summary").textContent =
      `${steps.totalCount} touchpoints${more} · furthest stage ${journey.furthestStage || "–"}${stalled}` +
      ` · ${journey.deals.length} deal${journey.deals.length === 1 ? "" : "s"}`;
    if (!steps.nodes.length) return false;
    const name = (item) => (item ? item.name : "–");
    document.getElementById("journey-table").replaceChildren(
      dataTable(
        ["When", "Type", "Activity", "Channel", "Campaign", "Step", "Stage", "Team", "Since previous"],
        steps.nodes.map((step) => [
          step.touchpoint.at ? step.touchpoint.at.replace("T", " ").slice(0, 16) : "–",
          step.touchpoint.type || "–",
          step.touchpoint.activity || "–",
          name(step.channel),
          name(step.campaign),
          step.step ? step.step.name : "–",
          step.step && step.step.stage ? step.step.stage : "–",
          name(step.team),
          duration(step.sincePrevious),
        ]),
        { filename: `journey-${customer.id}.csv`, numericFrom: 8, id: "journey-steps" },
      ),
    );
    return true;
  });
}

export function openJourney(customerId) {
  document.getElementById("journey-customer").value = customerId;
  return showJourney();
}

