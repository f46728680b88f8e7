#!/bin/sh
# First start on an empty data directory: initialise it, set the root password, run the
# init scripts (compose mounts stack/mysql/initdb.sh: databases, users, grants). Then serve.
set -eu
: "${MYSQL_ROOT_PASSWORD:?MYSQL_ROOT_PASSWORD must be set}"
if [ ! -d /var/lib/mysql/mysql ]; then
  echo "entrypoint: initialising /var/lib/mysql"
  mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db > /dev/null
  mariadbd --user=mysql --skip-networking &
  server=$!
  i=0
  until mariadb-admin ping --silent 2>/dev/null; do
    i=$((i + 1)); [ "$i" -lt 60 ] || { echo "entrypoint: server did not start" >&2; exit 1; }
    sleep 1
  done
  mariadb -uroot <<SQL
ALTER USER 'root'@'localhost' IDENTIFIED BY '${MYSQL_ROOT_PASSWORD}';
CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '${MYSQL_ROOT_PASSWORD}';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
SQL
  for script in /docker-entrypoint-initdb.d/*.sh; do
    [ -f "$script" ] || continue
    echo "entrypoint: running $script"
    sh "$script"
  done
  mariadb-admin -uroot -p"${MYSQL_ROOT_PASSWORD}" shutdown
  wait "$server" || true
fi
# Debian's 50-server.cnf binds to 127.0.0.1: the service must be reachable from the network.
exec mariadbd --user=mysql --bind-address=0.0.0.0 --port=3306
