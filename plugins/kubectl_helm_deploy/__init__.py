"""kubectl-helm-deploy: a shipline plugin (see README.md beside this file)."""
