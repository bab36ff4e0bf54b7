#!/usr/bin/env bash
# Interim demo (until the pilot lands): start the server on SQLite, submit jobs, play one pilot by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PORT=${PANDA_DEMO_PORT:-25080}
DATA=$(mktemp -d /tmp/panda-demo.XXXXXX)
URL="http://127.0.0.1:$PORT/api/v1"
$BIN/panda server --port "$PORT" --data-dir "$DATA" --queues src/pandawms/examples/queues.toml \
  --log-level warning > "$DATA/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "$URL/health" >/dev/null && break; sleep 0.2; done
echo "== server up: $URL (data in $DATA)"
curl -sf "$URL/health"; echo
echo "== submit 5 jobs (one needing 12 GB on 4 cores, one needing more memory than any queue has)"
curl -sf -H 'Content-Type: application/json' "$URL/job/submit" -d '{"jobs": [
  {"transformation": "python3", "jobParameters": "-c print(42)", "prodUserName": "demo"},
  {"transformation": "python3", "jobParameters": "-c print(43)", "prodUserName": "demo"},
  {"transformation": "python3", "jobParameters": "-c print(44)", "prodUserName": "demo"},
  {"transformation": "simulate", "coreCount": 4, "minRamCount": 12000, "prodUserName": "demo"},
  {"transformation": "too-big", "minRamCount": 999999, "prodUserName": "demo"}]}'; echo
echo "== a pilot on LOCAL_MEDIUM takes a job, runs it and reports"
JOB=$(curl -sf -H 'Content-Type: application/json' "$URL/pilot/acquire_jobs" \
  -d '{"site_name": "LOCAL_MEDIUM", "node": "demo-node"}' | $BIN/python -c 'import json,sys; print(json.load(sys.stdin)["data"]["jobs"][0]["PandaID"])')
curl -sf -H 'Content-Type: application/json' "$URL/pilot/update_job" -d "{\"job_id\": $JOB, \"job_status\": \"running\"}" >/dev/null
curl -sf -H 'Content-Type: application/json' "$URL/pilot/update_job" \
  -d "{\"job_id\": $JOB, \"job_status\": \"finished\", \"trans_exit_code\": 0}"; echo
echo "== jobs"
curl -sf "$URL/job/list" | $BIN/python -c "
import json, sys
for j in json.load(sys.stdin)['data']['jobs']:
    err = '; '.join('%s:%s' % (e['component'], e['code']) for e in j['errors'])
    print('%4d %-10s %-13s %-10s %s' % (j['PandaID'], j['jobStatus'], j['computingSite'], j['transformation'], err))"
echo "== demo done (the pilot, factory and live monitor arrive in the next issues)"
