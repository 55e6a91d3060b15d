"""PeerAuthentication and the proxy at a destination: which pods have a sidecar or ztunnel
(IST-1, IST-2), how each port is intercepted and which protocol the proxy expects (IST-3,
IST-4), and the effective mTLS mode and client identity state per port (IST-6..IST-9)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from auditor.policy.istio import PeerAuthn, port_protocol
from auditor.reach.endpoints import Endpoint
from auditor.reach.l7.compile import StringIndex

# Protocol of a destination port atom at the proxy (IST-3, IST-4).
BYPASS, P_TCP, P_HTTP, P_AUTO, P_CONFLICT = range(5)
PROTOCOL_WORDS = {BYPASS: "not intercepted", P_TCP: "TCP", P_HTTP: "HTTP", P_AUTO: "auto-detected",
                  P_CONFLICT: "conflicting declarations"}
# Whether the peer presents a verified identity at a (destination, port) (IST-9, IST-26).
ABSENT, PRESENT, ID_UNKNOWN, REFUSED = range(4)
# Effective PeerAuthentication mode (IST-6).
M_STRICT, M_PERMISSIVE, M_DISABLE, M_UNKNOWN = range(4)
MODE_WORDS = {M_STRICT: "STRICT", M_PERMISSIVE: "PERMISSIVE", M_DISABLE: "DISABLE", M_UNKNOWN: "unknown"}
_MODE_CODE = {"STRICT": M_STRICT, "PERMISSIVE": M_PERMISSIVE, "DISABLE": M_DISABLE}
# Kind of destination.
K_NONE, K_SIDECAR, K_AMBIENT = range(3)
KIND_WORDS = {K_NONE: "no proxy", K_SIDECAR: "sidecar", K_AMBIENT: "ambient (ztunnel)"}


class MeshFacts:
    """Per destination class: proxy kind, principal, port protocols and mTLS modes (part of ``MeshLayer``)."""

    # -- per-class facts --------------------------------------------------------------------------
    def _class_basics(self) -> None:
        c = self.c
        td = self.mesh.trust_domain
        self.mesh_code = np.where(c.mesh_uncertain, 2, np.where(c.sidecar | c.ambient, 1, 0)).astype(np.int8)
        self.mesh_code[~c.is_pod] = 0
        self.principal: list[str | None] = []
        self.sa_key: list[str | None] = []
        for k in range(c.n):
            rep = c.representative[k]
            if rep.kind == "pod":
                ns, sa = rep.namespace or "default", rep.service_account or "default"
                self.principal.append(f"{td}/ns/{ns}/sa/{sa}")
                self.sa_key.append(f"{ns}/{sa}")
            else:
                self.principal.append(None)
                self.sa_key.append(None)
        self._strings: dict[str, tuple[np.ndarray, list[str | None], StringIndex]] = {}

    def _services(self) -> dict[str, list[tuple[Mapping[str, str], list[Mapping]]]]:
        out: dict[str, list[tuple[Mapping[str, str], list[Mapping]]]] = {}
        for res in self.snapshot.of_kind("Service"):
            spec = res.body.get("spec") or {}
            sel = spec.get("selector") or {}
            if sel:
                out.setdefault(res.namespace or "default", []).append((sel, list(spec.get("ports") or [])))
        return out

    def _protocols(self, rep: Endpoint, services: dict) -> np.ndarray:
        """(A,) protocol per port atom (IST-3, IST-4)."""
        proto = np.where(self.tcp, P_AUTO, BYPASS).astype(np.int8)
        declared: dict[int, set[str | None]] = {}
        for sel, ports in services.get(rep.namespace or "default", []):
            if not all(rep.labels.get(k) == v for k, v in sel.items()):
                continue
            for port in ports:
                if str(port.get("protocol") or "TCP").upper() != "TCP":
                    continue
                target = port.get("targetPort", port.get("port"))
                number = None
                if isinstance(target, int):
                    number = target
                elif isinstance(target, str) and target.isdigit():
                    number = int(target)
                elif isinstance(target, str):
                    number = next((num for name, p, num in rep.named_ports if name == target and p == "TCP"), None)
                if number is not None:
                    declared.setdefault(number, set()).add(port_protocol(port))
        for number, kinds in declared.items():
            atom = self.ports.index_of("TCP", number)
            if atom is None:
                continue
            if len(kinds) > 1:
                proto[atom] = P_CONFLICT
            else:
                kind = next(iter(kinds))
                proto[atom] = P_HTTP if kind == "http" else P_TCP if kind == "tcp" else P_AUTO
        if rep.mesh.sidecar:
            for number in rep.mesh.excluded_inbound:
                atom = self.ports.index_of("TCP", number)
                if atom is not None:
                    proto[atom] = BYPASS
            if rep.mesh.included_inbound is not None:
                keep = np.zeros(self.A, dtype=bool)
                for number in rep.mesh.included_inbound:
                    atom = self.ports.index_of("TCP", number)
                    if atom is not None:
                        keep[atom] = True
                proto[self.tcp & ~keep] = BYPASS
        return proto

    def _pick(self, candidates: list[PeerAuthn]) -> tuple[PeerAuthn | None, bool]:
        """IST-7: the oldest policy of a level wins; (policy, certain)."""
        if not candidates:
            return None, True
        if any(p.broken for p in candidates):
            return None, False
        ordered = sorted(candidates, key=lambda p: (p.created or "~", p.name))
        first = ordered[0]
        rivals = [p for p in ordered[1:] if p.created == first.created or first.created is None or p.created is None]
        certain = all((p.mode, dict(p.port_modes)) == (first.mode, dict(first.port_modes)) for p in rivals)
        return first, certain

    def _modes(self, rep: Endpoint, kind: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
        """(A,) effective mode, identity state of a meshed client, of a plaintext client (IST-7..9)."""
        A = self.A
        root = self.mesh.root_namespace
        ns = rep.namespace or "default"
        unreadable = "istio/PeerAuthentication" in self.mesh.unreadable
        mesh_pa, mesh_ok = self._pick([p for p in self.mesh.peer if p.namespace == root and p.selector is None])
        ns_pa, ns_ok = self._pick([p for p in self.mesh.peer if p.namespace == ns and p.selector is None and ns != root])
        wl_pa, wl_ok = self._pick([p for p in self.mesh.peer if p.namespace == ns and p.selector is not None
                                   and all(rep.labels.get(k) == v for k, v in p.selector.items())])
        broken_here = any(p.broken and p.namespace in (ns, root) for p in self.mesh.peer)
        sources: list[str] = []
        inferred = M_PERMISSIVE
        inferred_known = mesh_ok and ns_ok and not unreadable and not broken_here
        for pa in (mesh_pa, ns_pa):
            if pa is not None and pa.mode != "UNSET":
                inferred = _MODE_CODE[pa.mode]
                sources = [pa.ref]
        mode = np.full(A, inferred, dtype=np.int8)
        wl_defined = np.zeros(A, dtype=bool)
        if wl_pa is not None:
            if wl_pa.mode != "UNSET":
                mode[:] = _MODE_CODE[wl_pa.mode]
                wl_defined[:] = True
                sources.append(wl_pa.ref)
            for number, m in wl_pa.port_modes.items():  # IST-8: workload (target) ports
                if m == "UNSET":
                    continue
                atom = self.ports.index_of("TCP", number)
                if atom is not None:
                    mode[atom] = _MODE_CODE[m]
                    wl_defined[atom] = True
                    sources.append(f"{wl_pa.ref} port {number}")
        if not (inferred_known and wl_ok):
            mode[:] = M_UNKNOWN
        # client side (IST-9): auto-mTLS infers the namespace/mesh mode only
        if kind == K_AMBIENT:  # ambient ignores DISABLE; HBONE is always mTLS
            mesh_state = np.where(mode == M_UNKNOWN, ID_UNKNOWN, PRESENT)
        else:
            tls_client = np.full(A, inferred != M_DISABLE)
            client_known = np.full(A, inferred_known) & ~(wl_defined & (inferred == M_DISABLE))
            mesh_state = np.where(tls_client, np.where(mode == M_DISABLE, ID_UNKNOWN, PRESENT),
                                  np.where(mode == M_STRICT, REFUSED, ABSENT))
            mesh_state = np.where(client_known & (mode != M_UNKNOWN), mesh_state, ID_UNKNOWN)
        plain_state = np.where(mode == M_STRICT, REFUSED, np.where(mode == M_UNKNOWN, ID_UNKNOWN, ABSENT))
        return mode, mesh_state.astype(np.int8), plain_state.astype(np.int8), tuple(dict.fromkeys(sources))

    # -- facts for controls ------------------------------------------------------------------------------
    def facts(self, cls: int) -> dict[str, object]:
        """Mesh facts of one destination class: proxy, identity, mTLS mode and protocol per port."""
        c = self.c
        rep = c.representative[cls]
        s = int(self.result.sigma_of[cls])
        info = self.infos[s]
        kind = K_AMBIENT if rep.mesh.ambient else K_SIDECAR if rep.mesh.sidecar else K_NONE
        out: dict[str, object] = {
            "proxy": "unknown" if rep.mesh.uncertain else KIND_WORDS[kind],
            "principal": rep.principal if kind != K_NONE else None,
            "why": rep.mesh.why,
        }
        if info.kind != K_NONE:
            modes: dict[str, np.ndarray] = {}
            for code, word in MODE_WORDS.items():
                m = (info.mode == code) & self.tcp & (info.protocol != BYPASS)
                if m.any():
                    modes[word] = m
            out["mtls"] = {w: self.ports.summary(m) for w, m in modes.items()}
            out["mtls_from"] = list(info.mode_source)
            out["policies"] = [self.mesh.authz[i].ref for i in info.policies]
            protos: dict[str, str] = {}
            for code, word in PROTOCOL_WORDS.items():
                m = (info.protocol == code) & self.tcp
                if m.any():
                    protos[word] = self.ports.summary(m)
            out["protocols"] = protos
        return out
