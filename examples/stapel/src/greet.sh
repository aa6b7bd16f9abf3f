#!/bin/sh
# The "service": greets with the configured greeting.
. /etc/greet.conf
echo "$greeting from $(cat /usr/share/greet/built-by)"
