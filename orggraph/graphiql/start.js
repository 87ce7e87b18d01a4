// Opens GraphiQL on /graphql with an example query of the demo organisation.
const EXAMPLE = `# The demo organisation (orggraph serve --demo): its teams, the function
# each belongs to, and the KPIs each is accountable for. Press the run button.
query TeamsAndTheirKpis {
  teams(first: 10) {
    nodes {
      id
      name
      function
      accountableFor {
        id
        name
      }
    }
  }
}
`;
const fetcher = GraphiQL.createFetcher({
  url: '/graphql',
  headers: { 'GraphQL-Preflight': '1' },
});
ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, { fetcher, defaultQuery: EXAMPLE, defaultEditorToolsVisibility: true }),
);
