#!/usr/bin/env bash
# Makes sure this machine has PostgreSQL 15 server binaries and the pgvector extension.
# Idempotent: the built extension stays installed in PostgreSQL's own lib/share dirs, so
# a second run costs one `test -f`. Prints the bin dir on stdout, progress on stderr.
set -euo pipefail

PG_MAJOR=15
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
PG_LIB=/usr/lib/postgresql/$PG_MAJOR/lib
PG_SHARE=/usr/share/postgresql/$PG_MAJOR
CACHE=${FACTEUR_INFRA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/facteur-infra}
log() { printf '[ensure-postgres] %s\n' "$*" >&2; }

apt_updated=0
apt_update_once() {
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    apt_updated=1
  fi
}

if [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/postgres" ]; then
  apt_update_once
  log "installing postgresql-$PG_MAJOR"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$PG_MAJOR" >&2
fi

if [ ! -f "$PG_LIB/vector.so" ] || [ ! -f "$PG_SHARE/extension/vector.control" ]; then
  mkdir -p "$CACHE"
  if ! dpkg -s "postgresql-server-dev-$PG_MAJOR" >/dev/null 2>&1; then
    apt_update_once
    log "installing postgresql-server-dev-$PG_MAJOR"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-server-dev-$PG_MAJOR" >&2
  fi
  src_dir=$(find "$CACHE" -maxdepth 1 -type d -name 'pgvector-*' 2>/dev/null | sort | tail -n 1)
  if [ -z "$src_dir" ]; then
    # pgvector is not packaged for bookworm; trixie's source package builds against PG 15.
    apt_dir="$CACHE/apt"
    mkdir -p "$apt_dir/sources" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
    cat > "$apt_dir/sources/trixie-src.sources" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt_opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt_dir/sources"
              -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache")
    log "fetching the pgvector source package"
    apt-get "${apt_opts[@]}" update -qq >&2
    (cd "$CACHE" && apt-get "${apt_opts[@]}" source --download-only pgvector >&2)
    tarball=$(ls "$CACHE"/pgvector_*.orig.tar.* | sort | tail -n 1)
    tar -xf "$tarball" -C "$CACHE"
    src_dir=$(find "$CACHE" -maxdepth 1 -type d -name 'pgvector-*' | sort | tail -n 1)
  fi
  log "building pgvector in $src_dir"
  # with_llvm=no: Debian's pgxs would otherwise call clang-14 for bitcode, which is not installed.
  make -C "$src_dir" -s PG_CONFIG="$PG_BIN/pg_config" with_llvm=no >&2
  make -C "$src_dir" -s PG_CONFIG="$PG_BIN/pg_config" with_llvm=no install >&2
fi

echo "$PG_BIN"
