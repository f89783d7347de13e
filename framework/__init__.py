"""kubeloop's runtime library: work queue, client, informers, controllers, manager.

It knows nothing of `api/` or `controllers/`; those are found through entry points.
"""
