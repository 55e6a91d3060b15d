"""``MeshLayer``: the Istio layer assembled from its parts (compile, mTLS facts, evaluation)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from auditor.policy.istio import Condition, MeshPolicies, Source
from auditor.reach.classes import ClassTable
from auditor.reach.decision import Decision, Reason
from auditor.reach.endpoints import Inventory
from auditor.reach.engine import RuleTable
from auditor.reach.l7.compile import PolicyCompiler, SourceMask
from auditor.reach.l7.evaluate import Evaluation, SigmaDetail, SigmaInfo
from auditor.reach.l7.mtls import MeshFacts
from auditor.reach.matching import Matcher
from auditor.reach.ports import PortSpace
from auditor.snapshot import Snapshot


class MeshLayer(PolicyCompiler, MeshFacts, Evaluation):
    """Evaluates the Istio layer for all (destination class, source class) pairs."""

    def __init__(
        self,
        mesh: MeshPolicies,
        snapshot: Snapshot,
        inventory: Inventory,
        classes: ClassTable,
        matcher: Matcher,
        ports: PortSpace,
    ) -> None:
        self.mesh = mesh
        self.snapshot = snapshot
        self.inv = inventory
        self.c = classes
        self.m = matcher
        self.ports = ports
        self.A = len(ports)
        self.tcp = ports.protocol_mask("TCP")
        self.rules = RuleTable()
        r = self.rules
        self.NO_PROXY = r.add(Decision(Reason.NO_PROXY, "Allow", rule_ids=("IST-1",)))
        self.NOT_INTERCEPTED = r.add(Decision(Reason.NOT_INTERCEPTED, "Allow", rule_ids=("IST-3",)))
        self.NO_ALLOW = r.add(Decision(Reason.NO_ALLOW_POLICY, "Allow", rule_ids=("IST-11",)))
        self.NONE_MATCHED = r.add(Decision(Reason.NONE_MATCHED, "Deny", rule_ids=("IST-11", "IST-12")))
        self.NOT_HTTP = r.add(Decision(Reason.NOT_HTTP, "Deny", rule_ids=("IST-4",)))
        self.AMBIENT_L7 = r.add(Decision(Reason.AMBIENT_L7, "Deny", rule_ids=("IST-29",)))
        self.WAYPOINT = r.add(Decision(Reason.WAYPOINT, rule_ids=("IST-29",)))
        self.MTLS_UNKNOWN = r.add(Decision(Reason.MTLS_UNKNOWN, rule_ids=("IST-7", "IST-9")))
        self.UNREADABLE = r.add(Decision(Reason.UNREADABLE, rule_ids=("CMP-10",)))
        self._refused: dict[str, int] = {}
        self._compiled = [self._compile(i, pol) for i, pol in enumerate(mesh.authz)]
        self._source_cache: dict[Source, SourceMask] = {}
        self._cond_cache: dict[Condition, tuple[np.ndarray, np.ndarray]] = {}
        self._details: OrderedDict[int, SigmaDetail] = OrderedDict()
        self._class_basics()
        self.infos: list[SigmaInfo] = []
        self.result = self._run()
