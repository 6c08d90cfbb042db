#!/usr/bin/env bash
# Stops the cluster that ceph-rgw-start.sh started in DIR, then removes DIR. Idempotent; a missing
# DIR is fine. --keep-dir only stops the daemons (ceph-rgw-start.sh uses it on failure).
#
#   scripts/ceph-rgw-stop.sh [--keep-dir] DIR
#
# Signals only the pids recorded in DIR/run/*.pid, and only while that process's command line
# still names DIR/ceph.conf (a recycled pid is left alone). Never kills by name.
set -euo pipefail

keep=0
[[ ${1:-} == --keep-dir ]] && { keep=1; shift; }
[[ $# -eq 1 && -n $1 ]] || { echo "usage: $0 [--keep-dir] DIR" >&2; exit 2; }
[[ -e $1 ]] || exit 0
DIR=$(realpath -- "$1")
# rm -rf only what the start script made (it writes .ceph-rgw first thing).
[[ -f $DIR/.ceph-rgw || -z $(ls -A -- "$DIR") ]] ||
  { echo "ceph-rgw-stop: $DIR was not made by ceph-rgw-start.sh; not touching it" >&2; exit 1; }

# True while PID is one of this cluster's daemons. A stopped daemon is reparented to pid 1, which
# may reap it late: a zombie has an empty cmdline and counts as gone.
ours() { [[ $(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") == *" -c $DIR/ceph.conf "* ]]; }

# Reverse start order, one at a time: alone, each daemon stops in about 0.1 s, but radosgw takes
# about 5 s when the OSD and mon go away under it. SIGKILL whatever is left after 10 s in all.
deadline=$((SECONDS + 10)) pids=()
for f in "$DIR"/run/{rgw,osd,mon}.pid "$DIR"/run/*.pid; do
  [[ -f $f ]] || continue
  pid=$(<"$f")
  if ! [[ $pid =~ ^[0-9]+$ ]] || ! ours "$pid" || ! kill -TERM "$pid" 2>/dev/null; then continue; fi
  pids+=("$pid")
  while ours "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
done
left=()
for pid in "${pids[@]}"; do if ours "$pid"; then left+=("$pid"); fi; done
if ((${#left[@]})); then
  echo "ceph-rgw-stop: SIGKILL to ${left[*]}" >&2
  kill -KILL "${left[@]}" 2>/dev/null || true
  for pid in "${left[@]}"; do
    for _ in {1..100}; do ours "$pid" || break; sleep 0.1; done
    ! ours "$pid" || { echo "ceph-rgw-stop: pid $pid survived SIGKILL; keeping $DIR" >&2; exit 1; }
  done
fi
((keep)) || rm -rf -- "$DIR"
