"""The baseline of `bench.inbound_webhook`: a minimal Django webhook view that inserts one row."""
