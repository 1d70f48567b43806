#!/usr/bin/env bash
# Records the captures in this folder: real DHCP and TFTP clients against bootwire and against the C/C++
# servers, in two network namespaces this script makes (a veth pair, 10.151.0.0/24) and removes on exit.
# See README.md for what each file holds. Needs root, `npm run build` first, and the Debian packages
# busybox isc-dhcp-client curl tftp-hpa atftp tftpd-hpa dnsmasq kea-dhcp4-server tcpdump wireshark-common
# (editcap), plus atftpd unpacked under .ci/peers/atftpd (as .ci/run does).
#
#   captures/record.sh [OUTDIR]      (default: this folder)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
OUT=$(realpath -m "${1:-$HERE}")
NET=10.151.0
SRV_IP=$NET.1
CLI_IP=$NET.50
NS_S=bwcap-$$-srv
NS_C=bwcap-$$-cli
CLI="$REPO/dist/cli/main.js"
ATFTPD="$REPO/.ci/peers/atftpd/usr/sbin/atftpd"

die() { echo "record.sh: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }

[ "$(id -u)" = 0 ] || die "must run as root (network namespaces, ports 67/69)"
[ -f "$CLI" ] || die "$CLI missing: run npm run build first"
for p in ip ss tcpdump editcap busybox dhclient curl tftp atftp in.tftpd dnsmasq kea-dhcp4 timeout node sha256sum; do
  command -v "$p" >/dev/null || die "$p not found"
done
[ -x "$ATFTPD" ] || die "$ATFTPD not found (unpack atftpd as .ci/run does)"

WORK=$(mktemp -d /tmp/bwcap.XXXXXX)
BG_PIDS=()  # background programs this script started (servers, tcpdump, dhclient)

cleanup() {
  local rc=$?
  set +e
  for pid in "${BG_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  sleep 0.3
  for pid in "${BG_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  # Anything still running inside our own namespaces was started by this script (dhclient forks).
  for ns in "$NS_S" "$NS_C"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns delete "$ns" 2>/dev/null
  done
  rm -rf "$WORK"
  [ $rc = 0 ] || echo "record.sh: failed (exit $rc); namespaces and $WORK removed" >&2
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_srv() { ip netns exec "$NS_S" "$@"; }
in_cli() { ip netns exec "$NS_C" "$@"; }

# ------------------------------------------------------------------------------------------ network

say "namespaces $NS_S ($SRV_IP/24 on srv0) and $NS_C (cli0), veth MTU 1500"
ip netns add "$NS_S"
ip netns add "$NS_C"
for ns in "$NS_S" "$NS_C"; do
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$ns" link set lo up
done
ip link add srv0 netns "$NS_S" mtu 1500 type veth peer name cli0 netns "$NS_C" mtu 1500
ip -n "$NS_S" addr add "$SRV_IP/24" dev srv0
ip -n "$NS_S" link set srv0 up
ip -n "$NS_C" link set cli0 up

# ------------------------------------------------------------------------------------------ helpers

# start_bg NAME CMD...: runs CMD in the server namespace, output to $WORK/NAME.log; sets BG (its pid).
# Servers keep theirs in SERVER (cap_start calls start_bg too).
start_bg() {
  local name=$1
  shift
  ip netns exec "$NS_S" "$@" >"$WORK/$name.log" 2>&1 &
  BG=$!
  BG_PIDS+=("$BG")
}

# stop_bg PID: SIGTERM, then SIGKILL after 5 s.
stop_bg() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# wait_udp PORT PROGRAM LOG: until PROGRAM listens on UDP PORT in the server namespace (10 s).
wait_udp() {
  local i
  for i in $(seq 100); do
    if in_srv ss -Hulnp "sport = :$1" | grep -q "$2"; then return 0; fi
    sleep 0.1
  done
  cat "$3" >&2
  die "$2 does not listen on port $1"
}

# cap_start NAME: tcpdump on srv0 into $WORK/NAME.raw, microsecond or (FORMAT=pcap-ns) nanosecond.
cap_start() {
  CAP_NAME=$1
  local prec=micro
  [ "$CAP_FORMAT" = pcap-ns ] && prec=nano
  start_bg "tcpdump-$CAP_NAME" tcpdump -i srv0 -n -U -s 0 -Z root --time-stamp-precision="$prec" -w "$WORK/$CAP_NAME.raw" 'not ip6'
  CAP_PID=$BG
  local i
  for i in $(seq 100); do grep -qs 'listening on' "$WORK/tcpdump-$CAP_NAME.log" && return 0; sleep 0.1; done
  die "tcpdump did not start: $(cat "$WORK/tcpdump-$CAP_NAME.log")"
}

# cap_stop: lets the last packets (dally, retransmits) in, stops tcpdump, writes OUT/NAME.EXT.
cap_stop() {
  sleep 1.5
  kill -INT "$CAP_PID"
  wait "$CAP_PID" 2>/dev/null || true
  local raw="$WORK/$CAP_NAME.raw" dest
  case "$CAP_FORMAT" in
    pcap | pcap-ns) dest="$OUT/$CAP_NAME.pcap"; cp "$raw" "$dest" ;;
    pcapng) dest="$OUT/$CAP_NAME.pcapng"; editcap -F pcapng "$raw" "$dest" ;;
    *) die "unknown format $CAP_FORMAT" ;;
  esac
  local n
  n=$(tcpdump -r "$dest" -n 2>/dev/null | wc -l)
  [ "$n" -gt 0 ] || die "$dest holds no packets"
  say "$(basename "$dest"): $n packets, $(stat -c %s "$dest") bytes"
}

