"""docker-publish-tagger: a shipline plugin (see README.md beside this file)."""
