"""Reports: the process map drawing and the self-contained HTML report with results.json."""
