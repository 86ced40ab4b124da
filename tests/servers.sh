#!/usr/bin/env bash
# Brings up the real servers that barge's server tests talk to:
#   PostgreSQL on 127.0.0.1:5432 (user postgres, no password: trust from loopback)
#   MariaDB    on 127.0.0.1:3306 (user root,     no password, local_infile=1)
# Debian only, runs as root, needs no input. Idempotent: when both are already
# installed and running it only checks them and returns within a second or so.
set -euo pipefail

WAIT=30   # seconds to wait for each server to answer

# fail SERVER WHAT [LOG]: say which server failed and how, show its log, exit 1.
fail() {
  echo "servers.sh: $1: $2" >&2
  if [[ -n "${3:-}" && -r "$3" ]]; then
    echo "--- last lines of $3 ---" >&2
    tail -n 30 "$3" >&2
  fi
  exit 1
}

# wait_for CMD...: retry CMD once a second for up to $WAIT seconds.
wait_for() {
  local i
  for ((i = 0; i < WAIT; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  return 1
}

# --- 1. packages ------------------------------------------------------------
missing=()
command -v pg_ctlcluster >/dev/null && dpkg -s postgresql >/dev/null 2>&1 || missing+=(postgresql)
command -v mariadbd >/dev/null || [[ -x /usr/sbin/mariadbd ]] || missing+=(mariadb-server)
if ((${#missing[@]})); then
  echo "installing ${missing[*]}..."
  apt-get update -qq
  # Docker's policy-rc.d (if any) stops the packages from starting the daemons;
  # we start them ourselves below either way.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- 2. PostgreSQL ----------------------------------------------------------
ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
if [[ -z "$ver" || ! -d "/etc/postgresql/$ver/main" ]]; then
  # Package present but no cluster (e.g. created with create_main_cluster=false).
  ver=${ver:-$(ls /usr/lib/postgresql | sort -V | tail -n 1)}
  pg_createcluster "$ver" main >/dev/null
fi
etc=/etc/postgresql/$ver/main
pglog=/var/log/postgresql/postgresql-$ver-main.log
changed=

# Trust loopback TCP for every user, ahead of the packaged scram-sha-256 rules.
if ! grep -q '^host all all 127.0.0.1/32 trust' "$etc/pg_hba.conf"; then
  awk '!done && /^host/ { print "host all all 127.0.0.1/32 trust"; print "host all all ::1/128 trust"; done=1 }
       { print } END { if (!done) { print "host all all 127.0.0.1/32 trust"; print "host all all ::1/128 trust" } }' \
    "$etc/pg_hba.conf" >"$etc/pg_hba.conf.new"
  chown --reference="$etc/pg_hba.conf" "$etc/pg_hba.conf.new"
  chmod --reference="$etc/pg_hba.conf" "$etc/pg_hba.conf.new"
  mv "$etc/pg_hba.conf.new" "$etc/pg_hba.conf"
  changed=1
fi

# Listen on localhost:5432 whatever port the cluster was created with.
conf="$etc/conf.d/99-barge.conf"
want=$'listen_addresses = \'localhost\'\nport = 5432'
if [[ "$(cat "$conf" 2>/dev/null)" != "$want" ]]; then
  mkdir -p "$etc/conf.d"
  printf '%s\n' "$want" >"$conf"
  changed=1
fi

status=$(pg_lsclusters -h "$ver" main | awk '{print $4}')
if [[ "$status" != online* ]]; then
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || fail postgresql "pg_ctlcluster start failed" "$pglog"
elif [[ -n "$changed" ]]; then
  pg_ctlcluster --skip-systemctl-redirect "$ver" main restart || fail postgresql "pg_ctlcluster restart failed" "$pglog"
fi
wait_for pg_isready -q -h 127.0.0.1 -p 5432 || fail postgresql "not accepting connections on 127.0.0.1:5432 after ${WAIT}s" "$pglog"

# --- 3. MariaDB -------------------------------------------------------------
mylog=/var/log/mysql/error.log
mkdir -p /run/mysqld /var/log/mysql
chown mysql:mysql /run/mysqld /var/log/mysql

# Loaded last: TCP on 127.0.0.1:3306 (overrides any skip-networking/bind-address
# met earlier), LOAD DATA LOCAL allowed, and a log file since we run detached.
cnf=/etc/mysql/mariadb.conf.d/99-barge.cnf
want=$'[mysqld]\nskip-networking = 0\nbind-address = 127.0.0.1\nport = 3306\nlocal_infile = 1\nlog_error = '"$mylog"
if [[ "$(cat "$cnf" 2>/dev/null)" != "$want" ]]; then
  printf '%s\n' "$want" >"$cnf"
  # A server started before this file existed must pick it up.
  if mariadb-admin ping >/dev/null 2>&1; then
    mariadb-admin shutdown || fail mariadb "could not stop it to apply $cnf" "$mylog"
  fi
fi

# Data directory not initialised (the package normally does it)?
[[ -d /var/lib/mysql/mysql ]] || mariadb-install-db --user=mysql >/dev/null || fail mariadb "mariadb-install-db failed" "$mylog"

if ! mariadb-admin ping >/dev/null 2>&1; then
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql \
    || fail mariadb "start-stop-daemon could not start mariadbd" "$mylog"
fi
wait_for mariadb-admin ping || fail mariadb "mariadb-admin ping failed after ${WAIT}s" "$mylog"

# root: no password over TCP, and still unix_socket for the local admin tools.
my_tcp() { mariadb -h 127.0.0.1 -P 3306 -u root "$@"; }
if ! my_tcp -e 'select 1' >/dev/null 2>&1; then
  mariadb <<'SQL' || fail mariadb "could not set up passwordless root" "$mylog"
ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;
CREATE USER IF NOT EXISTS root@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('');
CREATE USER IF NOT EXISTS root@'::1' IDENTIFIED VIA mysql_native_password USING PASSWORD('');
GRANT ALL PRIVILEGES ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO root@'::1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
fi

# --- 4. final check ---------------------------------------------------------
psql -X -q -h 127.0.0.1 -p 5432 -U postgres -c 'select 1' >/dev/null \
  || fail postgresql "psql -h 127.0.0.1 -U postgres 'select 1' failed" "$pglog"
echo "postgresql $ver ready on 127.0.0.1:5432"
myver=$(my_tcp -N -e 'select version()') \
  || fail mariadb "mariadb -h 127.0.0.1 -P 3306 -u root 'select 1' failed" "$mylog"
[[ "$(my_tcp -N -e 'select @@local_infile')" == 1 ]] || fail mariadb "local_infile is not enabled" "$mylog"
echo "mariadb ${myver%%-*} ready on 127.0.0.1:3306"
