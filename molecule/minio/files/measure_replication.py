#!/usr/bin/env python
"""Write one object on the primary and time its arrival on each target.

Usage: measure_replication.py BUCKET KEY TARGET_ALIAS... (mc aliases come from
MC_HOST_* in the environment; the source alias is "primary"). Prints JSON:
the version ID written and, per target, the seconds until that same version
was readable there. Polls every 50 ms, gives up after 120 s.
"""
import json
import subprocess
import sys
import tempfile
import time

bucket, key, targets = sys.argv[1], sys.argv[2], sys.argv[3:]


def mc(*args):
    proc = subprocess.run(["mc", "--json"] + list(args), capture_output=True, text=True, check=False)
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


with tempfile.NamedTemporaryFile("w", suffix=".bin") as payload:
    payload.write("replication probe %s\n" % time.time())
    payload.flush()
    rc, out = mc("cp", payload.name, "primary/%s/%s" % (bucket, key))
    written = time.time()
    if rc != 0:
        sys.exit("write to primary failed: %s" % out)
rc, out = mc("stat", "primary/%s/%s" % (bucket, key))
version = out[0]["versionID"]
delays = {}
# All targets are polled in one loop, so each delay is measured alike.
while len(delays) < len(targets):
    for target in targets:
        if target not in delays:
            rc, out = mc("stat", "--version-id", version, "%s/%s/%s" % (target, bucket, key))
            if rc == 0:
                delays[target] = round(time.time() - written, 3)
    if time.time() - written > 120:
        sys.exit("version %s of %s did not reach %s within 120 s"
                 % (version, key, ", ".join(sorted(set(targets) - set(delays)))))
    time.sleep(0.05)
print(json.dumps({"key": key, "version_id": version, "delays": delays}))
