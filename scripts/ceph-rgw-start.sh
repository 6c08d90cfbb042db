#!/usr/bin/env bash
# Starts a throwaway single-node Ceph cluster (mon + 1 OSD + radosgw) on 127.0.0.1 in DIR, for the
# S3 tests, from the Debian 12 packages (Ceph 16.2.15 "Pacific"): memstore, one replica, msgr2 only.
#
#   scripts/ceph-rgw-start.sh DIR      DIR must not exist or be empty; stop with ceph-rgw-stop.sh DIR
#
# On success it writes DIR/env (sourceable) and prints the same `export …` lines on stdout; all
# progress goes to stderr. On failure it prints the log tails, stops what it started, keeps DIR.
# Environment: CEPH_OBJECTSTORE=memstore|bluestore (memstore), CEPH_STORE_BYTES (4 GiB memstore,
# 16 GiB bluestore, a sparse file), RGW_PORT (a random free port), S3_ACCESS_KEY + S3_SECRET_KEY
# (random), CEPH_OP_TIMEOUT (60 s), CEPH_START_TIMEOUT (per step, 120 s).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# fd 3 = our stderr, also while a signal or error hits a command whose stderr goes to /dev/null.
exec 3>&2
say() { echo "ceph-rgw-start: $*" >&3; }
die() { say "$*"; exit 1; }

[[ $# -eq 1 && -n $1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
STORE=${CEPH_OBJECTSTORE:-memstore}
case $STORE in
  memstore) BYTES=${CEPH_STORE_BYTES:-$((4 << 30))} ;;  # RAM, used only as data arrives
  bluestore) BYTES=${CEPH_STORE_BYTES:-$((16 << 30))} ;;
  *) die "CEPH_OBJECTSTORE must be memstore or bluestore" ;;
esac
OP_TIMEOUT=${CEPH_OP_TIMEOUT:-60}
STEP_TIMEOUT=${CEPH_START_TIMEOUT:-120}
for v in "$BYTES" "$OP_TIMEOUT" "$STEP_TIMEOUT" "${RGW_PORT:-0}"; do
  [[ $v =~ ^[0-9]+$ ]] || die "CEPH_STORE_BYTES, CEPH_OP_TIMEOUT, CEPH_START_TIMEOUT, RGW_PORT must be integers"
done
[[ -n ${S3_ACCESS_KEY:-} && -n ${S3_SECRET_KEY:-} || -z ${S3_ACCESS_KEY:-}${S3_SECRET_KEY:-} ]] ||
  die "set both S3_ACCESS_KEY and S3_SECRET_KEY, or neither"

# Never reuse a directory: it might hold another cluster, whose daemons a failure here would stop.
if [[ -e $1 ]]; then
  [[ -d $1 && -z $(ls -A -- "$1") ]] || die "$1 exists and is not an empty directory"
fi
mkdir -p -- "$1"
DIR=$(realpath -- "$1")
# ceph.conf values and the daemons' command lines (which ceph-rgw-stop.sh matches) need a plain path.
[[ $DIR =~ ^[A-Za-z0-9_./+=@:-]+$ ]] || die "DIR path must not contain spaces or special characters"
umask 077                                 # keyrings and S3 keys
touch "$DIR/.ceph-rgw"                    # lets ceph-rgw-stop.sh know it may rm -rf this directory
mkdir -p "$DIR"/{run,log,mon,osd,rgw,crash}
export CEPH_CONF=$DIR/ceph.conf           # for the ceph, radosgw-admin and ceph-authtool clients
T0=${EPOCHREALTIME/[.,]/} ok=0
elapsed() { local us=$((${EPOCHREALTIME/[.,]/} - T0)); printf '%d.%d s' $((us / 1000000)) $((us / 100000 % 10)); }

