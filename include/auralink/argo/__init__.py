"""Argo Workflows support: run tracking (the ``argo_workflows`` table) and submission to an Argo Server.

The workflow definitions themselves live in ``workflows/`` (Hera modules and their generated YAML); their
steps call the ``auralink`` CLI, including ``auralink argo record`` to track themselves.
"""
