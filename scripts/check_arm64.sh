#!/usr/bin/env bash
# The README's install on an emulated 64-bit Raspberry Pi, from nothing: an arm64 Debian bookworm root file
# system (Debian's debootstrap, run by qemu-user-static through binfmt_misc), `bash scripts/setup.sh` in a
# copy of this checkout there, then a short end-to-end check. Run it before resolving anything that
# touches the install or the dependencies; .ci/run runs it when FACECAM_CHECK_ARM64=1.
#
#   sudo bash scripts/check_arm64.sh           # --fast
#   sudo bash scripts/check_arm64.sh --fast    # setup.sh; enrol lin_manuel_miranda from his photo; `facecam
#                                              # run` on the 40 frames of the hamilton clip where he arrives;
#                                              # an alert names him (6 min on 2 cores; 14 with no cache)
#   sudo bash scripts/check_arm64.sh --full    # setup.sh; `facecam demo`, which converts the models under
#                                              # emulation (compared with the host's, byte for byte); enrol
#                                              # from the full-size photo; the whole clip (18 min)
#   sudo bash scripts/check_arm64.sh --armhf   # a 32-bit Pi (armhf, armv7l): setup.sh must stop at once,
#                                              # with its one-line refusal, exit status 1, in under 60 s
#   sudo bash scripts/check_arm64.sh --fast --armhf  # modes combine; --rebuild builds the systems anew
#
# Root is needed (debootstrap, chroot, mounts). Missing tools (debootstrap, qemu-user-static, binfmt-support)
# are installed with apt-get. The root file systems are built once and cached in $FACECAM_ARM64_CACHE
# (default /var/cache/facecam-arm64; ~1 GB with pip's wheel cache); each check runs in a throwaway overlay
# on top, so every run starts from the same fresh system. Mirror: the host's Debian mirror (its apt
# sources), else deb.debian.org; $DEBIAN_MIRROR overrides.
#
# What the emulated system sees: Debian bookworm arm64 with python3 (the README's "Python 3.11+ on
# Debian") and nothing else; a Raspberry Pi 4's CPU (qemu's cortex-a72), /proc/cpuinfo (qemu passes the
# host's through, and `import onnxruntime` segfaults on an x86 one) and device-tree model; the host's CA
# certificates (PIP_CERT, SSL_CERT_FILE); the checkout's tracked and untracked-but-not-ignored files
# (uncommitted edits included, .venv and build outputs not) at /srv/check/facecam, with ../shared (the
# data) bind-mounted read-only beside it, as on the host.
#
# --fast copies the models converted on the host (byte-identical; --full checks that) instead of
# converting them under emulation (minutes), enrols from the photo at half size and runs on frames 60-99
# of the clip, cut losslessly (FFV1) on the host: under emulation a YuNet detection takes seconds (MMOD's,
# where YuNet is missing, 30-50 s), and enrolment doubles the photo first. Where the host has .venv (bash scripts/setup.sh), the same enrolment
# and run also happen on x86 and the alerts must agree: same kind, person and frame, distances within
# 0.003.
#
# Each step prints its wall time; a failure prints the end of that step's log (kept in CACHE/logs) and
# one line `check_arm64: error: ...`, exit status 1 (2 for bad usage). Mounts are undone on every exit.
# $FACECAM_CHECK_ARM64_WAIT, if set, is a shell command run before each CPU-heavy step (e.g. to wait
# for a quiet machine); its time is not counted in the step's.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

usage="usage: check_arm64.sh [--fast] [--full] [--armhf] [--rebuild] (default --fast)"
modes=() rebuild=""
for arg in "$@"; do
  case "$arg" in
    --fast | --full | --armhf) modes+=("${arg#--}") ;;
    --rebuild) rebuild=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "check_arm64: error: unknown option $arg; $usage" >&2; exit 2 ;;
  esac
