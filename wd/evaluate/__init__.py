"""Evaluation: decoding and timing every system, the metrics and significance tests, the result
tables, the plots, and the record of what produced them."""
