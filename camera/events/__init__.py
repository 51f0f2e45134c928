"""Visits and who is home: the visit book (a state machine), presence, the event store and its writer thread."""