done
[ ${#modes[@]} -gt 0 ] || modes=(fast)

SUITE=bookworm
# The fast check's cut of the hamilton clip: frames 60-99, where lin_manuel_miranda's close-up begins (the
# detector runs on 8 of them; the whole clip is --full's)
CLIP_FROM=60 CLIP_TO=100
PERSON=lin_manuel_miranda
shared="${FACECAM_SHARED:-$(cd "$repo/.." && pwd)/shared}"
data="$shared/data/ageitgey+face_recognition"
cache="${FACECAM_ARM64_CACHE:-/var/cache/facecam-arm64}"
binfmt="${FACECAM_BINFMT_DIR:-/proc/sys/fs/binfmt_misc}"
logs="$cache/logs"
run="" hostpy=""
t_start=${EPOCHREALTIME/./}

# --- reporting -----------------------------------------------------------------------------------------

die() { echo "check_arm64: error: $*" >&2; exit 1; }
say() { echo "check_arm64: $*"; }
seconds_since() {  # START (microseconds): seconds since then, to a tenth
  local us=$(( ${EPOCHREALTIME/./} - $1 ))
  printf '%d.%d' $((us / 1000000)) $((us % 1000000 / 100000))
}

# step NAME COMMAND...: run COMMAND with its output in CACHE/logs (the path is left in $LAST_LOG); print
# its wall time, or on failure the end of the log and one line.
LAST_LOG="" n_step=0
step() {
  local name=$1 t rc=0
  shift
  n_step=$((n_step + 1))
  LAST_LOG="$logs/$(printf '%02d' "$n_step")-$(echo "$name" | tr -c 'A-Za-z0-9.\n-' _ | cut -c1-60).log"
  if [ -n "${FACECAM_CHECK_ARM64_WAIT:-}" ]; then sh -c "$FACECAM_CHECK_ARM64_WAIT"; fi
  t=${EPOCHREALTIME/./}
  # in the background, in a process group of its own, so that a signal to this script is handled now
  # (the trap ends the step's processes, then unmounts) rather than when the step is over
  set -m
  "$@" >"$LAST_LOG" 2>&1 </dev/null &
  step_pid=$! cur_step=$name
  set +m
  wait "$step_pid" || rc=$?
  step_pid="" cur_step=""
  if [ "$rc" != 0 ]; then
    tail -n 25 "$LAST_LOG" | sed 's/^/    | /' >&2
    die "$name failed (exit status $rc, after $(seconds_since "$t") s); log: $LAST_LOG"
  fi
  printf 'check_arm64: %-58s %7s s\n' "$name" "$(seconds_since "$t")"
}

# --- the host: root, tools, binfmt_misc ----------------------------------------------------------------

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot and mounts): run sudo bash scripts/check_arm64.sh ${*}"
[ -d "$data" ] || die "no test data at $data (set FACECAM_SHARED to the folder that holds data/)"

host_tools() {
  local missing="" p
  for p in debootstrap qemu-user-static binfmt-support; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    say "installing$missing (apt-get)"
    apt-get update -qq >/dev/null || die "apt-get update failed; install$missing by hand"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null \
      || die "apt-get install$missing failed"
  fi
}

# The guest's executables run through qemu-ARCH registered with binfmt_misc.
enable_binfmt() {
  local name="qemu-$1"
  if [ ! -e "$binfmt/register" ]; then mount -t binfmt_misc binfmt_misc "$binfmt" >/dev/null 2>&1 || true; fi
  if ! grep -qx enabled "$binfmt/$name" 2>/dev/null; then update-binfmts --enable "$name" >/dev/null 2>&1 || true; fi
  grep -qx enabled "$binfmt/$name" 2>/dev/null \
    || die "$name is not registered with binfmt_misc ($binfmt) and could not be (mount -t binfmt_misc;" \
           "update-binfmts --enable $name): a container needs --privileged, or the host must register it"
}

# The interpreter binfmt_misc runs for ARCH, as the guest must see it: nothing when it is opened at
# registration (flag F, Debian's default), else its path (then copied into the guest).
binfmt_interpreter() {
  if grep -q '^flags:.*F' "$binfmt/qemu-$1"; then return 0; fi
  sed -n 's/^interpreter //p' "$binfmt/qemu-$1"
}

# The host's Debian mirror (apt sources), else deb.debian.org.
mirror() {
  local m
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | sed -n 's/^URIs: *\(http[^ ]*\/debian\)\/\{0,1\} *$/\1/p' | head -n 1)
  [ -n "$m" ] || m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\(http[^ ]*\/debian\)\/\{0,1\} .*/\2/p' | head -n 1)
  echo "${m:-http://deb.debian.org/debian}"
}

