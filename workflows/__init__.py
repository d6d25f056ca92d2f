"""Argo Workflows for AuraLink, defined with Hera and generated to YAML beside each module.

Regenerate with ``python -m workflows.generate``; ``python -m workflows.generate --check`` fails when the
committed YAML is stale. Steps run the project image and call the ``auralink`` CLI: no logic lives here.
"""
