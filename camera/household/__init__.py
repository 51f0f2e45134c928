"""A household of facecam nodes (a Pi per door) on the home's MQTT broker: shared people, merged presence.

``config``: ``[household]``; ``records``: the retained messages (a person's
photos and embeddings; a node's sighting of a person) and their checks;
``people``: this node's people out of the gallery, the others' into it;
``presence``: other nodes' sightings merged with this node's presence
board; ``store``: those sightings on disk for ``facecam events``; ``sync``:
the MQTT client and its thread. Design, topics and limits: ``docs/scale-out.md``.
"""
