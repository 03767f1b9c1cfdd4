"""Where readings leave the gateway: the line-protocol encoder and the InfluxDB writers."""
