"""What the tests share: the sandbox process, a local registry, hostile servers, fuzzing, the
Actions runner model. Imported as `support.<module>` (pytest puts tests/ on the path)."""
