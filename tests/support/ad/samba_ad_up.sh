#!/usr/bin/env bash
# Copied from ../shared/ad/ (the project's verified Samba AD notes: ../shared/notes/ldap3-and-samba-ad.md) so that a
# clean clone can run the directory tests; keep the two in step.
# samba_ad_up.sh [DIR] -- throwaway Samba Active Directory DC on loopback for tests/CI.
#
# Idempotent: installs Debian packages if missing, provisions DIR once, starts samba if it is not
# already running from DIR, waits until LDAP and LDAPS answer, seeds once, and prints the
# connection settings as `export VAR=...` lines on stdout (everything else goes to stderr), so:
#     eval "$(./samba_ad_up.sh /tmp/samba-ad)"
# They are also written to DIR/env (source-able).  Stop with samba_ad_down.sh DIR [--purge].
#
# Must run as root (Samba's AD LDAP server has 389/636 hard-coded -- the ports cannot be moved --
# and provisioning sets xattrs/ACLs).  Only the ldap service is started (no smbd, DNS, NetBIOS,
# winbind, KDC), bound to SAMBA_AD_BIND_IP only.
#
# Knobs (env):
#   SAMBA_AD_DIR            target dir (default /tmp/samba-ad; $1 wins)
#   SAMBA_AD_REALM          CORP.EXAMPLE.TEST        SAMBA_AD_DOMAIN   CORP
#   SAMBA_AD_ADMIN_PASSWORD Adm1n!Passw0rd           SAMBA_AD_BIND_IP  127.0.0.1
#   SAMBA_AD_SERVICES       "ldap"  (add "kdc" for Kerberos/GSSAPI tests, "cldap" for DC pings)
#   SAMBA_AD_PROCESS_MODEL  single (1 process, least memory) | prefork | standard
#   SAMBA_AD_SEED           path to a .py seed (run as: PY --flavor samba --url .. --bind-dn ..
#                           --password .. --base ..), a .ldif (ldapadd -c over LDAPS), or "none".
#                           Default: seed_directory.py next to this script, if present.
#   SAMBA_AD_SEED_ARGS      extra args for a .py seed (e.g. "--bulk 5000")
#   SAMBA_AD_PYTHON         python with ldap3 for a .py seed (default: python3)
#   SAMBA_AD_TIMEOUT        seconds to wait for LDAP (default 60)
#   SAMBA_AD_NOSYNC         1 (default): TDB_NO_FSYNC=1 for provision+server, ~2x faster writes;
#                           the data is throwaway, a crash just means re-provisioning
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DIR=${1:-${SAMBA_AD_DIR:-/tmp/samba-ad}}
REALM=${SAMBA_AD_REALM:-CORP.EXAMPLE.TEST}
DOMAIN=${SAMBA_AD_DOMAIN:-CORP}
ADMIN_PASS=${SAMBA_AD_ADMIN_PASSWORD:-Adm1n!Passw0rd}
BIND_IP=${SAMBA_AD_BIND_IP:-127.0.0.1}
SERVICES=${SAMBA_AD_SERVICES:-ldap}
MODEL=${SAMBA_AD_PROCESS_MODEL:-single}
SEED=${SAMBA_AD_SEED:-$HERE/seed_directory.py}
SEED_ARGS=${SAMBA_AD_SEED_ARGS:-}
PY=${SAMBA_AD_PYTHON:-python3}
TIMEOUT=${SAMBA_AD_TIMEOUT:-60}
[ "${SAMBA_AD_NOSYNC:-1}" = 1 ] && export TDB_NO_FSYNC=1

