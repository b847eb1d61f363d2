"""`python -m pipeline.cli`: the same as the `ordervault` console script."""

from pipeline.cli import main

main()
