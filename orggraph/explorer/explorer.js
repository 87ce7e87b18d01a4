// orggraph explorer: four views over the GraphQL API, plain ES modules, no framework.
// The journey map is laid out by elkjs (vendor/elk-api.js, loaded before this, runs
// vendor/elk-worker.min.js as a Web Worker).
import { graphql, saveCredentials, savedCredentials } from "./api.js";
import { showFunnel } from "./funnel.js";
import { openJourney, showJourney } from "./journey.js";
import { bindZoomButtons, redrawJourneyMap, showJourneyMap } from "./journey-map.js";
import { showTeam } from "./team.js";
import { fillSelect } from "./ui.js";

const CHOICES = `query ExplorerChoices {
  processes(first: 200) { edges { node { id name lifecycle steps { order } } } }
  teams(first: 500) { edges { node { id name accountableFor { id } } } }
  channels(first: 500) { nodes { id name } }
  campaigns(first: 500) { nodes { id name } }
}`;

const SHOW = {
  funnel: showFunnel,
  "journey-map": showJourneyMap,
  team: showTeam,
  journey: showJourney,
};
const SHOWN = new Set();

function showError(error) {
  const box = document.getElementById("error");
  box.textContent = error ? `Could not load the explorer: ${error.message || error}` : "";
  box.hidden = !error;
}

// Routes: #funnel, #journey-map, #team, #journey/<customer id>.
function route() {
  const [view, argument] = location.hash.replace(/^#/, "").split("/");
  return view in SHOW ? [view, argument ? decodeURIComponent(argument) : null] : ["funnel", null];
}

function switchTo(view, argument = null) {
  for (const button of document.querySelectorAll("nav button")) {
    button.classList.toggle("active", button.dataset.view === view);
  }
  for (const section of document.querySelectorAll(".view")) {
    section.hidden = section.id !== `view-${view}`;
  }
  const hash = argument ? `#${view}/${encodeURIComponent(argument)}` : `#${view}`;
  if (location.hash !== hash) history.replaceState(null, "", hash);
  if (document.body.dataset.ready !== "true") return;
  if (view === "journey" && argument) {
    SHOWN.add(view);
    openJourney(argument);
  } else if (!SHOWN.has(view)) {
    SHOWN.add(view);
    SHOW[view]();
  }
}

// Established processes first (pilots often have no data yet), the longest first, and
// teams accountable for KPIs first: the first choice of each list is worth a look.
const PILOT = "EXPERIMENTAL";

async function loadChoices() {
  const data = await graphql(CHOICES, {});
  const processes = data.processes.edges
    .map((edge) => edge.node)
    .sort((a, b) =>
      Number(a.lifecycle === PILOT) - Number(b.lifecycle === PILOT) || b.steps.length - a.steps.length);
  const teams = data.teams.edges
    .map((edge) => edge.node)
    .sort((a, b) => Number(b.accountableFor.length > 0) - Number(a.accountableFor.length > 0));
  fillSelect(document.getElementById("funnel-process"), processes);
  fillSelect(document.getElementById("funnel-channel"), data.channels.nodes, "any channel");
  fillSelect(document.getElementById("funnel-campaign"), data.campaigns.nodes, "any campaign");
  fillSelect(document.getElementById("team-select"), teams);
}

async function ready() {
  showError(null);
  try {
    await loadChoices();
  } catch (error) {
    showError(error);
    for (const section of document.querySelectorAll(".view .state")) section.hidden = true;
    return;
  }
  SHOWN.clear();
  document.body.dataset.ready = "true";
  switchTo(...route());
}

function onSubmit(formId, show) {
  document.getElementById(formId).addEventListener("submit", (event) => {
    event.preventDefault();
    show();
  });
}

function start() {
  const input = document.getElementById("authorization");
  input.value = savedCredentials();
  document.getElementById("save-credentials").addEventListener("click", () => {
    saveCredentials(input.value.trim());
    ready();
  });
  for (const button of document.querySelectorAll("nav button")) {
    button.addEventListener("click", () => switchTo(button.dataset.view));
  }
  window.addEventListener("hashchange", () => switchTo(...route()));
  onSubmit("funnel-form", showFunnel);
  onSubmit("map-form", showJourneyMap);
  onSubmit("team-form", showTeam);
  onSubmit("journey-form", showJourney);
  for (const radio of document.querySelectorAll('input[name="map-mode"]')) {
    radio.addEventListener("change", () => redrawJourneyMap());
  }
  bindZoomButtons();
  switchTo(...route());
  ready();
}

start();
