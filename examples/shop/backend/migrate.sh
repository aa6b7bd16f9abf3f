#!/bin/sh
for f in /app/migrations/*.sql; do echo "applying $f"; done
