"""Sessions: the folder and every file in it, the Simon-Says capture loop, calibrating a session, takes,
the library of sessions and synthetic performers."""
