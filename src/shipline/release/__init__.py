"""The release domain: what to register (plan), the migration, the rollout, health checks,
the automatic and manual rollbacks, and the release history with its lock."""
