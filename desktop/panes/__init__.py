"""One pane per step of the workflow: Start, Dataset, Program, Metric, Models, Runs, Review."""
