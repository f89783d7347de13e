"""Example controllers built on the kubeloop framework, registered as entry points."""