# --- what the guest is shown ---------------------------------------------------------------------------

# A Raspberry Pi 4's /proc/cpuinfo: 64-bit (arm64) or 32-bit (armhf) kernel.
pi4_cpuinfo() {
  local i
  for i in 0 1 2 3; do
    if [ "$1" = arm64 ]; then
      printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n' "$i"
      printf 'CPU implementer\t: 0x41\nCPU architecture: 8\n'
    else
      printf 'processor\t: %d\nmodel name\t: ARMv7 Processor rev 3 (v7l)\nBogoMIPS\t: 108.00\n' "$i"
      printf 'Features\t: half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae evtstrm crc32 \n'
      printf 'CPU implementer\t: 0x41\nCPU architecture: 7\n'
    fi
    printf 'CPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
  done
  if [ "$1" = arm64 ]; then printf 'Hardware\t: BCM2835\n'; else printf 'Hardware\t: BCM2711\n'; fi
  printf 'Revision\t: c03114\nSerial\t\t: 10000000a3e5c7f1\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n'
}
PI_MODEL="Raspberry Pi 4 Model B Rev 1.4"

# --- the cached root file system -----------------------------------------------------------------------

# ensure_rootfs ARCH: $cache/ARCH/rootfs, a minimal bookworm with python3, built when missing or when its
# recipe (suite, mirror, packages) changed.
ensure_rootfs() {
  local arch=$1 dir="$cache/$1" recipe m qemu_cpu
  qemu_cpu=$(qemu_cpu "$arch")
  m=$(mirror)
  recipe="debootstrap --arch=$arch --variant=minbase --include=python3 $SUITE $m"
  if [ -z "$rebuild" ] && [ -f "$dir/recipe" ] && [ "$(cat "$dir/recipe")" = "$recipe" ]; then
    say "$arch rootfs: cached ($dir/rootfs; --rebuild makes it anew)"
    return 0
  fi
  say "$arch rootfs: building ($recipe)"
  safe_remove "$dir.new"
  mkdir -p "$dir.new"
  BUILDING="$dir.new/rootfs"
  step "$arch rootfs: debootstrap, first stage (download, unpack)" \
    debootstrap --foreign --arch="$arch" --variant=minbase --include=python3 "$SUITE" "$dir.new/rootfs" "$m"
  local interp
  interp=$(binfmt_interpreter "$(qemu_arch "$arch")")
  if [ -n "$interp" ]; then install -D "$(readlink -f "$interp")" "$dir.new/rootfs$interp"; fi
  step "$arch rootfs: debootstrap, second stage (emulated)" \
    env ${qemu_cpu:+QEMU_CPU=$qemu_cpu} chroot "$dir.new/rootfs" /debootstrap/debootstrap --second-stage
  unmount_under "$dir.new/rootfs"
  local host_m=${m%/debian}
  cat >"$dir.new/rootfs/etc/apt/sources.list" <<EOF
deb $m $SUITE main
deb $m $SUITE-updates main
deb $host_m/debian-security $SUITE-security main
EOF
  echo facecam-pi >"$dir.new/rootfs/etc/hostname"
  rm -f "$dir.new/rootfs/var/cache/apt/archives/"*.deb
  if [ -n "$interp" ]; then rm -f "$dir.new/rootfs$interp"; fi
  echo "$recipe" >"$dir.new/recipe"
  BUILDING=""
  safe_remove "$dir"
  mv "$dir.new" "$dir"
}

