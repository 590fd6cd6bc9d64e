"""deployment-verify: a shipline plugin (see README.md beside this file)."""
