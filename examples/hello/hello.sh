echo "hello from slipway"
