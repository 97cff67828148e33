#!/usr/bin/env python
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup and restore benchmark: WAL-G against the plan's logical path.

On a pgbench database of about --size-gb (default 1 GB) in the leader's
cluster, in the same run:

- WAL-G: `backup-push --full` on the leader, then `backup-fetch` of that
  backup into a new directory on the restore host and a start that recovers
  to consistency and accepts connections;
- the plan's backup.sh / restore.sh: `pg_dump -Fc | gzip` on the leader and
  its upload to the backup bucket, then its download on the restore host,
  `gunzip | pg_restore` into a fresh server.

Both restores end with the same check: pgbench_accounts has the rows the
leader had. It prints a table with the times and the ratio and writes a JSON
file to the results dir. It asserts nothing: numbers, not a test.

Hosts are the lab's (or a molecule scenario's) containers, reached with
`docker exec`; they need the walg role (leader) and a restore run before
(restore host: PostgreSQL, wal-g and /etc/wal-g/restore.json).

    .venv/bin/python bench/backup_restore.py --leader mol-wpg1 --restore-host mol-wrestore
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import time

PG_BIN = "/usr/lib/postgresql/15/bin"


def sh(container, script, user="postgres", check=True):
    """Runs a bash script in a container; returns (seconds, stdout)."""
    started = time.monotonic()
    try:
        out = subprocess.run(["docker", "exec", "-u", user, container, "bash", "-o", "pipefail", "-ec", script],
                             capture_output=True, text=True, check=False, timeout=1800)
    except subprocess.TimeoutExpired:
        sys.exit("TIMEOUT (30 min) on %s: %s" % (container, script))
    took = time.monotonic() - started
    if check and out.returncode != 0:
        sys.exit("FAILED on %s (exit %d): %s\n%s" % (container, out.returncode, script, out.stderr[-2000:]))
    return took, out.stdout.strip()


def timed(container, script):
    """Seconds a script took in a container."""
    return sh(container, script)[0]


