"""The words of a batch: a row's status, the results file, where rows run."""

DONE, SKIPPED, FAILED = "done", "skipped", "failed"
#: One JSON line per row and run, in the output folder.
RESULTS = "results.jsonl"
#: Where rows run: processes on this machine, or a Ray cluster.
EXECUTORS = ("local", "ray")
