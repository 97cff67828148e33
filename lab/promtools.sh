#!/usr/bin/env bash
# promtool and amtool for the unit tests (alert rules, their unit tests and
# the Alertmanager configuration are checked by the tools of the very
# Prometheus and Alertmanager that Debian installs on the monitoring host).
# Taken from Debian's packages, unpacked without installing them (no
# service is started here), cached by package version:
#   $FULEXO_CACHE/bin/promtool, $FULEXO_CACHE/bin/amtool (links to the versioned copies)
. "$(dirname "$0")/common.sh"

candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}'; }

bin="$FULEXO_CACHE/bin"
mkdir -p "$bin"
for spec in prometheus:promtool prometheus-alertmanager:amtool; do
  package=${spec%%:*} tool=${spec##*:}
  version=$(candidate "$package")
  if [[ -z $version || $version == "(none)" ]]; then
    apt-get update -qq >/dev/null || die "apt-get update failed: cannot find the $package package"
    version=$(candidate "$package")
  fi
  [[ -n $version && $version != "(none)" ]] || die "no $package package in this machine's apt sources"
  target="$bin/$tool-$version"
  if [[ -x $target ]]; then
    log "$tool $version: cached"
  else
    work=$(mktemp -d)
    # apt's sandbox user cannot write to mktemp's directory; root downloads it.
    (cd "$work" && apt-get download -qq -o APT::Sandbox::User=root "$package=$version" >/dev/null) \
      || { rm -rf "$work"; die "apt-get download $package=$version failed"; }
    dpkg -x "$work"/"${package}"_*.deb "$work/x" || { rm -rf "$work"; die "cannot unpack $package"; }
    install -m 0755 "$work/x/usr/bin/$tool" "$target.tmp" && mv "$target.tmp" "$target"
    rm -rf "$work"
    log "$tool $version: taken from Debian's $package package"
  fi
  ln -sfn "$target" "$bin/$tool"
done
