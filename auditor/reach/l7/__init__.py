"""The Istio layer: mTLS admission and AuthorizationPolicy at the destination's proxy (CMP-5,
CMP-6), a third evaluation next to the two directions of ``Engine.run``.

Subjects are *destination* classes. Those without a proxy get no Istio enforcement (IST-1):
they share one signature whose verdict is ALLOW everywhere. The others are grouped into
signatures σ (attached policies, protocol and mTLS state of every port atom); inside σ the
source classes that every rule sees alike form peer groups, and the CUSTOM → DENY → ALLOW
walk (IST-11) runs once per σ on a (peer groups × port atoms × request atoms) grid, in
three-valued logic, keeping the deciding rule and whether the admitting rules required a
verified mTLS identity.

Request atoms are *local to σ*: the methods, paths and hosts the policies attached to σ
mention cut each attribute into classes no rule tells apart (``Dimension``); a request atom is
one class per attribute, plus atom 0, "a non-HTTP connection" evaluated with TCP semantics
(IST-25). Which atoms count on a port depends on its protocol (IST-4): TCP-declared ports see
every connection as TCP; HTTP-declared ports only see HTTP requests; undeclared ports are
auto-detected, so the client chooses and both kinds of flow exist.

Modules: ``compile`` (AuthorizationPolicy → request atoms and rule masks), ``mtls`` (proxies,
port protocols, PeerAuthentication modes), ``evaluate`` (the walk and its views), ``layer``
(``MeshLayer``, the three assembled).
"""

from __future__ import annotations

# ``auditor reach --http`` parses requests with it (cli.py and the command modules import it from here)
from auditor.reach.l7.compile import Request

__all__ = ["Request"]
