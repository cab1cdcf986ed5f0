"""Drawing: the low-level renderers that discovery and the report share (:mod:`flowlens.render.dot`)."""
