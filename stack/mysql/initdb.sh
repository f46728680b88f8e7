#!/bin/sh
# Compose only: the MySQL image runs this once on an empty data directory. It fills the
# bootstrap template (the same one the native stack uses) from the container's environment,
# so no password is written in any file of the repository.
set -eu
sed -e "s|\${ORDER_DB_PASSWORD}|${ORDER_DB_PASSWORD}|g" \
    -e "s|\${INVENTORY_DB_PASSWORD}|${INVENTORY_DB_PASSWORD}|g" \
    -e "s|\${PAYMENT_DB_PASSWORD}|${PAYMENT_DB_PASSWORD}|g" \
    -e "s|\${QUERY_DB_PASSWORD}|${QUERY_DB_PASSWORD}|g" \
    -e "s|\${CDC_DB_PASSWORD}|${CDC_DB_PASSWORD}|g" \
    /bootstrap/bootstrap.sql.tmpl \
  | mysql --protocol=socket -uroot -p"${MYSQL_ROOT_PASSWORD}"