same_file() { # same_file EXPECTED ACTUAL WHAT
  [ -f "$2" ] && [ "$(sha256sum <"$1")" = "$(sha256sum <"$2")" ] || die "$3: $2 differs from $1"
}

mkdir -p "$OUT" "$WORK/files" "$WORK/got"
node "$HERE/files.mjs" "$WORK/files"

# ------------------------------------------------------------------------------------------ DHCP

UDHCPC_SCRIPT=$WORK/udhcpc.sh
printf '#!/bin/sh\nexit 0\n' >"$UDHCPC_SCRIPT"
DHCLIENT_SCRIPT=$WORK/dhclient-script.sh
# Configures the lease so that `dhclient -r` can unicast its RELEASE from it.
cat >"$DHCLIENT_SCRIPT" <<'EOF'
#!/bin/sh
case "$reason" in
  BOUND|REBOOT|RENEW) ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface" 2>/dev/null ;;
  RELEASE|STOP|EXPIRE|FAIL) ip addr flush dev "$interface" ;;
esac
exit 0
EOF
chmod +x "$UDHCPC_SCRIPT" "$DHCLIENT_SCRIPT"
cat >"$WORK/dhclient.conf" <<'EOF'
option avaya-242 code 242 = text;
send vendor-class-identifier "ccp.avaya.com";
request subnet-mask, routers, tftp-server-name, bootfile-name, avaya-242;
timeout 20; retry 1; initial-interval 1;
EOF

udhcpc_dora() {
  in_cli timeout 30 busybox udhcpc -i cli0 -f -q -n -t 4 -T 1 -V ccp.avaya.com -O 242 -O 66 -O 67 -s "$UDHCPC_SCRIPT" >"$WORK/udhcpc.log" 2>&1 ||
    { cat "$WORK/udhcpc.log" >&2; die "udhcpc got no lease"; }
}

dhclient_dora_release() {
  local d=$WORK/dhclient
  rm -rf "$d" && mkdir -p "$d"
  in_cli timeout 40 dhclient -1 -v -cf "$WORK/dhclient.conf" -sf "$DHCLIENT_SCRIPT" -lf "$d/leases" -pf "$d/pid" cli0 >"$d/log" 2>&1 ||
    { cat "$d/log" >&2; die "dhclient got no lease"; }
  # -r releases the lease (a RELEASE to the server) and stops the dhclient left running in the background.
  in_cli timeout 20 dhclient -r -v -cf "$WORK/dhclient.conf" -sf "$DHCLIENT_SCRIPT" -lf "$d/leases" -pf "$d/pid" cli0 >>"$d/log" 2>&1 || true
  if [ -f "$d/pid" ]; then kill -KILL "$(cat "$d/pid")" 2>/dev/null || true; fi
  ip -n "$NS_C" addr flush dev cli0
}

