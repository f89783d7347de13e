"""API group controlplane.cluster.x-k8s.io: kubeloop's Cluster API control-plane provider."""
