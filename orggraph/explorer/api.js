// GraphQL over HTTP for the explorer's views.

const CREDENTIALS_KEY = "orggraph.authorization";

export function savedCredentials() {
  return localStorage.getItem(CREDENTIALS_KEY) || "";
}

export function saveCredentials(value) {
  if (value) localStorage.setItem(CREDENTIALS_KEY, value);
  else localStorage.removeItem(CREDENTIALS_KEY);
}

export async function graphql(query, variables) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  const authorization = savedCredentials();
  if (authorization) headers.Authorization = authorization;
  const response = await fetch("/graphql", {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
  });
  let body;
  try {
    body = await response.json();
  } catch {
    throw new Error(`the service answered ${response.status} ${response.statusText}`);
  }
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    const code = first.extensions && first.extensions.code ? ` (${first.extensions.code})` : "";
    throw new Error(first.message + code);
  }
  return body.data;
}

// A view draws only the answer to its latest request: an older one arriving late
// (the user changed the form meanwhile) comes back as null and is dropped.
const latestRequest = new Map();

export async function latest(view, query, variables) {
  const ticket = (latestRequest.get(view) || 0) + 1;
  latestRequest.set(view, ticket);
  const data = await graphql(query, variables);
  return latestRequest.get(view) === ticket ? data : null;
}

// Date inputs (yyyy-mm-dd) as an API window: from the start of `from` to the end of `to`.
export function dateWindow(from, to) {
  const window = {};
  if (from) window.from = `${from}T00:00:00Z`;
  if (to) {
    const end = new Date(`${to}T00:00:00Z`);
    end.setUTCDate(end.getUTCDate() + 1);
    window.to = end.toISOString();
  }
  return window;
}
