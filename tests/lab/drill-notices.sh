#!/usr/bin/env bash
# Runs the drill command it is given (`make drill`) with a webhook receiver
# on loopback as the drill's notice channel, then checks that the drill said
# when it started and how it ended (DRILL_OUTCOME, default passed).
# Usage: drill-notices.sh make -C REPO drill
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
python3 "$here/notice_receiver.py" serve --port-file "$work/port" --out "$work/notices.jsonl" &
receiver=$!
for _ in $(seq 50); do [[ -s $work/port ]] && break; sleep 0.1; done
if [[ ! -s $work/port ]]; then
  echo "drill notices: the receiver did not start"; kill "$receiver" 2>/dev/null; rm -rf "$work"; exit 1
fi
port="$(cat "$work/port")"
export DRILL_ARGS="-e dr_drill_notify_webhook_url=http://127.0.0.1:$port/drill"
rc=0
"$@" || rc=$?
kill "$receiver" 2>/dev/null; wait "$receiver" 2>/dev/null
if [[ $rc -eq 0 ]]; then
  python3 "$here/notice_receiver.py" check "$work/notices.jsonl" --outcome "${DRILL_OUTCOME:-passed}" || rc=1
fi
rm -rf "$work"
exit "$rc"
