"""Jobs: compile and evaluate runs that work in any thread, report through plain callbacks
(`engine.jobs.events`), and stop on a cancel token or a budget (`engine.jobs.control`)."""
