"""Command groups of the orggraph CLI."""
