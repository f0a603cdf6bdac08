#!/usr/bin/env python3
"""Copies the fullest hour of an aggregator's ledger into each of the 167 hours before its newest:
a week of ledger at fleet size without a week of samples (bench/web-overview.sh). Run with the
aggregator stopped; it drops the day summary and the records of the migrations that made it, so
the next start rebuilds the summary from the hours (migrations v13 and v14)."""
import sqlite3, sys

db = sqlite3.connect(sys.argv[1])
hour = 3_600_000
newest = db.execute("SELECT max(hour) FROM ledger_nodes").fetchone()[0]
# The fullest hour (the one in progress may hold fewer streams) is copied.
source = db.execute("SELECT hour FROM ledger_nodes GROUP BY hour ORDER BY count(*) DESC, hour DESC LIMIT 1").fetchone()[0]
for back in range(1, 168):
    target = newest - back * hour
    if target == source:
        continue
    for table in ("ledger_nodes", "ledger_usage"):
        columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
        db.execute(f"DELETE FROM {table} WHERE hour = ?", (target,))
        db.execute(f"INSERT INTO {table} SELECT ?, {', '.join(columns[1:])} FROM {table} WHERE hour = ?", (target, source))
db.execute("DROP TABLE ledger_day_nodes")
db.execute("DROP TABLE ledger_day_usage")
# v14 adds gpu_share_cost to the hours as well as to the summary: the column goes too (the bench's
# fleet shares no GPU, so it holds only zeros), and v14 adds it back.
db.execute("ALTER TABLE ledger_usage DROP COLUMN gpu_share_cost")
db.execute("DELETE FROM grdb_migrations WHERE identifier LIKE 'v13:%' OR identifier LIKE 'v14:%'")
db.commit()
print("ledger seeded: %d node hours, %d usage hours" % (db.execute("SELECT count(*) FROM ledger_nodes").fetchone()[0],
                                                     db.execute("SELECT count(*) FROM ledger_usage").fetchone()[0]))
