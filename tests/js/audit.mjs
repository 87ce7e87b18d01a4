// Runs graphql-http's server audits against the URL given as the only argument and
// prints one JSON object: counts by status and every audit that did not pass.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs http://host:port/graphql');
  process.exit(2);
}
const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
const failed = [];
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  counts[result.status] += 1;
  if (result.status !== "ok") {
    failed.push({ id: audit.id, name: audit.name, status: result.status, reason: result.reason });
  }
}
console.log(JSON.stringify({ ...counts, failed }));
