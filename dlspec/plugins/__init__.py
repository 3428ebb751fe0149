"""Plugins: finding them (discovery: `use`, --plugin, entry points), the @dlspec.layer/... decorators
(decorators), and turning Python classes and functions into registry entries (adapters, signatures)."""
