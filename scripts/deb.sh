#!/usr/bin/env bash
# Builds the Debian package of the fairway binary with dpkg-deb:
#   /usr/bin/fairway, /etc/fairway/fairway.yaml (a conffile), the systemd
#   unit /lib/systemd/system/fairway.service, and maintainer scripts that
#   make the `fairway` system user. Files come from packaging/debian/.
#
#   scripts/deb.sh [--profile release|dev] [--no-build] [-o DIR]
#
# Prints the path of target/debian/fairway_<version>_<arch>.deb (or DIR/...).
# --profile dev packages the test build (what CI installs: no second,
# slow release build); release is the default.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

profile=release
build=1
out="$root/target/debian"
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="${2:?--profile needs release or dev}"; shift 2 ;;
    --no-build) build=0; shift ;;
    -o) out="${2:?-o needs a directory}"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "deb: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$profile" in
  release) dir=release ;;
  dev) dir=debug ;;
  *) echo "deb: --profile is release or dev, not '$profile'" >&2; exit 2 ;;
esac

if [ "$build" = 1 ]; then
  cargo build --locked --profile "$profile" -p fairway-bin --bin fairway >&2
fi
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
bin="$target_dir/$dir/fairway"
[ -x "$bin" ] || { echo "deb: $bin not built (drop --no-build)" >&2; exit 1; }

version="$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="fairway-bin"))')"
arch="$(dpkg --print-architecture)"
# The newest glibc symbol version the binary needs is the package's libc6 floor.
glibc="$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
pkg="$root/packaging/debian"
install -d "$stage/DEBIAN" "$stage/usr/bin" "$stage/etc/fairway" \
  "$stage/lib/systemd/system" "$stage/usr/share/doc/fairway"
install -m 0755 "$bin" "$stage/usr/bin/fairway"
strip --strip-unneeded "$stage/usr/bin/fairway"
install -m 0644 "$pkg/fairway.yaml" "$stage/etc/fairway/fairway.yaml"
install -m 0644 "$pkg/fairway.service" "$stage/lib/systemd/system/fairway.service"
install -m 0644 README.md "$stage/usr/share/doc/fairway/README.md"
install -m 0644 conf/fairway.yaml "$stage/usr/share/doc/fairway/fairway.yaml.example"
for s in postinst prerm postrm; do install -m 0755 "$pkg/$s" "$stage/DEBIAN/$s"; done
echo /etc/fairway/fairway.yaml > "$stage/DEBIAN/conffiles"
size="$(du -sk --exclude=DEBIAN "$stage" | cut -f1)"
cat > "$stage/DEBIAN/control" <<EOF
Package: fairway
Version: $version
Architecture: $arch
Maintainer: fairway developers <fairway@example.invalid>
Installed-Size: $size
Depends: libc6 (>= $glibc), libgcc-s1, passwd
Section: net
Priority: optional
Homepage: https://example.invalid/fairway
Description: programmable HTTP/TCP reverse proxy and load balancer
 fairway reads an HAProxy-style YAML configuration (ACLs, http-request
 rules, use_backend, health-checked backends, balance algorithms, stats,
 runtime API) and runs it on Cloudflare's Pingora. It also routes by
 measured latency. The service runs as the `fairway` user and binds
 port 80 through CAP_NET_BIND_SERVICE.
EOF

mkdir -p "$out"
deb="$out/fairway_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zgzip -z6 --build "$stage" "$deb" >&2
echo "$deb"
