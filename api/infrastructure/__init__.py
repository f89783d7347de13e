"""API group infrastructure.cluster.x-k8s.io: kubeloop's Cluster API infrastructure provider."""
