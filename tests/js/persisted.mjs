// Apollo Client with its persisted-queries link (automatic persisted queries), against
// the URL given as first argument. Runs each document given after it (one per argument)
// twice, and prints one JSON object: per run the data or the error codes, and every
// HTTP request the link sent (whether it carried the document, its hash, the status).
// With --manifest instead of a URL: prints {sha256: document} for the documents as
// Apollo Client sends them (its cache adds __typename), a trusted-documents manifest.
import { createHash } from 'node:crypto';
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client/core/index.js';
import { createPersistedQueryLink } from '@apollo/client/link/persisted-queries/index.js';
import { print } from 'graphql';

const [url, ...documents] = process.argv.slice(2);
const sha256 = (text) => createHash('sha256').update(text).digest('hex');
if (url === '--manifest') {
  const cache = new InMemoryCache();
  const sentForms = documents.map((d) => print(cache.transformDocument(gql(d))));
  console.log(JSON.stringify(Object.fromEntries(sentForms.map((d) => [sha256(d), d]))));
  process.exit(0);
}
const sent = [];
async function recordingFetch(input, init) {
  const body = JSON.parse(init.body);
  const response = await fetch(input, init);
  sent.push({
    withDocument: typeof body.query === 'string',
    hash: body.extensions?.persistedQuery?.sha256Hash ?? null,
    document: body.query ?? null,
    status: response.status,
  });
  return response;
}
const client = new ApolloClient({
  cache: new InMemoryCache(),
  link: createPersistedQueryLink({ sha256 }).concat(new HttpLink({ uri: url, fetch: recordingFetch })),
});
const runs = [];
for (const document of documents) {
  for (let i = 0; i < 2; i += 1) {
    try {
      const result = await client.query({ query: gql(document), fetchPolicy: 'network-only' });
      runs.push({ data: result.data });
    } catch (error) {
      const errors = error.graphQLErrors?.length ? error.graphQLErrors : error.networkError?.result?.errors ?? [];
      runs.push({ codes: errors.map((e) => e.extensions?.code), message: error.message });
    }
  }
}
console.log(JSON.stringify({ runs, sent }));
