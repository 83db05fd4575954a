"""Output for people at a terminal: progress bars, tables, logging kept off stdout.

The operator commands (`python -m job …`, `python -m event replay`) print what a person reads
on stdout and send the structured JSON log lines to stderr, so `> report.txt` or `| less`
keeps only the results and Cloud Logging still gets every line.
"""
