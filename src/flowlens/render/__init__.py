"""Drawing: the low-level pieces that discovery and the report share: text from the log made
safe (:mod:`flowlens.render.text`), Graphviz (:mod:`flowlens.render.dot`) and its SVG cleaned
of links (:mod:`flowlens.render.svg`)."""
