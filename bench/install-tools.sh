#!/bin/sh
# Optional tools for `npm run bench` (Debian/Ubuntu): h2load from nghttp2-client, a C HTTP/2 load
# generator used for a client-independent throughput ceiling. etcd (Debian `etcd-server`) is the
# comparison server; MinIO (scenario single-s3) is go-installed by .ci/run. The bench runs without
# h2load and says so.
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends nghttp2-client etcd-server
h2load --version | head -1
