"""The Bluewatch gateway daemon and its command line."""
