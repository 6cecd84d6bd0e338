"""A background worker for the berth demo: prints a heartbeat."""
import os
import time

slug = os.environ.get("BERTH_SLUG", "main")
n = 0
while True:
    n += 1
    print(f"worker of {slug}: tick {n}", flush=True)
    time.sleep(5)
