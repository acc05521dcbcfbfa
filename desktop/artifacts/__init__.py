"""The artifact windows (#18): one exported bundle opened offline, the compilation matrix, and the
diff of two bundles. Every figure and sentence comes from engine.artifacts (docs/artifact-api.md);
everything read from a bundle is shown as plain text, never as rich text."""
