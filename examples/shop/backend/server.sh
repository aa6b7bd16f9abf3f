#!/bin/sh
. /app/shared/config.env
echo "shop backend ${APP_VERSION} listening on :8000 (db: ${DATABASE_URL})"
exec httpd -f -p 8000 -h /app/backend