qemu_arch() { case "$1" in arm64) echo aarch64 ;; armhf) echo arm ;; esac; }
# The CPU qemu emulates for ARCH ($QEMU_CPU in the guest): for arm64 a Pi 4's Cortex-A72. qemu's default
# ("max") has SVE, which glibc's string functions and onnxruntime then use and qemu emulates ~10x slower
# than NEON (setup.sh took twice as long, a face detection ten times).
qemu_cpu() { case "$1" in arm64) echo cortex-a72 ;; esac; }

# --- a run: an overlay on the cached system, the checkout copied in, the data bound read-only ----------

# mount_guest ARCH: $run/root, a fresh writable view of the cached ARCH system, ready to chroot into.
mount_guest() {
  local arch=$1 interp
  guest_cpu=$(qemu_cpu "$arch")
  run=$(mktemp -d "$cache/run-$arch-XXXXXX")
  root="$run/root"
  mkdir -p "$run/upper" "$run/work" "$root"
  mount -t overlay overlay -o "lowerdir=$cache/$arch/rootfs,upperdir=$run/upper,workdir=$run/work" "$root"
  mount --make-private "$root"
  mount -t proc proc "$root/proc"
  pi4_cpuinfo "$arch" >"$run/cpuinfo"
  mount --bind "$run/cpuinfo" "$root/proc/cpuinfo"
  mount -t sysfs sysfs "$root/sys"
  mount -t tmpfs -o size=1m tmpfs "$root/sys/firmware"
  mkdir -p "$root/sys/firmware/devicetree/base"
  printf '%s\0' "$PI_MODEL" >"$root/sys/firmware/devicetree/base/model"
  mount --rbind /dev "$root/dev"
  mount --make-rslave "$root/dev"
  cp -L /etc/resolv.conf "$root/etc/resolv.conf"
  cp -L "${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" "$root/etc/facecam-check-ca.crt" 2>/dev/null \
    || cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/facecam-check-ca.crt"
  interp=$(binfmt_interpreter "$(qemu_arch "$arch")")
  if [ -n "$interp" ]; then install -D "$(readlink -f "$interp")" "$root$interp"; fi
  mkdir -p "$cache/pip-$arch" "$root/root/.cache/pip" "$root/srv/check/facecam" "$root/srv/check/shared"
  mount --bind "$cache/pip-$arch" "$root/root/.cache/pip"
  mount --bind "$shared" "$root/srv/check/shared"
  mount -o remount,bind,ro "$root/srv/check/shared"
  # the checkout as a clone would have it (tracked and untracked files git does not ignore), with any
  # uncommitted edits; never .venv, build outputs or caches
  git -C "$repo" ls-files -z -co --exclude-standard \
    | (cd "$repo" && while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done) \
    | tar -C "$repo" --null -T - -cf - | tar -C "$root/srv/check/facecam" -xf -
}

# guest COMMAND: bash -c COMMAND in the guest, in the checkout, as root with a clean environment.
guest() {
  local env=(HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TERM=dumb
             PIP_CERT=/etc/facecam-check-ca.crt SSL_CERT_FILE=/etc/facecam-check-ca.crt
             REQUESTS_CA_BUNDLE=/etc/facecam-check-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180)
  local v
  for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY PIP_INDEX_URL; do
    if [ -n "${!v:-}" ]; then env+=("$v=${!v}"); fi
  done
  if [ -n "$guest_cpu" ]; then env+=("QEMU_CPU=$guest_cpu"); fi
  if [ -n "${GUEST_MODELS:-}" ]; then env+=("FACECAM_MODEL_DIR=$GUEST_MODELS"); fi
  chroot "$root" /usr/bin/env -i "${env[@]}" /bin/bash -c "cd /srv/check/facecam && $1"
}

