#!/usr/bin/env bash
# Load test against gunicorn on loopback: 50 wall screens (refresh every 30 s) + 20 IOC operators (filters,
# search, open, forward) + 10 agency heads + one citizen app submitting a report every 10 s (so the data keeps
# changing), 5 minutes. ANALYTICS_DIR=… reuses an analytics copy already built (minutes at 10M).
#   bench/load.sh [DATABASE_URL] [duration]     default: the 1M-report SQLite file of bench/overview.py, 5m
#   ANALYTICS_SYNC=external bench/load.sh …     the analytics copy kept by its own process, not a web worker
# Prints locust's p50 / p95 / p99 per request and the error count; CSVs go to bench/results/load_*.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
URL="${1:-sqlite:///$PWD/bench/results/overview-1000000.sqlite3}"
DURATION="${2:-5m}"
PORT=8077
.venv/bin/pip install -q -r bench/requirements.txt
export DATABASE_URL="$URL" INSTANCE_DIR="$PWD/bench/results/load-instance" SEED_DEMO_IF_EMPTY=0
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/3}" PORT HOST=127.0.0.1 WEB_CONCURRENCY="${WEB_CONCURRENCY:-2}"
mkdir -p "$INSTANCE_DIR"
rm -f "$INSTANCE_DIR/rss.txt"
USER_PASSWORD="tai-kiem-tra-tai-2026"
.venv/bin/flask --app app create-user --username loadtest --role operator --password "$USER_PASSWORD" \
    --full-name "Kiểm tra tải" >/dev/null 2>&1 || true
.venv/bin/flask --app app create-user --username loadtest-sxd --role agency --agency SXD \
    --password "$USER_PASSWORD" --full-name "Kiểm tra tải (SXD)" >/dev/null 2>&1 || true
.venv/bin/flask --app app display-token revoke "Kiểm tra tải" >/dev/null 2>&1 || true
TOKEN=$(.venv/bin/flask --app app display-token create "Kiểm tra tải $(date +%s)" | grep -o 'token=[^ ]*' | cut -d= -f2)
API_KEY=$(.venv/bin/flask --app app api-key create "load-test-$(date +%s)" --channel app | tail -1)
.venv/bin/gunicorn -c gunicorn.conf.py >"$INSTANCE_DIR/gunicorn.log" 2>&1 &
GUNICORN=$!
SYNC=""
if [ "${ANALYTICS_SYNC:-worker}" = external ]; then  # the copy kept by a process of its own
    .venv/bin/flask --app app analytics-sync >"$INSTANCE_DIR/analytics-sync.log" 2>&1 &
    SYNC=$!
fi
trap 'kill $GUNICORN $SYNC 2>/dev/null || true' EXIT
echo "waiting for gunicorn and the analytics copy …"
for _ in $(seq 1 600); do
    if curl -sf "http://127.0.0.1:$PORT/healthz" | grep -q '"analytics":"ok"'; then break; fi
    sleep 1
done
curl -s "http://127.0.0.1:$PORT/healthz"; echo
(while kill -0 $GUNICORN 2>/dev/null; do
    ps -o pid=,rss= --ppid "$GUNICORN" >>"$INSTANCE_DIR/rss.txt"
    if [ -n "$SYNC" ]; then ps -o pid=,rss= -p "$SYNC" >>"$INSTANCE_DIR/rss-sync.txt"; fi
    sleep 5
done) &
PAHT_SCREEN_TOKEN="$TOKEN" PAHT_API_KEY="$API_KEY" PAHT_USER=loadtest PAHT_AGENCY_USER=loadtest-sxd \
    PAHT_PASSWORD="$USER_PASSWORD" .venv/bin/locust -f bench/locustfile.py --headless \
    --host "http://127.0.0.1:$PORT" --users 81 --spawn-rate 10 --run-time "$DURATION" --csv bench/results/load --only-summary \
    2>&1 | tail -30 || true
echo "RSS per gunicorn worker (MB), at the end and the highest seen (sampled every 5 s):"
ps -o pid=,rss= --ppid "$GUNICORN" | awk '{printf "  worker %s: %.0f MB now\n", $1, $2/1024}'
sort -k1,1 -k2,2n "$INSTANCE_DIR/rss.txt" | awk '{peak[$1]=$2} END {for (p in peak) printf "  worker %s: %.0f MB peak\n", p, peak[p]/1024}'
if [ -n "$SYNC" ]; then
    sort -k2,2n "$INSTANCE_DIR/rss-sync.txt" | tail -1 | awk '{printf "  analytics-sync process: %.0f MB peak\n", $2/1024}'
fi
