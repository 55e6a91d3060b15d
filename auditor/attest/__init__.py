"""Signed evidence: in-toto statements over the audit's files, DSSE-signed with ed25519 keys.

``statement`` says what is attested (subjects and predicate), ``sign`` signs and reads DSSE
envelopes with securesystemslib, ``rederive`` recomputes a result from its snapshot and packs,
``verify`` checks all three. Nothing here writes envelopes or signatures by hand.
"""
