"""The wire contract shared by server, pilot, client and monitor: models, paths, commands, error codes."""

PROTOCOL_VERSION = "1"
