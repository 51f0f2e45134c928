"""The household's enrolled people: the gallery store (photos are the source of truth) and enrolment."""