def psql(container, sql, port=5432, db="postgres"):
    return sh(container, "psql -XAtq -h /var/run/postgresql -p %d -d %s -c %s" % (port, db, shlex.quote(sql)))[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--leader", required=True, help="container of the cluster's leader")
    parser.add_argument("--restore-host", required=True, help="container of the isolated restore host")
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--database", default="bench")
    parser.add_argument("--config", default="/etc/wal-g/walg.json", help="WAL-G configuration on the leader")
    parser.add_argument("--restore-config", default="/etc/wal-g/restore.json",
                        help="WAL-G configuration on the restore host")
    parser.add_argument("--results", default=os.environ.get("FULEXO_RESULTS_DIR", "results"))
    args = parser.parse_args()
    walg = "/usr/local/bin/wal-g --config %s" % args.config
    rwalg = "/usr/local/bin/wal-g --config %s" % args.restore_config
    # pgbench: scale 1 is about 15 MB of data and indexes.
    scale = max(1, int(args.size_gb * 1024 / 15))
    stamp = time.strftime("%Y%m%dT%H%M%S")
    data_dir = psql(args.leader, "SHOW data_directory")

    # Both hosts must reach the archive before anything is timed.
    sh(args.leader, "timeout 60 %s st ls >/dev/null" % walg)
    sh(args.restore_host, "timeout 60 %s st ls >/dev/null" % rwalg)
    print("preparing pgbench scale %d (about %.1f GB) on %s" % (scale, args.size_gb, args.leader), flush=True)
    sh(args.leader, "dropdb --if-exists %s && createdb %s && pgbench -q -i -s %d %s"
       % (args.database, args.database, scale, args.database))
    size = int(psql(args.leader, "SELECT pg_database_size('%s')" % args.database))
    rows = int(psql(args.leader, "SELECT count(*) FROM pgbench_accounts", db=args.database))
    psql(args.leader, "CHECKPOINT")

    results = {"database_bytes": size, "rows": rows, "scale": scale}

    # --- WAL-G -----------------------------------------------------------------
    took = timed(args.leader, "%s backup-push %s --full 2>/dev/null" % (walg, data_dir))
    results["walg_backup_seconds"] = round(took, 1)
    name = json.loads(sh(args.leader, "%s backup-list --json 2>/dev/null" % walg)[1])[-1]["backup_name"]
    target = "/var/lib/postgresql/bench-walg-%s" % stamp
    fetch = timed(args.restore_host, "%s backup-fetch %s %s 2>/dev/null" % (rwalg, target, name))
    port = 5497
    recover = timed(args.restore_host, (
        "sed -i -E 's/^(\\s*recovery_target\\w*\\s*=)/# \\1/' {d}/postgresql.conf && "
        "touch {d}/recovery.signal && {b}/pg_ctl -D {d} -l {d}.log -w -t 3600 -o \"-c port={p} -c listen_addresses='' "
        "-c archive_mode=off -c hba_file={d}/pg_hba.conf -c ident_file={d}/pg_ident.conf "
        "-c restore_command='{w} wal-fetch %f %p' -c recovery_target=immediate -c recovery_target_action=promote\" start"
    ).format(d=target, b=PG_BIN, p=port, w=rwalg))
    sh(args.restore_host, "for i in $(seq 600); do [ \"$(psql -XAtq -h /var/run/postgresql -p %d -d postgres "
                          "-c 'SELECT pg_is_in_recovery()')\" = f ] && exit 0; sleep 0.5; done; exit 1" % port)
    restored_rows = int(psql(args.restore_host, "SELECT count(*) FROM pgbench_accounts", port=port, db=args.database))
    sh(args.restore_host, "%s/pg_ctl -D %s -m fast -w stop && rm -rf %s %s.log" % (PG_BIN, target, target, target))
    results.update(walg_backup_name=name, walg_fetch_seconds=round(fetch, 1),
                   walg_restore_seconds=round(fetch + recover, 1), walg_restored_rows=restored_rows)

    # --- the plan's logical path ---------------------------------------------------
    dump = "/var/lib/postgresql/%s_%s.dump.gz" % (args.database, stamp)
    remote = "bench/%s" % os.path.basename(dump)
    took_dump = timed(args.leader, "pg_dump -Fc -h /var/run/postgresql %s | gzip > %s" % (args.database, dump))
    took_up = timed(args.leader, "%s st put --no-compress %s %s 2>/dev/null && rm -f %s" % (walg, dump, remote, dump))
    results["logical_backup_seconds"] = round(took_dump + took_up, 1)
    port2 = 5496
    scratch = "/var/lib/postgresql/bench-logical-%s" % stamp
    took_down = timed(args.restore_host, "%s st get --no-decompress %s %s.gz 2>/dev/null" % (rwalg, remote, scratch))
    results["logical_dump_bytes"] = int(sh(args.restore_host, "stat -c %%s %s.gz" % scratch)[1])
    sh(args.restore_host, "%s/initdb -D %s -A trust >/dev/null && %s/pg_ctl -D %s -l %s.log -w -o \"-c port=%d "
                          "-c listen_addresses=''\" start >/dev/null" % (PG_BIN, scratch, PG_BIN, scratch, scratch, port2))
    took_restore = timed(args.restore_host,
                         "createdb -h /var/run/postgresql -p %d %s && gunzip -c %s.gz | "
                         "pg_restore -h /var/run/postgresql -p %d -d %s"
                         % (port2, args.database, scratch, port2, args.database))
    logical_rows = int(psql(args.restore_host, "SELECT count(*) FROM pgbench_accounts", port=port2, db=args.database))
    sh(args.restore_host, "%s/pg_ctl -D %s -m fast -w stop && rm -rf %s %s.log %s.gz"
       % (PG_BIN, scratch, scratch, scratch, scratch))
    sh(args.leader, "%s st rm %s 2>/dev/null; dropdb %s" % (walg, remote, args.database), check=False)
    results.update(logical_download_seconds=round(took_down, 1),
                   logical_restore_seconds=round(took_down + took_restore, 1), logical_restored_rows=logical_rows)

    results["backup_ratio_logical_over_walg"] = round(results["logical_backup_seconds"] / results["walg_backup_seconds"], 2)
    results["restore_ratio_logical_over_walg"] = round(
        results["logical_restore_seconds"] / results["walg_restore_seconds"], 2)
    print("\ndatabase %.2f GB, %d pgbench_accounts rows" % (size / 1e9, rows))
    print("%-34s %10s %10s" % ("", "WAL-G", "logical"))
    print("%-34s %9.1fs %9.1fs" % ("backup (to the primary site)", results["walg_backup_seconds"],
                                   results["logical_backup_seconds"]))
    print("%-34s %9.1fs %9.1fs" % ("restore (download + load/replay)", results["walg_restore_seconds"],
                                   results["logical_restore_seconds"]))
    print("%-34s %10d %10d" % ("rows back", restored_rows, logical_rows))
    print("ratio logical / WAL-G: backup %.2f, restore %.2f"
          % (results["backup_ratio_logical_over_walg"], results["restore_ratio_logical_over_walg"]))
    os.makedirs(args.results, exist_ok=True)
    path = os.path.join(args.results, "bench-backup-restore-%s.json" % stamp)
    with open(path, "w") as handle:
        json.dump(results, handle, indent=2)
    print("written: %s" % path)
    return 0 if restored_rows == rows and logical_rows == rows else 1


if __name__ == "__main__":
    sys.exit(main())
