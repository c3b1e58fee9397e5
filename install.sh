#!/bin/sh
# Installs hero-relay: downloads the release binary for this machine and its release's
# SHA256SUMS, refuses the binary unless its checksum matches, and installs it to $PREFIX/bin.
#
#   curl -fsSL https://github.com/hero-relay/hero-relay/releases/latest/download/install.sh | sh
#
# Environment (all optional):
#   HERO_RELAY_VERSION   a release tag such as v0.1.0 (default: the latest release)
#   HERO_RELAY_BASE_URL  where the release's files are (default: that release on GitHub)
#   PREFIX               install to $PREFIX/bin (default /usr/local; use "$HOME/.local" without sudo)
set -eu

repo="hero-relay/hero-relay"
version="${HERO_RELAY_VERSION:-latest}"
prefix="${PREFIX:-/usr/local}"
if [ -n "${HERO_RELAY_BASE_URL:-}" ]; then
  base="${HERO_RELAY_BASE_URL%/}"
elif [ "$version" = latest ]; then
  base="https://github.com/$repo/releases/latest/download"
else
  base="https://github.com/$repo/releases/download/$version"
fi

fail() {
  printf 'install.sh: %s\n' "$*" >&2
  exit 1
}

case "$(uname -s)" in
  Linux) os=unknown-linux-gnu ;;
  Darwin) os=apple-darwin ;;
  *) fail "no hero-relay binary for $(uname -s) here; on Windows, download hero-relay-x86_64-pc-windows-msvc.exe and SHA256SUMS from the release page" ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch=x86_64 ;;
  aarch64 | arm64) arch=aarch64 ;;
  *) fail "no hero-relay binary for $(uname -m); the releases have x86_64 and aarch64" ;;
esac
asset="hero-relay-$arch-$os"

if command -v curl >/dev/null 2>&1; then
  download() { curl -fsSL --retry 3 -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
  download() { wget -q -O "$2" "$1"; }
else
  fail "needs curl or wget to download"
fi
if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum "$1" | cut -d ' ' -f 1; }
elif command -v shasum >/dev/null 2>&1; then
  sha256() { shasum -a 256 "$1" | cut -d ' ' -f 1; }
else
  fail "needs sha256sum or shasum to check the download"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

download "$base/SHA256SUMS" "$tmp/SHA256SUMS" || fail "cannot download $base/SHA256SUMS"
download "$base/$asset" "$tmp/$asset" || fail "cannot download $base/$asset"
expected=$(awk -v name="$asset" '$2 == name || $2 == "*" name { print $1 }' "$tmp/SHA256SUMS")
[ -n "$expected" ] || fail "SHA256SUMS lists no $asset; nothing installed"
actual=$(sha256 "$tmp/$asset")
[ "$actual" = "$expected" ] ||
  fail "checksum mismatch for $asset (expected $expected, got $actual): the download is damaged or not the release's; nothing installed"

chmod 755 "$tmp/$asset"
installed=$("$tmp/$asset" --version 2>&1) || fail "the downloaded $asset does not run on this machine: $installed"
mkdir -p "$prefix/bin" || fail "cannot create $prefix/bin (run with sudo, or set PREFIX=\$HOME/.local)"
# Copied beside the target, then renamed over it: a running relay keeps its old file.
cp "$tmp/$asset" "$prefix/bin/.hero-relay.new" 2>/dev/null ||
  fail "cannot write to $prefix/bin (run with sudo, or set PREFIX=\$HOME/.local)"
mv -f "$prefix/bin/.hero-relay.new" "$prefix/bin/hero-relay"

printf '%s installed to %s\n\n' "$installed" "$prefix/bin/hero-relay"
printf 'Next:\n'
printf '  hero-relay check --config config.json   # validate your config, see the routing table\n'
printf '  hero-relay serve --config config.json   # run the relay\n'
