"""Minimal models and CRDs of the foreign kinds kubeloop's controllers use.

Each kind keeps its real group, version and scope, declares only the fields our controllers
and simulators read or write, and keeps everything else (`x-kubernetes-preserve-unknown-fields`
on spec, status and their open parts), so objects written by the real systems are accepted
unchanged. None is in category `kubeloop`.
"""