log() { printf '[samba_ad_up %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (Samba AD DC binds 389/636 and sets ACL xattrs)"
mkdir -p "$(dirname "$DIR")"
DIR=$(cd "$(dirname "$DIR")" && pwd)/$(basename "$DIR")
BASE_DN=$(echo "$REALM" | tr 'A-Z' 'a-z' | sed 's/^/DC=/; s/\./,DC=/g' | sed 's/dc=/DC=/g')
DNS_DOMAIN=$(echo "$REALM" | tr 'A-Z' 'a-z')
CONF=$DIR/etc/smb.conf
PIDFILE=$DIR/run/samba.pid
T_START=$(date +%s.%N)
elapsed() { awk -v a="$T_START" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}'; }

# ---------------------------------------------------------------- 1. install if missing
PKGS="samba samba-dsdb-modules samba-vfs-modules samba-ad-provision ldb-tools ldap-utils procps iproute2"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  log "installing:$missing"
  created_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then   # keep the package from starting smbd/nmbd/samba-ad-dc
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; created_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends $missing >&2 \
    || { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends $missing >&2; }
  [ -n "$created_policy" ] && rm -f /usr/sbin/policy-rc.d
  log "installed ($(elapsed)s)"
fi

# ---------------------------------------------------------------- helpers
alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$s" ] && [[ "$s" != Z* ]]; }  # zombies count as dead
pid_alive() { [ -s "$PIDFILE" ] && alive "$(cat "$PIDFILE")"; }
ldap_ready() {  # anonymous rootDSE read on 389 and a TLS handshake on 636
  ldapsearch -x -LLL -o nettimeout=2 -H "ldap://$BIND_IP" -s base -b '' defaultNamingContext 2>/dev/null \
    | grep -q defaultNamingContext &&
  LDAPTLS_REQCERT=never ldapsearch -x -LLL -o nettimeout=2 -H "ldaps://$BIND_IP" -s base -b '' \
    defaultNamingContext 2>/dev/null | grep -q defaultNamingContext
}
port_owner() { command -v ss >/dev/null || return 0; ss -Hltnp "sport = :$1" 2>/dev/null | grep -F "$BIND_IP:$1" | head -1 || true; }

print_env() {
  local pid; pid=$(cat "$PIDFILE")
  cat > "$DIR/env" <<EOF
export LDAP_URL='ldaps://$BIND_IP:636'
export LDAP_STARTTLS_URL='ldap://$BIND_IP:389'
export LDAP_HOST='$BIND_IP'
export LDAP_PORT='389'
export LDAPS_PORT='636'
export LDAP_BASE_DN='$BASE_DN'
export LDAP_BIND_DN='svc-telephony@$DNS_DOMAIN'
export LDAP_BIND_PASSWORD='Svc!Telephony-2024'
export LDAP_ADMIN_DN='Administrator@$DNS_DOMAIN'
export LDAP_ADMIN_PASSWORD='$ADMIN_PASS'
export LDAP_CA_CERT='$DIR/private/tls/ca.pem'
export LDAP_TLS_SERVER_NAME='DC1.$DNS_DOMAIN'
export LDAP_FLAVOR='samba'
export SAMBA_AD_DIR='$DIR'
export SAMBA_AD_PID='$pid'
EOF
  cat "$DIR/env"
}

# ---------------------------------------------------------------- 2. already running?
if pid_alive; then
  if ldap_ready; then
    log "already running from $DIR (pid $(cat "$PIDFILE")), LDAP ready"
    print_env; exit 0
  fi
  log "pid $(cat "$PIDFILE") alive but LDAP not answering yet; waiting"
else
  for port in 389 636; do
    owner=$(port_owner $port)
    [ -z "$owner" ] || die "port $BIND_IP:$port already in use by something else: $owner
  (Samba's LDAP ports are hard-coded; stop the other server, or use another SAMBA_AD_BIND_IP
   such as 127.0.0.2 after 'ip addr add 127.0.0.2/8 dev lo')"
  done

  # -------------------------------------------------------------- 3. provision once
  if [ ! -s "$DIR/private/sam.ldb" ] || [ ! -s "$CONF" ]; then
    rm -rf "$DIR"; mkdir -p "$DIR/etc" "$DIR/run"
    : > "$DIR/etc/empty.conf"   # never read /etc/samba/smb.conf as a template
    log "provisioning $REALM into $DIR"
    t0=$(date +%s.%N)
    samba-tool domain provision -s "$DIR/etc/empty.conf" --targetdir="$DIR" \
      --realm="$REALM" --domain="$DOMAIN" --server-role=dc --dns-backend=SAMBA_INTERNAL \
      --adminpass="$ADMIN_PASS" --use-rfc2307 --host-name=dc1 --host-ip="$BIND_IP" \
      --option="interfaces=$BIND_IP" --option="bind interfaces only=yes" \
      --option="server services=$SERVICES" \
      --option="dns forwarder=127.0.0.1" \
      --option="log file=$DIR/samba.log" --option="max log size=10000" \
      --option="pid directory=$DIR/run" --option="ncalrpc dir=$DIR/run/ncalrpc" \
      --option="winbindd socket directory=$DIR/run/winbindd" \
      --option="ntp signd socket directory=$DIR/run/ntp_signd" \
      > "$DIR/provision.log" 2>&1 || { tail -30 "$DIR/provision.log" >&2; die "provision failed (log: $DIR/provision.log)"; }
    log "provisioned in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')s"
    rm -f "$DIR/.seeded"
  fi

  # -------------------------------------------------------------- 4. start
  mkdir -p "$DIR/run"
  log "starting samba (-M $MODEL, services: $SERVICES, bound to $BIND_IP)"
  samba -D -M "$MODEL" -s "$CONF" >>"$DIR/samba.stdout" 2>&1 || die "samba failed to start (see $DIR/samba.log)"
fi

# ---------------------------------------------------------------- 5. wait for LDAP + LDAPS
t0=$(date +%s.%N)
deadline=$(( $(date +%s) + TIMEOUT ))
until ldap_ready; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    tail -20 "$DIR/samba.log" >&2 || true; die "LDAP not ready after ${TIMEOUT}s"
  fi
  if [ -s "$PIDFILE" ] && ! pid_alive; then
    tail -20 "$DIR/samba.log" >&2 || true; die "samba exited during startup"
  fi
  sleep 0.1
done
for i in $(seq 1 50); do [ -s "$PIDFILE" ] && break; sleep 0.1; done
log "LDAP ready $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')s after start (pid $(cat "$PIDFILE"))"

# ---------------------------------------------------------------- 6. seed once
if [ "$SEED" != none ] && [ -n "$SEED" ] && [ ! -e "$DIR/.seeded" ]; then
  t0=$(date +%s.%N)
  case "$SEED" in
    *.py)
      "$PY" -c 'import ldap3' 2>/dev/null || die "$PY has no ldap3 (set SAMBA_AD_PYTHON to your venv's python)"
      # shellcheck disable=SC2086
      "$PY" "$SEED" --flavor samba --url "ldaps://$BIND_IP:636" --bind-dn "Administrator@$DNS_DOMAIN" \
        --password "$ADMIN_PASS" --base "$BASE_DN" $SEED_ARGS >&2 || die "seed $SEED failed" ;;
    *.ldif)
      rc=0
      LDAPTLS_REQCERT=never ldapadd -c -x -H "ldaps://$BIND_IP:636" -D "Administrator@$DNS_DOMAIN" \
        -w "$ADMIN_PASS" -f "$SEED" >"$DIR/seed.log" 2>&1 || rc=$?
      # rc 68 = entryAlreadyExists on some entries (-c continues): fine when re-seeding
      [ $rc = 0 ] || [ $rc = 68 ] || { tail -20 "$DIR/seed.log" >&2; die "ldapadd $SEED failed rc=$rc"; } ;;
    *) die "SAMBA_AD_SEED must be a .py, a .ldif or 'none' (got $SEED)" ;;
  esac
  touch "$DIR/.seeded"
  log "seeded from $(basename "$SEED") in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')s"
fi

log "up in $(elapsed)s total"
print_env
