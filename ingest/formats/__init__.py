"""Per-format readers behind `ingest.partition.partition_file`.

Each reader turns one file into `Block`s or raises `PartitionError` with a reason a person can
act on. The guards (`guards.py`) run before any third-party parser sees the bytes: text
decoding and binary sniffing, and zip-bomb inspection of OOXML containers.
"""
