// The Neo4j GraphQL Library over the same database as orggraph: the benchmark's peer.
// Type definitions mirror orggraph's Customer, Touchpoint, Channel, Team and Step
// (enums as strings; relationships as in docs/model.md). Binds 127.0.0.1 only.
//   NEO4J_URI=bolt://127.0.0.1:7687 PORT=4000 node server.mjs
import { createServer } from "node:http";
import { Neo4jGraphQL } from "@neo4j/graphql";
import { createYoga } from "graphql-yoga";
import neo4j from "neo4j-driver";

const typeDefs = /* GraphQL */ `
  type Customer @node {
    id: ID!
    name: String!
    kind: String
    segment: String
    email: String
    touchpoints: [Touchpoint!]! @relationship(type: "HAD", direction: OUT)
  }

  type Touchpoint @node {
    id: ID!
    at: DateTime
    type: String
    activity: String
    value: Float
    customer: [Customer!]! @relationship(type: "HAD", direction: IN)
    channel: [Channel!]! @relationship(type: "VIA", direction: OUT)
    step: [Step!]! @relationship(type: "AT_STEP", direction: OUT)
  }

  type Channel @node {
    id: ID!
    name: String!
    kind: String
    online: Boolean
  }

  type Ownership @relationshipProperties {
    from: DateTime
    to: DateTime
  }

  type Team @node {
    id: ID!
    name: String!
    kind: String
    function: String
    ownedSteps: [Step!]! @relationship(type: "OWNS", direction: OUT, properties: "Ownership")
  }

  type Step @node {
    id: ID!
    name: String!
    stage: String
    owners: [Team!]! @relationship(type: "OWNS", direction: IN, properties: "Ownership")
  }
`;

const uri = process.env.NEO4J_URI ?? "bolt://127.0.0.1:7687";
const user = process.env.NEO4J_USER;
const auth = user ? neo4j.auth.basic(user, process.env.NEO4J_PASSWORD ?? "") : undefined;
const driver = neo4j.driver(uri, auth, { disableLosslessIntegers: true });
const database = process.env.NEO4J_DATABASE ?? "neo4j";

const schema = await new Neo4jGraphQL({ typeDefs, driver }).getSchema();
const yoga = createYoga({
  schema,
  context: () => ({ sessionConfig: { database } }),
  logging: "warn",
  graphiql: false,
  maskedErrors: false,
});

const port = Number(process.env.PORT ?? 4000);
createServer(yoga).listen(port, "127.0.0.1", () => {
  console.log(`peer ready on http://127.0.0.1:${port}/graphql`);
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    await driver.close();
    process.exit(0);
  });
}
