"""dlt sources for every system q2c reads, and the pipeline factory that loads them."""
