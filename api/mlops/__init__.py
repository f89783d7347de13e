"""API group mlops.kubeloop.dev: notebook validation."""
