"""chaos-kill: a shipline plugin (see README.md beside this file)."""
