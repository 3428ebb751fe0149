"""Tests of dlspec/plugins/: discovery (use lines, --plugin, entry points) and the registration API."""
