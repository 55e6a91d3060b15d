"""Exposure paths: how traffic enters and leaves the cluster (semantics.md section G, EXP-*).

``entries`` lists entry points and proxy routes, ``controllers`` finds the proxy pods,
``paths`` judges every hop with the engine's class-level verdicts, ``egress`` answers where a
zone can connect outside (EXP-16, EXP-17).
"""
