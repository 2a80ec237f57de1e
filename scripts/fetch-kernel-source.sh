#!/usr/bin/env bash
# Downloads Debian's linux-source-7.3 from trixie-backports and unpacks it into the cache.
# The suite is added to a private apt configuration under the cache, on the mirror the
# machine's own sources use, so nothing from trixie can ever be installed onto this host.
set -euo pipefail
source "$(dirname "$0")/common.sh"

pkg=linux-source-7.3
src_root=$VMDEV_CACHE/src
if compgen -G "$src_root/linux-source-*/Makefile" >/dev/null; then
  say "kernel source: cached in $(echo "$src_root"/linux-source-*)"
  exit 0
fi

codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
# shellcheck disable=SC2016 # expanded by apt-get, not here
mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' |
         awk -v s="$codename" '$2 == s { print $1; exit }')
[ -n "$mirror" ] || die "no apt source for suite '$codename' to take the Debian mirror from"

apt_dir=$VMDEV_CACHE/apt-trixie
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$src_root"
cat >"$apt_dir/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie-backports main
SRC
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir" -o "APT::Architecture=amd64"
          -o "APT::Sandbox::User=$(id -un)")
timed "apt-get update (trixie-backports on $mirror, private lists)" \
  apt-get "${apt_opts[@]}" update -qq
deb_dir=$(mktemp -d)
trap 'rm -rf "$deb_dir"' EXIT
(cd "$deb_dir" && timed "apt-get download $pkg" apt-get "${apt_opts[@]}" download -qq "$pkg")
unpack() {
  dpkg-deb -x "$deb_dir"/*.deb "$deb_dir/root" &&
    tar -C "$src_root" -xaf "$deb_dir/root/usr/src/$pkg.tar.xz"
}
timed "unpack $pkg" unpack
say "kernel source: $(echo "$src_root"/linux-source-*)"
