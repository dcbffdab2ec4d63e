"""Reports across finished, stopped and running runs, read from their directories."""
