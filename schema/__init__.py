"""Strawberry types, inputs and enums of each domain, and the schema's extensions
(limits, cost, authorization, error codes). The schema itself is assembled in
``orggraph.api``; nothing here imports a resolver."""
