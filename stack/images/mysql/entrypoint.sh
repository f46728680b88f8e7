#!/bin/sh
# First start on an empty data directory: initialise it, set the root password, run the
# init scripts (none by default: scripts/provision_databases.py creates the databases, users
# and grants afterwards). Then serve.
set -eu
: "${MYSQL_ROOT_PASSWORD:?MYSQL_ROOT_PASSWORD must be set}"
if [ ! -d /var/lib/mysql/mysql ]; then
  echo "entrypoint: initialising /var/lib/mysql ($(mysqld --version))"
  mysqld --initialize-insecure --user=mysql --datadir=/var/lib/mysql
  mysqld --user=mysql --skip-networking --socket=/run/mysqld/mysqld.sock &
  server=$!
  i=0
  until mysqladmin --socket=/run/mysqld/mysqld.sock -uroot ping --silent 2>/dev/null; do
    i=$((i + 1)); [ "$i" -lt 60 ] || { echo "entrypoint: server did not start" >&2; exit 1; }
    sleep 1
  done
  mysql --socket=/run/mysqld/mysqld.sock -uroot <<SQL
ALTER USER 'root'@'localhost' IDENTIFIED BY '${MYSQL_ROOT_PASSWORD}';
CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '${MYSQL_ROOT_PASSWORD}';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
SQL
  for script in /docker-entrypoint-initdb.d/*.sh; do
    [ -f "$script" ] || continue
    echo "entrypoint: running $script"
    sh "$script"
  done
  mysqladmin --socket=/run/mysqld/mysqld.sock -uroot -p"${MYSQL_ROOT_PASSWORD}" shutdown
  wait "$server" || true
fi
exec mysqld --user=mysql --bind-address=0.0.0.0 --port=3306
