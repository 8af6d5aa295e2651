"""Imports N patients through POST /imports/patients (NDJSON, streamed from a file written
first) and follows the job to its end. Prints one RESULT line: rows, the upload's seconds, the
job's seconds (its startedAt to finishedAt), rows per second of the job, and end to end.

    python3 bench/import.py PORT FIXTURE_DIR ROWS
"""
import datetime
import json
import os
import sys
import tempfile
import time
import urllib.request

port, fixture, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
base = f"http://127.0.0.1:{port}"
secret = open(os.path.join(fixture, "secret")).read().strip()
client = open(os.path.join(fixture, "client")).read().strip()
location = open(os.path.join(fixture, "location")).read().strip()
run = str(int(time.time() * 1000))

path = tempfile.mktemp(suffix=".ndjson")
with open(path, "w") as f:
    for i in range(rows):
        f.write(json.dumps({
            "externalPatientId": f"IMP-{run}-{i}",
            "firstName": f"First{i}",
            "lastName": f"Last{i}",
            "dateOfBirth": f"19{50 + i % 50}-0{1 + i % 9}-1{i % 10}",
            "sex": ["FEMALE", "MALE", "OTHER", "UNKNOWN"][i % 4],
        }) + "\n")
size = os.path.getsize(path)

t0 = time.monotonic()
with open(path, "rb") as body:
    req = urllib.request.Request(
        f"{base}/imports/patients?clientId={client}&locationId={location}",
        body,
        {"Content-Type": "application/x-ndjson", "Authorization": "Bearer " + secret,
         "Content-Length": str(size)},
    )
    job = json.load(urllib.request.urlopen(req))
uploaded = time.monotonic() - t0
os.unlink(path)

query = "query($id:ID!){ importJob(id:$id){ status processed created failed startedAt finishedAt } }"
while True:
    req = urllib.request.Request(
        f"{base}/graphql",
        json.dumps({"query": query, "variables": {"id": job["id"]}}).encode(),
        {"Content-Type": "application/json", "Authorization": "Bearer " + secret},
    )
    state = json.load(urllib.request.urlopen(req))["data"]["importJob"]
    if state["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
        break
    time.sleep(0.05)
total = time.monotonic() - t0
assert state["status"] == "COMPLETED" and state["created"] == rows, state


def at(ts):
    return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00"))


job_s = (at(state["finishedAt"]) - at(state["startedAt"])).total_seconds()
print(f"RESULT rows={rows} bytes={size} upload_s={uploaded:.2f} job_s={job_s:.2f} "
      f"rows_per_s={rows / job_s:.0f} end_to_end_s={total:.2f}")
