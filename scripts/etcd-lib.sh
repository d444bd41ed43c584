# Shared by scripts/demo and scripts/bench-scan: a throwaway etcd on 127.0.0.1, random ports,
# temp dir, stopped by PID.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_etcd() { # sets ETCD_PID ETCD_ENDPOINT ETCD_DIR
  ETCD_DIR=$(mktemp -d)
  local cport pport
  cport=$(free_port); pport=$(free_port)
  ETCD_ENDPOINT="http://127.0.0.1:${cport}"
  etcd --name atrest-demo --data-dir "$ETCD_DIR/data" \
    --listen-client-urls "$ETCD_ENDPOINT" --advertise-client-urls "$ETCD_ENDPOINT" \
    --listen-peer-urls "http://127.0.0.1:${pport}" --initial-advertise-peer-urls "http://127.0.0.1:${pport}" \
    --initial-cluster "atrest-demo=http://127.0.0.1:${pport}" \
    --quota-backend-bytes 8589934592 --log-level error >"$ETCD_DIR/etcd.log" 2>&1 &
  ETCD_PID=$!
  trap stop_etcd EXIT
  for _ in $(seq 1 100); do
    if ETCDCTL_API=3 etcdctl --endpoints "$ETCD_ENDPOINT" endpoint health >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "etcd did not start; log:" >&2; cat "$ETCD_DIR/etcd.log" >&2; return 1
}

stop_etcd() {
  if [ -n "${ETCD_PID:-}" ]; then kill "$ETCD_PID" 2>/dev/null || true; wait "$ETCD_PID" 2>/dev/null || true; fi
  [ -n "${ETCD_DIR:-}" ] && rm -rf "$ETCD_DIR"
  ETCD_PID=""
}

# Benchmarks: `measure T M cmd…` runs cmd under /usr/bin/time and appends its seconds to the
# array named T and its peak RSS (KiB) to the array named M; `median` reads numbers on stdin.
measure() {
  local -n _t=$1 _m=$2
  shift 2
  local code=0 secs rss
  /usr/bin/time -f '%e %M' -o "$ETCD_DIR/time" "$@" || code=$?
  [ "$code" -le 1 ] || { echo "$* exited $code" >&2; return 1; }
  read -r secs rss < "$ETCD_DIR/time"
  _t+=("$secs"); _m+=("$rss")
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
max() { sort -n | tail -1; }
ensure_time() { [ -x /usr/bin/time ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