# dhcp_captures SERVER FORMAT_UDHCPC FORMAT_DHCLIENT (the server is running)
dhcp_captures() {
  CAP_FORMAT=$2; cap_start "dhcp-udhcpc-$1"; udhcpc_dora; cap_stop
  CAP_FORMAT=$3; cap_start "dhcp-dhclient-$1"; dhclient_dora_release; cap_stop
}

AVAYA_242="MCIPADD=$NET.5,MCPORT=1719,HTTPSRVR=$SRV_IP"

say "DHCP: bootwire"
mkdir -p "$WORK/bootwire-dhcp"
cat >"$WORK/bootwire-dhcp/bootwire.json" <<EOF
{ "dhcp": { "listen": "0.0.0.0:67", "leases": "$WORK/bootwire-dhcp/leases.db",
  "subnets": [{ "subnet": "$NET.0/24", "pool": "$NET.100-$NET.199", "leaseSeconds": 3600,
                "options": { "router": "$SRV_IP", "66": "$SRV_IP" } }],
  "classes": [{ "match": { "vendorClass": "ccp.avaya.com" }, "options": { "242": "$AVAYA_242", "67": "46xxupgrade.scr" } }] } }
EOF
start_bg bootwire-dhcp node "$CLI" serve --config "$WORK/bootwire-dhcp/bootwire.json" --log-level info
SERVER=$BG
wait_udp 67 node "$WORK/bootwire-dhcp.log"
dhcp_captures bootwire pcap pcapng
stop_bg "$SERVER"

say "DHCP: dnsmasq"
cat >"$WORK/dnsmasq.conf" <<EOF
port=0
no-resolv
no-hosts
interface=srv0
bind-interfaces
dhcp-range=$NET.100,$NET.199,255.255.255.0,1h
dhcp-leasefile=$WORK/dnsmasq.leases
dhcp-authoritative
no-ping
dhcp-option=3,$SRV_IP
dhcp-option=66,"$SRV_IP"
dhcp-vendorclass=set:avaya,ccp.avaya.com
dhcp-option=tag:avaya,67,"46xxupgrade.scr"
dhcp-option=tag:avaya,242,"$AVAYA_242"
EOF
start_bg dnsmasq dnsmasq --keep-in-foreground --conf-file="$WORK/dnsmasq.conf" --pid-file= --user=root --group=root --log-facility=- --log-dhcp
SERVER=$BG
wait_udp 67 dnsmasq "$WORK/dnsmasq.log"
dhcp_captures dnsmasq pcap pcap
stop_bg "$SERVER"

say "DHCP: Kea"
mkdir -p "$WORK/kea"
KEA_242=$(printf '%s' "$AVAYA_242" | sed 's/,/\\\\,/g') # Kea reads a comma in string data as a separator unless escaped
cat >"$WORK/kea/kea-dhcp4.json" <<EOF
{ "Dhcp4": {
  "interfaces-config": { "interfaces": ["srv0"], "dhcp-socket-type": "raw" },
  "lease-database": { "type": "memfile", "persist": true, "name": "$WORK/kea/leases4.csv", "lfc-interval": 0 },
  "valid-lifetime": 3600,
  "option-def": [{ "name": "avaya-242", "code": 242, "type": "string", "space": "dhcp4" }],
  "client-classes": [{ "name": "avaya", "test": "option[60].text == 'ccp.avaya.com'",
    "option-data": [{ "name": "avaya-242", "data": "$KEA_242" },
                    { "name": "boot-file-name", "data": "46xxupgrade.scr" }] }],
  "subnet4": [{ "id": 1, "subnet": "$NET.0/24", "pools": [{ "pool": "$NET.100-$NET.199" }],
    "option-data": [{ "name": "routers", "data": "$SRV_IP" }, { "name": "tftp-server-name", "data": "$SRV_IP" }] }],
  "loggers": [{ "name": "kea-dhcp4", "output_options": [{ "output": "stdout" }], "severity": "INFO" }] } }
EOF
start_bg kea env KEA_PIDFILE_DIR="$WORK/kea" KEA_LOCKFILE_DIR="$WORK/kea" kea-dhcp4 -c "$WORK/kea/kea-dhcp4.json"
SERVER=$BG
wait_udp 67 kea-dhcp4 "$WORK/kea.log"
dhcp_captures kea pcapng pcap
stop_bg "$SERVER"

