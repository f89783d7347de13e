"""Simulator actors for the foreign systems the example controllers use (registered in the
entry-point group `kubeloop.simulators`); imported by the simulator only, never by the
controllers."""
