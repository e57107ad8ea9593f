#!/usr/bin/env bash
# Copied from ../shared/ad/ (the project's verified Samba AD notes: ../shared/notes/ldap3-and-samba-ad.md) so that a
# clean clone can run the directory tests; keep the two in step.
# samba_ad_down.sh [DIR] [--purge] -- stop the Samba AD DC started by samba_ad_up.sh from DIR.
# Stops only the samba whose pid is in DIR/run/samba.pid (and that pid's children); idempotent.
# --purge also deletes DIR (next samba_ad_up.sh provisions from scratch).
set -euo pipefail
DIR=${SAMBA_AD_DIR:-/tmp/samba-ad}
PURGE=""
for a in "$@"; do case "$a" in --purge) PURGE=1 ;; *) DIR=$a ;; esac; done
PIDFILE=$DIR/run/samba.pid
log() { printf '[samba_ad_down %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$s" ] && [[ "$s" != Z* ]]; }  # zombies count as dead
children() { ps -e -o pid=,ppid= | awk -v p="$1" '$2==p {print $1}'; }

if [ -s "$PIDFILE" ] && alive "$(cat "$PIDFILE")"; then
  pid=$(cat "$PIDFILE")
  comm=$(ps -p "$pid" -o comm= || true)
  if [ "$comm" != samba ]; then
    log "pid $pid from $PIDFILE is '$comm', not samba -- not touching it"
  else
    kids=$(children "$pid" | tr '\n' ' ')
    t0=$(date +%s.%N)
    kill -TERM "$pid"
    for i in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then log "samba $pid ignored SIGTERM for 10s, sending SIGKILL"; kill -KILL "$pid" || true; fi
    for k in $kids; do alive "$k" && kill -KILL "$k" 2>/dev/null || true; done
    log "stopped samba pid $pid in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')s"
  fi
else
  log "no running samba for $DIR"
fi
rm -f "$PIDFILE"
if [ -n "$PURGE" ] && [ -d "$DIR" ]; then rm -rf "$DIR"; log "purged $DIR"; fi
