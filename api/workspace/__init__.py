"""API group workspace.kubeloop.dev: AI inference and tuning workspaces."""
