"""Root fields of each domain (``<Domain>Query``, ``<Domain>Mutation``), merged into
the schema by ``orggraph.api``."""
