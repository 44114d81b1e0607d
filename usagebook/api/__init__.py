"""The HTTP layer: routes, wire models, error mapping. Routes stay thin; the domain decides."""