# ------------------------------------------------------------------------------------------ TFTP

ip -n "$NS_C" addr add "$CLI_IP/24" dev cli0

# tftp_captures SERVER FORMAT WRQ(no|put|put+refused) (the server is running, serving $ROOT)
tftp_captures() {
  local s=$1 g=$WORK/got/$1
  mkdir -p "$g"
  CAP_FORMAT=$2

  cap_start "tftp-curl-$s"
  in_cli timeout 30 curl -sS -m 20 --tftp-blksize 1468 "tftp://$SRV_IP/curl-100k.bin" -o "$g/curl-100k.bin"
  cap_stop
  same_file "$WORK/files/curl-100k.bin" "$g/curl-100k.bin" "curl from $s"

  cap_start "tftp-lockstep-$s"
  in_cli timeout 30 tftp "$SRV_IP" -m binary -c get lockstep-64k.bin "$g/lockstep-64k.bin"
  cap_stop
  same_file "$WORK/files/lockstep-64k.bin" "$g/lockstep-64k.bin" "tftp-hpa from $s"

  cap_start "tftp-window-$s"
  in_cli timeout 30 atftp --option "blksize 8192" --option "windowsize 16" --get -r window-300k.bin -l "$g/window-300k.bin" "$SRV_IP" 69 >/dev/null 2>&1
  cap_stop
  same_file "$WORK/files/window-300k.bin" "$g/window-300k.bin" "atftp from $s"

  cap_start "tftp-missing-$s"
  if in_cli timeout 30 curl -sS -m 10 "tftp://$SRV_IP/no-such-file.bin" -o "$g/missing" 2>/dev/null; then die "$s served a missing file"; fi
  cap_stop

  if [ "$3" != no ]; then
    cap_start "tftp-put-$s"
    in_cli timeout 30 tftp "$SRV_IP" -m binary -c put "$WORK/files/upload-80k.bin" upload-80k.bin
    if [ "$3" = put+refused ]; then
      # One the server must refuse: a name leaving its root. (tftpd-hpa -s takes ../escape.bin as
      # /escape.bin inside its chroot and stores it, so it is not asked.)
      in_cli timeout 30 tftp "$SRV_IP" -m binary -c put "$WORK/files/upload-80k.bin" ../escape.bin | grep -q '^Error code' ||
        die "$s accepted an upload to ../escape.bin"
    fi
    cap_stop
    same_file "$WORK/files/upload-80k.bin" "$ROOT/upload-80k.bin" "upload to $s"
  fi
}

fresh_root() {
  ROOT=$WORK/root-$1
  mkdir -p "$ROOT"
  cp "$WORK/files/curl-100k.bin" "$WORK/files/lockstep-64k.bin" "$WORK/files/window-300k.bin" "$ROOT/"
}

say "TFTP: bootwire"
fresh_root bootwire
start_bg bootwire-tftp node "$CLI" serve --root "$ROOT" --tftp "$SRV_IP:69" --allow-write --grace 0 --log-level info
SERVER=$BG
wait_udp 69 node "$WORK/bootwire-tftp.log"
tftp_captures bootwire pcapng put+refused
stop_bg "$SERVER"

say "TFTP: tftpd-hpa"
fresh_root tftpd-hpa
start_bg tftpd-hpa in.tftpd -L -a "$SRV_IP:69" -s -c -u root "$ROOT"
SERVER=$BG
wait_udp 69 in.tftpd "$WORK/tftpd-hpa.log"
tftp_captures tftpd-hpa pcap put
stop_bg "$SERVER"

say "TFTP: atftpd"
fresh_root atftpd
start_bg atftpd "$ATFTPD" --daemon --no-fork --port 69 --bind-address "$SRV_IP" --user root --group root --logfile - --verbose=5 "$ROOT"
SERVER=$BG
wait_udp 69 atftpd "$WORK/atftpd.log"
tftp_captures atftpd pcap-ns no
stop_bg "$SERVER"

say "done: $(du -ch "$OUT"/*.pcap "$OUT"/*.pcapng | tail -1 | cut -f1) in $OUT"