# unmount_under DIR: every mount at or below DIR, deepest first (lazily if busy).
unmount_under() {
  local m p
  for p in /proc/[0-9]*; do  # processes chrooted there (the guest's, run by qemu) first
    case "$(readlink "$p/root" 2>/dev/null)" in "$1" | "$1"/*) kill -KILL "${p#/proc/}" 2>/dev/null ;; esac
  done
  mounts_under "$1" | sort -r | while IFS= read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}
mounts_under() { findmnt -rn -o TARGET | awk -v d="$1" '$0 == d || index($0, d "/") == 1'; }

# safe_remove DIR: rm -rf DIR, but never while anything is still mounted below it.
safe_remove() {
  [ -e "$1" ] || return 0
  unmount_under "$1"
  if [ -n "$(mounts_under "$1")" ]; then
    echo "check_arm64: warning: $1 still has mounts; left in place" >&2
    return 0
  fi
  rm -rf "$1"
}

BUILDING="" root="" guest_cpu="" step_pid="" cur_step=""
cleanup() {
  local rc=$?
  set +e
  if [ -n "$step_pid" ]; then kill -TERM -- "-$step_pid" 2>/dev/null; wait "$step_pid" 2>/dev/null; fi
  if [ -n "$run" ]; then safe_remove "$run"; fi
  if [ -n "$BUILDING" ]; then safe_remove "$(dirname "$BUILDING")"; fi
  exit "$rc"
}
interrupted() {
  echo "check_arm64: error: stopped by SIG$1${cur_step:+ during \"$cur_step\"}; the mounts are undone" >&2
  exit "$2"
}
trap cleanup EXIT
trap 'interrupted INT 130' INT
trap 'interrupted TERM 143' TERM

# --- the checks ----------------------------------------------------------------------------------------

# The checks' inputs: prep.py PHOTO PHOTO_OUT CLIP CLIP_OUT FROM TO writes PHOTO at half size (unless
# PHOTO is -) and frames FROM to TO-1 of CLIP (TO 0: to its end) losslessly (FFV1), so that a run on
# CLIP_OUT sees the frames this OpenCV decoded. --fast halves the enrolment photo because enrolment
# doubles a photo before detecting (704x612 becomes 1408x1224: seven frames' worth of detection).
read -r -d '' PREP_PY <<'PY' || true
import sys

import cv2

photo, photo_out, src, out, start, stop = *sys.argv[1:5], int(sys.argv[5]), int(sys.argv[6])
if photo != "-":
    image = cv2.imread(photo)
    half = None if image is None else cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    if half is None or not cv2.imwrite(photo_out, half):
        sys.exit(f"cannot halve {photo} into {photo_out}")
    print(f"{photo_out}: {photo} at half size")
cap = cv2.VideoCapture(src)
size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
writer = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*"FFV1"), cap.get(cv2.CAP_PROP_FPS), size)
if not writer.isOpened():
    sys.exit(f"cannot write {out} (FFV1)")
i = 0
while stop == 0 or i < stop:
    ok, frame = cap.read()
    if not ok:
        if stop:
            sys.exit(f"{src} ends at frame {i}")
        break
    if i >= start:
        writer.write(frame)
    i += 1
writer.release()
print(f"{out}: frames {start} to {i - 1} of {src}, decoded by OpenCV {cv2.__version__}, lossless")
PY

# compare.py X86 ARM64 TOLERANCE: the alerts of the x86 and the arm64 run have the same kind, person and
# frame, in order, and distances within TOLERANCE (report: only print them).
read -r -d '' COMPARE_PY <<'PY' || true
import json
import sys


def alerts(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def key(a):
    return a["kind"], a["person"], a["extra"].get("frame")


x86, arm, tolerance = alerts(sys.argv[1]), alerts(sys.argv[2]), sys.argv[3]
worst = 0.0
for a, b in zip(x86, arm):
    d = abs(a["distance"] - b["distance"])
    worst = max(worst, d)
    kind, person, frame = key(a)
    print(f"{kind:<10} {person:<20} frame {frame!s:>4}  x86 {a['distance']:.4f}  arm64 {b['distance']:.4f}  diff {d:.4f}")
same = [key(a) for a in x86] == [key(b) for b in arm]
if tolerance == "report":  # for information only
    print(f"{'the same' if same else 'different'} alerts; distances differ by up to {worst:.4f}")
elif not same:
    sys.exit(f"the alerts differ: x86 {[key(a) for a in x86]}, arm64 {[key(b) for b in arm]}")
elif worst > float(tolerance):
    sys.exit(f"distances differ by up to {worst:.4f} (allowed {tolerance})")
else:
    print(f"{len(arm)} alerts agree; distances within {worst:.4f}")
PY

# A Python on the host with this checkout and OpenCV (for the models, the cut and the x86 run), or nothing.
find_host_python() {
  if [ -x "$repo/.venv/bin/python" ] && (cd "$repo" && .venv/bin/python -c "import cv2, camera, models.convert") \
       >/dev/null 2>&1; then
    echo "$repo/.venv/bin/python"
  fi
}

host_models() { (cd "$repo" && "$hostpy" -m models.convert --out "$cache/host-models"); }

# x86 enrolment from PHOTO and run on SOURCE, alerts to OUT (on the host, the guest's commands).
x86_run() {
  local photo=$1 source=$2 out=$3 dir
  dir=$(mktemp -d "$run/x86-XXXXXX")
  (cd "$dir" && export FACECAM_MODEL_DIR="$cache/host-models" \
   && "$repo/.venv/bin/facecam" enroll --data-dir "$dir/data" "$PERSON" "$photo" \
   && "$repo/.venv/bin/facecam" run --data-dir "$dir/data" --source "$source" --jsonl "$out")
}

check_named() {  # FILE: an alert names PERSON
  grep -q "\"person\": \"$PERSON\"" "$1" || { cat "$1"; echo "no alert names $PERSON"; return 1; }
  grep "\"person\": \"$PERSON\"" "$1"
}

check_arm64() {
  local mode=$1 t0=${EPOCHREALTIME/./} gdata=/srv/check/shared/data/ageitgey+face_recognition
  say "== arm64 --$mode =="
  enable_binfmt aarch64
  ensure_rootfs arm64
  mount_guest arm64
  say "guest: $(guest 'uname -m; . /etc/os-release; echo $PRETTY_NAME; python3 -V' 2>&1 | paste -sd ' ')," \
      "$(grep -c ^processor "$root/proc/cpuinfo") x Cortex-A72 ($PI_MODEL)"
  step "setup: bash scripts/setup.sh (emulated pip)" guest "bash scripts/setup.sh"
  step "setup: import onnxruntime, cv2, numpy (emulated)" guest ".venv/bin/python -c 'import platform, onnxruntime, \
cv2, numpy; print(platform.machine(), onnxruntime.__version__, cv2.__version__, numpy.__version__)'"
  sed 's/^/    /' "$LAST_LOG"
  hostpy=$(find_host_python)
  GUEST_MODELS=/root/facecam-models
  if [ "$mode" = fast ] && [ -n "$hostpy" ]; then
    step "models: converted on the host, copied in" host_models
    mkdir -p "$root$GUEST_MODELS"
    cp "$cache/host-models/"* "$root$GUEST_MODELS/"
  elif [ "$mode" = fast ]; then
    say "models: no host .venv (bash scripts/setup.sh) to convert them: converting under emulation (slow)"
  fi
  if [ "$mode" = full ]; then
    step "demo: facecam demo (converts the models, emulated)" guest ".venv/bin/facecam demo >/root/demo.jsonl"
    grep -q '"person": "eileen_collins"' "$root/root/demo.jsonl" || die "facecam demo named no eileen_collins"
    if [ -n "$hostpy" ]; then
      step "models: converted on the host too" host_models
      step "models: arm64 conversion byte-identical to the host's" \
        cmp_models "$cache/host-models" "$root$GUEST_MODELS"
    fi
  fi
  # YuNet, the default detector wherever its file is: setup.sh's download needs internet, so here it comes
  # the way a machine without internet gets it, a copy installed with `fetch_models.py --from` (sha256
  # checked); the x86 run gets the same file
  local yunet=models/yunet/face_detection_yunet_2026may.onnx
  if [ -f "$shared/$yunet" ]; then
    step "models: YuNet from ../shared/$yunet (fetch_models.py --from, emulated)" guest \
      ".venv/bin/python scripts/fetch_models.py yunet_2026may --from /srv/check/shared/$yunet"
    [ -z "$hostpy" ] || (cd "$repo" && "$hostpy" scripts/fetch_models.py yunet_2026may --from "$shared/$yunet" \
      --out "$cache/host-models" >/dev/null 2>&1) || die "cannot install $shared/$yunet for the x86 run"
  else
    say "models: no ../shared/$yunet: the runs detect with MMOD"
  fi
  # the photo and the clip, as the guest sees them, and as the host does
  local photo=../shared/data/ageitgey+face_recognition/identities/$PERSON/lin-manuel-miranda.png
  local host_photo="$data/identities/$PERSON/lin-manuel-miranda.png" clip="$gdata/video/short_hamilton_clip.mp4"
  local host_clip="$data/video/short_hamilton_clip.mp4" what="photo at half size, frames $CLIP_FROM-$((CLIP_TO - 1))"
  if [ "$mode" = fast ]; then
    if [ -n "$hostpy" ]; then
      step "inputs: $what (on the host)" "$hostpy" -c "$PREP_PY" "$host_photo" "$root/root/photo.png" \
        "$host_clip" "$root/root/clip.mkv" "$CLIP_FROM" "$CLIP_TO"
    else
      printf '%s\n' "$PREP_PY" >"$root/root/prep.py"
      step "inputs: $what (emulated)" guest \
        ".venv/bin/python /root/prep.py $photo /root/photo.png $clip /root/clip.mkv $CLIP_FROM $CLIP_TO"
    fi
    photo=/root/photo.png clip=/root/clip.mkv host_photo="$root/root/photo.png" host_clip="$root/root/clip.mkv"
  fi
  step "enrol: facecam enroll $PERSON $(basename "$photo") (emulated)" guest \
    ".venv/bin/facecam enroll --data-dir /root/fc $PERSON $photo"
  step "run: facecam run on $(basename "$clip") (emulated)" guest \
    ".venv/bin/facecam run --data-dir /root/fc --source $clip --jsonl /root/alerts.jsonl"
  grep -h "INFO camera: " "$LAST_LOG" | sed 's/^.*INFO camera: /    /' || true
  step "alert: names $PERSON" check_named "$root/root/alerts.jsonl"
  sed 's/^/    /' "$LAST_LOG"
  if [ -n "$hostpy" ]; then
    if [ "$mode" = full ]; then
      # the two OpenCV builds turn the mp4's YUV into BGR differently (by 1-2 levels in most pixels), which
      # moves distances by ~0.003; so x86 runs on the frames as arm64 decoded them
      printf '%s\n' "$PREP_PY" >"$root/root/prep.py"
      step "x86 input: the clip as arm64 decodes it (emulated)" guest \
        ".venv/bin/python /root/prep.py - - $clip /root/decoded.mkv 0 0"
      host_clip="$root/root/decoded.mkv"
    fi
    step "x86: the same enrolment and run on the host" x86_run "$host_photo" "$host_clip" "$run/x86-alerts.jsonl"
    step "compare: x86 and arm64 alerts (distances within 0.003)" \
      "$hostpy" -c "$COMPARE_PY" "$run/x86-alerts.jsonl" "$root/root/alerts.jsonl" 0.003
    sed 's/^/  /' "$LAST_LOG"
    if [ "$mode" = full ]; then
      step "x86 on its own decoding of the mp4 (for information)" x86_run "$host_photo" \
        "$data/video/short_hamilton_clip.mp4" "$run/x86-own-alerts.jsonl"
      "$hostpy" -c "$COMPARE_PY" "$run/x86-own-alerts.jsonl" "$root/root/alerts.jsonl" report | sed 's/^/  /'
    fi
  else
    say "x86 comparison skipped: no host .venv (bash scripts/setup.sh)"
  fi
  safe_remove "$run"
  run=""
  say "arm64 --$mode: ok in $(seconds_since "$t0") s"
}

cmp_models() {  # HOST_DIR GUEST_DIR: the same converted files, byte for byte
  local f
  for f in dlib_mmod.onnx dlib_resnet_v1.onnx dlib_sp5.npz; do
    cmp "$1/$f" "$2/$f" || return 1
    sha256sum "$2/$f"
  done
}

check_armhf() {
  local t0=${EPOCHREALTIME/./} t out rc=0 lines
  say "== armhf (32-bit Raspberry Pi OS-like, armv7l) =="
  enable_binfmt arm
  ensure_rootfs armhf
  mount_guest armhf
  say "guest: $(guest 'uname -m; dpkg --print-architecture; getconf LONG_BIT' 2>&1 | paste -sd ' ')"
  if [ -n "${FACECAM_CHECK_ARM64_WAIT:-}" ]; then sh -c "$FACECAM_CHECK_ARM64_WAIT"; fi
  t=${EPOCHREALTIME/./}
  guest "timeout 120 bash scripts/setup.sh >/root/setup.out 2>/root/setup.err" || rc=$?
  local took
  took=$(seconds_since "$t")
  cp "$root/root/setup.out" "$logs/armhf setup.out"
  cp "$root/root/setup.err" "$logs/armhf setup.err"
  printf 'check_arm64: %-58s %7s s\n' "setup: bash scripts/setup.sh (must refuse)" "$took"
  sed 's/^/    /' "$root/root/setup.err"
  lines=$(wc -l <"$root/root/setup.err")
  local want="setup: error: $PI_MODEL: this is a 32-bit system (kernel armv7l, userland armhf,"
  want="$want getconf LONG_BIT 32, python3 is 32-bit) and facecam needs a 64-bit one:"
  [ "$rc" = 1 ] || die "armhf: setup.sh exited with status $rc, not 1"
  [ "$lines" = 1 ] && [ ! -s "$root/root/setup.out" ] || die "armhf: setup.sh said more than one line"
  case "$(cat "$root/root/setup.err")" in
    "$want"*"install Raspberry Pi OS (64-bit) or Debian arm64 and run this again") ;;
    *) die "armhf: setup.sh's line is not the 32-bit refusal" ;;
  esac
  [ ! -e "$root/srv/check/facecam/.venv" ] || die "armhf: setup.sh made .venv before refusing"
  [ "$(( ${EPOCHREALTIME/./} - t ))" -lt 60000000 ] || die "armhf: the refusal took $took s (60 s allowed)"
  safe_remove "$run"
  run=""
  say "armhf: ok in $(seconds_since "$t0") s (refused in $took s, exit status 1, one line)"
}

mkdir -p "$cache"
exec 9>"$cache/lock"
flock -n 9 || die "another check_arm64.sh is running (it holds $cache/lock)"
rm -rf "$logs" && mkdir -p "$logs"
host_tools
for mode in "${modes[@]}"; do
  case "$mode" in
    fast | full) check_arm64 "$mode" ;;
    armhf) check_armhf ;;
  esac
done
say "all ok (${modes[*]}) in $(seconds_since "$t_start") s"
