"""The commands: one module each, plus what they share (``options``, ``pipeline``, ``text``).

``auditor/cli.py`` adds every command to the group; nothing registers itself on import.
"""
