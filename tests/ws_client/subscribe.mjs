// A stock graphql-ws client (createClient over the `ws` package): subscribes to one
// operation, prints every payload as a JSON line on stdout and exits after `count` of them.
// Usage: node subscribe.mjs <ws url> <count> <subscription document>
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, count, query] = process.argv.slice(2);
const client = createClient({ url, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0 });
let received = 0;
const finish = (code) => client.dispose().finally(() => process.exit(code));
client.subscribe(
  { query },
  {
    next: (payload) => {
      process.stdout.write(JSON.stringify(payload) + "\n");
      received += 1;
      if (received >= Number(count)) finish(0);
    },
    error: (error) => {
      process.stderr.write("subscription error: " + JSON.stringify(error) + "\n");
      finish(1);
    },
    complete: () => finish(received >= Number(count) ? 0 : 1),
  },
);
