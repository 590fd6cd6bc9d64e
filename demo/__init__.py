"""`make demo`: the seed's pipeline end to end through shipline's four plugins, against the local stack.

publish v1 -> deploy -> verify -> change the app, publish v2 -> rolling upgrade -> verify -> chaos kill (recovery
measured) -> verify -> publish a build tagged `crash` -> deploy: the rollout fails and is rolled back to v2 ->
verify v2 serves. Each step states what it expects and what happened; the demo exits 0 only when every step
behaved as expected (the expected failure included).

The plugins run as their images (`docker run --rm --network host -e PLUGIN_...`), the way a CI system runs
them, or as the console scripts when the images are not built. kwok's pods run no containers, so the HTTP checks
go to a real container of the built example image on the local Docker engine.
"""