on_exit() {
  local rc=$?
  ((ok)) && return 0
  ((rc)) || rc=1
  exec 2>&3
  say "FAILED (exit $rc). Log tails:"
  local f
  for f in "$DIR"/log/*; do
    [[ -s $f ]] || continue
    echo "==> $f <==" >&2
    tail -n 12 -- "$f" >&2
  done
  "$HERE/ceph-rgw-stop.sh" --keep-dir "$DIR" || true
  say "kept $DIR for inspection; remove it with: $HERE/ceph-rgw-stop.sh $DIR"
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM HUP              # so that on_exit also runs when interrupted

# 1. Install (only on a fresh machine). `apt-get update` only when the lists don't know ceph-mon,
# or once more if the install fails (stale lists). DPkg::Lock::Timeout: other jobs may hold the lock.
if ! command -v ceph-mon >/dev/null || ! command -v radosgw >/dev/null || ! command -v curl >/dev/null; then
  say "installing ceph-mon ceph-osd radosgw (log: $DIR/log/apt.log)"
  sudo=()
  ((EUID == 0)) || sudo=(sudo)
  apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=900)
  install=("${apt[@]}" -o Dpkg::Options::=--force-unsafe-io install -y --no-install-recommends
    ceph-mon ceph-osd radosgw curl)
  {
    apt-cache show ceph-mon >/dev/null 2>&1 || "${apt[@]}" update
    "${install[@]}" || { "${apt[@]}" update && "${install[@]}"; }
  } >>"$DIR/log/apt.log" 2>&1 </dev/null
fi

# 10. Ports. Random in 20000-32767: below the kernel's ephemeral range (32768+), so no outgoing
# connection holds them. Busy = any socket on it except TIME_WAIT (06), which SO_REUSEADDR ignores
# (Ceph and beast set it); [::]:P counts too because it would block 127.0.0.1:P.
port_busy() {
  local files=(/proc/net/tcp)
  [[ -r /proc/net/tcp6 ]] && files+=(/proc/net/tcp6)
  awk -v p="$(printf ':%04X' "$1")" 'FNR > 1 && substr($2, length($2) - 4) == p && $4 != "06" { b = 1 }
    END { exit !b }' "${files[@]}"
}
free_port() {
  local p
  for _ in {1..100}; do
    p=$((20000 + RANDOM % 12768))
    [[ $p != "${MON_PORT:-}" ]] && ! port_busy "$p" && { echo "$p"; return; }
  done
  die "no free port found"
}
MON_PORT=$(free_port)
if [[ -n ${RGW_PORT:-} ]]; then
  RGW_PORT_GIVEN=1
  port_busy "$RGW_PORT" && die "RGW_PORT $RGW_PORT is in use"
else
  RGW_PORT=$(free_port)
fi

# 2. Config. Every path inside DIR, every address 127.0.0.1, msgr2 only.
FSID=$(cat /proc/sys/kernel/random/uuid)
cat >"$CEPH_CONF" <<EOF
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_PORT]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind msgr2 = true
ms bind ipv4 = true
ms bind ipv6 = false
keyring = $DIR/keyring
run dir = $DIR/run
crash dir = $DIR/crash
log file = $DIR/log/\$name.log
mon cluster log file = $DIR/log/cluster.log
# One OSD: replica size 1, few PGs (7 RGW pools x 32 PGs would nearly hit mon_max_pg_per_osd).
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool delete = true

[mon]
mon data = $DIR/mon
# RGW creates its pools one paxos commit at a time; the default 1 s batching makes startup ~10 s.
paxos propose interval = 0.05
paxos min wait = 0.01

[osd]
osd data = $DIR/osd
osd objectstore = $STORE
memstore device bytes = $BYTES
bluestore block create = true
bluestore block size = $BYTES
bluestore fsck on mkfs = false
osd memory target = 939524096

[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw data = $DIR/rgw
# A full store blocks librados writes for good; make such S3 requests fail instead of hang.
rados osd op timeout = $OP_TIMEOUT
rados mon op timeout = $OP_TIMEOUT
# Free deleted/overwritten object tails soon (defaults: 2 h wait, hourly sweep); memstore is RAM.
rgw gc obj min wait = 30
rgw gc processor period = 30
EOF

# 3. Keys. ceph-mon --mkfs imports the whole keyring into the auth database. ceph-authtool needs
# no config; with ours it would create a log file named after each key.
KEYRING=$DIR/keyring
authtool() { CEPH_CONF=/dev/null ceph-authtool "$@"; }
authtool --create-keyring --gen-key -n mon. --cap mon 'allow *' "$KEYRING" >/dev/null
authtool --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' \
  --cap mgr 'allow *' "$KEYRING" >/dev/null
authtool --gen-key -n client.rgw --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw' \
  "$KEYRING" >/dev/null

# 8. Daemons run in the foreground in their own session (no SIGHUP/SIGINT from the caller's
# terminal or CI step). $! is the daemon itself: in a non-interactive shell the background child
# is no process-group leader, so setsid doesn't fork, and the subshell, setsid and nohup all exec.
# The subshell first closes every inherited fd above 2 (our fd 3, and whatever the caller passed
# on, e.g. a CI runner's pipe), so that long-lived daemons hold none of them open.
launch() {
  local name=$1
  shift
  (
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      ((fd <= 2)) || eval "exec $fd>&-"
    done
    exec setsid nohup "$@" -c "$CEPH_CONF" -f </dev/null >>"$DIR/log/$name.out" 2>&1
  ) &
  echo $! >"$DIR/run/$name.pid"
}
alive() { local c=; { read -r -d '' c <"/proc/$1/cmdline"; } 2>/dev/null; [[ -n $c ]]; }
wait_for() {  # WHAT PID CMD...: poll CMD until it succeeds; fail if the daemon dies or the step times out
  try_wait "$@" || die "$1 exited while waiting (see $DIR/log)"
}
try_wait() {  # as wait_for, but returns 1 when the daemon dies instead of failing
  local what=$1 pid=$2 deadline=$((SECONDS + STEP_TIMEOUT))
  shift 2
  until "$@" >/dev/null 2>&1; do
    alive "$pid" || return 1
    ((SECONDS < deadline)) || die "timed out after ${STEP_TIMEOUT}s waiting for $what"
    sleep 0.2
  done
  say "$what up ($(elapsed))"
}
# Without a mgr, some ceph commands hang forever (reference, pitfall 7): always time-limit them.
ceph_() { timeout 30 ceph --connect-timeout 20 "$@"; }

# 4. Monitor.
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$DIR/monmap" >/dev/null
ceph-mon --mkfs -i a --monmap "$DIR/monmap" --keyring "$KEYRING" -c "$CEPH_CONF" >>"$DIR/log/mkfs.out" 2>&1
launch mon ceph-mon -i a
wait_for "mon (127.0.0.1:$MON_PORT)" "$(<"$DIR/run/mon.pid")" ceph_ mon stat

# 5. OSD. `osd new` registers its key with the mon. ceph-osd needs it in a keyring: it fetches its
# config from the mon before it opens the store, so the key that `--mkfs --key` stores comes too late.
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
OSD_KEY=$(authtool --gen-print-key)
OSD_ID=$(ceph_ osd new "$OSD_UUID" -i - <<<"{\"cephx_secret\": \"$OSD_KEY\"}")
authtool "$KEYRING" -n "osd.$OSD_ID" --add-key "$OSD_KEY" >/dev/null
ceph-osd -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" -c "$CEPH_CONF" >>"$DIR/log/mkfs.out" 2>&1
launch osd ceph-osd -i "$OSD_ID"
# (No `| grep -q` in these checks: grep exiting early can SIGPIPE the writer, failing under pipefail.)
osd_up() { [[ $(ceph_ osd dump -f json) == *'"up":1'* ]]; }
wait_for "osd.$OSD_ID ($STORE, $BYTES bytes)" "$(<"$DIR/run/osd.pid")" osd_up

# 6. Gateway. Ready when *our* radosgw owns the listening socket (anything else could answer on
# the port) and GET / gives the anonymous bucket list. RGW creates its pools by itself.
rgw_ready() {
  local inode fd
  inode=$(awk -v a="$(printf '0100007F:%04X' "$RGW_PORT")" '$2 == a && $4 == "0A" { print $10; exit }' /proc/net/tcp)
  [[ -n $inode ]] || return 1
  for fd in /proc/"$RGW_PID"/fd/*; do
    if [[ $(readlink "$fd" 2>/dev/null) == "socket:[$inode]" ]]; then
      [[ $(curl -sS --max-time 5 "http://127.0.0.1:$RGW_PORT/") == *ListAllMyBucketsResult* ]]
      return
    fi
  done
  return 1
}
# Once in a long while radosgw dies at start without a word in its log (seen once in many full
# test runs, cause unknown); starting it again, on another port unless one was given, costs ~2 s.
for attempt in 1 2 3; do
  launch rgw radosgw -n client.rgw
  RGW_PID=$(<"$DIR/run/rgw.pid")
  try_wait "rgw (127.0.0.1:$RGW_PORT)" "$RGW_PID" rgw_ready && break
  rc=0
  wait "$RGW_PID" || rc=$?
  ((attempt < 3)) || die "rgw exited while waiting, three times (status $rc; see $DIR/log)"
  say "rgw exited while starting (status $rc); starting it again"
  if [[ -z ${RGW_PORT_GIVEN:-} ]]; then
    RGW_PORT=$(free_port)
    sed -i "s/^rgw frontends = beast endpoint=127.0.0.1:[0-9]*$/rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT/" "$CEPH_CONF"
  fi
done

# 7. S3 user. Keys from od, not `tr </dev/urandom | head`, which dies of SIGPIPE under pipefail.
rand_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
ACCESS_KEY=${S3_ACCESS_KEY:-$(rand_hex 10 | tr a-f A-F)}
SECRET_KEY=${S3_SECRET_KEY:-$(rand_hex 20)}
timeout 60 radosgw-admin user create --uid=ci --display-name=ci --access-key="$ACCESS_KEY" \
  --secret-key="$SECRET_KEY" >>"$DIR/log/radosgw-admin.out" 2>&1

# RGW's default zonegroup ("default") does not check the SigV4 region, but CreateBucket rejects a
# LocationConstraint other than its api_name; SDKs send none for us-east-1, so use that.
ENV=$(printf 'export %s=%q\n' S3_ENDPOINT "http://127.0.0.1:$RGW_PORT" AWS_ACCESS_KEY_ID "$ACCESS_KEY" \
  AWS_SECRET_ACCESS_KEY "$SECRET_KEY" AWS_REGION us-east-1)
echo "$ENV" >"$DIR/env"
ok=1
say "ready in $(elapsed). Source $DIR/env; stop with: $HERE/ceph-rgw-stop.sh $DIR"
# curl < 8 does not send x-amz-content-sha256 by itself; RGW (like AWS) rejects SigV4 without it.
say "make a bucket: curl -fsS -X PUT -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' --aws-sigv4 aws:amz:us-east-1:s3 --user \"\$AWS_ACCESS_KEY_ID:\$AWS_SECRET_ACCESS_KEY\" \"\$S3_ENDPOINT/BUCKET\""
echo "$ENV"
